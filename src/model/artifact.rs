//! The model file: one self-describing JSON document.
//!
//! It holds everything needed to classify — format version, labels, text-pipeline and
//! TF-IDF configuration, vocabulary and idf, weights, calibration — and everything needed
//! to trust it: the algorithm and hyper-parameters, a hash of the training data, its
//! size per label and the cross-validation scores. Serialization is deterministic (sorted
//! vocabulary, shortest round-trip floats), so the same data and configuration always
//! give the same bytes.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::calibration::Calibration;
use super::linear::LinearModel;
use super::train::Algorithm;
use crate::embedding::WordVectors;
use crate::error::ModelError;
use crate::text::PipelineConfig;
use crate::vectorizer::{Embedding, TfIdfConfig, Vectorizer};

/// Identifies a tasnif model file.
pub const FORMAT: &str = "tasnif-model";
/// The format version this build reads and writes (2: word vectors and `other` examples
/// from the corpus).
pub const FORMAT_VERSION: u32 = 2;

/// Bounds on what a model file may ask of every request: a file beyond them is refused
/// at load instead of making each call slow or huge.
pub const MAX_LABELS: usize = 64;
pub const MAX_CHAR_NGRAM: usize = 10;
pub const MAX_VOCABULARY: usize = 5_000_000;
/// Largest model (or vectors) file read from disk.
pub const MAX_FILE_BYTES: u64 = 512 << 20;

/// Reads a model or vectors file, refusing anything that is not a regular file (a FIFO
/// would block, `/dev/zero` never ends) or is larger than [`MAX_FILE_BYTES`], before
/// reading it.
pub fn read_bounded(path: &std::path::Path) -> Result<Vec<u8>, ModelError> {
    let io = |source| ModelError::Io {
        path: path.display().to_string(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    let refuse = |reason: String| ModelError::Refused {
        path: path.display().to_string(),
        reason,
    };
    if !meta.is_file() {
        return Err(refuse(
            "it is not a regular file (a model is a file written by `tasnif train`)".into(),
        ));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(refuse(format!(
            "it has {} bytes, over the limit of {MAX_FILE_BYTES}",
            meta.len()
        )));
    }
    std::fs::read(path).map_err(io)
}

/// A label and a count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelCount {
    pub label: String,
    pub count: u32,
}

/// Cross-validation summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CvSummary {
    pub scheme: String,
    pub folds: u32,
    pub accuracy: f64,
    pub macro_f1: f64,
    pub macro_f1_topics: f64,
}

/// The word-vector part of a model: which vectors (by SHA-256), the weight of their mean
/// and the model's weights for each dimension.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingPart {
    pub vectors_sha256: String,
    pub words: usize,
    pub dims: usize,
    pub scale: f32,
    /// One row per dimension: its weight for each label.
    pub weights: Rows,
}

/// Where the `other` examples from the corpus came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OtherSource {
    pub corpus: String,
    pub corpus_sha256: String,
    pub rule: crate::corpus::OtherRule,
    pub categories: Vec<String>,
    /// Corpus article ids of the examples, in the order picked.
    pub ids: Vec<String>,
}

/// What the model was trained on and how it scored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingInfo {
    /// The data file, as given to `tasnif train`.
    pub data: String,
    /// SHA-256 of the data file's bytes.
    pub data_sha256: String,
    pub documents: u32,
    pub segments: u32,
    pub segments_per_label: Vec<LabelCount>,
    /// `other` examples taken from the unlabelled corpus (counted in the figures above).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other_from_corpus: Option<OtherSource>,
    pub cross_validation: CvSummary,
}

/// The model file's contents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelFile {
    pub format: String,
    pub format_version: u32,
    pub labels: Vec<String>,
    pub algorithm: Algorithm,
    pub pipeline: PipelineConfig,
    pub tfidf: TfIdfConfig,
    pub calibration: Calibration,
    pub training: TrainingInfo,
    pub bias: Vec<f32>,
    pub vocabulary: Vec<String>,
    pub idf: Vec<f32>,
    /// One row per vocabulary term: that term's weight for each label.
    pub weights: Rows,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding: Option<EmbeddingPart>,
}

