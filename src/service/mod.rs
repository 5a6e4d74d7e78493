//! The gRPC server: configuration, start-up, health, reflection and graceful shutdown.
//!
//! * [`proto`] — the protocol's generated types (re-exported from [`crate::protocol`]);
//! * [`api`] — the `TopicClassifier` RPCs (validation, memory charges, work);
//! * [`layer`] — the call guard in front of every service (protocol checks, deadlines,
//!   request metering, answers held to flow control);
//! * [`auth`] — bearer tokens (`--auth-token-file`);
//! * [`budget`] — the memory budget (server, connection, call);
//! * [`scheduler`] — the workers and their fair, cost-admitted queue;
//! * [`connection`] — listening, accepting, and per-connection timeouts;
//! * [`metrics`] — Prometheus metrics and their `/metrics` endpoint;
//! * [`http`] — JSON over HTTP and the page, on the gRPC port (transcoded into gRPC
//!   calls); gRPC-Web through `tonic-web`; [`openapi`] — the JSON routes' document;
//! * [`reload`] — hot reload of the model (SIGHUP, `--watch`);
//! * [`status`] — the one place errors become gRPC statuses;
//! * [`usage`] — the `x-tasnif-*` metadata (characters, segments, time) on every answer.

pub mod api;
pub mod auth;
pub mod budget;
pub mod connection;
pub mod http;
pub mod layer;
pub mod metrics;
pub mod openapi;
pub mod reload;
pub mod scheduler;
pub mod status;
pub mod usage;

/// The protocol's generated types, as the service's clients and tests name them.
pub use crate::protocol as proto;
use crate::protocol::convert;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use tokio::net::TcpListener;
use tonic::codec::CompressionEncoding;
use tracing::{info, warn};

use crate::source::ModelArg;
use crate::Classifier;
use proto::topic_classifier_server::TopicClassifierServer;

/// A configuration that cannot work (the binary exits 2 with its one-line message).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// `tasnif serve` options. Every flag can also be set by its `TASNIF_*` variable.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on: HOST:PORT, a host name or an address (in a container, use
    /// 0.0.0.0:PORT to be reachable from outside it).
    #[arg(long, env = "TASNIF_ADDR", default_value = "127.0.0.1:50051")]
    pub addr: String,
    #[command(flatten)]
    pub model: ModelArg,
    #[command(flatten)]
    pub limits: Limits,
    /// Seconds to let calls in flight finish after SIGTERM / Ctrl-C.
    #[arg(long, env = "TASNIF_GRACE_PERIOD", default_value_t = 10.0)]
    pub grace_period: f64,
    /// Serve Prometheus metrics at http://HOST:PORT/metrics (off unless set).
    #[arg(long, env = "TASNIF_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    /// Reload --model when the file changes (checked every this many seconds; SIGHUP
    /// always reloads it). 0: only on SIGHUP.
    #[arg(long, env = "TASNIF_WATCH", default_value_t = 0.0)]
    pub watch: f64,
    /// Require `authorization: Bearer <token>` on tasnif.v1.TopicClassifier, with the
    /// tokens listed one per line in this file (re-read on SIGHUP and with --watch).
    #[arg(long, env = "TASNIF_AUTH_TOKEN_FILE")]
    pub auth_token_file: Option<std::path::PathBuf>,
    /// Serve TLS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, env = "TASNIF_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// The TLS private key (PEM).
    #[arg(long, env = "TASNIF_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,
    /// Require client certificates signed by this CA (PEM): mutual TLS.
    #[arg(long, env = "TASNIF_TLS_CLIENT_CA", requires = "tls_cert")]
    pub tls_client_ca: Option<std::path::PathBuf>,
}

