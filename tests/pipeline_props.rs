//! Property tests: no input makes normalize → segment → classify panic, and the
//! invariants of segments and shares hold for any text.

use std::sync::OnceLock;

use proptest::prelude::*;
use tasnif::text::normalize::expand_presentation_forms;
use tasnif::text::tokenize::{for_each_raw_word, for_each_written_word};
use tasnif::text::{segment, Normalizer, NormalizerConfig};
use tasnif::{Classifier, Options};

fn classifier() -> &'static Classifier {
    static C: OnceLock<Classifier> = OnceLock::new();
    C.get_or_init(|| Classifier::embedded().unwrap())
}

fn check(text: &str) {
    let normalized = Normalizer::new(&NormalizerConfig::default()).normalize(text);
    // The steps never add characters; only presentation forms expand (ﻻ → لا).
    let expanded = expand_presentation_forms(text);
    assert!(normalized.chars().count() <= expanded.chars().count());
    // The words are those of the expanded text, each from a slice of the text that holds
    // it once expanded.
    let mut words = Vec::new();
    for_each_written_word(text, |word, source| {
        assert!(expand_presentation_forms(source).contains(word));
        words.push(word.to_string());
    });
    let mut expanded_words = Vec::new();
    for_each_raw_word(&expanded, |word| expanded_words.push(word.to_string()));
    assert_eq!(words, expanded_words);
    let n = text.chars().count();
    for span in segment(text) {
        assert!(span.start < span.end && span.end <= n);
        assert_eq!(span.text(text).chars().count(), span.chars());
    }
    let options = Options {
        explain_top_n: 3,
        ..Options::default()
    };
    if let Ok(a) = classifier().classify(text, &options) {
        let sum: f32 = a.shares.iter().sum();
        assert!((sum - 1.0).abs() < 1e-3, "{sum}");
        assert!(a.shares.iter().all(|s| s.is_finite() && *s >= 0.0));
        assert!(!a.segments.is_empty());
    }
    let _ = classifier().vectorize(text, &Options::default());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_unicode_string(text in any::<String>()) {
        check(&text);
    }

    #[test]
    fn any_bytes_as_lossy_utf8(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        check(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn arabic_heavy_text(text in "[\u{0600}-\u{06FF}\u{0750}-\u{077F}\u{FB50}-\u{FDFF}\u{FE70}-\u{FEFF}\u{200B}-\u{200F} .!?؟…\n0-9]{0,300}") {
        check(&text);
    }
}
