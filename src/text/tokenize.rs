//! Pre-tokenization: text → words, with Arabic clitics and stop words in mind.
//!
//! * [`for_each_raw_word`] streams the words of a text, not normalized and without
//!   decoding Arabic, after expanding its presentation forms
//!   ([`super::normalize::expand_presentation_forms`]: ﻻ is read as لا, ﷺ as four words);
//!   [`for_each_written_word`] adds the slice of the original text each word came from;
//!   [`for_each_word`] normalizes each one (no intermediate normalized string). A word is
//!   a run of letters and digits; every other character — Latin and Arabic punctuation
//!   (، ؛ ؟ « » “ ”) included — separates words.
//! * [`strip_proclitics`] removes the attached conjunction/preposition + article
//!   combinations (و ف ب ك ل with ال) that Arabic writes as part of the word, following the
//!   prefix set of Larkey et al.'s "light10" stemmer. Suffixes are left to the stemmer.
//! * [`StopWords`] holds common function words, compared after normalization.

use rustc_hash::FxHashSet;

#[cfg(doc)]
use super::normalize::expand_presentation_forms;
use super::normalize::{has_presentation_forms, presentation_form, Normalizer};

/// True for characters that belong inside a word: letters, digits, and the Arabic marks
/// (harakat, superscript alef, tatweel) for configurations that keep them.
///
/// ASCII and the Arabic block are decided by ranges: `char::is_alphanumeric` takes a slow
/// table lookup for every non-ASCII character, which dominated classification time.
#[inline]
pub fn is_word_char(c: char) -> bool {
    match c {
        '\0'..='\x7F' => c.is_ascii_alphanumeric(),
        '\u{0600}'..='\u{06FF}' => arabic_block_word_char(c as u32),
        // Latin-1 (« » and the no-break space are common in Arabic news) and General
        // Punctuation (– — ’ “ ” …, zero-width and bidi marks), spelled out; a test
        // checks them against `is_alphanumeric`.
        '\u{0080}'..='\u{00FF}' => matches!(
            c,
            'ª' | '²' | '³' | 'µ' | '¹' | 'º' | '¼'..='¾' | 'À'..='Ö' | 'Ø'..='ö' | 'ø'..='ÿ'
        ),
        '\u{2000}'..='\u{206F}' => false,
        _ => c.is_alphanumeric(),
    }
}

/// [`is_word_char`] for a code point of the Arabic block (U+0600–U+06FF): everything but
/// its punctuation and symbols.
const fn arabic_block_word_char(cp: u32) -> bool {
    !matches!(
        cp,
        0x0600..=0x061F | 0x066A..=0x066D | 0x06D4 | 0x06DD | 0x06DE | 0x06E9
    ) || matches!(cp, 0x0610..=0x061A)
}

/// [`arabic_block_word_char`] for U+0600 + i, indexed by the low bits of a two-byte UTF-8
/// sequence (lead byte 0xD8–0xDB).
const ARABIC_BLOCK_WORD: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = arabic_block_word_char(0x0600 + i as u32);
        i += 1;
    }
    table
};

/// True if `text` holds a word character once its presentation forms are expanded (of
/// those, only the rial sign ﷼ is not a word character itself but expands to letters).
pub fn has_word_char(text: &str) -> bool {
    text.chars().any(|c| {
        is_word_char(c) || presentation_form(c).is_some_and(|f| f.chars().any(is_word_char))
    })
}

/// Calls `f` with every word of `text`, not normalized: each maximal run of
/// [`is_word_char`] characters of the text with its presentation forms expanded
/// ([`super::normalize::expand_presentation_forms`]) — for text without any (nearly all
/// text), a slice of `text` itself.
#[inline]
pub fn for_each_raw_word(text: &str, mut f: impl FnMut(&str)) {
    for_each_written_word(text, |word, _| f(word))
}

/// [`for_each_raw_word`], and with each word the slice of `text` it was read from: the
/// word itself unless it holds presentation forms (ﺍﻟﺠﻴﺶ for الجيش; each of the four
/// words of ﷺ comes from the whole ﷺ).
#[inline]
pub fn for_each_written_word<'t>(text: &'t str, mut f: impl FnMut(&str, &'t str)) {
    if has_presentation_forms(text) {
        split_expanded_words(text, f);
    } else {
        split_words(text, |word| f(word, word));
    }
}

