//! The `tasnif.v1.TopicClassifier` RPCs: request validation, memory charges, and
//! classification on the [`Scheduler`]'s workers so the async executor only ever does I/O.
//!
//! Every call is bounded before its work starts: its request bytes, and — once the text is
//! segmented, before any scoring — the memory its answer and its work will take, are
//! charged to the memory budget ([`budget`](super::budget)); its characters are admitted
//! by the scheduler. A call whose client leaves or whose deadline passes stops at the next
//! segment boundary.
//!
//! Every text answered is counted in the call's [`Usage`], which the call guard writes as
//! the `x-tasnif-*` metadata ([`usage`](super::usage)).

use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use futures::{Stream, StreamExt};
use tokio::sync::oneshot;
use tonic::{Code, Request, Response, Status, Streaming};
use tracing::{debug, warn};

use super::budget::{ConnectionBudget, Exceeded, Ledger, MemoryBudget};
use super::layer::CallContext;
use super::metrics::Metrics;
use super::proto::{self, classify_result::Outcome, topic_classifier_server::TopicClassifier};
use super::reload::ModelCell;
use super::scheduler::{Caps, Scheduler, Ticket, Work};
use super::status::{busy_status, decode_status, exceeded_status, input_status, stop_status};
use super::usage::Usage;
use super::{convert, Limits};
use crate::classifier::{Control, Halted, Options, DEFAULT_TOPIC_THRESHOLD};
use crate::error::InputError;

/// Default number of explanation terms per label.
const DEFAULT_EXPLAIN_TOP_N: u32 = 5;
/// Stream requests classified ahead of what the client has read (results stay in order).
const STREAM_PIPELINE: usize = 2;
/// Memory a call holds besides its text: the request and answer messages, bookkeeping.
const CALL_BASE_BYTES: usize = 4 * 1024;
/// Memory the classifier holds per segment while it works (its result and probabilities).
const WORK_BYTES_PER_SEGMENT: usize = 128;

/// Memory the answer takes per segment when segments are included (the message, and its
/// encoding until written), for `labels` labels.
fn answer_bytes_per_segment(labels: usize) -> usize {
    96 + 80 * labels
}

/// State shared by every call.
struct Shared {
    /// The model being served; each call takes one snapshot (hot reload swaps it).
    classifier: ModelCell,
    limits: Limits,
    scheduler: Scheduler,
    budget: MemoryBudget,
    metrics: Arc<Metrics>,
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

/// A call's context, or a fresh one for a server assembled without the call guard.
fn context<T>(request: &Request<T>) -> CallContext {
    request
        .extensions()
        .get::<CallContext>()
        .cloned()
        .unwrap_or_else(|| CallContext {
            connection: None,
            ticket: Arc::new(Ticket::default()),
            ledger: Ledger::default(),
            arrival: Instant::now(),
            usage: Arc::new(Usage::default()),
        })
}

/// The [`Control`] of one classification: charges its segments to the call's ledger
/// before scoring, and stops when the call's ticket says so.
struct CallControl<'a> {
    shared: &'a Shared,
    budget: &'a MemoryBudget,
    connection: &'a ConnectionBudget,
    ledger: &'a Ledger,
    ticket: &'a Ticket,
    bytes_per_segment: usize,
}

impl Control for CallControl<'_> {
    type Stop = Status;
    fn admit(&self, segments: usize) -> Result<(), Status> {
        self.ticket.check().map_err(stop_status)?;
        self.budget
            .charge_call(
                self.ledger,
                self.connection,
                segments.saturating_mul(self.bytes_per_segment),
            )
            .map_err(|e| self.shared.refused(&e))
    }
    fn proceed(&self) -> Result<(), Status> {
        self.ticket.check().map_err(stop_status)
    }
}

/// What a worker needs to charge, stop and count one call's work.
#[derive(Clone)]
struct Meter {
    connection: ConnectionBudget,
    ledger: Ledger,
    ticket: Arc<Ticket>,
    usage: Arc<Usage>,
}

impl Api {
    pub fn new(
        classifier: ModelCell,
        limits: Limits,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<Self> {
        let server = Caps {
            chars: limits.max_queued_chars,
            items: limits.max_in_flight,
        };
        let connection = Caps {
            chars: limits.connection_queued_chars(),
            items: limits.connection_in_flight(),
        };
        let scheduler = Scheduler::new(limits.workers, server, connection)?;
        let budget = limits.memory_budget();
        Ok(Self {
            shared: Arc::new(Shared {
                classifier,
                limits,
                scheduler,
                budget,
                metrics,
            }),
        })
    }

    /// The server's memory budget (shared with the call guard).
    pub fn budget(&self) -> MemoryBudget {
        self.shared.budget.clone()
    }

    fn meter(&self, ctx: &CallContext) -> Meter {
        Meter {
            connection: ctx
                .connection
                .as_ref()
                .map_or_else(|| self.shared.budget.connection(), |c| c.budget.clone()),
            ledger: ctx.ledger.clone(),
            ticket: ctx.ticket.clone(),
            usage: ctx.usage.clone(),
        }
    }

    /// Charges a request's text (and the call's fixed overhead) to its ledger.
    fn charge_request(&self, meter: &Meter, text_bytes: usize) -> Result<(), Status> {
        self.shared
            .budget
            .charge_call(
                &meter.ledger,
                &meter.connection,
                CALL_BASE_BYTES + text_bytes,
            )
            .map_err(|e| exceeded_status(&e))
    }

    /// Queues `work` (costing `chars` characters) for the call's connection; refused at
    /// once when the scheduler is full; resolves with its result, or with the call's
    /// stop reason when the job was dropped unrun.
    async fn run<T, F>(
        &self,
        connection: u64,
        meter: &Meter,
        chars: usize,
        work: F,
    ) -> Result<T, Status>
    where
        T: Send + 'static,
        F: FnOnce(&Shared) -> T + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let shared = self.shared.clone();
        self.shared
            .scheduler
            .submit(connection, chars, meter.ticket.clone(), move || {
                let result = work(&shared);
                Box::new(move || {
                    let _ = tx.send(result);
                })
            })
            .map_err(|busy| self.shared.busy(&busy))?;
        rx.await.map_err(|_| unrun(&meter.ticket))
    }
}