/// A matrix of weights kept flat (row after row, one allocation), written in the file as
/// a list of rows: `[[w, …], …]`. Reading one does not allocate a `Vec` per row (a model
/// has one row per vocabulary term), and rows of unequal length are refused as they are
/// read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rows {
    values: Vec<f32>,
    rows: usize,
    width: usize,
}

impl Rows {
    /// `values` cut into rows of `width`.
    ///
    /// # Panics
    /// If `values` is not a whole number of rows (a zero `width` holds no values).
    pub fn from_flat(values: Vec<f32>, width: usize) -> Self {
        let rows = values.len().checked_div(width).unwrap_or(0);
        assert_eq!(rows * width, values.len(), "whole rows of {width} values");
        // No rows have no width (as when read from `[]`).
        let width = if rows == 0 { 0 } else { width };
        Self {
            values,
            rows,
            width,
        }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Values per row.
    pub fn width(&self) -> usize {
        self.width
    }

    /// All values, row after row.
    pub fn values(&self) -> &[f32] {
        &self.values
    }

    pub fn into_values(self) -> Vec<f32> {
        self.values
    }
}

impl Serialize for Rows {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let width = self.width;
        serializer.collect_seq((0..self.rows).map(|r| &self.values[r * width..(r + 1) * width]))
    }
}

impl<'de> Deserialize<'de> for Rows {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::{DeserializeSeed, Error, SeqAccess, Visitor};

        /// Appends one row's values and yields how many there were.
        struct Row<'v>(&'v mut Vec<f32>);
        impl<'de> DeserializeSeed<'de> for Row<'_> {
            type Value = usize;
            fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<usize, D::Error> {
                d.deserialize_seq(self)
            }
        }
        impl<'de> Visitor<'de> for Row<'_> {
            type Value = usize;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a row of numbers")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<usize, A::Error> {
                let before = self.0.len();
                while let Some(x) = seq.next_element::<f32>()? {
                    self.0.push(x);
                }
                Ok(self.0.len() - before)
            }
        }

        struct Matrix;
        impl<'de> Visitor<'de> for Matrix {
            type Value = Rows;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of rows of numbers")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Rows, A::Error> {
                let mut values = Vec::new();
                let (mut rows, mut width) = (0, 0);
                while let Some(n) = seq.next_element_seed(Row(&mut values))? {
                    if rows == 0 {
                        width = n;
                    } else if n != width {
                        return Err(A::Error::custom(format!(
                            "row {rows} has {n} values where row 0 has {width}"
                        )));
                    }
                    rows += 1;
                }
                Ok(Rows {
                    values,
                    rows,
                    width,
                })
            }
        }
        deserializer.deserialize_seq(Matrix)
    }
}

/// Reads the binary arrays of [`ModelFile::from_split`], front to back.
struct SplitArrays<'a>(&'a [u8]);

impl<'a> SplitArrays<'a> {
    fn bytes(&mut self, n: usize) -> Result<&'a [u8], ModelError> {
        if self.0.len() < n {
            return Err(ModelError::Parse("the model's arrays end early".into()));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn count(&mut self) -> Result<usize, ModelError> {
        let b = self.bytes(4)?;
        Ok(u32::from_le_bytes(b.try_into().expect("four bytes")) as usize)
    }

    fn text(&mut self) -> Result<String, ModelError> {
        let n = self.count()?;
        let b = self.bytes(n)?;
        String::from_utf8(b.to_vec())
            .map_err(|_| ModelError::Parse("a vocabulary term is not UTF-8".into()))
    }

    fn floats(&mut self, n: usize) -> Result<Vec<f32>, ModelError> {
        let b = self.bytes(n.checked_mul(4).ok_or_else(|| {
            ModelError::Parse("the model's arrays give an impossible size".into())
        })?)?;
        Ok(b.chunks_exact(4)
            .map(|x| f32::from_le_bytes(x.try_into().expect("four bytes")))
            .collect())
    }

    fn rows(&mut self) -> Result<Rows, ModelError> {
        let (rows, width) = (self.count()?, self.count()?);
        let n = rows.checked_mul(width).ok_or_else(|| {
            ModelError::Parse("the model's arrays give an impossible size".into())
        })?;
        Ok(Rows::from_flat(self.floats(n)?, width))
    }
}

#[derive(Deserialize)]
struct Header {
    format: Option<String>,
    format_version: Option<u32>,
}

/// Checks that a file says it is a tasnif model of the version this build reads.
fn check_header(format: Option<&str>, version: Option<u32>) -> Result<(), ModelError> {
    if format != Some(FORMAT) {
        return Err(ModelError::Parse(format!(
            "expected \"format\": \"{FORMAT}\", found {format:?}"
        )));
    }
    match version {
        Some(FORMAT_VERSION) => Ok(()),
        found => Err(ModelError::Version {
            found: found.unwrap_or(0),
            expected: FORMAT_VERSION,
        }),
    }
}

impl ModelFile {
    /// Serializes to the canonical bytes (compact JSON and a final newline).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec(self).expect("a model file always serializes");
        bytes.push(b'\n');
        bytes
    }

