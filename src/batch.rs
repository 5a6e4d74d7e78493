//! Batch classification of JSON lines (`tasnif classify --jsonl`), and the JSON record
//! the CLI prints for an article.
//!
//! The input is streamed, never read whole: a reader thread fills blocks of complete
//! lines (about [`BLOCK_BYTES`] each) while the previous block is classified on every
//! core, and block buffers are recycled, so memory stays a few blocks whatever the input
//! size. Output lines come out in input order, one per non-empty input line: the
//! article's result, or `{"line": n, "error": …}` for a line that is not valid JSON or
//! cannot be classified (the batch goes on).

use std::io::{Read, Write};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};
use std::thread::JoinHandle;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::classifier::{Article, Classifier, Options};

/// Target size of a block of input lines. Big enough that the per-block hand-off is
/// negligible, small enough that reading the next block overlaps classifying this one.
pub const BLOCK_BYTES: usize = 1 << 20;

/// Lines classified by one rayon task: small, so that a block's last tasks end together.
const LINES_PER_TASK: usize = 8;

/// Blocks read ahead of the one being classified.
const READ_AHEAD: usize = 2;

/// One article's result as the CLI prints it.
#[derive(Debug, Serialize)]
pub struct ArticleJson<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<&'a str>,
    pub primary: &'a str,
    pub scores: Vec<LabelScoreJson<'a>>,
    pub topics: Vec<&'a str>,
    pub coverage: f32,
    pub out_of_domain: bool,
    pub characters: usize,
    pub segment_count: usize,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<SegmentJson<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub explanations: Vec<ExplanationJson<'a>>,
}

#[derive(Debug, Serialize)]
pub struct LabelScoreJson<'a> {
    pub label: &'a str,
    pub probability: f32,
}

#[derive(Debug, Serialize)]
pub struct SegmentJson<'a> {
    pub start: usize,
    pub end: usize,
    pub label: &'a str,
    pub probabilities: Vec<LabelScoreJson<'a>>,
}

#[derive(Debug, Serialize)]
pub struct ExplanationJson<'a> {
    pub label: &'a str,
    pub terms: Vec<(&'a str, f32)>,
}

fn scores<'a>(labels: &'a [String], p: &[f32]) -> Vec<LabelScoreJson<'a>> {
    let mut v: Vec<LabelScoreJson> = labels
        .iter()
        .zip(p)
        .map(|(l, &probability)| LabelScoreJson {
            label: l,
            probability,
        })
        .collect();
    v.sort_by(|a, b| b.probability.total_cmp(&a.probability));
    v
}

impl<'a> ArticleJson<'a> {
    pub fn new(labels: &'a [String], a: &'a Article, id: Option<&'a str>, segments: bool) -> Self {
        Self {
            id,
            primary: &labels[a.primary],
            scores: scores(labels, &a.shares),
            topics: a.topics.iter().map(|&t| labels[t].as_str()).collect(),
            coverage: a.coverage.ratio(),
            out_of_domain: a.out_of_domain,
            characters: a.characters,
            segment_count: a.segments.len(),
            segments: if segments {
                a.segments
                    .iter()
                    .map(|s| SegmentJson {
                        start: s.span.start,
                        end: s.span.end,
                        label: &labels[s.label],
                        probabilities: scores(labels, &s.probabilities),
                    })
                    .collect()
            } else {
                Vec::new()
            },
            explanations: a
                .explanations
                .iter()
                .enumerate()
                .map(|(c, terms)| ExplanationJson {
                    label: &labels[c],
                    terms: terms
                        .iter()
                        .map(|t| (t.term.as_str(), t.contribution))
                        .collect(),
                })
                .collect(),
        }
    }
}

/// An input line.
#[derive(Debug, Deserialize)]
struct JsonlInput<'a> {
    #[serde(default, borrow)]
    id: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    text: std::borrow::Cow<'a, str>,
}

/// Complete lines of input.
struct Block {
    bytes: Vec<u8>,
    /// 1-based number of the block's first line.
    first_line: usize,
}

