//! A closed-loop load generator for `tasnif.v1.TopicClassifier/Classify` that can reach a
//! server with TLS and bearer tokens on. `grpc-load` (../shared/tools/grpc-load) speaks
//! only plaintext h2c and sends no metadata, so this is what measures the cost of
//! `--tls-cert`/`--auth-token-file`/`--metrics-addr` (issue 9; `scripts/bench_tls.sh`
//! drives both sides of that comparison with it).
//!
//! ```text
//! cargo build --release --examples --bin tasnif
//! target/release/examples/load --addr https://127.0.0.1:50051 --texts-dir seeds \
//!     --ca-cert ca.pem --token-file token.txt --concurrency 64 --connections 8 --json
//! ```
//!
//! `--concurrency` calls are always in flight, the workers spread round-robin over
//! `--connections` HTTP/2 connections; each file of `--texts-dir` (sorted, dotfiles
//! skipped) is the `text` of one request, cycled. Only calls that start after the warm-up
//! and end inside the measured window count. `rps` counts OK answers per second; latency
//! percentiles are over OK answers; errors are counted by gRPC status code
//! (`CLIENT_TIMEOUT` when a call takes more than 10 s). With `--json` one JSON line goes to
//! stdout and the human summary to stderr. `--calls-log FILE` also writes every measured
//! call as one line, `START_UNIX_US LATENCY_US CODE MODEL_VERSION` (CODE `OK` or the status
//! code name, version `-` on errors), for reports by phase (`scripts/fleet-test.sh`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use tasnif::service::proto::{topic_classifier_client::TopicClassifierClient, ClassifyRequest};
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

const CALL_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Parser)]
#[command(about = "Closed-loop load on tasnif.v1.TopicClassifier/Classify (h2c or TLS)")]
struct Args {
    /// Server URL: http://HOST:PORT (h2c) or https://HOST:PORT (TLS).
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    addr: String,
    /// Directory whose regular files are the request texts, cycled.
    #[arg(long)]
    texts_dir: PathBuf,
    /// Calls in flight at all times.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// HTTP/2 connections the workers are spread over.
    #[arg(long, default_value_t = 8)]
    connections: usize,
    /// Seconds of load before the measured window.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Seconds measured.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// PEM CA certificate the server's certificate is checked against (https).
    #[arg(long)]
    ca_cert: Option<PathBuf>,
    /// Name the server's certificate must carry (https).
    #[arg(long, default_value = "localhost")]
    domain: String,
    /// File whose first line is sent as `authorization: Bearer <token>`.
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// One JSON line on stdout (the human summary goes to stderr).
    #[arg(long)]
    json: bool,
    /// Write every measured call to this file: start (µs since the Unix epoch), latency
    /// (µs), code (`OK` or the gRPC status code name), model version (`-` on errors).
    #[arg(long)]
    calls_log: Option<PathBuf>,
}

/// The run's start, the end of its warm-up, and its end.
#[derive(Clone, Copy)]
struct Window {
    t0: Instant,
    measure_start: Instant,
    end: Instant,
}

/// What one worker saw in the measured window.
#[derive(Default)]
struct Tally {
    latencies_us: Vec<u64>,
    errors: BTreeMap<String, u64>,
    /// With `--calls-log`: (start since `t0` µs, latency µs, code, model version).
    calls: Option<Vec<(u64, u64, String, String)>>,
}

fn texts(dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && !p
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_none_or(|n| n.starts_with('.'))
        })
        .collect();
    paths.sort();
    anyhow::ensure!(!paths.is_empty(), "{}: no files", dir.display());
    paths
        .iter()
        .map(|p| std::fs::read_to_string(p).map_err(|e| anyhow::anyhow!("{}: {e}", p.display())))
        .collect()
}

async fn connect(args: &Args) -> anyhow::Result<Channel> {
    let mut endpoint = Endpoint::from_shared(args.addr.clone())?
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true);
    if args.addr.starts_with("https://") {
        let mut tls = ClientTlsConfig::new().domain_name(args.domain.clone());
        if let Some(ca) = &args.ca_cert {
            tls = tls.ca_certificate(Certificate::from_pem(std::fs::read(ca)?));
        }
        endpoint = endpoint.tls_config(tls)?;
    }
    Ok(endpoint.connect().await?)
}

/// Client CPU time (user + system) of this process so far, in seconds.
fn cpu_seconds() -> f64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage only writes into the struct it is given.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

