//! Batch classification of JSON lines (`tasnif classify --jsonl`).
//!
//! The input is streamed, never read whole: a reader thread fills blocks of complete
//! lines (about [`BLOCK_BYTES`] each) while the previous block is classified on every
//! core, and block buffers are recycled, so memory stays a few blocks whatever the input
//! size. Each input line is an object `{"id": …, "text": …}` (`id` optional, a string or
//! a number). Results come out in input order, one line each: the `ClassifyResponse` in
//! the protocol's canonical JSON, the same shape the server answers. A line that is not
//! such an object or cannot be classified is reported on the error writer as
//! `line N: why` and the batch goes on; blank lines are counted and skipped. The
//! [`Summary`] says how many of each.

use std::io::{Read, Write};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};
use std::thread::JoinHandle;

use rayon::prelude::*;
use serde::Deserialize;

use crate::classifier::{Classifier, Options};
use crate::protocol::{self, convert};

/// Target size of a block of input lines. Big enough that the per-block hand-off is
/// negligible, small enough that reading the next block overlaps classifying this one.
pub const BLOCK_BYTES: usize = 1 << 20;

/// Lines classified by one rayon task: small, so that a block's last tasks end together.
const LINES_PER_TASK: usize = 8;

/// Room reserved per result line (a result without segments is about 400 bytes).
const RESULT_LINE_BYTES: usize = 512;

/// Blocks read ahead of the one being classified.
const READ_AHEAD: usize = 2;

/// An input line.
#[derive(Debug, Deserialize)]
struct JsonlInput<'a> {
    #[serde(default)]
    id: Option<Id>,
    #[serde(borrow)]
    text: std::borrow::Cow<'a, str>,
}

/// An input line's `id`: a string, or a number (kept as written).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Id {
    Text(String),
    Number(serde_json::Number),
}

impl Id {
    fn into_string(self) -> String {
        match self {
            Id::Text(s) => s,
            Id::Number(n) => n.to_string(),
        }
    }
}

impl Summary {
    /// One line for a person: `classified 5 of 6 inputs, 1 failed, 2 blank lines skipped`.
    pub fn report(&self) -> String {
        let mut line = format!(
            "classified {} of {} input{}",
            self.classified,
            self.classified + self.failed,
            if self.classified + self.failed == 1 {
                ""
            } else {
                "s"
            }
        );
        if self.failed > 0 {
            line += &format!(", {} failed", self.failed);
        }
        if self.blank > 0 {
            line += &format!(
                ", {} blank line{} skipped",
                self.blank,
                if self.blank == 1 { "" } else { "s" }
            );
        }
        line
    }
}

/// One input line as an object (its text borrowed from the line where it can be).
fn parse(line: &[u8]) -> Result<JsonlInput<'_>, String> {
    // simdutf8 validates far faster than serde_json's byte-wise check.
    let text = simdutf8::basic::from_utf8(line).map_err(|_| "not valid UTF-8".to_string())?;
    // serde would read `["id", "text"]` as the object's fields in order: refuse it first.
    if !text.trim_start().starts_with('{') {
        return Err(match serde_json::from_str::<serde_json::Value>(text) {
            Err(e) => format!("not JSON: {e}"),
            Ok(v) => not_an_object(&v),
        });
    }
    serde_json::from_str(text).map_err(|e| parse_error(text, e))
}

/// One input line as its `id` (empty when absent) and `text`, or why it is not one.
pub fn parse_line(line: &[u8]) -> Result<(String, String), String> {
    let item = parse(line)?;
    Ok((
        item.id.map(Id::into_string).unwrap_or_default(),
        item.text.into_owned(),
    ))
}

/// What a JSON-lines run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Lines classified (a result line written).
    pub classified: usize,
    /// Lines reported as errors.
    pub failed: usize,
    /// Blank lines skipped.
    pub blank: usize,
}

/// Why a line could not be parsed, said for a person: serde's message for a malformed
/// object, or what the line is instead of an object.
fn parse_error(text: &str, e: serde_json::Error) -> String {
    match serde_json::from_str::<serde_json::Value>(text) {
        Err(e) => format!("not JSON: {e}"),
        Ok(serde_json::Value::Object(_)) => format!("not a valid input object: {e}"),
        Ok(other) => not_an_object(&other),
    }
}

