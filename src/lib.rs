//! tasnif — topic classification of Arabic news text.
//!
//! Data flows one way through the modules:
//!
//! ```text
//! text (normalize → segment → tokenize → analyze)  →  vectorizer (TF-IDF)
//!     →  model (linear classifier trained with linfa)  →  scoring (the two, fused)
//!     →  classifier (articles)  →  protocol (messages, their JSON)
//!     →  service (gRPC server) / client (of a server) / batch (JSON lines)
//!     →  cli (on top: nothing below it imports it)
//! ```
//!
//! * [`text`] — the Arabic pipeline, small named steps;
//! * [`vectorizer`] — sparse TF-IDF over a fitted vocabulary;
//! * [`model`] — training (linfa), the linear model, the model file;
//! * [`scoring`] — vectorizer and linear model fused for the classification hot path;
//! * [`classifier`] — article classification, aggregation, explanations;
//! * [`batch`] — streaming JSON-lines classification on all cores (`classify --jsonl`);
//! * [`protocol`] — the generated gRPC types, their canonical JSON, library results →
//!   messages (one shape for every output);
//! * [`service`] — the tonic gRPC server; [`client`] — a client of it (`classify --server`);
//! * [`source`] — the embedded model or a model file; [`input`] — files or stdin;
//! * [`cli`] — the command line, on top of everything;
//! * [`data`], [`eval`] — labelled files and metrics; [`error`] — typed errors.

pub mod batch;
pub mod classifier;
pub mod cli;
pub mod client;
pub mod corpus;
pub mod data;
pub mod embedding;
pub mod error;
pub mod eval;
pub mod input;
pub mod model;
pub mod protocol;
pub mod scoring;
pub mod service;
pub mod source;
pub mod text;
pub mod vectorizer;

pub use classifier::{Article, Classifier, Options};
pub use error::{InputError, ModelError};

/// The label for segments that are about none of the topics.
pub const OTHER: &str = "other";
