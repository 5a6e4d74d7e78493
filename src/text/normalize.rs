//! Arabic normalization, in two parts.
//!
//! 1. **Presentation forms** ([`expand_presentation_forms`]). The contextual letter shapes
//!    and ligatures of U+FB50–U+FDFF and U+FE70–U+FEFF, common in text extracted from
//!    PDFs (ﺍﻟﺠﻴﺶ, the lam-alef ﻻ), become their NFKC forms — NFKC for these two blocks
//!    only: elsewhere it would fold much else (full-width letters, superscripts, …). A
//!    letter shape becomes its letter (ﺠ → ج), but a ligature becomes several (ﻻ → لا,
//!    ﷲ → الله), a few become several *words* (ﷺ → صلى الله عليه وسلم) and the isolated
//!    harakat a space and a mark (ﹰ → " ً"). So this part comes before the text is cut
//!    into words ([`super::tokenize::for_each_raw_word`] reads the expanded text, and keeps
//!    each word's source in the original, because offsets and terms given to users are
//!    always those of the text they sent), and everything after it reads the text exactly
//!    as if it had been written with ordinary letters. It is not configurable: it never
//!    carries topic information. Ordinary text pays one vectorized scan for the byte 0xEF,
//!    which leads the UTF-8 of every presentation form and of no Arabic letter.
//! 2. **Steps**: a fixed, ordered list of small character-level [`Step`]s. Every step
//!    maps one character to one character or deletes it, so the whole list folds into one
//!    lookup table built once per model ([`Normalizer::new`]). Which optional steps run is
//!    part of the model's configuration ([`NormalizerConfig`]), chosen by cross-validation
//!    and stored in the model file.
//!
//! [`Normalizer::normalize`] runs both (part 1 character by character), so a word
//! normalizes the same whether or not its presentation forms were expanded before.

use std::borrow::Cow;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

/// One named normalization step. [`Step::ALL`] gives their order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Removes bidi controls and zero-width marks (U+200B–U+200F, U+202A–U+202E,
    /// U+2060–U+206F, U+FEFF, U+061C arabic letter mark).
    StripFormatMarks,
    /// Removes harakat, tanween, shadda, sukun and other Arabic combining marks
    /// (U+064B–U+065F) and the superscript alef (U+0670), plus Quranic annotation
    /// marks (U+0610–U+061A, U+06D6–U+06ED).
    StripDiacritics,
    /// Removes tatweel / kashida (U+0640), the elongation character.
    StripTatweel,
    /// أ إ آ ٱ → ا.
    UnifyAlef,
    /// ى (alef maqsura) → ي.
    AlefMaqsuraToYa,
    /// ة (teh marbuta) → ه.
    TehMarbutaToHa,
    /// Arabic-Indic (٠–٩) and Persian (۰–۹) digits → ASCII 0–9.
    AsciiDigits,
    /// Latin capitals → lower case.
    LowercaseLatin,
}

impl Step {
    /// The pipeline order. Deletions come first so later steps never see marks.
    pub const ALL: [Step; 8] = [
        Step::StripFormatMarks,
        Step::StripDiacritics,
        Step::StripTatweel,
        Step::UnifyAlef,
        Step::AlefMaqsuraToYa,
        Step::TehMarbutaToHa,
        Step::AsciiDigits,
        Step::LowercaseLatin,
    ];