/// The TLS settings of `serve`'s flags (rustls through tonic), or `None` for plaintext.
fn tls_config(args: &ServeArgs) -> Result<Option<tonic::transport::ServerTlsConfig>> {
    let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) else {
        return Ok(None);
    };
    let read = |p: &std::path::Path, what: &str| {
        std::fs::read(p).with_context(|| format!("cannot read the TLS {what} {}", p.display()))
    };
    let identity =
        tonic::transport::Identity::from_pem(read(cert, "certificate")?, read(key, "key")?);
    let mut tls = tonic::transport::ServerTlsConfig::new().identity(identity);
    if let Some(ca) = &args.tls_client_ca {
        tls = tls.client_ca_root(tonic::transport::Certificate::from_pem(read(
            ca,
            "client CA",
        )?));
    }
    Ok(Some(tls))
}

/// What [`serve_with`] runs besides the API.
#[derive(Debug, Default)]
pub struct Extras {
    /// Serve Prometheus metrics here.
    pub metrics_listener: Option<TcpListener>,
    /// Reload the model from these files.
    pub reload: Option<reload::ReloadConfig>,
    /// Require bearer tokens; `auth_watch`: re-read their file when it changes.
    pub auth: Option<auth::Auth>,
    pub auth_watch: Option<Duration>,
    /// Serve TLS (and mutual TLS when it has a client CA).
    pub tls: Option<tonic::transport::ServerTlsConfig>,
}

/// Server limits, reported by `GetModelInfo`. Defaults that depend on the machine (cores,
/// memory, descriptors) are computed when the flags are parsed.
#[derive(Debug, Clone, Args)]
pub struct Limits {
    /// Largest accepted request message, in bytes (after decompression).
    #[arg(long, env = "TASNIF_MAX_REQUEST_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub max_request_bytes: usize,
    /// Most articles in one ClassifyBatch call.
    #[arg(long, env = "TASNIF_MAX_BATCH_ITEMS", default_value_t = 256)]
    pub max_batch_items: usize,
    /// Longest article, in characters (longer ones fail unless the request sets `truncate`).
    #[arg(long, env = "TASNIF_MAX_ARTICLE_CHARS", default_value_t = 500_000)]
    pub max_article_chars: usize,
    /// Most classifications (articles) queued or running; past it, calls get
    /// RESOURCE_EXHAUSTED at once. One connection may use a quarter of it (at least one
    /// full batch).
    #[arg(long, env = "TASNIF_MAX_IN_FLIGHT", default_value_t = 1024)]
    pub max_in_flight: usize,
    /// Most characters queued or being classified; one connection may use a quarter of it
    /// (at least one longest article). Past it, calls get RESOURCE_EXHAUSTED at once.
    #[arg(long, env = "TASNIF_MAX_QUEUED_CHARS", default_value_t = 16_000_000)]
    pub max_queued_chars: usize,
    /// Bytes that calls may make the server hold (requests arriving, work, answers not yet
    /// read); default: a quarter of the machine's memory, at most 256 MiB.
    #[arg(long, env = "TASNIF_MEMORY_BUDGET", default_value_t = default_memory_budget())]
    pub memory_budget: usize,
    /// One connection's share of the memory budget (default: a quarter of it).
    #[arg(long, env = "TASNIF_CONNECTION_MEMORY")]
    pub connection_memory: Option<usize>,
    /// One call's share of the memory budget (default: half a connection's).
    #[arg(long, env = "TASNIF_CALL_MEMORY")]
    pub call_memory: Option<usize>,
    /// Most explanation terms per label a request may ask for.
    #[arg(long, env = "TASNIF_MAX_EXPLAIN_TOP_N", default_value_t = 50)]
    pub max_explain_top_n: u32,
    /// Classification threads (default: one per core), plus one for short texts.
    #[arg(long, env = "TASNIF_WORKERS", default_value_t = default_workers())]
    pub workers: usize,
    /// Most open connections; past it, new ones wait in the listen backlog
    /// (default: the descriptor limit, less a reserve).
    #[arg(long, env = "TASNIF_MAX_CONNECTIONS", default_value_t = default_max_connections())]
    pub max_connections: usize,
    /// Listen backlog: connections the kernel holds before they are accepted.
    #[arg(long, env = "TASNIF_LISTEN_BACKLOG", default_value_t = 4096)]
    pub listen_backlog: u32,
    /// Seconds a new connection has to send anything (the HTTP/2 preface).
    #[arg(long, env = "TASNIF_HANDSHAKE_TIMEOUT", default_value_t = 10.0)]
    pub handshake_timeout: f64,
    /// Seconds a connection may stay open with no call; 0 keeps idle connections open.
    #[arg(long, env = "TASNIF_IDLE_TIMEOUT", default_value_t = 300.0)]
    pub idle_timeout: f64,
    /// Seconds a request message may stall part-way before the call is ended.
    #[arg(long, env = "TASNIF_REQUEST_BODY_TIMEOUT", default_value_t = 10.0)]
    pub request_body_timeout: f64,
    /// Seconds after which a connection is asked to go away (GOAWAY; clients reconnect,
    /// so long-lived clients behind an L4 balancer spread over new replicas); 0: never.
    #[arg(long, env = "TASNIF_MAX_CONNECTION_AGE", default_value_t = 300.0)]
    pub max_connection_age: f64,
    /// Seconds a connection past its age has to finish its calls before it is closed.
    #[arg(long, env = "TASNIF_MAX_CONNECTION_AGE_GRACE", default_value_t = 30.0)]
    pub max_connection_age_grace: f64,
    /// Seconds between HTTP/2 pings on a connection (a dead peer is noticed); 0: off.
    #[arg(long, env = "TASNIF_HTTP2_KEEPALIVE_INTERVAL", default_value_t = 30.0)]
    pub http2_keepalive_interval: f64,
    /// Seconds to wait for a ping's answer before closing the connection.
    #[arg(long, env = "TASNIF_HTTP2_KEEPALIVE_TIMEOUT", default_value_t = 20.0)]
    pub http2_keepalive_timeout: f64,
    /// Most concurrent calls (HTTP/2 streams) on one connection.
    #[arg(long, env = "TASNIF_MAX_CONCURRENT_STREAMS", default_value_t = 1024)]
    pub max_concurrent_streams: u32,
    /// Seconds of TCP idleness before the kernel probes the peer; 0: off.
    #[arg(long, env = "TASNIF_TCP_KEEPALIVE", default_value_t = 60.0)]
    pub tcp_keepalive: f64,
}

fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// A quarter of physical memory, at most 256 MiB.
fn default_memory_budget() -> usize {
    const CAP: usize = 256 << 20;
    #[cfg(unix)]
    {
        // SAFETY: sysconf only reads system configuration.
        let (pages, page) = unsafe {
            (
                libc::sysconf(libc::_SC_PHYS_PAGES),
                libc::sysconf(libc::_SC_PAGESIZE),
            )
        };
        if pages > 0 && page > 0 {
            return ((pages as usize).saturating_mul(page as usize) / 4).min(CAP);
        }
    }
    CAP
}

/// The descriptor limit (raised to its hard limit first), less 64 for files and logs.
fn default_max_connections() -> usize {
    connection::raise_descriptor_limit()
        .map_or(1024, |n| n.saturating_sub(64).clamp(16, 1 << 20) as usize)
}

fn seconds(s: f64) -> Duration {
    Duration::try_from_secs_f64(s.max(0.0)).unwrap_or(Duration::MAX)
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_request_bytes: 4 * 1024 * 1024,
            max_batch_items: 256,
            max_article_chars: 500_000,
            max_in_flight: 1024,
            max_queued_chars: 16_000_000,
            memory_budget: default_memory_budget(),
            connection_memory: None,
            call_memory: None,
            max_explain_top_n: 50,
            workers: default_workers(),
            max_connections: default_max_connections(),
            listen_backlog: 4096,
            handshake_timeout: 10.0,
            idle_timeout: 300.0,
            request_body_timeout: 10.0,
            max_connection_age: 300.0,
            max_connection_age_grace: 30.0,
            http2_keepalive_interval: 30.0,
            http2_keepalive_timeout: 20.0,
            max_concurrent_streams: 1024,
            tcp_keepalive: 60.0,
        }
    }
}

