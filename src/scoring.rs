//! Classification's hot path: TF-IDF vectorization and the linear model's dot product,
//! fused so that most of the work is done once per distinct word, not once per feature.
//!
//! A segment's raw score for label `c` is `Σ_f tf(n_f)·idf_f·w_f,c / ‖x‖` over its
//! distinct features `f` (each occurring `n_f` times), with `‖x‖² = Σ_f (tf(n_f)·idf_f)²`.
//! With sublinear tf, `tf(1) = 1`: a feature that occurs once adds exactly `idf·w` to the
//! sum and `idf²` to the squared norm. So the cache keeps, for every word as written, the
//! sums of `idf·w` (one per label) and of `idf²` over its features, and a segment costs
//! one addition per word plus a correction for the few features that occur more than
//! once: `(tf(n) − n)·idf·w` and `(tf(n)² − n)·idf²`. A bitset over the vocabulary finds
//! those repeats. The result equals scoring [`Vectorizer::transform`]'s vector with
//! [`LinearModel::scores`] up to float rounding (a test checks it).

use std::cell::RefCell;

use crate::error::ModelError;
use crate::model::LinearModel;
use crate::text::tokenize::for_each_raw_word;
use crate::vectorizer::{next_cache_owner, Coverage, Vectorizer, WordCache, WordEntry};

/// A word's precomputed part of a segment's score.
struct ScoredWord {
    /// Feature ids, to find repeats.
    entry: WordEntry,
    /// `Σ idf·w` per label, then `Σ idf²`, over the word's features.
    sums: Box<[f32]>,
}

/// Per-thread working memory of [`Scorer::scores`].
struct Scratch {
    /// Normalization buffer for cache misses.
    word: String,
    /// One bit per vocabulary feature: seen in the current segment.
    seen: Vec<u64>,
    /// Ids seen more than once in the current segment, each once.
    repeats: Vec<u32>,
    /// For ids in `repeats`: occurrences beyond the first (zero for all others).
    extra: Vec<u32>,
}

thread_local! {
    static CACHE: RefCell<WordCache<ScoredWord>> = const { RefCell::new(WordCache::new()) };
    static SCRATCH: RefCell<Scratch> = const {
        RefCell::new(Scratch { word: String::new(), seen: Vec::new(), repeats: Vec::new(), extra: Vec::new() })
    };
}

/// A vectorizer and the linear model over its features, scoring texts together.
#[derive(Debug)]
pub struct Scorer {
    vectorizer: Vectorizer,
    model: LinearModel,
    /// Distinguishes this scorer's entries in the per-thread cache.
    id: u64,
}

impl Scorer {
    pub fn new(vectorizer: Vectorizer, model: LinearModel) -> Result<Self, ModelError> {
        if model.n_features() != vectorizer.dimension() {
            return Err(ModelError::Invalid(format!(
                "the model has weights for {} features but the vocabulary has {} terms",
                model.n_features(),
                vectorizer.dimension()
            )));
        }
        if !vectorizer.config().sublinear_tf {
            // The per-word sums rely on tf(1) = 1 and on tf of a count being known;
            // raw counts would work too, but no shipped model uses them, so keep one path.
            return Err(ModelError::Invalid(
                "scoring needs sublinear tf (tfidf.sublinear_tf = true)".into(),
            ));
        }
        Ok(Self {
            vectorizer,
            model,
            id: next_cache_owner(),
        })
    }

    pub fn vectorizer(&self) -> &Vectorizer {
        &self.vectorizer
    }

    pub fn model(&self) -> &LinearModel {
        &self.model
    }

    /// The model's raw scores (before calibration) for `text`, written into `scores`
    /// (one per label), and the text's vocabulary coverage.
    pub fn scores(&self, text: &str, scores: &mut [f32]) -> Coverage {
        let k = self.model.labels().len();
        assert_eq!(scores.len(), k, "one score per label");
        let idf = self.vectorizer.idf();
        CACHE.with_borrow_mut(|cache| {
            cache.claim(self.id);
            SCRATCH.with_borrow_mut(|scratch| {
                let Scratch {
                    word,
                    seen,
                    repeats,
                    extra,
                } = scratch;
                // Cleared on entry rather than exit, so nothing can leave stale state.
                seen.clear();
                seen.resize(idf.len().div_ceil(64), 0);
                if !repeats.is_empty() {
                    extra.fill(0);
                    repeats.clear();
                }
                extra.resize(idf.len(), 0);
                scores.fill(0.0);
                let mut norm2 = 0.0f32;
                let mut coverage = Coverage::default();
                for_each_raw_word(text, |raw| {
                    let scored = cache.get_or_insert_with(raw, || self.score_word(raw, word));
                    coverage.add(scored.entry.coverage());
                    for (s, w) in scores.iter_mut().zip(&scored.sums[..k]) {
                        *s += w;
                    }
                    norm2 += scored.sums[k];
                    for &id in scored.entry.ids.iter() {
                        let (slot, bit) = ((id / 64) as usize, 1u64 << (id % 64));
                        if seen[slot] & bit != 0 {
                            let extra = &mut extra[id as usize];
                            if *extra == 0 {
                                repeats.push(id);
                            }
                            *extra += 1;
                        } else {
                            seen[slot] |= bit;
                        }
                    }
                });
                norm2 += self.correct_repeats(repeats, extra, scores);
                self.model.finish(scores, norm2.max(0.0).sqrt());
                coverage
            })
        })
    }

