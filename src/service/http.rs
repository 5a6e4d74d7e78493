//! JSON over HTTP, and the page, on the gRPC port: for callers without a gRPC stack
//! (`curl`, a browser, a shell script).
//!
//! | route | gRPC method |
//! |---|---|
//! | `POST /v1/classify` | `Classify` |
//! | `POST /v1/classify:batch` | `ClassifyBatch` |
//! | `POST /v1/vectorize` | `Vectorize` |
//! | `GET /v1/model` | `GetModelInfo` |
//! | `GET /healthz`, `GET /readyz` | `grpc.health.v1.Health/Check` of `""` / `tasnif.v1.TopicClassifier` |
//! | `GET /v1/openapi.json` | the OpenAPI document ([`super::openapi`]) |
//! | `GET /` | the page (`page/index.html`, embedded) |
//!
//! Bodies are the proto3 canonical JSON of the same messages (pbjson, `crate::protocol`).
//! A JSON call is *transcoded*: its body becomes the protobuf request of a gRPC call that
//! goes through the rest of the stack like any other — the call guard (limits, memory
//! budget, auth, deadline, metrics, request id) and the service — and the gRPC answer
//! becomes JSON. So each limit, the bearer check, TLS and the metrics are decided in one
//! place for both sides. A failed call answers the HTTP status Google's API design guide
//! gives its gRPC code ([`super::status::http_status`]) with a body
//! `{"code": 3, "status": "INVALID_ARGUMENT", "message": "…"}`.
//!
//! Anything else — gRPC, and gRPC-Web (translated by `tonic-web` further in) — passes
//! through untouched. The port accepts HTTP/1.1 as well as HTTP/2.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use futures::future::BoxFuture;
use http_body_util::{BodyExt, Full, Limited};
use prost::Message;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tonic::body::Body;
use tonic::Code;
use tower::{Layer, Service, ServiceExt};

use super::budget::MemoryBudget;
use super::connection::ConnectionInfo;
use super::status::{code_name, exceeded_status, http_status};
use crate::protocol as proto;

/// The page, embedded in the binary.
const PAGE: &str = include_str!("page/index.html");

/// Puts the JSON routes and the page in front of a gRPC service.
#[derive(Clone)]
pub struct HttpLayer {
    /// Largest JSON body read (the gRPC side's `max_request_bytes`; its protobuf
    /// encoding, checked again by the call guard, is never larger).
    pub max_request_bytes: usize,
    /// A JSON body is charged to the memory budget (its declared length, or
    /// `max_request_bytes` when it declares none) while it is read and transcoded, and
    /// must arrive within `request_body_timeout` — as a gRPC request body is.
    pub budget: MemoryBudget,
    pub request_body_timeout: std::time::Duration,
    pub openapi: Arc<String>,
}

impl<S> Layer<S> for HttpLayer {
    type Service = Http<S>;

    fn layer(&self, inner: S) -> Http<S> {
        Http {
            inner,
            settings: self.clone(),
        }
    }
}

/// The service [`HttpLayer`] makes.
#[derive(Clone)]
pub struct Http<S> {
    inner: S,
    settings: HttpLayer,
}

