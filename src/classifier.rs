//! Article classification: segment → vectorize → classify each segment → aggregate.
//!
//! Aggregation follows the labelling guide's last section: an article's share of a label
//! is the sum over its segments of (segment length in characters × the segment's
//! probability of that label), divided by the total length — lengths as read, a
//! presentation-form ligature (ﻻ) counting as the letters it stands for; `primary` is the
//! label with the largest share; `topics` are the topic labels (never `other`) with a
//! share of at least the threshold (20 % by default), largest first.

use std::sync::{Arc, OnceLock};

use rustc_hash::FxHashMap;

use crate::embedding::WordVectors;
use crate::error::{InputError, ModelError};
use crate::model::{Calibration, ModelFile};
use crate::scoring::Scorer;
use crate::text::normalize::expansion_growth;
use crate::text::{has_arabic_letter, segment, Span};
use crate::vectorizer::{Coverage, SparseVector, Vectorizer};
use crate::OTHER;

/// The model shipped in the binary (`models/tasnif.json`).
pub const EMBEDDED_MODEL: &[u8] = include_bytes!("../models/tasnif.json");

/// [`EMBEDDED_MODEL`] as build.rs split it for a fast start: the file without its large
/// arrays, and those arrays in binary ([`ModelFile::from_split`]).
const EMBEDDED_MODEL_META: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/model_meta.json"));
const EMBEDDED_MODEL_ARRAYS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/model_arrays.bin"));

/// The embedded word vectors, parsed once per process and shared by every model that
/// uses them.
pub fn embedded_vectors() -> Result<Arc<WordVectors>, ModelError> {
    static VECTORS: OnceLock<Arc<WordVectors>> = OnceLock::new();
    if let Some(v) = VECTORS.get() {
        return Ok(Arc::clone(v));
    }
    let v = Arc::new(WordVectors::embedded()?);
    Ok(Arc::clone(VECTORS.get_or_init(|| v)))
}

/// A text is flagged out of domain when the model knows (has a vocabulary term or a word
/// vector for) less than this share of its words — or less than the calibrated threshold,
/// if that is higher. The flag informs; the probabilities come from the model, which
/// learned what `other` looks like.
pub const OUT_OF_DOMAIN_FLOOR: f32 = 0.5;

/// Default minimum share for a topic.
pub const DEFAULT_TOPIC_THRESHOLD: f32 = 0.2;

/// Per-call options. [`Options::default`] is what `Classify` does with no options.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options {
    pub topic_threshold: f32,
    /// Number of terms per label to explain (0 = no explanation).
    pub explain_top_n: usize,
    /// Longest accepted text, in characters.
    pub max_chars: usize,
    /// Over `max_chars`: classify the first `max_chars` characters instead of failing.
    pub truncate: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            topic_threshold: DEFAULT_TOPIC_THRESHOLD,
            explain_top_n: 0,
            max_chars: 1_000_000,
            truncate: false,
        }
    }
}

/// One classified segment.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentResult {
    pub span: Span,
    /// Probability of each label, in model label order.
    pub probabilities: Vec<f32>,
    pub label: usize,
    pub coverage: Coverage,
}

/// A word's contribution to a label's score: everything the word brings (its word
/// feature, its character n-grams, its vector), summed.
#[derive(Debug, Clone, PartialEq)]
pub struct Contribution {
    /// The word as written in the text.
    pub term: String,
    pub contribution: f32,
}

/// A classified article.
#[derive(Debug, Clone, PartialEq)]
pub struct Article {
    /// Share of each label, in model label order; sums to 1.
    pub shares: Vec<f32>,
    pub primary: usize,
    /// Topic label indices, largest share first.
    pub topics: Vec<usize>,
    pub coverage: Coverage,
    pub out_of_domain: bool,
    pub segments: Vec<SegmentResult>,
    /// Per label (model order), its top terms; empty unless asked.
    pub explanations: Vec<Vec<Contribution>>,
    /// Characters classified (after truncation).
    pub characters: usize,
    pub truncated: bool,
}

