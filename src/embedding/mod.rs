//! Word vectors: what words mean, learned from unlabelled Arabic news
//! (`tasnif vectors`, [`train`]), stored compactly ([`WordVectors`]) and embedded in the
//! binary beside the model (`models/vectors.bin`).
//!
//! Words are keyed exactly as the text pipeline reads them — normalized, proclitics
//! stripped, stop words dropped ([`crate::text::Analyzer::word_key`]) — so training and
//! serving cannot disagree about what a word is. The pipeline configuration is recorded
//! in the file and checked when a model uses it.
//!
//! File layout (`tasnif-vectors`, version 1):
//! ```text
//! TASNIF-VECTORS\n
//! {JSON header: dims, words, pipeline, trainer, corpus, …}\n
//! the words, one per line, most frequent first
//! idf      f32 LE × words     (corpus document frequency, smoothed)
//! scale    f32 LE × words     (per-row dequantization factor)
//! vectors  i8 × words × dims  (unit vectors, quantized: v ≈ scale · q)
//! ```

pub mod subword;
pub mod train;

use std::borrow::Cow;
use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::error::ModelError;
use crate::text::PipelineConfig;
use crate::vectorizer::fx_hash;

/// The vectors embedded in the binary (`models/vectors.bin`).
pub const EMBEDDED_VECTORS: &[u8] = include_bytes!("../../models/vectors.bin");

const MAGIC: &[u8] = b"TASNIF-VECTORS\n";
/// Identifies a tasnif vectors file.
pub const FORMAT: &str = "tasnif-vectors";
/// The vectors format this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;
/// Bounds checked on load: no file makes per-word work or memory unbounded.
const MAX_DIMS: usize = 1024;
const MAX_WORDS: usize = 2_000_000;

/// Where the vectors came from: enough to rebuild them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// The corpus file as given to `tasnif vectors`.
    pub corpus: String,
    pub corpus_sha256: String,
    pub articles: u64,
    /// Tokens after stop-word removal.
    pub tokens: u64,
    /// The trainer and its settings, as a `tasnif vectors` command would set them.
    pub trainer: train::TrainerConfig,
}

/// The header of a vectors file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub format: String,
    pub format_version: u32,
    pub dims: usize,
    pub words: usize,
    pub pipeline: PipelineConfig,
    pub provenance: Provenance,
}

/// The words of a vectors file: one string, each word followed by a line break (exactly
/// the file's word section, borrowed from the binary for the embedded vectors), and
/// where each ends — no allocation per word.
#[derive(Clone, Default)]
struct Words {
    text: Cow<'static, str>,
    ends: Vec<u32>,
}

impl Words {
    fn from_text(text: Cow<'static, str>) -> Self {
        let ends = memchr::memchr_iter(b'\n', text.as_bytes())
            .map(|e| e as u32)
            .collect();
        Self { text, ends }
    }

    fn from_list(words: &[String]) -> Self {
        let mut text = String::with_capacity(words.iter().map(|w| w.len() + 1).sum());
        for w in words {
            text.push_str(w);
            text.push('\n');
        }
        Self::from_text(Cow::Owned(text))
    }

    fn len(&self) -> usize {
        self.ends.len()
    }

    #[inline]
    fn get(&self, i: usize) -> &str {
        let start = if i == 0 {
            0
        } else {
            self.ends[i - 1] as usize + 1
        };
        &self.text[start..self.ends[i] as usize]
    }

    fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }
}

/// The bytes of a vectors file being parsed: the binary's own (parts kept borrowed), or
/// any other (parts copied).
enum FileBytes<'a> {
    Static(&'static [u8]),
    Other(&'a [u8]),
}

impl FileBytes<'_> {
    fn all(&self) -> &[u8] {
        match *self {
            FileBytes::Static(b) => b,
            FileBytes::Other(b) => b,
        }
    }

    fn keep(&self, range: Range<usize>) -> Cow<'static, [u8]> {
        match *self {
            FileBytes::Static(b) => Cow::Borrowed(&b[range]),
            FileBytes::Other(b) => Cow::Owned(b[range].to_vec()),
        }
    }

    fn keep_str(&self, range: Range<usize>) -> Result<Cow<'static, str>, std::str::Utf8Error> {
        Ok(match *self {
            FileBytes::Static(b) => Cow::Borrowed(std::str::from_utf8(&b[range])?),
            FileBytes::Other(b) => Cow::Owned(std::str::from_utf8(&b[range])?.to_owned()),
        })
    }
}

