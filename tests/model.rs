//! The shipped model is exactly what `tasnif train` makes from the committed seeds, the
//! committed word vectors and the corpus (where the corpus is present: CI has it), and
//! the seed labels cover every segment of every seed article.

mod common;

use std::path::Path;

use tasnif::cli::{train_model, TrainInputs};
use tasnif::data::read_segments;
use tasnif::model::TrainConfig;
use tasnif::text::segment;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn shipped_model_is_reproduced_byte_for_byte_from_the_seeds() {
    // `tasnif train` runs from the repository root and records the relative path.
    std::env::set_current_dir(root()).unwrap();
    let inputs = TrainInputs::default();
    if !inputs.corpus.is_file() {
        if std::env::var_os("TASNIF_REQUIRE_CORPUS").is_some() {
            panic!(
                "TASNIF_REQUIRE_CORPUS is set but {} is missing",
                inputs.corpus.display()
            );
        }
        common::skipped(&format!(
            "shipped_model_is_reproduced_byte_for_byte_from_the_seeds: the corpus {} is not \
             here (the model's `other` examples come from it); CI runs this test",
            inputs.corpus.display()
        ));
        return;
    }
    let file = train_model(&TrainConfig::default(), &inputs, false).unwrap();
    let shipped = std::fs::read(root().join("models/tasnif.json")).unwrap();
    let trained = file.to_bytes();
    assert!(
        trained == shipped,
        "models/tasnif.json is not what `tasnif train` produces from seeds/labels.tsv; run `cargo run --release -- train --out models/tasnif.json`"
    );
    // And it is the model embedded in the binary.
    assert_eq!(tasnif::classifier::EMBEDDED_MODEL, &shipped[..]);
    // Its recorded data hash is the committed data's.
    let data = std::fs::read(root().join("seeds/labels.tsv")).unwrap();
    assert_eq!(
        file.training.data_sha256,
        tasnif::model::artifact::sha256_hex(&data)
    );
    // And the vectors it records are the committed, embedded ones.
    let vectors = std::fs::read(root().join("models/vectors.bin")).unwrap();
    assert_eq!(tasnif::embedding::EMBEDDED_VECTORS, &vectors[..]);
    assert_eq!(
        file.embedding.as_ref().unwrap().vectors_sha256,
        tasnif::model::artifact::sha256_hex(&vectors)
    );
}

#[test]
fn the_shipped_model_loads_without_the_corpus_and_records_its_provenance() {
    // Serving needs nothing but the binary: model and vectors are embedded.
    let c = tasnif::Classifier::embedded().unwrap();
    let meta = c.metadata();
    let other = meta.training.other_from_corpus.as_ref().unwrap();
    assert_eq!(other.ids.len(), meta.training.segments as usize - 107);
    assert!(other.corpus.ends_with("ant.jsonl.zst"));
    assert_eq!(other.corpus_sha256.len(), 64);
}

#[test]
fn labels_cover_every_segment_of_every_seed_in_order() {
    let rows = read_segments(&root().join("seeds/labels.tsv")).unwrap();
    let allowed = ["diplomacy", "military", "negotiations", "other"];
    assert!(rows.iter().all(|r| allowed.contains(&r.label.as_str())));
    let mut expected = Vec::new();
    for (name, text) in common::seed_articles() {
        let doc = name.trim_end_matches(".txt").to_string();
        for span in segment(&text) {
            expected.push((doc.clone(), span.text(&text).to_string()));
        }
    }
    let got: Vec<(String, String)> = rows
        .iter()
        .map(|r| (r.doc.clone(), r.text.clone()))
        .collect();
    assert_eq!(got, expected);
}

#[test]
fn a_corrupted_model_file_is_a_clear_error() {
    let shipped = std::fs::read(root().join("models/tasnif.json")).unwrap();
    let truncated = tasnif::Classifier::from_bytes(&shipped[..shipped.len() / 3]).unwrap_err();
    assert!(
        truncated.to_string().contains("truncated or corrupted"),
        "{truncated}"
    );
    let text = String::from_utf8(shipped).unwrap();
    let wrong = text.replacen("\"format_version\":2", "\"format_version\":7", 1);
    let err = tasnif::Classifier::from_bytes(wrong.as_bytes()).unwrap_err();
    assert!(err.to_string().contains("format version 7"), "{err}");
}
