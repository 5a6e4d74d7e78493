//! Reruns the hostile-client cases of issue 8 from outside against a running
//! `tasnif serve`, and reports what an operator would watch: the server's resident
//! memory (peak, and 10 s after the attacker leaves) and what a well-behaved client saw
//! meanwhile (a probe Classify every 50 ms on its own connection).
//!
//! ```text
//! cargo build --release && target/release/tasnif serve --addr 127.0.0.1:50051 &
//! cargo run --release --example attack -- 127.0.0.1:50051 <server pid> [case ...]
//! ```
//! Cases: amplify, unread-streams, batch, half-sent, silent, cancel, greedy, greedy-batch.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use prost::Message;
use tasnif::service::proto;
use tokio::net::TcpStream;

fn frame(message: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(message.len() + 5);
    b.extend_from_slice(&[0]);
    b.extend_from_slice(&(message.len() as u32).to_be_bytes());
    b.extend_from_slice(message);
    b.freeze()
}

fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

async fn h2_connect(addr: &str, window: u32) -> h2::client::SendRequest<Bytes> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (client, connection) = h2::client::Builder::new()
        .initial_window_size(window)
        .max_concurrent_reset_streams(100_000)
        .handshake::<_, Bytes>(tcp)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

fn post(addr: &str, method: &str) -> http::Request<()> {
    http::Request::post(format!("http://{addr}/tasnif.v1.TopicClassifier/{method}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .unwrap()
}

fn request(text: &str, segments: bool) -> proto::ClassifyRequest {
    proto::ClassifyRequest {
        text: text.to_string(),
        include: if segments {
            vec![
                proto::Include::Segments as i32,
                proto::Include::Explanations as i32,
            ]
        } else {
            vec![]
        },
        truncate: true,
        ..Default::default()
    }
}

fn seed_text(chars: usize) -> String {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    let mut all = String::new();
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    for f in files {
        all.push_str(&std::fs::read_to_string(f).unwrap());
    }
    all.chars().cycle().take(chars).collect()
}

/// Sends unary calls on one connection and never reads the answers; holds them `hold`.
async fn unread_unary(addr: &str, method: &str, body: Bytes, calls: usize, hold: Duration) {
    let client = h2_connect(addr, 1024).await;
    let mut held = Vec::new();
    for _ in 0..calls {
        let Ok(mut c) = client.clone().ready().await else {
            break;
        };
        let Ok((response, mut send)) = c.send_request(post(addr, method), false) else {
            break;
        };
        let _ = send.send_data(body.clone(), true);
        held.push((response, send));
    }
    tokio::time::sleep(hold).await;
}

async fn unread_streams(
    addr: &str,
    body: Bytes,
    streams: usize,
    per_stream: usize,
    hold: Duration,
) {
    let client = h2_connect(addr, 1024).await;
    let mut held = Vec::new();
    for _ in 0..streams {
        let Ok(mut c) = client.clone().ready().await else {
            break;
        };
        let Ok((response, mut send)) = c.send_request(post(addr, "ClassifyStream"), false) else {
            break;
        };
        for _ in 0..per_stream {
            let _ = send.send_data(body.clone(), false);
        }
        held.push((response, send));
    }
    tokio::time::sleep(hold).await;
}

async fn half_sent(addr: &str, connections: usize, streams: usize, hold: Duration) {
    let declared = (4u32 << 20) - 1;
    let mut prefix = vec![0u8];
    prefix.extend_from_slice(&declared.to_be_bytes());
    let payload = Bytes::from(vec![b'x'; (4 << 20) - 2]);
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let addr = addr.to_string();
        let prefix = Bytes::from(prefix.clone());
        let payload = payload.clone();
        tasks.push(tokio::spawn(async move {
            let client = h2_connect(&addr, 65_535).await;
            let mut held = Vec::new();
            for _ in 0..streams {
                let Ok(mut c) = client.clone().ready().await else {
                    break;
                };
                let Ok((response, mut send)) = c.send_request(post(&addr, "Classify"), false)
                else {
                    break;
                };
                send.reserve_capacity(payload.len() + 5);
                let _ = send.send_data(prefix.clone(), false);
                let _ = send.send_data(payload.clone(), false);
                held.push((response, send));
            }
            tokio::time::sleep(hold).await;
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

async fn silent(addr: &str, n: usize, hold: Duration) {
    let mut held = Vec::new();
    for _ in 0..n {
        match tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(addr)).await {
            Ok(Ok(s)) => held.push(s),
            _ => break,
        }
    }
    eprintln!("  silent: {} connections opened", held.len());
    tokio::time::sleep(hold).await;
}

async fn cancel(addr: &str, calls: usize) {
    let body = frame(&request(&seed_text(500_000), false).encode_to_vec());
    let client = h2_connect(addr, 65_535).await;
    for _ in 0..calls {
        let Ok(mut c) = client.clone().ready().await else {
            break;
        };
        let Ok((response, mut send)) = c.send_request(post(addr, "Classify"), false) else {
            break;
        };
        let _ = send.send_data(body.clone(), true);
        tokio::time::sleep(Duration::from_millis(2)).await;
        send.send_reset(h2::Reason::CANCEL);
        drop(response);
    }
}

async fn greedy(addr: &str, calls: usize, duration: Duration) {
    let body = frame(&request(&seed_text(500_000), false).encode_to_vec());
    hammer(addr, "Classify", body, calls, duration).await
}

async fn greedy_batch(addr: &str, batches: usize, duration: Duration) {
    let items: Vec<_> = (0..256)
        .map(|_| request(&seed_text(8_000), false))
        .collect();
    let body = frame(&proto::ClassifyBatchRequest { items }.encode_to_vec());
    hammer(addr, "ClassifyBatch", body, batches, duration).await
}

/// `calls` concurrent calls of `method` on one connection, each sent again as soon as its
/// answer has been read, for `duration`.
async fn hammer(addr: &str, method: &'static str, body: Bytes, calls: usize, duration: Duration) {
    let client = h2_connect(addr, 1 << 20).await;
    let end = Instant::now() + duration;
    let mut tasks = Vec::new();
    for _ in 0..calls {
        let client = client.clone();
        let body = body.clone();
        let addr = addr.to_string();
        tasks.push(tokio::spawn(async move {
            while Instant::now() < end {
                let Ok(mut c) = client.clone().ready().await else {
                    break;
                };
                let Ok((response, mut send)) = c.send_request(post(&addr, method), false) else {
                    break;
                };
                let _ = send.send_data(body.clone(), true);
                if let Ok(r) = response.await {
                    let mut b = r.into_body();
                    while let Some(Ok(d)) = b.data().await {
                        let _ = b.flow_control().release_capacity(d.len());
                    }
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

/// A well-behaved client: one short Classify every 50 ms on its own connection.
async fn probe(
    addr: String,
    stop: Arc<AtomicBool>,
    results: Arc<Mutex<Vec<Result<Duration, String>>>>,
) {
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_lazy();
    let mut client = proto::topic_classifier_client::TopicClassifierClient::new(channel);
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        let mut req =
            tonic::Request::new(request("سيطر الجيش على المدينة بعد اشتباكات عنيفة", false));
        req.set_timeout(Duration::from_secs(5));
        let r = client
            .classify(req)
            .await
            .map(|_| started.elapsed())
            .map_err(|s| format!("{:?}", s.code()));
        results.lock().unwrap().push(r);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: attack ADDR SERVER_PID [case ...]");
        std::process::exit(2);
    }
    let addr = args[1].clone();
    let pid: u32 = args[2].parse().expect("a pid");
    let all = [
        "amplify",
        "unread-streams",
        "batch",
        "half-sent",
        "silent",
        "cancel",
        "greedy",
        "greedy-batch",
    ];
    let cases: Vec<String> = if args.len() > 3 {
        args[3..].to_vec()
    } else {
        all.iter().map(|s| s.to_string()).collect()
    };
    println!(
        "case            peak_rss_mib  rss_after_10s_mib  probes  failed  p50_ms  p99_ms  max_ms"
    );
    for case in cases {
        let before = rss_mib(pid);
        let stop = Arc::new(AtomicBool::new(false));
        let results = Arc::new(Mutex::new(Vec::new()));
        let peak = Arc::new(Mutex::new(before));
        let sampler = {
            let stop = stop.clone();
            let peak = peak.clone();
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let r = rss_mib(pid);
                    {
                        let mut p = peak.lock().unwrap();
                        *p = p.max(r);
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            })
        };
        let prober = tokio::spawn(probe(addr.clone(), stop.clone(), results.clone()));
        let hold = Duration::from_secs(10);
        let amplified = || frame(&request(&"ب\n".repeat(250_000), true).encode_to_vec());
        match case.as_str() {
            "amplify" => unread_unary(&addr, "Classify", amplified(), 100, hold).await,
            "unread-streams" => {
                let body = frame(&request(&"ب\n".repeat(50_000), true).encode_to_vec());
                unread_streams(&addr, body, 20, 8, hold).await
            }
            "batch" => {
                let items: Vec<_> = (0..256)
                    .map(|_| request(&"ب\n".repeat(8_000), true))
                    .collect();
                let body = frame(&proto::ClassifyBatchRequest { items }.encode_to_vec());
                unread_unary(&addr, "ClassifyBatch", body, 4, hold).await
            }
            "half-sent" => half_sent(&addr, 3, 300, hold).await,
            "silent" => silent(&addr, 5_000, hold).await,
            "cancel" => cancel(&addr, 100).await,
            "greedy" => greedy(&addr, 256, hold).await,
            "greedy-batch" => greedy_batch(&addr, 8, hold).await,
            other => {
                eprintln!("unknown case {other}");
                continue;
            }
        }
        // The attacker has left: stop probing after 10 s more and measure memory then.
        tokio::time::sleep(Duration::from_secs(10)).await;
        let after = rss_mib(pid);
        stop.store(true, Ordering::Relaxed);
        let _ = prober.await;
        let _ = sampler.await;
        let results = results.lock().unwrap();
        let mut ok: Vec<Duration> = results
            .iter()
            .filter_map(|r| r.as_ref().ok().copied())
            .collect();
        ok.sort();
        let failed: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
        println!(
            "{case:<15} {:>12.1}  {:>17.1}  {:>6}  {:>6}  {:>6.1}  {:>6.1}  {:>6.1}{}",
            *peak.lock().unwrap(),
            after,
            results.len(),
            failed.len(),
            percentile(&ok, 0.5),
            percentile(&ok, 0.99),
            percentile(&ok, 1.0),
            if failed.is_empty() {
                String::new()
            } else {
                format!("  failures: {:?}", &failed[..failed.len().min(3)])
            }
        );
    }
}
