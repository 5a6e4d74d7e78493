//! Classification's hot path: TF-IDF vectorization and the linear model's dot product,
//! fused so that most of the work is done once per distinct word, not once per feature.
//!
//! A segment's raw score for label `c` is `Σ_f tf(n_f)·idf_f·w_f,c / ‖x‖` over its
//! distinct features `f` (each occurring `n_f` times), with `‖x‖² = Σ_f (tf(n_f)·idf_f)²`.
//! Since `tf(1) = 1` (sublinear or raw), a feature that occurs once adds exactly `idf·w` to the
//! sum and `idf²` to the squared norm. So a per-thread table keeps, for every word as
//! written, the sums of `idf·w` (one per label) and of `idf²` over its features, and a
//! segment costs one addition per word plus a correction for the few features that occur
//! more than once: `(tf(n) − n)·idf·w` and `(tf(n)² − n)·idf²`. A one-byte stamp per
//! vocabulary feature (the last segment it was seen in) finds those repeats, without a
//! branch per feature (every id is written to a buffer; only a repeat moves its end on).
//! The result equals scoring [`Vectorizer::transform`]'s vector with
//! [`LinearModel::scores`] up to float rounding (a test checks it).
//!
//! Word vectors add `scale · Σ idf_w·(W_v·v_w) / Σ idf_w` (the vector part of the model,
//! `W_v`, applied to the idf-weighted mean of the words' vectors): linear in each word,
//! so each record also keeps the word's `idf·scale·W_v·v` (one per label) and its `idf`,
//! and the vectors cost a segment one more small addition per word, never a loop over
//! the dimensions.
//!
//! A segment is scored in two passes: find every word's record, then add the records up.
//! The lookups of the first pass do not depend on one another, so the processor overlaps
//! their memory accesses.

use std::cell::RefCell;

use crate::error::ModelError;
use crate::model::LinearModel;
use crate::text::tokenize::for_each_raw_word;
use crate::vectorizer::{fx_hash, next_cache_owner, Coverage, Vectorizer, WordEntry};

/// Beyond this many words, or bytes of records, the table starts over, bounding memory
/// whatever callers send (random text has no repeated words to benefit from it anyway).
const TABLE_MAX_WORDS: usize = 100_000;
const TABLE_MAX_BYTES: usize = 64 << 20;

/// A record's header: key length, number of ids, flags (one `u32` each, at these offsets).
const KEY_LEN: usize = 0;
const N_IDS: usize = 4;
const FLAGS: usize = 8;
const HEADER: usize = 12;
const COUNTED: u32 = 1;
const KNOWN: u32 = 2;

/// For every raw word seen (as written, presentation forms expanded), one record in a byte arena — header, the word's bytes
/// (the key), `Σ idf·w` per label and `Σ idf²` over its features, its vector part per
/// label and its vector weight (`f32`: 2k + 2 of them), then its
/// feature ids (`u16` when the vocabulary allows, else `u32`) — found through a hash table of arena offsets. One record in one
/// place makes a lookup about one cache miss, where a map of owned strings and boxed
/// slices cost four.
struct WordTable {
    offsets: hashbrown::HashTable<u32>,
    arena: Vec<u8>,
    /// Ids take four bytes (the vocabulary has more than 2¹⁶ features), else two.
    wide: bool,
}

#[inline]
fn read_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes(bytes[at..at + 4].try_into().expect("four bytes"))
}

/// The key of the record at `offset`.
#[inline]
fn key_at(arena: &[u8], offset: u32) -> &[u8] {
    let start = offset as usize + HEADER;
    &arena[start..start + read_u32(arena, offset as usize + KEY_LEN) as usize]
}

