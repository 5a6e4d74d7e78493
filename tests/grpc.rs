//! The gRPC API over real loopback connections to a real server: every RPC's happy path,
//! every bad input with its exact status (and the server still answering afterwards),
//! concurrency, streaming, health, reflection and graceful shutdown.

mod common;

use std::time::Duration;

use common::{classifier, seed_articles, TestServer};
use futures::StreamExt;
use tasnif::service::proto::{self, classify_result::Outcome};
use tasnif::service::Limits;
use tasnif::Options;
use tonic::Code;

const MILITARY: &str = "سيطر الجيش السوري على مدينة البوكمال بعد اشتباكات عنيفة مع مسلحي داعش.";

fn request(text: &str) -> proto::ClassifyRequest {
    proto::ClassifyRequest {
        text: text.to_string(),
        ..Default::default()
    }
}

/// Limits that admit [`long_article`].
fn big_limits() -> Limits {
    Limits {
        max_request_bytes: 32 << 20,
        max_article_chars: 10_000_000,
        ..Limits::default()
    }
}

/// About 2 million characters: far longer to classify than the short deadlines below
/// (about 1.5 s in a debug build, 0.1 s in release).
fn long_article() -> String {
    seed_articles()
        .into_iter()
        .map(|(_, t)| t)
        .collect::<String>()
        .repeat(70)
}

/// A good call, to check the server still serves after a bad one.
async fn still_serving(server: &TestServer) {
    let mut client = server.client().await;
    let r = client
        .classify(request(MILITARY))
        .await
        .expect("good call succeeds");
    assert_eq!(r.into_inner().primary, "military");
}

async fn expect_status(server: &TestServer, req: proto::ClassifyRequest, code: Code, needle: &str) {
    let mut client = server.client().await;
    let status = client.classify(req).await.expect_err("call must fail");
    assert_eq!(status.code(), code, "{}", status.message());
    assert!(
        status.message().contains(needle),
        "message {:?} should mention {needle:?}",
        status.message()
    );
    still_serving(server).await;
}

#[tokio::test]
async fn classify_seed_articles_matches_the_library() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let info = client
        .get_model_info(proto::GetModelInfoRequest {})
        .await
        .unwrap()
        .into_inner();
    let c = classifier();
    for (name, text) in seed_articles() {
        let req = proto::ClassifyRequest {
            text: text.clone(),
            id: name.clone(),
            include: vec![proto::Include::Segments as i32],
            ..Default::default()
        };
        let response = client.classify(req).await.unwrap();
        let md = response.metadata().clone();
        let micros: u64 = md
            .get("x-tasnif-micros")
            .unwrap()
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(micros > 0);
        let r = response.into_inner();
        assert_eq!(r.id, name);
        assert_eq!(r.model_version, info.version);
        let sum: f32 = r.scores.iter().map(|s| s.probability).sum();
        assert!((sum - 1.0).abs() < 1e-4, "{sum}");
        assert_eq!(r.scores.len(), info.labels.len());
        assert!(r
            .scores
            .windows(2)
            .all(|w| w[0].probability >= w[1].probability));
        assert_eq!(r.primary, r.scores[0].label);
        // Same answer as the library in-process.
        let local = c.classify(&text, &Options::default()).unwrap();
        assert_eq!(r.primary, c.labels()[local.primary]);
        assert_eq!(r.segment_count as usize, local.segments.len());
        // Segment offsets are code points into the request text.
        let chars: Vec<char> = text.chars().collect();
        assert_eq!(r.segments.len(), local.segments.len());
        for s in &r.segments {
            let piece: String = chars[s.start as usize..s.end as usize].iter().collect();
            assert_eq!(piece.trim(), piece);
            assert!(!piece.is_empty());
            let p: f32 = s.probabilities.iter().map(|x| x.probability).sum();
            assert!((p - 1.0).abs() < 1e-4);
        }
        assert_eq!(
            md.get("x-tasnif-segments").unwrap().to_str().unwrap(),
            r.segment_count.to_string()
        );
    }
    // The seeds are about the three topics: each is someone's topic.
    let topics: Vec<String> = {
        let mut all = Vec::new();
        for (_, text) in seed_articles() {
            all.extend(
                client
                    .classify(request(&text))
                    .await
                    .unwrap()
                    .into_inner()
                    .topics,
            );
        }
        all
    };
    for label in ["diplomacy", "military", "negotiations"] {
        assert!(
            topics.iter().any(|t| t == label),
            "{label} missing from {topics:?}"
        );
    }
}

