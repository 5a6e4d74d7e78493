//! Hot reload under load: the model file is replaced 20 times (alternating two models)
//! while several clients classify; no call fails, and every answer is exactly what the
//! model whose version it reports says. A corrupt file is refused and the old model
//! keeps serving.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::TestServer;
use tasnif::service::{proto, reload::ReloadConfig};
use tasnif::{Classifier, Options};

const TEXTS: &[&str] = &[
    "سيطر الجيش على المدينة بعد اشتباكات عنيفة",
    "التقى وزير الخارجية نظيره لبحث العلاقات الثنائية",
    "انطلقت جولة جديدة من المحادثات بين الوفدين في جنيف",
];

/// Writes `bytes` to `path` atomically (a reader never sees half a file).
fn replace(path: &std::path::Path, bytes: &[u8]) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_reloads_under_load_lose_nothing() {
    let a = tasnif::classifier::EMBEDDED_MODEL.to_vec();
    let mut json: serde_json::Value = serde_json::from_slice(&a).unwrap();
    json["calibration"]["temperature"] = serde_json::json!(0.2);
    let b = serde_json::to_vec(&json).unwrap();
    // What each version answers, computed in process.
    let mut expected: HashMap<String, Vec<Vec<(String, f32)>>> = HashMap::new();
    for bytes in [&a, &b] {
        let c = Classifier::from_bytes(bytes).unwrap();
        let answers = TEXTS
            .iter()
            .map(|t| {
                let article = c.classify(t, &Options::default()).unwrap();
                c.labels()
                    .iter()
                    .cloned()
                    .zip(article.shares.iter().copied())
                    .collect()
            })
            .collect();
        expected.insert(c.version().to_string(), answers);
    }
    assert_eq!(expected.len(), 2, "the two models differ");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.json");
    std::fs::write(&path, &a).unwrap();
    let server = TestServer::with_reload(ReloadConfig {
        model: path.clone(),
        vectors: None,
        sighup: false,
        watch: Some(Duration::from_millis(20)),
    })
    .await;

    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for k in 0..4 {
        let mut client = server.client().await;
        let stop = stop.clone();
        clients.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut i = k;
            while !stop.load(Ordering::Relaxed) {
                let t = i % TEXTS.len();
                let r = client
                    .classify(proto::ClassifyRequest {
                        text: TEXTS[t].into(),
                        ..Default::default()
                    })
                    .await
                    .map(|r| r.into_inner());
                seen.push((t, r));
                i += 1;
            }
            seen
        }));
    }
    let mut info = server.client().await;
    for round in 0..20 {
        let (bytes, version) = if round % 2 == 0 { (&b, 1) } else { (&a, 0) };
        let want = Classifier::from_bytes(bytes).unwrap().version().to_string();
        replace(&path, bytes);
        let mut reported = String::new();
        for _ in 0..250 {
            reported = info
                .get_model_info(proto::GetModelInfoRequest {})
                .await
                .unwrap()
                .into_inner()
                .version;
            if reported == want {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(
            reported, want,
            "round {round} (model {version}) was not swapped in"
        );
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut versions = HashMap::new();
    let mut calls = 0;
    for c in clients {
        for (t, r) in c.await.unwrap() {
            calls += 1;
            let r = r.expect("no call fails during a reload");
            let want = &expected[&r.model_version][t];
            for s in &r.scores {
                let p = want.iter().find(|(l, _)| *l == s.label).unwrap().1;
                assert!(
                    (p - s.probability).abs() < 1e-6,
                    "answer inconsistent with model {}",
                    r.model_version
                );
            }
            *versions.entry(r.model_version).or_insert(0) += 1;
        }
    }
    assert!(calls > 40, "{calls} calls");
    assert_eq!(versions.len(), 2, "both models answered: {versions:?}");

    // A corrupt file is refused; the last good model keeps serving.
    let before = info
        .get_model_info(proto::GetModelInfoRequest {})
        .await
        .unwrap()
        .into_inner()
        .version;
    replace(&path, &a[..a.len() / 2]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = info
        .get_model_info(proto::GetModelInfoRequest {})
        .await
        .unwrap()
        .into_inner()
        .version;
    assert_eq!(before, after);
    let (_, metrics) = common::http_get(server.metrics_url.as_deref().unwrap()).await;
    assert!(
        metrics.contains("tasnif_model_reloads_total 20"),
        "{metrics}"
    );
    assert!(
        metrics.contains("tasnif_model_reload_failures_total 1"),
        "{metrics}"
    );
}