    /// Parses and checks a model file.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ModelError> {
        match serde_json::from_slice::<ModelFile>(bytes) {
            Ok(file) => {
                check_header(Some(&file.format), Some(file.format_version))?;
                file.validate()?;
                Ok(file)
            }
            Err(e) => {
                // Another format or version explains the failure better than the parser
                // can. (Only read on failure: it costs a second pass over the file.)
                if let Ok(header) = serde_json::from_slice::<Header>(bytes) {
                    check_header(header.format.as_deref(), header.format_version)?;
                }
                Err(ModelError::Parse(e.to_string()))
            }
        }
    }

    /// Reads and checks a model file split in two by build.rs (for the embedded model):
    /// `meta`, the file with its vocabulary, idf and weight arrays empty, and `arrays`,
    /// those arrays in binary (the layout is described in build.rs). Gives what
    /// [`ModelFile::from_bytes`] gives for the whole file (a test checks it).
    pub fn from_split(meta: &[u8], arrays: &[u8]) -> Result<Self, ModelError> {
        let mut file: ModelFile =
            serde_json::from_slice(meta).map_err(|e| ModelError::Parse(e.to_string()))?;
        check_header(Some(&file.format), Some(file.format_version))?;
        let mut arrays = SplitArrays(arrays);
        let n = arrays.count()?;
        file.vocabulary = (0..n).map(|_| arrays.text()).collect::<Result<_, _>>()?;
        let n = arrays.count()?;
        file.idf = arrays.floats(n)?;
        file.weights = arrays.rows()?;
        let vector_weights = arrays.rows()?;
        if let Some(e) = &mut file.embedding {
            e.weights = vector_weights;
        }
        if !arrays.0.is_empty() {
            return Err(ModelError::Parse(
                "the model's arrays have bytes left over".into(),
            ));
        }
        file.validate()?;
        Ok(file)
    }

    fn validate(&self) -> Result<(), ModelError> {
        let k = self.labels.len();
        if !(2..=MAX_LABELS).contains(&k) {
            return Err(ModelError::Invalid(format!(
                "needs 2 to {MAX_LABELS} labels, has {k}"
            )));
        }
        let f = &self.pipeline.features;
        if f.char_ngram_max > MAX_CHAR_NGRAM || f.char_ngram_min > f.char_ngram_max {
            return Err(ModelError::Invalid(format!(
                "character n-grams must satisfy min ≤ max ≤ {MAX_CHAR_NGRAM}, are {}..={}",
                f.char_ngram_min, f.char_ngram_max
            )));
        }
        if self.vocabulary.len() > MAX_VOCABULARY {
            return Err(ModelError::Invalid(format!(
                "{} vocabulary terms, over the limit of {MAX_VOCABULARY}",
                self.vocabulary.len()
            )));
        }
        if self.bias.len() != k {
            return Err(ModelError::Invalid(format!(
                "{} bias values for {k} labels",
                self.bias.len()
            )));
        }
        if self.weights.len() != self.vocabulary.len() {
            return Err(ModelError::Invalid(format!(
                "{} weight rows for {} vocabulary terms",
                self.weights.len(),
                self.vocabulary.len()
            )));
        }
        if !self.weights.is_empty() && self.weights.width() != k {
            return Err(ModelError::Invalid(format!(
                "weight rows have {} values, not one for each of the {k} labels",
                self.weights.width()
            )));
        }
        let finite = |v: &f32| v.is_finite();
        if !self.bias.iter().all(finite) || !self.weights.values().iter().all(finite) {
            return Err(ModelError::Invalid("weights must be finite numbers".into()));
        }
        if let Some(e) = &self.embedding {
            if e.weights.len() != e.dims || (!e.weights.is_empty() && e.weights.width() != k) {
                return Err(ModelError::Invalid(format!(
                    "the vector part needs {} rows of {k} weights",
                    e.dims
                )));
            }
            if !(e.weights.values().iter().all(finite) && e.scale.is_finite() && e.scale > 0.0) {
                return Err(ModelError::Invalid(
                    "vector weights and scale must be finite (scale positive)".into(),
                ));
            }
        }
        let t = self.calibration.temperature;
        if !(t.is_finite() && t > 0.0) {
            return Err(ModelError::Invalid(format!(
                "temperature must be positive, is {t}"
            )));
        }
        if !(0.0..=1.0).contains(&self.calibration.ood_threshold) {
            return Err(ModelError::Invalid(
                "ood_threshold must be in [0, 1]".into(),
            ));
        }
        Ok(())
    }

    /// Builds the inference parts, moving vocabulary, idf and weights out of the file
    /// (what is left is the model's metadata; nothing large is copied). `vectors` must be
    /// the vectors the model was trained with if it has a vector part.
    pub fn take_parts(
        &mut self,
        vectors: Option<Arc<WordVectors>>,
    ) -> Result<(Vectorizer, LinearModel, Calibration), ModelError> {
        let embedding = match (&mut self.embedding, vectors) {
            (None, _) => None,
            (Some(_), None) => {
                return Err(ModelError::Invalid(
                    "the model uses word vectors and none were given".into(),
                ))
            }
            (Some(part), Some(vectors)) => {
                if vectors.sha256() != part.vectors_sha256 {
                    return Err(ModelError::Invalid(format!(
                        "the model was trained with word vectors {} but was given {}; pass the matching vectors file (--vectors)",
                        &part.vectors_sha256[..12.min(part.vectors_sha256.len())],
                        &vectors.sha256()[..12]
                    )));
                }
                Some((
                    Embedding {
                        vectors,
                        scale: part.scale,
                    },
                    std::mem::take(&mut part.weights),
                ))
            }
        };
        let vocabulary = std::mem::take(&mut self.vocabulary);
        let idf = std::mem::take(&mut self.idf);
        let mut weights = std::mem::take(&mut self.weights).into_values();
        let (embedding, vector_weights) = match embedding {
            Some((e, w)) => (Some(e), w.into_values()),
            None => (None, Vec::new()),
        };
        weights.extend_from_slice(&vector_weights);
        let vectorizer = Vectorizer::from_parts(self.pipeline, self.tfidf, vocabulary, idf)?
            .with_embedding(embedding)?;
        let model = LinearModel::new(self.labels.clone(), weights, self.bias.clone());
        Ok((vectorizer, model, self.calibration))
    }
}