/// Reads the input in blocks of complete lines on its own thread, ahead of the
/// classification. Start it before loading the model: the two overlap.
pub struct JsonlReader {
    blocks: Receiver<std::io::Result<Block>>,
    recycle: Sender<Vec<u8>>,
    thread: JoinHandle<()>,
}

impl JsonlReader {
    pub fn spawn(input: impl Read + Send + 'static) -> Self {
        let (tx, blocks) = sync_channel(READ_AHEAD);
        let (recycle, spare) = channel();
        let thread = std::thread::Builder::new()
            .name("jsonl-reader".into())
            .spawn(move || read_blocks(input, &tx, &spare))
            .expect("can spawn a thread");
        Self {
            blocks,
            recycle,
            thread,
        }
    }
}

/// The reader thread: sends blocks until the input ends, an error occurs (sent on), or
/// the receiver hangs up.
fn read_blocks(
    mut input: impl Read,
    tx: &SyncSender<std::io::Result<Block>>,
    spare: &Receiver<Vec<u8>>,
) {
    let mut carry: Vec<u8> = Vec::new();
    let mut first_line = 1;
    loop {
        let mut bytes = spare.try_recv().unwrap_or_default();
        bytes.clear();
        bytes.append(&mut carry);
        // Fill to the target size; a line longer than that grows the block.
        let mut target = BLOCK_BYTES;
        let (end, eof) = loop {
            let want = target.saturating_sub(bytes.len()) as u64;
            if let Err(e) = (&mut input).take(want).read_to_end(&mut bytes) {
                let _ = tx.send(Err(e));
                return;
            }
            // `take(n).read_to_end` stops short of n bytes only at the end of the input.
            if bytes.len() < target {
                // End of input: the last line needs no newline.
                break (bytes.len(), true);
            }
            if let Some(last) = memchr::memrchr(b'\n', &bytes) {
                break (last + 1, false);
            }
            target += BLOCK_BYTES;
        };
        carry.extend_from_slice(&bytes[end..]);
        bytes.truncate(end);
        let lines = memchr::memchr_iter(b'\n', &bytes).count();
        if !bytes.is_empty() && tx.send(Ok(Block { bytes, first_line })).is_err() {
            return;
        }
        first_line += lines;
        if eof {
            return;
        }
    }
}

/// Classifies every line `reader` yields and writes one result line each to `out`, in
/// input order. Returns the number of lines written.
pub fn classify_jsonl(
    classifier: &Classifier,
    reader: JsonlReader,
    out: &mut impl Write,
    options: &Options,
    segments: bool,
) -> anyhow::Result<usize> {
    let JsonlReader {
        blocks,
        recycle,
        thread,
    } = reader;
    let mut written = 0;
    for block in &blocks {
        let block = block?;
        let lines: Vec<(usize, &[u8])> = memchr::memchr_iter(b'\n', &block.bytes)
            .chain(std::iter::once(block.bytes.len()))
            .scan(0, |start, end| {
                let line = &block.bytes[*start..end];
                *start = end + 1;
                Some(line)
            })
            .enumerate()
            .map(|(i, l)| (block.first_line + i, l.strip_suffix(b"\r").unwrap_or(l)))
            .filter(|(_, l)| !l.is_empty())
            .collect();
        let results: Vec<Vec<u8>> = lines
            .par_chunks(LINES_PER_TASK)
            .map(|chunk| {
                let mut buf = Vec::new();
                for &(n, line) in chunk {
                    classify_line(classifier, n, line, options, segments, &mut buf);
                    buf.push(b'\n');
                }
                buf
            })
            .collect();
        for r in &results {
            out.write_all(r)?;
        }
        written += lines.len();
        // The reader may be gone already (end of input); the buffer is then just dropped.
        let _ = recycle.send(block.bytes);
    }
    drop(blocks);
    thread.join().expect("the reader thread does not panic");
    Ok(written)
}