#[tokio::test]
async fn explanations_and_threshold_options() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let r = client
        .classify(proto::ClassifyRequest {
            text: MILITARY.into(),
            include: vec![proto::Include::Explanations as i32],
            explain_top_n: 3,
            topic_threshold: Some(1e-7),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let military = r
        .explanations
        .iter()
        .find(|e| e.label == "military")
        .unwrap();
    assert!(!military.terms.is_empty() && military.terms.len() <= 3);
    assert!(military
        .terms
        .windows(2)
        .all(|w| w[0].contribution >= w[1].contribution));
    // A tiny threshold lists every topic label, never "other".
    assert_eq!(r.topics.len(), 3);
    assert!(!r.topics.contains(&"other".to_string()));
    assert!(r.segments.is_empty(), "segments only when asked");
}

#[tokio::test]
async fn bad_inputs_get_invalid_argument_and_the_server_keeps_serving() {
    let server = TestServer::start().await;
    expect_status(&server, request(""), Code::InvalidArgument, "empty").await;
    expect_status(&server, request(" \n\t "), Code::InvalidArgument, "empty").await;
    expect_status(
        &server,
        request("Breaking news: nothing in Arabic."),
        Code::InvalidArgument,
        "no Arabic",
    )
    .await;
    let threshold = |t| proto::ClassifyRequest {
        topic_threshold: Some(t),
        ..request(MILITARY)
    };
    expect_status(
        &server,
        threshold(0.0),
        Code::InvalidArgument,
        "topic_threshold",
    )
    .await;
    expect_status(
        &server,
        threshold(1.5),
        Code::InvalidArgument,
        "topic_threshold",
    )
    .await;
    expect_status(
        &server,
        threshold(f32::NAN),
        Code::InvalidArgument,
        "topic_threshold",
    )
    .await;
    let unknown = proto::ClassifyRequest {
        include: vec![42],
        ..request(MILITARY)
    };
    expect_status(
        &server,
        unknown,
        Code::InvalidArgument,
        "unknown include option 42",
    )
    .await;
    let terms = proto::ClassifyRequest {
        include: vec![proto::Include::Explanations as i32],
        explain_top_n: 1000,
        ..request(MILITARY)
    };
    expect_status(&server, terms, Code::InvalidArgument, "explain_top_n").await;
}

#[tokio::test]
async fn article_length_limit_and_truncate() {
    let limits = Limits {
        max_article_chars: 100,
        ..Limits::default()
    };
    let server = TestServer::with_limits(limits).await;
    let long = MILITARY.repeat(5);
    expect_status(
        &server,
        request(&long),
        Code::InvalidArgument,
        "limit of 100",
    )
    .await;
    let mut client = server.client().await;
    let r = client
        .classify(proto::ClassifyRequest {
            truncate: true,
            ..request(&long)
        })
        .await
        .unwrap()
        .into_inner();
    assert!(r.truncated);
    assert_eq!(r.characters, 100);
    let info = client
        .get_model_info(proto::GetModelInfoRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(info.limits.unwrap().max_article_chars, 100);
}

#[tokio::test]
async fn oversized_message_is_resource_exhausted() {
    let server = TestServer::start().await;
    // 5 MiB of Arabic text, over the default 4 MiB limit.
    let huge = "ا".repeat(5 * 1024 * 1024 / 2 + 10);
    expect_status(
        &server,
        request(&huge),
        Code::ResourceExhausted,
        "4194304 bytes",
    )
    .await;
    // Compressed, it is small on the wire but still too large decompressed.
    let mut client = server
        .client()
        .await
        .send_compressed(tonic::codec::CompressionEncoding::Gzip);
    let status = client.classify(request(&huge)).await.unwrap_err();
    assert_eq!(
        status.code(),
        Code::ResourceExhausted,
        "{}",
        status.message()
    );
    still_serving(&server).await;
}

#[tokio::test]
async fn gzip_and_zstd_are_accepted_and_offered() {
    let server = TestServer::start().await;
    for (encoding, name) in [
        (tonic::codec::CompressionEncoding::Gzip, "gzip"),
        (tonic::codec::CompressionEncoding::Zstd, "zstd"),
    ] {
        let mut client = server
            .client()
            .await
            .send_compressed(encoding)
            .accept_compressed(encoding);
        let r = client.classify(request(MILITARY)).await.unwrap();
        let enc = r
            .metadata()
            .get("grpc-encoding")
            .map(|v| v.to_str().unwrap().to_string());
        assert_eq!(enc.as_deref(), Some(name));
        assert_eq!(r.into_inner().primary, "military");
    }
}

#[tokio::test]
async fn expired_deadline_is_deadline_exceeded() {
    // A call far longer than its deadline gets DEADLINE_EXCEEDED (not tonic's CANCELLED),
    // at its deadline rather than when the work would have finished.
    let server = TestServer::with_limits(big_limits()).await;
    let mut client = server.client().await;
    let article = long_article();
    // Time the whole call once, then give the same call a tenth of that.
    let started = std::time::Instant::now();
    client.classify(request(&article)).await.unwrap();
    let full = started.elapsed();
    // Sent with bare HTTP/2: a tonic client would race the server with its own timer.
    let body = common::raw::frame(&prost::Message::encode_to_vec(&request(&article)));
    let timeout = format!("{}m", (full / 10).as_millis().max(1));
    let started = std::time::Instant::now();
    let answer = common::raw::call(
        server.url.trim_start_matches("http://"),
        http::Method::POST,
        "/tasnif.v1.TopicClassifier/Classify",
        "application/grpc",
        &[("grpc-timeout", &timeout)],
        vec![body],
    )
    .await;
    assert_eq!(
        answer.grpc_status,
        Some(Code::DeadlineExceeded as i32),
        "{answer:?}"
    );
    assert!(
        started.elapsed() < full / 2,
        "answered at the deadline ({:?}), not after the work ({full:?})",
        started.elapsed()
    );
    still_serving(&server).await;
}

#[tokio::test]
async fn batch_keeps_order_and_isolates_item_errors() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let seeds = seed_articles();
    let mut items: Vec<proto::ClassifyRequest> = seeds
        .iter()
        .map(|(name, text)| proto::ClassifyRequest {
            text: text.clone(),
            id: name.clone(),
            ..Default::default()
        })
        .collect();
    items.insert(
        2,
        proto::ClassifyRequest {
            id: "bad".into(),
            ..request("")
        },
    );
    let r = client
        .classify_batch(proto::ClassifyBatchRequest {
            items: items.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.results.len(), items.len());
    for (i, (result, item)) in r.results.iter().zip(&items).enumerate() {
        assert_eq!(result.index as usize, i);
        assert_eq!(result.id, item.id);
        match result.outcome.as_ref().unwrap() {
            Outcome::Error(e) => {
                assert_eq!(item.id, "bad");
                assert_eq!(e.code, Code::InvalidArgument as i32);
                assert!(e.message.contains("empty"));
            }
            Outcome::Response(a) => {
                let single = client.classify(item.clone()).await.unwrap().into_inner();
                assert_eq!(a.primary, single.primary);
                assert_eq!(a.scores, single.scores);
            }
        }
    }
}

#[tokio::test]
async fn batch_over_the_limit_is_invalid_argument() {
    let limits = Limits {
        max_batch_items: 3,
        ..Limits::default()
    };
    let server = TestServer::with_limits(limits).await;
    let mut client = server.client().await;
    let items = vec![request(MILITARY); 4];
    let status = client
        .classify_batch(proto::ClassifyBatchRequest { items })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains("limit of 3"),
        "{}",
        status.message()
    );
    still_serving(&server).await;
}

#[tokio::test]
async fn stream_returns_results_in_order_with_ids() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let seeds = seed_articles();
    let requests: Vec<proto::ClassifyRequest> = (0..20)
        .map(|i| proto::ClassifyRequest {
            text: if i == 7 {
                String::new()
            } else {
                seeds[i % seeds.len()].1.clone()
            },
            id: format!("doc-{i}"),
            ..Default::default()
        })
        .collect();
    let responses = client
        .classify_stream(futures::stream::iter(requests))
        .await
        .unwrap()
        .into_inner();
    let results: Vec<proto::ClassifyResult> = responses.map(|r| r.unwrap()).collect().await;
    assert_eq!(results.len(), 20);
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r.id, format!("doc-{i}"));
        assert_eq!(r.index as usize, i);
        match r.outcome.as_ref().unwrap() {
            Outcome::Error(e) => {
                assert_eq!(i, 7);
                assert_eq!(e.code, Code::InvalidArgument as i32);
            }
            Outcome::Response(a) => assert!(!a.primary.is_empty()),
        }
    }
}

