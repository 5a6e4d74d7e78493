//! The call guard: one tower layer in front of every service (API, health, reflection)
//! that does for each call what the handlers should not each do again.
//!
//! * refuses what is not a gRPC call: a method other than POST (405), a content type other
//!   than `application/grpc[+proto]` (415), as the gRPC-over-HTTP/2 spec says;
//! * reads the caller's deadline (`grpc-timeout`) and answers DEADLINE_EXCEEDED when it
//!   passes — before tonic's own timer, which would say CANCELLED;
//! * gives the call its [`CallContext`]: connection, [`Ticket`] (cancelled when the client
//!   goes away) and [`Ledger`] of memory charges;
//! * meters the request body: a message still arriving is charged (its declared length)
//!   to the connection's and the server's memory budget, a message that stops arriving for
//!   `request_body_timeout` ends the call, and a unary call with a second message is
//!   refused;
//! * hands the answer to HTTP/2 in small chunks, so flow control holds back a client that
//!   does not read, and holds the call's charges until the last chunk is taken;
//! * rewrites tonic's OUT_OF_RANGE for an oversized message to RESOURCE_EXHAUSTED;
//! * writes the classifier's `x-tasnif-*` metadata into the headers of every answer, and
//!   into the trailers of a stream ([`usage`](super::usage) says what and when).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use futures::future::BoxFuture;
use http_body::Frame;
use tokio::time::Sleep;
use tonic::body::Body;
use tonic::Status;
use tower::{Layer, Service};

use super::budget::{Charge, ConnectionBudget, Ledger, MemoryBudget};
use super::connection::{ConnectionInfo, OpenCall};
use super::metrics::Metrics;
use super::scheduler::{CancelOnDrop, Ticket};
use super::status::{deadline_status, decode_status};
use super::usage::{self, Usage};

/// Largest piece of an answer handed to HTTP/2 at a time.
const CHUNK: usize = 16 * 1024;

/// Methods whose request is a stream of messages; every other method takes exactly one.
const CLIENT_STREAMING: &[&str] = &[
    "/tasnif.v1.TopicClassifier/ClassifyStream",
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
];

/// What a handler knows about its call (in the request's extensions).
#[derive(Debug, Clone)]
pub struct CallContext {
    /// `None` when the server runs on a transport without [`ConnectionInfo`].
    pub connection: Option<ConnectionInfo>,
    pub ticket: Arc<Ticket>,
    pub ledger: Ledger,
    pub arrival: Instant,
    /// What the call has classified, for its `x-tasnif-*` metadata.
    pub usage: Arc<Usage>,
}

impl CallContext {
    /// The connection's id (0 without one) — the unit of fair sharing.
    pub fn connection_id(&self) -> u64 {
        self.connection.as_ref().map_or(0, |c| c.id)
    }
}

/// The guard's settings.
#[derive(Debug, Clone)]
pub struct CallGuardLayer {
    pub max_request_bytes: usize,
    pub budget: MemoryBudget,
    pub request_body_timeout: Duration,
    pub metrics: Arc<Metrics>,
    /// Turns true when the server starts shutting down: health `Watch` streams, which
    /// never end on their own, then end (UNAVAILABLE) instead of holding the shutdown
    /// for the whole grace period.
    pub shutting_down: tokio::sync::watch::Receiver<bool>,
    /// Bearer tokens required on the classifier's methods (`--auth-token-file`).
    pub auth: Option<super::auth::Auth>,
}

/// Calls that never end on their own.
const ENDLESS: &[&str] = &["/grpc.health.v1.Health/Watch"];

