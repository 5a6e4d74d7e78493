//! Shared helpers for integration tests: a real server on an ephemeral loopback port.

#![allow(dead_code)]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tasnif::service::proto::topic_classifier_client::TopicClassifierClient;
use tasnif::service::{serve, Limits};
use tasnif::Classifier;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::transport::Channel;

/// The embedded model, loaded once per test binary.
pub fn classifier() -> Arc<Classifier> {
    static C: OnceLock<Arc<Classifier>> = OnceLock::new();
    C.get_or_init(|| Arc::new(Classifier::embedded().expect("embedded model loads")))
        .clone()
}

/// A running server; dropping it does not stop it, call [`TestServer::shutdown`].
pub struct TestServer {
    pub url: String,
    stop: Option<oneshot::Sender<()>>,
    pub handle: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::with_limits(Limits::default()).await
    }

    pub async fn with_limits(limits: Limits) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(serve(
            classifier(),
            limits,
            listener,
            async {
                let _ = stopped.await;
            },
            Duration::from_secs(10),
        ));
        Self {
            url,
            stop: Some(stop),
            handle,
        }
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(self.url.clone())
            .unwrap()
            .connect()
            .await
            .expect("server accepts connections")
    }

    pub async fn client(&self) -> TopicClassifierClient<Channel> {
        TopicClassifierClient::new(self.channel().await).max_decoding_message_size(64 << 20)
    }

    /// Triggers graceful shutdown (the server keeps draining until `handle` resolves).
    pub fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The seed articles, as (file name, text).
pub fn seed_articles() -> Vec<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect()
}

/// True when tests that need external tools must not be skipped (set by `.ci/run`).
pub fn tools_required() -> bool {
    std::env::var_os("TASNIF_REQUIRE_TOOLS").is_some_and(|v| v == "1")
}