    /// Applies this step to one character: `Some(c')` keeps (possibly mapped), `None` deletes.
    pub fn apply(self, c: char) -> Option<char> {
        match self {
            Step::StripFormatMarks => match c {
                '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{FEFF}'
                | '\u{061C}' => None,
                _ => Some(c),
            },
            Step::StripDiacritics => match c {
                '\u{064B}'..='\u{065F}'
                | '\u{0670}'
                | '\u{0610}'..='\u{061A}'
                | '\u{06D6}'..='\u{06ED}' => None,
                _ => Some(c),
            },
            Step::StripTatweel => (c != '\u{0640}').then_some(c),
            Step::UnifyAlef => Some(match c {
                'أ' | 'إ' | 'آ' | 'ٱ' => 'ا',
                _ => c,
            }),
            Step::AlefMaqsuraToYa => Some(if c == 'ى' { 'ي' } else { c }),
            Step::TehMarbutaToHa => Some(if c == 'ة' { 'ه' } else { c }),
            Step::AsciiDigits => Some(match c {
                '٠'..='٩' => char::from(b'0' + (c as u32 - '٠' as u32) as u8),
                '۰'..='۹' => char::from(b'0' + (c as u32 - '۰' as u32) as u8),
                _ => c,
            }),
            Step::LowercaseLatin => Some(c.to_ascii_lowercase()),
        }
    }
}

/// Which optional steps run. Format marks, tatweel, digits and Latin case always run:
/// they never carry topic information. The other four are measured choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NormalizerConfig {
    pub strip_diacritics: bool,
    pub unify_alef: bool,
    pub alef_maqsura_to_ya: bool,
    pub teh_marbuta_to_ha: bool,
}

impl Default for NormalizerConfig {
    fn default() -> Self {
        Self {
            strip_diacritics: true,
            unify_alef: true,
            alef_maqsura_to_ya: true,
            teh_marbuta_to_ha: true,
        }
    }
}

impl NormalizerConfig {
    /// The steps this configuration runs, in pipeline order.
    pub fn steps(&self) -> Vec<Step> {
        Step::ALL
            .into_iter()
            .filter(|step| match step {
                Step::StripDiacritics => self.strip_diacritics,
                Step::UnifyAlef => self.unify_alef,
                Step::AlefMaqsuraToYa => self.alef_maqsura_to_ya,
                Step::TehMarbutaToHa => self.teh_marbuta_to_ha,
                _ => true,
            })
            .collect()
    }
}

/// Characters below this code point go through a precomputed table; the rest run the
/// steps one by one (they are rare in Arabic news: emoji, CJK), or are presentation forms.
const TABLE_LEN: usize = 0x2070;
/// Table value meaning "delete this character".
const DELETE: u32 = u32::MAX;

/// The configured steps folded into one lookup table.
#[derive(Debug, Clone)]
pub struct Normalizer {
    steps: Vec<Step>,
    table: Box<[u32]>,
}

impl Normalizer {
    pub fn new(config: &NormalizerConfig) -> Self {
        let steps = config.steps();
        let table = (0..TABLE_LEN as u32)
            .map(|cp| {
                char::from_u32(cp)
                    .and_then(|c| run_steps(&steps, c))
                    .map_or(DELETE, u32::from)
            })
            .collect();
        Self { steps, table }
    }

    /// Runs the steps on one character (`None` = deleted). Presentation forms are not
    /// expanded here: [`Normalizer::normalize_into`] does that.
    #[inline]
    fn map_char(&self, c: char) -> Option<char> {
        match self.table.get(c as usize) {
            // The table only holds values produced from valid chars, or DELETE.
            Some(&DELETE) => None,
            Some(&v) => char::from_u32(v),
            None => run_steps(&self.steps, c),
        }
    }

    /// Normalizes a whole string.
    pub fn normalize(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        self.normalize_into(text, &mut out);
        out
    }

    /// Appends the normalization of `text` to `out`: presentation forms expanded, then
    /// the steps.
    #[inline]
    pub fn normalize_into(&self, text: &str, out: &mut String) {
        for c in text.chars() {
            match self.table.get(c as usize) {
                Some(&DELETE) => {}
                Some(&v) => out.extend(char::from_u32(v)),
                None => self.normalize_rare(c, out),
            }
        }
    }

    /// [`Normalizer::normalize_into`] for a character beyond the table.
    #[inline(never)]
    fn normalize_rare(&self, c: char, out: &mut String) {
        match presentation_form(c) {
            Some(form) => out.extend(form.chars().filter_map(|c| self.map_char(c))),
            None => out.extend(run_steps(&self.steps, c)),
        }
    }
}