/// What a JSON request is, once its route is known.
enum Route {
    /// A unary gRPC method with a JSON body (or none: its request's defaults).
    Call {
        method: &'static str,
        transcode: Transcode,
    },
    Health(&'static str),
    OpenApi,
    Page,
}

type Transcode = fn(Bytes) -> Result<Bytes, String>;
type Answer = fn(Bytes) -> Result<String, String>;

/// The JSON body as the protobuf message `M` (an empty body is `M`'s defaults).
fn to_protobuf<M: Message + DeserializeOwned + Default>(json: Bytes) -> Result<Bytes, String> {
    let message: M = if json.iter().all(u8::is_ascii_whitespace) {
        M::default()
    } else {
        serde_json::from_slice(&json)
            .map_err(|e| format!("the body is not valid JSON for this call: {e}"))?
    };
    Ok(message.encode_to_vec().into())
}

/// The protobuf answer `M` as canonical JSON.
fn to_json<M: Message + Serialize + Default>(protobuf: Bytes) -> Result<String, String> {
    let message =
        M::decode(protobuf).map_err(|e| format!("the server's answer did not decode: {e}"))?;
    Ok(proto::to_json(&message))
}

/// The route of a request, or why the path exists but not for this method. `None`:
/// not ours (gRPC, gRPC-Web, or unknown).
fn route(method: &http::Method, path: &str) -> Option<Result<(Route, Answer), &'static str>> {
    use http::Method as M;
    let post = |r: Route, a: Answer| {
        Some(if *method == M::POST {
            Ok((r, a))
        } else {
            Err("POST")
        })
    };
    let get = |r: Route, a: Answer| {
        Some(if *method == M::GET || *method == M::HEAD {
            Ok((r, a))
        } else {
            Err("GET")
        })
    };
    let none: Answer = |_| Ok(String::new());
    match path {
        "/v1/classify" => post(
            Route::Call {
                method: "/tasnif.v1.TopicClassifier/Classify",
                transcode: to_protobuf::<proto::ClassifyRequest>,
            },
            to_json::<proto::ClassifyResponse>,
        ),
        "/v1/classify:batch" => post(
            Route::Call {
                method: "/tasnif.v1.TopicClassifier/ClassifyBatch",
                transcode: to_protobuf::<proto::ClassifyBatchRequest>,
            },
            to_json::<proto::ClassifyBatchResponse>,
        ),
        "/v1/vectorize" => post(
            Route::Call {
                method: "/tasnif.v1.TopicClassifier/Vectorize",
                transcode: to_protobuf::<proto::VectorizeRequest>,
            },
            to_json::<proto::VectorizeResponse>,
        ),
        "/v1/model" => get(
            Route::Call {
                method: "/tasnif.v1.TopicClassifier/GetModelInfo",
                transcode: |_| Ok(Bytes::new()),
            },
            to_json::<proto::ModelInfo>,
        ),
        "/healthz" => get(Route::Health(""), none),
        "/readyz" => get(Route::Health("tasnif.v1.TopicClassifier"), none),
        "/v1/openapi.json" => get(Route::OpenApi, none),
        "/" | "/index.html" => get(Route::Page, none),
        _ => None,
    }
}