impl<S> Layer<S> for CallGuardLayer {
    type Service = CallGuard<S>;
    fn layer(&self, inner: S) -> Self::Service {
        CallGuard {
            inner,
            settings: Arc::new(self.clone()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct CallGuard<S> {
    inner: S,
    settings: Arc<CallGuardLayer>,
}

fn plain_response(status: http::StatusCode, message: &'static str) -> http::Response<GuardedBody> {
    let mut response =
        http::Response::new(GuardedBody::plain(Bytes::from_static(message.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// True for `application/grpc`, `application/grpc+proto` (with optional parameters).
fn is_grpc_proto(content_type: Option<&http::HeaderValue>) -> bool {
    let Some(value) = content_type.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let media = value.split(';').next().unwrap_or("").trim();
    media.eq_ignore_ascii_case("application/grpc")
        || media.eq_ignore_ascii_case("application/grpc+proto")
}

impl<S> Service<http::Request<Body>> for CallGuard<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>> + Send,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = http::Response<GuardedBody>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        // The caller's request id, or a new one: logged with the call, echoed back.
        let id = req
            .headers()
            .get(REQUEST_ID)
            .filter(|v| !v.is_empty() && v.len() <= 128)
            .cloned()
            .unwrap_or_else(new_request_id);
        let fut = self.guard(req, id.clone());
        Box::pin(async move {
            let mut response = fut.await?;
            response.headers_mut().insert(REQUEST_ID, id);
            Ok(response)
        })
    }
}

/// The request id header.
const REQUEST_ID: &str = "x-request-id";

/// A new request id: 16 hex digits, unique within the process, unpredictable across runs.
fn new_request_id() -> http::HeaderValue {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let seed = *SEED.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            ^ u64::from(std::process::id()) << 32
    });
    // SplitMix64 of seed + counter: distinct for distinct counters.
    let mut z = seed.wrapping_add(
        COUNTER
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15),
    );
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    http::HeaderValue::from_str(&format!("{z:016x}")).expect("hex is a valid header")
}

impl<S> CallGuard<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>> + Send,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    fn guard(
        &mut self,
        req: http::Request<Body>,
        request_id: http::HeaderValue,
    ) -> BoxFuture<'static, Result<http::Response<GuardedBody>, S::Error>> {
        if req.method() != http::Method::POST {
            return Box::pin(async {
                Ok(plain_response(
                    http::StatusCode::METHOD_NOT_ALLOWED,
                    "gRPC calls use POST\n",
                ))
            });
        }
        if !is_grpc_proto(req.headers().get(http::header::CONTENT_TYPE)) {
            return Box::pin(async {
                Ok(plain_response(
                    http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "this server speaks gRPC: content-type must be application/grpc or application/grpc+proto\n",
                ))
            });
        }
        let arrival = Instant::now();
        let deadline = call_deadline(req.headers(), arrival);
        let connection = req
            .extensions()
            .get::<ConnectionInfo>()
            .or_else(|| {
                req.extensions()
                    .get::<tonic::transport::server::TlsConnectInfo<ConnectionInfo>>()
                    .map(|tls| tls.get_ref())
            })
            .cloned();
        let ticket = Arc::new(Ticket::new(deadline));
        let context = CallContext {
            connection: connection.clone(),
            ticket: ticket.clone(),
            ledger: Ledger::default(),
            arrival,
            usage: Arc::new(Usage::default()),
        };
        let ledger = context.ledger.clone();
        let unary = !CLIENT_STREAMING.contains(&req.uri().path());
        // The call's `x-tasnif-*` metadata: in the headers of every answer, and in the
        // trailers of a stream's.
        let report = usage::reported(req.uri().path()).then(|| Report {
            usage: context.usage.clone(),
            arrival,
            in_trailers: !unary,
        });
        let recorder = Recorder::start(
            self.settings.metrics.clone(),
            req.uri(),
            arrival,
            request_id,
        );
        if let Some(auth) = &self.settings.auth {
            if let Err(status) = auth.check(
                req.uri().path(),
                req.headers().get(http::header::AUTHORIZATION),
            ) {
                let mut recorder = recorder;
                recorder.code = Some(status.code() as i32);
                let mut response = status.into_http::<Body>();
                if let Some(r) = &report {
                    r.write(response.headers_mut());
                }
                return Box::pin(async move {
                    Ok(response.map(|b| {
                        GuardedBody::new(b, Ledger::default(), None, None, Some(recorder))
                    }))
                });
            }
        }
        let (mut parts, body) = req.into_parts();
        parts.extensions.insert(context);
        let budget = &self.settings.budget;
        let metered = MeteredBody::new(
            body,
            budget.clone(),
            connection
                .as_ref()
                .map_or_else(|| budget.connection(), |c| c.budget.clone()),
            self.settings.max_request_bytes,
            unary,
            self.settings.request_body_timeout,
        )
        .counting_refusals(self.settings.metrics.clone());
        let req = http::Request::from_parts(parts, Body::new(metered));
        let open = connection.as_ref().map(ConnectionInfo::open_call);
        let cancel = CancelOnDrop(ticket);
        let limit = self.settings.max_request_bytes;
        let endless = ENDLESS.contains(&req.uri().path()).then(|| {
            let mut rx = self.settings.shutting_down.clone();
            Box::pin(async move {
                let _ = rx.wait_for(|stopping| *stopping).await;
            }) as Pin<Box<dyn Future<Output = ()> + Send>>
        });
        let fut = self.inner.call(req);
        Box::pin(async move {
            let response = match deadline {
                Some(deadline) => match tokio::time::timeout_at(deadline.into(), fut).await {
                    Ok(r) => r?,
                    Err(_) => {
                        // Dropping the call's future cancels its work (`cancel`).
                        let status = deadline_status();
                        let mut recorder = recorder;
                        recorder.code = Some(status.code() as i32);
                        let mut response = status.into_http::<Body>();
                        if let Some(r) = &report {
                            r.write(response.headers_mut());
                        }
                        return Ok(response.map(|b| {
                            GuardedBody::new(b, ledger, open, Some(cancel), Some(recorder))
                        }));
                    }
                },
                None => fut.await?,
            };
            let mut response = response;
            rewrite_oversized(&mut response, limit);
            let mut recorder = recorder;
            recorder.code = grpc_status(response.headers());
            if let Some(r) = &report {
                r.write(response.headers_mut());
            }
            Ok(response.map(|b| {
                let mut body = GuardedBody::new(b, ledger, open, Some(cancel), Some(recorder));
                body.until_shutdown = endless;
                body.report = report.filter(|r| r.in_trailers);
                body
            }))
        })
    }
}

/// Where a call's `x-tasnif-*` metadata comes from, and whether its trailers get it too.
struct Report {
    usage: Arc<Usage>,
    arrival: Instant,
    in_trailers: bool,
}

impl Report {
    fn write(&self, headers: &mut http::HeaderMap) {
        self.usage.write(self.arrival, headers);
    }
}

/// The `grpc-status` of headers or trailers.
fn grpc_status(headers: &http::HeaderMap) -> Option<i32> {
    headers.get("grpc-status")?.to_str().ok()?.parse().ok()
}

/// Counts a call in the metrics when its answer is done (or abandoned: CANCELLED).
struct Recorder {
    metrics: Arc<Metrics>,
    path: http::uri::PathAndQuery,
    arrival: Instant,
    code: Option<i32>,
    request_id: http::HeaderValue,
}

impl Recorder {
    fn start(
        metrics: Arc<Metrics>,
        uri: &http::Uri,
        arrival: Instant,
        request_id: http::HeaderValue,
    ) -> Self {
        metrics.in_flight.inc();
        Self {
            metrics,
            path: uri
                .path_and_query()
                .cloned()
                .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/")),
            arrival,
            code: None,
            request_id,
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        let m = &self.metrics;
        m.in_flight.dec();
        let code = self.code.unwrap_or(tonic::Code::Cancelled as i32);
        let seconds = self.arrival.elapsed().as_secs_f64();
        m.method(self.path.path()).finished(code, seconds);
        tracing::debug!(
            request_id = ?self.request_id,
            path = self.path.path(),
            code,
            micros = (seconds * 1e6) as u64,
            "call"
        );
    }
}

/// Trailers-only error responses carry the status in the headers: tonic's OUT_OF_RANGE
/// for an oversized message becomes RESOURCE_EXHAUSTED.
fn rewrite_oversized<B>(response: &mut http::Response<B>, limit: usize) {
    if let Some(status) = Status::from_header_map(response.headers()) {
        let rewritten = decode_status(status.clone(), limit);
        if rewritten.code() != status.code() {
            let headers = response.headers_mut();
            headers.remove("grpc-status");
            headers.remove("grpc-message");
            headers.remove("grpc-status-details-bin");
            let _ = rewritten.add_header(headers);
        }
    }
}

/// The caller's deadline from `grpc-timeout`, counted from the request's arrival and
/// slightly early (10 %, at most 20 ms), so that the caller receives our
/// DEADLINE_EXCEEDED rather than racing its own timer.
fn call_deadline(headers: &http::HeaderMap, arrival: Instant) -> Option<Instant> {
    let value = headers.get("grpc-timeout")?.to_str().ok()?;
    let timeout = parse_grpc_timeout(value)?;
    let margin = (timeout / 10).min(Duration::from_millis(20));
    arrival.checked_add(timeout - margin)
}

/// Parses a `grpc-timeout` value: up to 8 digits and a unit (H M S m u n).
pub fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// The request body, metered: see the module doc.
struct MeteredBody {
    inner: Body,
    budget: MemoryBudget,
    connection: ConnectionBudget,
    /// The charge for the message now arriving.
    held: Option<Charge>,
    /// Longest message tonic will buffer (longer ones it refuses unread).
    max_message_bytes: usize,
    header: [u8; 5],
    header_len: usize,
    /// Payload bytes of the current message still to come.
    remaining: usize,
    /// Messages whose prefix has been read.
    messages: usize,
    unary: bool,
    timeout: Duration,
    stall: Option<Pin<Box<Sleep>>>,
    done: bool,
    metrics: Option<Arc<Metrics>>,
}

impl MeteredBody {
    fn new(
        inner: Body,
        budget: MemoryBudget,
        connection: ConnectionBudget,
        max_message_bytes: usize,
        unary: bool,
        timeout: Duration,
    ) -> Self {
        Self {
            inner,
            budget,
            connection,
            held: None,
            max_message_bytes,
            header: [0; 5],
            header_len: 0,
            remaining: 0,
            messages: 0,
            unary,
            timeout,
            stall: None,
            done: false,
            metrics: None,
        }
    }