impl Limits {
    /// The limits as `GetModelInfo` reports them.
    pub fn to_proto(&self) -> proto::Limits {
        proto::Limits {
            max_request_bytes: self.max_request_bytes as u64,
            max_batch_items: self.max_batch_items as u64,
            max_article_chars: self.max_article_chars as u64,
            max_in_flight: self.max_in_flight as u64,
            max_explain_top_n: self.max_explain_top_n,
            memory_budget_bytes: self.memory_budget as u64,
            connection_memory_bytes: self.connection_memory_bytes() as u64,
            call_memory_bytes: self.call_memory_bytes() as u64,
            max_queued_chars: self.max_queued_chars as u64,
            connection_queued_chars: self.connection_queued_chars() as u64,
        }
    }

    fn validate(&self) -> Result<()> {
        if self.workers == 0
            || self.max_in_flight == 0
            || self.max_request_bytes == 0
            || self.max_article_chars == 0
            || self.max_queued_chars == 0
            || self.max_connections == 0
        {
            bail!(
                "workers, max_in_flight, max_request_bytes, max_article_chars, max_queued_chars \
                 and max_connections must be positive"
            );
        }
        if self.max_batch_items > self.max_in_flight {
            bail!(
                "max_batch_items ({}) must not exceed max_in_flight ({}): such a batch could never run",
                self.max_batch_items,
                self.max_in_flight
            );
        }
        let (call, connection) = (self.call_memory_bytes(), self.connection_memory_bytes());
        if call > connection || connection > self.memory_budget {
            bail!(
                "memory limits must nest: call ({call}) <= connection ({connection}) <= budget ({})",
                self.memory_budget
            );
        }
        // The largest request must fit one call's memory.
        if self.max_request_bytes > call {
            bail!(
                "max_request_bytes ({}) must not exceed the per-call memory ({call}): such a \
                 request could never be held",
                self.max_request_bytes
            );
        }
        if self.max_concurrent_streams == 0 {
            bail!("max_concurrent_streams must be positive");
        }
        for (name, v) in [
            ("handshake_timeout", self.handshake_timeout),
            ("idle_timeout", self.idle_timeout),
            ("request_body_timeout", self.request_body_timeout),
            ("max_connection_age", self.max_connection_age),
            ("max_connection_age_grace", self.max_connection_age_grace),
            ("http2_keepalive_interval", self.http2_keepalive_interval),
            ("http2_keepalive_timeout", self.http2_keepalive_timeout),
            ("tcp_keepalive", self.tcp_keepalive),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                bail!("{name} must be a number of seconds >= 0, got {v}");
            }
        }
        if self.handshake_timeout == 0.0 || self.request_body_timeout == 0.0 {
            bail!("handshake_timeout and request_body_timeout must be positive");
        }
        Ok(())
    }

    pub fn connection_memory_bytes(&self) -> usize {
        self.connection_memory.unwrap_or(self.memory_budget / 4)
    }

    pub fn call_memory_bytes(&self) -> usize {
        self.call_memory
            .unwrap_or(self.connection_memory_bytes() / 2)
    }

    pub fn memory_budget(&self) -> budget::MemoryBudget {
        budget::MemoryBudget::new(
            self.memory_budget,
            self.connection_memory_bytes(),
            self.call_memory_bytes(),
        )
    }

    /// One connection's share of the queued characters.
    pub fn connection_queued_chars(&self) -> usize {
        (self.max_queued_chars / 4).max(self.max_article_chars)
    }

    /// One connection's share of the classifications in flight.
    pub fn connection_in_flight(&self) -> usize {
        (self.max_in_flight / 4).max(self.max_batch_items)
    }

    fn connection_limits(&self) -> connection::ConnectionLimits {
        connection::ConnectionLimits {
            max_connections: self.max_connections,
            handshake_timeout: seconds(self.handshake_timeout),
            idle_timeout: (self.idle_timeout > 0.0).then(|| seconds(self.idle_timeout)),
            tcp_keepalive: (self.tcp_keepalive > 0.0).then(|| seconds(self.tcp_keepalive)),
        }
    }
}