/// [`for_each_written_word`] for text with presentation forms: its characters are read
/// with each presentation form replaced by its NFKC form, and cut into words as
/// [`split_words`] cuts the expanded text, one word at a time — so a text of ligatures
/// (ﷺ is 3 bytes and expands to 33) costs the memory of a word, not of its expansion.
#[inline(never)]
fn split_expanded_words<'t>(text: &'t str, mut f: impl FnMut(&str, &'t str)) {
    let mut word = String::new();
    // The bytes of `text` the word was read from.
    let (mut start, mut end) = (0, 0);
    for (i, c) in text.char_indices() {
        let next = i + c.len_utf8();
        for d in presentation_form(c).unwrap_or(&text[i..next]).chars() {
            if is_word_char(d) {
                if word.is_empty() {
                    start = i;
                }
                word.push(d);
                end = next;
            } else if !word.is_empty() {
                f(&word, &text[start..end]);
                word.clear();
            }
        }
    }
    if !word.is_empty() {
        f(&word, &text[start..end]);
    }
}

/// Calls `f` with each maximal run of [`is_word_char`] characters of `text`, as a slice
/// of `text`.
///
/// Works on bytes: ASCII and the Arabic block (two-byte sequences with lead byte
/// 0xD8–0xDB) are decided by a table without decoding; other characters are decoded.
#[inline]
fn split_words<'t>(text: &'t str, mut f: impl FnMut(&'t str)) {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        // Between words.
        match char_class(text, i) {
            (false, len) => {
                i += len;
                continue;
            }
            (true, len) => {
                let start = i;
                i += len;
                // Inside a word: Arabic letters take the first test.
                while i < bytes.len() {
                    let b = bytes[i];
                    if b & 0xFC == 0xD8 {
                        if !ARABIC_BLOCK_WORD[arabic_low(b, bytes[i + 1])] {
                            break;
                        }
                        i += 2;
                    } else {
                        match char_class(text, i) {
                            (true, len) => i += len,
                            (false, _) => break,
                        }
                    }
                }
                f(&text[start..i]);
            }
        }
    }
}

/// Index into [`ARABIC_BLOCK_WORD`] of the two-byte sequence `lead`, `next`
/// (`lead` in 0xD8–0xDB).
#[inline(always)]
fn arabic_low(lead: u8, next: u8) -> usize {
    (usize::from(lead & 0x03) << 6) | usize::from(next & 0x3F)
}

/// Whether the character at byte `i` of `text` is a word character, and its length.
#[inline(always)]
fn char_class(text: &str, i: usize) -> (bool, usize) {
    let bytes = text.as_bytes();
    match bytes[i] {
        b @ 0x00..=0x7F => (b.is_ascii_alphanumeric(), 1),
        // Valid UTF-8: a lead byte 0xD8–0xDB is followed by one continuation byte.
        b @ 0xD8..=0xDB => (ARABIC_BLOCK_WORD[arabic_low(b, bytes[i + 1])], 2),
        _ => {
            let c = text[i..].chars().next().expect("i is a char boundary");
            (is_word_char(c), c.len_utf8())
        }
    }
}

