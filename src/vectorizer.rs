//! TF-IDF: feature strings → sparse, l2-normalized vectors over a fitted vocabulary.
//!
//! The vocabulary and idf are fitted once on the training segments and stored in the
//! model; transforming a text never recomputes them (unlike linfa-preprocessing's
//! `TfIdfVectorization`, which derives idf from the documents it transforms). Vectors are
//! sparse: a request costs memory proportional to its own words, never to the vocabulary.
//!
//! Hot path: each distinct normalized word is analyzed (stemmed, split into n-grams,
//! looked up) once per thread and its feature ids cached, so classifying a text costs a
//! hash lookup per word.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

use ndarray::Array2;
use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Deserialize, Serialize};

use crate::error::ModelError;
use crate::text::{Analyzer, PipelineConfig};

/// TF-IDF settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TfIdfConfig {
    /// tf → 1 + ln(tf).
    pub sublinear_tf: bool,
    /// Keep features seen in at least this many training segments.
    pub min_df: usize,
}

impl Default for TfIdfConfig {
    fn default() -> Self {
        Self {
            sublinear_tf: true,
            min_df: 1,
        }
    }
}

/// A sparse vector: strictly increasing `indices`, with their `values`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SparseVector {
    pub indices: Vec<u32>,
    pub values: Vec<f32>,
}

impl SparseVector {
    pub fn nnz(&self) -> usize {
        self.indices.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = (usize, f32)> + '_ {
        self.indices
            .iter()
            .zip(&self.values)
            .map(|(&i, &v)| (i as usize, v))
    }
}

/// Vocabulary coverage of a text: the out-of-domain signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Coverage {
    /// Non-stop-word tokens.
    pub tokens: u32,
    /// Tokens whose word or stem is in the vocabulary.
    pub known: u32,
}

impl Coverage {
    pub fn ratio(&self) -> f32 {
        if self.tokens == 0 {
            0.0
        } else {
            self.known as f32 / self.tokens as f32
        }
    }

    pub fn add(&mut self, other: Coverage) {
        self.tokens += other.tokens;
        self.known += other.known;
    }
}

/// What the cache remembers about one normalized word.
#[derive(Debug, Clone)]
struct WordEntry {
    ids: Box<[u32]>,
    stop: bool,
    known: bool,
}

/// Per-thread word cache, tagged with the vectorizer it belongs to.
struct WordCache {
    owner: u64,
    words: FxHashMap<Box<str>, WordEntry>,
}

/// Beyond this many distinct words the cache starts over, bounding memory whatever
/// callers send (random text has no repeated words to benefit from it anyway).
const CACHE_MAX_WORDS: usize = 100_000;