/// Quantized unit word vectors with their corpus idf, and an index from word to row.
pub struct WordVectors {
    header: Header,
    words: Words,
    idf: Vec<f32>,
    scale: Vec<f32>,
    /// The quantized vectors, row after row (`i8` values stored as their bytes): borrowed
    /// from the binary for the embedded vectors, so starting costs no 3 MB copy.
    data: Cow<'static, [u8]>,
    index: hashbrown::HashTable<u32>,
    sha256: String,
}

impl std::fmt::Debug for WordVectors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WordVectors")
            .field("words", &self.words.len())
            .field("dims", &self.header.dims)
            .field("sha256", &self.sha256)
            .finish()
    }
}

impl WordVectors {
    /// Builds vectors from float rows (`matrix[i]` is `words[i]`'s vector): each row is
    /// scaled to unit length and quantized to 8 bits.
    pub fn from_float(
        pipeline: PipelineConfig,
        provenance: Provenance,
        words: Vec<String>,
        idf: Vec<f32>,
        matrix: &[Vec<f32>],
    ) -> Result<Self, ModelError> {
        let dims = matrix.first().map_or(0, Vec::len);
        let mut scale = Vec::with_capacity(words.len());
        let mut data = Vec::with_capacity(words.len() * dims);
        for row in matrix {
            let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
            let unit: Vec<f32> = row
                .iter()
                .map(|x| if norm > 0.0 { x / norm } else { 0.0 })
                .collect();
            let max = unit.iter().fold(0.0f32, |m, x| m.max(x.abs()));
            let s = if max > 0.0 { max / 127.0 } else { 1.0 };
            scale.push(s);
            data.extend(
                unit.iter()
                    .map(|x| (x / s).round().clamp(-127.0, 127.0) as i8 as u8),
            );
        }
        let header = Header {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            dims,
            words: words.len(),
            pipeline,
            provenance,
        };
        let mut v = Self {
            header,
            words: Words::from_list(&words),
            idf,
            scale,
            data: Cow::Owned(data),
            index: hashbrown::HashTable::new(),
            sha256: String::new(),
        };
        if words.iter().any(|w| w.is_empty() || w.contains('\n')) {
            return Err(ModelError::Invalid(
                "vectors file: a word is empty or holds a line break".into(),
            ));
        }
        v.check()?;
        v.sha256 = crate::model::artifact::sha256_hex(&v.to_bytes());
        v.build_index();
        Ok(v)
    }

    /// The first `n` words only (the most frequent): for the vocabulary-size curve.
    pub fn truncated(&self, n: usize) -> Result<Self, ModelError> {
        let n = n.min(self.words.len());
        let d = self.header.dims;
        let matrix: Vec<Vec<f32>> = (0..n).map(|i| self.vector(i as u32).collect()).collect();
        let mut v = Self::from_float(
            self.header.pipeline,
            self.header.provenance.clone(),
            self.words.iter().take(n).map(String::from).collect(),
            self.idf[..n].to_vec(),
            &matrix,
        )?;
        // Keep the quantized values exactly (re-quantizing could move a last bit).
        v.scale = self.scale[..n].to_vec();
        v.data = Cow::Owned(self.data[..n * d].to_vec());
        v.sha256 = crate::model::artifact::sha256_hex(&v.to_bytes());
        Ok(v)
    }

