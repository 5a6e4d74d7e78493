//! The model: training with linfa ([`train`]), the linear classifier used at inference
//! ([`linear`]) and the model file ([`artifact`]). [`build`] is the whole of
//! `tasnif train`: labelled segments in, model file out.

pub mod artifact;
pub mod calibration;
pub mod linear;
pub mod train;

use std::collections::BTreeMap;

pub use artifact::ModelFile;
pub use calibration::Calibration;
pub use linear::LinearModel;
pub use train::{Algorithm, Example, TrainConfig};

use crate::data::LabelledText;
use crate::error::ModelError;
use artifact::{sha256_hex, CvSummary, LabelCount, TrainingInfo, FORMAT, FORMAT_VERSION};

/// The sorted label set of `segments` and the segments as training examples.
pub fn examples(segments: &[LabelledText]) -> Result<(Vec<String>, Vec<Example>), ModelError> {
    let mut labels: Vec<String> = segments.iter().map(|s| s.label.clone()).collect();
    labels.sort();
    labels.dedup();
    if labels.len() < 2 {
        return Err(ModelError::Training(format!(
            "need at least two labels in the training data, found {labels:?}"
        )));
    }
    let examples = segments
        .iter()
        .map(|s| Example {
            doc: s.doc.clone(),
            text: s.text.clone(),
            label: labels
                .binary_search(&s.label)
                .expect("label collected above"),
        })
        .collect();
    Ok((labels, examples))
}

/// Trains a model on labelled segments and returns its file.
///
/// `data_name` and `data_bytes` identify the training file in the model's metadata.
/// `on_fold` is called after each cross-validation fold (for a progress bar).
pub fn build(
    config: &TrainConfig,
    segments: &[LabelledText],
    data_name: &str,
    data_bytes: &[u8],
    on_fold: &dyn Fn(),
) -> Result<ModelFile, ModelError> {
    let (labels, examples) = examples(segments)?;
    let cv = train::cross_validate_with(config, &labels, &examples, on_fold)?;
    let calibration = Calibration::fit(&cv, &labels);
    let calibrated = calibration.score(&cv, &labels);
    let (vectorizer, model) = train::fit(config, &labels, &examples)?;

    let mut per_label: BTreeMap<&str, u32> = BTreeMap::new();
    for s in segments {
        *per_label.entry(s.label.as_str()).or_default() += 1;
    }
    let k = labels.len();
    Ok(ModelFile {
        format: FORMAT.into(),
        format_version: FORMAT_VERSION,
        algorithm: config.algorithm,
        pipeline: *vectorizer.pipeline(),
        tfidf: *vectorizer.config(),
        calibration,
        training: TrainingInfo {
            data: data_name.to_string(),
            data_sha256: sha256_hex(data_bytes),
            documents: cv.folds as u32,
            segments: segments.len() as u32,
            segments_per_label: per_label
                .into_iter()
                .map(|(label, count)| LabelCount {
                    label: label.to_string(),
                    count,
                })
                .collect(),
            cross_validation: CvSummary {
                scheme: "leave-one-article-out".into(),
                folds: cv.folds as u32,
                accuracy: round4(calibrated.accuracy),
                macro_f1: round4(calibrated.macro_f1),
                macro_f1_topics: round4(calibrated.macro_f1_topics),
            },
        },
        bias: model.bias().to_vec(),
        vocabulary: vectorizer.terms().to_vec(),
        idf: vectorizer.idf().to_vec(),
        weights: model.weights().chunks(k).map(<[f32]>::to_vec).collect(),
        labels,
    })
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}