/// Appends the output line (without its newline) for input line number `n` to `out`.
fn classify_line(
    classifier: &Classifier,
    n: usize,
    line: &[u8],
    options: &Options,
    segments: bool,
    out: &mut Vec<u8>,
) {
    // simdutf8 validates far faster than serde_json's byte-wise check.
    let parsed = simdutf8::basic::from_utf8(line)
        .map_err(|_| "line is not valid UTF-8".to_string())
        .and_then(|text| serde_json::from_str::<JsonlInput>(text).map_err(|e| e.to_string()));
    let written = match parsed {
        Err(e) => serde_json::to_writer(
            &mut *out,
            &serde_json::json!({"line": n, "error": format!("invalid JSON line: {e}")}),
        ),
        Ok(item) => match classifier.classify(&item.text, options) {
            Ok(a) => serde_json::to_writer(
                &mut *out,
                &ArticleJson::new(classifier.labels(), &a, item.id.as_deref(), segments),
            ),
            Err(e) => serde_json::to_writer(
                &mut *out,
                &serde_json::json!({"id": item.id, "line": n, "error": e.to_string()}),
            ),
        },
    };
    written.expect("JSON values serialize into memory");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: impl Into<Vec<u8>>) -> Vec<serde_json::Value> {
        let classifier = Classifier::embedded().unwrap();
        let reader = JsonlReader::spawn(std::io::Cursor::new(input.into()));
        let mut out = Vec::new();
        let n = classify_jsonl(&classifier, reader, &mut out, &Options::default(), false).unwrap();
        let lines: Vec<serde_json::Value> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), n);
        lines
    }

    #[test]
    fn results_keep_input_order_and_true_line_numbers_across_blocks() {
        let article = "استقبل الرئيس وفدا روسيا في دمشق وبحث معه التعاون. ".repeat(200);
        let mut input = String::new();
        let mut expected = Vec::new();
        // Enough lines for several blocks, with blank and broken lines between.
        for i in 0..300 {
            match i % 50 {
                7 => input.push_str("\r\n"),
                9 => {
                    input.push_str("{not json}\n");
                    expected.push(None);
                }
                _ => {
                    input.push_str(
                        &serde_json::json!({"id": i.to_string(), "text": article}).to_string(),
                    );
                    input.push('\n');
                    expected.push(Some(i.to_string()));
                }
            }
        }
        assert!(input.len() > 3 * BLOCK_BYTES);
        // The last line has no newline.
        input.push_str(
            &serde_json::json!({"id": "last", "text": "سيطر الجيش على المدينة"}).to_string(),
        );
        expected.push(Some("last".into()));
        let out = run(input);
        assert_eq!(out.len(), expected.len());
        for (got, want) in out.iter().zip(&expected) {
            match want {
                Some(id) => {
                    assert_eq!(got["id"], id.as_str());
                    assert!(got["primary"].is_string(), "{got}");
                }
                None => assert!(got["error"].as_str().unwrap().contains("invalid JSON")),
            }
        }
        // Line 10 is the first broken one (0-based input line 9).
        assert_eq!(out[8]["line"], 10);
    }

    #[test]
    fn a_line_longer_than_a_block_is_read_whole() {
        // About 1.15 MB, 630k characters: over a block, under the default character limit.
        let text = "المفاوضات في جنيف ".repeat(BLOCK_BYTES / 30);
        let input = serde_json::json!({"id": "long", "text": text}).to_string();
        assert!(input.len() > BLOCK_BYTES);
        let out = run(input);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0]["id"], "long");
        assert!(out[0]["primary"].is_string());
    }

    #[test]
    fn bad_lines_get_an_error_and_the_batch_goes_on() {
        let mut input = b"{\"id\":\"a\",\"text\":\"hello\"}\n\xFF\xFE\n".to_vec();
        input.extend_from_slice("{\"id\":\"b\",\"text\":\"سيطر الجيش على المدينة\"}\n".as_bytes());
        let out = run(input);
        assert_eq!(out.len(), 3);
        assert!(
            out[0]["error"].as_str().unwrap().contains("Arabic"),
            "{}",
            out[0]
        );
        assert_eq!(out[1]["line"], 2);
        assert!(
            out[1]["error"].as_str().unwrap().contains("UTF-8"),
            "{}",
            out[1]
        );
        assert_eq!(out[2]["id"], "b");
    }
}