    /// The same vectors with each value rounded to `bits` bits (per-row scale, symmetric)
    /// and stored again: for the precision curve of `tasnif tune --only precision`.
    pub fn requantized(&self, bits: u32) -> Result<Self, ModelError> {
        let levels = ((1i32 << (bits.clamp(2, 8) - 1)) - 1) as f32;
        let matrix: Vec<Vec<f32>> = (0..self.words.len())
            .map(|i| {
                let row: Vec<f32> = self.vector(i as u32).collect();
                let max = row.iter().fold(0.0f32, |m, x| m.max(x.abs()));
                let s = if max > 0.0 { max / levels } else { 1.0 };
                row.iter().map(|x| (x / s).round() * s).collect()
            })
            .collect();
        Self::from_float(
            self.header.pipeline,
            self.header.provenance.clone(),
            self.words.iter().map(String::from).collect(),
            self.idf.clone(),
            &matrix,
        )
    }

    fn check(&self) -> Result<(), ModelError> {
        let h = &self.header;
        let bad = |m: String| Err(ModelError::Invalid(format!("vectors file: {m}")));
        if h.dims == 0 || h.dims > MAX_DIMS {
            return bad(format!("dims must be 1..={MAX_DIMS}, is {}", h.dims));
        }
        if h.words > MAX_WORDS {
            return bad(format!("at most {MAX_WORDS} words, has {}", h.words));
        }
        if self.words.len() != h.words || self.idf.len() != h.words || self.scale.len() != h.words {
            return bad("word, idf and scale counts differ".into());
        }
        if self.data.len() != h.words * h.dims {
            return bad("vector data does not match words × dims".into());
        }
        if !self.idf.iter().chain(&self.scale).all(|x| x.is_finite()) {
            return bad("idf and scales must be finite".into());
        }
        if self.words.iter().any(str::is_empty) {
            return bad("a word is empty".into());
        }
        Ok(())
    }

    fn build_index(&mut self) {
        let mut index = hashbrown::HashTable::with_capacity(self.words.len());
        let words = &self.words;
        for (i, w) in words.iter().enumerate() {
            let h = fx_hash(w.as_bytes());
            // The first (most frequent) occurrence wins should a file repeat a word.
            if index
                .find(h, |&j: &u32| words.get(j as usize) == w)
                .is_none()
            {
                index.insert_unique(h, i as u32, |&j: &u32| {
                    fx_hash(words.get(j as usize).as_bytes())
                });
            }
        }
        self.index = index;
    }