    /// Adds to `scores` the corrections for the features occurring more than once and
    /// returns the correction of the squared norm. Empties `repeats` and zeroes `extra`.
    fn correct_repeats(
        &self,
        repeats: &mut Vec<u32>,
        extra: &mut [u32],
        scores: &mut [f32],
    ) -> f32 {
        let idf = self.vectorizer.idf();
        let mut norm2 = 0.0f32;
        for id in repeats.drain(..) {
            let n = std::mem::take(&mut extra[id as usize]) + 1;
            let tf = self.vectorizer.tf(n);
            let idf = idf[id as usize];
            // Was counted n times with tf 1; should be once with tf(n).
            norm2 += (tf * tf - n as f32) * idf * idf;
            self.model.accumulate(scores, id, (tf - n as f32) * idf);
        }
        norm2
    }

    /// The cache entry of a word not seen before.
    fn score_word(&self, raw: &str, buf: &mut String) -> ScoredWord {
        let entry = self.vectorizer.analyze_raw_word(raw, buf);
        let k = self.model.labels().len();
        let idf = self.vectorizer.idf();
        let mut sums = vec![0.0f64; k + 1];
        for &id in entry.ids.iter() {
            let idf = f64::from(idf[id as usize]);
            for (s, w) in sums.iter_mut().zip(self.model.row(id as usize)) {
                *s += idf * f64::from(*w);
            }
            sums[k] += idf * idf;
        }
        ScoredWord {
            entry,
            sums: sums.into_iter().map(|s| s as f32).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classifier::EMBEDDED_MODEL;
    use crate::model::ModelFile;

    fn scorer() -> Scorer {
        let (vectorizer, model, _) = ModelFile::from_bytes(EMBEDDED_MODEL)
            .unwrap()
            .take_parts()
            .unwrap();
        Scorer::new(vectorizer, model).unwrap()
    }

    /// The fused path must give what vectorizing and then scoring gives.
    fn assert_same_as_two_steps(scorer: &Scorer, text: &str) {
        let (x, expected_coverage) = scorer.vectorizer().transform(text);
        let expected = scorer.model().scores(&x);
        let mut got = vec![0.0; expected.len()];
        let coverage = scorer.scores(text, &mut got);
        assert_eq!(coverage, expected_coverage, "{text}");
        for (g, e) in got.iter().zip(&expected) {
            assert!((g - e).abs() < 1e-4, "{text}: {got:?} vs {expected:?}");
        }
    }

    #[test]
    fn fused_scores_equal_vectorize_then_score() {
        let s = scorer();
        for text in [
            "سيطر الجيش السوري على مدينة البوكمال",
            // Repeated words and repeated n-grams within one segment.
            "المفاوضات المفاوضات المفاوضات في جنيف وجنيف، والمفاوضين يتفاوضون",
            "استقبل الرئيس وفداً روسياً برئاسة المبعوث الخاص، وبحث معه التعاون الثنائي",
            "في من على",
            "ـــ ًٌٍ",
            "",
            "ISIS و PKK ٢٠١٧",
        ] {
            assert_same_as_two_steps(&s, text);
        }
    }

    #[test]
    fn fused_scores_equal_vectorize_then_score_on_the_seeds() {
        let s = scorer();
        let seeds =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/seeds/labels.tsv"))
                .unwrap();
        for line in seeds.lines().skip(1) {
            let text = line.rsplit('\t').next().unwrap();
            assert_same_as_two_steps(&s, text);
        }
        // Twice: the second pass is served from the cache.
        for line in seeds.lines().skip(1).take(10) {
            assert_same_as_two_steps(&s, line.rsplit('\t').next().unwrap());
        }
    }

    #[test]
    fn mismatched_parts_are_rejected() {
        let (vectorizer, model, _) = ModelFile::from_bytes(EMBEDDED_MODEL)
            .unwrap()
            .take_parts()
            .unwrap();
        let smaller = LinearModel::new(
            model.labels().to_vec(),
            model.weights()[model.labels().len()..].to_vec(),
            model.bias().to_vec(),
        );
        assert!(Scorer::new(vectorizer, smaller).is_err());
    }
}
