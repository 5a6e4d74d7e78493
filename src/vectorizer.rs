//! Features of a text: TF-IDF over a fitted vocabulary (sparse, l2-normalized), and,
//! when the model has word vectors, the idf-weighted mean of its words' vectors.
//!
//! Feature ids `0..V` are the vocabulary's terms; with an [`Embedding`], ids
//! `V..V + dims` are the dimensions of `scale · Σ idf_w·v_w / Σ idf_w` over the text's
//! words `w` that have a vector `v_w` (corpus idf; repeats count each time). Both parts
//! are linear in what each word contributes, which is what lets [`crate::scoring`] cache
//! a word's whole contribution.
//!
//! The vocabulary and idf are fitted once on the training segments and stored in the
//! model; transforming a text never recomputes them (unlike linfa-preprocessing's
//! `TfIdfVectorization`, which derives idf from the documents it transforms). Vectors are
//! sparse: a request costs memory proportional to its own words, never to the vocabulary.
//!
//! Hot path: each distinct raw word (as written, presentation forms expanded:
//! [`crate::text::tokenize::for_each_raw_word`]) is normalized and analyzed (stemmed,
//! split into n-grams, looked up) once per thread and its feature ids cached, so
//! vectorizing a text costs a hash lookup per word. Classification goes one step further in
//! [`crate::scoring`].

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use ndarray::Array2;
use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Deserialize, Serialize};

use crate::embedding::WordVectors;
use crate::error::ModelError;
use crate::text::{Analyzer, PipelineConfig};

/// Word vectors as features: which vectors, and the weight of their mean next to the
/// (unit-length) TF-IDF part.
#[derive(Debug, Clone)]
pub struct Embedding {
    pub vectors: Arc<WordVectors>,
    pub scale: f32,
}

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

/// A sparse vector: distinct `indices` (increasing, unless made by
/// [`Vectorizer::transform_unsorted`]) with their `values`.
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
    /// Tokens the model knows: the word or stem is in the vocabulary, or it has a vector.
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

/// What the vectorizer makes of one raw word.
#[derive(Debug, Clone, Default)]
pub(crate) struct WordEntry {
    /// Vocabulary ids of its features (may repeat).
    pub ids: Box<[u32]>,
    /// Counts as a token for coverage: false for stop words and for words normalization
    /// empties.
    pub counted: bool,
    /// Its word or stem is in the vocabulary, or it has a word vector.
    pub known: bool,
    /// Its row in the word vectors, if it has one.
    pub vector: Option<u32>,
}

impl WordEntry {
    /// Its share of a text's [`Coverage`].
    #[inline]
    pub fn coverage(&self) -> Coverage {
        Coverage {
            tokens: u32::from(self.counted),
            known: u32::from(self.known),
        }
    }
}

/// Per-thread word cache of [`Vectorizer::transform`], tagged with the vectorizer it
/// belongs to. (Classification has its own, richer one in [`crate::scoring`].)
struct WordCache {
    owner: u64,
    /// hashbrown's map for `entry_ref`: one hash and one probe per word, hit or miss.
    words: hashbrown::HashMap<String, WordEntry, rustc_hash::FxBuildHasher>,
}

/// Beyond this many distinct words a cache starts over, bounding memory whatever
/// callers send (random text has no repeated words to benefit from it anyway).
const CACHE_MAX_WORDS: usize = 100_000;

impl WordCache {
    const fn new() -> Self {
        Self {
            owner: 0,
            words: hashbrown::HashMap::with_hasher(rustc_hash::FxBuildHasher),
        }
    }

    /// Makes the cache `owner`'s, emptying it if it was another's or has grown too big.
    fn claim(&mut self, owner: u64) {
        if self.owner != owner || self.words.len() > CACHE_MAX_WORDS {
            self.owner = owner;
            self.words.clear();
        }
    }

    /// The entry of `word`, made by `make` the first time.
    #[inline]
    fn get_or_insert_with(&mut self, word: &str, make: impl FnOnce() -> WordEntry) -> &WordEntry {
        self.words.entry_ref(word).or_insert_with(make)
    }
}

/// A fresh id for a cache owner.
pub(crate) fn next_cache_owner() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

thread_local! {
    static CACHE: RefCell<WordCache> = const { RefCell::new(WordCache::new()) };
    static SCRATCH: RefCell<Scratch> = const { RefCell::new(Scratch { word: String::new(), touched: Vec::new(), counts: Vec::new() }) };
}

