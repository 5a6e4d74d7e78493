//! Hostile clients: malformed protobuf, random bytes on the port, a 100 MiB message,
//! thousands of abandoned streams. None of them may crash the server or stop it from
//! answering everybody else. And unusual but honest text: Arabic in presentation forms.

mod common;

use std::time::Duration;

use bytes::{Buf, BufMut};
use common::TestServer;
use tasnif::service::proto;
use tokio::io::AsyncWriteExt;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::{Code, Request, Status};

/// A codec that sends and receives raw message bytes, to send what no generated
/// client would.
#[derive(Debug, Clone, Default)]
struct Raw;
#[derive(Debug)]
struct RawEncoder;
#[derive(Debug)]
struct RawDecoder;

impl Codec for Raw {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;
    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }
    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

impl Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawDecoder {
    type Item = Vec<u8>;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining()).to_vec()))
    }
}

async fn raw_classify(server: &TestServer, body: Vec<u8>) -> Result<Vec<u8>, Status> {
    let mut grpc =
        tonic::client::Grpc::new(server.channel().await).max_encoding_message_size(usize::MAX);
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    let path = http::uri::PathAndQuery::from_static("/tasnif.v1.TopicClassifier/Classify");
    grpc.unary(Request::new(body), path, Raw)
        .await
        .map(|r| r.into_inner())
}

async fn still_serving(server: &TestServer) {
    let mut client = server.client().await;
    let r = client
        .classify(proto::ClassifyRequest {
            text: "سيطر الجيش على المدينة بعد اشتباكات عنيفة".into(),
            ..Default::default()
        })
        .await
        .expect("the server still answers");
    assert_eq!(r.into_inner().primary, "military");
}

#[tokio::test]
async fn malformed_protobuf_is_an_error_not_a_crash() {
    let server = TestServer::start().await;
    for body in [
        vec![0xFF; 16],               // invalid tag and varint
        vec![0x0A, 0x7F, b'x'],       // field 1 claims 127 bytes, has 1
        vec![0x0A, 0x02, 0xC3, 0x28], // field 1 is not UTF-8
        vec![0x1A, 0x01],             // field 3 truncated
    ] {
        let status = raw_classify(&server, body).await.unwrap_err();
        // The gRPC status-code guide makes a parse failure INTERNAL.
        assert_eq!(status.code(), Code::Internal, "{}", status.message());
    }
    // An empty message is a valid empty request: INVALID_ARGUMENT, empty text.
    let status = raw_classify(&server, Vec::new()).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    still_serving(&server).await;
}

#[tokio::test]
async fn random_bytes_on_the_port_do_not_disturb_the_server() {
    let server = TestServer::start().await;
    let addr = server.url.trim_start_matches("http://").to_string();
    for seed in 0u32..20 {
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        // Deterministic garbage, some of it starting like an HTTP/2 preface.
        let mut junk: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2654435761) ^ seed) as u8)
            .collect();
        if seed % 2 == 0 {
            junk.splice(0..0, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".iter().copied());
        }
        let _ = stream.write_all(&junk).await;
        let _ = stream.shutdown().await;
    }
    still_serving(&server).await;
}

#[tokio::test]
async fn a_100_mib_message_is_refused_without_reading_it() {
    let server = TestServer::start().await;
    let huge = vec![b'a'; 100 * 1024 * 1024];
    let status = tokio::time::timeout(Duration::from_secs(60), raw_classify(&server, huge))
        .await
        .expect("refused promptly")
        .unwrap_err();
    // The server answers as soon as it has read the 5-byte length prefix.
    assert_eq!(
        status.code(),
        Code::ResourceExhausted,
        "{}",
        status.message()
    );
    assert!(status.message().contains("104857600 bytes"));
    still_serving(&server).await;
}

/// Resident memory of this process (server and client), in KiB; Linux only.
fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