fn run_steps(steps: &[Step], c: char) -> Option<char> {
    steps.iter().try_fold(c, |c, step| step.apply(c))
}

/// Code points of the two presentation-form blocks, U+FB50–U+FDFF (Presentation Forms-A)
/// then U+FE70–U+FEFF (Presentation Forms-B), as an index into [`PresentationForms`].
#[inline]
fn presentation_index(c: char) -> Option<usize> {
    match c as u32 {
        cp @ 0xFB50..=0xFDFF => Some((cp - 0xFB50) as usize),
        cp @ 0xFE70..=0xFEFF => Some((cp - 0xFE70) as usize + 0x2B0),
        _ => None,
    }
}

/// Number of code points in the two blocks.
const PRESENTATION_LEN: usize = 0x2B0 + 0x90;

/// The NFKC form of every presentation form, computed once per process.
struct PresentationForms {
    /// Per code point ([`presentation_index`]): its form's byte range in `text`; empty if
    /// NFKC leaves the character alone.
    ranges: Box<[(u16, u16)]>,
    text: String,
}

static PRESENTATION_FORMS: LazyLock<PresentationForms> = LazyLock::new(|| {
    use unicode_normalization::UnicodeNormalization;
    let mut text = String::new();
    let ranges = (0xFB50..=0xFDFF)
        .chain(0xFE70..=0xFEFF)
        .map(|cp| {
            let start = text.len();
            if let Some(c) = char::from_u32(cp) {
                let form: String = std::iter::once(c).nfkc().collect();
                if form.chars().ne(std::iter::once(c)) {
                    text.push_str(&form);
                }
            }
            let range = (start, text.len());
            (
                u16::try_from(range.0).expect("the forms fit in 64 KiB"),
                u16::try_from(range.1).expect("the forms fit in 64 KiB"),
            )
        })
        .collect::<Box<[_]>>();
    debug_assert_eq!(ranges.len(), PRESENTATION_LEN);
    PresentationForms { ranges, text }
});

/// The NFKC form of `c` if `c` is an Arabic presentation form (U+FB50–U+FDFF,
/// U+FE70–U+FEFF) that NFKC changes: ﺠ → "ج", ﻻ → "لا", ﷲ → "الله". `None` for every
/// other character, and for the few in the blocks that NFKC keeps (the ornate
/// parentheses ﴾ ﴿, the byte-order mark U+FEFF, unassigned code points). Every form is
/// made of characters of the Arabic block (U+0600–U+06FF) and spaces.
#[inline]
pub fn presentation_form(c: char) -> Option<&'static str> {
    let i = presentation_index(c)?;
    let forms = &*PRESENTATION_FORMS;
    let (start, end) = forms.ranges[i];
    (start < end).then(|| &forms.text[usize::from(start)..usize::from(end)])
}

/// The presentation form at byte `i` of `text`, if one starts there.
#[inline]
fn presentation_form_at(text: &str, i: usize) -> Option<(char, &'static str)> {
    let c = text.get(i..)?.chars().next()?;
    Some((c, presentation_form(c)?))
}