    /// Serializes to the file layout in the module documentation.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.data.len() + 16 * self.words.len() + 1024);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(
            &serde_json::to_vec(&self.header).expect("a vectors header always serializes"),
        );
        out.push(b'\n');
        out.extend_from_slice(self.words.text.as_bytes());
        for x in self.idf.iter().chain(&self.scale) {
            out.extend_from_slice(&x.to_le_bytes());
        }
        out.extend_from_slice(&self.data);
        out
    }

    /// Parses and checks a vectors file.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ModelError> {
        Self::parse(FileBytes::Other(bytes), None)
    }

    /// [`WordVectors::from_bytes`], with the file's SHA-256 when it is already known.
    fn parse(file: FileBytes<'_>, sha256: Option<&str>) -> Result<Self, ModelError> {
        let bytes = file.all();
        let parse = |m: &str| ModelError::Parse(format!("vectors file: {m}"));
        let rest = bytes
            .strip_prefix(MAGIC)
            .ok_or_else(|| parse("does not start with TASNIF-VECTORS"))?;
        let end = memchr::memchr(b'\n', rest).ok_or_else(|| parse("no header line"))?;
        let header: Header =
            serde_json::from_slice(&rest[..end]).map_err(|e| parse(&format!("header: {e}")))?;
        if header.format != FORMAT {
            return Err(parse("header does not say tasnif-vectors"));
        }
        if header.format_version != FORMAT_VERSION {
            return Err(ModelError::Version {
                found: header.format_version,
                expected: FORMAT_VERSION,
            });
        }
        if header.words > MAX_WORDS || header.dims == 0 || header.dims > MAX_DIMS {
            return Err(ModelError::Invalid(format!(
                "vectors file: {} words × {} dims is out of bounds",
                header.words, header.dims
            )));
        }
        let words_start = MAGIC.len() + end + 1;
        // The word list ends after the n-th line break.
        let n = header.words;
        let list_len = if n == 0 {
            0
        } else {
            memchr::memchr_iter(b'\n', &bytes[words_start..])
                .nth(n - 1)
                .ok_or_else(|| parse("truncated word list"))?
                + 1
        };
        let numbers = words_start + list_len;
        let words = Words::from_text(
            file.keep_str(words_start..numbers)
                .map_err(|_| parse("the word list is not UTF-8"))?,
        );
        let rest = &bytes[numbers..];
        let expected = 8 * n + n * header.dims;
        if rest.len() != expected {
            return Err(parse(&format!(
                "expected {expected} bytes of numbers after the words, found {} (truncated?)",
                rest.len()
            )));
        }
        let floats = |b: &[u8]| -> Vec<f32> {
            b.chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().expect("four bytes")))
                .collect()
        };
        let idf = floats(&rest[..4 * n]);
        let scale = floats(&rest[4 * n..8 * n]);
        let data = file.keep(numbers + 8 * n..bytes.len());
        let sha256 = sha256.map_or_else(|| crate::model::artifact::sha256_hex(bytes), String::from);
        let mut v = Self {
            header,
            words,
            idf,
            scale,
            data,
            index: hashbrown::HashTable::new(),
            sha256,
        };
        v.check()?;
        v.build_index();
        Ok(v)
    }

    /// The vectors embedded in the binary (their SHA-256 computed at build time; words
    /// and vectors borrowed, not copied).
    pub fn embedded() -> Result<Self, ModelError> {
        Self::parse(
            FileBytes::Static(EMBEDDED_VECTORS),
            Some(crate::model::artifact::EMBEDDED_VECTORS_SHA256),
        )
    }

    /// Loads a vectors file from disk.
    pub fn load(path: &std::path::Path) -> Result<Self, ModelError> {
        let bytes = crate::model::artifact::read_bounded(path)?;
        Self::from_bytes(&bytes)
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    pub fn dims(&self) -> usize {
        self.header.dims
    }

    pub fn len(&self) -> usize {
        self.words.len()
    }

    pub fn is_empty(&self) -> bool {
        self.words.len() == 0
    }

    /// The words, most frequent first.
    pub fn words(&self) -> impl Iterator<Item = &str> + '_ {
        self.words.iter()
    }

    /// SHA-256 of the file's bytes: what a model records to name its vectors.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// The row of `word` (a key as [`crate::text::Analyzer::word_key`] gives it).
    #[inline]
    pub fn lookup(&self, word: &str) -> Option<u32> {
        self.index
            .find(fx_hash(word.as_bytes()), |&i| {
                self.words.get(i as usize) == word
            })
            .copied()
    }

    /// The corpus idf of row `i`.
    #[inline]
    pub fn idf(&self, i: u32) -> f32 {
        self.idf[i as usize]
    }

    /// The (dequantized, almost unit) vector of row `i`.
    pub fn vector(&self, i: u32) -> impl Iterator<Item = f32> + '_ {
        let d = self.header.dims;
        let s = self.scale[i as usize];
        self.data[i as usize * d..(i as usize + 1) * d]
            .iter()
            .map(move |&q| s * f32::from(q as i8))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provenance() -> Provenance {
        Provenance {
            corpus: "test".into(),
            corpus_sha256: "0".repeat(64),
            articles: 1,
            tokens: 3,
            trainer: train::TrainerConfig::default(),
        }
    }

    fn tiny() -> WordVectors {
        WordVectors::from_float(
            PipelineConfig::default(),
            provenance(),
            vec!["جيش".into(), "قصف".into(), "مباراه".into()],
            vec![1.5, 2.0, 3.0],
            &[vec![3.0, 4.0], vec![1.0, 0.0], vec![0.0, -2.0]],
        )
        .unwrap()
    }

    #[test]
    fn the_build_time_hashes_are_the_embedded_files_hashes() {
        use crate::model::artifact::{sha256_hex, EMBEDDED_MODEL_SHA256, EMBEDDED_VECTORS_SHA256};
        assert_eq!(EMBEDDED_VECTORS_SHA256, sha256_hex(EMBEDDED_VECTORS));
        assert_eq!(
            EMBEDDED_MODEL_SHA256,
            sha256_hex(crate::classifier::EMBEDDED_MODEL)
        );
        assert_eq!(
            WordVectors::embedded().unwrap().sha256(),
            EMBEDDED_VECTORS_SHA256
        );
        assert_eq!(
            crate::Classifier::embedded().unwrap().sha256(),
            EMBEDDED_MODEL_SHA256
        );
    }

    #[test]
    fn requantizing_keeps_directions_and_coarsens_values() {
        let v = WordVectors::from_float(
            PipelineConfig::default(),
            provenance(),
            vec!["جيش".into()],
            vec![1.0],
            &[vec![0.9, 0.5, 0.3, 0.1, -0.2, -0.7]],
        )
        .unwrap();
        let x: Vec<f32> = v.vector(0).collect();
        let same: Vec<f32> = v.requantized(8).unwrap().vector(0).collect();
        let cos = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
        assert!(cos(&x, &same) > 0.999);
        // 2 bits: every value is -m, 0 or +m for the row's largest magnitude m.
        let coarse: Vec<f32> = v.requantized(2).unwrap().vector(0).collect();
        let m = coarse.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        assert!(coarse
            .iter()
            .all(|x| x.abs() < 0.02 || (x.abs() - m).abs() < 0.02));
        assert!(cos(&x, &coarse) < cos(&x, &same));
    }

    #[test]
    fn round_trips_and_quantization_keeps_directions() {
        let v = tiny();
        let bytes = v.to_bytes();
        let back = WordVectors::from_bytes(&bytes).unwrap();
        assert_eq!(back.to_bytes(), bytes);
        assert_eq!(back.sha256(), v.sha256());
        let i = back.lookup("جيش").unwrap();
        let x: Vec<f32> = back.vector(i).collect();
        assert!(
            (x[0] - 0.6).abs() < 0.01 && (x[1] - 0.8).abs() < 0.01,
            "{x:?}"
        );
        assert_eq!(back.idf(i), 1.5);
        assert_eq!(back.lookup("سلام"), None);
        let t = back.truncated(2).unwrap();
        assert_eq!(t.len(), 2);
        assert!(t.lookup("مباراه").is_none());
        assert_eq!(
            t.vector(1).collect::<Vec<_>>(),
            back.vector(1).collect::<Vec<_>>()
        );
    }

    #[test]
    fn damaged_files_are_clear_errors() {
        let bytes = tiny().to_bytes();
        for cut in [3, 20, bytes.len() - 1] {
            assert!(WordVectors::from_bytes(&bytes[..cut]).is_err(), "{cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(WordVectors::from_bytes(&longer).is_err());
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let huge = text.replacen("\"dims\":2", "\"dims\":100000", 1);
        let err = WordVectors::from_bytes(huge.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("out of bounds"), "{err}");
    }

    #[test]
    fn the_embedded_vectors_load() {
        let v = WordVectors::embedded().unwrap();
        assert!(v.len() > 1000);
        assert_eq!(v.header().pipeline, PipelineConfig::default());
        // Words and vectors are the binary's own bytes, not copies…
        assert!(matches!(v.words.text, Cow::Borrowed(_)));
        assert!(matches!(v.data, Cow::Borrowed(_)));
        // …and read exactly as a copy of the file is read.
        let copied = WordVectors::from_bytes(EMBEDDED_VECTORS).unwrap();
        assert!(matches!(copied.data, Cow::Owned(_)));
        assert_eq!(v.to_bytes(), EMBEDDED_VECTORS);
        assert_eq!(copied.sha256(), v.sha256());
        for i in [0, 1, 500, v.len() as u32 - 1] {
            let (a, b): (Vec<f32>, Vec<f32>) = (v.vector(i).collect(), copied.vector(i).collect());
            assert_eq!(a, b);
            // Unit vectors, negative components included (the bytes are signed).
            let norm: f32 = a.iter().map(|x| x * x).sum();
            assert!((norm - 1.0).abs() < 0.02, "{norm}");
            assert!(a.iter().any(|&x| x < 0.0));
        }
        let word = v.words().nth(500).unwrap().to_string();
        assert_eq!(v.lookup(&word), Some(500));
        assert_eq!(copied.lookup(&word), Some(500));
    }
}