// EMBEDDED_MODEL_SHA256 and EMBEDDED_VECTORS_SHA256 (build.rs): the embedded files'
// hashes, so starting does not hash them again (a test checks they match).
include!(concat!(env!("OUT_DIR"), "/embedded_sha256.rs"));

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> ModelFile {
        ModelFile {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            labels: vec!["a".into(), "b".into()],
            algorithm: Algorithm::NaiveBayes { alpha: 1.0 },
            pipeline: PipelineConfig::default(),
            tfidf: TfIdfConfig::default(),
            calibration: Calibration {
                temperature: 1.0,
                short_text_softening: 0.0,
                ood_threshold: 0.5,
            },
            training: TrainingInfo {
                data: "x".into(),
                data_sha256: sha256_hex(b"x"),
                documents: 1,
                segments: 2,
                segments_per_label: vec![],
                other_from_corpus: None,
                cross_validation: CvSummary {
                    scheme: "none".into(),
                    folds: 0,
                    accuracy: 0.0,
                    macro_f1: 0.0,
                    macro_f1_topics: 0.0,
                },
            },
            bias: vec![0.0, 0.1],
            vocabulary: vec!["w:جيش".into(), "w:جنيف".into()],
            idf: vec![1.0, 1.5],
            weights: Rows::from_flat(vec![0.5, -0.5, -0.25, 0.25], 2),
            embedding: None,
        }
    }

    #[test]
    fn round_trips_byte_for_byte() {
        let bytes = tiny().to_bytes();
        let back = ModelFile::from_bytes(&bytes).unwrap();
        assert_eq!(back, tiny());
        assert_eq!(back.to_bytes(), bytes);
    }

    #[test]
    fn truncated_file_is_a_parse_error() {
        let bytes = tiny().to_bytes();
        let err = ModelFile::from_bytes(&bytes[..bytes.len() / 2]).unwrap_err();
        assert!(matches!(err, ModelError::Parse(_)), "{err}");
    }

    #[test]
    fn garbage_is_a_parse_error() {
        assert!(matches!(
            ModelFile::from_bytes(b"\x00\xffnot json"),
            Err(ModelError::Parse(_))
        ));
        assert!(matches!(
            ModelFile::from_bytes(b"{\"a\":1}"),
            Err(ModelError::Parse(_))
        ));
    }

    #[test]
    fn wrong_version_names_both_versions() {
        let mut m = tiny();
        m.format_version = 99;
        let err = ModelFile::from_bytes(&m.to_bytes()).unwrap_err();
        assert!(matches!(
            err,
            ModelError::Version {
                found: 99,
                expected: FORMAT_VERSION
            }
        ));
        assert!(err.to_string().contains("99"));
    }

    #[test]
    fn settings_that_would_make_every_request_unbounded_are_rejected() {
        let mut m = tiny();
        m.pipeline.features.char_ngram_max = 1_000_000_000_000_000;
        let err = ModelFile::from_bytes(&m.to_bytes()).unwrap_err();
        assert!(err.to_string().contains("n-grams"), "{err}");
        let mut m = tiny();
        m.pipeline.features.char_ngram_min = 6;
        m.pipeline.features.char_ngram_max = 5;
        assert!(ModelFile::from_bytes(&m.to_bytes()).is_err());
        let mut m = tiny();
        m.labels = (0..100).map(|i| format!("l{i}")).collect();
        m.bias = vec![0.0; 100];
        m.weights = Rows::from_flat(vec![0.0; 200], 100);
        let err = ModelFile::from_bytes(&m.to_bytes()).unwrap_err();
        assert!(err.to_string().contains("labels"), "{err}");
    }

    #[test]
    fn only_regular_files_under_the_size_cap_are_read() {
        let err = read_bounded(std::path::Path::new("/dev/zero")).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        if std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .is_ok_and(|s| s.success())
        {
            // Refused from its metadata: opening it would block.
            let err = read_bounded(&fifo).unwrap_err();
            assert!(err.to_string().contains("not a regular file"), "{err}");
        }
        let big = dir.path().join("big.json");
        let f = std::fs::File::create(&big).unwrap();
        f.set_len(MAX_FILE_BYTES + 1).unwrap(); // sparse: no disk used
        let err = read_bounded(&big).unwrap_err();
        assert!(err.to_string().contains("over the limit"), "{err}");
        let small = dir.path().join("small.json");
        std::fs::write(&small, b"{}").unwrap();
        assert_eq!(read_bounded(&small).unwrap(), b"{}");
    }

    #[test]
    fn inconsistent_shapes_are_rejected() {
        // A short row is refused as it is read, naming the row.
        let bytes = String::from_utf8(tiny().to_bytes()).unwrap();
        assert!(bytes.contains("[-0.25,0.25]"), "{bytes}");
        let short = bytes.replace("[-0.25,0.25]", "[-0.25]");
        let err = ModelFile::from_bytes(short.as_bytes()).unwrap_err();
        assert!(matches!(err, ModelError::Parse(_)), "{err}");
        assert!(err.to_string().contains("row 1 has 1 values"), "{err}");
        // Rows of equal length, but not one value per label.
        let mut m = tiny();
        m.weights = Rows::from_flat(vec![0.5, -0.5, 0.0, -0.25, 0.25, 0.0], 3);
        let err = ModelFile::from_bytes(&m.to_bytes()).unwrap_err();
        assert!(matches!(err, ModelError::Invalid(_)), "{err}");
        assert!(err.to_string().contains("have 3 values"), "{err}");
        let mut m = tiny();
        m.idf.pop();
        let bytes = m.to_bytes();
        let mut file = ModelFile::from_bytes(&bytes).unwrap();
        assert!(file.take_parts(None).is_err());
    }
}
