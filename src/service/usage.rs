//! The `x-tasnif-*` metadata: what a `TopicClassifier` call classified and how long it
//! took, on every answer of every RPC, errors included.
//!
//! * `x-tasnif-characters` — characters (code points) classified or vectorized, after
//!   truncation: the `characters` of every article answered (a batch or a stream: the sum
//!   over its articles that succeeded; an item that failed adds nothing);
//! * `x-tasnif-segments` — the segments those texts were split into (`Vectorize`: the
//!   segments its text splits into, as `Classify` would split it);
//! * `x-tasnif-micros` — microseconds from the call's arrival to the moment the metadata
//!   was written.
//!
//! The handlers ([`api`](super::api)) add to the call's [`Usage`] as articles finish; the
//! call guard ([`layer`](super::layer)) writes it, in one place for every RPC:
//!
//! * into the response headers, with what is known when they go out — for a unary call,
//!   its totals (the handler has finished); for `ClassifyStream`, what is known when the
//!   stream opens (usually 0 characters and 0 segments) and the time to open it;
//! * for `ClassifyStream`, again into the trailers, with the totals of the whole stream
//!   and its whole duration (also when the stream ends with an error);
//! * for an error answered at once (a trailers-only response: invalid input, refusals,
//!   deadlines, authentication), into its headers, which are its trailers: a client reads
//!   them from the error status's metadata. They say what was done before the error —
//!   for a single article, 0 characters and 0 segments.
//!
//! Health and reflection calls carry none.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// The characters header.
pub const CHARACTERS: &str = "x-tasnif-characters";
/// The segments header.
pub const SEGMENTS: &str = "x-tasnif-segments";
/// The elapsed-time header.
pub const MICROS: &str = "x-tasnif-micros";

/// The paths whose calls carry the metadata.
const SERVICE_PREFIX: &str = "/tasnif.v1.TopicClassifier/";

/// Whether calls to `path` carry the metadata.
pub fn reported(path: &str) -> bool {
    path.starts_with(SERVICE_PREFIX)
}

/// What one call has classified so far. Shared by the call's handler and workers (which
/// add to it) and its guard (which reads it).
#[derive(Debug, Default)]
pub struct Usage {
    characters: AtomicU64,
    segments: AtomicU64,
}

impl Usage {
    /// Counts one text answered: `characters` classified, split into `segments`.
    pub fn add(&self, characters: usize, segments: usize) {
        self.characters
            .fetch_add(characters as u64, Ordering::Relaxed);
        self.segments.fetch_add(segments as u64, Ordering::Relaxed);
    }

    /// Characters and segments counted so far.
    pub fn totals(&self) -> (u64, u64) {
        (
            self.characters.load(Ordering::Relaxed),
            self.segments.load(Ordering::Relaxed),
        )
    }

    /// Writes the three headers into `headers` (replacing earlier values), the time
    /// counted from `arrival`.
    pub fn write(&self, arrival: Instant, headers: &mut http::HeaderMap) {
        let (characters, segments) = self.totals();
        let micros = u64::try_from(arrival.elapsed().as_micros()).unwrap_or(u64::MAX);
        headers.insert(CHARACTERS, http::HeaderValue::from(characters));
        headers.insert(SEGMENTS, http::HeaderValue::from(segments));
        headers.insert(MICROS, http::HeaderValue::from(micros));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_up_and_are_written() {
        let usage = Usage::default();
        usage.add(22, 1);
        usage.add(100, 3);
        assert_eq!(usage.totals(), (122, 4));
        let mut headers = http::HeaderMap::new();
        headers.insert(CHARACTERS, http::HeaderValue::from_static("stale"));
        usage.write(Instant::now(), &mut headers);
        assert_eq!(headers[CHARACTERS], "122");
        assert_eq!(headers[SEGMENTS], "4");
        assert!(headers[MICROS].to_str().unwrap().parse::<u64>().is_ok());
        assert_eq!(headers.get_all(CHARACTERS).iter().count(), 1);
    }

    #[test]
    fn only_the_classifier_reports() {
        assert!(reported("/tasnif.v1.TopicClassifier/Classify"));
        assert!(!reported("/grpc.health.v1.Health/Check"));
        assert!(!reported(
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
        ));
    }
}
