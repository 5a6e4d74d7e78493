//! The one place where errors become gRPC statuses.
//!
//! Library errors map to codes here ([`input_status`]); [`StatusRewriteLayer`] fixes the
//! two statuses tonic itself produces that the contract defines differently: a message
//! over the size limit (tonic: OUT_OF_RANGE; ours: RESOURCE_EXHAUSTED, as the gRPC spec
//! says).

use std::task::{Context, Poll};

use futures::future::BoxFuture;
use tonic::{Code, Status};
use tower::{Layer, Service};

use crate::error::InputError;

/// The status for a rejected input.
pub fn input_status(e: &InputError) -> Status {
    Status::invalid_argument(e.to_string())
}

/// The status for a decoding error reported by tonic inside a stream.
pub fn decode_status(status: Status, max_request_bytes: usize) -> Status {
    if status.code() == Code::OutOfRange && status.message().contains("message length too large") {
        too_large(status.message(), max_request_bytes)
    } else {
        status
    }
}

fn too_large(detail: &str, max_request_bytes: usize) -> Status {
    Status::resource_exhausted(format!(
        "request message is over the server's limit of {max_request_bytes} bytes (max_request_bytes); \
         send smaller requests or split the batch ({detail})"
    ))
}

/// When a request reached the server, before its body was read: deadlines count from here.
#[derive(Debug, Clone, Copy)]
pub struct Arrival(pub std::time::Instant);

/// Tower layer recording each request's [`Arrival`] and rewriting tonic's OUT_OF_RANGE for oversized messages to RESOURCE_EXHAUSTED.
#[derive(Debug, Clone, Copy)]
pub struct StatusRewriteLayer {
    pub max_request_bytes: usize,
}

impl<S> Layer<S> for StatusRewriteLayer {
    type Service = StatusRewrite<S>;
    fn layer(&self, inner: S) -> Self::Service {
        StatusRewrite {
            inner,
            max_request_bytes: self.max_request_bytes,
        }
    }
}

#[derive(Debug, Clone)]
pub struct StatusRewrite<S> {
    inner: S,
    max_request_bytes: usize,
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for StatusRewrite<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>> + Send,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<ReqBody>) -> Self::Future {
        req.extensions_mut()
            .insert(Arrival(std::time::Instant::now()));
        let limit = self.max_request_bytes;
        let fut = self.inner.call(req);
        Box::pin(async move {
            let mut response = fut.await?;
            // Trailers-only error responses carry the status in the headers.
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
            Ok(response)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_message_becomes_resource_exhausted() {
        let s = Status::out_of_range(
            "Error, decoded message length too large: found 5000000 bytes, the limit is: 4194304 bytes",
        );
        let r = decode_status(s, 4_194_304);
        assert_eq!(r.code(), Code::ResourceExhausted);
        assert!(r.message().contains("4194304"));
        // Other statuses pass through.
        let other = decode_status(Status::out_of_range("index"), 1);
        assert_eq!(other.code(), Code::OutOfRange);
    }

    #[test]
    fn input_errors_are_invalid_argument() {
        let s = input_status(&InputError::BatchTooLarge { items: 9, limit: 8 });
        assert_eq!(s.code(), Code::InvalidArgument);
        assert!(s.message().contains('8'));
    }
}