async fn worker(
    id: usize,
    mut client: TopicClassifierClient<Channel>,
    texts: Arc<Vec<String>>,
    auth: Option<MetadataValue<Ascii>>,
    window: Window,
    log_calls: bool,
) -> Tally {
    let Window {
        t0,
        measure_start,
        end,
    } = window;
    let mut tally = Tally {
        calls: log_calls.then(Vec::new),
        ..Tally::default()
    };
    let mut next = id % texts.len();
    loop {
        let start = Instant::now();
        if start >= end {
            break;
        }
        let mut request = tonic::Request::new(ClassifyRequest {
            text: texts[next].clone(),
            ..Default::default()
        });
        next = (next + 1) % texts.len();
        if let Some(auth) = &auth {
            request.metadata_mut().insert("authorization", auth.clone());
        }
        let outcome = tokio::select! {
            r = tokio::time::timeout(CALL_TIMEOUT, client.classify(request)) => r,
            _ = tokio::time::sleep_until(end.into()) => break,
        };
        let done = Instant::now();
        if start < measure_start || done > end {
            continue;
        }
        let latency_us = done.duration_since(start).as_micros() as u64;
        let (code, version) = match outcome {
            Ok(Ok(answer)) => {
                tally.latencies_us.push(latency_us);
                ("OK".to_string(), answer.into_inner().model_version)
            }
            Ok(Err(status)) => (format!("{:?}", status.code()), "-".to_string()),
            Err(_) => ("CLIENT_TIMEOUT".to_string(), "-".to_string()),
        };
        if code != "OK" {
            *tally.errors.entry(code.clone()).or_default() += 1;
        }
        if let Some(calls) = &mut tally.calls {
            let since = start.duration_since(t0).as_micros() as u64;
            calls.push((since, latency_us, code, version));
        }
    }
    tally
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        args.concurrency > 0 && args.connections > 0,
        "--concurrency and --connections must be at least 1"
    );
    let texts = Arc::new(texts(&args.texts_dir)?);
    let auth = match &args.token_file {
        Some(f) => {
            let token = std::fs::read_to_string(f)?;
            let token = token.lines().next().unwrap_or("").trim();
            Some(format!("Bearer {token}").parse()?)
        }
        None => None,
    };
    let mut channels = Vec::with_capacity(args.connections);
    for _ in 0..args.connections {
        channels.push(connect(&args).await?);
    }

    let t0 = Instant::now();
    let t0_unix_us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_micros() as u64;
    let measure_start = t0 + Duration::from_secs_f64(args.warmup);
    let end = measure_start + Duration::from_secs_f64(args.duration);
    let workers: Vec<_> = (0..args.concurrency)
        .map(|id| {
            let client = TopicClassifierClient::new(channels[id % channels.len()].clone());
            tokio::spawn(worker(
                id,
                client,
                texts.clone(),
                auth.clone(),
                Window {
                    t0,
                    measure_start,
                    end,
                },
                args.calls_log.is_some(),
            ))
        })
        .collect();
    tokio::time::sleep_until(measure_start.into()).await;
    let cpu_at_start = cpu_seconds();

    let mut latencies = Vec::new();
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    let mut calls = Vec::new();
    for w in workers {
        let tally = w.await?;
        latencies.extend(tally.latencies_us);
        for (code, n) in tally.errors {
            *errors.entry(code).or_default() += n;
        }
        calls.extend(tally.calls.unwrap_or_default());
    }
    if let Some(path) = &args.calls_log {
        use std::io::Write;
        calls.sort_unstable();
        let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
        for (since, latency, code, version) in &calls {
            writeln!(out, "{} {latency} {code} {version}", t0_unix_us + since)?;
        }
        out.flush()?;
    }
    let client_cpu = cpu_seconds() - cpu_at_start;
    latencies.sort_unstable();
    let percentile = |p: f64| match latencies.len() {
        0 => 0,
        n => latencies[((n as f64 * p).ceil() as usize).clamp(1, n) - 1],
    };
    let ok = latencies.len() as u64;
    let failed: u64 = errors.values().sum();
    let rps = ok as f64 / args.duration;
    let report = serde_json::json!({
        "addr": args.addr,
        "tls": args.addr.starts_with("https://"),
        "auth": auth.is_some(),
        "concurrency": args.concurrency,
        "connections": args.connections,
        "seconds": args.duration,
        "requests": ok + failed,
        "ok": ok,
        "errors": errors,
        "rps": (rps * 10.0).round() / 10.0,
        "p50_us": percentile(0.50),
        "p99_us": percentile(0.99),
        "client_cpu_pct": (client_cpu / args.duration * 1000.0).round() / 10.0,
    });
    let summary = format!(
        "{} c={} over {} connection(s), {}s after {}s warm-up: {ok} ok, {failed} errors {}, \
         {rps:.0} ok/s, p50 {} µs, p99 {} µs",
        args.addr,
        args.concurrency,
        args.connections,
        args.duration,
        args.warmup,
        report["errors"],
        report["p50_us"],
        report["p99_us"],
    );
    if args.json {
        eprintln!("{summary}");
        println!("{report}");
    } else {
        println!("{summary}");
    }
    Ok(())
}
