//! Bearer-token authentication for `tasnif.v1.TopicClassifier` (`--auth-token-file`).
//!
//! The file holds one token per line (blank lines and `#` comments ignored). Calls to
//! the classifier must carry `authorization: Bearer <token>`; health and reflection stay
//! open (Kubernetes probes carry no token). Tokens are kept only as SHA-256 digests and
//! compared in constant time; they never appear in logs. The file is re-read on SIGHUP
//! and, with `--watch`, when it changes, so tokens rotate without a restart; a file that
//! cannot be read keeps the old tokens.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use arc_swap::ArcSwap;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tonic::Status;
use tracing::{info, warn};

/// Paths that need a token.
const PROTECTED_PREFIX: &str = "/tasnif.v1.TopicClassifier/";

/// The accepted tokens, as digests.
#[derive(Debug, Default)]
pub struct Tokens(Vec<[u8; 32]>);

impl Tokens {
    /// Reads a token file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the token file {}", path.display()))?;
        let digests: Vec<[u8; 32]> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|t| Sha256::digest(t.as_bytes()).into())
            .collect();
        if digests.is_empty() {
            bail!("the token file {} has no token", path.display());
        }
        Ok(Self(digests))
    }

    /// True when `token` is one of ours. Every stored digest is compared, in constant time.
    fn accepts(&self, token: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        self.0
            .iter()
            .fold(subtle::Choice::from(0), |found, d| found | d.ct_eq(&digest))
            .into()
    }
}

/// The token check of the call guard, with the token file to re-read.
#[derive(Debug, Clone)]
pub struct Auth {
    path: PathBuf,
    tokens: Arc<ArcSwap<Tokens>>,
}

impl Auth {
    pub fn load(path: PathBuf) -> Result<Self> {
        let tokens = Tokens::load(&path)?;
        Ok(Self {
            path,
            tokens: Arc::new(ArcSwap::from_pointee(tokens)),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Re-reads the token file; on failure the old tokens stay.
    pub fn reload(&self) {
        match Tokens::load(&self.path) {
            Ok(tokens) => {
                let n = tokens.0.len();
                self.tokens.store(Arc::new(tokens));
                info!(tokens = n, "auth tokens reloaded");
            }
            Err(e) => {
                warn!(error = %format!("{e:#}"), "auth tokens not reloaded; the old ones stay")
            }
        }
    }

    /// `Err(UNAUTHENTICATED)` when `path` needs a token and `authorization` lacks a good one.
    pub fn check(
        &self,
        path: &str,
        authorization: Option<&http::HeaderValue>,
    ) -> Result<(), Status> {
        if !path.starts_with(PROTECTED_PREFIX) {
            return Ok(());
        }
        let Some(value) = authorization.and_then(|v| v.to_str().ok()) else {
            return Err(Status::unauthenticated(
                "this server requires a token: send the metadata `authorization: Bearer <token>`",
            ));
        };
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim);
        match token {
            Some(t) if self.tokens.load().accepts(t) => Ok(()),
            Some(_) => Err(Status::unauthenticated(
                "the bearer token is not accepted by this server (not in --auth-token-file)",
            )),
            None => Err(Status::unauthenticated(
                "the authorization metadata must be `Bearer <token>`",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_checked_and_rotated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens");
        std::fs::write(&path, "# ops\nalpha\n\n beta \n").unwrap();
        let auth = Auth::load(path.clone()).unwrap();
        let h = |s: &'static str| http::HeaderValue::from_static(s);
        let call = "/tasnif.v1.TopicClassifier/Classify";
        assert!(auth.check(call, Some(&h("Bearer alpha"))).is_ok());
        assert!(auth.check(call, Some(&h("Bearer beta"))).is_ok());
        let wrong = auth.check(call, Some(&h("Bearer gamma"))).unwrap_err();
        assert_eq!(wrong.code(), tonic::Code::Unauthenticated);
        assert!(!wrong.message().contains("gamma"), "tokens never echo");
        let missing = auth.check(call, None).unwrap_err();
        assert!(missing.message().contains("Bearer"));
        assert!(auth.check(call, Some(&h("Basic alpha"))).is_err());
        // Health and reflection stay open.
        assert!(auth.check("/grpc.health.v1.Health/Check", None).is_ok());
        // Rotation: the file changes, a reload reads it; an unreadable file keeps the old.
        std::fs::write(&path, "gamma\n").unwrap();
        auth.reload();
        assert!(auth.check(call, Some(&h("Bearer gamma"))).is_ok());
        assert!(auth.check(call, Some(&h("Bearer alpha"))).is_err());
        std::fs::remove_file(&path).unwrap();
        auth.reload();
        assert!(auth.check(call, Some(&h("Bearer gamma"))).is_ok());
        assert!(Tokens::load(&dir.path().join("none")).is_err());
    }
}
