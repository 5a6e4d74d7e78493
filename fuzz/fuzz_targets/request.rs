//! Request decoding: protobuf bytes into the gRPC methods, and JSON bodies into the HTTP
//! routes, through the server's own stack in process (JSON layer, call guard, tonic
//! decoding, validation, classification, encoding). Any answer is fine; a panic is not,
//! and neither is an INTERNAL/UNKNOWN answer to a well-formed call.
#![no_main]

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use libfuzzer_sys::fuzz_target;
use prost::Message;
use tasnif::service::proto::{self, topic_classifier_server::TopicClassifierServer};
use tasnif::service::{api::Api, http::HttpLayer, layer::CallGuardLayer, metrics::Metrics, Limits};
use tonic::body::Body;
use tower::{Layer, ServiceExt};

type Stack =
    tasnif::service::http::Http<tasnif::service::layer::CallGuard<TopicClassifierServer<Api>>>;

struct Env {
    rt: tokio::runtime::Runtime,
    stack: Stack,
}

static ENV: LazyLock<Env> = LazyLock::new(|| {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let classifier = Arc::new(tasnif::Classifier::embedded().unwrap());
    let limits = Limits {
        workers: 1,
        max_connections: 64,
        ..Limits::default()
    };
    let metrics = Arc::new(Metrics::new(&classifier));
    let cell = Arc::new(arc_swap::ArcSwap::new(classifier));
    let max = limits.max_request_bytes;
    let api = Api::new(cell, limits, metrics.clone()).unwrap();
    let budget = api.budget();
    let (_tx, shutting_down) = tokio::sync::watch::channel(false);
    std::mem::forget(_tx);
    let server = TopicClassifierServer::new(api).max_decoding_message_size(max);
    let guarded = CallGuardLayer {
        max_request_bytes: max,
        budget: budget.clone(),
        request_body_timeout: Duration::from_secs(5),
        metrics,
        shutting_down,
        auth: None,
    }
    .layer(server);
    let stack = HttpLayer {
        max_request_bytes: max,
        budget,
        request_body_timeout: Duration::from_secs(5),
        openapi: Arc::new(String::new()),
    }
    .layer(guarded);
    Env { rt, stack }
});

const METHODS: [&str; 4] = [
    "/tasnif.v1.TopicClassifier/Classify",
    "/tasnif.v1.TopicClassifier/ClassifyBatch",
    "/tasnif.v1.TopicClassifier/Vectorize",
    "/tasnif.v1.TopicClassifier/ClassifyStream",
];
const ROUTES: [&str; 3] = ["/v1/classify", "/v1/classify:batch", "/v1/vectorize"];

fn frame(message: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(5 + message.len());
    b.put_u8(0);
    b.put_u32(message.len() as u32);
    b.put_slice(message);
    b.freeze()
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    // The decoders on their own first.
    let _ = proto::ClassifyRequest::decode(body);
    let _ = proto::ClassifyBatchRequest::decode(body);
    let _ = proto::VectorizeRequest::decode(body);
    let _ = serde_json::from_slice::<proto::ClassifyRequest>(body);
    let _ = serde_json::from_slice::<proto::ClassifyBatchRequest>(body);
    let _ = serde_json::from_slice::<proto::VectorizeRequest>(body);

    let env = &*ENV;
    let request = if selector & 0x80 == 0 {
        let method = METHODS[usize::from(selector & 3)];
        http::Request::builder()
            .method("POST")
            .uri(method)
            .version(http::Version::HTTP_2)
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(Body::new(Full::new(frame(body))))
            .unwrap()
    } else {
        let route = ROUTES[usize::from(selector & 3) % ROUTES.len()];
        http::Request::builder()
            .method("POST")
            .uri(route)
            .header("content-type", "application/json")
            .body(Body::new(Full::new(Bytes::copy_from_slice(body))))
            .unwrap()
    };
    let stack = env.stack.clone();
    env.rt.block_on(async move {
        let response = stack.oneshot(request).await.unwrap();
        let (head, mut body) = response.into_parts();
        // Read the body as hyper does: up to the trailers, which end the answer. (Polling
        // on after them, as `collect()` does, never ends when a stream's request failed
        // to decode: tonic's `Streaming` yields that error again on every poll and tonic's
        // encoder turns each into another trailers frame; a real server stops at the
        // first, see fuzz/regressions/request/timeout-*.)
        let mut trailers = None;
        let mut failed = false;
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(frame) => {
                    if let Ok(t) = frame.into_trailers() {
                        trailers = Some(t);
                        break;
                    }
                }
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        if !failed {
            let status = trailers
                .as_ref()
                .and_then(|t| t.get("grpc-status"))
                .or_else(|| head.headers.get("grpc-status"))
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<i32>().ok());
            // UNKNOWN (2) would mean a handler panicked or failed unexpectedly.
            assert_ne!(status, Some(2), "UNKNOWN answer: {head:?} {trailers:?}");
            assert!(head.status != http::StatusCode::INTERNAL_SERVER_ERROR || selector & 0x80 == 0);
        }
    });
});