/// A vectorized text.
#[derive(Debug, Clone, PartialEq)]
pub struct Vectorized {
    pub vector: SparseVector,
    pub coverage: Coverage,
    pub truncated: bool,
    /// Characters vectorized (after truncation).
    pub characters: usize,
    /// Segments the text splits into (it is vectorized whole; [`Classifier::classify`]
    /// would score these one by one).
    pub segments: usize,
}

/// Lets a caller bound and interrupt a classification: [`Classifier::classify_with`] asks
/// [`Control::admit`] once the text is segmented, before any scoring (the answer and the
/// work grow with the segment count), and [`Control::proceed`] between segments. Either
/// may stop the work with the caller's own reason (`Stop`).
pub trait Control {
    type Stop;
    /// The text has `segments` segments; `Err` refuses it before any scoring.
    fn admit(&self, segments: usize) -> Result<(), Self::Stop>;
    /// Called between segments; `Err` stops the classification there.
    fn proceed(&self) -> Result<(), Self::Stop>;
}

/// Runs to the end: what [`Classifier::classify`] uses.
pub struct Unbounded;

impl Control for Unbounded {
    type Stop = std::convert::Infallible;
    fn admit(&self, _segments: usize) -> Result<(), Self::Stop> {
        Ok(())
    }
    fn proceed(&self) -> Result<(), Self::Stop> {
        Ok(())
    }
}

/// Why [`Classifier::classify_with`] returned no article.
#[derive(Debug, Clone, PartialEq)]
pub enum Halted<S> {
    /// The text was refused.
    Input(InputError),
    /// The [`Control`] stopped the work.
    Stopped(S),
}

/// Segments scored between two [`Control::proceed`] checks.
const SEGMENTS_PER_CHECK: usize = 16;

/// A loaded model, ready to classify. Cheap to share between threads.
#[derive(Debug)]
pub struct Classifier {
    scorer: Scorer,
    calibration: Calibration,
    other: Option<usize>,
    file: ModelFile,
    sha256: String,
}