/// The status of a job whose answer never came: dropped unrun because its call was
/// cancelled or expired, or (the ticket still valid) it panicked.
fn unrun(ticket: &Ticket) -> Status {
    match ticket.check() {
        Err(stop) => stop_status(stop),
        Ok(()) => Status::internal("classification failed unexpectedly; the error was logged"),
    }
}

impl Shared {
    fn refused(&self, e: &Exceeded) -> Status {
        self.metrics.refused.with_label_values(&[e.limit()]).inc();
        exceeded_status(e)
    }

    fn busy(&self, busy: &super::scheduler::Busy) -> Status {
        self.metrics
            .refused
            .with_label_values(&[busy.limit()])
            .inc();
        busy_status(busy)
    }

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

    /// Classifies one request under its call's meter.
    fn classify(
        &self,
        req: proto::ClassifyRequest,
        meter: &Meter,
    ) -> Result<proto::ClassifyResponse, Status> {
        let plan = self.plan(&req).map_err(|e| input_status(&e))?;
        let classifier = self.classifier.load_full();
        let labels = classifier.labels().len();
        let control = CallControl {
            shared: self,
            budget: &self.budget,
            connection: &meter.connection,
            ledger: &meter.ledger,
            ticket: &meter.ticket,
            bytes_per_segment: WORK_BYTES_PER_SEGMENT
                + if plan.include_segments {
                    answer_bytes_per_segment(labels)
                } else {
                    0
                },
        };
        let article = classifier
            .classify_with(&req.text, &plan.options, &control)
            .map_err(|halted| match halted {
                Halted::Input(e) => input_status(&e),
                Halted::Stopped(status) => status,
            })?;
        meter.usage.add(article.characters, article.segments.len());
        let ood_threshold = classifier.ood_threshold();
        self.metrics.article(
            &classifier.labels()[article.primary],
            article.segments.len(),
            article.characters,
            article
                .segments
                .iter()
                .filter(|s| s.coverage.ratio() < ood_threshold)
                .count(),
        );
        Ok(convert::article(
            &classifier,
            &article,
            req.id,
            plan.include_segments,
        ))
    }

    fn outcome(
        &self,
        index: usize,
        req: proto::ClassifyRequest,
        meter: &Meter,
    ) -> proto::ClassifyResult {
        let id = req.id.clone();
        let outcome = match self.classify(req, meter) {
            Ok(response) => Outcome::Response(response),
            Err(status) => Outcome::Error(item_error(&status)),
        };
        proto::ClassifyResult {
            id,
            index: index as u32,
            outcome: Some(outcome),
        }
    }
}

