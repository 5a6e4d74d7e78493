//! The gRPC server: configuration, start-up, health, reflection and graceful shutdown.
//!
//! * [`proto`] — generated protocol types;
//! * [`api`] — the `TopicClassifier` RPCs (validation, back-pressure, deadlines);
//! * [`convert`] — library results → protocol messages;
//! * [`status`] — the one place errors become gRPC statuses;
//! * [`client`] — the CLI's reference client.

pub mod api;
pub mod client;
pub mod convert;
pub mod proto;
pub mod status;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_stream::StreamExt;
use tonic::codec::CompressionEncoding;
use tracing::{info, warn};

use crate::cli::ModelArg;
use crate::Classifier;
use proto::topic_classifier_server::TopicClassifierServer;

/// `tasnif serve` options. Every flag can also be set by its `TASNIF_*` variable.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "TASNIF_ADDR", default_value = "127.0.0.1:50051")]
    pub addr: SocketAddr,
    #[command(flatten)]
    pub model: ModelArg,
    #[command(flatten)]
    pub limits: Limits,
    /// Seconds to let calls in flight finish after SIGTERM / Ctrl-C.
    #[arg(long, env = "TASNIF_GRACE_PERIOD", default_value_t = 10.0)]
    pub grace_period: f64,
}

/// Server limits, reported by `GetModelInfo`.
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
    /// Most classifications in flight; past it, calls get RESOURCE_EXHAUSTED at once.
    #[arg(long, env = "TASNIF_MAX_IN_FLIGHT", default_value_t = 1024)]
    pub max_in_flight: usize,
    /// Most explanation terms per label a request may ask for.
    #[arg(long, env = "TASNIF_MAX_EXPLAIN_TOP_N", default_value_t = 50)]
    pub max_explain_top_n: u32,
    /// Classification threads (default: one per core).
    #[arg(long, env = "TASNIF_WORKERS", default_value_t = default_workers())]
    pub workers: usize,
}

fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_request_bytes: 4 * 1024 * 1024,
            max_batch_items: 256,
            max_article_chars: 500_000,
            max_in_flight: 1024,
            max_explain_top_n: 50,
            workers: default_workers(),
        }
    }
}

impl Limits {
    fn validate(&self) -> Result<()> {
        if self.max_batch_items > self.max_in_flight {
            bail!(
                "max_batch_items ({}) must not exceed max_in_flight ({}): such a batch could never run",
                self.max_batch_items,
                self.max_in_flight
            );
        }
        if self.workers == 0
            || self.max_in_flight == 0
            || self.max_request_bytes == 0
            || self.max_article_chars == 0
        {
            bail!(
                "workers, max_in_flight, max_request_bytes and max_article_chars must be positive"
            );
        }
        Ok(())
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
    limits.validate()?;
    let max_bytes = limits.max_request_bytes;
    let api = api::Api::new(classifier, limits)?;
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
    let reporter = health.clone();
    let signal = async move {
        shutdown.await;
        reporter
            .set_not_serving::<TopicClassifierServer<api::Api>>()
            .await;
        reporter
            .set_service_status("", tonic_health::ServingStatus::NotServing)
            .await;
        let _ = stopping_tx.send(());
    };

    let server = tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .max_concurrent_streams(Some(1024))
        .layer(status::StatusRewriteLayer {
            max_request_bytes: max_bytes,
        })
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(service)
        .serve_with_incoming_shutdown(incoming(listener), signal);
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

/// Accepted connections, with Nagle's algorithm off: tonic's `tcp_nodelay` applies only
/// to listeners it binds itself, and small responses otherwise wait for delayed ACKs
/// (40 ms p99 spikes under load).
fn incoming(
    listener: TcpListener,
) -> impl tokio_stream::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    TcpListenerStream::new(listener).map(|conn| {
        let conn = conn?;
        conn.set_nodelay(true)?;
        Ok(conn)
    })
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
        let classifier = Arc::new(args.model.load()?);
        let listener = TcpListener::bind(args.addr)
            .await
            .with_context(|| format!("cannot listen on {}", args.addr))?;
        let addr = listener.local_addr()?;
        info!(
            %addr,
            model = classifier.version(),
            labels = ?classifier.labels(),
            startup_ms = started.elapsed().as_millis() as u64,
            "serving tasnif.v1.TopicClassifier"
        );
        // A machine-readable line for scripts and tests that bind port 0.
        println!("tasnif listening on {addr}");
        let grace = Duration::from_secs_f64(args.grace_period.max(0.0));
        serve(classifier, args.limits, listener, shutdown_signal(), grace).await
    })
}
