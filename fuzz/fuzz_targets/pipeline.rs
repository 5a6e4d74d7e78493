//! The text pipeline on arbitrary text: segment, normalize, tokenize, classify on the
//! embedded model. Checks offsets and probabilities, not just the absence of panics.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use tasnif::text::tokenize::for_each_word;
use tasnif::{Classifier, Options};

static MODEL: LazyLock<Classifier> =
    LazyLock::new(|| Classifier::embedded().expect("the embedded model loads"));

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let text: &str = &text;
    let model = &*MODEL;

    // Segmentation: ordered, non-overlapping spans on char boundaries, offsets consistent.
    let spans = tasnif::text::segment(text);
    let total_chars = text.chars().count();
    let mut last_end = 0;
    for s in &spans {
        assert!(s.byte_start <= s.byte_end && s.byte_end <= text.len());
        assert!(text.is_char_boundary(s.byte_start) && text.is_char_boundary(s.byte_end));
        assert!(s.start <= s.end && s.end <= total_chars);
        assert!(s.start >= last_end, "spans overlap");
        last_end = s.end;
        assert_eq!(text[..s.byte_start].chars().count(), s.start);
        assert_eq!(s.chars(), s.text(text).chars().count());
        assert_eq!(s.text(text), s.text(text).trim());
    }

    // Normalization and words: no panic, words non-empty.
    let normalizer = model.vectorizer().pipeline();
    let normalizer = tasnif::text::Normalizer::new(&normalizer.normalizer);
    let _ = normalizer.normalize(text);
    let mut buf = String::new();
    for_each_word(text, &normalizer, &mut buf, |w| assert!(!w.is_empty()));

    let options = Options {
        topic_threshold: [0.2, 0.05, 1.0, 0.5][usize::from(flags & 3)],
        explain_top_n: usize::from((flags >> 2) & 7),
        max_chars: if flags & 0x20 != 0 { 64 } else { 1_000_000 },
        truncate: flags & 0x40 != 0,
    };
    let k = model.labels().len();
    let close = |sum: f32| (sum - 1.0).abs() < 1e-3;
    match model.classify(text, &options) {
        Ok(a) => {
            assert_eq!(a.shares.len(), k);
            assert!(a
                .shares
                .iter()
                .all(|p| p.is_finite() && (0.0..=1.0 + 1e-5).contains(p)));
            assert!(
                close(a.shares.iter().sum()),
                "shares sum to {}",
                a.shares.iter().sum::<f32>()
            );
            assert!(a.primary < k);
            assert!(a.topics.iter().all(|&t| t < k));
            assert!(a.characters <= total_chars);
            assert!(!a.segments.is_empty());
            for s in &a.segments {
                assert!(s.span.end <= a.characters && s.span.start <= s.span.end);
                assert!(s.label < k);
                assert!(close(s.probabilities.iter().sum()));
                assert!(s.coverage.known <= s.coverage.tokens);
            }
            assert!(a
                .explanations
                .iter()
                .all(|e| e.len() <= options.explain_top_n));
            let v = model
                .vectorize(text, &options)
                .expect("vectorizes what classifies");
            assert!(v.vector.indices.windows(2).all(|w| w[0] < w[1]));
            assert!(v.vector.values.iter().all(|x| x.is_finite()));
        }
        Err(_) => {}
    }
});
