//! Pre-tokenization: normalized text → words, with Arabic clitics and stop words in mind.
//!
//! * [`for_each_word`] streams the words of a text, normalizing as it goes (no
//!   intermediate normalized string). A word is a run of letters and digits; every other
//!   character — Latin and Arabic punctuation (، ؛ ؟ « » “ ”) included — separates words.
//! * [`strip_proclitics`] removes the attached conjunction/preposition + article
//!   combinations (و ف ب ك ل with ال) that Arabic writes as part of the word, following the
//!   prefix set of Larkey et al.'s "light10" stemmer. Suffixes are left to the stemmer.
//! * [`StopWords`] holds common function words, compared after normalization.

use rustc_hash::FxHashSet;

use super::normalize::Normalizer;

/// True for characters that belong inside a word: letters, digits, and the Arabic marks
/// (harakat, superscript alef, tatweel) for configurations that keep them.
///
/// ASCII and the Arabic block are decided by ranges: `char::is_alphanumeric` takes a slow
/// table lookup for every non-ASCII character, which dominated classification time.
#[inline]
pub fn is_word_char(c: char) -> bool {
    match c {
        '\0'..='\x7F' => c.is_ascii_alphanumeric(),
        // Arabic block: everything but its punctuation and symbols.
        '\u{0600}'..='\u{06FF}' => {
            !matches!(
                c,
                '\u{0600}'..='\u{061F}' | '\u{066A}'..='\u{066D}' | '\u{06D4}' | '\u{06DD}' | '\u{06DE}' | '\u{06E9}'
            ) || matches!(c, '\u{0610}'..='\u{061A}')
        }
        _ => c.is_alphanumeric(),
    }
}

/// Calls `f` with every word of `text`, normalized. `buf` is scratch space, reused so
/// that the common case allocates nothing.
#[inline]
pub fn for_each_word(
    text: &str,
    normalizer: &Normalizer,
    buf: &mut String,
    mut f: impl FnMut(&str),
) {
    buf.clear();
    for c in text.chars() {
        if is_word_char(c) {
            if let Some(m) = normalizer.map_char(c) {
                buf.push(m);
            }
        } else if !buf.is_empty() {
            f(buf);
            buf.clear();
        }
    }
    if !buf.is_empty() {
        f(buf);
        buf.clear();
    }
}

/// Proclitic combinations, longest first. They are written here normalized; the
/// article ال is unaffected by any normalization step.
const PROCLITICS: [&str; 6] = ["وال", "بال", "كال", "فال", "لل", "ال"];

/// Removes one leading proclitic combination (or a lone conjunction و) when at least
/// three letters remain, e.g. والجيش → جيش, بالحرب → حرب, للجيش → جيش, وأكد → أكد.
pub fn strip_proclitics(word: &str) -> &str {
    let len = word.chars().count();
    for p in PROCLITICS {
        if let Some(rest) = word.strip_prefix(p) {
            if len - p.chars().count() >= 3 {
                return rest;
            }
        }
    }
    match word.strip_prefix('و') {
        Some(rest) if len > 3 => rest,
        _ => word,
    }
}

/// Common Arabic function words: prepositions, conjunctions, pronouns, demonstratives,
/// relatives, auxiliaries and particles. Written unnormalized; [`StopWords::new`]
/// normalizes them with the model's normalizer so they match whatever it produces.
const STOP_WORDS: &[&str] = &[
    "في",
    "من",
    "على",
    "إلى",
    "الى",
    "عن",
    "مع",
    "أن",
    "إن",
    "ان",
    "أنه",
    "إنه",
    "أنها",
    "إنها",
    "كان",
    "كانت",
    "يكون",
    "تكون",
    "قد",
    "لا",
    "لم",
    "لن",
    "ما",
    "هذا",
    "هذه",
    "ذلك",
    "تلك",
    "هذان",
    "هاتين",
    "الذي",
    "التي",
    "الذين",
    "اللذين",
    "هو",
    "هي",
    "هم",
    "هما",
    "نحن",
    "أنا",
    "أو",
    "ثم",
    "بين",
    "حيث",
    "عند",
    "كل",
    "بعد",
    "قبل",
    "حتى",
    "إذا",
    "لكن",
    "بل",
    "أي",
    "غير",
    "منذ",
    "خلال",
    "نحو",
    "لدى",
    "كما",
    "أيضا",
    "فقط",
    "به",
    "بها",
    "له",
    "لها",
    "لهم",
    "منه",
    "منها",
    "فيه",
    "فيها",
    "عليه",
    "عليها",
    "إليه",
    "التى",
    "وهو",
    "وهي",
    "وقد",
    "ولا",
    "ومن",
    "وفي",
    "وعلى",
    "كذلك",
    "هناك",
    "هنا",
    "تم",
    "يتم",
    "أمس",
    "اليوم",
    "لقد",
    "إلا",
    "ولم",
    "أما",
    "وكان",
    "وكانت",
    "عبر",
    "دون",
    "ضمن",
    "لدي",
    "أول",
    "بعض",
    "أكثر",
    "جدا",
];