/// `a == b` for the short keys of the table, compared eight bytes at a time in registers
/// (a word is a dozen bytes or so: a call to the C library's `memcmp` costs more than the
/// comparison).
#[inline]
fn same_key(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (mut a8, mut b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let word = |c: &[u8]| u64::from_ne_bytes(c.try_into().expect("eight bytes"));
    for (x, y) in a8.by_ref().zip(b8.by_ref()) {
        if word(x) != word(y) {
            return false;
        }
    }
    a8.remainder()
        .iter()
        .zip(b8.remainder())
        .all(|(x, y)| x == y)
}

impl WordTable {
    fn clear(&mut self) {
        self.offsets.clear();
        self.arena.clear();
    }

    fn is_full(&self) -> bool {
        self.offsets.len() >= TABLE_MAX_WORDS || self.arena.len() >= TABLE_MAX_BYTES
    }

    /// The offset of `word`'s record, made by `make` (its features and sums) if it has
    /// none yet.
    #[inline]
    fn find_or_insert(&mut self, word: &[u8], make: impl FnOnce() -> (WordEntry, Vec<f32>)) -> u32 {
        let h = fx_hash(word);
        if let Some(&offset) = self
            .offsets
            .find(h, |&offset| same_key(key_at(&self.arena, offset), word))
        {
            return offset;
        }
        let (entry, sums) = make();
        let offset = u32::try_from(self.arena.len()).expect("the arena stays under 4 GiB");
        let flags = if entry.counted { COUNTED } else { 0 } | if entry.known { KNOWN } else { 0 };
        let arena = &mut self.arena;
        arena.extend_from_slice(&(word.len() as u32).to_ne_bytes());
        arena.extend_from_slice(&(entry.ids.len() as u32).to_ne_bytes());
        arena.extend_from_slice(&flags.to_ne_bytes());
        arena.extend_from_slice(word);
        sums.iter()
            .for_each(|s| arena.extend_from_slice(&s.to_ne_bytes()));
        if self.wide {
            entry
                .ids
                .iter()
                .for_each(|id| arena.extend_from_slice(&id.to_ne_bytes()));
        } else {
            // Fits: `wide` is false only for vocabularies of at most 2¹⁶ features.
            entry
                .ids
                .iter()
                .for_each(|&id| arena.extend_from_slice(&(id as u16).to_ne_bytes()));
        }
        let arena = &self.arena;
        self.offsets
            .insert_unique(h, offset, |&o| fx_hash(key_at(arena, o)));
        offset
    }
}

/// Pass 2 of [`Scorer::scores`]: adds up the records at `words` into `acc` (laid out as
/// a record's numbers: `Σ idf·w` per label, `Σ idf²`, vector part per label, vector
/// weight), stamps their feature ids as seen in `segment` and writes the repeats to
/// `dups`. Returns the accumulator, the segment's coverage and the number of repeats.
/// The accumulator goes in and out by value and no call is made in the loop, so a
/// fixed-size array stays in registers.
#[inline(always)]
fn add_up<A: AsMut<[f32]>>(
    arena: &[u8],
    wide: bool,
    words: &[u32],
    mut acc: A,
    seen: &mut [u8],
    segment: u8,
    dups: &mut Vec<u32>,
) -> (A, Coverage, usize) {
    let numbers = 4 * acc.as_mut().len();
    let mut coverage = Coverage::default();
    let mut n_dups = 0;
    // Room for every id of the segment up front: a call inside the loop would make the
    // compiler keep the accumulator in memory across it (no vector register survives a
    // call), and this pass brings the records into the cache for the next one.
    let ids: usize = words
        .iter()
        .map(|&offset| read_u32(arena, offset as usize + N_IDS) as usize)
        .sum();
    if dups.len() < ids {
        dups.resize(ids, 0);
    }
    for &offset in words {
        let record = &arena[offset as usize..];
        let (header, body) = record.split_at(HEADER);
        let flags = read_u32(header, FLAGS);
        coverage.tokens += flags & COUNTED;
        coverage.known += (flags & KNOWN) >> 1;
        let body = &body[read_u32(header, KEY_LEN) as usize..];
        let (sums, ids) = body.split_at(numbers);
        for (a, x) in acc.as_mut().iter_mut().zip(sums.chunks_exact(4)) {
            *a += f32::from_ne_bytes(x.try_into().expect("four bytes"));
        }
        let n_ids = read_u32(header, N_IDS) as usize;
        n_dups = if wide {
            let ids = ids[..4 * n_ids]
                .chunks_exact(4)
                .map(|b| u32::from_ne_bytes(b.try_into().expect("four bytes")));
            stamp(ids, seen, segment, dups, n_dups)
        } else {
            let ids = ids[..2 * n_ids]
                .chunks_exact(2)
                .map(|b| u32::from(u16::from_ne_bytes(b.try_into().expect("two bytes"))));
            let seen: &mut [u8; 1 << 16] = (&mut seen[..1 << 16])
                .try_into()
                .expect("two-byte ids have a stamp for every u16");
            stamp(ids, seen, segment, dups, n_dups)
        };
    }
    (acc, coverage, n_dups)
}

/// Stamps each of `ids` as seen in `segment` and writes those already stamped (repeats)
/// to `dups` from `n_dups` on; returns the new count. Branch-free: every id is written,
/// and the count moves on only for a repeat (`dups` has room for all of `ids`). Two-byte
/// ids stamp a `[u8; 65536]`, which any `u16` indexes without a bounds check.
#[inline(always)]
fn stamp<S: std::ops::IndexMut<usize, Output = u8> + ?Sized>(
    ids: impl Iterator<Item = u32>,
    seen: &mut S,
    segment: u8,
    dups: &mut [u32],
    mut n_dups: usize,
) -> usize {
    for id in ids {
        let repeat = std::mem::replace(&mut seen[id as usize], segment) == segment;
        dups[n_dups] = id;
        n_dups += usize::from(repeat);
    }
    n_dups
}

/// Per-thread memory of [`Scorer::scores`], reused across calls.
struct State {
    /// The scorer whose records `table` holds.
    owner: u64,
    table: WordTable,
    /// The current segment's words: their record offsets.
    words: Vec<u32>,
    /// Normalization buffer for new words.
    buf: String,
    /// Per vocabulary feature, the last segment (`segment`) it was seen in: one byte, so
    /// the stamps of a vocabulary of 11 000 features take a quarter of the L1 cache (for
    /// two-byte ids, 2¹⁶ of them, of which only the vocabulary's are ever touched).
    seen: Vec<u8>,
    /// Number of the current segment, wrapping; 0 is never used, so a fresh `seen` is
    /// all "not seen".
    segment: u8,
    /// Every occurrence of an id after its first in the current segment (the first
    /// `n_dups` entries; written without a branch, so the buffer is kept long enough for
    /// the next word's ids whatever they are).
    dups: Vec<u32>,
    /// Ids seen more than once in the current segment, each once.
    repeats: Vec<u32>,
    /// For ids in `repeats`: occurrences beyond the first (zero for all others).
    extra: Vec<u32>,
}

impl State {
    /// Readies the state for a segment of `scorer`'s. Everything is reset on entry rather
    /// than exit, so nothing can leave stale state behind.
    fn begin(&mut self, scorer: &Scorer) {
        let dimension = scorer.vectorizer.dimension();
        if self.owner != scorer.id || self.table.is_full() {
            self.owner = scorer.id;
            self.table.clear();
            self.table.wide = scorer.wide_ids;
        }
        self.words.clear();
        // A new segment number instead of clearing `seen`; when the numbers run out (or
        // the vocabulary changed), start over. Two-byte ids get a stamp for every u16.
        let stamps = if scorer.wide_ids { dimension } else { 1 << 16 };
        self.segment = self.segment.wrapping_add(1);
        if self.segment == 0 || self.seen.len() != stamps {
            self.seen.clear();
            self.seen.resize(stamps, 0);
            self.segment = 1;
        }
        if !self.repeats.is_empty() || self.extra.len() != dimension {
            self.repeats.clear();
            self.extra.clear();
            self.extra.resize(dimension, 0);
        }
    }
}

thread_local! {
    static STATE: RefCell<State> = const {
        RefCell::new(State {
            owner: 0,
            table: WordTable { offsets: hashbrown::HashTable::new(), arena: Vec::new(), wide: true },
            words: Vec::new(),
            buf: String::new(),
            seen: Vec::new(),
            segment: 0,
            dups: Vec::new(),
            repeats: Vec::new(),
            extra: Vec::new(),
        })
    };
}

/// A vectorizer and the linear model over its features, scoring texts together.
#[derive(Debug)]
pub struct Scorer {
    vectorizer: Vectorizer,
    model: LinearModel,
    /// Distinguishes this scorer's records in the per-thread tables.
    id: u64,
    /// Records store feature ids in four bytes (more than 2¹⁶ features), else two.
    wide_ids: bool,
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
        Ok(Self {
            wide_ids: vectorizer.dimension() > 1 << 16,
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
        STATE.with_borrow_mut(|state| {
            state.begin(self);
            let State {
                table,
                words,
                buf,
                seen,
                segment,
                dups,
                repeats,
                extra,
                ..
            } = state;
            let segment = *segment;
            // Pass 1: every word's record.
            for_each_raw_word(text, |raw| {
                words.push(table.find_or_insert(raw.as_bytes(), || self.score_word(raw, buf)));
            });
            // Pass 2: add them up, noting repeated features. The shipped model's four
            // labels add up in registers (a fixed-size accumulator); other counts on the heap.
            let (fixed, heap, coverage, n_dups);
            let acc: &[f32] = if k == 4 {
                (fixed, coverage, n_dups) = add_up(
                    &table.arena,
                    table.wide,
                    words,
                    [0.0f32; 2 * 4 + 2],
                    seen,
                    segment,
                    dups,
                );
                &fixed
            } else {
                (heap, coverage, n_dups) = add_up(
                    &table.arena,
                    table.wide,
                    words,
                    vec![0.0f32; 2 * k + 2],
                    seen,
                    segment,
                    dups,
                );
                &heap
            };
            let (sums, vsums) = acc.split_at(k + 1);
            scores.copy_from_slice(&sums[..k]);
            let mut norm2 = sums[k];
            let (vector, vweight) = (&vsums[..k], vsums[k]);
            norm2 += self.correct_repeats(&dups[..n_dups], repeats, extra, scores);
            self.model.finish(scores, norm2.max(0.0).sqrt());
            if vweight > 0.0 {
                let inv = 1.0 / vweight;
                for (s, v) in scores.iter_mut().zip(vector) {
                    *s += v * inv;
                }
            }
            coverage
        })
    }

    /// Adds to `scores` the corrections for the features occurring more than once (`dups`:
    /// each occurrence after a feature's first) and returns the correction of the squared
    /// norm. Leaves `repeats` empty and `extra` zero.
    fn correct_repeats(
        &self,
        dups: &[u32],
        repeats: &mut Vec<u32>,
        extra: &mut [u32],
        scores: &mut [f32],
    ) -> f32 {
        for &id in dups {
            let extra = &mut extra[id as usize];
            if *extra == 0 {
                repeats.push(id);
            }
            *extra += 1;
        }
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

    /// What the table records of a word not seen before: its features, the sums of
    /// `idf·w` per label and of `idf²` over them, and its vector part (`idf·scale·W_v·v`
    /// per label, and `idf`; zeros without a vector).
    fn score_word(&self, raw: &str, buf: &mut String) -> (WordEntry, Vec<f32>) {
        let entry = self.vectorizer.analyze_raw_word(raw, buf);
        let k = self.model.labels().len();
        let idf = self.vectorizer.idf();
        let mut sums = vec![0.0f64; 2 * k + 2];
        for &id in entry.ids.iter() {
            let idf = f64::from(idf[id as usize]);
            for (s, w) in sums.iter_mut().zip(self.model.row(id as usize)) {
                *s += idf * f64::from(*w);
            }
            sums[k] += idf * idf;
        }
        if let (Some(row), Some(e)) = (entry.vector, self.vectorizer.embedding()) {
            let idf = f64::from(e.vectors.idf(row));
            let base = self.vectorizer.vocabulary_len();
            let scale = f64::from(e.scale);
            for (d, x) in e.vectors.vector(row).enumerate() {
                let w = self.model.row(base + d);
                for (s, w) in sums[k + 1..2 * k + 1].iter_mut().zip(w) {
                    *s += idf * scale * f64::from(x) * f64::from(*w);
                }
            }
            sums[2 * k + 1] = idf;
        }
        (entry, sums.into_iter().map(|s| s as f32).collect())
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
            .take_parts(Some(crate::classifier::embedded_vectors().unwrap()))
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
        let narrow = scorer();
        assert!(!narrow.wide_ids);
        // The four-byte id records of vocabularies over 2¹⁶ features, on the same model.
        let mut wide = scorer();
        wide.wide_ids = true;
        for s in [narrow, wide] {
            seeds_score_the_same(&s);
        }
    }

    fn seeds_score_the_same(s: &Scorer) {
        let seeds =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/seeds/labels.tsv"))
                .unwrap();
        for line in seeds.lines().skip(1) {
            let text = line.rsplit('\t').next().unwrap();
            assert_same_as_two_steps(s, text);
        }
        // Twice: the second pass is served from the cache.
        for line in seeds.lines().skip(1).take(10) {
            assert_same_as_two_steps(s, line.rsplit('\t').next().unwrap());
        }
    }

    #[test]
    fn any_number_of_labels_and_either_tf_scores_the_same() {
        use crate::text::PipelineConfig;
        use crate::vectorizer::TfIdfConfig;
        let train = [
            "سيطر الجيش السوري على مدينة البوكمال",
            "استقبل الرئيس وفدا روسيا في دمشق",
            "تعقد الجولة الثامنة من المحادثات في جنيف",
        ];
        // Word vectors for some of the words (keys are normalized, clitic-stripped).
        let vectors = std::sync::Arc::new(
            crate::embedding::WordVectors::from_float(
                PipelineConfig::default(),
                crate::embedding::Provenance {
                    corpus: "test".into(),
                    corpus_sha256: String::new(),
                    articles: 0,
                    tokens: 0,
                    trainer: crate::embedding::train::TrainerConfig::default(),
                },
                ["جيش", "محادثات", "رييس", "مدينه", "دبابه"]
                    .map(String::from)
                    .to_vec(),
                vec![1.0, 2.0, 1.5, 3.0, 2.5],
                &[
                    vec![1.0, 0.0, 2.0],
                    vec![0.0, 1.0, -1.0],
                    vec![0.5, 0.5, 0.5],
                    vec![-1.0, 2.0, 0.0],
                    vec![2.0, 0.0, 1.0],
                ],
            )
            .unwrap(),
        );
        for ((k, sublinear_tf), with_vectors) in [
            (1, true),
            (2, false),
            (3, true),
            (4, false),
            (5, true),
            (9, true),
        ]
        .into_iter()
        .flat_map(|c| [(c, false), (c, true)])
        {
            let tfidf = TfIdfConfig {
                sublinear_tf,
                ..TfIdfConfig::default()
            };
            let embedding = with_vectors.then(|| crate::vectorizer::Embedding {
                vectors: vectors.clone(),
                scale: 2.0,
            });
            let vectorizer = Vectorizer::fit(PipelineConfig::default(), tfidf, &train)
                .with_embedding(embedding)
                .unwrap();
            let n = vectorizer.dimension();
            let weights = (0..n * k).map(|i| (i % 11) as f32 / 7.0 - 0.7).collect();
            let labels = (0..k).map(|c| format!("label{c}")).collect();
            let bias = (0..k).map(|c| c as f32 / 10.0).collect();
            let scorer = Scorer::new(vectorizer, LinearModel::new(labels, weights, bias)).unwrap();
            for text in train
                .iter()
                .chain(&["الجيش والجيش في المحادثات، والمحادثات مع الرئيس"])
            {
                assert_same_as_two_steps(&scorer, text);
            }
            if with_vectors {
                // The vector part is there: a word known only by its vector moves scores.
                let (x, cov) = scorer.vectorizer().transform("والدبابة");
                assert_eq!((cov.known, cov.tokens), (1, 1));
                let base = scorer.vectorizer().vocabulary_len() as u32;
                assert_eq!(x.indices.iter().filter(|&&i| i >= base).count(), 3);
                assert_same_as_two_steps(&scorer, "والدبابة");
            }
        }
    }

    #[test]
    fn scores_stay_right_when_the_segment_stamps_wrap_around() {
        let s = scorer();
        // Repeated words and shared n-grams, over more segments than a one-byte stamp
        // counts, and a text whose words the others lack coming back every 256 segments:
        // a stale stamp (one not cleared at the wrap) would make its features look
        // repeated.
        let texts = [
            "المفاوضات المفاوضات في جنيف وجنيف، والمفاوضين يتفاوضون",
            "سيطر الجيش السوري على مدينة البوكمال",
            "الجيش الجيش الجيش",
        ];
        let rare = "استقبل الرئيس وفداً روسياً برئاسة المبعوث الخاص";
        for i in 0..3 * 256 + 7 {
            let text = if i % 256 == 0 {
                rare
            } else {
                texts[i % texts.len()]
            };
            assert_same_as_two_steps(&s, text);
        }
    }

    #[test]
    fn the_word_table_starts_over_when_full_and_still_scores_right() {
        let s = scorer();
        let text = "سيطر الجيش السوري على مدينة البوكمال";
        assert_same_as_two_steps(&s, text);
        STATE.with_borrow_mut(|state| {
            assert_eq!(state.owner, s.id);
            // Fill the table with made-up words up to its limit.
            let mut i = 0;
            while !state.table.is_full() {
                let word = format!("w{i}");
                state
                    .table
                    .find_or_insert(word.as_bytes(), || (WordEntry::default(), vec![0.0; 10]));
                i += 1;
            }
            assert_eq!(state.table.offsets.len(), TABLE_MAX_WORDS);
        });
        // The next segment starts over, then records what it needs again.
        assert_same_as_two_steps(&s, text);
        STATE.with_borrow(|state| assert!(state.table.offsets.len() < 10));
    }

    #[test]
    fn mismatched_parts_are_rejected() {
        let (vectorizer, model, _) = ModelFile::from_bytes(EMBEDDED_MODEL)
            .unwrap()
            .take_parts(Some(crate::classifier::embedded_vectors().unwrap()))
            .unwrap();
        let smaller = LinearModel::new(
            model.labels().to_vec(),
            model.weights()[model.labels().len()..].to_vec(),
            model.bias().to_vec(),
        );
        assert!(Scorer::new(vectorizer, smaller).is_err());
    }
}
