//! Where the classifier comes from: the model embedded in the binary, or a model file
//! (with its word vectors) named by `--model` / `--vectors` — the flags the CLI and the
//! server share.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Result;
use clap::Args;

use crate::embedding::WordVectors;
use crate::Classifier;

/// Selects the model: the embedded one unless a path is given.
#[derive(Debug, Args, Clone)]
pub struct ModelArg {
    /// Model file to load instead of the one embedded in the binary.
    #[arg(long, env = "TASNIF_MODEL")]
    pub model: Option<PathBuf>,
    /// Word vectors for a --model trained with other vectors than the embedded ones.
    #[arg(long, env = "TASNIF_VECTORS", requires = "model")]
    pub vectors: Option<PathBuf>,
}

impl ModelArg {
    pub fn load(&self) -> Result<Classifier> {
        let vectors = self
            .vectors
            .as_deref()
            .map(WordVectors::load)
            .transpose()?
            .map(Arc::new);
        Ok(match &self.model {
            Some(path) => Classifier::load_with(path, vectors)?,
            None => Classifier::embedded()?,
        })
    }
}