/// A set of stop words, normalized.
#[derive(Debug, Clone)]
pub struct StopWords(FxHashSet<String>);

impl StopWords {
    pub fn new(normalizer: &Normalizer) -> Self {
        Self(STOP_WORDS.iter().map(|w| normalizer.normalize(w)).collect())
    }

    /// True if `word` (normalized) or `word` without its proclitics is a stop word.
    pub fn contains(&self, word: &str) -> bool {
        self.0.contains(word) || self.0.contains(strip_proclitics(word))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::normalize::NormalizerConfig;

    fn words(text: &str) -> Vec<String> {
        let n = Normalizer::new(&NormalizerConfig::default());
        let mut out = Vec::new();
        for_each_word(text, &n, &mut String::new(), |w| out.push(w.to_string()));
        out
    }

    #[test]
    fn arabic_and_latin_punctuation_separate_words() {
        assert_eq!(
            words("ذكرت وكالة «سانا»، أنّ الجيش؛ (الأناضول) “داعش”؟"),
            vec!["ذكرت", "وكاله", "سانا", "ان", "الجيش", "الاناضول", "داعش"]
        );
    }

    #[test]
    fn word_chars_agree_with_unicode_outside_the_arabic_fast_path() {
        for c in [
            'a', 'Z', '7', 'é', 'ж', '中', ' ', '.', '-', '«', '\u{200F}',
        ] {
            assert_eq!(is_word_char(c), c.is_alphanumeric(), "{c:?}");
        }
        for c in [
            'ا', 'ي', 'ة', 'ى', 'ٱ', '٣', '۵', 'ڤ', 'گ', '\u{064E}', '\u{0640}',
        ] {
            assert!(is_word_char(c), "{c:?}");
        }
        for c in ['،', '؛', '؟', '٪', '۔', '\u{061C}'] {
            assert!(!is_word_char(c), "{c:?}");
        }
    }

    #[test]
    fn digits_are_words_and_diacritics_do_not_split_words() {
        assert_eq!(
            words("القرار ٢٢٥٤ المسلّحة"),
            vec!["القرار", "2254", "المسلحه"]
        );
    }

    #[test]
    fn proclitics_are_stripped_when_a_stem_remains() {
        assert_eq!(strip_proclitics("والجيش"), "جيش");
        assert_eq!(strip_proclitics("بالحرب"), "حرب");
        assert_eq!(strip_proclitics("للجيش"), "جيش");
        assert_eq!(strip_proclitics("الجيش"), "جيش");
        assert_eq!(strip_proclitics("واكد"), "اكد");
        // Too short to hold a clitic and a stem: left alone.
        assert_eq!(strip_proclitics("الي"), "الي");
        assert_eq!(strip_proclitics("وفد"), "وفد");
    }

    #[test]
    fn stop_words_match_after_normalization_and_clitics() {
        let n = Normalizer::new(&NormalizerConfig::default());
        let stop = StopWords::new(&n);
        assert!(stop.contains(&n.normalize("إلى")));
        assert!(stop.contains(&n.normalize("الذي")));
        assert!(!stop.contains(&n.normalize("الجيش")));
        assert!(!stop.contains(&n.normalize("مفاوضات")));
    }
}
