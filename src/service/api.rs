//! The `tasnif.v1.TopicClassifier` RPCs: request validation, back-pressure, deadlines,
//! and running the CPU-bound classification on a dedicated thread pool so the async
//! executor only ever does I/O.

use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};
use rayon::prelude::*;
use tokio::sync::{oneshot, Semaphore};
use tonic::metadata::MetadataValue;
use tonic::{Code, Request, Response, Status, Streaming};
use tracing::{debug, warn};

use super::proto::{self, classify_result::Outcome, topic_classifier_server::TopicClassifier};
use super::status::{decode_status, input_status, Arrival};
use super::{convert, Limits};
use crate::classifier::{Classifier, Options, DEFAULT_TOPIC_THRESHOLD};
use crate::error::InputError;

/// Default number of explanation terms per label.
const DEFAULT_EXPLAIN_TOP_N: u32 = 5;
/// Stream requests classified concurrently per stream (results stay in order).
const STREAM_PIPELINE: usize = 4;

/// State shared by every call.
struct Shared {
    classifier: Arc<Classifier>,
    limits: Limits,
    pool: rayon::ThreadPool,
    in_flight: Arc<Semaphore>,
}

/// The service implementation. Cheap to clone.
#[derive(Clone)]
pub struct Api {
    shared: Arc<Shared>,
}

/// What one `ClassifyRequest` asks for, validated.
struct Plan {
    options: Options,
    include_segments: bool,
}

impl Api {
    pub fn new(classifier: Arc<Classifier>, limits: Limits) -> std::io::Result<Self> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(limits.workers)
            .thread_name(|i| format!("tasnif-worker-{i}"))
            .build()
            .map_err(std::io::Error::other)?;
        Ok(Self {
            shared: Arc::new(Shared {
                classifier,
                in_flight: Arc::new(Semaphore::new(limits.max_in_flight)),
                limits,
                pool,
            }),
        })
    }

    /// Runs `work` on the worker pool holding `permits` in-flight slots, refusing at once
    /// when the server is full, and giving up when the caller's deadline passes.
    async fn run<T, F>(
        &self,
        permits: usize,
        deadline: Option<Instant>,
        work: F,
    ) -> Result<T, Status>
    where
        T: Send + 'static,
        F: FnOnce(&Shared) -> T + Send + 'static,
    {
        let limit = self.shared.limits.max_in_flight;
        let permit = u32::try_from(permits)
            .ok()
            .and_then(|n| self.shared.in_flight.clone().try_acquire_many_owned(n).ok())
            .ok_or_else(|| {
                Status::resource_exhausted(format!(
                    "server is busy: {limit} classifications already in flight (max_in_flight); retry with backoff"
                ))
            })?;
        let (tx, rx) = oneshot::channel();
        let shared = self.shared.clone();
        self.shared.pool.spawn(move || {
            let result = std::panic::catch_unwind(AssertUnwindSafe(|| work(&shared)));
            // The slot frees before the answer leaves, so a caller that got its answer
            // can count on the slot being free again.
            drop(permit);
            let _ = tx.send(result);
        });
        let result = match deadline {
            Some(deadline) => tokio::time::timeout_at(deadline.into(), rx)
                .await
                .map_err(|_| {
                    Status::deadline_exceeded(
                        "the call's deadline (grpc-timeout) expired before classification finished",
                    )
                })?,
            None => rx.await,
        };
        match result {
            Ok(Ok(value)) => Ok(value),
            _ => Err(Status::internal(
                "classification failed unexpectedly; the error was logged",
            )),
        }
    }
}

/// The caller's deadline from the `grpc-timeout` header, counted from the request's
/// arrival and slightly early (10 %, at most 20 ms), so that the caller receives our
/// DEADLINE_EXCEEDED rather than racing its own timer or tonic's, which answers CANCELLED.
fn deadline<T>(request: &Request<T>) -> Option<Instant> {
    let value = request.metadata().get("grpc-timeout")?.to_str().ok()?;
    let timeout = parse_grpc_timeout(value)?;
    let arrival = request
        .extensions()
        .get::<Arrival>()
        .map_or_else(Instant::now, |a| a.0);
    let margin = (timeout / 10).min(Duration::from_millis(20));
    Some(arrival + timeout - margin)
}

