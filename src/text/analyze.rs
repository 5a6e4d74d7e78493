//! Word → features: the last step of the text pipeline.
//!
//! Each (normalized) word yields up to three kinds of feature strings, each kind chosen
//! by cross-validation and recorded in the model:
//! * `w:` the word without its proclitics (و ال بال لل …),
//! * `s:` its Snowball Arabic stem (`rust-stemmers`),
//! * `c:` character n-grams of the word wrapped in `<` `>`, for spelling variants and
//!   morphology the stemmer misses.
//!
//! Stop words yield nothing. [`Analyzer::analyze`] runs the whole pipeline
//! (normalize → words → features) on one text.

use rust_stemmers::{Algorithm, Stemmer};
use serde::{Deserialize, Serialize};

use super::normalize::{Normalizer, NormalizerConfig};
use super::tokenize::{for_each_word, strip_proclitics, StopWords};

/// Which features a word yields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureConfig {
    /// Drop stop words.
    pub stop_words: bool,
    /// `w:` clitic-stripped word features.
    pub words: bool,
    /// `s:` Snowball stem features.
    pub stems: bool,
    /// `c:` character n-grams from `char_ngram_min` to `char_ngram_max` (0 = none).
    pub char_ngram_min: usize,
    pub char_ngram_max: usize,
}

impl Default for FeatureConfig {
    fn default() -> Self {
        Self {
            stop_words: true,
            words: true,
            stems: false,
            char_ngram_min: 3,
            char_ngram_max: 5,
        }
    }
}

/// The complete text-pipeline configuration, stored in the model file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PipelineConfig {
    pub normalizer: NormalizerConfig,
    pub features: FeatureConfig,
}

/// What a word contributes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WordFeatures {
    /// The word is a stop word (and has no features).
    pub stop: bool,
    /// Feature strings, in a fixed order; may repeat (an n-gram occurring twice).
    pub features: Vec<String>,
    /// The word-level features (`w:`/`s:`), used to tell a known word from an unknown
    /// one for the out-of-domain signal.
    pub word_level: usize,
}

/// Runs the configured pipeline.
pub struct Analyzer {
    config: PipelineConfig,
    normalizer: Normalizer,
    stop_words: StopWords,
    stemmer: Stemmer,
}

impl std::fmt::Debug for Analyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Analyzer")
            .field("config", &self.config)
            .finish()
    }
}

impl Analyzer {
    pub fn new(config: PipelineConfig) -> Self {
        let normalizer = Normalizer::new(&config.normalizer);
        let stop_words = StopWords::new(&normalizer);
        Self {
            config,
            normalizer,
            stop_words,
            stemmer: Stemmer::create(Algorithm::Arabic),
        }
    }

    pub fn config(&self) -> &PipelineConfig {
        &self.config
    }

    pub fn normalizer(&self) -> &Normalizer {
        &self.normalizer
    }

    /// The key of one normalized word for word vectors: the word without its proclitics
    /// (the `w:` feature's text), or `None` for stop words and words that strip to nothing.
    pub fn word_key<'w>(&self, word: &'w str) -> Option<&'w str> {
        if self.config.features.stop_words && self.stop_words.contains(word) {
            return None;
        }
        Some(strip_proclitics(word)).filter(|w| !w.is_empty())
    }

    /// Features of one normalized word. Word-level features come first.
    pub fn word_features(&self, word: &str) -> WordFeatures {
        let f = &self.config.features;
        if f.stop_words && self.stop_words.contains(word) {
            return WordFeatures {
                stop: true,
                ..WordFeatures::default()
            };
        }
        let mut features = Vec::new();
        let bare = strip_proclitics(word);
        if f.words {
            features.push(format!("w:{bare}"));
        }
        if f.stems {
            features.push(format!("s:{}", self.stemmer.stem(bare)));
        }
        let word_level = features.len();
        if f.char_ngram_max > 0 {
            let padded: Vec<char> = std::iter::once('<')
                .chain(bare.chars())
                .chain(std::iter::once('>'))
                .collect();
            for n in f.char_ngram_min.max(1)..=f.char_ngram_max {
                for gram in padded.windows(n) {
                    let mut s = String::with_capacity(2 + 4 * n);
                    s.push_str("c:");
                    s.extend(gram);
                    features.push(s);
                }
            }
        }
        WordFeatures {
            stop: false,
            features,
            word_level,
        }
    }

    /// Calls `f` with every normalized word of `text`.
    pub fn for_each_word(&self, text: &str, buf: &mut String, f: impl FnMut(&str)) {
        for_each_word(text, &self.normalizer, buf, f)
    }

    /// All feature strings of `text` (stop words removed), in order.
    pub fn analyze(&self, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        self.for_each_word(text, &mut String::new(), |w| {
            out.extend(self.word_features(w).features)
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words_and_stems() -> FeatureConfig {
        FeatureConfig {
            stop_words: true,
            words: true,
            stems: true,
            char_ngram_min: 0,
            char_ngram_max: 0,
        }
    }

    fn analyzer(features: FeatureConfig) -> Analyzer {
        Analyzer::new(PipelineConfig {
            normalizer: NormalizerConfig::default(),
            features,
        })
    }

    #[test]
    fn words_and_stems_of_an_arabic_sentence() {
        let a = analyzer(words_and_stems());
        let feats = a.analyze("سيطر الجيش على المدينة");
        assert!(feats.contains(&"w:جيش".to_string()), "{feats:?}");
        assert!(feats.contains(&"w:مدينه".to_string()), "{feats:?}");
        // "على" is a stop word: no feature mentions it.
        assert!(!feats
            .iter()
            .any(|f| f.ends_with("على") || f.ends_with("علي")));
        assert!(feats.iter().any(|f| f.starts_with("s:")));
    }

    #[test]
    fn clitic_variants_share_the_word_feature() {
        let a = analyzer(words_and_stems());
        let one = a.word_features("الجيش");
        let two = a.word_features("والجيش");
        let three = a.word_features("للجيش");
        assert_eq!(one.features[0], "w:جيش");
        assert_eq!(two.features[0], "w:جيش");
        assert_eq!(three.features[0], "w:جيش");
    }

    #[test]
    fn stemming_conflates_inflections() {
        let a = analyzer(words_and_stems());
        let stem = |w: &str| a.word_features(&a.normalizer().normalize(w)).features[1].clone();
        assert_eq!(stem("العسكرية"), stem("عسكري"));
        assert_eq!(stem("الدبلوماسية"), stem("دبلوماسي"));
        assert_ne!(stem("العسكرية"), stem("الدبلوماسية"));
    }

    #[test]
    fn char_ngrams_are_padded_and_counted() {
        let a = analyzer(FeatureConfig {
            words: false,
            stems: false,
            char_ngram_min: 3,
            char_ngram_max: 3,
            stop_words: true,
        });
        let w = a.word_features("جنيف");
        assert_eq!(w.word_level, 0);
        assert_eq!(w.features, vec!["c:<جن", "c:جني", "c:نيف", "c:يف>"]);
    }

    #[test]
    fn stop_words_yield_no_features() {
        let a = analyzer(words_and_stems());
        let w = a.word_features("الذي");
        assert!(w.stop);
        assert!(w.features.is_empty());
    }
}