thread_local! {
    static CACHE: RefCell<WordCache> = RefCell::new(WordCache { owner: 0, words: FxHashMap::default() });
    static SCRATCH: RefCell<(String, Vec<u32>)> = const { RefCell::new((String::new(), Vec::new())) };
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A fitted TF-IDF vectorizer.
#[derive(Debug)]
pub struct Vectorizer {
    analyzer: Analyzer,
    config: TfIdfConfig,
    terms: Vec<String>,
    idf: Vec<f32>,
    index: FxHashMap<String, u32>,
    /// Distinguishes this vectorizer's entries in the per-thread cache.
    id: u64,
}

impl Vectorizer {
    /// Fits vocabulary and idf on `texts` (one training segment each). The vocabulary
    /// is sorted, so the same texts always give the same indices.
    pub fn fit(pipeline: PipelineConfig, config: TfIdfConfig, texts: &[&str]) -> Self {
        let analyzer = Analyzer::new(pipeline);
        let mut df: FxHashMap<String, usize> = FxHashMap::default();
        for text in texts {
            let distinct: FxHashSet<String> = analyzer.analyze(text).into_iter().collect();
            for f in distinct {
                *df.entry(f).or_default() += 1;
            }
        }
        let mut vocab: Vec<(String, usize)> = df
            .into_iter()
            .filter(|(_, d)| *d >= config.min_df.max(1))
            .collect();
        vocab.sort_unstable();
        let n = texts.len() as f64;
        // Smoothed idf, as scikit-learn: ln((1 + n) / (1 + df)) + 1.
        let idf = vocab
            .iter()
            .map(|(_, d)| (((1.0 + n) / (1.0 + *d as f64)).ln() + 1.0) as f32)
            .collect();
        let terms = vocab.into_iter().map(|(t, _)| t).collect();
        Self::assemble(analyzer, config, terms, idf)
    }

    /// Rebuilds a vectorizer from a model file's parts.
    pub fn from_parts(
        pipeline: PipelineConfig,
        config: TfIdfConfig,
        terms: Vec<String>,
        idf: Vec<f32>,
    ) -> Result<Self, ModelError> {
        if terms.len() != idf.len() {
            return Err(ModelError::Invalid(format!(
                "vocabulary has {} terms but idf has {} values",
                terms.len(),
                idf.len()
            )));
        }
        if terms.windows(2).any(|w| w[0] >= w[1]) {
            return Err(ModelError::Invalid(
                "vocabulary is not sorted and unique".into(),
            ));
        }
        if idf.iter().any(|v| !v.is_finite() || *v <= 0.0) {
            return Err(ModelError::Invalid("idf values must be positive".into()));
        }
        Ok(Self::assemble(Analyzer::new(pipeline), config, terms, idf))
    }

    fn assemble(
        analyzer: Analyzer,
        config: TfIdfConfig,
        terms: Vec<String>,
        idf: Vec<f32>,
    ) -> Self {
        let index = terms
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        Self {
            analyzer,
            config,
            terms,
            idf,
            index,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        }
    }

    pub fn pipeline(&self) -> &PipelineConfig {
        self.analyzer.config()
    }

    pub fn config(&self) -> &TfIdfConfig {
        &self.config
    }

    pub fn terms(&self) -> &[String] {
        &self.terms
    }

    pub fn idf(&self) -> &[f32] {
        &self.idf
    }

    pub fn dimension(&self) -> usize {
        self.terms.len()
    }

    fn analyze_word(&self, word: &str) -> WordEntry {
        let wf = self.analyzer.word_features(word);
        let lookup = |f: &String| self.index.get(f.as_str()).copied();
        let known = wf.features[..wf.word_level]
            .iter()
            .any(|f| lookup(f).is_some());
        WordEntry {
            ids: wf.features.iter().filter_map(lookup).collect(),
            stop: wf.stop,
            known,
        }
    }

    /// The TF-IDF vector of `text`, and how much of it the vocabulary covers.
    pub fn transform(&self, text: &str) -> (SparseVector, Coverage) {
        CACHE.with_borrow_mut(|cache| {
            if cache.owner != self.id || cache.words.len() > CACHE_MAX_WORDS {
                cache.owner = self.id;
                cache.words.clear();
            }
            SCRATCH.with_borrow_mut(|(buf, ids)| {
                ids.clear();
                let mut coverage = Coverage::default();
                self.analyzer.for_each_word(text, buf, |word| {
                    if !cache.words.contains_key(word) {
                        let entry = self.analyze_word(word);
                        cache.words.insert(word.into(), entry);
                    }
                    let entry = &cache.words[word];
                    if !entry.stop {
                        coverage.tokens += 1;
                        coverage.known += u32::from(entry.known);
                        ids.extend_from_slice(&entry.ids);
                    }
                });
                (self.weigh(ids), coverage)
            })
        })
    }

    /// Counts → tf-idf → l2 norm. Sorts `ids` in place.
    fn weigh(&self, ids: &mut [u32]) -> SparseVector {
        ids.sort_unstable();
        let mut v = SparseVector::default();
        let mut i = 0;
        while i < ids.len() {
            let id = ids[i];
            let mut j = i;
            while j < ids.len() && ids[j] == id {
                j += 1;
            }
            let count = (j - i) as f32;
            let tf = if self.config.sublinear_tf {
                1.0 + count.ln()
            } else {
                count
            };
            v.indices.push(id);
            v.values.push(tf * self.idf[id as usize]);
            i = j;
        }
        let norm = v.values.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            v.values.iter_mut().for_each(|x| *x /= norm);
        }
        v
    }

    /// Transforms many texts (the batch path used in training).
    pub fn transform_batch(&self, texts: &[&str]) -> Vec<SparseVector> {
        texts.iter().map(|t| self.transform(t).0).collect()
    }

    /// Dense matrix of `vectors` (rows), for fitting linfa models.
    pub fn to_dense(&self, vectors: &[SparseVector]) -> Array2<f64> {
        let mut x = Array2::zeros((vectors.len(), self.dimension()));
        for (r, v) in vectors.iter().enumerate() {
            for (i, w) in v.iter() {
                x[[r, i]] = f64::from(w);
            }
        }
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRAIN: [&str; 3] = [
        "سيطر الجيش السوري على مدينة البوكمال",
        "استقبل الرئيس وفدا روسيا في دمشق",
        "تعقد الجولة الثامنة من المحادثات في جنيف",
    ];

    /// Word features only, so that the expected vocabulary is easy to state.
    fn words_only() -> PipelineConfig {
        let mut p = PipelineConfig::default();
        p.features = crate::text::FeatureConfig {
            stop_words: true,
            words: true,
            stems: false,
            char_ngram_min: 0,
            char_ngram_max: 0,
        };
        p
    }

    fn fitted() -> Vectorizer {
        Vectorizer::fit(words_only(), TfIdfConfig::default(), &TRAIN)
    }

    #[test]
    fn vocabulary_is_sorted_and_idf_is_smoothed() {
        let v = fitted();
        assert!(v.terms().windows(2).all(|w| w[0] < w[1]));
        // Every term occurs in exactly one of three segments: ln(4/2) + 1.
        let expected = (4.0f32 / 2.0).ln() + 1.0;
        assert!(v.idf().iter().all(|&x| (x - expected).abs() < 1e-6));
    }

    #[test]
    fn vectors_are_l2_normalized_and_sparse() {
        let v = fitted();
        let (x, cov) = v.transform("الجيش يزور على جنيف");
        let norm: f32 = x.values.iter().map(|a| a * a).sum();
        assert!((norm - 1.0).abs() < 1e-5);
        assert!(x.indices.windows(2).all(|w| w[0] < w[1]));
        assert!(x.nnz() < v.dimension());
        assert_eq!(cov.tokens, 3); // "على" is a stop word
        assert_eq!(cov.known, 2); // جيش, جنيف
    }

    #[test]
    fn one_text_equals_its_row_in_a_batch() {
        let v = Vectorizer::fit(PipelineConfig::default(), TfIdfConfig::default(), &TRAIN);
        let batch = v.transform_batch(&TRAIN);
        for (i, text) in TRAIN.iter().enumerate() {
            assert_eq!(v.transform(text).0, batch[i]);
        }
        // And idf is the fitted one, not recomputed from the transformed text.
        let single = v.transform(TRAIN[0]).0;
        assert!(single.values.iter().all(|&w| w < 1.0));
    }

    #[test]
    fn unknown_text_has_zero_vector_and_zero_coverage() {
        let v = fitted();
        let (x, cov) = v.transform("كرة القدم والطقس");
        assert_eq!(x.nnz(), 0);
        assert_eq!(cov.known, 0);
        assert_eq!(cov.ratio(), 0.0);
    }

    #[test]
    fn from_parts_rejects_inconsistent_parts() {
        let v = fitted();
        let mut idf = v.idf().to_vec();
        idf.pop();
        let err = Vectorizer::from_parts(*v.pipeline(), *v.config(), v.terms().to_vec(), idf);
        assert!(err.is_err());
    }

    #[test]
    fn two_vectorizers_on_one_thread_do_not_share_cache_entries() {
        let a = fitted();
        let b = Vectorizer::fit(words_only(), TfIdfConfig::default(), &TRAIN[..1]);
        let xa = a.transform(TRAIN[2]).0;
        let xb = b.transform(TRAIN[2]).0;
        assert!(xa.nnz() > 0);
        assert_eq!(xb.nnz(), 0);
        assert_eq!(a.transform(TRAIN[2]).0, xa);
    }
}
