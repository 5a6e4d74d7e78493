//! Prometheus metrics, scraped over HTTP from a real server and parsed with a real
//! parser: the counters move by exactly what the test sent, per method and code.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{http_get, TestServer};
use tasnif::service::{proto, Limits};

/// Every sample as "name{k=v,...}" → value (labels sorted), histogram buckets included.
async fn scrape(url: &str) -> HashMap<String, f64> {
    let (status, body) = http_get(url).await;
    assert_eq!(status, 200);
    let lines = body.lines().map(|l| Ok(l.to_string()));
    let parsed = prometheus_parse::Scrape::parse(lines).expect("valid Prometheus text format");
    let mut out = HashMap::new();
    for s in parsed.samples {
        let mut labels: Vec<String> = s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        labels.sort();
        let value = match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            prometheus_parse::Value::Histogram(buckets) => {
                // The +Inf bucket counts every observation.
                buckets.last().map_or(0.0, |b| b.count)
            }
            prometheus_parse::Value::Summary(_) => continue,
        };
        out.insert(format!("{}{{{}}}", s.metric, labels.join(",")), value);
    }
    out
}

fn get(m: &HashMap<String, f64>, key: &str) -> f64 {
    m.get(key).copied().unwrap_or(0.0)
}

const CLASSIFY: &str = "tasnif.v1.TopicClassifier/Classify";

fn requests(method: &str, code: &str) -> String {
    format!("tasnif_requests_total{{code={code},method={method}}}")
}

#[tokio::test]
async fn counters_move_by_exactly_what_was_sent() {
    let server = TestServer::with_metrics(Limits::default()).await;
    let url = server.metrics_url.clone().unwrap();
    let before = scrape(&url).await;
    let mut client = server.client().await;
    let text = "سيطر الجيش على المدينة بعد اشتباكات عنيفة";
    for _ in 0..3 {
        client
            .classify(proto::ClassifyRequest {
                text: text.into(),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    for _ in 0..2 {
        client
            .classify(proto::ClassifyRequest::default())
            .await
            .unwrap_err();
    }
    client
        .classify_batch(proto::ClassifyBatchRequest {
            items: vec![
                proto::ClassifyRequest {
                    text: text.into(),
                    ..Default::default()
                };
                4
            ],
        })
        .await
        .unwrap();
    client
        .get_model_info(proto::GetModelInfoRequest {})
        .await
        .unwrap();
    let expected = [
        (requests(CLASSIFY, "OK"), 3.0),
        (requests(CLASSIFY, "INVALID_ARGUMENT"), 2.0),
        (
            requests("tasnif.v1.TopicClassifier/ClassifyBatch", "OK"),
            1.0,
        ),
        (
            requests("tasnif.v1.TopicClassifier/GetModelInfo", "OK"),
            1.0,
        ),
        ("tasnif_articles_total{}".to_string(), 7.0),
        ("tasnif_predictions_total{label=military}".to_string(), 7.0),
        (
            format!("tasnif_request_duration_seconds{{method={CLASSIFY}}}"),
            5.0,
        ),
    ];
    // Calls are counted when their answer's last byte has gone: poll briefly.
    let mut after = scrape(&url).await;
    for _ in 0..50 {
        if expected
            .iter()
            .all(|(k, v)| get(&after, k) - get(&before, k) >= *v)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        after = scrape(&url).await;
    }
    for (key, delta) in &expected {
        assert_eq!(
            get(&after, key) - get(&before, key),
            *delta,
            "{key}: {} -> {}",
            get(&before, key),
            get(&after, key)
        );
    }
    // The sentence has 6 segments' worth of characters once per article.
    let chars =
        get(&after, "tasnif_characters_total{}") - get(&before, "tasnif_characters_total{}");
    assert_eq!(chars, 7.0 * text.chars().count() as f64);
    assert_eq!(get(&after, "tasnif_requests_in_flight{}"), 0.0);
    let info = tasnif::Classifier::embedded().unwrap();
    let model = format!(
        "tasnif_model_info{{sha256={},version={}}}",
        info.sha256(),
        info.version()
    );
    assert_eq!(
        get(&after, &model),
        1.0,
        "{:?}",
        after
            .keys()
            .filter(|k| k.contains("model_info"))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        get(
            &after,
            &format!("tasnif_build_info{{version={}}}", env!("CARGO_PKG_VERSION"))
        ),
        1.0
    );
    let (status, _) = http_get(&url.replace("/metrics", "/nope")).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn refusals_are_counted_by_limit() {
    let server = TestServer::with_metrics(Limits {
        call_memory: Some(1 << 20),
        max_request_bytes: 1 << 20,
        ..Limits::default()
    })
    .await;
    let url = server.metrics_url.clone().unwrap();
    let before = scrape(&url).await;
    let mut client = server.client().await;
    let status = client
        .classify(proto::ClassifyRequest {
            text: "ب\n".repeat(20_000),
            include: vec![proto::Include::Segments as i32],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    let key = "tasnif_refused_total{limit=call_memory}";
    let mut after = scrape(&url).await;
    for _ in 0..50 {
        if get(&after, &requests(CLASSIFY, "RESOURCE_EXHAUSTED"))
            > get(&before, &requests(CLASSIFY, "RESOURCE_EXHAUSTED"))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        after = scrape(&url).await;
    }
    assert_eq!(get(&after, key) - get(&before, key), 1.0);
    assert_eq!(
        get(&after, &requests(CLASSIFY, "RESOURCE_EXHAUSTED"))
            - get(&before, &requests(CLASSIFY, "RESOURCE_EXHAUSTED")),
        1.0
    );
}

/// Calls made as JSON over HTTP are counted like gRPC calls (they are transcoded into
/// them): by method and code.
#[tokio::test]
async fn json_calls_are_counted_as_their_grpc_methods() {
    let server = TestServer::with_metrics(Limits::default()).await;
    let url = server.metrics_url.clone().unwrap();
    let addr = server.url.trim_start_matches("http://").to_string();
    let before = scrape(&url).await;
    let ok = r#"{"text": "سيطر الجيش على المدينة بعد اشتباكات عنيفة"}"#;
    for body in [ok, ok, r#"{"text": "hello"}"#] {
        common::http1(&addr, "POST", "/v1/classify", &[], body.as_bytes()).await;
    }
    let after = scrape(&url).await;
    let moved = |key: &str| get(&after, key) - get(&before, key);
    assert_eq!(moved(&requests(CLASSIFY, "OK")), 2.0);
    assert_eq!(moved(&requests(CLASSIFY, "INVALID_ARGUMENT")), 1.0);
}
