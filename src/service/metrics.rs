//! Prometheus metrics: what the server counts, and the `/metrics` endpoint
//! (`--metrics-addr`, off by default) that serves them in the text format.
//!
//! Calls are counted by the call guard (`layer`): per method and gRPC status code, with
//! a latency histogram per method (arrival to the last byte of the answer) and a gauge
//! of calls open. The API counts what it classified. Names and units follow Prometheus
//! conventions (`_total`, `_seconds`); method labels are bounded to the server's own
//! methods (anything else is `other`).

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use anyhow::Result;
use http_body_util::Full;
use hyper::body::Bytes;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};
use tokio::net::TcpListener;
use tracing::{debug, info};

use crate::Classifier;

/// Latency buckets, seconds: 100 µs to 10 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// The methods counted by name; any other path is `other` (labels stay bounded).
const METHODS: &[&str] = &[
    "tasnif.v1.TopicClassifier/Classify",
    "tasnif.v1.TopicClassifier/ClassifyBatch",
    "tasnif.v1.TopicClassifier/ClassifyStream",
    "tasnif.v1.TopicClassifier/Vectorize",
    "tasnif.v1.TopicClassifier/GetModelInfo",
    "grpc.health.v1.Health/Check",
    "grpc.health.v1.Health/Watch",
    "grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
];

/// gRPC status code names, as the `code` label.
pub fn code_label(code: i32) -> &'static str {
    const NAMES: [&str; 17] = [
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    ];
    usize::try_from(code)
        .ok()
        .and_then(|c| NAMES.get(c))
        .copied()
        .unwrap_or("UNKNOWN")
}

/// Number of gRPC status codes (0–16); any other code is counted as UNKNOWN.
const CODES: usize = 17;

/// One method's per-call series, resolved once: a finished call costs no label hashing.
/// Counters per status code are created on first use, so codes never seen never appear.
#[derive(Debug)]
pub struct MethodSeries {
    method: &'static str,
    requests: IntCounterVec,
    latency: Histogram,
    by_code: [OnceLock<IntCounter>; CODES],
}

impl MethodSeries {
    /// Counts one finished call with its status code and duration.
    pub fn finished(&self, code: i32, seconds: f64) {
        let slot = usize::try_from(code)
            .ok()
            .filter(|&c| c < CODES)
            .unwrap_or(2);
        self.by_code[slot]
            .get_or_init(|| {
                self.requests
                    .with_label_values(&[self.method, code_label(slot as i32)])
            })
            .inc();
        self.latency.observe(seconds);
    }
}

/// Every metric the server keeps.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    pub requests: IntCounterVec,
    pub latency: HistogramVec,
    /// Per method (in [`METHODS`] order, then `other`), resolved once.
    calls: Arc<Vec<MethodSeries>>,
    pub in_flight: IntGauge,
    pub refused: IntCounterVec,
    pub articles: IntCounter,
    pub segments: IntCounter,
    pub characters: IntCounter,
    pub predictions: IntCounterVec,
    pub out_of_domain_segments: IntCounter,
    pub model_info: IntGaugeVec,
    pub reloads: IntCounter,
    pub reload_failures: IntCounter,
}

