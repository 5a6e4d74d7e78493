//! The reference client behind `tasnif classify --server URL`: calls `Classify` on a
//! running server for each file and prints one JSON line per article, like the
//! in-process path.

use std::path::PathBuf;

use anyhow::{Context, Result};
use serde_json::json;

use super::proto::{self, topic_classifier_client::TopicClassifierClient};

fn to_json(file: &str, r: &proto::ClassifyResponse) -> serde_json::Value {
    let scores = |s: &[proto::LabelScore]| {
        s.iter()
            .map(|x| json!({"label": x.label, "probability": x.probability}))
            .collect::<Vec<_>>()
    };
    let mut v = json!({
        "id": file,
        "primary": r.primary,
        "scores": scores(&r.scores),
        "topics": r.topics,
        "coverage": r.coverage.as_ref().map_or(0.0, |c| c.ratio),
        "out_of_domain": r.coverage.as_ref().is_some_and(|c| c.out_of_domain),
        "characters": r.characters,
        "segment_count": r.segment_count,
        "model_version": r.model_version,
    });
    if !r.segments.is_empty() {
        v["segments"] = r
            .segments
            .iter()
            .map(|s| json!({"start": s.start, "end": s.end, "label": s.label, "probabilities": scores(&s.probabilities)}))
            .collect();
    }
    if !r.explanations.is_empty() {
        v["explanations"] = r
            .explanations
            .iter()
            .map(|e| json!({"label": e.label, "terms": e.terms.iter().map(|t| (t.term.clone(), t.contribution)).collect::<Vec<_>>()}))
            .collect();
    }
    v
}

/// Classifies `files` (`-` = stdin) on the server at `url`.
pub fn classify_files(url: &str, files: &[PathBuf], segments: bool, explain: usize) -> Result<()> {
    anyhow::ensure!(
        !files.is_empty(),
        "give files to classify (`-` for standard input)"
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut client = TopicClassifierClient::connect(url.to_string())
            .await
            .with_context(|| format!("cannot connect to {url}"))?
            .max_decoding_message_size(64 * 1024 * 1024);
        let mut include = Vec::new();
        if segments {
            include.push(proto::Include::Segments as i32);
        }
        if explain > 0 {
            include.push(proto::Include::Explanations as i32);
        }
        for path in files {
            let text = crate::cli::read_input(path)?;
            let name = path.display().to_string();
            let request = proto::ClassifyRequest {
                text,
                id: name.clone(),
                include: include.clone(),
                explain_top_n: explain as u32,
                ..Default::default()
            };
            let response = client
                .classify(request)
                .await
                .map_err(|s| anyhow::anyhow!("{name}: {:?}: {}", s.code(), s.message()))?
                .into_inner();
            println!("{}", to_json(&name, &response));
        }
        Ok(())
    })
}
