//! Shared helpers for integration tests: a real server on an ephemeral loopback port.

#![allow(dead_code)]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tasnif::service::proto::topic_classifier_client::TopicClassifierClient;
use tasnif::service::{serve_with, Extras, Limits};
use tasnif::Classifier;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::transport::Channel;

/// The embedded model, loaded once per test binary.
pub fn classifier() -> Arc<Classifier> {
    static C: OnceLock<Arc<Classifier>> = OnceLock::new();
    C.get_or_init(|| Arc::new(Classifier::embedded().expect("embedded model loads")))
        .clone()
}

/// A running server; dropping it does not stop it, call [`TestServer::shutdown`].
pub struct TestServer {
    pub url: String,
    /// `http://ADDR/metrics` when started [`TestServer::with_metrics`].
    pub metrics_url: Option<String>,
    stop: Option<oneshot::Sender<()>>,
    pub handle: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::with_limits(Limits::default()).await
    }

    pub async fn with_limits(limits: Limits) -> Self {
        Self::start_with(limits, false, None, None).await
    }

    /// A server that also serves Prometheus metrics.
    pub async fn with_metrics(limits: Limits) -> Self {
        Self::start_with(limits, true, None, None).await
    }

    /// A server with metrics that serves the model in `reload.model` and reloads it.
    pub async fn with_reload(reload: tasnif::service::reload::ReloadConfig) -> Self {
        Self::start_with(Limits::default(), true, Some(reload), None).await
    }

    /// A server that requires the bearer tokens of `token_file` (re-read every 50 ms).
    pub async fn with_auth(token_file: std::path::PathBuf) -> Self {
        let auth = tasnif::service::auth::Auth::load(token_file).unwrap();
        Self::start_with(Limits::default(), true, None, Some(auth)).await
    }

    async fn start_with(
        limits: Limits,
        metrics: bool,
        reload: Option<tasnif::service::reload::ReloadConfig>,
        auth: Option<tasnif::service::auth::Auth>,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let metrics_listener = if metrics {
            Some(TcpListener::bind("127.0.0.1:0").await.unwrap())
        } else {
            None
        };
        let metrics_url = metrics_listener
            .as_ref()
            .map(|l| format!("http://{}/metrics", l.local_addr().unwrap()));
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(serve_with(
            classifier(),
            limits,
            listener,
            Extras {
                metrics_listener,
                reload,
                auth,
                auth_watch: Some(Duration::from_millis(50)),
                tls: None,
            },
            async {
                let _ = stopped.await;
            },
            Duration::from_secs(10),
        ));
        Self {
            url,
            metrics_url,
            stop: Some(stop),
            handle,
        }
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(self.url.clone())
            .unwrap()
            .connect()
            .await
            .expect("server accepts connections")
    }

    pub async fn client(&self) -> TopicClassifierClient<Channel> {
        TopicClassifierClient::new(self.channel().await).max_decoding_message_size(64 << 20)
    }

    /// Triggers graceful shutdown (the server keeps draining until `handle` resolves).
    pub fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The seed articles, as (file name, text).
pub fn seed_articles() -> Vec<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect()
}

