//! Sentence segmentation as the labelling guide defines it (`LABELING.md`, "The unit").
//!
//! A segment ends at a line break or at a run of sentence-ending marks `.` `!` `?` `؟`
//! `…` — except a dot between two digits (`2.5`, `340.000`). Each segment is trimmed of
//! surrounding whitespace; a piece with no letter or digit (a lone `*`, `...`) is not a
//! segment. Offsets refer to the *original* text, in Unicode code points (what the API
//! reports) and in bytes (to slice the `&str`): segmentation runs before presentation
//! forms are expanded (none expands to a line break or a sentence-ending mark), so they
//! never have to be mapped back.

use super::tokenize::has_word_char;

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

/// Byte length of the sentence-ending mark (`.` `!` `?` `؟` `…`) starting at `bytes[i]`, if there is one.
/// All the marks are ASCII except `؟` (D8 9F) and `…` (E2 80 A6), so segmentation scans
/// bytes and decodes characters only at segment edges.
#[inline]
fn terminator_at(bytes: &[u8], i: usize) -> Option<usize> {
    match bytes.get(i)? {
        b'.' | b'!' | b'?' => Some(1),
        0xD8 if bytes.get(i + 1) == Some(&0x9F) => Some(2),
        0xE2 if bytes.get(i + 1..i + 3) == Some(&[0x80, 0xA6]) => Some(3),
        _ => None,
    }
}

/// The positions of the bytes that can begin a line break or a sentence-ending mark,
/// in increasing order: `\n` `\r` `.` `!` `?`, 0x9F (second byte of `؟`, D8 9F) and
/// 0xE2 (first byte of `…`, E2 80 A6). Found with `memchr`'s vectorized searches, three
/// of them merged, so the text between boundaries is never looked at byte by byte.
struct Candidates<'t> {
    common: std::iter::Peekable<memchr::Memchr3<'t>>,
    rare: std::iter::Peekable<memchr::Memchr3<'t>>,
    ellipsis: std::iter::Peekable<memchr::Memchr<'t>>,
}

impl<'t> Candidates<'t> {
    fn new(bytes: &'t [u8]) -> Self {
        Self {
            common: memchr::memchr3_iter(b'\n', b'.', 0x9F, bytes).peekable(),
            rare: memchr::memchr3_iter(b'\r', b'!', b'?', bytes).peekable(),
            ellipsis: memchr::memchr_iter(0xE2, bytes).peekable(),
        }
    }

    /// The first candidate at or after byte `from`.
    fn next_from(&mut self, from: usize) -> Option<usize> {
        fn first_from(
            it: &mut std::iter::Peekable<impl Iterator<Item = usize>>,
            from: usize,
        ) -> Option<usize> {
            while let Some(&p) = it.peek() {
                if p >= from {
                    return Some(p);
                }
                it.next();
            }
            None
        }
        [
            first_from(&mut self.common, from),
            first_from(&mut self.rare, from),
            first_from(&mut self.ellipsis, from),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

/// Collects segments, converting byte offsets to code points incrementally.
struct Spans<'t> {
    text: &'t str,
    spans: Vec<Span>,
    /// `cp` code points precede byte `byte`.
    byte: usize,
    cp: usize,
}

impl Spans<'_> {
    fn code_point(&mut self, byte: usize) -> usize {
        self.cp += self.text[self.byte..byte].chars().count();
        self.byte = byte;
        self.cp
    }

    /// Adds `text[from..to]`, trimmed, if it holds a letter or digit.
    fn push(&mut self, from: usize, to: usize) {
        let raw = &self.text[from..to];
        let trimmed = raw.trim_start();
        let byte_start = from + (raw.len() - trimmed.len());
        let trimmed = trimmed.trim_end();
        if !has_word_char(trimmed) {
            return;
        }
        let byte_end = byte_start + trimmed.len();
        let start = self.code_point(byte_start);
        let end = self.code_point(byte_end);
        self.spans.push(Span {
            start,
            end,
            byte_start,
            byte_end,
        });
    }
}

/// Splits `text` into segments, in order, in one pass over its bytes.
pub fn segment(text: &str) -> Vec<Span> {
    let bytes = text.as_bytes();
    let mut out = Spans {
        text,
        spans: Vec::new(),
        byte: 0,
        cp: 0,
    };
    let mut candidates = Candidates::new(bytes);
    let mut start = 0;
    let mut i = 0;
    while let Some(next) = candidates.next_from(i) {
        i = next;
        let b = bytes[i];
        if b == b'\n' || b == b'\r' {
            out.push(start, i);
            i += 1;
            start = i;
            continue;
        }
        // `؟` is D8 9F; it is found by its second byte (D8 leads most Arabic letters).
        let at = if b == 0x9F && i > 0 && bytes[i - 1] == 0xD8 {
            i - 1
        } else {
            i
        };
        let Some(len) = terminator_at(bytes, at) else {
            i += 1;
            continue;
        };
        let decimal_dot = b == b'.'
            && i > 0
            && bytes[i - 1].is_ascii_digit()
            && bytes.get(i + 1).is_some_and(u8::is_ascii_digit);
        if decimal_dot {
            i += 1;
            continue;
        }
        let mut end = at + len;
        while let Some(more) = terminator_at(bytes, end) {
            end += more;
        }
        out.push(start, end);
        start = end;
        i = end;
    }
    out.push(start, bytes.len());
    out.spans
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

    proptest::proptest! {
        #[test]
        fn candidates_are_exactly_the_boundary_bytes(text in "[ا-ي .!?؟…\\n\\r0-9a-z€]{0,200}") {
            let bytes = text.as_bytes();
            let expected: Vec<usize> = (0..bytes.len())
                .filter(|&i| matches!(bytes[i], b'\n' | b'\r' | b'.' | b'!' | b'?' | 0x9F | 0xE2))
                .collect();
            let mut found = Vec::new();
            let mut candidates = Candidates::new(bytes);
            let mut from = 0;
            while let Some(i) = candidates.next_from(from) {
                found.push(i);
                from = i + 1;
            }
            proptest::prop_assert_eq!(found, expected);
        }
    }

    #[test]
    fn text_without_letters_has_no_segments() {
        assert!(segment("").is_empty());
        assert!(segment(" \n\t . ! ؟ ").is_empty());
    }
}