fn not_an_object(v: &serde_json::Value) -> String {
    let kind = match v {
        serde_json::Value::Object(_) => "an object",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Null => "null",
    };
    format!(r#"expected an object {{"id": …, "text": …}}, found {kind}"#)
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
            // Room for the whole block at once: growing by doubling as `read_to_end` does
            // would copy each new buffer several times over.
            bytes.reserve(target.saturating_sub(bytes.len()));
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

/// Classifies every line `reader` yields: one result line each on `out`, in input order;
/// a line that fails is reported on `errors` (`line N: why`) instead.
pub fn classify_jsonl(
    classifier: &Classifier,
    reader: JsonlReader,
    out: &mut impl Write,
    errors: &mut impl Write,
    options: &Options,
    segments: bool,
) -> anyhow::Result<Summary> {
    let JsonlReader {
        blocks,
        recycle,
        thread,
    } = reader;
    let mut summary = Summary::default();
    for block in &blocks {
        let block = block?;
        // The block ends at a newline (or at the end of the input): its lines are the
        // pieces between newlines, without an empty piece after the last one.
        let body = block.bytes.strip_suffix(b"\n").unwrap_or(&block.bytes);
        let mut lines: Vec<(usize, &[u8])> = Vec::new();
        let pieces = memchr::memchr_iter(b'\n', body)
            .chain(std::iter::once(body.len()))
            .scan(0, |start, end| {
                let line = &body[*start..end];
                *start = end + 1;
                Some(line)
            });
        for (i, line) in pieces.enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                summary.blank += 1;
            } else {
                lines.push((block.first_line + i, line));
            }
        }
        let results: Vec<(Vec<u8>, Vec<u8>, usize)> = lines
            .par_chunks(LINES_PER_TASK)
            .map(|chunk| {
                // Room for the results up front saves a dozen reallocations per task.
                let mut ok = Vec::with_capacity(RESULT_LINE_BYTES * chunk.len());
                let (mut bad, mut failed) = (Vec::new(), 0);
                for &(n, line) in chunk {
                    match classify_line(classifier, line, options, segments, &mut ok) {
                        Ok(()) => ok.push(b'\n'),
                        Err(why) => {
                            failed += 1;
                            bad.extend_from_slice(format!("line {n}: {why}\n").as_bytes());
                        }
                    }
                }
                (ok, bad, failed)
            })
            .collect();
        for (ok, bad, failed) in &results {
            out.write_all(ok)?;
            errors.write_all(bad)?;
            summary.failed += failed;
        }
        summary.classified += lines.len() - results.iter().map(|r| r.2).sum::<usize>();
        // The reader may be gone already (end of input); the buffer is then just dropped.
        let _ = recycle.send(block.bytes);
    }
    drop(blocks);
    thread.join().expect("the reader thread does not panic");
    Ok(summary)
}