fn respond(
    status: http::StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> http::Response<Body> {
    let mut response = http::Response::new(Body::new(Full::new(body.into())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    response
}

/// A JSON error answer for gRPC code `code`.
fn error(code: Code, message: &str) -> http::Response<Body> {
    let body = serde_json::json!({
        "code": code as i32,
        "status": code_name(code),
        "message": message,
    });
    respond(
        http_status(code),
        "application/json",
        body.to_string() + "\n",
    )
}

/// The answer to a body over `max_request_bytes`.
fn too_big(max_request_bytes: usize) -> http::Response<Body> {
    error(
        Code::ResourceExhausted,
        &format!(
            "the body is over the server's max_request_bytes ({max_request_bytes} bytes); send shorter texts or split the batch"
        ),
    )
}

/// `message` framed as one gRPC message (uncompressed).
fn frame(message: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(5 + message.len());
    b.put_u8(0);
    b.put_u32(message.len() as u32);
    b.put_slice(message);
    b.freeze()
}

/// The gRPC status of an answer: trailers, or the headers of a trailers-only answer.
fn grpc_status(headers: &http::HeaderMap, trailers: Option<&http::HeaderMap>) -> (Code, String) {
    let source = trailers
        .filter(|t| t.contains_key("grpc-status"))
        .unwrap_or(headers);
    let code = source
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
        .map_or(Code::Unknown, Code::from_i32);
    let message = source
        .get("grpc-message")
        .and_then(|v| v.to_str().ok())
        .map(percent_decode)
        .unwrap_or_default();
    (code, message)
}

/// `grpc-message` is percent-encoded (the gRPC spec).
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Response headers a JSON answer carries over from the gRPC one.
const CARRIED: [&str; 4] = [
    "x-request-id",
    "x-tasnif-characters",
    "x-tasnif-segments",
    "x-tasnif-micros",
];

impl<S, B> Service<http::Request<Body>> for Http<S>
where
    S: Service<http::Request<Body>, Response = http::Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<http::Response<Body>, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        let Some(found) = route(req.method(), req.uri().path()) else {
            let fut = self.inner.call(req);
            return Box::pin(async move { Ok(fut.await?.map(Body::new)) });
        };
        let (route, answer) = match found {
            Ok(found) => found,
            Err(allowed) => {
                let mut r = error(Code::Unimplemented, &format!("this route takes {allowed}"));
                *r.status_mut() = http::StatusCode::METHOD_NOT_ALLOWED;
                r.headers_mut()
                    .insert(http::header::ALLOW, http::HeaderValue::from_static(allowed));
                return Box::pin(async move { Ok(r) });
            }
        };
        // The inner service was made ready for this call; a clone serves it.
        let inner = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, inner);
        let settings = self.settings.clone();
        Box::pin(async move {
            Ok(match route {
                Route::Page => respond(http::StatusCode::OK, "text/html; charset=utf-8", PAGE),
                Route::OpenApi => respond(
                    http::StatusCode::OK,
                    "application/json",
                    settings.openapi.as_bytes().to_vec(),
                ),
                Route::Health(service) => {
                    let request = tonic_health::pb::HealthCheckRequest {
                        service: service.to_string(),
                    };
                    let (parts, _) = req.into_parts();
                    health(inner, parts, request.encode_to_vec().into()).await
                }
                Route::Call { method, transcode } => {
                    let (parts, body) = req.into_parts();
                    let declared = parts
                        .headers
                        .get(http::header::CONTENT_LENGTH)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<usize>().ok())
                        .unwrap_or(settings.max_request_bytes);
                    if declared > settings.max_request_bytes {
                        return Ok(too_big(settings.max_request_bytes));
                    }
                    let connection = parts
                        .extensions
                        .get::<ConnectionInfo>()
                        .or_else(|| {
                            parts
                                .extensions
                                .get::<tonic::transport::server::TlsConnectInfo<ConnectionInfo>>()
                                .map(|tls| tls.get_ref())
                        })
                        .map_or_else(|| settings.budget.connection(), |c| c.budget.clone());
                    // Held until the call is answered.
                    let _charge = match settings.budget.charge(&connection, declared) {
                        Ok(charge) => charge,
                        Err(e) => {
                            let status = exceeded_status(&e);
                            return Ok(error(status.code(), status.message()));
                        }
                    };
                    let read = Limited::new(body, settings.max_request_bytes).collect();
                    let read = match tokio::time::timeout(settings.request_body_timeout, read).await
                    {
                        Ok(read) => read,
                        Err(_) => {
                            return Ok(error(
                                Code::DeadlineExceeded,
                                &format!(
                                "the request body stopped arriving for {:?} (request_body_timeout)",
                                settings.request_body_timeout
                            ),
                            ))
                        }
                    };
                    let json = match read {
                        Ok(b) => b.to_bytes(),
                        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
                            return Ok(too_big(settings.max_request_bytes))
                        }
                        Err(e) => {
                            return Ok(error(
                                Code::Cancelled,
                                &format!("the body could not be read: {e}"),
                            ))
                        }
                    };
                    let protobuf = match transcode(json) {
                        Ok(p) => p,
                        Err(e) => return Ok(error(Code::InvalidArgument, &e)),
                    };
                    call(inner, parts, method, protobuf, answer).await
                }
            })
        })
    }
}