/// What names a model being loaded: its SHA-256, known already (the embedded model's,
/// computed by build.rs), or to be computed from its file's bytes.
enum Version<'a> {
    Known(&'static str),
    HashOf(&'a [u8]),
}

impl Classifier {
    /// Loads a model file's bytes; a model with word vectors gets the embedded ones.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ModelError> {
        Self::from_bytes_with(bytes, None)
    }

    /// Loads a model file's bytes with the given word vectors (the embedded ones if
    /// `None` and the model needs vectors).
    pub fn from_bytes_with(
        bytes: &[u8],
        vectors: Option<Arc<WordVectors>>,
    ) -> Result<Self, ModelError> {
        Self::parse(
            || ModelFile::from_bytes(bytes),
            Version::HashOf(bytes),
            vectors,
        )
    }

    /// Loads the model `read` makes, named by `version`, with `vectors` (the embedded ones
    /// if `None` and the model needs vectors).
    fn parse(
        read: impl FnOnce() -> Result<ModelFile, ModelError>,
        version: Version<'_>,
        vectors: Option<Arc<WordVectors>>,
    ) -> Result<Self, ModelError> {
        let started = std::time::Instant::now();
        // Hashing (the model's version), parsing, and loading the embedded vectors are
        // independent: hash and load the vectors on short-lived threads (not rayon's global
        // pool, which the server would otherwise never start).
        let (file, sha256, vectors) = std::thread::scope(|scope| {
            // Each is either at hand already or being made on a thread.
            let sha256 = match version {
                Version::Known(sha256) => Ok(sha256.to_string()),
                Version::HashOf(bytes) => {
                    Err(scope.spawn(move || crate::model::artifact::sha256_hex(bytes)))
                }
            };
            let vectors = vectors.ok_or_else(|| scope.spawn(embedded_vectors));
            let file = read();
            (
                file,
                sha256.unwrap_or_else(|hashing| hashing.join().expect("hashing does not panic")),
                vectors.or_else(|loading| loading.join().expect("loading vectors does not panic")),
            )
        });
        let file = file?;
        // The embedded vectors' error matters only to a model that uses vectors.
        let vectors = match file.embedding {
            Some(_) => Some(vectors?),
            None => None,
        };
        let classifier = Self::from_file(file, sha256, vectors);
        tracing::debug!(elapsed = ?started.elapsed(), "model loaded");
        classifier
    }

    /// The model embedded in the binary, read from the binary form build.rs made of it
    /// (the same model, without parsing its numbers from text).
    pub fn embedded() -> Result<Self, ModelError> {
        Self::parse(
            || ModelFile::from_split(EMBEDDED_MODEL_META, EMBEDDED_MODEL_ARRAYS),
            Version::Known(crate::model::artifact::EMBEDDED_MODEL_SHA256),
            None,
        )
    }

    /// Loads a model from disk (with the embedded vectors if it needs vectors).
    pub fn load(path: &std::path::Path) -> Result<Self, ModelError> {
        Self::load_with(path, None)
    }

    /// Loads a model from disk with the given vectors.
    pub fn load_with(
        path: &std::path::Path,
        vectors: Option<Arc<WordVectors>>,
    ) -> Result<Self, ModelError> {
        let bytes = crate::model::artifact::read_bounded(path)?;
        Self::from_bytes_with(&bytes, vectors)
    }

    fn from_file(
        mut file: ModelFile,
        sha256: String,
        vectors: Option<Arc<WordVectors>>,
    ) -> Result<Self, ModelError> {
        // The inference parts move into the vectorizer and model; `file` keeps the metadata.
        let (vectorizer, model, calibration) = file.take_parts(vectors)?;
        let other = model.labels().iter().position(|l| l == OTHER);
        Ok(Self {
            scorer: Scorer::new(vectorizer, model)?,
            calibration,
            other,
            file,
            sha256,
        })
    }

    pub fn labels(&self) -> &[String] {
        self.scorer.model().labels()
    }

    /// Model metadata (the model file without vocabulary and weights).
    pub fn metadata(&self) -> &ModelFile {
        &self.file
    }

    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// Short version id: the first 12 hex digits of the file's SHA-256.
    pub fn version(&self) -> &str {
        &self.sha256[..12]
    }

    pub fn scorer(&self) -> &Scorer {
        &self.scorer
    }

    pub fn vectorizer(&self) -> &Vectorizer {
        self.scorer.vectorizer()
    }

    pub fn calibration(&self) -> &Calibration {
        &self.calibration
    }

    /// Coverage ratio under which a text is flagged out of domain
    /// ([`OUT_OF_DOMAIN_FLOOR`] or the calibrated threshold, whichever is higher).
    pub fn ood_threshold(&self) -> f32 {
        self.calibration.ood_threshold.max(OUT_OF_DOMAIN_FLOOR)
    }

    /// Checks a text and cuts it to `max_chars` when allowed.
    fn accept<'t>(&self, text: &'t str, options: &Options) -> Result<(&'t str, bool), InputError> {
        if text.trim().is_empty() {
            return Err(InputError::Empty);
        }
        // A text of at most max_chars bytes has at most max_chars characters.
        let cut = if text.len() <= options.max_chars {
            None
        } else {
            text.char_indices().nth(options.max_chars)
        };
        let (text, truncated) = match cut {
            None => (text, false),
            Some(_) if !options.truncate => {
                return Err(InputError::TooLong {
                    chars: text.chars().count(),
                    limit: options.max_chars,
                })
            }
            Some((byte, _)) => (&text[..byte], true),
        };
        if !has_arabic_letter(text) {
            return Err(InputError::NoArabic);
        }
        if !(options.topic_threshold > 0.0 && options.topic_threshold <= 1.0) {
            return Err(InputError::BadThreshold(options.topic_threshold));
        }
        Ok((text, truncated))
    }

    /// Classifies a whole article.
    pub fn classify(&self, text: &str, options: &Options) -> Result<Article, InputError> {
        self.classify_with(text, options, &Unbounded)
            .map_err(|halted| match halted {
                Halted::Input(e) => e,
                Halted::Stopped(never) => match never {},
            })
    }

    /// Classifies a whole article under a [`Control`] that can refuse it once its size is
    /// known and stop it between segments.
    pub fn classify_with<C: Control>(
        &self,
        text: &str,
        options: &Options,
        control: &C,
    ) -> Result<Article, Halted<C::Stop>> {
        let (text, truncated) = self.accept(text, options).map_err(Halted::Input)?;
        let k = self.labels().len();
        let spans = segment(text);
        control.admit(spans.len()).map_err(Halted::Stopped)?;
        let characters = characters(text, &spans);
        let mut shares = vec![0.0f32; k];
        let mut coverage = Coverage::default();
        let mut total = 0usize;
        let mut segments = Vec::with_capacity(spans.len());
        let mut explained: Vec<(usize, &str)> = Vec::new();
        for (i, span) in spans.into_iter().enumerate() {
            if i % SEGMENTS_PER_CHECK == SEGMENTS_PER_CHECK - 1 {
                control.proceed().map_err(Halted::Stopped)?;
            }
            let segment_text = span.text(text);
            let mut scores = vec![0.0f32; k];
            let cov = self.scorer.scores(segment_text, &mut scores);
            self.calibration.apply(&mut scores, cov, self.other);
            let probabilities = scores;
            // Its length as read: a ligature (ﻻ) counts as the letters it stands for, so
            // text in presentation forms gets the shares of the same text in ordinary
            // letters. (Offsets and `characters` stay those of the text as sent.)
            let len = span.chars() + expansion_growth(segment_text);
            for (s, p) in shares.iter_mut().zip(&probabilities) {
                *s += len as f32 * p;
            }
            total += len;
            coverage.add(cov);
            segments.push(SegmentResult {
                span,
                label: crate::model::train::argmax(&probabilities),
                probabilities,
                coverage: cov,
            });
            if options.explain_top_n > 0 {
                explained.push((len, segment_text));
            }
        }
        // accept() guarantees an Arabic letter, hence at least one segment.
        let total = total.max(1) as f32;
        shares.iter_mut().for_each(|s| *s /= total);
        let primary = crate::model::train::argmax(&shares);
        let mut topics: Vec<usize> = (0..k)
            .filter(|&c| Some(c) != self.other && shares[c] >= options.topic_threshold)
            .collect();
        topics.sort_by(|&a, &b| shares[b].total_cmp(&shares[a]));
        let explanations = if options.explain_top_n > 0 {
            self.explain(&explained, total, options.explain_top_n)
        } else {
            Vec::new()
        };
        Ok(Article {
            primary,
            topics,
            out_of_domain: coverage.ratio() < self.ood_threshold(),
            coverage,
            shares,
            segments,
            explanations,
            characters,
            truncated,
        })
    }

    /// Top words per label, each word's contribution summed over segments weighted by
    /// their share of the text (exactly how the shares weigh the segments).
    fn explain(
        &self,
        segments: &[(usize, &str)],
        total: f32,
        top_n: usize,
    ) -> Vec<Vec<Contribution>> {
        let k = self.labels().len();
        let mut sums: FxHashMap<String, Vec<f32>> = FxHashMap::default();
        for (len, text) in segments {
            let w = *len as f32 / total;
            for (word, contribution) in self.word_contributions(text) {
                let sum = sums.entry(word).or_insert_with(|| vec![0.0; k]);
                for (s, c) in sum.iter_mut().zip(contribution) {
                    *s += w * c;
                }
            }
        }
        (0..k)
            .map(|c| {
                let mut terms: Vec<(&String, f32)> = sums
                    .iter()
                    .map(|(word, v)| (word, v[c]))
                    .filter(|(_, v)| *v > 0.0)
                    .collect();
                terms.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
                terms
                    .into_iter()
                    .take(top_n)
                    .map(|(word, v)| Contribution {
                        term: word.clone(),
                        contribution: v,
                    })
                    .collect()
            })
            .collect()
    }

    /// Every distinct word of a segment (as written) and its contribution to each label's
    /// raw score; they add up, with the bias, to the segment's raw scores. A feature that
    /// occurs n times is shared equally by its n occurrences; a word's vector part is its
    /// share of the mean vector's score.
    pub fn word_contributions(&self, text: &str) -> Vec<(String, Vec<f32>)> {
        let k = self.labels().len();
        let vectorizer = self.vectorizer();
        let model = self.scorer.model();
        let idf = vectorizer.idf();
        let mut buf = String::new();
        let mut words: Vec<(&str, crate::vectorizer::WordEntry)> = Vec::new();
        crate::text::tokenize::for_each_written_word(text, |word, written| {
            words.push((written, vectorizer.analyze_raw_word(word, &mut buf)));
        });
        let mut counts: FxHashMap<u32, u32> = FxHashMap::default();
        let mut vweight = 0.0f32;
        for (_, e) in &words {
            for &id in e.ids.iter() {
                *counts.entry(id).or_default() += 1;
            }
            if let (Some(row), Some(emb)) = (e.vector, vectorizer.embedding()) {
                vweight += emb.vectors.idf(row);
            }
        }
        let norm = counts
            .iter()
            .map(|(&id, &n)| (vectorizer.tf(n) * idf[id as usize]).powi(2))
            .sum::<f32>()
            .sqrt();
        let mut out: Vec<(String, Vec<f32>)> = Vec::new();
        let mut index: FxHashMap<&str, usize> = FxHashMap::default();
        for (raw, e) in &words {
            let mut c = vec![0.0f32; k];
            if norm > 0.0 {
                for &id in e.ids.iter() {
                    let n = counts[&id];
                    let x = vectorizer.tf(n) * idf[id as usize] / norm / n as f32;
                    for (c, w) in c.iter_mut().zip(model.row(id as usize)) {
                        *c += x * w;
                    }
                }
            }
            if let (Some(row), Some(emb)) = (e.vector, vectorizer.embedding()) {
                let share = emb.scale * emb.vectors.idf(row) / vweight;
                let base = vectorizer.vocabulary_len();
                for (d, x) in emb.vectors.vector(row).enumerate() {
                    for (c, w) in c.iter_mut().zip(model.row(base + d)) {
                        *c += share * x * w;
                    }
                }
            }
            if c.iter().all(|v| *v == 0.0) {
                continue;
            }
            let i = *index.entry(raw).or_insert_with(|| {
                out.push((raw.to_string(), vec![0.0; k]));
                out.len() - 1
            });
            for (s, v) in out[i].1.iter_mut().zip(c) {
                *s += v;
            }
        }
        out
    }

    /// The TF-IDF vector of a whole text.
    pub fn vectorize(&self, text: &str, options: &Options) -> Result<Vectorized, InputError> {
        let (text, truncated) = self.accept(text, options)?;
        let spans = segment(text);
        let (vector, coverage) = self.vectorizer().transform(text);
        Ok(Vectorized {
            vector,
            coverage,
            truncated,
            characters: characters(text, &spans),
            segments: spans.len(),
        })
    }
}