/// Per-thread working memory of [`Vectorizer::transform`], reused across calls.
struct Scratch {
    /// The word being read.
    word: String,
    /// Feature ids seen in the current text, each once.
    touched: Vec<u32>,
    /// Occurrences of each feature id in the current text (zero outside `touched`).
    counts: Vec<u32>,
}

/// tf for counts below this come from a table; `ln` per feature per text was a hot spot.
const TF_TABLE: usize = 32;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Term frequency of a feature occurring `count` times.
fn tf(sublinear: bool, count: u32) -> f32 {
    if count == 0 {
        0.0
    } else if sublinear {
        1.0 + (count as f32).ln()
    } else {
        count as f32
    }
}

/// The hash of the vocabulary index and of the scorer's word table.
pub(crate) fn fx_hash(bytes: &[u8]) -> u64 {
    use std::hash::BuildHasher;
    rustc_hash::FxBuildHasher.hash_one(bytes)
}

/// A fitted TF-IDF vectorizer.
#[derive(Debug)]
pub struct Vectorizer {
    analyzer: Analyzer,
    config: TfIdfConfig,
    terms: Vec<String>,
    idf: Vec<f32>,
    /// Term → id: ids into `terms`, hashed by their term (no second copy of the strings).
    index: hashbrown::HashTable<u32>,
    /// Distinguishes this vectorizer's entries in the per-thread cache.
    id: u64,
    /// tf of counts 0..TF_TABLE.
    tf: [f32; TF_TABLE],
    embedding: Option<Embedding>,
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
        let mut index = hashbrown::HashTable::with_capacity(terms.len());
        for (id, term) in terms.iter().enumerate() {
            index.insert_unique(fx_hash(term.as_bytes()), id as u32, |&i: &u32| {
                fx_hash(terms[i as usize].as_bytes())
            });
        }
        let tf = std::array::from_fn(|count| tf(config.sublinear_tf, count as u32));
        Self {
            analyzer,
            config,
            terms,
            idf,
            index,
            id: next_cache_owner(),
            tf,
            embedding: None,
        }
    }

    /// Adds word-vector features (ids after the vocabulary's).
    pub fn with_embedding(mut self, embedding: Option<Embedding>) -> Result<Self, ModelError> {
        if let Some(e) = &embedding {
            let (theirs, ours) = (&e.vectors.header().pipeline, self.pipeline());
            // Vectors are keyed by normalized words with stop words dropped; the model's
            // n-gram and stem settings do not change the keys.
            if theirs.normalizer != ours.normalizer
                || theirs.features.stop_words != ours.features.stop_words
            {
                return Err(ModelError::Invalid(
                    "the word vectors were made with another text pipeline than the model's".into(),
                ));
            }
            if !(e.scale.is_finite() && e.scale > 0.0) {
                return Err(ModelError::Invalid(format!(
                    "vector scale must be positive, is {}",
                    e.scale
                )));
            }
        }
        self.embedding = embedding;
        self.id = next_cache_owner();
        Ok(self)
    }

    pub fn embedding(&self) -> Option<&Embedding> {
        self.embedding.as_ref()
    }

    /// Number of TF-IDF features (the vocabulary's terms).
    pub fn vocabulary_len(&self) -> usize {
        self.terms.len()
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

    /// Number of features: vocabulary terms, then vector dimensions.
    pub fn dimension(&self) -> usize {
        self.terms.len() + self.embedding.as_ref().map_or(0, |e| e.vectors.dims())
    }

    /// The name of feature `id`: its term, or `v:N` for vector dimension N.
    pub fn feature_name(&self, id: usize) -> String {
        match self.terms.get(id) {
            Some(t) => t.clone(),
            None => format!("v:{}", id - self.terms.len()),
        }
    }

    /// The id of `term`, if it is in the vocabulary.
    pub fn lookup(&self, term: &str) -> Option<u32> {
        self.index
            .find(fx_hash(term.as_bytes()), |&i| {
                self.terms[i as usize] == term
            })
            .copied()
    }

    /// Term frequency of a feature occurring `count` times in a text.
    #[inline]
    pub fn tf(&self, count: u32) -> f32 {
        match self.tf.get(count as usize) {
            Some(&t) => t,
            None => tf(self.config.sublinear_tf, count),
        }
    }

    /// Normalizes and analyzes one raw word (not normalized). `buf` is scratch space.
    pub(crate) fn analyze_raw_word(&self, raw: &str, buf: &mut String) -> WordEntry {
        buf.clear();
        self.analyzer.normalizer().normalize_into(raw, buf);
        if buf.is_empty() {
            return WordEntry::default();
        }
        let wf = self.analyzer.word_features(buf);
        let lookup = |f: &String| self.lookup(f);
        let vector = match &self.embedding {
            Some(e) if !wf.stop => self
                .analyzer
                .word_key(buf)
                .and_then(|key| e.vectors.lookup(key)),
            _ => None,
        };
        let known = vector.is_some()
            || wf.features[..wf.word_level]
                .iter()
                .any(|f| lookup(f).is_some());
        WordEntry {
            ids: wf.features.iter().filter_map(lookup).collect(),
            counted: !wf.stop,
            known,
            vector,
        }
    }

    /// The TF-IDF vector of `text`, and how much of it the vocabulary covers.
    pub fn transform(&self, text: &str) -> (SparseVector, Coverage) {
        self.vectorize(text, true)
    }

    /// [`Vectorizer::transform`] without ordering the indices (each still appears once).
    pub fn transform_unsorted(&self, text: &str) -> (SparseVector, Coverage) {
        self.vectorize(text, false)
    }

    /// The tf-idf vector of `text` (indices in increasing order if `sorted`) and its
    /// coverage: count each feature, weigh it, l2-normalize.
    fn vectorize(&self, text: &str, sorted: bool) -> (SparseVector, Coverage) {
        CACHE.with_borrow_mut(|cache| {
            cache.claim(self.id);
            SCRATCH.with_borrow_mut(|scratch| {
                let Scratch {
                    word,
                    touched,
                    counts,
                } = scratch;
                if counts.len() < self.terms.len() {
                    counts.resize(self.terms.len(), 0);
                }
                let mut coverage = Coverage::default();
                let dims = self.embedding.as_ref().map_or(0, |e| e.vectors.dims());
                let mut mean = vec![0.0f32; dims];
                let mut weight = 0.0f32;
                crate::text::tokenize::for_each_raw_word(text, |raw| {
                    let entry = cache.get_or_insert_with(raw, || self.analyze_raw_word(raw, word));
                    coverage.add(entry.coverage());
                    if let (Some(row), Some(e)) = (entry.vector, &self.embedding) {
                        let idf = e.vectors.idf(row);
                        weight += idf;
                        for (m, x) in mean.iter_mut().zip(e.vectors.vector(row)) {
                            *m += idf * x;
                        }
                    }
                    for &id in entry.ids.iter() {
                        let count = &mut counts[id as usize];
                        if *count == 0 {
                            touched.push(id);
                        }
                        *count += 1;
                    }
                });
                if sorted {
                    touched.sort_unstable();
                }
                let mut v = SparseVector {
                    indices: Vec::with_capacity(touched.len()),
                    values: Vec::with_capacity(touched.len()),
                };
                let mut norm2 = 0.0f32;
                for &id in touched.iter() {
                    let count = std::mem::take(&mut counts[id as usize]);
                    let w = self.tf(count) * self.idf[id as usize];
                    norm2 += w * w;
                    v.indices.push(id);
                    v.values.push(w);
                }
                touched.clear();
                if norm2 > 0.0 {
                    let inv = 1.0 / norm2.sqrt();
                    v.values.iter_mut().for_each(|x| *x *= inv);
                }
                if let (Some(e), true) = (&self.embedding, weight > 0.0) {
                    let base = self.terms.len() as u32;
                    for (d, m) in mean.iter().enumerate() {
                        v.indices.push(base + d as u32);
                        v.values.push(e.scale * m / weight);
                    }
                }
                (v, coverage)
            })
        })
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
        PipelineConfig {
            features: crate::text::FeatureConfig {
                stop_words: true,
                words: true,
                stems: false,
                char_ngram_min: 0,
                char_ngram_max: 0,
            },
            ..PipelineConfig::default()
        }
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
    fn unsorted_transform_has_the_same_entries() {
        let v = Vectorizer::fit(PipelineConfig::default(), TfIdfConfig::default(), &TRAIN);
        let (sorted, c1) = v.transform(TRAIN[1]);
        let (unsorted, c2) = v.transform_unsorted(TRAIN[1]);
        assert_eq!(c1, c2);
        let mut pairs: Vec<(u32, f32)> =
            unsorted.indices.into_iter().zip(unsorted.values).collect();
        pairs.sort_by_key(|p| p.0);
        let expected: Vec<(u32, f32)> = sorted.indices.into_iter().zip(sorted.values).collect();
        assert_eq!(pairs, expected);
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