/// Sends `message` to gRPC method `method` through `inner`, as the request `parts` (its
/// extensions — the connection — and headers — authorization, request id, deadline).
async fn grpc<S, B>(
    inner: S,
    mut parts: http::request::Parts,
    method: &str,
    message: Bytes,
) -> Result<(http::HeaderMap, Bytes), (Code, String)>
where
    S: Service<http::Request<Body>, Response = http::Response<B>, Error = Infallible>,
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    parts.method = http::Method::POST;
    parts.uri = http::Uri::try_from(method).expect("method paths are valid URIs");
    parts.version = http::Version::HTTP_2;
    let h = &mut parts.headers;
    h.remove(http::header::CONTENT_LENGTH);
    h.remove(http::header::ACCEPT_ENCODING);
    h.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/grpc"),
    );
    h.insert(http::header::TE, http::HeaderValue::from_static("trailers"));
    let request = http::Request::from_parts(parts, Body::new(Full::new(frame(&message))));
    let response = match inner.oneshot(request).await {
        Ok(r) => r,
        Err(e) => match e {},
    };
    let (head, body) = response.into_parts();
    if head.status != http::StatusCode::OK {
        let status = head.status;
        return Err((
            Code::Internal,
            format!("the gRPC side answered HTTP {status}"),
        ));
    }
    let collected = body.collect().await.map_err(|e| {
        (
            Code::Unavailable,
            format!("the answer was cut: {}", e.into()),
        )
    })?;
    let trailers = collected.trailers().cloned();
    let (code, message) = grpc_status(&head.headers, trailers.as_ref());
    if code != Code::Ok {
        return Err((code, message));
    }
    let mut data = collected.to_bytes();
    if data.len() < 5 || data[0] != 0 {
        return Err((
            Code::Internal,
            "the answer is not one uncompressed gRPC message".into(),
        ));
    }
    data.advance(5);
    Ok((head.headers, data))
}

async fn call<S, B>(
    inner: S,
    parts: http::request::Parts,
    method: &str,
    message: Bytes,
    answer: Answer,
) -> http::Response<Body>
where
    S: Service<http::Request<Body>, Response = http::Response<B>, Error = Infallible>,
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    match grpc(inner, parts, method, message).await {
        Err((code, message)) => error(code, &message),
        Ok((headers, data)) => match answer(data) {
            Err(e) => error(Code::Internal, &e),
            Ok(json) => {
                let mut r = respond(http::StatusCode::OK, "application/json", json + "\n");
                for name in CARRIED {
                    if let Some(v) = headers.get(name) {
                        r.headers_mut().insert(name, v.clone());
                    }
                }
                r
            }
        },
    }
}

/// `/healthz` and `/readyz`: 200 `{"status":"SERVING"}`, or 503 with the status.
async fn health<S, B>(inner: S, parts: http::request::Parts, message: Bytes) -> http::Response<Body>
where
    S: Service<http::Request<Body>, Response = http::Response<B>, Error = Infallible>,
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    use tonic_health::pb::health_check_response::ServingStatus;
    match grpc(inner, parts, "/grpc.health.v1.Health/Check", message).await {
        Err((code, message)) => error(code, &message),
        Ok((_, data)) => {
            let status = tonic_health::pb::HealthCheckResponse::decode(data)
                .ok()
                .and_then(|r| ServingStatus::try_from(r.status).ok())
                .unwrap_or(ServingStatus::Unknown);
            let code = if status == ServingStatus::Serving {
                http::StatusCode::OK
            } else {
                http::StatusCode::SERVICE_UNAVAILABLE
            };
            respond(
                code,
                "application/json",
                format!("{{\"status\":\"{}\"}}\n", status.as_str_name()),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_messages_are_percent_decoded() {
        assert_eq!(percent_decode("a%20b%3A%E2%80%A6"), "a b:…");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }

    #[test]
    fn routes_know_their_methods() {
        assert!(matches!(
            route(&http::Method::GET, "/v1/classify"),
            Some(Err("POST"))
        ));
        assert!(route(&http::Method::POST, "/tasnif.v1.TopicClassifier/Classify").is_none());
        assert!(matches!(
            route(&http::Method::GET, "/v1/model"),
            Some(Ok(_))
        ));
    }
}
