//! Typed errors of the library. The gRPC layer maps them to status codes in one place
//! (`service::status`); the CLI prints them.

use thiserror::Error;

/// Why a text could not be classified or vectorized. Every message says what to change.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum InputError {
    #[error("text is empty or only whitespace; send the article's text in the `text` field")]
    Empty,
    #[error("text contains no Arabic letters; this model classifies Arabic news text")]
    NoArabic,
    #[error("text has {chars} characters, over the limit of {limit}; shorten it or set `truncate` to classify the first {limit} characters")]
    TooLong { chars: usize, limit: usize },
    #[error("topic_threshold must be in (0, 1], got {0}")]
    BadThreshold(f32),
    #[error("explain_top_n must be at most {limit}, got {got}")]
    TooManyTerms { got: u32, limit: u32 },
    #[error("unknown include option {0}; valid values are INCLUDE_SEGMENTS (1) and INCLUDE_EXPLANATIONS (2)")]
    UnknownInclude(i32),
    #[error("batch has {items} items, over the limit of {limit}; split it into smaller batches")]
    BatchTooLarge { items: usize, limit: usize },
}

/// Why a model file could not be loaded, or a model not trained.
#[derive(Debug, Error)]
pub enum ModelError {
    #[error("cannot read model file {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("refusing to read {path}: {reason}")]
    Refused { path: String, reason: String },
    #[error("model file is not a tasnif model (truncated or corrupted?): {0}")]
    Parse(String),
    #[error("model file has format version {found}, this build reads version {expected}; retrain with `tasnif train` or use a matching build")]
    Version { found: u32, expected: u32 },
    #[error("model file is inconsistent: {0}")]
    Invalid(String),
    #[error("training failed: {0}")]
    Training(String),
}

/// Why training data could not be read.
#[derive(Debug, Error)]
pub enum DataError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Format { path: String, message: String },
}