/// Characters in `text`, the unit of admission.
fn chars(text: &str) -> usize {
    text.chars().count()
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

type ResultStream = Pin<Box<dyn Stream<Item = Result<proto::ClassifyResult, Status>> + Send>>;

#[tonic::async_trait]
impl TopicClassifier for Api {
    async fn classify(
        &self,
        request: Request<proto::ClassifyRequest>,
    ) -> Result<Response<proto::ClassifyResponse>, Status> {
        let started = Instant::now();
        let ctx = context(&request);
        let meter = self.meter(&ctx);
        let req = request.into_inner();
        let result = async {
            self.charge_request(&meter, req.text.len())?;
            let cost = chars(&req.text);
            let m = meter.clone();
            self.run(ctx.connection_id(), &meter, cost, move |s| {
                s.classify(req, &m)
            })
            .await?
        }
        .await;
        match result {
            Ok(response) => {
                let (chars, segments) = (
                    response.characters as usize,
                    response.segment_count as usize,
                );
                debug!(rpc = "Classify", chars, segments, primary = %response.primary, micros = started.elapsed().as_micros() as u64, "ok");
                Ok(Response::new(response))
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
        let ctx = context(&request);
        let meter = self.meter(&ctx);
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
            .batch(&ctx, &meter, items)
            .await
            .inspect_err(|status| log_error("ClassifyBatch", status))?;
        let (chars, segments) = meter.usage.totals();
        debug!(
            rpc = "ClassifyBatch",
            items = n,
            chars,
            segments,
            micros = started.elapsed().as_micros() as u64,
            "ok"
        );
        Ok(Response::new(proto::ClassifyBatchResponse { results }))
    }

    type ClassifyStreamStream = ResultStream;

    async fn classify_stream(
        &self,
        request: Request<Streaming<proto::ClassifyRequest>>,
    ) -> Result<Response<Self::ClassifyStreamStream>, Status> {
        let api = self.clone();
        let ctx = context(&request);
        let max_bytes = self.shared.limits.max_request_bytes;
        // Lazy: a request is read only when the client has taken enough results for the
        // pipeline to have room, so a slow reader slows the stream down (HTTP/2 flow
        // control) instead of buffering. Each result's charges (its own ledger) are held
        // until the next result is taken, i.e. until the encoder has passed it on.
        let results = request
            .into_inner()
            .enumerate()
            .map(move |(i, item)| {
                let api = api.clone();
                let ctx = ctx.clone();
                async move {
                    let req = item.map_err(|s| decode_status(s, max_bytes))?;
                    let meter = Meter {
                        ledger: Ledger::default(),
                        ..api.meter(&ctx)
                    };
                    let id = req.id.clone();
                    let outcome = async {
                        api.charge_request(&meter, req.text.len())?;
                        let cost = chars(&req.text);
                        let m = meter.clone();
                        api.run(ctx.connection_id(), &meter, cost, move |s| {
                            s.outcome(i, req, &m)
                        })
                        .await
                    }
                    .await;
                    let result = outcome.unwrap_or_else(|status| proto::ClassifyResult {
                        id,
                        index: i as u32,
                        outcome: Some(Outcome::Error(item_error(&status))),
                    });
                    Ok((result, meter.ledger))
                }
            })
            .buffered(STREAM_PIPELINE)
            .scan(None::<Ledger>, |held, item| {
                let item = item.map(|(result, ledger)| {
                    *held = Some(ledger);
                    result
                });
                futures::future::ready(Some(item))
            })
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
        let ctx = context(&request);
        let meter = self.meter(&ctx);
        let req = request.into_inner();
        let response = async {
            // The vector has at most a few entries per character; its terms are words of
            // the text: the answer is bounded by a small multiple of the text.
            self.charge_request(&meter, 4 * req.text.len())?;
            let cost = chars(&req.text);
            let usage = meter.usage.clone();
            self.run(ctx.connection_id(), &meter, cost, move |s| {
                let options = Options {
                    max_chars: s.limits.max_article_chars,
                    truncate: req.truncate,
                    ..Options::default()
                };
                let classifier = s.classifier.load_full();
                classifier
                    .vectorize(&req.text, &options)
                    .map(|v| {
                        usage.add(v.characters, v.segments);
                        convert::vectorized(&classifier, &v, req.include_terms)
                    })
                    .map_err(|e| input_status(&e))
            })
            .await?
        }
        .await
        .inspect_err(|status| log_error("Vectorize", status))?;
        debug!(
            rpc = "Vectorize",
            nnz = response.indices.len(),
            micros = started.elapsed().as_micros() as u64,
            "ok"
        );
        Ok(Response::new(response))
    }

    async fn get_model_info(
        &self,
        _request: Request<proto::GetModelInfoRequest>,
    ) -> Result<Response<proto::ModelInfo>, Status> {
        Ok(Response::new(convert::model_info(
            &self.shared.classifier.load_full(),
            self.shared.limits.to_proto(),
        )))
    }
}

impl Api {
    /// A batch: every item charged and queued as its own job (so the workers interleave
    /// it fairly with other connections' calls), admitted together or refused together.
    async fn batch(
        &self,
        ctx: &CallContext,
        meter: &Meter,
        items: Vec<proto::ClassifyRequest>,
    ) -> Result<Vec<proto::ClassifyResult>, Status> {
        let text_bytes: usize = items.iter().map(|r| r.text.len()).sum();
        self.charge_request(meter, text_bytes)?;
        let mut receivers = Vec::with_capacity(items.len());
        let mut jobs = Vec::with_capacity(items.len());
        for (i, req) in items.into_iter().enumerate() {
            let (tx, rx) = oneshot::channel();
            let shared = self.shared.clone();
            let m = meter.clone();
            let cost = chars(&req.text);
            let work: Work = Box::new(move || {
                let result = shared.outcome(i, req, &m);
                Box::new(move || {
                    let _ = tx.send(result);
                })
            });
            jobs.push((cost, meter.ticket.clone(), work));
            receivers.push(rx);
        }
        self.shared
            .scheduler
            .submit_all(ctx.connection_id(), jobs)
            .map_err(|busy| self.shared.busy(&busy))?;
        let mut results = Vec::with_capacity(receivers.len());
        for rx in receivers {
            results.push(rx.await.map_err(|_| unrun(&meter.ticket))?);
        }
        Ok(results)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_grow_with_labels() {
        assert!(answer_bytes_per_segment(4) > answer_bytes_per_segment(2));
        assert!(chars("سلام") == 4);
    }
}