    /// Counts refusals in `tasnif_refused_total`.
    fn counting_refusals(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Walks the gRPC framing of `data`: a message is charged its declared length when
    /// its prefix arrives — tonic reserves a buffer that long at once, whatever has
    /// arrived — and released once it is whole (tonic decodes it, the handler charges it).
    fn account(&mut self, mut data: &[u8]) -> Result<(), Status> {
        while !data.is_empty() {
            if self.header_len < 5 {
                let n = (5 - self.header_len).min(data.len());
                self.header[self.header_len..self.header_len + n].copy_from_slice(&data[..n]);
                self.header_len += n;
                data = &data[n..];
                if self.header_len == 5 {
                    self.messages += 1;
                    if self.unary && self.messages > 1 {
                        return Err(Status::invalid_argument(
                            "this method takes exactly one request message, and a second one arrived",
                        ));
                    }
                    let [_, a, b, c, d] = self.header;
                    self.remaining = u32::from_be_bytes([a, b, c, d]) as usize;
                    let declared = 5 + self.remaining.min(self.max_message_bytes);
                    let charge = self
                        .budget
                        .charge(&self.connection, declared)
                        .map_err(|e| {
                            if let Some(m) = &self.metrics {
                                m.refused.with_label_values(&[e.limit()]).inc();
                            }
                            Status::resource_exhausted(format!(
                                "request refused while arriving: {e}"
                            ))
                        })?;
                    self.held = Some(charge);
                }
            } else {
                let n = self.remaining.min(data.len());
                self.remaining -= n;
                data = &data[n..];
            }
            if self.header_len == 5 && self.remaining == 0 {
                self.header_len = 0;
                self.held = None;
            }
        }
        Ok(())
    }

    /// Whether the client owes us bytes: inside a message, or a unary request not yet sent.
    fn waiting_on_client(&self) -> bool {
        self.header_len > 0 || (self.unary && self.messages == 0)
    }
}

impl http_body::Body for MeteredBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                this.stall = None;
                if let Some(data) = frame.data_ref() {
                    if let Err(status) = this.account(data.chunk()) {
                        this.done = true;
                        this.held = None;
                        return Poll::Ready(Some(Err(status)));
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(None) => {
                this.held = None;
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => {
                this.held = None;
                Poll::Ready(Some(Err(e)))
            }
            Poll::Pending => {
                if !this.waiting_on_client() {
                    this.stall = None;
                    return Poll::Pending;
                }
                let timeout = this.timeout;
                let stall = this
                    .stall
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                ready!(stall.as_mut().poll(cx));
                this.done = true;
                this.held = None;
                Poll::Ready(Some(Err(Status::deadline_exceeded(format!(
                    "the request stopped arriving: nothing for {timeout:?} in the middle of a message \
                     (request_body_timeout, --request-body-timeout)"
                )))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.inner.is_end_stream()
    }
}

/// The response body: the answer in chunks of at most [`CHUNK`] bytes, holding the call's
/// charges, its open-call mark and its cancellation guard until dropped.
pub struct GuardedBody {
    inner: Body,
    rest: Bytes,
    _ledger: Ledger,
    _open: Option<OpenCall>,
    _cancel: Option<CancelOnDrop>,
    recorder: Option<Recorder>,
    /// For endless calls: resolves when the server starts shutting down.
    until_shutdown: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    /// For streams: the metadata the trailers get.
    report: Option<Report>,
    ended: bool,
}

impl GuardedBody {
    fn new(
        inner: Body,
        ledger: Ledger,
        open: Option<OpenCall>,
        cancel: Option<CancelOnDrop>,
        recorder: Option<Recorder>,
    ) -> Self {
        Self {
            inner,
            rest: Bytes::new(),
            _ledger: ledger,
            _open: open,
            _cancel: cancel,
            recorder,
            until_shutdown: None,
            report: None,
            ended: false,
        }
    }

    fn plain(message: Bytes) -> Self {
        Self {
            inner: Body::empty(),
            rest: message,
            _ledger: Ledger::default(),
            _open: None,
            _cancel: None,
            recorder: None,
            until_shutdown: None,
            report: None,
            ended: false,
        }
    }
}

impl http_body::Body for GuardedBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let this = &mut *self;
        if this.ended {
            return Poll::Ready(None);
        }
        if !this.rest.is_empty() {
            let n = this.rest.len().min(CHUNK);
            return Poll::Ready(Some(Ok(Frame::data(this.rest.split_to(n)))));
        }
        // What the call has to say goes out first (a watcher hears NOT_SERVING), then an
        // endless call ends at shutdown.
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if polled.is_pending() {
            if let Some(stop) = this.until_shutdown.as_mut() {
                if stop.as_mut().poll(cx).is_ready() {
                    this.ended = true;
                    let status =
                        Status::unavailable("the server is shutting down; watch another replica");
                    if let Some(recorder) = this.recorder.as_mut() {
                        recorder.code = Some(status.code() as i32);
                    }
                    let mut trailers = http::HeaderMap::new();
                    let _ = status.add_header(&mut trailers);
                    return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
                }
            }
        }
        match ready!(polled) {
            Some(Ok(frame)) => match frame.into_data() {
                Ok(mut data) => {
                    if data.len() > CHUNK {
                        this.rest = data.split_off(CHUNK);
                    }
                    Poll::Ready(Some(Ok(Frame::data(data))))
                }
                Err(frame) => match frame.into_trailers() {
                    Ok(mut trailers) => {
                        if let Some(recorder) = this.recorder.as_mut() {
                            recorder.code = grpc_status(&trailers).or(recorder.code);
                        }
                        if let Some(report) = &this.report {
                            report.write(&mut trailers);
                        }
                        // Trailers are the last frame: the inner body is not polled
                        // again, whatever it would still yield.
                        this.ended = true;
                        Poll::Ready(Some(Ok(Frame::trailers(trailers))))
                    }
                    Err(frame) => Poll::Ready(Some(Ok(frame))),
                },
            },
            other => Poll::Ready(other),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ended || (self.rest.is_empty() && self.inner.is_end_stream())
    }

    fn size_hint(&self) -> http_body::SizeHint {
        let inner = self.inner.size_hint();
        let rest = self.rest.len() as u64;
        let mut hint = http_body::SizeHint::new();
        if let Some(upper) = inner.upper() {
            hint.set_upper(upper + rest);
        }
        hint.set_lower(inner.lower() + rest);
        hint
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn nothing_is_read_past_the_trailers() {
        // An inner body that (wrongly) goes on after its trailers.
        let frames: Vec<Result<Frame<Bytes>, Status>> = vec![
            Ok(Frame::data(Bytes::from_static(b"answer"))),
            Ok(Frame::trailers(http::HeaderMap::new())),
            Ok(Frame::data(Bytes::from_static(b"after the end"))),
        ];
        let inner = Body::new(http_body_util::StreamBody::new(futures::stream::iter(
            frames,
        )));
        let mut body = GuardedBody::new(inner, Ledger::default(), None, None, None);
        let first = body.frame().await.unwrap().unwrap();
        assert_eq!(first.into_data().unwrap(), Bytes::from_static(b"answer"));
        assert!(body.frame().await.unwrap().unwrap().is_trailers());
        assert!(body.frame().await.is_none(), "a frame after the trailers");
        assert!(http_body::Body::is_end_stream(&body));
    }

    #[test]
    fn grpc_timeout_values() {
        assert_eq!(parse_grpc_timeout("100m"), Some(Duration::from_millis(100)));
        assert_eq!(parse_grpc_timeout("5S"), Some(Duration::from_secs(5)));
        assert_eq!(parse_grpc_timeout("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_grpc_timeout("10u"), Some(Duration::from_micros(10)));
        assert_eq!(parse_grpc_timeout("123456789S"), None);
        assert_eq!(parse_grpc_timeout("m"), None);
        assert_eq!(parse_grpc_timeout("5x"), None);
        assert_eq!(parse_grpc_timeout(""), None);
    }

    #[test]
    fn content_types() {
        let ok = |s: &'static str| is_grpc_proto(Some(&http::HeaderValue::from_static(s)));
        assert!(ok("application/grpc"));
        assert!(ok("application/grpc+proto"));
        assert!(ok("application/grpc; charset=utf-8"));
        assert!(!ok("application/grpc+json"));
        assert!(!ok("application/json"));
        assert!(!is_grpc_proto(None));
    }

    fn metered(unary: bool, budget: &MemoryBudget) -> MeteredBody {
        MeteredBody::new(
            Body::empty(),
            budget.clone(),
            budget.connection(),
            4 << 20,
            unary,
            Duration::from_secs(1),
        )
    }

    fn frame(len: u32) -> Vec<u8> {
        let mut v = vec![0u8];
        v.extend_from_slice(&len.to_be_bytes());
        v.extend(std::iter::repeat_n(7u8, len as usize));
        v
    }

    #[test]
    fn arriving_messages_are_charged_until_complete() {
        let budget = MemoryBudget::new(1 << 20, 512 << 10, 1 << 20);
        let mut body = metered(false, &budget);
        let message = frame(300_000);
        body.account(&message[..3]).unwrap();
        assert_eq!(
            budget.in_use(),
            0,
            "nothing is charged before the length is known"
        );
        body.account(&message[3..200_000]).unwrap();
        assert!(budget.in_use() >= 300_000, "the declared length is charged");
        body.account(&message[200_000..]).unwrap();
        assert_eq!(
            budget.in_use(),
            0,
            "a whole message is no longer charged here"
        );
        // Split prefixes are parsed across frames.
        let two = [frame(10), frame(0)].concat();
        for b in two.chunks(3) {
            body.account(b).unwrap();
        }
        assert_eq!(body.messages, 3);
        assert_eq!(body.header_len, 0);
        // Over the connection's share: refused.
        let big = frame(600_000);
        let err = body.account(&big[..10]).unwrap_err();
        assert_eq!(err.code(), tonic::Code::ResourceExhausted);
    }

    #[test]
    fn a_second_message_on_a_unary_call_is_refused() {
        let budget = MemoryBudget::new(1 << 20, 1 << 20, 1 << 20);
        let mut body = metered(true, &budget);
        body.account(&frame(4)).unwrap();
        let err = body.account(&frame(4)).unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
    }
}
