//! JSON over HTTP, gRPC-Web and the OpenAPI document, on the gRPC port of a real server
//! on loopback: each JSON answer is byte for byte the canonical JSON of the gRPC answer
//! to the same request, and limits, auth and errors are the gRPC side's.

mod common;

use common::{http1, TestServer};
use prost::Message;
use tasnif::protocol::to_json;
use tasnif::service::{proto, Limits};

fn addr(server: &TestServer) -> String {
    server.url.trim_start_matches("http://").to_string()
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

async fn post_json(
    server: &TestServer,
    path: &str,
    body: &str,
) -> (u16, serde_json::Value, String) {
    let (status, headers, body) = http1(
        &addr(server),
        "POST",
        path,
        &[("content-type", "application/json")],
        body.as_bytes(),
    )
    .await;
    assert_eq!(header(&headers, "content-type"), Some("application/json"));
    let text = String::from_utf8(body).unwrap();
    (status, serde_json::from_str(&text).unwrap(), text)
}

#[tokio::test]
async fn json_answers_are_the_grpc_answers_in_canonical_json() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    for (name, text) in common::seed_articles() {
        let request = proto::ClassifyRequest {
            text: text.clone(),
            id: name.clone(),
            include: vec![
                proto::Include::Segments as i32,
                proto::Include::Explanations as i32,
            ],
            explain_top_n: 3,
            ..Default::default()
        };
        let grpc = client.classify(request.clone()).await.unwrap().into_inner();
        // The request as a JSON caller writes it (what grpcurl takes).
        let body = to_json(&request);
        let (status, _, json) = post_json(&server, "/v1/classify", &body).await;
        assert_eq!(status, 200, "{json}");
        assert_eq!(json.trim_end(), to_json(&grpc), "{name}");
    }
    // Vectorize and the model too.
    let text = "جولة جديدة من المحادثات في أستانا";
    let grpc = client
        .vectorize(proto::VectorizeRequest {
            text: text.into(),
            include_terms: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let body = serde_json::json!({"text": text, "includeTerms": true}).to_string();
    let (status, _, json) = post_json(&server, "/v1/vectorize", &body).await;
    assert_eq!((status, json.trim_end()), (200, to_json(&grpc).as_str()));
    let info = client
        .get_model_info(proto::GetModelInfoRequest {})
        .await
        .unwrap()
        .into_inner();
    let (status, _, body) = http1(&addr(&server), "GET", "/v1/model", &[], b"").await;
    assert_eq!(status, 200);
    assert_eq!(String::from_utf8(body).unwrap().trim_end(), to_json(&info));
    // A batch with a failing item: the item carries its error, the call succeeds.
    let body = r#"{"items": [{"text": "سيطر الجيش على المدينة"}, {"text": "hello"}]}"#;
    let (status, v, _) = post_json(&server, "/v1/classify:batch", body).await;
    assert_eq!(status, 200);
    assert_eq!(v["results"][0]["response"]["primary"], "military");
    assert_eq!(v["results"][1]["error"]["code"], 3);
}

#[tokio::test]
async fn json_errors_carry_the_grpc_code_as_http_status() {
    let limits = Limits {
        max_request_bytes: 2000,
        ..Limits::default()
    };
    let server = TestServer::with_limits(limits).await;
    let (status, v, _) = post_json(&server, "/v1/classify", r#"{"text": "hello"}"#).await;
    assert_eq!(status, 400);
    assert_eq!(v["code"], 3);
    assert_eq!(v["status"], "INVALID_ARGUMENT");
    assert!(v["message"].as_str().unwrap().contains("no Arabic"), "{v}");
    let (status, v, _) = post_json(&server, "/v1/classify", r#"{"text": 7}"#).await;
    assert_eq!(
        (status, v["status"].as_str()),
        (400, Some("INVALID_ARGUMENT"))
    );
    let (status, v, _) = post_json(
        &server,
        "/v1/classify",
        r#"{"text": "x", "topicThreshold": 3}"#,
    )
    .await;
    assert_eq!(
        (status, v["status"].as_str()),
        (400, Some("INVALID_ARGUMENT"))
    );
    // Over max_request_bytes: 429, like RESOURCE_EXHAUSTED on the gRPC side.
    let big = serde_json::json!({"text": "ب".repeat(3000)}).to_string();
    let (status, v, _) = post_json(&server, "/v1/classify", &big).await;
    assert_eq!(
        (status, v["status"].as_str()),
        (429, Some("RESOURCE_EXHAUSTED")),
        "{v}"
    );
    assert!(v["message"].as_str().unwrap().contains("2000"), "{v}");
    // The wrong method on a JSON route.
    let (status, headers, _) = http1(&addr(&server), "GET", "/v1/classify", &[], b"").await;
    assert_eq!(status, 405);
    assert_eq!(header(&headers, "allow"), Some("POST"));
    // Health mirrors grpc.health.v1.
    for path in ["/healthz", "/readyz"] {
        let (status, _, body) = http1(&addr(&server), "GET", path, &[], b"").await;
        assert_eq!(status, 200);
        assert_eq!(
            String::from_utf8(body).unwrap().trim(),
            r#"{"status":"SERVING"}"#
        );
    }
}

#[tokio::test]
async fn json_routes_need_the_bearer_token_health_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::write(&tokens, "s3cret\n").unwrap();
    let server = TestServer::with_auth(tokens).await;
    let body = r#"{"text": "سيطر الجيش على المدينة"}"#;
    let (status, v, _) = post_json(&server, "/v1/classify", body).await;
    assert_eq!(
        (status, v["status"].as_str()),
        (401, Some("UNAUTHENTICATED"))
    );
    let (status, _, _) = http1(
        &addr(&server),
        "POST",
        "/v1/classify",
        &[("authorization", "Bearer s3cret")],
        body.as_bytes(),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _, _) = http1(&addr(&server), "GET", "/healthz", &[], b"").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn the_openapi_document_names_every_route() {
    let server = TestServer::start().await;
    let (status, _, body) = http1(&addr(&server), "GET", "/v1/openapi.json", &[], b"").await;
    assert_eq!(status, 200);
    let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    for path in [
        "/v1/classify",
        "/v1/classify:batch",
        "/v1/vectorize",
        "/v1/model",
        "/healthz",
        "/readyz",
    ] {
        assert!(doc["paths"][path].is_object(), "{path}");
    }
    let (status, headers, body) = http1(&addr(&server), "GET", "/", &[], b"").await;
    assert_eq!(status, 200);
    assert!(header(&headers, "content-type")
        .unwrap()
        .starts_with("text/html"));
    assert!(String::from_utf8(body).unwrap().contains("dir=\"rtl\""));
}

/// gRPC-Web as a browser client sends it: HTTP/1.1, `application/grpc-web+proto`, the
/// trailers as a final frame of the body.
#[tokio::test]
async fn grpc_web_over_http1() {
    let server = TestServer::start().await;
    let request = proto::ClassifyRequest {
        text: "سيطر الجيش على المدينة بعد معارك عنيفة".into(),
        ..Default::default()
    };
    let grpc = server
        .client()
        .await
        .classify(request.clone())
        .await
        .unwrap()
        .into_inner();
    let message = request.encode_to_vec();
    let mut body = vec![0u8];
    body.extend_from_slice(&(message.len() as u32).to_be_bytes());
    body.extend_from_slice(&message);
    let (status, headers, answer) = http1(
        &addr(&server),
        "POST",
        "/tasnif.v1.TopicClassifier/Classify",
        &[
            ("content-type", "application/grpc-web+proto"),
            ("x-grpc-web", "1"),
            ("x-user-agent", "grpc-web-javascript/0.1"),
        ],
        &body,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        header(&headers, "content-type"),
        Some("application/grpc-web+proto")
    );
    // A data frame, then the trailer frame (flag 0x80) with grpc-status 0.
    assert_eq!(answer[0], 0);
    let n = u32::from_be_bytes(answer[1..5].try_into().unwrap()) as usize;
    let response = proto::ClassifyResponse::decode(&answer[5..5 + n]).unwrap();
    assert_eq!(to_json(&response), to_json(&grpc));
    let trailer = &answer[5 + n..];
    assert_eq!(trailer[0], 0x80);
    let trailers = String::from_utf8_lossy(&trailer[5..]).to_ascii_lowercase();
    assert!(trailers.contains("grpc-status:0"), "{trailers}");
}

/// A JSON body is charged to the memory budget and timed like a gRPC request body:
/// bodies that would hold more than the server's budget are refused before they are
/// read, and one that stops arriving is answered, not waited on.
#[tokio::test]
async fn json_bodies_are_charged_and_timed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let limits = Limits {
        max_request_bytes: 16 * 1024,
        memory_budget: 256 * 1024,
        connection_memory: Some(64 * 1024),
        request_body_timeout: 3.0,
        ..Limits::default()
    };
    let server = TestServer::with_limits(limits).await;
    // Over max_request_bytes by its declared length: refused without reading it.
    let (status, _, body) =
        http1(&addr(&server), "POST", "/v1/classify", &[], &[b' '; 20_000]).await;
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (status, v["status"].as_str()),
        (429, Some("RESOURCE_EXHAUSTED")),
        "{v}"
    );
    assert!(
        v["message"].as_str().unwrap().contains("max_request_bytes"),
        "{v}"
    );

    // 24 connections each declare 16 000 bytes and send 4: the budget (256 KiB) holds
    // about 16 of them; the others are refused at once, naming the server's budget.
    let head = b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Length: 16000\r\nConnection: close\r\n\r\n{\"te";
    let mut streams = Vec::new();
    for _ in 0..24 {
        let mut s = tokio::net::TcpStream::connect(addr(&server)).await.unwrap();
        s.write_all(head).await.unwrap();
        streams.push(s);
    }
    let started = std::time::Instant::now();
    let (mut refused, mut timed_out) = (0, 0);
    for mut s in streams {
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            s.read_to_end(&mut answer),
        )
        .await
        .expect("answered, not held");
        let answer = String::from_utf8_lossy(&answer);
        if answer.starts_with("HTTP/1.1 429") {
            assert!(answer.contains("memory"), "{answer}");
            refused += 1;
        } else {
            assert!(answer.starts_with("HTTP/1.1 504"), "{answer}");
            assert!(answer.contains("request_body_timeout"), "{answer}");
            timed_out += 1;
        }
    }
    assert!(
        refused >= 4 && timed_out >= 8,
        "{refused} refused, {timed_out} timed out"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(8));
    // Their charges are released: the server answers again.
    let (status, _, _) = post_json(
        &server,
        "/v1/classify",
        r#"{"text": "سيطر الجيش على المدينة"}"#,
    )
    .await;
    assert_eq!(status, 200);
}