async fn abandon_streams(channel: &tonic::transport::Channel, n: usize) {
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let channel = channel.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..n / 8 {
                let mut client =
                    proto::topic_classifier_client::TopicClassifierClient::new(channel.clone());
                let (tx, rx) = tokio::sync::mpsc::channel::<proto::ClassifyRequest>(1);
                let call = client.classify_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
                if (worker + i) % 10 == 0 {
                    // Some send a request first; none read the answer.
                    let _ = tx
                        .send(proto::ClassifyRequest {
                            text: "التقى الوزير السفير".into(),
                            ..Default::default()
                        })
                        .await;
                }
                let opened = tokio::time::timeout(Duration::from_millis(200), call).await;
                drop(tx);
                drop(opened);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

#[tokio::test]
async fn ten_thousand_abandoned_streams_do_not_leak() {
    let server = TestServer::start().await;
    let channel = server.channel().await;
    abandon_streams(&channel, 10_000).await;
    still_serving(&server).await;
    let after_first = rss_kib();
    abandon_streams(&channel, 10_000).await;
    still_serving(&server).await;
    // A leak per stream would grow memory again by the same amount; allow noise.
    if let (Some(a), Some(b)) = (after_first, rss_kib()) {
        assert!(
            b < a + 16 * 1024,
            "RSS grew from {a} KiB to {b} KiB over 10 000 more streams"
        );
    }
}

/// A sentence, and the same sentence as text extracted from a PDF often is: every letter
/// a contextual presentation form (U+FE70–U+FEFF), لا in خلال the lam-alef ligature ﻼ.
const PLAIN: &str = "سيطر الجيش على المدينة خلال اشتباكات عنيفة";
const PRESENTATION_FORMS: &str = "\u{FEB3}\u{FEF4}\u{FEC4}\u{FEAE} \
    \u{FE8D}\u{FEDF}\u{FEA0}\u{FEF4}\u{FEB6} \u{FECB}\u{FEE0}\u{FEF0} \
    \u{FE8D}\u{FEDF}\u{FEE4}\u{FEAA}\u{FEF3}\u{FEE8}\u{FE94} \u{FEA7}\u{FEFC}\u{FEDD} \
    \u{FE8D}\u{FEB7}\u{FE98}\u{FE92}\u{FE8E}\u{FEDB}\u{FE8E}\u{FE95} \
    \u{FECB}\u{FEE8}\u{FEF4}\u{FED4}\u{FE94}";

#[tokio::test]
async fn text_in_presentation_forms_is_classified_like_ordinary_letters() {
    assert!(!PRESENTATION_FORMS
        .chars()
        .any(|c| ('\u{0600}'..='\u{06FF}').contains(&c)));
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let request = |text: &str| proto::ClassifyRequest {
        text: text.into(),
        include: vec![proto::Include::Segments as i32],
        ..Default::default()
    };
    let plain = client.classify(request(PLAIN)).await.unwrap().into_inner();
    let shaped = client
        .classify(request(PRESENTATION_FORMS))
        .await
        .expect("presentation forms are Arabic letters")
        .into_inner();
    assert_eq!(plain.primary, "military");
    assert_eq!(shaped.primary, plain.primary);
    assert_eq!(shaped.topics, plain.topics);
    assert_eq!(shaped.scores.len(), plain.scores.len());
    for (a, b) in plain.scores.iter().zip(&shaped.scores) {
        assert_eq!(a.label, b.label);
        assert!((a.probability - b.probability).abs() < 1e-5, "{a:?} {b:?}");
    }
    // One segment: the whole text as sent, in its code points (the ligature is one).
    let n = PRESENTATION_FORMS.chars().count();
    assert_eq!(n + 1, PLAIN.chars().count());
    assert_eq!(shaped.characters as usize, n);
    assert_eq!(shaped.segments.len(), 1);
    assert_eq!(
        (shaped.segments[0].start, shaped.segments[0].end),
        (0, n as u32)
    );
    still_serving(&server).await;
}
