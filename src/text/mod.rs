//! The Arabic text pipeline, in the order data flows through it:
//!
//! 1. [`segment`] — split an article into sentences (offsets into the original text),
//! 2. [`normalize`] — presentation forms expanded (ﻻ → لا), then per-character
//!    normalization steps (diacritics, alef forms, …),
//! 3. [`tokenize`] — words (of the expanded text), proclitics and stop words,
//! 4. [`analyze`] — word → feature strings (words, stems, character n-grams).
//!
//! Every step is small, named and tested on real Arabic; [`analyze::Analyzer`] runs 2–4.

pub mod analyze;
pub mod normalize;
pub mod segment;
pub mod tokenize;

pub use analyze::{Analyzer, FeatureConfig, PipelineConfig};
pub use normalize::{Normalizer, NormalizerConfig};
pub use segment::{segment, Span};

/// True if `text` holds at least one Arabic letter (U+0621–U+064A, U+0671–U+06D3,
/// U+06FA–U+06FF), written as such or as a presentation form (ﺝ, the ligature ﻻ). Text
/// without one is not something this model can classify.
pub fn has_arabic_letter(text: &str) -> bool {
    text.chars().any(|c| {
        is_arabic_letter(c)
            || normalize::presentation_form(c).is_some_and(|f| f.chars().any(is_arabic_letter))
    })
}

#[inline]
fn is_arabic_letter(c: char) -> bool {
    matches!(c, '\u{0621}'..='\u{064A}' | '\u{0671}'..='\u{06D3}' | '\u{06FA}'..='\u{06FF}')
}

#[cfg(test)]
mod tests {
    #[test]
    fn arabic_letters_are_detected() {
        assert!(super::has_arabic_letter("Breaking: الجيش"));
        assert!(!super::has_arabic_letter("Hello, world 123 ٢٠١٧ ،؟"));
        // Presentation forms: ﺍﻟﺠﻴﺶ (isolated alef, initial lam, medial jeem and yeh,
        // final sheen), the lam-alef ligature ﻻ, the ligature ﷲ.
        assert!(super::has_arabic_letter(
            "\u{FE8D}\u{FEDF}\u{FEA0}\u{FEF4}\u{FEB6}"
        ));
        assert!(super::has_arabic_letter("PDF: \u{FEFB}"));
        assert!(super::has_arabic_letter("\u{FDF2}"));
        // An isolated fatha (a space and a mark) and the byte-order mark hold no letter.
        assert!(!super::has_arabic_letter("\u{FE76}\u{FEFF} 12"));
    }
}