/// Reads a `tasnif serve` process's first stdout line and returns the address it says it
/// listens on (the machine-readable line for port 0).
pub fn listening_addr(child: &mut std::process::Child) -> String {
    use std::io::{BufRead, BufReader};
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout is piped"))
        .read_line(&mut line)
        .unwrap();
    line.trim()
        .strip_prefix("tasnif listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string()
}

/// Says that a test skipped part of its work, on the real stderr: libtest captures what
/// `eprintln!` prints and shows it only for failed tests or under `--nocapture`; a
/// direct write reaches the terminal in `cargo test`'s normal output.
pub fn skipped(why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED: {why}");
}

/// True when tests that need external tools must not be skipped (set by `.ci/run`).
pub fn tools_required() -> bool {
    std::env::var_os("TASNIF_REQUIRE_TOOLS").is_some_and(|v| v == "1")
}

/// An HTTP/1.1 request to `addr` (`HOST:PORT`) over a fresh connection: status, headers
/// (names lower-case) and body.
pub async fn http1(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut bytes = Vec::new();
    let mut buf = [0u8; 8192];
    while let Ok(n) = s.read(&mut buf).await {
        if n == 0 {
            break;
        }
        bytes.extend_from_slice(&buf[..n]);
    }
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete HTTP head");
    let head = String::from_utf8(bytes[..end].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap()[9..12].parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = bytes[end + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    (status, headers, body)
}

/// The payload of a chunked HTTP/1.1 body.
fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = b.windows(2).position(|w| w == b"\r\n").unwrap();
        let size = usize::from_str_radix(
            std::str::from_utf8(&b[..line_end])
                .unwrap()
                .split(';')
                .next()
                .unwrap()
                .trim(),
            16,
        )
        .unwrap();
        b = &b[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[..size]);
        b = &b[size + 2..];
    }
}

/// GET `url` (plain HTTP/1.1), returning status and body.
pub async fn http_get(url: &str) -> (u16, String) {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let (status, _, body) = http1(host, "GET", path, &[], b"").await;
    (status, String::from_utf8(body).unwrap())
}

/// A gRPC call made with bare HTTP/2 (the `h2` crate), to send what generated clients
/// never do — no client-side deadline timer, odd content types, two messages on a unary
/// call — and to see exactly what the server answers.
pub mod raw {
    use bytes::{Bytes, BytesMut};
    use std::time::Duration;

    /// What came back: the HTTP status, and the gRPC status and message (from the
    /// trailers, or the headers of a trailers-only answer).
    #[derive(Debug)]
    pub struct Answer {
        pub http: u16,
        pub grpc_status: Option<i32>,
        pub grpc_message: String,
        pub body_bytes: usize,
    }

    /// The head of a gRPC call to `tasnif.v1.TopicClassifier/METHOD` on `url`.
    pub fn request(url: &str, method: &str) -> http::Request<()> {
        http::Request::post(format!("{url}/tasnif.v1.TopicClassifier/{method}"))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(())
            .unwrap()
    }

    /// One message with its 5-byte gRPC prefix.
    pub fn frame(message: &[u8]) -> Bytes {
        let mut b = BytesMut::with_capacity(message.len() + 5);
        b.extend_from_slice(&[0]);
        b.extend_from_slice(&(message.len() as u32).to_be_bytes());
        b.extend_from_slice(message);
        b.freeze()
    }

    fn status_of(headers: &http::HeaderMap) -> (Option<i32>, String) {
        let code = headers
            .get("grpc-status")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let message = headers
            .get("grpc-message")
            .and_then(|v| v.to_str().ok())
            .map(tasnif::service::http::percent_decode)
            .unwrap_or_default();
        (code, message)
    }

    /// Sends `body` to `path` on `addr` with `method`, `content_type` and extra headers.
    pub async fn call(
        addr: &str,
        method: http::Method,
        path: &str,
        content_type: &str,
        headers: &[(&str, &str)],
        body: Vec<Bytes>,
    ) -> Answer {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (client, connection) = h2::client::handshake(tcp).await.unwrap();
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let mut client = client.ready().await.unwrap();
        let mut request = http::Request::builder()
            .method(method)
            .uri(format!("http://{addr}{path}"))
            .header("content-type", content_type)
            .header("te", "trailers");
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let (response, mut send) = client
            .send_request(request.body(()).unwrap(), false)
            .unwrap();
        let n = body.len();
        for (i, chunk) in body.into_iter().enumerate() {
            send.send_data(chunk, i + 1 == n).unwrap();
        }
        if n == 0 {
            send.send_data(Bytes::new(), true).unwrap();
        }
        let response = tokio::time::timeout(Duration::from_secs(30), response)
            .await
            .expect("the server answers")
            .unwrap();
        let http = response.status().as_u16();
        let (mut grpc_status, mut grpc_message) = status_of(response.headers());
        let mut body = response.into_body();
        let mut body_bytes = 0;
        while let Some(chunk) = body.data().await {
            let Ok(chunk) = chunk else { break };
            body_bytes += chunk.len();
            let _ = body.flow_control().release_capacity(chunk.len());
        }
        if let Ok(Some(trailers)) = body.trailers().await {
            (grpc_status, grpc_message) = status_of(&trailers);
        }
        Answer {
            http,
            grpc_status,
            grpc_message,
            body_bytes,
        }
    }
}