/// Parses a `grpc-timeout` value: up to 8 digits and a unit (H M S m u n).
fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

impl Shared {
    fn plan(&self, req: &proto::ClassifyRequest) -> Result<Plan, InputError> {
        let (mut segments, mut explain) = (false, false);
        for &value in &req.include {
            match proto::Include::try_from(value) {
                Ok(proto::Include::Segments) => segments = true,
                Ok(proto::Include::Explanations) => explain = true,
                Ok(proto::Include::Unspecified) => {}
                Err(_) => return Err(InputError::UnknownInclude(value)),
            }
        }
        let max_terms = self.limits.max_explain_top_n;
        if req.explain_top_n > max_terms {
            return Err(InputError::TooManyTerms {
                got: req.explain_top_n,
                limit: max_terms,
            });
        }
        let explain_top_n = match (explain, req.explain_top_n) {
            (false, _) => 0,
            (true, 0) => DEFAULT_EXPLAIN_TOP_N,
            (true, n) => n,
        };
        Ok(Plan {
            options: Options {
                topic_threshold: req.topic_threshold.unwrap_or(DEFAULT_TOPIC_THRESHOLD),
                explain_top_n: explain_top_n as usize,
                max_chars: self.limits.max_article_chars,
                truncate: req.truncate,
            },
            include_segments: segments,
        })
    }

    fn classify(&self, req: proto::ClassifyRequest) -> Result<proto::ClassifyResponse, InputError> {
        let plan = self.plan(&req)?;
        let article = self.classifier.classify(&req.text, &plan.options)?;
        Ok(convert::article(
            &self.classifier,
            &article,
            req.id,
            plan.include_segments,
        ))
    }

    fn outcome(&self, index: usize, req: proto::ClassifyRequest) -> proto::ClassifyResult {
        let id = req.id.clone();
        let outcome = match self.classify(req) {
            Ok(response) => Outcome::Response(response),
            Err(e) => Outcome::Error(item_error(&input_status(&e))),
        };
        proto::ClassifyResult {
            id,
            index: index as u32,
            outcome: Some(outcome),
        }
    }
}

fn item_error(status: &Status) -> proto::ItemError {
    proto::ItemError {
        code: status.code() as i32,
        message: status.message().to_string(),
    }
}

fn log_error(rpc: &str, status: &Status) {
    match status.code() {
        Code::InvalidArgument => {
            debug!(rpc, code = ?status.code(), message = status.message(), "rejected")
        }
        _ => warn!(rpc, code = ?status.code(), message = status.message(), "failed"),
    }
}

fn with_timing<T>(
    mut response: Response<T>,
    characters: usize,
    segments: usize,
    started: Instant,
) -> Response<T> {
    let micros = started.elapsed().as_micros();
    let md = response.metadata_mut();
    md.insert(
        "x-tasnif-characters",
        MetadataValue::from(characters as u64),
    );
    md.insert("x-tasnif-segments", MetadataValue::from(segments as u64));
    md.insert("x-tasnif-micros", MetadataValue::from(micros as u64));
    response
}

type ResultStream = Pin<Box<dyn Stream<Item = Result<proto::ClassifyResult, Status>> + Send>>;

#[tonic::async_trait]
impl TopicClassifier for Api {
    async fn classify(
        &self,
        request: Request<proto::ClassifyRequest>,
    ) -> Result<Response<proto::ClassifyResponse>, Status> {
        let started = Instant::now();
        let deadline = deadline(&request);
        let req = request.into_inner();
        let result = self
            .run(1, deadline, move |s| s.classify(req))
            .await
            .and_then(|r| r.map_err(|e| input_status(&e)));
        match result {
            Ok(response) => {
                let (chars, segments) = (
                    response.characters as usize,
                    response.segment_count as usize,
                );
                debug!(rpc = "Classify", chars, segments, primary = %response.primary, micros = started.elapsed().as_micros() as u64, "ok");
                Ok(with_timing(
                    Response::new(response),
                    chars,
                    segments,
                    started,
                ))
            }
            Err(status) => {
                log_error("Classify", &status);
                Err(status)
            }
        }
    }