#[tokio::test]
async fn stream_cancelled_half_way_leaves_the_server_serving() {
    let server = TestServer::start().await;
    for _ in 0..5 {
        let mut client = server.client().await;
        let (tx, rx) = tokio::sync::mpsc::channel::<proto::ClassifyRequest>(4);
        let mut responses = client
            .classify_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await
            .unwrap()
            .into_inner();
        for i in 0..3 {
            tx.send(proto::ClassifyRequest {
                id: i.to_string(),
                ..request(MILITARY)
            })
            .await
            .unwrap();
            let r = responses.next().await.unwrap().unwrap();
            assert_eq!(r.id, i.to_string());
        }
        // Send more and walk away without reading or closing properly.
        for i in 3..6 {
            let _ = tx
                .send(proto::ClassifyRequest {
                    id: i.to_string(),
                    ..request(MILITARY)
                })
                .await;
        }
        drop(responses);
        drop(tx);
    }
    still_serving(&server).await;
}

#[tokio::test]
async fn two_hundred_concurrent_calls_are_all_answered_correctly() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let seeds = seed_articles();
    let c = classifier();
    let expected: Vec<String> = seeds
        .iter()
        .map(|(_, t)| c.labels()[c.classify(t, &Options::default()).unwrap().primary].clone())
        .collect();
    let calls = (0..200).map(|i| {
        let mut client = client.clone();
        let (name, text) = seeds[i % seeds.len()].clone();
        async move {
            let r = client
                .classify(proto::ClassifyRequest {
                    text,
                    id: name,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            (i, r)
        }
    });
    let results = futures::future::join_all(calls).await;
    assert_eq!(results.len(), 200);
    for (i, r) in results {
        assert_eq!(r.primary, expected[i % seeds.len()]);
        assert_eq!(r.id, seeds[i % seeds.len()].0);
    }
}

#[tokio::test]
async fn over_max_in_flight_calls_are_refused_at_once() {
    let limits = Limits {
        max_in_flight: 1,
        max_batch_items: 1,
        workers: 1,
        ..big_limits()
    };
    let server = TestServer::with_limits(limits).await;
    let mut slow_client = server.client().await;
    let long = long_article();
    let slow = tokio::spawn(async move { slow_client.classify(request(&long)).await });
    // Once the slow call holds the only slot, a short call is refused at once.
    let mut client = server.client().await;
    let refused = loop {
        match client.classify(request(MILITARY)).await {
            Err(status) => break status,
            Ok(_) if !slow.is_finished() => tokio::time::sleep(Duration::from_millis(5)).await,
            Ok(_) => panic!("the slow call finished before any call was refused"),
        }
    };
    assert_eq!(
        refused.code(),
        Code::ResourceExhausted,
        "{}",
        refused.message()
    );
    assert!(refused.message().contains("max_in_flight"));
    assert!(
        slow.await.unwrap().is_ok(),
        "the call in flight still completes"
    );
    still_serving(&server).await;
}

#[tokio::test]
async fn vectorize_returns_the_sparse_tfidf_vector() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let r = client
        .vectorize(proto::VectorizeRequest {
            text: MILITARY.into(),
            include_terms: true,
            truncate: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!r.indices.is_empty());
    assert_eq!(r.indices.len(), r.weights.len());
    assert_eq!(r.indices.len(), r.terms.len());
    assert!(r.indices.windows(2).all(|w| w[0] < w[1]));
    assert!(r.indices.iter().all(|&i| i < r.dimension));
    // The TF-IDF part is unit length; the word-vector dimensions (`v:N`) follow it.
    let norm: f32 = r
        .weights
        .iter()
        .zip(&r.terms)
        .filter(|(_, t)| !t.starts_with("v:"))
        .map(|(w, _)| w * w)
        .sum();
    assert!((norm - 1.0).abs() < 1e-4);
    assert!(r.terms.iter().any(|t| t == "w:جيش"), "{:?}", r.terms);
    assert!(r.terms.iter().any(|t| t == "v:0"), "{:?}", r.terms);
    let local = classifier()
        .vectorize(MILITARY, &Options::default())
        .unwrap();
    assert_eq!(r.indices, local.vector.indices);
    let status = client
        .vectorize(proto::VectorizeRequest {
            text: "no arabic".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn model_info_describes_model_and_limits() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let info = client
        .get_model_info(proto::GetModelInfoRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        info.labels,
        vec!["diplomacy", "military", "negotiations", "other"]
    );
    assert_eq!(info.version.len(), 12);
    assert!(info.sha256.starts_with(&info.version));
    let training = info.training.unwrap();
    assert_eq!(training.documents, 5);
    let per_label: u32 = training.segments_per_label.iter().map(|l| l.count).sum();
    assert_eq!(per_label, training.segments);
    assert!(info.vocabulary_size > 0);
    let cv = info.cross_validation.unwrap();
    assert_eq!(cv.folds, 5);
    assert!(cv.macro_f1 > 0.0 && cv.macro_f1 <= 1.0);
    let limits = info.limits.unwrap();
    assert_eq!(limits.max_request_bytes, 4 * 1024 * 1024);
    assert_eq!(limits.max_batch_items, 256);
}

#[tokio::test]
async fn health_reports_serving() {
    use tonic_health::pb::{health_client::HealthClient, HealthCheckRequest};
    let server = TestServer::start().await;
    let mut health = HealthClient::new(server.channel().await);
    for service in ["", "tasnif.v1.TopicClassifier"] {
        let r = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            r.status(),
            tonic_health::pb::health_check_response::ServingStatus::Serving
        );
    }
}

#[tokio::test]
async fn reflection_v1_and_v1alpha_list_the_service() {
    let server = TestServer::start().await;
    // The two protocol versions have identical messages in different modules.
    macro_rules! list_services {
        ($version:ident) => {{
            use tonic_reflection::pb::$version::{
                server_reflection_client::ServerReflectionClient,
                server_reflection_request::MessageRequest,
                server_reflection_response::MessageResponse, ServerReflectionRequest,
            };
            let mut client = ServerReflectionClient::new(server.channel().await);
            let req = ServerReflectionRequest {
                host: String::new(),
                message_request: Some(MessageRequest::ListServices(String::new())),
            };
            let mut stream = client
                .server_reflection_info(futures::stream::iter([req]))
                .await
                .unwrap()
                .into_inner();
            let Some(MessageResponse::ListServicesResponse(list)) =
                stream.next().await.unwrap().unwrap().message_response
            else {
                panic!("expected a service list");
            };
            list.service
                .into_iter()
                .map(|s| s.name)
                .collect::<Vec<String>>()
        }};
    }
    for names in [list_services!(v1), list_services!(v1alpha)] {
        for service in ["tasnif.v1.TopicClassifier", "grpc.health.v1.Health"] {
            assert!(
                names.iter().any(|n| n == service),
                "{service} not in {names:?}"
            );
        }
    }
}

#[tokio::test]
async fn graceful_shutdown_finishes_calls_in_flight_and_flips_health() {
    use tonic_health::pb::{
        health_check_response::ServingStatus, health_client::HealthClient, HealthCheckRequest,
    };
    // One worker and long articles, so that calls are surely still in flight.
    let mut server = TestServer::with_limits(Limits {
        workers: 1,
        ..big_limits()
    })
    .await;
    let channel = server.channel().await;
    let mut watch = HealthClient::new(channel.clone())
        .watch(HealthCheckRequest {
            service: "tasnif.v1.TopicClassifier".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        watch.next().await.unwrap().unwrap().status(),
        ServingStatus::Serving
    );

    // Enough calls to keep the one worker busy for about two seconds, timed on this
    // machine whatever its speed.
    let long = long_article();
    let mut client = tasnif::service::proto::topic_classifier_client::TopicClassifierClient::new(
        channel.clone(),
    );
    let started = std::time::Instant::now();
    client.classify(request(&long)).await.unwrap();
    let calls = (Duration::from_secs(2).as_secs_f64() / started.elapsed().as_secs_f64())
        .ceil()
        .clamp(4.0, 200.0) as usize;
    let in_flight: Vec<_> = (0..calls)
        .map(|_| {
            let mut client =
                tasnif::service::proto::topic_classifier_client::TopicClassifierClient::new(
                    channel.clone(),
                );
            let text = long.clone();
            tokio::spawn(async move { client.classify(request(&text)).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        in_flight.iter().any(|c| !c.is_finished()),
        "calls should still be in flight when shutdown starts"
    );
    server.shutdown();
    let status = tokio::time::timeout(Duration::from_secs(10), watch.next())
        .await
        .unwrap();
    let update = status
        .expect("health watchers hear about the shutdown")
        .expect("the watch stream is still open while draining");
    assert_eq!(update.status(), ServingStatus::NotServing);
    // A watcher that stays would hold the server until the grace period ends.
    drop(watch);
    for call in in_flight {
        let r = call
            .await
            .unwrap()
            .expect("calls in flight complete during shutdown");
        assert!(!r.into_inner().primary.is_empty());
    }
    // Well before the 10 s grace period: nothing is left in flight.
    tokio::time::timeout(Duration::from_secs(5), server.handle)
        .await
        .expect("server stops once the calls in flight are done")
        .unwrap()
        .unwrap();
    // No new connections after shutdown.
    let url = server.url.clone();
    assert!(tonic::transport::Channel::from_shared(url)
        .unwrap()
        .connect()
        .await
        .is_err());
}

#[tokio::test]
async fn a_health_watcher_does_not_hold_shutdown() {
    use tonic_health::pb::{
        health_check_response::ServingStatus, health_client::HealthClient, HealthCheckRequest,
    };
    let mut server = TestServer::start().await;
    let mut watch = HealthClient::new(server.channel().await)
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        watch.next().await.unwrap().unwrap().status(),
        ServingStatus::Serving
    );
    let started = std::time::Instant::now();
    server.shutdown();
    // The watcher hears NOT_SERVING, then its stream ends: UNAVAILABLE.
    let update = watch.next().await.unwrap().unwrap();
    assert_eq!(update.status(), ServingStatus::NotServing);
    let end = watch.next().await.unwrap().unwrap_err();
    assert_eq!(end.code(), Code::Unavailable, "{}", end.message());
    // Held open by the test, the watcher still does not keep the server for the 10 s
    // grace period.
    tokio::time::timeout(Duration::from_secs(3), server.handle)
        .await
        .expect("the server stops without waiting out the grace period")
        .unwrap()
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(3));
    drop(watch);
}

#[tokio::test]
async fn bearer_tokens_guard_the_classifier_and_rotate() {
    use tonic_health::pb::{health_client::HealthClient, HealthCheckRequest};
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::write(&tokens, "s3cret-one\ns3cret-two\n").unwrap();
    let server = TestServer::with_auth(tokens.clone()).await;
    let mut client = server.client().await;
    let with = |token: Option<&str>| {
        let mut r = tonic::Request::new(request(MILITARY));
        if let Some(t) = token {
            r.metadata_mut()
                .insert("authorization", format!("Bearer {t}").parse().unwrap());
        }
        r
    };
    let missing = client.classify(with(None)).await.unwrap_err();
    assert_eq!(missing.code(), Code::Unauthenticated);
    assert!(
        missing.message().contains("authorization: Bearer"),
        "{}",
        missing.message()
    );
    let wrong = client.classify(with(Some("guess"))).await.unwrap_err();
    assert_eq!(wrong.code(), Code::Unauthenticated);
    assert!(!wrong.message().contains("guess"));
    for t in ["s3cret-one", "s3cret-two"] {
        let ok = client.classify(with(Some(t))).await.unwrap().into_inner();
        assert_eq!(ok.primary, "military");
    }
    // Probes carry no token: health stays open.
    HealthClient::new(server.channel().await)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("health needs no token");
    // Rotation without a restart.
    std::fs::write(&tokens, "s3cret-three\n").unwrap();
    let mut rotated = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if client.classify(with(Some("s3cret-three"))).await.is_ok() {
            rotated = true;
            break;
        }
    }
    assert!(rotated, "the new token was never accepted");
    let old = client.classify(with(Some("s3cret-one"))).await.unwrap_err();
    assert_eq!(old.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn request_ids_are_echoed_or_made() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let mut req = tonic::Request::new(request(MILITARY));
    req.metadata_mut()
        .insert("x-request-id", "trace-42".parse().unwrap());
    let r = client.classify(req).await.unwrap();
    assert_eq!(r.metadata().get("x-request-id").unwrap(), "trace-42");
    // Errors carry it too; without one the server makes one, different each call.
    let a = client.classify(request("")).await.unwrap_err();
    let b = client.classify(request("")).await.unwrap_err();
    let (a, b) = (
        a.metadata().get("x-request-id").unwrap().clone(),
        b.metadata().get("x-request-id").unwrap().clone(),
    );
    assert_eq!(a.len(), 16);
    assert_ne!(a, b);
}

/// The `x-tasnif-*` metadata in `md`: characters, segments and microseconds.
fn usage(md: &tonic::metadata::MetadataMap) -> (u64, u64, u64) {
    let get = |key: &str| -> u64 {
        let value = md
            .get(key)
            .unwrap_or_else(|| panic!("{key} missing from {md:?}"));
        value
            .to_str()
            .unwrap()
            .parse()
            .unwrap_or_else(|e| panic!("{key}: {value:?} is not a number: {e}"))
    };
    (
        get("x-tasnif-characters"),
        get("x-tasnif-segments"),
        get("x-tasnif-micros"),
    )
}

/// A text's characters and the segments the library splits it into.
fn extent(text: &str) -> (u64, u64) {
    let local = classifier().classify(text, &Options::default()).unwrap();
    assert_eq!(local.characters, text.chars().count());
    (local.characters as u64, local.segments.len() as u64)
}

#[tokio::test]
async fn every_rpc_reports_characters_segments_and_time() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let article = seed_articles()[0].1.clone();
    let (article_chars, article_segments) = extent(&article);
    let (military_chars, military_segments) = extent(MILITARY);
    assert!(article_segments > 1);

    // Classify: the article's characters and the segments it answered with.
    let response = client
        .classify(proto::ClassifyRequest {
            include: vec![proto::Include::Segments as i32],
            ..request(&article)
        })
        .await
        .unwrap();
    let (characters, segments, micros) = usage(response.metadata());
    let r = response.into_inner();
    assert_eq!(characters, article_chars);
    assert_eq!(segments, article_segments);
    assert_eq!(segments, r.segments.len() as u64);
    assert_eq!(characters, u64::from(r.characters));
    assert!(micros > 0);

    // ClassifyBatch: the sum over the items that succeeded (the empty one adds nothing).
    let response = client
        .classify_batch(proto::ClassifyBatchRequest {
            items: vec![request(&article), request(""), request(MILITARY)],
        })
        .await
        .unwrap();
    let (characters, segments, _) = usage(response.metadata());
    assert_eq!(characters, article_chars + military_chars);
    assert_eq!(segments, article_segments + military_segments);

    // ClassifyStream: the headers say what was known when it opened (nothing yet), the
    // trailers the totals of the whole stream.
    let requests = vec![request(MILITARY), request(""), request(&article)];
    let response = client
        .classify_stream(futures::stream::iter(requests))
        .await
        .unwrap();
    let (characters, segments, opened) = usage(response.metadata());
    assert_eq!((characters, segments), (0, 0));
    let mut stream = response.into_inner();
    let mut answered = 0;
    while let Some(result) = stream.message().await.unwrap() {
        answered += 1;
        assert!(result.outcome.is_some());
    }
    assert_eq!(answered, 3);
    let trailers = stream
        .trailers()
        .await
        .unwrap()
        .expect("the stream has trailers");
    let (characters, segments, micros) = usage(&trailers);
    assert_eq!(characters, article_chars + military_chars);
    assert_eq!(segments, article_segments + military_segments);
    assert!(micros >= opened);

    // Vectorize: the text's characters and the segments it splits into.
    for (text, chars, segs) in [
        (MILITARY, military_chars, military_segments),
        (article.as_str(), article_chars, article_segments),
    ] {
        let response = client
            .vectorize(proto::VectorizeRequest {
                text: text.into(),
                ..Default::default()
            })
            .await
            .unwrap();
        let (characters, segments, _) = usage(response.metadata());
        assert_eq!((characters, segments), (chars, segs));
    }

    // GetModelInfo classifies nothing, and says so.
    let response = client
        .get_model_info(proto::GetModelInfoRequest {})
        .await
        .unwrap();
    let (characters, segments, _) = usage(response.metadata());
    assert_eq!((characters, segments), (0, 0));
}

#[tokio::test]
async fn errors_carry_the_metadata_in_their_trailers() {
    let limits = Limits {
        max_batch_items: 2,
        max_request_bytes: 4096,
        ..Limits::default()
    };
    let server = TestServer::with_limits(limits).await;
    let mut client = server.client().await;

    let status = client.classify(request("")).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let (characters, segments, _) = usage(status.metadata());
    assert_eq!((characters, segments), (0, 0));

    let status = client
        .vectorize(proto::VectorizeRequest {
            text: "no arabic".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let (characters, segments, _) = usage(status.metadata());
    assert_eq!((characters, segments), (0, 0));

    let status = client
        .classify_batch(proto::ClassifyBatchRequest {
            items: vec![request(MILITARY); 3],
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let (characters, segments, _) = usage(status.metadata());
    assert_eq!((characters, segments), (0, 0));

    // A stream that fails after an answer: its trailers count what was answered.
    let (military_chars, military_segments) = extent(MILITARY);
    let requests = vec![request(MILITARY), request(&"ا".repeat(4096))];
    let mut stream = client
        .classify_stream(futures::stream::iter(requests))
        .await
        .unwrap()
        .into_inner();
    let first = stream.message().await.unwrap().expect("the first answer");
    assert!(matches!(first.outcome, Some(Outcome::Response(_))));
    let status = stream.message().await.unwrap_err();
    assert_eq!(
        status.code(),
        Code::ResourceExhausted,
        "{}",
        status.message()
    );
    let (characters, segments, _) = usage(status.metadata());
    assert_eq!((characters, segments), (military_chars, military_segments));
    still_serving(&server).await;
}
