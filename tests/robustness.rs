//! Hostile clients: malformed protobuf, random bytes on the port, a 100 MiB message,
//! thousands of abandoned streams. None of them may crash the server or stop it from
//! answering everybody else. Careless and hostile clients with valid gRPC (issue 8: each
//! numbered case is a test below). And unusual but honest text: Arabic in presentation forms.

mod common;

use std::time::Duration;

use bytes::{Buf, BufMut};
use common::TestServer;
use tasnif::service::proto;
use tokio::io::AsyncWriteExt;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::{Code, Request, Status};

/// A codec that sends and receives raw message bytes, to send what no generated
/// client would.
#[derive(Debug, Clone, Default)]
struct Raw;
#[derive(Debug)]
struct RawEncoder;
#[derive(Debug)]
struct RawDecoder;

impl Codec for Raw {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;
    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }
    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

impl Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawDecoder {
    type Item = Vec<u8>;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining()).to_vec()))
    }
}

async fn raw_classify(server: &TestServer, body: Vec<u8>) -> Result<Vec<u8>, Status> {
    let mut grpc =
        tonic::client::Grpc::new(server.channel().await).max_encoding_message_size(usize::MAX);
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    let path = http::uri::PathAndQuery::from_static("/tasnif.v1.TopicClassifier/Classify");
    grpc.unary(Request::new(body), path, Raw)
        .await
        .map(|r| r.into_inner())
}

async fn still_serving(server: &TestServer) {
    let mut client = server.client().await;
    let r = client
        .classify(proto::ClassifyRequest {
            text: "سيطر الجيش على المدينة بعد اشتباكات عنيفة".into(),
            ..Default::default()
        })
        .await
        .expect("the server still answers");
    assert_eq!(r.into_inner().primary, "military");
}

#[tokio::test]
async fn malformed_protobuf_is_an_error_not_a_crash() {
    let server = TestServer::start().await;
    for body in [
        vec![0xFF; 16],               // invalid tag and varint
        vec![0x0A, 0x7F, b'x'],       // field 1 claims 127 bytes, has 1
        vec![0x0A, 0x02, 0xC3, 0x28], // field 1 is not UTF-8
        vec![0x1A, 0x01],             // field 3 truncated
    ] {
        let status = raw_classify(&server, body).await.unwrap_err();
        // The gRPC status-code guide makes a parse failure INTERNAL.
        assert_eq!(status.code(), Code::Internal, "{}", status.message());
    }
    // An empty message is a valid empty request: INVALID_ARGUMENT, empty text.
    let status = raw_classify(&server, Vec::new()).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    still_serving(&server).await;
}

#[tokio::test]
async fn random_bytes_on_the_port_do_not_disturb_the_server() {
    let server = TestServer::start().await;
    let addr = server.url.trim_start_matches("http://").to_string();
    for seed in 0u32..20 {
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        // Deterministic garbage, some of it starting like an HTTP/2 preface.
        let mut junk: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2654435761) ^ seed) as u8)
            .collect();
        if seed % 2 == 0 {
            junk.splice(0..0, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".iter().copied());
        }
        let _ = stream.write_all(&junk).await;
        let _ = stream.shutdown().await;
    }
    still_serving(&server).await;
}

#[tokio::test]
async fn a_100_mib_message_is_refused_without_reading_it() {
    let server = TestServer::start().await;
    let huge = vec![b'a'; 100 * 1024 * 1024];
    let status = tokio::time::timeout(Duration::from_secs(60), raw_classify(&server, huge))
        .await
        .expect("refused promptly")
        .unwrap_err();
    // The server answers as soon as it has read the 5-byte length prefix.
    assert_eq!(
        status.code(),
        Code::ResourceExhausted,
        "{}",
        status.message()
    );
    assert!(status.message().contains("104857600 bytes"));
    still_serving(&server).await;
}