    async fn classify_batch(
        &self,
        request: Request<proto::ClassifyBatchRequest>,
    ) -> Result<Response<proto::ClassifyBatchResponse>, Status> {
        let started = Instant::now();
        let deadline = deadline(&request);
        let items = request.into_inner().items;
        let limit = self.shared.limits.max_batch_items;
        if items.len() > limit {
            let status = input_status(&InputError::BatchTooLarge {
                items: items.len(),
                limit,
            });
            log_error("ClassifyBatch", &status);
            return Err(status);
        }
        let n = items.len();
        let results = self
            .run(n.max(1), deadline, move |s| {
                items
                    .into_par_iter()
                    .enumerate()
                    .map(|(i, req)| s.outcome(i, req))
                    .collect::<Vec<_>>()
            })
            .await
            .inspect_err(|status| log_error("ClassifyBatch", status))?;
        let (chars, segments) = results.iter().fold((0, 0), |(c, s), r| match &r.outcome {
            Some(Outcome::Response(a)) => (c + a.characters as usize, s + a.segment_count as usize),
            _ => (c, s),
        });
        debug!(
            rpc = "ClassifyBatch",
            items = n,
            chars,
            micros = started.elapsed().as_micros() as u64,
            "ok"
        );
        Ok(with_timing(
            Response::new(proto::ClassifyBatchResponse { results }),
            chars,
            segments,
            started,
        ))
    }

    type ClassifyStreamStream = ResultStream;

    async fn classify_stream(
        &self,
        request: Request<Streaming<proto::ClassifyRequest>>,
    ) -> Result<Response<Self::ClassifyStreamStream>, Status> {
        let api = self.clone();
        let max_bytes = self.shared.limits.max_request_bytes;
        // Lazy: a request is read only when the client has taken enough results for the
        // pipeline to have room, so a slow reader slows the stream down (HTTP/2 flow
        // control) instead of buffering without bound.
        let results = request
            .into_inner()
            .enumerate()
            .map(move |(i, item)| {
                let api = api.clone();
                async move {
                    let req = item.map_err(|s| decode_status(s, max_bytes))?;
                    let id = req.id.clone();
                    Ok(match api.run(1, None, move |s| s.outcome(i, req)).await {
                        Ok(result) => result,
                        Err(status) => proto::ClassifyResult {
                            id,
                            index: i as u32,
                            outcome: Some(Outcome::Error(item_error(&status))),
                        },
                    })
                }
            })
            .buffered(STREAM_PIPELINE)
            .inspect(|r| {
                if let Err(status) = r {
                    log_error("ClassifyStream", status);
                }
            });
        Ok(Response::new(Box::pin(results)))
    }

    async fn vectorize(
        &self,
        request: Request<proto::VectorizeRequest>,
    ) -> Result<Response<proto::VectorizeResponse>, Status> {
        let started = Instant::now();
        let deadline = deadline(&request);
        let req = request.into_inner();
        let response = self
            .run(1, deadline, move |s| {
                let options = Options {
                    max_chars: s.limits.max_article_chars,
                    truncate: req.truncate,
                    ..Options::default()
                };
                s.classifier
                    .vectorize(&req.text, &options)
                    .map(|v| convert::vectorized(&s.classifier, &v, req.include_terms))
            })
            .await
            .and_then(|r| r.map_err(|e| input_status(&e)))
            .inspect_err(|status| log_error("Vectorize", status))?;
        debug!(rpc = "Vectorize", nnz = response.indices.len(), "ok");
        Ok(with_timing(Response::new(response), 0, 0, started))
    }

    async fn get_model_info(
        &self,
        _request: Request<proto::GetModelInfoRequest>,
    ) -> Result<Response<proto::ModelInfo>, Status> {
        Ok(Response::new(convert::model_info(
            &self.shared.classifier,
            &self.shared.limits,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeout_values() {
        assert_eq!(parse_grpc_timeout("100m"), Some(Duration::from_millis(100)));
        assert_eq!(parse_grpc_timeout("5S"), Some(Duration::from_secs(5)));
        assert_eq!(parse_grpc_timeout("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_grpc_timeout("10u"), Some(Duration::from_micros(10)));
        assert_eq!(parse_grpc_timeout("123456789S"), None);
        assert_eq!(parse_grpc_timeout("m"), None);
        assert_eq!(parse_grpc_timeout("5x"), None);
        assert_eq!(parse_grpc_timeout(""), None);
    }
}
