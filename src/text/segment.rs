//! Sentence segmentation as the labelling guide defines it (`LABELING.md`, "The unit").
//!
//! A segment ends at a line break or at a run of sentence-ending marks `.` `!` `?` `؟`
//! `…` — except a dot between two digits (`2.5`, `340.000`). Each segment is trimmed of
//! surrounding whitespace; a piece with no letter or digit (a lone `*`, `...`) is not a
//! segment. Offsets refer to the *original* text, in Unicode code points (what the API
//! reports) and in bytes (to slice the `&str`).

/// One segment of a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Code-point offset of the first character.
    pub start: usize,
    /// Code-point offset one past the last character.
    pub end: usize,
    /// Byte range of the same characters.
    pub byte_start: usize,
    pub byte_end: usize,
}

impl Span {
    /// The segment's text within the text it was cut from.
    pub fn text<'a>(&self, source: &'a str) -> &'a str {
        &source[self.byte_start..self.byte_end]
    }

    /// Length in characters (code points).
    pub fn chars(&self) -> usize {
        self.end - self.start
    }
}

fn is_terminator(c: char) -> bool {
    matches!(c, '.' | '!' | '?' | '؟' | '…')
}

/// Splits `text` into segments, in order.
pub fn segment(text: &str) -> Vec<Span> {
    // (code-point index, byte index, char) of every character, so that look-behind and
    // look-ahead are O(1).
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut spans = Vec::new();
    let mut push = |from: usize, to: usize| {
        let mut s = from;
        let mut e = to;
        while s < e && chars[s].1.is_whitespace() {
            s += 1;
        }
        while e > s && chars[e - 1].1.is_whitespace() {
            e -= 1;
        }
        if chars[s..e].iter().any(|&(_, c)| c.is_alphanumeric()) {
            let byte_end = chars.get(e).map_or(text.len(), |&(b, _)| b);
            spans.push(Span {
                start: s,
                end: e,
                byte_start: chars[s].0,
                byte_end,
            });
        }
    };

    let n = chars.len();
    let mut start = 0;
    let mut i = 0;
    while i < n {
        let c = chars[i].1;
        if c == '\n' || c == '\r' {
            push(start, i);
            i += 1;
            start = i;
        } else if is_terminator(c) {
            let decimal_dot = c == '.'
                && i > 0
                && i + 1 < n
                && chars[i - 1].1.is_ascii_digit()
                && chars[i + 1].1.is_ascii_digit();
            if decimal_dot {
                i += 1;
                continue;
            }
            let mut j = i;
            while j < n && is_terminator(chars[j].1) {
                j += 1;
            }
            push(start, j);
            start = j;
            i = j;
        } else {
            i += 1;
        }
    }
    push(start, n);
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(text: &str) -> Vec<&str> {
        segment(text).iter().map(|s| s.text(text)).collect()
    }

    #[test]
    fn splits_at_line_breaks_and_sentence_ends() {
        let text = "استقبل الرئيس وفدا روسيا.\nوأكد دعم المسار السياسي! هل تعقد الجولة؟ نعم";
        assert_eq!(
            texts(text),
            vec![
                "استقبل الرئيس وفدا روسيا.",
                "وأكد دعم المسار السياسي!",
                "هل تعقد الجولة؟",
                "نعم"
            ]
        );
    }

    #[test]
    fn a_dot_inside_a_number_does_not_split() {
        let text = "توزيع مساعدات على 340.000 شخص. وارتفع 2.5 في المئة";
        assert_eq!(
            texts(text),
            vec!["توزيع مساعدات على 340.000 شخص.", "وارتفع 2.5 في المئة"]
        );
    }

    #[test]
    fn a_run_of_marks_ends_one_segment_and_empty_pieces_are_dropped() {
        let text = "قوله.. إن الجولة المقبلة … قد تبدأ\n\n*\n...";
        assert_eq!(
            texts(text),
            vec!["قوله..", "إن الجولة المقبلة …", "قد تبدأ"]
        );
    }

    #[test]
    fn headline_lines_are_segments() {
        let text = "لافروف: روسيا تسعى للتعاون\n* الجيش يحرر مدينة الرصافة\r\nجنيف- وكالات";
        assert_eq!(
            texts(text),
            vec![
                "لافروف: روسيا تسعى للتعاون",
                "* الجيش يحرر مدينة الرصافة",
                "جنيف- وكالات"
            ]
        );
    }

    #[test]
    fn offsets_are_code_points_into_the_original_text() {
        let text = "  أعلن المبعوث.  التقى الوزير";
        let spans = segment(text);
        let cps: Vec<char> = text.chars().collect();
        for span in &spans {
            let by_cp: String = cps[span.start..span.end].iter().collect();
            assert_eq!(by_cp, span.text(text));
            assert_eq!(span.chars(), span.text(text).chars().count());
        }
        assert_eq!(spans[0].start, 2);
        assert_eq!(spans[1].start, 17);
    }

    #[test]
    fn text_without_letters_has_no_segments() {
        assert!(segment("").is_empty());
        assert!(segment(" \n\t . ! ؟ ").is_empty());
    }
}
