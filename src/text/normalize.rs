//! Arabic normalization: a fixed, ordered list of small character-level steps.
//!
//! Every step maps one character to one character or deletes it, so normalization never
//! changes the *number of segments* or their order, and the whole pipeline can be folded
//! into one lookup table built once per model ([`Normalizer::new`]). Which optional steps
//! run is part of the model's configuration ([`NormalizerConfig`]), chosen by
//! cross-validation and stored in the model file.

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
/// steps one by one (they are rare in Arabic news: emoji, CJK, presentation forms).
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

    /// Normalizes one character (`None` = deleted).
    #[inline]
    pub fn map_char(&self, c: char) -> Option<char> {
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

    /// Appends the normalization of `text` to `out`.
    #[inline]
    pub fn normalize_into(&self, text: &str, out: &mut String) {
        out.extend(text.chars().filter_map(|c| self.map_char(c)));
    }
}

fn run_steps(steps: &[Step], c: char) -> Option<char> {
    steps.iter().try_fold(c, |c, step| step.apply(c))
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
}