/// The presentation forms of `text` that NFKC changes, with their byte offsets, found by a
/// vectorized search for the byte 0xEF: it leads every three-byte sequence of
/// U+F000–U+FFFF (the two blocks among them) and occurs in no Arabic letter, so ordinary
/// text costs one fast scan.
fn presentation_forms_in(text: &str) -> impl Iterator<Item = (usize, char, &'static str)> + '_ {
    memchr::memchr_iter(0xEF, text.as_bytes())
        .filter_map(|i| presentation_form_at(text, i).map(|(c, form)| (i, c, form)))
}

/// True if `text` holds a presentation form that NFKC changes.
#[inline]
pub fn has_presentation_forms(text: &str) -> bool {
    presentation_forms_in(text).next().is_some()
}

/// `text` with every presentation form replaced by its NFKC form ([`presentation_form`]):
/// the text as the pipeline reads it. Text without one (nearly all text) is borrowed, not
/// copied. ([`super::tokenize::for_each_raw_word`] reads the same text one word at a time
/// instead of building it.)
pub fn expand_presentation_forms(text: &str) -> Cow<'_, str> {
    let mut forms = presentation_forms_in(text).peekable();
    if forms.peek().is_none() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + text.len() / 2);
    // Bytes of `text` before this are in `out`.
    let mut copied = 0;
    for (i, c, form) in forms {
        out.push_str(&text[copied..i]);
        out.push_str(form);
        copied = i + c.len_utf8();
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

/// How many more characters `text` has once its presentation forms are expanded (ﻻ is
/// one character and لا two). Zero, after one fast scan, for text without any.
pub fn expansion_growth(text: &str) -> usize {
    presentation_forms_in(text)
        .map(|(_, _, form)| form.chars().count() - 1)
        .sum()
}

/// Writes Arabic text the way PDF extraction often gives it: every letter of U+0621–U+064A
/// as its contextual presentation form (Presentation Forms-B), lam + alef as a ligature.
/// A small shaper for tests, built from the block itself: a letter with four forms
/// (isolated, final, initial, medial) joins both neighbours, one with two (isolated,
/// final) only the one before it. Diacritics are not handled (they would break joining).
#[cfg(test)]
pub(crate) fn shape_for_tests(text: &str) -> String {
    let mut forms: rustc_hash::FxHashMap<char, Vec<char>> = Default::default();
    for cp in 0xFE80..=0xFEF4 {
        let c = char::from_u32(cp).unwrap();
        let mut base = presentation_form(c).unwrap().chars();
        forms.entry(base.next().unwrap()).or_default().push(c);
        assert_eq!(base.next(), None);
    }
    // Lam with آ أ إ ا, isolated then final.
    let lam_alef = |alef: char| {
        "آأإا"
            .chars()
            .position(|a| a == alef)
            .map(|i| 0xFEF5 + 2 * i as u32)
    };
    let joins_next = |c: char| forms.get(&c).is_some_and(|f| f.len() == 4);
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let after_joining = i > 0 && joins_next(chars[i - 1]);
        let next = chars.get(i + 1).copied();
        if let (Some(ligature), 'ل') = (next.and_then(lam_alef), c) {
            out.push(char::from_u32(ligature + u32::from(after_joining)).unwrap());
            i += 2;
            continue;
        }
        match forms.get(&c) {
            None => out.push(c),
            Some(f) => {
                let before_joining = f.len() == 4 && next.is_some_and(|n| forms.contains_key(&n));
                let before = usize::from(f.len() > 1 && after_joining);
                out.push(f[before + 2 * usize::from(before_joining)]);
            }
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn only(step: Step, text: &str) -> String {
        text.chars().filter_map(|c| step.apply(c)).collect()
    }

    #[test]
    fn strip_diacritics_removes_harakat_shadda_tanween_and_superscript_alef() {
        // "القوات المسلّحة" with shadda, "مؤكّداً" with shadda and tanween, "هٰذا".
        assert_eq!(only(Step::StripDiacritics, "المسلّحة"), "المسلحة");
        assert_eq!(only(Step::StripDiacritics, "مؤكّداً"), "مؤكدا");
        assert_eq!(only(Step::StripDiacritics, "السِّياق"), "السياق");
        assert_eq!(only(Step::StripDiacritics, "هٰذا"), "هذا");
    }

    #[test]
    fn strip_tatweel_removes_kashida() {
        assert_eq!(only(Step::StripTatweel, "الجـــيش"), "الجيش");
    }

    #[test]
    fn strip_format_marks_removes_bidi_and_zero_width() {
        assert_eq!(
            only(
                Step::StripFormatMarks,
                "\u{200F}جنيف\u{200C}\u{202B}\u{FEFF}"
            ),
            "جنيف"
        );
    }

    #[test]
    fn unify_alef_maps_hamza_and_madda_forms() {
        assert_eq!(
            only(Step::UnifyAlef, "أستانا إيران آخر ٱلله"),
            "استانا ايران اخر الله"
        );
    }

    #[test]
    fn alef_maqsura_and_teh_marbuta() {
        assert_eq!(only(Step::AlefMaqsuraToYa, "إلى مستوى"), "إلي مستوي");
        assert_eq!(
            only(Step::TehMarbutaToHa, "الجولة الثامنة"),
            "الجوله الثامنه"
        );
    }

    #[test]
    fn digits_become_ascii() {
        assert_eq!(
            only(Step::AsciiDigits, "القرار ٢٢٥٤ و۲۸"),
            "القرار 2254 و28"
        );
    }

    #[test]
    fn latin_is_lower_cased() {
        assert_eq!(only(Step::LowercaseLatin, "ISIS و PKK"), "isis و pkk");
    }

    #[test]
    fn config_selects_steps_in_order() {
        let config = NormalizerConfig {
            teh_marbuta_to_ha: false,
            ..NormalizerConfig::default()
        };
        let steps = config.steps();
        assert!(!steps.contains(&Step::TehMarbutaToHa));
        assert_eq!(steps.first(), Some(&Step::StripFormatMarks));
        assert_eq!(steps.len(), Step::ALL.len() - 1);
    }

    #[test]
    fn normalizer_table_matches_running_the_steps() {
        let config = NormalizerConfig::default();
        let n = Normalizer::new(&config);
        let text = "وسلّم باقري الرئيس السوري رسالة تهنئة إلى ٢٠١٧ «مستدامة» ISIS\u{200F}";
        let expected: String = text
            .chars()
            .filter_map(|c| run_steps(&config.steps(), c))
            .collect();
        assert_eq!(n.normalize(text), expected);
        assert_eq!(n.normalize("أكّد"), "اكد");
        assert_eq!(n.normalize("الأمم المتحدة"), "الامم المتحده");
    }

    #[test]
    fn arabic_punctuation_is_kept_for_the_tokenizer_to_split_on() {
        let n = Normalizer::new(&NormalizerConfig::default());
        assert_eq!(n.normalize("دمشق، «سانا»؛ لماذا؟"), "دمشق، «سانا»؛ لماذا؟");
    }

    #[test]
    fn letter_shapes_become_their_letter() {
        // Beh: isolated, final, initial, medial.
        for c in ['\u{FE8F}', '\u{FE90}', '\u{FE91}', '\u{FE92}'] {
            assert_eq!(presentation_form(c), Some("ب"), "{c:?}");
        }
        // Teh marbuta (isolated, final), heh (initial), Presentation Forms-A peh (final).
        assert_eq!(presentation_form('\u{FE93}'), Some("ة"));
        assert_eq!(presentation_form('\u{FE94}'), Some("ة"));
        assert_eq!(presentation_form('\u{FEEB}'), Some("ه"));
        assert_eq!(presentation_form('\u{FB57}'), Some("پ"));
        // Every letter shape of Presentation Forms-B is one letter, and the Normalizer
        // then treats it as that letter.
        let n = Normalizer::new(&NormalizerConfig::default());
        for cp in 0xFE80..=0xFEF4 {
            let c = char::from_u32(cp).unwrap();
            let form = presentation_form(c).unwrap();
            assert_eq!(form.chars().count(), 1, "U+{cp:04X}");
            assert_eq!(n.normalize(&c.to_string()), n.normalize(form), "U+{cp:04X}");
        }
    }

    #[test]
    fn ligatures_expand_to_several_letters() {
        // Lam-alef, isolated and final; with hamza above; the Allah ligature (4 letters).
        assert_eq!(presentation_form('\u{FEFB}'), Some("لا"));
        assert_eq!(presentation_form('\u{FEFC}'), Some("لا"));
        assert_eq!(presentation_form('\u{FEF7}'), Some("لأ"));
        assert_eq!(presentation_form('\u{FDF2}'), Some("الله"));
        // Several words, and a space with a mark (isolated fatha).
        assert_eq!(presentation_form('\u{FDFA}'), Some("صلى الله عليه وسلم"));
        assert_eq!(presentation_form('\u{FE76}'), Some(" \u{064E}"));
        let n = Normalizer::new(&NormalizerConfig::default());
        // ﻻ ﺗﻔﺎﻭﺽ (isolated lam-alef, then تفاوض); ﻷﻡ, whose alef the steps then unify.
        assert_eq!(
            n.normalize("\u{FEFB} \u{FE97}\u{FED4}\u{FE8E}\u{FEED}\u{FEBD}"),
            "لا تفاوض"
        );
        assert_eq!(n.normalize("\u{FEF7}\u{FEE2}"), "لام");
        assert_eq!(n.normalize("\u{FDF2}"), "الله");
        assert_eq!(n.normalize("\u{FDFA}"), "صلي الله عليه وسلم");
    }

    #[test]
    fn presentation_forms_read_as_the_same_text_written_plainly() {
        let n = Normalizer::new(&NormalizerConfig::default());
        let plain = "أعلن الجيش السوري السيطرة على مدينة البوكمال خلال الاشتباكات";
        let shaped = shape_for_tests(plain);
        // ﺍﻟﺠﻴﺶ: isolated alef, initial lam, medial jeem and yeh, final sheen.
        assert!(
            shaped.contains("\u{FE8D}\u{FEDF}\u{FEA0}\u{FEF4}\u{FEB6}"),
            "{shaped}"
        );
        // خلال and الاشتباكات hold lam-alef ligatures.
        assert!(shaped.contains('\u{FEFC}'), "{shaped}");
        assert!(!shaped
            .chars()
            .any(|c| ('\u{0621}'..='\u{064A}').contains(&c)));
        assert_eq!(expand_presentation_forms(&shaped), plain);
        assert_eq!(n.normalize(&shaped), n.normalize(plain));
    }

    #[test]
    fn ordinary_text_is_not_copied_or_changed() {
        for text in [
            "وسلّم باقري الرئيس السوري رسالة تهنئة ٢٠١٧ ISIS",
            // U+FEFF and the ornate parentheses are in the blocks but NFKC keeps them;
            // U+FF0C (full-width comma) is outside them, though NFKC would change it.
            "\u{FEFF}\u{FD3E}جنيف\u{FD3F}\u{FF0C} €",
            "",
        ] {
            assert!(!has_presentation_forms(text), "{text}");
            assert_eq!(expansion_growth(text), 0);
            let e = expand_presentation_forms(text);
            assert!(matches!(e, Cow::Borrowed(t) if std::ptr::eq(t, text)));
        }
    }

    #[test]
    fn expansion_replaces_each_form_in_place() {
        let text = "x \u{FEFB} قال \u{FDFA}.\u{FEFF}";
        assert!(has_presentation_forms(text));
        let e = expand_presentation_forms(text);
        assert_eq!(e, "x لا قال صلى الله عليه وسلم.\u{FEFF}");
        assert_eq!(
            expansion_growth(text),
            e.chars().count() - text.chars().count()
        );
    }

    #[test]
    fn forms_are_arabic_block_characters_and_spaces() {
        // What segmentation relies on (no form holds a line break or a sentence end),
        // and expanding twice changes nothing.
        for cp in (0xFB50..=0xFDFF).chain(0xFE70..=0xFEFF) {
            let Some(form) = char::from_u32(cp).and_then(presentation_form) else {
                continue;
            };
            assert!(!form.is_empty());
            assert!(
                form.chars()
                    .all(|c| c == ' ' || ('\u{0600}'..='\u{06FF}').contains(&c)),
                "U+{cp:04X} → {form:?}"
            );
        }
        assert_eq!(presentation_form('ب'), None);
        assert_eq!(presentation_form('\u{FEFF}'), None);
    }
}