async fn abandon_streams(channel: &tonic::transport::Channel, n: usize) {
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let channel = channel.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..n / 8 {
                let mut client =
                    proto::topic_classifier_client::TopicClassifierClient::new(channel.clone());
                let (tx, rx) = tokio::sync::mpsc::channel::<proto::ClassifyRequest>(1);
                let call = client.classify_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
                if (worker + i) % 10 == 0 {
                    // Some send a request first; none read the answer.
                    let _ = tx
                        .send(proto::ClassifyRequest {
                            text: "التقى الوزير السفير".into(),
                            ..Default::default()
                        })
                        .await;
                }
                let opened = tokio::time::timeout(Duration::from_millis(200), call).await;
                drop(tx);
                drop(opened);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

#[tokio::test]
async fn ten_thousand_abandoned_streams_do_not_leak() {
    // The server runs as its own process, so that its memory is measured apart from the
    // other tests of this binary, which run in parallel in this one.
    let server = ServeProcess::start("", "");
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", server.addr))
        .unwrap()
        .connect()
        .await
        .expect("the server accepts connections");
    let client = server.client().await;
    abandon_streams(&channel, 10_000).await;
    still_serving_at(&client).await;
    let after_first = server.rss_mib();
    abandon_streams(&channel, 10_000).await;
    still_serving_at(&client).await;
    // A leak per stream would grow memory again by the same amount; allow noise.
    let now = server.rss_mib();
    assert!(after_first > 0.0, "no /proc/PID/status for the server");
    assert!(
        now < after_first + 16.0,
        "RSS grew from {after_first:.1} MiB to {now:.1} MiB over 10 000 more streams"
    );
}

// ---------------------------------------------------------------------------------------
// Careless and hostile clients with valid gRPC (issue 8). Each test is one numbered case.
// ---------------------------------------------------------------------------------------

use common::{raw, seed_articles};
use prost::Message;
use std::time::Instant;
use tasnif::service::Limits;

fn classify_request(text: &str, include: &[proto::Include]) -> proto::ClassifyRequest {
    proto::ClassifyRequest {
        text: text.to_string(),
        include: include.iter().map(|&i| i as i32).collect(),
        ..Default::default()
    }
}

fn addr(server: &TestServer) -> String {
    server.url.trim_start_matches("http://").to_string()
}

/// An article of `lines` one-letter lines: as many segments as lines.
fn one_letter_lines(lines: usize) -> String {
    "ب\n".repeat(lines)
}

/// About `chars` characters of seed text (sentences repeated).
fn seed_text(chars: usize) -> String {
    let all: String = seed_articles().into_iter().map(|(_, t)| t).collect();
    all.chars().cycle().take(chars).collect()
}

/// Case 1: An answer whose size would amplify the request is refused before it is computed,
/// with a message that says what to do.
#[tokio::test]
async fn amplified_answers_are_refused_before_they_are_computed() {
    let server = TestServer::with_limits(Limits {
        max_article_chars: 1_000_000,
        ..Limits::default()
    })
    .await;
    let mut client = server.client().await;
    let text = one_letter_lines(250_000);
    let started = Instant::now();
    let status = client
        .classify(classify_request(
            &text,
            &[proto::Include::Segments, proto::Include::Explanations],
        ))
        .await
        .unwrap_err();
    assert_eq!(
        status.code(),
        Code::ResourceExhausted,
        "{}",
        status.message()
    );
    assert!(
        status.message().contains("per-call limit")
            && status.message().contains("INCLUDE_SEGMENTS"),
        "{}",
        status.message()
    );
    // Refused from the segment count, before scoring: far quicker than classifying.
    let refused_in = started.elapsed();
    let started = Instant::now();
    client
        .classify(classify_request(&one_letter_lines(50_000), &[]))
        .await
        .unwrap();
    assert!(
        refused_in < started.elapsed() * 5,
        "refusal took {refused_in:?}, a fifth of the text classified took {:?}",
        started.elapsed()
    );
    still_serving(&server).await;
}

/// Case 1: Answers a client does not read stay charged to its connection: past its share its
/// calls are refused, and every other client is served.
#[tokio::test]
async fn unread_answers_fill_only_their_connections_share() {
    let server = TestServer::with_limits(Limits {
        connection_memory: Some(24 << 20),
        call_memory: Some(12 << 20),
        ..Limits::default()
    })
    .await;
    // Answers of ~10 MiB charged each (20 000 segments with probabilities).
    let body = proto::ClassifyRequest {
        include: vec![proto::Include::Segments as i32],
        ..classify_request(&one_letter_lines(20_000), &[])
    }
    .encode_to_vec();
    let tcp = tokio::net::TcpStream::connect(addr(&server)).await.unwrap();
    let (client, connection) = h2::client::Builder::new()
        .initial_window_size(1024)
        .handshake::<_, bytes::Bytes>(tcp)
        .await
        .unwrap();
    tokio::spawn(connection);
    let mut held = Vec::new();
    let mut refused = None;
    for _ in 0..8 {
        let mut c = client.clone().ready().await.unwrap();
        let request = raw::request(&server.url, "Classify");
        let (response, mut send) = c.send_request(request, false).unwrap();
        send.send_data(raw::frame(&body), true).unwrap();
        let response = tokio::time::timeout(Duration::from_secs(60), response)
            .await
            .expect("headers arrive")
            .unwrap();
        if let Some(code) = response.headers().get("grpc-status") {
            refused = Some((
                code.to_str().unwrap().to_string(),
                response.headers()["grpc-message"]
                    .to_str()
                    .unwrap()
                    .to_string(),
            ));
            break;
        }
        // Never read the body.
        held.push(response);
    }
    let (code, message) = refused.expect("a client that never reads is refused past its share");
    assert_eq!(code, (Code::ResourceExhausted as i32).to_string());
    assert!(message.contains("connection"), "{message}");
    assert!(
        !held.is_empty() && held.len() <= 2,
        "{} answers held",
        held.len()
    );
    still_serving(&server).await;
    drop(held);
}

/// Case 2: A request that stops arriving part-way is charged while it is held, refused past
/// the connection's share, and ended after the request-body timeout.
#[tokio::test]
async fn half_sent_requests_are_bounded_and_timed_out() {
    let server = TestServer::with_limits(Limits {
        connection_memory: Some(16 << 20),
        call_memory: Some(8 << 20),
        request_body_timeout: 1.0,
        ..Limits::default()
    })
    .await;
    let tcp = tokio::net::TcpStream::connect(addr(&server)).await.unwrap();
    let (client, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(connection);
    // Each stream declares a 4 MiB - 1 message and sends 3 MiB of it.
    let declared = (4u32 << 20) - 1;
    let mut prefix = vec![0u8];
    prefix.extend_from_slice(&declared.to_be_bytes());
    let mut pending = Vec::new();
    let started = Instant::now();
    for _ in 0..8 {
        let mut c = client.clone().ready().await.unwrap();
        let request = raw::request(&server.url, "Classify");
        let (response, mut send) = c.send_request(request, false).unwrap();
        send.reserve_capacity(3 << 20);
        send.send_data(prefix.clone().into(), false).unwrap();
        send.send_data(vec![b'x'; 3 << 20].into(), false).unwrap();
        pending.push((response, send));
    }
    let mut codes = Vec::new();
    for (response, _send) in pending.iter_mut() {
        let response = tokio::time::timeout(Duration::from_secs(30), response)
            .await
            .expect("every stalled call is answered")
            .unwrap();
        let code = response
            .headers()
            .get("grpc-status")
            .map(|v| v.to_str().unwrap().to_string());
        let message = response
            .headers()
            .get("grpc-message")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        codes.push((code, message));
    }
    let exhausted = codes
        .iter()
        .filter(|(c, m)| c.as_deref() == Some("8") && m.contains("arriving"))
        .count();
    let timed_out = codes
        .iter()
        .filter(|(c, m)| {
            c.as_deref() == Some("4")
                && m.contains("stopped%20arriving") | m.contains("stopped arriving")
        })
        .count();
    assert!(
        exhausted >= 3,
        "calls past the connection's share are refused: {codes:?}"
    );
    assert!(timed_out >= 1, "stalled calls time out: {codes:?}");
    assert_eq!(exhausted + timed_out, 8, "{codes:?}");
    assert!(started.elapsed() < Duration::from_secs(20));
    still_serving(&server).await;
}

/// Case 3: Connections that never send the HTTP/2 preface are closed after the handshake
/// timeout, and while they hold every slot, new clients wait instead of failing.
#[tokio::test]
async fn silent_connections_are_closed_and_capped() {
    let server = TestServer::with_limits(Limits {
        handshake_timeout: 0.5,
        max_connections: 8,
        ..Limits::default()
    })
    .await;
    let mut silent = Vec::new();
    for _ in 0..8 {
        silent.push(tokio::net::TcpStream::connect(addr(&server)).await.unwrap());
    }
    // All 8 slots are taken by silent connections; a real client gets in once they go.
    let started = Instant::now();
    still_serving(&server).await;
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "the client had to wait for a slot ({:?})",
        started.elapsed()
    );
    use tokio::io::AsyncReadExt;
    for mut s in silent {
        let mut buf = [0u8; 64];
        // The server closes (EOF or reset); it may have sent a GOAWAY first.
        let closed = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => continue,
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "a silent connection was left open");
    }
}

/// Case 3: Connections with no call for the idle timeout are closed.
#[tokio::test]
async fn idle_connections_are_closed() {
    let server = TestServer::with_limits(Limits {
        idle_timeout: 0.5,
        ..Limits::default()
    })
    .await;
    let tcp = tokio::net::TcpStream::connect(addr(&server)).await.unwrap();
    let (client, connection) = h2::client::handshake(tcp).await.unwrap();
    let conn = tokio::spawn(connection);
    let mut c = client.ready().await.unwrap();
    let request = raw::request(&server.url, "GetModelInfo");
    let (response, mut send) = c.send_request(request, false).unwrap();
    send.send_data(raw::frame(&[]), true).unwrap();
    let response = response.await.unwrap();
    assert_eq!(response.status(), 200);
    drop(response);
    let started = Instant::now();
    let _ = tokio::time::timeout(Duration::from_secs(10), conn)
        .await
        .expect("the idle connection is closed by the server");
    assert!(started.elapsed() >= Duration::from_millis(300));
}

/// Case 4: Calls whose clients cancel leave the queue: a call made after a burst of cancelled
/// heavy calls waits for about one of them, not all.
#[tokio::test]
async fn cancelled_calls_stop_computing() {
    let server = TestServer::with_limits(Limits {
        workers: 1,
        max_article_chars: 1_000_000,
        max_request_bytes: 8 << 20,
        ..Limits::default()
    })
    .await;
    let heavy = seed_text(300_000);
    let mut client = server.client().await;
    let started = Instant::now();
    client
        .classify(classify_request(&heavy, &[]))
        .await
        .unwrap();
    let one = started.elapsed();
    // 12 heavy calls, each abandoned by its client once it has been sent.
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let mut c = server.client().await;
        let heavy = heavy.clone();
        tasks.push(tokio::spawn(async move {
            let _ = tokio::time::timeout(
                Duration::from_millis(20),
                c.classify(classify_request(&heavy, &[])),
            )
            .await;
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let started = Instant::now();
    client
        .classify(classify_request(&heavy, &[]))
        .await
        .unwrap();
    let after = started.elapsed();
    assert!(
        after < one * 4,
        "a call after 12 cancelled ones took {after:?}; one call takes {one:?}"
    );
}

/// Case 5: One connection saturating the server with heavy calls does not starve another's
/// small calls: none is refused, and all are answered while the heavy ones still run.
#[tokio::test]
async fn a_greedy_client_does_not_starve_others() {
    let server = TestServer::with_limits(Limits {
        max_article_chars: 1_000_000,
        max_request_bytes: 8 << 20,
        ..Limits::default()
    })
    .await;
    let heavy = seed_text(200_000);
    let greedy = server.client().await;
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let mut c = greedy.clone();
        let heavy = heavy.clone();
        tasks.push(tokio::spawn(async move {
            c.classify(classify_request(&heavy, &[]))
                .await
                .map(|_| Instant::now())
        }));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut small = server.client().await;
    let mut latencies = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        small
            .classify(classify_request(
                "سيطر الجيش على المدينة بعد اشتباكات عنيفة",
                &[],
            ))
            .await
            .expect("the small client is never refused");
        latencies.push(started.elapsed());
    }
    let small_done = Instant::now();
    let mut greedy_ok = 0;
    let mut last_greedy = None;
    for t in tasks {
        match t.await.unwrap() {
            Ok(done) => {
                greedy_ok += 1;
                last_greedy = last_greedy.max(Some(done));
            }
            Err(status) => assert_eq!(
                status.code(),
                Code::ResourceExhausted,
                "{}",
                status.message()
            ),
        }
    }
    assert!(greedy_ok > 0);
    assert!(
        last_greedy.is_some_and(|t| t > small_done),
        "the small calls finished before the greedy client's work ({latencies:?})"
    );
}

/// Case 8: A 1 ms deadline is answered DEADLINE_EXCEEDED (never CANCELLED), seen on the wire
/// with no client-side timer.
#[tokio::test]
async fn tiny_deadlines_get_deadline_exceeded() {
    let server = TestServer::start().await;
    let body = raw::frame(&classify_request(&seed_text(100_000), &[]).encode_to_vec());
    let mut codes = std::collections::BTreeMap::new();
    for _ in 0..30 {
        let a = raw::call(
            &addr(&server),
            http::Method::POST,
            "/tasnif.v1.TopicClassifier/Classify",
            "application/grpc",
            &[("grpc-timeout", "1m")],
            vec![body.clone()],
        )
        .await;
        *codes.entry(a.grpc_status).or_insert(0) += 1;
    }
    assert_eq!(codes.get(&Some(Code::Cancelled as i32)), None, "{codes:?}");
    assert!(
        codes.contains_key(&Some(Code::DeadlineExceeded as i32)),
        "{codes:?}"
    );
}

/// Case 8: What is not a gRPC call is refused as the gRPC-over-HTTP/2 spec says, and a second
/// message on a unary call is an error, not silently dropped.
#[tokio::test]
async fn protocol_violations_are_refused() {
    let server = TestServer::start().await;
    let a = addr(&server);
    let body = raw::frame(&classify_request("سيطر الجيش على المدينة", &[]).encode_to_vec());
    let json = raw::call(
        &a,
        http::Method::POST,
        "/tasnif.v1.TopicClassifier/Classify",
        "application/json",
        &[],
        vec![body.clone()],
    )
    .await;
    assert_eq!(json.http, 415);
    let get = raw::call(
        &a,
        http::Method::GET,
        "/tasnif.v1.TopicClassifier/GetModelInfo",
        "application/grpc",
        &[],
        vec![],
    )
    .await;
    assert_eq!(get.http, 405);
    let two = raw::call(
        &a,
        http::Method::POST,
        "/tasnif.v1.TopicClassifier/Classify",
        "application/grpc",
        &[],
        vec![body.clone(), body.clone()],
    )
    .await;
    assert_eq!(
        two.grpc_status,
        Some(Code::InvalidArgument as i32),
        "{two:?}"
    );
    assert!(
        two.grpc_message.contains("exactly one request message"),
        "{two:?}"
    );
    let one = raw::call(
        &a,
        http::Method::POST,
        "/tasnif.v1.TopicClassifier/Classify",
        "application/grpc+proto",
        &[],
        vec![body],
    )
    .await;
    assert_eq!(one.grpc_status, Some(0), "{one:?}");
    still_serving(&server).await;
}

/// Case 8: Limits are reported without truncation.
#[tokio::test]
async fn limits_are_reported_in_full() {
    let server = TestServer::with_limits(Limits {
        max_in_flight: 4_294_967_297,
        max_queued_chars: 5_000_000_000,
        ..Limits::default()
    })
    .await;
    let mut client = server.client().await;
    let info = client
        .get_model_info(proto::GetModelInfoRequest {})
        .await
        .unwrap()
        .into_inner();
    let limits = info.limits.unwrap();
    assert_eq!(limits.max_in_flight, 4_294_967_297);
    assert_eq!(limits.max_queued_chars, 5_000_000_000);
    assert!(limits.memory_budget_bytes >= limits.connection_memory_bytes);
    assert!(limits.connection_memory_bytes >= limits.call_memory_bytes);
}

/// A `tasnif serve` process (the real binary, with its allocator), on an ephemeral port.
struct ServeProcess {
    child: std::process::Child,
    addr: String,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl ServeProcess {
    fn start(shell_prefix: &str, args: &str) -> Self {
        use std::io::{BufRead, BufReader};
        let bin = env!("CARGO_BIN_EXE_tasnif");
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "{shell_prefix} exec {bin} serve --addr 127.0.0.1:0 {args}"
            ))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let addr = common::listening_addr(&mut child);
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sink = stderr.clone();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                sink.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        Self {
            child,
            addr,
            stderr,
        }
    }

    fn proc_field(&self, file: &str, key: &str) -> Option<u64> {
        let s = std::fs::read_to_string(format!("/proc/{}/{file}", self.child.id())).ok()?;
        let line = s.lines().find(|l| l.starts_with(key))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    fn rss_mib(&self) -> f64 {
        self.proc_field("status", "VmRSS:").unwrap_or(0) as f64 / 1024.0
    }

    /// CPU time used so far (user + system), in clock ticks.
    fn cpu_ticks(&self) -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        let after = &s[s.rfind(')').unwrap() + 2..];
        let f: Vec<&str> = after.split_whitespace().collect();
        f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
    }

    async fn client(
        &self,
    ) -> proto::topic_classifier_client::TopicClassifierClient<tonic::transport::Channel> {
        let channel = tonic::transport::Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .expect("the server accepts connections");
        proto::topic_classifier_client::TopicClassifierClient::new(channel)
            .max_decoding_message_size(256 << 20)
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Case 6: After a spike of big answers, the server gives its memory back to the system.
#[tokio::test]
async fn memory_is_returned_after_a_spike() {
    if !std::path::Path::new("/proc/self/status").exists() {
        common::skipped("memory_is_returned_after_a_spike needs /proc (Linux)");
        return;
    }
    let server = ServeProcess::start("", "");
    let client = server.client().await;
    still_serving_at(&client).await;
    let baseline = server.rss_mib();
    let text = one_letter_lines(60_000);
    let mut tasks = Vec::new();
    for _ in 0..6 {
        // One connection each: a connection's share holds two such answers.
        let mut c = server.client().await;
        let text = text.clone();
        tasks.push(tokio::spawn(async move {
            c.classify(classify_request(&text, &[proto::Include::Segments]))
                .await
                .map(|r| r.into_inner().segments.len())
        }));
    }
    let mut peak = baseline;
    for t in tasks {
        peak = peak.max(server.rss_mib());
        assert_eq!(t.await.unwrap().unwrap(), 60_000);
    }
    // The high-water mark: the spike really happened.
    peak = peak.max(server.proc_field("status", "VmHWM:").unwrap_or(0) as f64 / 1024.0);
    assert!(
        peak > baseline + 48.0,
        "no spike: {baseline:.0} -> {peak:.0} MiB"
    );
    let mut now = peak;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        now = server.rss_mib();
        if now < baseline + 24.0 {
            break;
        }
    }
    assert!(
        now < baseline + 24.0,
        "RSS {baseline:.0} MiB before, {peak:.0} MiB at the spike, {now:.0} MiB 10 s later"
    );
}

async fn still_serving_at(
    client: &proto::topic_classifier_client::TopicClassifierClient<tonic::transport::Channel>,
) {
    let r = client
        .clone()
        .classify(classify_request(
            "سيطر الجيش على المدينة بعد اشتباكات عنيفة",
            &[],
        ))
        .await
        .expect("the server still answers");
    assert_eq!(r.into_inner().primary, "military");
}

/// Case 3: Out of descriptors, the accept loop backs off (no spinning core), says so once,
/// and serves again when descriptors free up.
#[tokio::test]
async fn out_of_descriptors_the_server_backs_off() {
    if !std::path::Path::new("/proc/self/stat").exists() {
        common::skipped("out_of_descriptors_the_server_backs_off needs /proc (Linux)");
        return;
    }
    let server = ServeProcess::start("ulimit -n 48 &&", "--max-connections 1000");
    let mut silent = Vec::new();
    for _ in 0..80 {
        if let Ok(Ok(s)) = tokio::time::timeout(
            Duration::from_millis(500),
            tokio::net::TcpStream::connect(&server.addr),
        )
        .await
        {
            silent.push(s);
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = server.cpu_ticks();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let used = server.cpu_ticks() - before;
    // A spinning accept loop burns a whole core: ~100 ticks a second.
    assert!(
        used < 30,
        "{used} ticks of CPU in one second at the descriptor limit"
    );
    drop(silent);
    let client = tokio::time::timeout(Duration::from_secs(10), server.client())
        .await
        .expect("accepting again");
    still_serving_at(&client).await;
    let log = server.stderr.lock().unwrap().clone();
    // Logged once per burst of failures (not once per failure, tens of thousands a
    // second): a burst ends when an accept succeeds, which can happen a few times.
    let warnings = log.matches("accept failed").count();
    assert!(
        (1..=5).contains(&warnings),
        "logged {warnings} times:\n{log}"
    );
}

/// Case 7: Model files that would load but could not serve are refused at start, promptly,
/// with a message that says why — never SERVING with every call hanging.
#[test]
fn unservable_model_files_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut model: serde_json::Value =
        serde_json::from_slice(tasnif::classifier::EMBEDDED_MODEL).unwrap();
    model["pipeline"]["features"]["char_ngram_max"] = serde_json::json!(1_000_000_000_000_000u64);
    let huge_ngrams = dir.path().join("ngrams.json");
    std::fs::write(&huge_ngrams, serde_json::to_vec(&model).unwrap()).unwrap();
    for (path, needle) in [
        (huge_ngrams.display().to_string(), "n-gram"),
        ("/dev/zero".to_string(), "refusing"),
    ] {
        let started = Instant::now();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tasnif"))
            .args(["serve", "--addr", "127.0.0.1:0", "--model", &path])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{path} was served");
        assert!(started.elapsed() < Duration::from_secs(30));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(needle), "{path}: {stderr}");
        assert!(!String::from_utf8_lossy(&out.stdout).contains("listening"));
    }
}

/// A sentence, and the same sentence as text extracted from a PDF often is: every letter
/// a contextual presentation form (U+FE70–U+FEFF), لا in خلال the lam-alef ligature ﻼ.
const PLAIN: &str = "سيطر الجيش على المدينة خلال اشتباكات عنيفة";
const PRESENTATION_FORMS: &str = "\u{FEB3}\u{FEF4}\u{FEC4}\u{FEAE} \
    \u{FE8D}\u{FEDF}\u{FEA0}\u{FEF4}\u{FEB6} \u{FECB}\u{FEE0}\u{FEF0} \
    \u{FE8D}\u{FEDF}\u{FEE4}\u{FEAA}\u{FEF3}\u{FEE8}\u{FE94} \u{FEA7}\u{FEFC}\u{FEDD} \
    \u{FE8D}\u{FEB7}\u{FE98}\u{FE92}\u{FE8E}\u{FEDB}\u{FE8E}\u{FE95} \
    \u{FECB}\u{FEE8}\u{FEF4}\u{FED4}\u{FE94}";

#[tokio::test]
async fn text_in_presentation_forms_is_classified_like_ordinary_letters() {
    assert!(!PRESENTATION_FORMS
        .chars()
        .any(|c| ('\u{0600}'..='\u{06FF}').contains(&c)));
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let request = |text: &str| proto::ClassifyRequest {
        text: text.into(),
        include: vec![proto::Include::Segments as i32],
        ..Default::default()
    };
    let plain = client.classify(request(PLAIN)).await.unwrap().into_inner();
    let shaped = client
        .classify(request(PRESENTATION_FORMS))
        .await
        .expect("presentation forms are Arabic letters")
        .into_inner();
    assert_eq!(plain.primary, "military");
    assert_eq!(shaped.primary, plain.primary);
    assert_eq!(shaped.topics, plain.topics);
    assert_eq!(shaped.scores.len(), plain.scores.len());
    for (a, b) in plain.scores.iter().zip(&shaped.scores) {
        assert_eq!(a.label, b.label);
        assert!((a.probability - b.probability).abs() < 1e-5, "{a:?} {b:?}");
    }
    // One segment: the whole text as sent, in its code points (the ligature is one).
    let n = PRESENTATION_FORMS.chars().count();
    assert_eq!(n + 1, PLAIN.chars().count());
    assert_eq!(shaped.characters as usize, n);
    assert_eq!(shaped.segments.len(), 1);
    assert_eq!(
        (shaped.segments[0].start, shaped.segments[0].end),
        (0, n as u32)
    );
    still_serving(&server).await;
}

/// Connections are asked to go away after `--max-connection-age` (so clients rebalance
/// over replicas), and a tonic client reconnects without a failed call.
#[tokio::test]
async fn old_connections_go_away_without_failed_calls() {
    let server = TestServer::with_limits(Limits {
        max_connection_age: 0.3,
        max_connection_age_grace: 0.3,
        ..Limits::default()
    })
    .await;
    // A bare HTTP/2 connection ends once its age and grace have passed.
    let tcp = tokio::net::TcpStream::connect(addr(&server)).await.unwrap();
    let (_client, connection) = h2::client::handshake(tcp).await.unwrap();
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(5), connection)
        .await
        .expect("the server closes an old connection")
        .ok();
    assert!(started.elapsed() >= Duration::from_millis(250));
    // A client calling throughout several ages loses nothing. (Here the grace is far
    // longer than any call, so only a lost reconnect could fail one, not a call cut off
    // after the grace on a loaded machine.)
    let server = TestServer::with_limits(Limits {
        max_connection_age: 0.3,
        max_connection_age_grace: 5.0,
        ..Limits::default()
    })
    .await;
    let mut client = server.client().await;
    let until = Instant::now() + Duration::from_millis(1500);
    let mut calls = 0;
    while Instant::now() < until {
        client
            .classify(classify_request("سيطر الجيش على المدينة", &[]))
            .await
            .expect("no call fails across connection ages");
        calls += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(calls > 10);
}

/// Every input the fuzzer kept (`fuzz/regressions/request/`, see scripts/fuzz.sh) replayed
/// against a real server over loopback, in the request target's encoding: the first byte
/// picks the gRPC method (high bit clear) or the JSON route (high bit set), the rest is the
/// message. Each call must end promptly with a status — never UNKNOWN (a handler failed
/// unexpectedly), never a 500, never a hang — and the server must go on serving.
#[tokio::test]
async fn fuzz_regressions_are_answered_promptly() {
    const METHODS: [&str; 4] = ["Classify", "ClassifyBatch", "Vectorize", "ClassifyStream"];
    const ROUTES: [&str; 3] = ["/v1/classify", "/v1/classify:batch", "/v1/vectorize"];
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions/request");
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "no inputs in {}", dir.display());
    let server = TestServer::start().await;
    let a = addr(&server);
    for path in inputs {
        let data = std::fs::read(&path).unwrap();
        let Some((&selector, body)) = data.split_first() else {
            continue;
        };
        let method = format!(
            "/tasnif.v1.TopicClassifier/{}",
            METHODS[usize::from(selector & 3)]
        );
        let call = if selector & 0x80 == 0 {
            raw::call(
                &a,
                http::Method::POST,
                &method,
                "application/grpc",
                &[],
                vec![raw::frame(body)],
            )
        } else {
            raw::call(
                &a,
                http::Method::POST,
                ROUTES[usize::from(selector & 3) % ROUTES.len()],
                "application/json",
                &[],
                vec![bytes::Bytes::copy_from_slice(body)],
            )
        };
        let answer = tokio::time::timeout(Duration::from_secs(10), call)
            .await
            .unwrap_or_else(|_| panic!("{} hung", path.display()));
        if selector & 0x80 == 0 {
            let status = answer
                .grpc_status
                .unwrap_or_else(|| panic!("{}: no gRPC status: {answer:?}", path.display()));
            assert_ne!(
                status,
                Code::Unknown as i32,
                "{}: {answer:?}",
                path.display()
            );
        } else {
            assert_ne!(answer.http, 500, "{}: {answer:?}", path.display());
        }
    }
    still_serving(&server).await;
}

/// A client that cancels a burst of calls the server has not taken up yet (a batch of
/// deadlines expiring together, say) keeps its connection, and its other calls on it are
/// answered. h2 by default ends a connection after 20 such resets (ENHANCE_YOUR_CALM, its
/// guard against "rapid reset" floods), failing every call still on it: the soak met that
/// as UNKNOWN errors when an overloaded window ended. The server allows as many as the
/// streams a connection may have open (1 024), which still bounds a flood
/// (`a_rapid_reset_flood_ends_its_connection` floods it).
#[tokio::test]
async fn a_burst_of_cancelled_calls_keeps_the_connection() {
    let server = TestServer::start().await;
    let (kept, conn) = cancel_a_burst(&server, 200).await;
    let response = tokio::time::timeout(Duration::from_secs(30), kept)
        .await
        .expect("the kept call is answered")
        .expect("the connection was not ended");
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    let mut bytes = 0;
    while let Some(chunk) = body.data().await {
        let chunk = chunk.expect("the answer arrives whole");
        bytes += chunk.len();
        let _ = body.flow_control().release_capacity(chunk.len());
    }
    let trailers = body.trailers().await.unwrap().expect("trailers");
    assert_eq!(trailers["grpc-status"], "0");
    assert!(bytes > 5, "an answer, not an empty body");
    assert!(!conn.is_finished(), "the connection is still open");
    still_serving(&server).await;
}

/// Opens one Classify call, then `n` more that it cancels at once (the test's runtime has
/// one thread, so their HEADERS and RST_STREAM frames reach the server together, before
/// it can accept any), then sends the first call's request. Returns that call's response
/// and the connection's task.
async fn cancel_a_burst(
    server: &TestServer,
    n: usize,
) -> (
    h2::client::ResponseFuture,
    tokio::task::JoinHandle<Result<(), h2::Error>>,
) {
    let tcp = tokio::net::TcpStream::connect(addr(server)).await.unwrap();
    let (client, connection) = h2::client::handshake(tcp).await.unwrap();
    let conn = tokio::spawn(connection);
    let mut c = client.ready().await.unwrap();
    let body = classify_request(&seed_articles()[0].1, &[]).encode_to_vec();
    let (kept, mut send) = c
        .send_request(raw::request(&server.url, "Classify"), false)
        .unwrap();
    for _ in 0..n {
        c = c.ready().await.unwrap();
        let (_response, mut cancelled) = c
            .send_request(raw::request(&server.url, "Classify"), false)
            .unwrap();
        cancelled.send_reset(h2::Reason::CANCEL);
    }
    send.send_data(raw::frame(&body), true).unwrap();
    (kept, conn)
}

/// The other side of the case above: a client that floods the server with calls it cancels
/// at once (HTTP/2 "rapid reset", CVE-2023-44487) has its connection ended with GOAWAY
/// ENHANCE_YOUR_CALM once more of them wait to be accepted than the connection may have
/// streams open, and everybody else is still answered. h2's client will not break the
/// server's stream limit, so this client writes the frames itself, 5 000 pairs a write, so
/// that the server reads more of them at once than it takes up between reads. (With the
/// bound lifted — `usize::MAX` — the connection survives all 200 000 pairs and this fails.)
#[tokio::test]
async fn a_rapid_reset_flood_ends_its_connection() {
    let server = TestServer::start().await;
    let ended = tokio::time::timeout(Duration::from_secs(60), rapid_reset_flood(&server, 200_000))
        .await
        .expect("the flood ends within a minute");
    match ended {
        FloodEnd::GoAway(reason) => {
            assert_eq!(
                reason,
                u32::from(h2::Reason::ENHANCE_YOUR_CALM),
                "GOAWAY's code"
            )
        }
        FloodEnd::Closed(pairs) => panic!("closed without GOAWAY after {pairs} pairs"),
        FloodEnd::Survived(pairs) => {
            panic!("the connection survived {pairs} cancelled calls")
        }
    }
    still_serving(&server).await;
}

/// How a flood ended: with the server's GOAWAY (its error code), closed without one after
/// so many pairs, or still open after every pair was sent.
#[derive(Debug)]
enum FloodEnd {
    GoAway(u32),
    Closed(usize),
    Survived(usize),
}

/// Opens a plain-text HTTP/2 connection and writes up to `pairs` (HEADERS of a Classify
/// call, RST_STREAM CANCEL) frame pairs, 5 000 a write, while another task reads the
/// server's frames, until a GOAWAY arrives or the connection ends.
async fn rapid_reset_flood(server: &TestServer, pairs: usize) -> FloodEnd {
    use tokio::io::AsyncReadExt;
    let tcp = tokio::net::TcpStream::connect(addr(server)).await.unwrap();
    let (mut rx, mut tx) = tcp.into_split();
    let reader = tokio::spawn(async move {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 16 * 1024];
        loop {
            // A frame: 24-bit length, type, flags, 31-bit stream id, payload.
            while buf.len() >= 9 {
                let len = u32::from_be_bytes([0, buf[0], buf[1], buf[2]]) as usize;
                if buf.len() < 9 + len {
                    break;
                }
                if buf[3] == 0x7 {
                    let code = &buf[9 + 4..9 + 8];
                    return Some(u32::from_be_bytes(code.try_into().unwrap()));
                }
                buf.drain(..9 + len);
            }
            match rx.read(&mut chunk).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    });
    let frame = |kind: u8, flags: u8, stream: u32, payload: &[u8]| {
        let mut f = Vec::with_capacity(9 + payload.len());
        f.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
        f.extend_from_slice(&[kind, flags]);
        f.extend_from_slice(&stream.to_be_bytes());
        f.extend_from_slice(payload);
        f
    };
    // HPACK: every header a literal without indexing, with a literal name (0x00).
    let mut block = Vec::new();
    for (name, value) in [
        (":method", "POST"),
        (":scheme", "http"),
        (":path", "/tasnif.v1.TopicClassifier/Classify"),
        (":authority", "localhost"),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
    ] {
        block.push(0);
        block.push(name.len() as u8);
        block.extend_from_slice(name.as_bytes());
        block.push(value.len() as u8);
        block.extend_from_slice(value.as_bytes());
    }
    let mut start = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    start.extend(frame(0x4, 0, 0, &[])); // SETTINGS, none changed
    if tx.write_all(&start).await.is_err() {
        return FloodEnd::Closed(0);
    }
    let cancel = u32::from(h2::Reason::CANCEL).to_be_bytes();
    let mut sent = 0;
    while sent < pairs && !reader.is_finished() {
        let mut batch = Vec::new();
        for _ in 0..5000.min(pairs - sent) {
            let stream = 1 + 2 * sent as u32;
            batch.extend(frame(0x1, 0x4, stream, &block)); // HEADERS, END_HEADERS
            batch.extend(frame(0x3, 0, stream, &cancel)); // RST_STREAM
            sent += 1;
        }
        if tx.write_all(&batch).await.is_err() {
            break;
        }
    }
    // A server with no bound takes every pair and keeps the connection open.
    match tokio::time::timeout(Duration::from_secs(5), reader).await {
        Ok(ended) => match ended.unwrap() {
            Some(code) => FloodEnd::GoAway(code),
            None => FloodEnd::Closed(sent),
        },
        Err(_) => FloodEnd::Survived(sent),
    }
}