/// Calls `f` with every word of `text`, normalized: the words of [`for_each_raw_word`],
/// each normalized into `buf` (scratch space, reused so that the common case allocates
/// nothing). A word that normalization empties (only diacritics, say) is skipped.
#[inline]
pub fn for_each_word(
    text: &str,
    normalizer: &Normalizer,
    buf: &mut String,
    mut f: impl FnMut(&str),
) {
    for_each_raw_word(text, |raw| {
        buf.clear();
        normalizer.normalize_into(raw, buf);
        if !buf.is_empty() {
            f(buf);
        }
    });
    buf.clear();
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
    fn raw_words_split_like_the_char_rule() {
        let text = "قال «المبعوث» الأمميّ، ٢٠١٧:\u{200F}ISIS-داعش؟ گفت 中文 é\u{0640}ـ";
        let mut raw = Vec::new();
        for_each_raw_word(text, |w| raw.push(w.to_string()));
        let by_chars: Vec<String> = text
            .split(|c: char| !is_word_char(c))
            .filter(|w| !w.is_empty())
            .map(String::from)
            .collect();
        assert_eq!(raw, by_chars);
        assert_eq!(raw[..3], ["قال", "المبعوث", "الأمميّ"]);
    }

    #[test]
    fn latin1_and_general_punctuation_agree_with_unicode() {
        for cp in (0x80u32..=0xFF).chain(0x2000..=0x206F) {
            let c = char::from_u32(cp).unwrap();
            assert_eq!(is_word_char(c), c.is_alphanumeric(), "U+{cp:04X}");
        }
    }

    #[test]
    fn arabic_block_table_agrees_with_the_char_rule() {
        for cp in 0x0600u32..=0x06FF {
            let c = char::from_u32(cp).unwrap();
            let mut buf = [0u8; 4];
            let mut raw = Vec::new();
            for_each_raw_word(c.encode_utf8(&mut buf), |w| raw.push(w.to_string()));
            assert_eq!(raw.len() == 1, is_word_char(c), "U+{cp:04X}");
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

    #[test]
    fn presentation_forms_are_read_as_the_words_they_show() {
        let plain = "قال الجيش إن الاشتباكات لا تزال مستمرة";
        let shaped = crate::text::normalize::shape_for_tests(plain);
        assert_eq!(words(&shaped), words(plain));
        // Each word comes with the slice of the text it was read from.
        let mut written = Vec::new();
        for_each_written_word(&shaped, |word, source| {
            written.push((word.to_string(), source));
        });
        let by_space: Vec<&str> = shaped.split(' ').collect();
        assert_eq!(written.iter().map(|w| w.1).collect::<Vec<_>>(), by_space);
        let plain_words: Vec<&str> = plain.split(' ').collect();
        assert_eq!(
            written.iter().map(|w| w.0.as_str()).collect::<Vec<_>>(),
            plain_words
        );
        // A ligature of four words: each comes from the whole ligature.
        let mut written = Vec::new();
        for_each_written_word("النبي \u{FDFA}، قال", |word, source| {
            written.push((word.to_string(), source));
        });
        let expected = [
            ("النبي", "النبي"),
            ("صلى", "\u{FDFA}"),
            ("الله", "\u{FDFA}"),
            ("عليه", "\u{FDFA}"),
            ("وسلم", "\u{FDFA}"),
            ("قال", "قال"),
        ];
        assert_eq!(written, expected.map(|(w, s)| (w.to_string(), s)).to_vec());
        // An isolated fatha (a space and a mark) ends a word, as it would written plainly;
        // the rial sign ﷼ is read as a word.
        assert_eq!(
            words("\u{FEE3}\u{FEE8}\u{FEA4}\u{FE94}\u{FE76}، ١٠ \u{FDFC}"),
            ["منحه", "10", "ریال"]
        );
        assert!(!has_word_char("\u{FEFF} \u{FD3E}"));
        assert!(has_word_char("\u{FE76}"));
        assert!(has_word_char("\u{FDFC}"));
    }

    #[test]
    fn words_are_those_of_the_expanded_text() {
        use crate::text::normalize::expand_presentation_forms;
        // Every kind of form, and forms next to ordinary letters, marks and punctuation.
        let mut text = String::from("قال \u{FEFB}ب،\u{FE8D}x\u{FDFA}\u{FE76}ﷲ «\u{FDFC}» ");
        // Every code point of the blocks, one after the other, then one by one.
        let block = || {
            (0xFB50..=0xFDFF)
                .chain(0xFE70..=0xFEFF)
                .filter_map(char::from_u32)
        };
        text.extend(block());
        text.extend(block().flat_map(|c| [' ', c]));
        let expanded = expand_presentation_forms(&text);
        let mut by_stream = Vec::new();
        for_each_raw_word(&text, |w| by_stream.push(w.to_string()));
        let mut by_text = Vec::new();
        split_words(&expanded, |w| by_text.push(w.to_string()));
        assert!(by_text.len() > 500, "{}", by_text.len());
        assert_eq!(by_stream, by_text);
    }

    #[test]
    fn ordinary_words_are_slices_of_the_text() {
        let text = "قال «المبعوث» الأمميّ ISIS";
        let range = text.as_bytes().as_ptr_range();
        for_each_written_word(text, |word, source| {
            assert!(std::ptr::eq(word, source));
            assert!(range.contains(&word.as_ptr()));
        });
    }
}
