//! A client of a running tasnif server, behind `tasnif classify --server ADDR`: files go
//! through `Classify`, JSON lines through one `ClassifyStream`, and every answer is
//! printed as the protocol's canonical JSON — exactly what the in-process path prints.
//!
//! Failures are reported on stderr, one line each with the file or line they concern,
//! and counted in the returned [`Summary`]; the run goes on past them.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

use crate::batch::{parse_line, Summary};
use crate::input::{open_input, read_input};
use crate::protocol::{self as proto, topic_classifier_client::TopicClassifierClient};

/// What to ask the server for, beside the text.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ask {
    pub segments: bool,
    pub explain: usize,
    pub truncate: bool,
}

impl Ask {
    fn request(&self, text: String, id: String) -> proto::ClassifyRequest {
        let mut include = Vec::new();
        if self.segments {
            include.push(proto::Include::Segments as i32);
        }
        if self.explain > 0 {
            include.push(proto::Include::Explanations as i32);
        }
        proto::ClassifyRequest {
            text,
            id,
            include,
            explain_top_n: self.explain as u32,
            truncate: self.truncate,
            ..Default::default()
        }
    }
}

/// `host:port` or a URL (`http://…`, `https://…`) as the URL tonic connects to.
pub fn server_url(addr: &str) -> String {
    if addr.contains("://") {
        addr.to_string()
    } else {
        format!("http://{addr}")
    }
}

/// One line describing a failed call: its status code and message.
fn status_line(s: &tonic::Status) -> String {
    format!("{:?}: {}", s.code(), s.message())
}

async fn connect(addr: &str) -> Result<TopicClassifierClient<Channel>> {
    let url = server_url(addr);
    let channel = Channel::from_shared(url.clone())
        .with_context(|| format!("{addr:?} is not a server address (host:port or a URL)"))?
        .connect()
        .await
        // tonic's error repeats itself ("transport error: tcp connect error: …"); its
        // innermost cause says what happened.
        .map_err(|e| {
            let mut cause: &dyn std::error::Error = &e;
            while let Some(next) = cause.source() {
                cause = next;
            }
            anyhow::anyhow!("cannot connect to {url}: {cause}")
        })?;
    Ok(TopicClassifierClient::new(channel).max_decoding_message_size(64 * 1024 * 1024))
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// Classifies `files` (`-` = stdin) on the server at `addr`, one `Classify` each.
pub fn classify_files(addr: &str, files: &[PathBuf], ask: Ask) -> Result<Summary> {
    runtime()?.block_on(async {
        let mut client = connect(addr).await?;
        let mut summary = Summary::default();
        let stdout = std::io::stdout();
        for path in files {
            let name = path.display().to_string();
            let text = match read_input(path) {
                Ok(text) => text,
                Err(e) => {
                    eprintln!("{e:#}");
                    summary.failed += 1;
                    continue;
                }
            };
            match client.classify(ask.request(text, name.clone())).await {
                Ok(r) => {
                    writeln!(stdout.lock(), "{}", proto::to_json(r.get_ref()))?;
                    summary.classified += 1;
                }
                Err(s) => {
                    eprintln!("{name}: {}", status_line(&s));
                    summary.failed += 1;
                }
            }
        }
        Ok(summary)
    })
}

/// Classifies a JSON-lines input (`-` = stdin) on the server at `addr` through one
/// `ClassifyStream`: lines are read and sent as the server takes them (HTTP/2 flow
/// control), results printed in input order.
pub fn classify_jsonl(addr: &str, input: &std::path::Path, ask: Ask) -> Result<Summary> {
    let reader = BufReader::new(open_input(input)?);
    runtime()?.block_on(async {
        let mut client = connect(addr).await?;
        let (tx, rx) = tokio::sync::mpsc::channel::<proto::ClassifyRequest>(16);
        // Input line numbers of the requests sent, oldest first: results come back in
        // the order sent.
        let (sent_tx, mut sent_rx) = tokio::sync::mpsc::unbounded_channel::<usize>();
        // The input is read on a blocking thread; it reports its own failures.
        let producer = tokio::task::spawn_blocking(move || -> Result<Summary> {
            let mut summary = Summary::default();
            for (i, line) in reader.split(b'\n').enumerate() {
                let n = i + 1;
                let line = line.context("cannot read the input")?;
                let line = line.strip_suffix(b"\r").unwrap_or(&line);
                if line.iter().all(u8::is_ascii_whitespace) {
                    summary.blank += 1;
                    continue;
                }
                match parse_line(line) {
                    Ok((id, text)) => {
                        // Sent before the request, so the reader of results knows it.
                        let _ = sent_tx.send(n);
                        if tx.blocking_send(ask.request(text, id)).is_err() {
                            break; // the stream ended; the main task reports why
                        }
                    }
                    Err(why) => {
                        eprintln!("line {n}: {why}");
                        summary.failed += 1;
                    }
                }
            }
            Ok(summary)
        });
        let mut summary = Summary::default();
        let mut pending: VecDeque<usize> = VecDeque::new();
        let stdout = std::io::stdout();
        match client.classify_stream(ReceiverStream::new(rx)).await {
            Err(s) => eprintln!("the stream was refused: {}", status_line(&s)),
            Ok(response) => {
                let mut results = response.into_inner();
                loop {
                    match results.message().await {
                        Ok(Some(result)) => {
                            while let Ok(n) = sent_rx.try_recv() {
                                pending.push_back(n);
                            }
                            let n = pending.pop_front().unwrap_or(0);
                            match result.outcome {
                                Some(proto::classify_result::Outcome::Response(r)) => {
                                    writeln!(stdout.lock(), "{}", proto::to_json(&r))?;
                                    summary.classified += 1;
                                }
                                Some(proto::classify_result::Outcome::Error(e)) => {
                                    let code = tonic::Code::from_i32(e.code);
                                    eprintln!("line {n}: {code:?}: {}", e.message);
                                    summary.failed += 1;
                                }
                                None => {
                                    eprintln!("line {n}: the server sent an empty result");
                                    summary.failed += 1;
                                }
                            }
                        }
                        Ok(None) => break,
                        Err(s) => {
                            eprintln!("the stream failed: {}", status_line(&s));
                            break;
                        }
                    }
                }
            }
        }
        // Lines sent but never answered (the stream failed) are failures too.
        while let Ok(n) = sent_rx.try_recv() {
            pending.push_back(n);
        }
        let read = producer.await.context("the input reader stopped")??;
        while let Ok(n) = sent_rx.try_recv() {
            pending.push_back(n);
        }
        if !pending.is_empty() {
            eprintln!(
                "{} line(s) sent were not answered, from line {}",
                pending.len(),
                pending[0]
            );
        }
        summary.failed += read.failed + pending.len();
        summary.blank += read.blank;
        Ok(summary)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_without_a_scheme_are_plain_http() {
        assert_eq!(server_url("127.0.0.1:50051"), "http://127.0.0.1:50051");
        assert_eq!(server_url("localhost:1"), "http://localhost:1");
        assert_eq!(server_url("https://h:443"), "https://h:443");
    }
}