/// Appends the result line (without its newline) for one input line to `out`, or says
/// why the line cannot be classified.
fn classify_line(
    classifier: &Classifier,
    line: &[u8],
    options: &Options,
    segments: bool,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    let item = parse(line)?;
    let id = item.id.map(Id::into_string).unwrap_or_default();
    let article = classifier.classify(&item.text, options).map_err(|e| {
        if id.is_empty() {
            e.to_string()
        } else {
            format!("id {id:?}: {e}")
        }
    })?;
    let response = convert::article(classifier, &article, id, segments);
    protocol::write_json(out, &response);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Result lines, error lines and the summary of one run.
    fn run(input: impl Into<Vec<u8>>) -> (Vec<serde_json::Value>, Vec<String>, Summary) {
        let classifier = Classifier::embedded().unwrap();
        let reader = JsonlReader::spawn(std::io::Cursor::new(input.into()));
        let (mut out, mut errors) = (Vec::new(), Vec::new());
        let summary = classify_jsonl(
            &classifier,
            reader,
            &mut out,
            &mut errors,
            &Options::default(),
            false,
        )
        .unwrap();
        let lines: Vec<serde_json::Value> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let errors: Vec<String> = String::from_utf8(errors)
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
        assert_eq!(lines.len(), summary.classified);
        assert_eq!(errors.len(), summary.failed);
        (lines, errors, summary)
    }

    #[test]
    fn results_keep_input_order_and_true_line_numbers_across_blocks() {
        let article = "استقبل الرئيس وفدا روسيا في دمشق وبحث معه التعاون. ".repeat(200);
        let mut input = String::new();
        let mut expected = Vec::new();
        let mut broken = Vec::new();
        // Enough lines for several blocks, with blank and broken lines between.
        for i in 0..300 {
            match i % 50 {
                7 => input.push_str("\r\n"),
                9 => {
                    input.push_str("{not json}\n");
                    broken.push(i + 1);
                }
                _ => {
                    input.push_str(
                        &serde_json::json!({"id": i.to_string(), "text": article}).to_string(),
                    );
                    input.push('\n');
                    expected.push(i.to_string());
                }
            }
        }
        assert!(input.len() > 3 * BLOCK_BYTES);
        // The last line has no newline.
        input.push_str(
            &serde_json::json!({"id": "last", "text": "سيطر الجيش على المدينة"}).to_string(),
        );
        expected.push("last".into());
        let (out, errors, summary) = run(input);
        let ids: Vec<&str> = out.iter().map(|r| r["id"].as_str().unwrap()).collect();
        assert_eq!(ids, expected);
        assert!(out.iter().all(|r| r["primary"].is_string()));
        // Errors name the true (1-based) line numbers.
        let lines: Vec<usize> = errors
            .iter()
            .map(|e| e[5..e.find(':').unwrap()].parse().unwrap())
            .collect();
        assert_eq!(lines, broken);
        assert!(errors[0].contains("not JSON"), "{}", errors[0]);
        assert_eq!(summary.blank, 6);
    }

    #[test]
    fn results_are_the_protocols_canonical_json() {
        let (out, _, _) = run(r#"{"id": 7, "text": "سيطر الجيش على المدينة بعد معارك عنيفة"}"#);
        let r = &out[0];
        // A numeric id is kept as written; names are lowerCamelCase; the model answers.
        assert_eq!(r["id"], "7");
        assert!(r["segmentCount"].as_u64().unwrap() >= 1);
        assert!(r["modelVersion"].is_string());
        assert!(r["coverage"]["ratio"].is_number());
        assert!(r.get("segment_count").is_none());
    }

    #[test]
    fn a_line_longer_than_a_block_is_read_whole() {
        // About 1.15 MB, 630k characters: over a block, under the default character limit.
        let text = "المفاوضات في جنيف ".repeat(BLOCK_BYTES / 30);
        let input = serde_json::json!({"id": "long", "text": text}).to_string();
        assert!(input.len() > BLOCK_BYTES);
        let (out, _, _) = run(input);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0]["id"], "long");
        assert!(out[0]["primary"].is_string());
    }

    #[test]
    fn bad_lines_are_reported_and_the_batch_goes_on() {
        let mut input = b"{\"id\":\"a\",\"text\":\"hello\"}\n\xFF\xFE\n[1, 2]\n".to_vec();
        input.extend_from_slice("{\"id\":\"b\",\"text\":\"سيطر الجيش على المدينة\"}\n".as_bytes());
        let (out, errors, summary) = run(input);
        assert_eq!(
            summary,
            Summary {
                classified: 1,
                failed: 3,
                blank: 0
            }
        );
        assert!(errors[0].starts_with("line 1: id \"a\": "), "{}", errors[0]);
        assert!(errors[0].contains("Arabic"), "{}", errors[0]);
        assert_eq!(errors[1], "line 2: not valid UTF-8");
        assert!(
            errors[2].starts_with("line 3: expected an object"),
            "{}",
            errors[2]
        );
        assert!(errors[2].ends_with("found an array"), "{}", errors[2]);
        assert_eq!(out[0]["id"], "b");
    }
}
