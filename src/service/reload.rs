//! Hot reload of the model: on SIGHUP, or when `--watch` sees the `--model` file change,
//! the new file is loaded off the serving path and swapped in atomically. Calls in flight
//! finish on the model they started with (each call takes one snapshot); new calls use
//! the new one. A file that does not load (truncated, corrupt, wrong version, vectors that
//! do not match) is refused, logged and counted, and the old model keeps serving.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use arc_swap::ArcSwap;
use tracing::{info, warn};

use super::metrics::Metrics;
use crate::embedding::WordVectors;
use crate::Classifier;

/// Where the served model comes from, and what triggers a reload.
#[derive(Debug, Clone)]
pub struct ReloadConfig {
    pub model: PathBuf,
    pub vectors: Option<PathBuf>,
    /// Reload on SIGHUP.
    pub sighup: bool,
    /// Poll the model file this often and reload when it changes.
    pub watch: Option<Duration>,
}

/// The model being served, swappable.
pub type ModelCell = Arc<ArcSwap<Classifier>>;

/// Loads the configured files (blocking).
fn load(config: &ReloadConfig) -> Result<Classifier> {
    let vectors = config
        .vectors
        .as_deref()
        .map(WordVectors::load)
        .transpose()?
        .map(Arc::new);
    Classifier::load_with(&config.model, vectors)
        .with_context(|| format!("cannot reload {}", config.model.display()))
}

/// Loads the model again and swaps it in; on failure the old model keeps serving.
pub async fn reload(config: &ReloadConfig, cell: &ModelCell, metrics: &Metrics) -> Result<()> {
    let c = config.clone();
    let loaded = tokio::task::spawn_blocking(move || load(&c))
        .await
        .context("the reload task failed")?;
    match loaded {
        Ok(classifier) => {
            let old = cell.load().version().to_string();
            metrics.set_model(&classifier);
            info!(from = %old, to = classifier.version(), path = %config.model.display(), "model reloaded");
            cell.store(Arc::new(classifier));
            metrics.reloads.inc();
            Ok(())
        }
        Err(e) => {
            metrics.reload_failures.inc();
            warn!(error = %format!("{e:#}"), "reload refused; the old model keeps serving");
            Err(e)
        }
    }
}

/// What `--watch` compares: size and modification time.
fn stamp(path: &std::path::Path) -> Option<(u64, SystemTime)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.len(), m.modified().ok()?))
}

/// Reloads on SIGHUP and on file changes until the task is dropped.
pub async fn run(config: ReloadConfig, cell: ModelCell, metrics: Arc<Metrics>) {
    let path = config.model.clone();
    let (sighup, every) = (config.sighup, config.watch);
    on_change(path, sighup, every, move || {
        let (config, cell, metrics) = (config.clone(), cell.clone(), metrics.clone());
        async move {
            let _ = reload(&config, &cell, &metrics).await;
        }
    })
    .await
}

/// Runs `action` on SIGHUP (when `sighup`) and, every `every`, when `path` has changed
/// (size or modification time), until the task is dropped.
pub async fn on_change<F, Fut>(path: PathBuf, sighup: bool, every: Option<Duration>, action: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    #[cfg(unix)]
    let mut hup = if sighup {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(s) => Some(s),
            Err(e) => {
                warn!(error = %e, "cannot listen for SIGHUP; reload by --watch only");
                None
            }
        }
    } else {
        None
    };
    #[cfg(not(unix))]
    let _ = sighup;
    let mut last = stamp(&path);
    let mut tick = every.map(tokio::time::interval);
    loop {
        #[cfg(unix)]
        let hangup = async {
            match hup.as_mut() {
                Some(s) => s.recv().await,
                None => std::future::pending().await,
            }
        };
        #[cfg(not(unix))]
        let hangup = std::future::pending::<Option<()>>();
        let polled = async {
            match tick.as_mut() {
                Some(t) => t.tick().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = hangup => {
                info!(path = %path.display(), "SIGHUP: reloading");
                last = stamp(&path);
                action().await;
            }
            _ = polled => {
                let now = stamp(&path);
                if now.is_some() && now != last {
                    last = now;
                    action().await;
                }
            }
        }
    }
}