/// Serves the API on `listener` until `shutdown` resolves, then stops accepting calls,
/// flips health to NOT_SERVING and waits (at most `grace`) for calls in flight.
pub async fn serve(
    classifier: Arc<Classifier>,
    limits: Limits,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> Result<()> {
    serve_with(
        classifier,
        limits,
        listener,
        Extras::default(),
        shutdown,
        grace,
    )
    .await
}

/// [`serve`], with metrics and hot reload when `extras` asks for them.
pub async fn serve_with(
    classifier: Arc<Classifier>,
    limits: Limits,
    listener: TcpListener,
    extras: Extras,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> Result<()> {
    limits.validate()?;
    let metrics = Arc::new(metrics::Metrics::new(&classifier));
    let _metrics_task = extras
        .metrics_listener
        .map(|l| tokio::spawn(metrics::serve(l, metrics.clone())))
        .map(AbortOnDrop);
    let _auth_task = extras.auth.clone().map(|auth| {
        AbortOnDrop(tokio::spawn(async move {
            let path = auth.path().to_path_buf();
            reload::on_change(path, true, extras.auth_watch, move || {
                let auth = auth.clone();
                async move { auth.reload() }
            })
            .await;
            Ok(())
        }))
    });
    let cell: reload::ModelCell = Arc::new(arc_swap::ArcSwap::new(classifier));
    let _reload_task = extras.reload.map(|config| {
        AbortOnDrop(tokio::spawn({
            let (cell, metrics) = (cell.clone(), metrics.clone());
            async move {
                reload::run(config, cell, metrics).await;
                Ok(())
            }
        }))
    });
    let max_bytes = limits.max_request_bytes;
    let connections = limits.connection_limits();
    let positive = |s: f64| (s > 0.0).then(|| seconds(s));
    let age = positive(limits.max_connection_age);
    let age_grace = seconds(limits.max_connection_age_grace);
    let keepalive = positive(limits.http2_keepalive_interval);
    let keepalive_timeout = seconds(limits.http2_keepalive_timeout);
    let streams = limits.max_concurrent_streams;
    let body_timeout = seconds(limits.request_body_timeout);
    let api = api::Api::new(cell, limits, metrics.clone())?;
    let budget = api.budget();
    let service = TopicClassifierServer::new(api)
        .max_decoding_message_size(max_bytes)
        .max_encoding_message_size(usize::MAX)
        .accept_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Zstd)
        .send_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Zstd);

    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<TopicClassifierServer<api::Api>>()
        .await;
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection().build_v1()?;
    let reflection_v1alpha = reflection().build_v1alpha()?;

    let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
    let (stopping_watch_tx, shutting_down) = tokio::sync::watch::channel(false);
    let reporter = health.clone();
    let signal = async move {
        shutdown.await;
        reporter
            .set_not_serving::<TopicClassifierServer<api::Api>>()
            .await;
        reporter
            .set_service_status("", tonic_health::ServingStatus::NotServing)
            .await;
        // After NOT_SERVING is queued for watchers: their streams end once it is sent.
        let _ = stopping_watch_tx.send(true);
        let _ = stopping_tx.send(());
    };

    // HTTP/1.1 too: JSON callers, gRPC-Web, and the page share the gRPC port.
    let mut builder = tonic::transport::Server::builder()
        .accept_http1(true)
        .http2_keepalive_interval(keepalive)
        .http2_keepalive_timeout(Some(keepalive_timeout))
        .max_concurrent_streams(Some(streams))
        // h2 ends a connection after 20 resets of streams not yet accepted (its guard
        // against "rapid reset" floods), failing every other call on it; a client whose
        // burst of deadlines expires together does that. As many as the streams a
        // connection may have open still bounds a flood.
        .http2_max_pending_accept_reset_streams(Some(streams as usize));
    if let Some(age) = age {
        builder = builder
            .max_connection_age(age)
            .max_connection_age_grace(age_grace);
    }
    if let Some(tls) = extras.tls {
        builder = builder
            .tls_config(tls)
            .context("the TLS certificate or key is not usable")?;
    }
    let server = builder
        .layer(http::HttpLayer {
            max_request_bytes: max_bytes,
            budget: budget.clone(),
            request_body_timeout: body_timeout,
            openapi: Arc::new(openapi::document()),
        })
        .layer(tonic_web::GrpcWebLayer::new())
        .layer(layer::CallGuardLayer {
            max_request_bytes: max_bytes,
            budget: budget.clone(),
            request_body_timeout: body_timeout,
            metrics,
            shutting_down,
            auth: extras.auth,
        })
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(service)
        .serve_with_incoming_shutdown(connection::incoming(listener, connections, budget), signal);
    let mut server = tokio::spawn(server);

    tokio::select! {
        result = &mut server => return Ok(result??),
        _ = stopping_rx => info!("shutting down: health NOT_SERVING, no new calls, waiting up to {grace:?} for calls in flight"),
    }
    match tokio::time::timeout(grace, server).await {
        Ok(result) => result??,
        Err(_) => warn!("grace period of {grace:?} expired with calls still in flight; exiting"),
    }
    info!("stopped");
    Ok(())
}

