//! The one place where errors become gRPC statuses.
//!
//! Library errors map to codes here ([`input_status`]), and so do the service's own
//! refusals (budget, scheduler, deadline). [`decode_status`] fixes the status tonic itself
//! produces that the contract defines differently: a message over the size limit (tonic:
//! OUT_OF_RANGE; ours: RESOURCE_EXHAUSTED, as the gRPC spec says); the call guard
//! (`layer`) applies it.

use tonic::{Code, Status};

use super::budget::Exceeded;
use super::scheduler::{Busy, Stop};
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

/// The status for a call whose deadline passed.
pub fn deadline_status() -> Status {
    Status::deadline_exceeded(
        "the call's deadline (grpc-timeout) expired before classification finished",
    )
}

/// The status for a call stopped by its [`Ticket`](super::scheduler::Ticket).
pub fn stop_status(stop: Stop) -> Status {
    match stop {
        Stop::DeadlineExceeded => deadline_status(),
        Stop::Cancelled => Status::cancelled("the call was cancelled by its client"),
    }
}

/// The status for work the scheduler would not queue.
pub fn busy_status(busy: &Busy) -> Status {
    match busy {
        Busy::Closed => Status::unavailable(busy.to_string()),
        _ => Status::resource_exhausted(busy.to_string()),
    }
}

/// The status for a memory charge that did not fit.
pub fn exceeded_status(e: &Exceeded) -> Status {
    Status::resource_exhausted(e.to_string())
}

/// The HTTP status a gRPC code becomes on the JSON side: the mapping of Google's API
/// design guide (`google.rpc.Code` comments), as grpc-gateway uses it.
pub fn http_status(code: Code) -> http::StatusCode {
    use http::StatusCode as H;
    match code {
        Code::Ok => H::OK,
        Code::Cancelled => H::from_u16(499).expect("499 is a valid status"),
        Code::Unknown | Code::Internal | Code::DataLoss => H::INTERNAL_SERVER_ERROR,
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => H::BAD_REQUEST,
        Code::DeadlineExceeded => H::GATEWAY_TIMEOUT,
        Code::NotFound => H::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted => H::CONFLICT,
        Code::PermissionDenied => H::FORBIDDEN,
        Code::Unauthenticated => H::UNAUTHORIZED,
        Code::ResourceExhausted => H::TOO_MANY_REQUESTS,
        Code::Unimplemented => H::NOT_IMPLEMENTED,
        Code::Unavailable => H::SERVICE_UNAVAILABLE,
    }
}

/// A gRPC code's canonical name (`INVALID_ARGUMENT`), as JSON errors carry it.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
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