impl Metrics {
    pub fn new(classifier: &Classifier) -> Self {
        let registry = Registry::new();
        let counter = |name: &str, help: &str| {
            let c = IntCounter::new(name, help).expect("valid metric");
            registry
                .register(Box::new(c.clone()))
                .expect("unique metric");
            c
        };
        let counter_vec = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry
                .register(Box::new(c.clone()))
                .expect("unique metric");
            c
        };
        let requests = counter_vec(
            "tasnif_requests_total",
            "gRPC calls finished, by method and status code.",
            &["method", "code"],
        );
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "tasnif_request_duration_seconds",
                "Time from a call's arrival to the last byte of its answer, by method.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["method"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(latency.clone()))
            .expect("unique metric");
        let in_flight = IntGauge::new(
            "tasnif_requests_in_flight",
            "gRPC calls open (arrived, answer not yet fully written).",
        )
        .expect("valid metric");
        registry
            .register(Box::new(in_flight.clone()))
            .expect("unique metric");
        let refused = counter_vec(
            "tasnif_refused_total",
            "Calls or items refused by back-pressure, by the limit that refused them.",
            &["limit"],
        );
        let articles = counter("tasnif_articles_total", "Articles classified.");
        let segments = counter("tasnif_segments_total", "Segments classified.");
        let characters = counter("tasnif_characters_total", "Characters classified.");
        let predictions = counter_vec(
            "tasnif_predictions_total",
            "Articles classified, by primary label.",
            &["label"],
        );
        let out_of_domain_segments = counter(
            "tasnif_out_of_domain_segments_total",
            "Segments flagged out of domain (too few known words).",
        );
        let model_info = IntGaugeVec::new(
            Opts::new("tasnif_model_info", "The model being served (value 1)."),
            &["version", "sha256"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(model_info.clone()))
            .expect("unique metric");
        let reloads = counter(
            "tasnif_model_reloads_total",
            "Models swapped in by a reload.",
        );
        let reload_failures = counter(
            "tasnif_model_reload_failures_total",
            "Reloads refused (the old model kept serving).",
        );
        let build = IntGaugeVec::new(
            Opts::new("tasnif_build_info", "The running build (value 1)."),
            &["version"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(build.clone()))
            .expect("unique metric");
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        let calls = METHODS
            .iter()
            .copied()
            .chain(["other"])
            .map(|method| MethodSeries {
                method,
                requests: requests.clone(),
                latency: latency.with_label_values(&[method]),
                by_code: std::array::from_fn(|_| OnceLock::new()),
            })
            .collect();
        let metrics = Self {
            registry,
            requests,
            latency,
            calls: Arc::new(calls),
            in_flight,
            refused,
            articles,
            segments,
            characters,
            predictions,
            out_of_domain_segments,
            model_info,
            reloads,
            reload_failures,
        };
        metrics.set_model(classifier);
        metrics
    }

    /// The per-call series of the method at `path` (`other` for unknown paths).
    pub fn method(&self, path: &str) -> &MethodSeries {
        let path = path.strip_prefix('/').unwrap_or(path);
        let i = METHODS
            .iter()
            .position(|m| *m == path)
            .unwrap_or(METHODS.len());
        &self.calls[i]
    }

    /// Points `tasnif_model_info` at `classifier`.
    pub fn set_model(&self, classifier: &Classifier) {
        self.model_info.reset();
        self.model_info
            .with_label_values(&[classifier.version(), classifier.sha256()])
            .set(1);
    }

    /// Counts one classified article.
    pub fn article(&self, label: &str, segments: usize, characters: usize, out_of_domain: usize) {
        self.articles.inc();
        self.segments.inc_by(segments as u64);
        self.characters.inc_by(characters as u64);
        self.out_of_domain_segments.inc_by(out_of_domain as u64);
        self.predictions.with_label_values(&[label]).inc();
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

/// Serves `GET /metrics` on `listener` (HTTP/1.1) until the task is dropped.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>) -> Result<()> {
    info!(addr = %listener.local_addr()?, "serving Prometheus metrics at /metrics");
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                debug!(error = %e, "metrics accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let metrics = metrics.clone();
                    async move {
                        let response = if req.uri().path() == "/metrics"
                            && req.method() == hyper::Method::GET
                        {
                            hyper::Response::builder()
                                .header("content-type", "text/plain; version=0.0.4; charset=utf-8")
                                .body(Full::new(Bytes::from(metrics.render())))
                        } else {
                            hyper::Response::builder().status(404).body(Full::new(
                                Bytes::from_static(b"metrics are at GET /metrics\n"),
                            ))
                        };
                        response
                    }
                });
            let io = hyper_util::rt::TokioIo::new(stream);
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(std::time::Duration::from_secs(10))
                .serve_connection(io, service);
            if let Err(e) = conn.await {
                debug!(error = %e, "metrics connection failed");
            }
        });
    }
}

/// Binds the metrics address.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener> {
    use anyhow::Context;
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen for metrics on {addr}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_bounded() {
        let m = Metrics::new(&Classifier::embedded().unwrap());
        let classify = m.method("/tasnif.v1.TopicClassifier/Classify");
        assert_eq!(classify.method, "tasnif.v1.TopicClassifier/Classify");
        assert_eq!(m.method("/x.Y/Z").method, "other");
        assert_eq!(code_label(0), "OK");
        assert_eq!(code_label(8), "RESOURCE_EXHAUSTED");
        classify.finished(0, 0.001);
        classify.finished(99, 0.001);
        let text = m.render();
        assert!(
            text.contains(r#"code="OK",method="tasnif.v1.TopicClassifier/Classify"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"code="UNKNOWN""#), "{text}");
        assert!(
            !text.contains(r#"code="INTERNAL""#),
            "codes never seen do not appear"
        );
    }
}