/// Aborts a task when dropped (the metrics endpoint ends with the server).
struct AbortOnDrop(tokio::task::JoinHandle<Result<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("can install a SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// `tasnif serve`.
pub fn run(args: ServeArgs) -> Result<()> {
    let started = Instant::now();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("tasnif-io")
        .build()?;
    runtime.block_on(async move {
        // An impossible configuration fails before anything says "listening" (exit 2).
        let config = |e: anyhow::Error| anyhow::Error::new(ConfigError(format!("{e:#}")));
        args.limits.validate().map_err(config)?;
        if !(args.watch.is_finite() && args.watch >= 0.0) {
            return Err(config(anyhow::anyhow!(
                "--watch must be a number of seconds >= 0, got {}",
                args.watch
            )));
        }
        let watch = (args.watch > 0.0).then(|| seconds(args.watch));
        let auth = args
            .auth_token_file
            .clone()
            .map(auth::Auth::load)
            .transpose()
            .map_err(config)?;
        let tls = tls_config(&args).map_err(config)?;
        let bind_addr: SocketAddr = tokio::net::lookup_host(args.addr.as_str())
            .await
            .ok()
            .and_then(|mut addrs| addrs.next())
            .ok_or_else(|| {
                config(anyhow::anyhow!(
                    "--addr {:?} is not HOST:PORT with a host that resolves \
                     (e.g. 127.0.0.1:50051, localhost:50051, 0.0.0.0:50051)",
                    args.addr
                ))
            })?;
        let classifier = Arc::new(args.model.load()?);
        let listener = connection::bind(bind_addr, args.limits.listen_backlog)
            .with_context(|| format!("cannot listen on {}", args.addr))?;
        let metrics_listener = match args.metrics_addr {
            Some(addr) => Some(metrics::bind(addr).await?),
            None => None,
        };
        let addr = listener.local_addr()?;
        info!(
            %addr,
            model = classifier.version(),
            labels = ?classifier.labels(),
            auth = auth.is_some(),
            metrics = ?args.metrics_addr,
            startup_ms = started.elapsed().as_millis() as u64,
            "serving tasnif.v1.TopicClassifier"
        );
        // A machine-readable line for scripts and tests that bind port 0.
        println!("tasnif listening on {addr}");
        let grace = Duration::from_secs_f64(args.grace_period.max(0.0));
        let reload = args.model.model.clone().map(|model| reload::ReloadConfig {
            model,
            vectors: args.model.vectors.clone(),
            sighup: true,
            watch,
        });
        let extras = Extras {
            metrics_listener,
            reload,
            auth,
            auth_watch: watch,
            tls,
        };
        serve_with(
            classifier,
            args.limits,
            listener,
            extras,
            shutdown_signal(),
            grace,
        )
        .await
    })
}