/// Characters in `text`, whose segments are `spans`: the spans already counted the
/// characters up to the last one's end.
fn characters(text: &str, spans: &[Span]) -> usize {
    spans.last().map_or_else(
        || text.chars().count(),
        |s| s.end + text[s.byte_end..].chars().count(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classifier() -> Classifier {
        Classifier::embedded().expect("embedded model loads")
    }

    const TEXT: &str = "سيطر الجيش السوري على مدينة البوكمال بعد اشتباكات عنيفة مع مسلحي داعش.\n\
        وأعلن المبعوث الأممي أن الجولة المقبلة من المحادثات في جنيف ستعقد الشهر المقبل.";

    #[test]
    fn the_split_embedded_model_reads_as_its_json_file() {
        let whole = ModelFile::from_bytes(EMBEDDED_MODEL).expect("the JSON file reads");
        let split = ModelFile::from_split(EMBEDDED_MODEL_META, EMBEDDED_MODEL_ARRAYS)
            .expect("the split form reads");
        assert!(!whole.vocabulary.is_empty() && !whole.weights.is_empty());
        assert_eq!(split, whole);
        assert_eq!(
            split.to_bytes(),
            EMBEDDED_MODEL,
            "it writes back as the shipped file"
        );

        let (fast, slow) = (
            classifier(),
            Classifier::from_bytes(EMBEDDED_MODEL).unwrap(),
        );
        assert_eq!(fast.version(), slow.version());
        let o = Options::default();
        assert_eq!(
            fast.classify(TEXT, &o).unwrap(),
            slow.classify(TEXT, &o).unwrap()
        );
    }

    #[test]
    fn damaged_split_arrays_are_parse_errors() {
        let arrays = EMBEDDED_MODEL_ARRAYS;
        for (what, bytes) in [
            ("cut short", &arrays[..arrays.len() - 3]),
            ("empty", &arrays[..0]),
        ] {
            let e = ModelFile::from_split(EMBEDDED_MODEL_META, bytes).unwrap_err();
            assert!(
                matches!(&e, ModelError::Parse(m) if m.contains("end early")),
                "{what}: {e}"
            );
        }
        let mut longer = arrays.to_vec();
        longer.push(0);
        let e = ModelFile::from_split(EMBEDDED_MODEL_META, &longer).unwrap_err();
        assert!(
            matches!(&e, ModelError::Parse(m) if m.contains("left over")),
            "{e}"
        );
    }

    #[test]
    fn shares_sum_to_one_and_follow_segment_lengths() {
        let c = classifier();
        let a = c.classify(TEXT, &Options::default()).unwrap();
        assert!((a.shares.iter().sum::<f32>() - 1.0).abs() < 1e-4);
        assert_eq!(a.segments.len(), 2);
        let total: usize = a.segments.iter().map(|s| s.span.chars()).sum();
        for (label, share) in a.shares.iter().enumerate() {
            let expected: f32 = a
                .segments
                .iter()
                .map(|s| s.span.chars() as f32 * s.probabilities[label])
                .sum::<f32>()
                / total as f32;
            assert!((share - expected).abs() < 1e-5);
        }
        assert_eq!(a.primary, crate::model::train::argmax(&a.shares));
    }

    #[test]
    fn characters_count_the_whole_text() {
        let c = classifier();
        for text in [TEXT, "  «سانا» أعلن الجيش.\n*\n…  ", "جنيف"] {
            let a = c.classify(text, &Options::default()).unwrap();
            assert_eq!(a.characters, text.chars().count(), "{text}");
        }
    }

    #[test]
    fn topics_respect_the_threshold_and_exclude_other() {
        let c = classifier();
        let a = c.classify(TEXT, &Options::default()).unwrap();
        for &t in &a.topics {
            assert!(a.shares[t] >= DEFAULT_TOPIC_THRESHOLD);
            assert_ne!(c.labels()[t], OTHER);
        }
        let all = c
            .classify(
                TEXT,
                &Options {
                    topic_threshold: 1e-6,
                    ..Options::default()
                },
            )
            .unwrap();
        assert_eq!(
            all.topics.len(),
            c.labels().iter().filter(|l| *l != OTHER).count()
        );
        assert!(all
            .topics
            .windows(2)
            .all(|w| all.shares[w[0]] >= all.shares[w[1]]));
    }

    #[test]
    fn bad_input_is_a_typed_error() {
        let c = classifier();
        let o = Options::default();
        assert_eq!(c.classify("", &o).unwrap_err(), InputError::Empty);
        assert_eq!(c.classify(" \n\t", &o).unwrap_err(), InputError::Empty);
        assert_eq!(
            c.classify("Hello world.", &o).unwrap_err(),
            InputError::NoArabic
        );
        let bad = Options {
            topic_threshold: 1.5,
            ..o
        };
        assert_eq!(
            c.classify(TEXT, &bad).unwrap_err(),
            InputError::BadThreshold(1.5)
        );
        let short = Options { max_chars: 10, ..o };
        assert!(matches!(
            c.classify(TEXT, &short),
            Err(InputError::TooLong { limit: 10, .. })
        ));
    }

    #[test]
    fn truncation_classifies_the_first_characters() {
        let c = classifier();
        let o = Options {
            max_chars: 20,
            truncate: true,
            ..Options::default()
        };
        let a = c.classify(TEXT, &o).unwrap();
        assert!(a.truncated);
        assert_eq!(a.characters, 20);
        assert!(a.segments.iter().all(|s| s.span.end <= 20));
    }

    #[test]
    fn explanations_decompose_the_scores() {
        let c = classifier();
        let o = Options {
            explain_top_n: 3,
            ..Options::default()
        };
        let a = c.classify(TEXT, &o).unwrap();
        assert_eq!(a.explanations.len(), c.labels().len());
        for terms in &a.explanations {
            assert!(terms.len() <= 3);
            assert!(terms
                .windows(2)
                .all(|w| w[0].contribution >= w[1].contribution));
            assert!(terms.iter().all(|t| t.contribution > 0.0));
        }
        let military = c.labels().iter().position(|l| l == "military").unwrap();
        assert!(!a.explanations[military].is_empty());
    }

    #[test]
    fn word_contributions_add_up_to_the_scores_and_name_words_as_written() {
        let c = classifier();
        for text in [
            "سيطر الجيش السوري على مدينة البوكمال بعد اشتباكات عنيفة مع مسلحي داعش",
            "المفاوضات المفاوضات في جنيف وجنيف، والمفاوضين",
            "قصفت الطائرات الحربية مواقع المسلحين",
        ] {
            let mut raw = vec![0.0f32; c.labels().len()];
            c.scorer().scores(text, &mut raw);
            let words = c.word_contributions(text);
            for (label, score) in raw.iter().enumerate() {
                let sum: f32 = words.iter().map(|(_, v)| v[label]).sum();
                let bias = c.scorer().model().bias()[label];
                assert!(
                    (sum + bias - score).abs() < 1e-3,
                    "{text}: {sum} + {bias} vs {score}"
                );
            }
            // Every explained term is a word of the text as written, never a feature id.
            assert!(words
                .iter()
                .all(|(w, _)| text.contains(w.as_str()) && !w.contains(':')));
        }
    }

    #[test]
    fn words_the_seeds_never_used_are_understood_through_their_vectors() {
        let c = classifier();
        let label = |text: &str| {
            let a = c.classify(text, &Options::default()).unwrap();
            (c.labels()[a.primary].clone(), a.shares[a.primary])
        };
        // Warplanes shelled the militants' positions: no word of it is in the seeds.
        let (military, p) = label("قصفت الطائرات الحربية مواقع المسلحين");
        assert_eq!(military, "military");
        // Calibrated: a five-word sentence is never certain.
        assert!(p < 0.995, "{p}");
        // A football result is `other` because the model learned what `other` looks like.
        let (sport, _) = label("فاز الفريق بثلاثة أهداف في المباراة النهائية للبطولة");
        assert_eq!(sport, OTHER);
    }

    #[test]
    fn unfamiliar_text_leans_to_other() {
        let c = classifier();
        let a = c
            .classify("زززز ققققق ثثثثث ضضضض", &Options::default())
            .unwrap();
        assert!(a.out_of_domain);
        assert_eq!(c.labels()[a.primary], OTHER);
        assert_eq!(a.coverage.known, 0);
    }

    #[test]
    fn presentation_forms_classify_like_ordinary_letters() {
        let c = classifier();
        // Two segments, with lam-alef ligatures (خلال, الاشتباكات) once shaped.
        let plain = "سيطر الجيش السوري على مدينة البوكمال خلال الاشتباكات العنيفة مع مسلحي داعش.\n\
            وأعلن المبعوث الأممي أن الجولة المقبلة من المحادثات في جنيف ستعقد الشهر المقبل.";
        let shaped = crate::text::normalize::shape_for_tests(plain);
        assert!(shaped.contains('\u{FEFC}'));
        // Fewer characters: each ligature is one.
        assert!(shaped.chars().count() < plain.chars().count());
        let o = Options {
            explain_top_n: 5,
            ..Options::default()
        };
        let a = c.classify(plain, &o).unwrap();
        let b = c.classify(&shaped, &o).unwrap();
        assert_eq!(b.primary, a.primary);
        assert_eq!(b.topics, a.topics);
        assert_eq!(b.coverage, a.coverage);
        assert_eq!(b.out_of_domain, a.out_of_domain);
        // Each segment reads the same words: the same probabilities; and the shares weigh
        // segments by their length as read, ligatures counting as their letters.
        assert_eq!(b.segments.len(), 2);
        for (sa, sb) in a.segments.iter().zip(&b.segments) {
            assert_eq!(sb.label, sa.label);
            assert_eq!(sb.coverage, sa.coverage);
            for (pa, pb) in sa.probabilities.iter().zip(&sb.probabilities) {
                assert!((pa - pb).abs() < 1e-6, "{pa} vs {pb}");
            }
        }
        for (x, y) in a.shares.iter().zip(&b.shares) {
            assert!((x - y).abs() < 1e-6, "{x} vs {y}");
        }
        // Offsets are into the text sent: code points and bytes of `shaped`.
        let chars: Vec<char> = shaped.chars().collect();
        assert_eq!(b.characters, chars.len());
        let lines: Vec<&str> = shaped.lines().collect();
        for (span, line) in b.segments.iter().map(|s| s.span).zip(lines) {
            assert_eq!(span.text(&shaped), line);
            assert_eq!(chars[span.start..span.end].iter().collect::<String>(), line);
        }
        assert_eq!(b.segments[1].span.start, lines_start(&shaped, 1));
        // Explained terms are words as written in the text sent, with the same weights.
        for (ta, tb) in a.explanations.iter().zip(&b.explanations) {
            assert_eq!(ta.len(), tb.len());
            for (x, y) in ta.iter().zip(tb) {
                assert!(shaped.contains(&y.term), "{}", y.term);
                assert_eq!(
                    crate::text::normalize::expand_presentation_forms(&y.term),
                    x.term
                );
                assert!((x.contribution - y.contribution).abs() < 1e-4);
            }
        }
    }

    /// Code-point offset of line `n` of `text`.
    fn lines_start(text: &str, n: usize) -> usize {
        text.lines().take(n).map(|l| l.chars().count() + 1).sum()
    }

    #[test]
    fn presentation_forms_are_arabic_letters() {
        let c = classifier();
        // الجيش as ﺍﻟﺠﻴﺶ: "no Arabic letters" before presentation forms were read.
        let a = c
            .classify(
                "\u{FE8D}\u{FEDF}\u{FEA0}\u{FEF4}\u{FEB6}",
                &Options::default(),
            )
            .unwrap();
        assert_eq!(a.coverage.tokens, 1);
        assert_eq!(a.coverage.known, 1);
        assert!(c.vectorize("\u{FEFB}", &Options::default()).is_ok());
    }
}
