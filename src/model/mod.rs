//! The model: training with linfa ([`train`]), the linear classifier used at inference
//! ([`linear`]) and the model file ([`artifact`]). [`build`] is the whole of
//! `tasnif train`: labelled segments, `other` examples from the corpus and word vectors
//! in, model file out.

pub mod artifact;
pub mod calibration;
pub mod linear;
pub mod train;

use std::collections::BTreeMap;
use std::sync::Arc;

pub use artifact::ModelFile;
pub use calibration::Calibration;
pub use linear::LinearModel;
pub use train::{Algorithm, Example, TrainConfig};

use crate::corpus::OtherExample;
use crate::data::LabelledText;
use crate::embedding::WordVectors;
use crate::error::ModelError;
use artifact::{
    sha256_hex, CvSummary, EmbeddingPart, LabelCount, OtherSource, Rows, TrainingInfo, FORMAT,
    FORMAT_VERSION,
};

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
            train: true,
            weight: 1,
        })
        .collect();
    Ok((labels, examples))
}

/// [`examples`] plus `other` examples from the corpus, each of training weight
/// `weight`. Each corpus example joins the cross-validation fold of one seed article, in
/// turn (sorted article ids), so every fold holds out some `other` examples with its
/// article.
pub fn examples_with_other(
    segments: &[LabelledText],
    other: &[OtherExample],
    weight: u32,
) -> Result<(Vec<String>, Vec<Example>), ModelError> {
    let (labels, mut examples) = examples(segments)?;
    if other.is_empty() {
        return Ok((labels, examples));
    }
    let Ok(other_label) = labels.binary_search_by(|l| l.as_str().cmp(crate::OTHER)) else {
        return Err(ModelError::Training(
            "the labelled data has no `other` label to add corpus examples to".into(),
        ));
    };
    let mut docs: Vec<String> = examples.iter().map(|e| e.doc.clone()).collect();
    docs.sort();
    docs.dedup();
    for (i, o) in other.iter().enumerate() {
        examples.push(Example {
            doc: docs[i % docs.len()].clone(),
            text: o.text.clone(),
            label: other_label,
            train: true,
            weight,
        });
    }
    Ok((labels, examples))
}

/// `other` examples picked from the unlabelled corpus, and where from.
#[derive(Debug, Clone, Default)]
pub struct OtherFromCorpus {
    pub corpus: String,
    pub corpus_sha256: String,
    pub examples: Vec<OtherExample>,
}

/// Everything a model is trained from.
pub struct TrainingData<'a> {
    pub segments: &'a [LabelledText],
    /// The labelled file's name and bytes (recorded in the model's metadata).
    pub data_name: &'a str,
    pub data_bytes: &'a [u8],
    pub other: Option<OtherFromCorpus>,
    pub vectors: Option<Arc<WordVectors>>,
}

/// Trains a model and returns its file.
///
/// `on_fold` is called after each cross-validation fold (for a progress bar).
pub fn build(
    config: &TrainConfig,
    data: &TrainingData,
    on_fold: &dyn Fn(),
) -> Result<ModelFile, ModelError> {
    let segments = data.segments;
    let other_examples = data.other.as_ref().map_or(&[][..], |o| &o.examples[..]);
    let (labels, examples) = examples_with_other(segments, other_examples, config.other.weight)?;
    let vectors = data.vectors.as_ref();
    let cv = train::cross_validate_with(config, &labels, &examples, vectors, on_fold)?;
    let calibration = Calibration::fit(&cv, &labels);
    let calibrated = calibration.score(&cv, &labels);
    let (vectorizer, model) = train::fit(config, &labels, &examples, vectors)?;
    Ok(assemble(
        config,
        data,
        cv.folds,
        &calibrated,
        calibration,
        &vectorizer,
        &model,
    ))
}

/// The model file of a fitted vectorizer and model, with its training metadata.
pub fn assemble(
    config: &TrainConfig,
    data: &TrainingData,
    folds: usize,
    calibrated: &crate::eval::Metrics,
    calibration: Calibration,
    vectorizer: &crate::vectorizer::Vectorizer,
    model: &LinearModel,
) -> ModelFile {
    let segments = data.segments;
    let other_examples = data.other.as_ref().map_or(&[][..], |o| &o.examples[..]);
    let labels = model.labels().to_vec();
    let mut per_label: BTreeMap<&str, u32> = BTreeMap::new();
    for s in segments {
        *per_label.entry(s.label.as_str()).or_default() += 1;
    }
    if !other_examples.is_empty() {
        *per_label.entry(crate::OTHER).or_default() += other_examples.len() as u32;
    }
    let k = labels.len();
    let n_terms = vectorizer.vocabulary_len();
    let (rows, vector_rows) = model.weights().split_at(n_terms * k);
    let (rows, vector_rows) = (
        Rows::from_flat(rows.to_vec(), k),
        Rows::from_flat(vector_rows.to_vec(), k),
    );
    let embedding = vectorizer.embedding().map(|e| EmbeddingPart {
        vectors_sha256: e.vectors.sha256().to_string(),
        words: e.vectors.len(),
        dims: e.vectors.dims(),
        scale: e.scale,
        weights: vector_rows,
    });
    ModelFile {
        format: FORMAT.into(),
        format_version: FORMAT_VERSION,
        algorithm: config.algorithm,
        pipeline: *vectorizer.pipeline(),
        tfidf: *vectorizer.config(),
        calibration,
        training: TrainingInfo {
            data: data.data_name.to_string(),
            data_sha256: sha256_hex(data.data_bytes),
            documents: folds as u32,
            segments: (segments.len() + other_examples.len()) as u32,
            segments_per_label: per_label
                .into_iter()
                .map(|(label, count)| LabelCount {
                    label: label.to_string(),
                    count,
                })
                .collect(),
            other_from_corpus: data
                .other
                .as_ref()
                .filter(|o| !o.examples.is_empty())
                .map(|o| OtherSource {
                    corpus: o.corpus.clone(),
                    corpus_sha256: o.corpus_sha256.clone(),
                    rule: config.other,
                    categories: crate::corpus::OTHER_CATEGORIES.map(String::from).to_vec(),
                    ids: o.examples.iter().map(|e| e.id.clone()).collect(),
                }),
            cross_validation: CvSummary {
                scheme: "leave-one-article-out".into(),
                folds: folds as u32,
                accuracy: round4(calibrated.accuracy),
                macro_f1: round4(calibrated.macro_f1),
                macro_f1_topics: round4(calibrated.macro_f1_topics),
            },
        },
        bias: model.bias().to_vec(),
        vocabulary: vectorizer.terms().to_vec(),
        idf: vectorizer.idf().to_vec(),
        weights: rows,
        embedding,
        labels,
    }
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}
