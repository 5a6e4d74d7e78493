//! The `tasnif` command line: one source of configuration (flags, each also settable by
//! a `TASNIF_*` environment variable) and one function per subcommand.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::batch::{classify_jsonl, JsonlReader, Summary};
use crate::classifier::{Classifier, Options};
use std::sync::Arc;

use crate::data::{read_articles, read_segments, LabelledText};
use crate::embedding::train::{Trainer, TrainerConfig};
use crate::embedding::WordVectors;
use crate::eval::{set_f1, Metrics};
use crate::input::{open_input, read_input};
use crate::model::{self, train, Algorithm, TrainConfig};
use crate::protocol::{self, convert};
use crate::service::ServeArgs;
use crate::source::ModelArg;
use crate::text::FeatureConfig;

#[derive(Debug, Parser)]
#[command(
    name = "tasnif",
    version,
    about = "Topic classification of Arabic news: diplomacy, military, negotiations"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log format on stderr: `text` (colours only on a terminal) or `json` (one object
    /// per line, for log collectors).
    #[arg(long, global = true, env = "TASNIF_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

// Parsed once per process: the size of the `serve` variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the gRPC API.
    Serve(ServeArgs),
    /// Train a model from labelled segments and write the model file.
    Train(TrainArgs),
    /// Score the model on labelled data, or cross-validate on the training data.
    Eval(EvalArgs),
    /// Classify whole articles: one line of JSON (the gRPC `ClassifyResponse`) per
    /// article; failures on stderr. Exits 0 when every input was classified, 1 when
    /// any failed, 2 on a usage error.
    Classify(ClassifyArgs),
    /// Print the sparse TF-IDF vector of a text (term, index, weight).
    Vectorize(VectorizeArgs),
    /// Compare pipeline and model configurations by leave-one-article-out CV.
    Tune(TuneArgs),
    /// Learn word vectors from an unlabelled corpus and write the vectors file.
    Vectors(VectorsArgs),
}

/// What a model is trained from, besides its settings.
#[derive(Debug, Args, Clone)]
pub struct TrainInputs {
    /// Labelled segments (TSV with `doc`, `label`, `text`).
    #[arg(long, default_value = "seeds/labels.tsv")]
    pub data: PathBuf,
    /// Word vectors (`tasnif vectors`).
    #[arg(long, default_value = "models/vectors.bin")]
    pub vectors: PathBuf,
    /// The unlabelled corpus the `other` examples are taken from.
    #[arg(long, default_value = crate::corpus::DEFAULT_CORPUS)]
    pub corpus: PathBuf,
}

impl Default for TrainInputs {
    fn default() -> Self {
        Self {
            data: "seeds/labels.tsv".into(),
            vectors: "models/vectors.bin".into(),
            corpus: crate::corpus::DEFAULT_CORPUS.into(),
        }
    }
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub inputs: TrainInputs,
    /// Where to write the model file (serve it with `--model`). Not the shipped
    /// models/tasnif.json unless asked for: that file is embedded in the binary.
    #[arg(long, default_value = "tasnif-model.json")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    #[command(flatten)]
    pub model: ModelArg,
    /// TSV with `label` and `text` columns: each row is classified whole.
    #[arg(long, conflicts_with_all = ["articles", "cv"])]
    pub data: Option<PathBuf>,
    /// Article TSV (`id`, `primary`, `topics`, `text`): primary accuracy and topic-set F1.
    #[arg(long, conflicts_with = "cv")]
    pub articles: Option<PathBuf>,
    /// Leave-one-article-out cross-validation on the training data.
    #[arg(long)]
    pub cv: bool,
    /// Training data for --cv.
    #[arg(long, default_value = "seeds/labels.tsv")]
    pub train_data: PathBuf,
    /// Word vectors for --cv.
    #[arg(long, default_value = "models/vectors.bin")]
    pub train_vectors: PathBuf,
    /// Corpus for --cv's `other` examples.
    #[arg(long, default_value = crate::corpus::DEFAULT_CORPUS)]
    pub corpus: PathBuf,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ClassifyArgs {
    #[command(flatten)]
    pub model: ModelArg,
    /// Files to classify, one article each (`-` = standard input).
    pub files: Vec<PathBuf>,
    /// A JSON-lines file of {"id": …, "text": …} (`-` = standard input); writes one result
    /// line per input line, in order, classifying on all cores.
    #[arg(long, conflicts_with = "files")]
    pub jsonl: Option<PathBuf>,
    /// Call a running server (`host:port`, or a URL such as http://127.0.0.1:50051)
    /// instead of classifying in this process. Files go through `Classify`, --jsonl
    /// through one `ClassifyStream`.
    #[arg(long)]
    pub server: Option<String>,
    /// Classify the first characters of a text over the length limit (the server's
    /// `max_article_chars`, or 1 000 000 in process) instead of failing it.
    #[arg(long)]
    pub truncate: bool,
    /// Include per-segment results.
    #[arg(long)]
    pub segments: bool,
    /// Include the top N terms per label.
    #[arg(long, default_value_t = 0)]
    pub explain: usize,
}

#[derive(Debug, Args)]
pub struct VectorizeArgs {
    #[command(flatten)]
    pub model: ModelArg,
    /// File holding the text (`-` = standard input).
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct TuneArgs {
    #[command(flatten)]
    pub inputs: TrainInputs,
    /// Other vectors files to compare (trainers, sizes) at the chosen settings.
    #[arg(long)]
    pub compare_vectors: Vec<PathBuf>,
    /// Skip the main grid: the shipped settings stand in for its winner.
    #[arg(long)]
    pub skip_grid: bool,
    /// Also print macro-F1 on this labelled file (for the record; selection is by CV only).
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Run one part of the comparison only (no grid), at the shipped settings.
    #[arg(long, value_enum)]
    pub only: Option<TuneSection>,
}

/// The parts of `tasnif tune` that run on their own (`--only`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TuneSection {
    /// The vectors files (`--vectors` and every `--compare-vectors`), each on the small
    /// grid of vector scale × `other` count around the shipped settings.
    Vectors,
    /// The bias moved toward equal label priors.
    Priors,
    /// Words outside the vectors' vocabulary given a vector from their character n-grams.
    Oov,
    /// The vectors at lower precision (2–8 bits a value).
    Precision,
    /// Boilerplate (segments recurring in many corpus articles) as `other` examples,
    /// held out in CV beside the section sentences.
    Boilerplate,
}

#[derive(Debug, Args)]
pub struct VectorsArgs {
    /// The corpus: JSON lines (optionally zstd-compressed) with a `text` field.
    #[arg(long, default_value = crate::corpus::DEFAULT_CORPUS)]
    pub corpus: PathBuf,
    /// Where to write the vectors file.
    #[arg(long, default_value = "models/vectors.bin")]
    pub out: PathBuf,
    #[arg(long, value_enum, default_value_t = Trainer::PpmiSvd)]
    pub trainer: Trainer,
    /// Vector dimensions.
    #[arg(long, default_value_t = TrainerConfig::default().dims)]
    pub dims: usize,
    /// Keep this many most frequent words.
    #[arg(long, default_value_t = TrainerConfig::default().vocabulary)]
    pub vocabulary: usize,
    /// Context window, words each side.
    #[arg(long, default_value_t = TrainerConfig::default().window)]
    pub window: usize,
    /// PPMI-SVD: exponent p of the singular values in U·Σ^p.
    #[arg(long, default_value_t = TrainerConfig::default().eig_power)]
    pub eig_power: f64,
    /// The fastText binary (for --trainer fast-text).
    #[arg(long, default_value = "fasttext")]
    pub fasttext: PathBuf,
}

/// A command line that cannot work as given; exits 2, like a flag clap refuses.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Some inputs of `classify` failed (each reported on stderr as it happened); exits 1.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InputsFailed(pub String);

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Serve(args) => crate::service::run(args),
        Command::Train(args) => train_cmd(&args),
        Command::Eval(args) => eval_cmd(&args),
        Command::Classify(args) => classify_cmd(&args),
        Command::Vectorize(args) => vectorize_cmd(&args),
        Command::Tune(args) => tune_cmd(&args),
        Command::Vectors(args) => vectors_cmd(&args),
    }
}

/// The `other` examples `config` asks for, from the corpus (none if it asks for none).
pub fn other_from_corpus(
    config: &TrainConfig,
    corpus: &Path,
) -> Result<Option<model::OtherFromCorpus>> {
    if config.other.count == 0 {
        return Ok(None);
    }
    if !corpus.is_file() {
        bail!(
            "the corpus {} is not there; `other` examples come from it (pass --corpus FILE)",
            corpus.display()
        );
    }
    let (examples, corpus_sha256) = crate::corpus::other_examples(corpus, &config.other)?;
    Ok(Some(model::OtherFromCorpus {
        corpus: corpus.to_string_lossy().replace('\\', "/"),
        corpus_sha256,
        examples,
    }))
}

/// Loads the vectors `config` uses (none when its vector scale is 0).
pub fn vectors_for(config: &TrainConfig, path: &Path) -> Result<Option<Arc<WordVectors>>> {
    if config.vector_scale <= 0.0 {
        return Ok(None);
    }
    Ok(Some(Arc::new(WordVectors::load(path)?)))
}

/// Trains `config` from its inputs; the whole of `tasnif train`.
pub fn train_model(
    config: &TrainConfig,
    inputs: &TrainInputs,
    progress: bool,
) -> Result<model::ModelFile> {
    let data = inputs.data.as_path();
    let bytes = std::fs::read(data).with_context(|| format!("cannot read {}", data.display()))?;
    let segments = read_segments(data)?;
    let other = other_from_corpus(config, &inputs.corpus)?;
    let vectors = vectors_for(config, &inputs.vectors)?;
    let docs = {
        let mut d: Vec<&str> = segments.iter().map(|s| s.doc.as_str()).collect();
        d.sort_unstable();
        d.dedup();
        d.len()
    };
    let bar = if progress {
        ProgressBar::new(docs as u64 + 1)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{msg:>24} [{bar:30}] {pos}/{len} {elapsed}")?
            .progress_chars("=> "),
    );
    bar.set_message("cross-validating");
    // Paths are recorded with forward slashes so the file does not depend on the OS.
    let name = data.to_string_lossy().replace('\\', "/");
    let training = model::TrainingData {
        segments: &segments,
        data_name: &name,
        data_bytes: &bytes,
        other,
        vectors,
    };
    let file = model::build(config, &training, &|| bar.inc(1))?;
    bar.finish_and_clear();
    Ok(file)
}

fn vectors_cmd(args: &VectorsArgs) -> Result<()> {
    let config = TrainerConfig {
        trainer: args.trainer,
        dims: args.dims,
        vocabulary: args.vocabulary,
        window: args.window,
        eig_power: args.eig_power,
        ..TrainerConfig::default()
    };
    let started = std::time::Instant::now();
    let vectors = crate::embedding::train::train(
        &args.corpus,
        crate::text::PipelineConfig::default(),
        &config,
        &args.fasttext,
    )?;
    let bytes = vectors.to_bytes();
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.out, &bytes)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    let p = &vectors.header().provenance;
    eprintln!(
        "wrote {} ({} bytes, {} words × {} dims) from {} articles, {} tokens in {:.1} s; sha256 {}",
        args.out.display(),
        bytes.len(),
        vectors.len(),
        vectors.dims(),
        p.articles,
        p.tokens,
        started.elapsed().as_secs_f64(),
        vectors.sha256()
    );
    Ok(())
}

fn train_cmd(args: &TrainArgs) -> Result<()> {
    let file = train_model(&TrainConfig::default(), &args.inputs, true)?;
    let bytes = file.to_bytes();
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.out, &bytes)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    let cv = &file.training.cross_validation;
    eprintln!(
        "wrote {} ({} bytes, {} terms, {} segments from {} articles); {} macro-F1 {:.3}, accuracy {:.3}; temperature {}",
        args.out.display(),
        bytes.len(),
        file.vocabulary.len(),
        file.training.segments,
        file.training.documents,
        cv.scheme,
        cv.macro_f1,
        cv.accuracy,
        file.calibration.temperature,
    );
    Ok(())
}

/// Classifies each text whole and scores its primary label against the gold label.
/// A text the model refuses (no Arabic letter, say) counts as `other`.
pub fn evaluate_segments(classifier: &Classifier, rows: &[LabelledText]) -> Result<Metrics> {
    let labels = classifier.labels();
    let index = |l: &str| labels.iter().position(|x| x == l);
    let other = index(crate::OTHER).unwrap_or(0);
    let mut gold = Vec::new();
    let mut predicted = Vec::new();
    for row in rows {
        let Some(g) = index(&row.label) else {
            bail!(
                "label {:?} is not one of the model's labels {labels:?}",
                row.label
            );
        };
        gold.push(g);
        predicted.push(
            classifier
                .classify(&row.text, &Options::default())
                .map_or(other, |a| a.primary),
        );
    }
    Ok(Metrics::new(labels, &gold, &predicted))
}

#[derive(Debug, Serialize)]
struct ArticleScores {
    articles: usize,
    primary_accuracy: f64,
    topics_f1: f64,
    rows: Vec<ArticleRow>,
}

#[derive(Debug, Serialize)]
struct ArticleRow {
    id: String,
    primary: String,
    predicted: String,
    topics: Vec<String>,
    predicted_topics: Vec<String>,
}

fn eval_cmd(args: &EvalArgs) -> Result<()> {
    if args.cv {
        let inputs = TrainInputs {
            data: args.train_data.clone(),
            vectors: args.train_vectors.clone(),
            corpus: args.corpus.clone(),
        };
        let (labels, cv) = cross_validate_inputs(&TrainConfig::default(), &inputs)?;
        let calibration = model::Calibration::fit(&cv, &labels);
        return print_metrics(
            &calibration.score(&cv, &labels),
            args.json,
            "leave-one-article-out CV (calibrated as the shipped model is)",
        );
    }
    let classifier = args.model.load()?;
    if let Some(path) = &args.data {
        let metrics = evaluate_segments(&classifier, &read_segments(path)?)?;
        return print_metrics(&metrics, args.json, &path.display().to_string());
    }
    if let Some(path) = &args.articles {
        let scores = evaluate_articles(&classifier, path)?;
        if args.json {
            println!("{}", serde_json::to_string(&scores)?);
        } else {
            println!(
                "{} articles  primary accuracy {:.3}  topics F1 {:.3}",
                scores.articles, scores.primary_accuracy, scores.topics_f1
            );
            for r in &scores.rows {
                println!(
                    "{:<6} gold {:<13} predicted {:<13} topics {:?} → {:?}",
                    r.id, r.primary, r.predicted, r.topics, r.predicted_topics
                );
            }
        }
        return Ok(());
    }
    bail!("tell eval what to score: --data FILE, --articles FILE or --cv")
}

/// Leave-one-article-out CV of `config` on its inputs; returns the labels and the
/// out-of-fold predictions.
fn cross_validate_inputs(
    config: &TrainConfig,
    inputs: &TrainInputs,
) -> Result<(Vec<String>, train::CrossValidation)> {
    let other = other_from_corpus(config, &inputs.corpus)?.unwrap_or_default();
    let (labels, examples) = model::examples_with_other(
        &read_segments(&inputs.data)?,
        &other.examples,
        config.other.weight,
    )?;
    let vectors = vectors_for(config, &inputs.vectors)?;
    let cv = train::cross_validate(config, &labels, &examples, vectors.as_ref())?;
    Ok((labels, cv))
}

fn evaluate_articles(classifier: &Classifier, path: &Path) -> Result<ArticleScores> {
    let articles = read_articles(path)?;
    let labels = classifier.labels();
    let mut rows = Vec::new();
    let (mut correct, mut f1) = (0usize, 0.0f64);
    for a in &articles {
        let result = classifier.classify(&a.text, &Options::default())?;
        let predicted = labels[result.primary].clone();
        let predicted_topics: Vec<String> =
            result.topics.iter().map(|&t| labels[t].clone()).collect();
        correct += usize::from(predicted == a.primary);
        f1 += set_f1(&a.topics, &predicted_topics);
        rows.push(ArticleRow {
            id: a.id.clone(),
            primary: a.primary.clone(),
            predicted,
            topics: a.topics.clone(),
            predicted_topics,
        });
    }
    let n = articles.len().max(1) as f64;
    Ok(ArticleScores {
        articles: articles.len(),
        primary_accuracy: correct as f64 / n,
        topics_f1: f1 / n,
        rows,
    })
}

fn print_metrics(metrics: &Metrics, json: bool, what: &str) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string(metrics)?);
    } else {
        println!("{what}\n{}", metrics.report());
    }
    Ok(())
}

fn classify_cmd(args: &ClassifyArgs) -> Result<()> {
    if args.files.is_empty() && args.jsonl.is_none() {
        return Err(UsageError(
            "give files to classify (`-` for standard input), or --jsonl FILE".into(),
        )
        .into());
    }
    let summary = match &args.server {
        Some(server) => {
            let ask = crate::client::Ask {
                segments: args.segments,
                explain: args.explain,
                truncate: args.truncate,
            };
            match &args.jsonl {
                Some(path) => crate::client::classify_jsonl(server, path, ask)?,
                None => crate::client::classify_files(server, &args.files, ask)?,
            }
        }
        None => classify_in_process(args)?,
    };
    if summary.failed > 0 {
        return Err(InputsFailed(summary.report()).into());
    }
    eprintln!("{}", summary.report());
    Ok(())
}

/// `classify` without `--server`: the model runs here.
fn classify_in_process(args: &ClassifyArgs) -> Result<Summary> {
    let options = Options {
        explain_top_n: args.explain,
        truncate: args.truncate,
        ..Options::default()
    };
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    if let Some(path) = &args.jsonl {
        let reader = JsonlReader::spawn(open_input(path)?);
        // The reader runs ahead while the model loads.
        let classifier = args.model.load()?;
        let summary = classify_jsonl(
            &classifier,
            reader,
            &mut out,
            &mut std::io::stderr().lock(),
            &options,
            args.segments,
        )?;
        out.flush()?;
        return Ok(summary);
    }
    let classifier = args.model.load()?;
    let mut summary = Summary::default();
    for path in &args.files {
        let name = path.display().to_string();
        let result = read_input(path).and_then(|text| {
            let article = classifier
                .classify(&text, &options)
                .with_context(|| name.clone())?;
            Ok(convert::article(
                &classifier,
                &article,
                name.clone(),
                args.segments,
            ))
        });
        match result {
            Ok(response) => {
                writeln!(out, "{}", protocol::to_json(&response))?;
                summary.classified += 1;
            }
            Err(e) => {
                // Results so far go out before the error that follows them.
                out.flush()?;
                eprintln!("{e:#}");
                summary.failed += 1;
            }
        }
    }
    out.flush()?;
    Ok(summary)
}

fn vectorize_cmd(args: &VectorizeArgs) -> Result<()> {
    let classifier = args.model.load()?;
    let text = read_input(&args.file)?;
    let v = classifier.vectorize(&text, &Options::default())?;
    let vectorizer = classifier.vectorizer();
    let mut out = BufWriter::new(std::io::stdout().lock());
    writeln!(out, "term\tindex\tweight")?;
    for (i, w) in v.vector.iter() {
        writeln!(out, "{}\t{}\t{:.6}", vectorizer.feature_name(i), i, w)?;
    }
    writeln!(
        out,
        "# {} non-zero of {}; coverage {}/{} tokens",
        v.vector.nnz(),
        classifier.vectorizer().dimension(),
        v.coverage.known,
        v.coverage.tokens
    )?;
    Ok(out.flush()?)
}

/// One configuration scored for `tasnif tune`.
#[derive(Clone)]
struct TuneRow {
    cv: Metrics,
    /// Class-balanced out-of-fold log-loss ([`model::Calibration::macro_log_loss`]).
    cv_nll: f64,
    /// Each out-of-fold example's log-loss, and its gold label.
    losses: Vec<f64>,
    gold: Vec<usize>,
    report: Option<Metrics>,
}

/// Scores `config` by leave-one-article-out CV on the seeds plus every example of
/// `others` (each in its fold), training on the first `config.other.count` of them only:
/// settings that train on different data are scored on the same examples.
fn tune_row(
    config: &TrainConfig,
    segments: &[LabelledText],
    others: &[crate::corpus::OtherExample],
    vectors: Option<&Arc<WordVectors>>,
    report: Option<&[LabelledText]>,
) -> Result<TuneRow> {
    let (labels, _) = model::examples(segments)?;
    let vectors = vectors.filter(|_| config.vector_scale > 0.0);
    tune_row_with(config, segments, others, vectors, report, &|train| {
        train::fit(config, &labels, train, vectors)
    })
}

/// [`tune_row`] with any fitting procedure (given the training examples).
fn tune_row_with(
    config: &TrainConfig,
    segments: &[LabelledText],
    others: &[crate::corpus::OtherExample],
    vectors: Option<&Arc<WordVectors>>,
    report: Option<&[LabelledText]>,
    fit: &dyn Fn(&[train::Example]) -> Result<train::Fitted, crate::ModelError>,
) -> Result<TuneRow> {
    let (labels, mut examples) = model::examples_with_other(segments, others, config.other.weight)?;
    let n_seeds = segments.len();
    for (i, e) in examples.iter_mut().enumerate().skip(n_seeds) {
        e.train = i - n_seeds < config.other.count;
    }
    let cv = train::cross_validate_by(&labels, &examples, &|| {}, fit)?;
    let calibration = model::Calibration::fit(&cv, &labels);
    let metrics = calibration.score(&cv, &labels);
    let losses = calibration.log_losses(&cv, &labels);
    // The same figure as `calibration.macro_log_loss`, from the losses already computed.
    let cv_nll = model::calibration::balanced_mean(&losses, &cv.gold, labels.len()).0;
    let gold = cv.gold.clone();
    let report = match report {
        None => None,
        Some(rows) => {
            let (vectorizer, fitted) = fit(&examples)?;
            let data = model::TrainingData {
                segments,
                data_name: "tune",
                data_bytes: b"",
                other: None,
                vectors: vectors.cloned(),
            };
            let file = model::assemble(
                config,
                &data,
                cv.folds,
                &metrics,
                calibration,
                &vectorizer,
                &fitted,
            );
            let classifier = Classifier::from_bytes_with(&file.to_bytes(), vectors.cloned())?;
            Some(evaluate_segments(&classifier, rows)?)
        }
    };
    Ok(TuneRow {
        cv: metrics,
        cv_nll,
        losses,
        gold,
        report,
    })
}

fn tune_cmd(args: &TuneArgs) -> Result<()> {
    let segments = read_segments(&args.inputs.data)?;
    let report = args.report.as_deref().map(read_segments).transpose()?;
    let report = report.as_deref();
    let base = TrainConfig::default();
    let vectors = Arc::new(WordVectors::load(&args.inputs.vectors)?);
    // Every row is scored on the same `other` examples: the most any row trains on.
    const MOST_OTHER: usize = 80;
    let (all_other, _) = crate::corpus::other_examples(
        &args.inputs.corpus,
        &crate::corpus::OtherRule {
            count: MOST_OTHER,
            ..base.other
        },
    )?;
    let header = || {
        println!(
            "{:<40} {:>7} {:>7} {:>7} {:>7} {:>8} {:>8}",
            "configuration", "cv_acc", "cv_mF1", "cv_top3", "cv_nll", "rep_mF1", "rep_othF1"
        )
    };
    let print = |name: &str, row: &TuneRow| {
        let (rep, other) = match &row.report {
            Some(m) => (
                format!("{:>8.3}", m.macro_f1),
                format!(
                    "{:>8.3}",
                    m.per_label
                        .iter()
                        .find(|l| l.label == crate::OTHER)
                        .map_or(0.0, |l| l.f1)
                ),
            ),
            None => (String::new(), String::new()),
        };
        println!(
            "{name:<40} {:>7.3} {:>7.3} {:>7.3} {:>7.4} {rep} {other}",
            row.cv.accuracy, row.cv.macro_f1, row.cv.macro_f1_topics, row.cv_nll
        );
    };
    println!(
        "Leave-one-article-out CV on the {} seed segments + {MOST_OTHER} held-out corpus `other` examples \
         (rows train on the first N of them); rep_* on the report file, for the record only.\n",
        segments.len()
    );
    header();
    let lr = |alpha| Algorithm::LogisticRegression {
        alpha,
        max_iterations: 200,
    };
    if args.only == Some(TuneSection::Boilerplate) {
        for min_articles in [10usize, 20] {
            let recurring = crate::corpus::recurring_segments(&args.inputs.corpus, min_articles)?;
            println!(
                "\nsegments recurring in >= {min_articles} articles: {}; pool = 80 section \
                 sentences + all of them, rows train on the first 20 sections + the first m",
                recurring.len()
            );
            let (first, rest) = all_other.split_at(base.other.count.min(all_other.len()));
            for m in [0usize, 5, 10, 20, 40] {
                if m > recurring.len() {
                    continue;
                }
                let pool: Vec<_> = first
                    .iter()
                    .chain(&recurring[..m])
                    .chain(rest)
                    .chain(&recurring[m..])
                    .cloned()
                    .collect();
                let mut c = base;
                c.other.count = first.len() + m;
                print(
                    &format!("sections 20 + recurring {m}"),
                    &tune_row(&c, &segments, &pool, Some(&vectors), report)?,
                );
            }
        }
        return Ok(());
    }
    if args.only == Some(TuneSection::Precision) {
        for bits in [8u32, 6, 4, 3, 2] {
            let v = Arc::new(vectors.requantized(bits)?);
            let mib =
                (vectors.len() * vectors.dims()) as f64 * f64::from(bits) / 8.0 / (1 << 20) as f64;
            print(
                &format!("{bits}-bit values ({mib:.1} MiB of vectors)"),
                &tune_row(&base, &segments, &all_other, Some(&v), report)?,
            );
        }
        return Ok(());
    }
    if args.only == Some(TuneSection::Oov) {
        use crate::embedding::subword::SubwordVectors;
        let analyzer = crate::text::Analyzer::new(vectors.header().pipeline);
        let mut buf = String::new();
        let mut keys_of = |texts: &mut dyn Iterator<Item = &str>| {
            let (mut tokens, mut oov, mut keys) = (0usize, 0usize, Vec::new());
            for text in texts {
                crate::text::tokenize::for_each_raw_word(text, |raw| {
                    buf.clear();
                    analyzer.normalizer().normalize_into(raw, &mut buf);
                    if let Some(key) = analyzer.word_key(&buf) {
                        tokens += 1;
                        if vectors.lookup(key).is_none() {
                            oov += 1;
                            keys.push(key.to_string());
                        }
                    }
                });
            }
            (tokens, oov, keys)
        };
        let (t1, o1, mut keys) = keys_of(&mut segments.iter().map(|s| s.text.as_str()));
        let (t2, o2, k2) = keys_of(&mut all_other.iter().map(|e| e.text.as_str()));
        keys.extend(k2);
        println!(
            "word tokens outside the vectors: seeds {o1} of {t1}, corpus `other` {o2} of {t2}"
        );
        if let Some(rows) = report {
            let (t3, o3, k3) = keys_of(&mut rows.iter().map(|s| s.text.as_str()));
            keys.extend(k3);
            println!("report file: {o3} of {t3}");
        }
        let mut idfs: Vec<f32> = (0..vectors.len()).map(|i| vectors.idf(i as u32)).collect();
        idfs.sort_by(f32::total_cmp);
        let (median, max) = (idfs[idfs.len() / 2], idfs[idfs.len() - 1]);
        let sub = SubwordVectors::derive(&vectors, 3, 5);
        for (name, words, idf) in [
            ("vocabulary only (re-quantized)", &[][..], max),
            ("+ n-gram vectors, idf = max", &keys[..], max),
            ("+ n-gram vectors, idf = median", &keys[..], median),
        ] {
            let v = Arc::new(sub.extend(&vectors, words, idf)?);
            print(
                &format!("{name} ({} words)", v.len()),
                &tune_row(&base, &segments, &all_other, Some(&v), report)?,
            );
        }
        return Ok(());
    }
    if args.only == Some(TuneSection::Priors) {
        let (labels, _) = model::examples(&segments)?;
        for (name, topics_only, strength) in [
            ("priors as trained", false, 0.0f32),
            ("topic priors equal x0.5", true, 0.5),
            ("topic priors equal", true, 1.0),
            ("all priors equal x0.5", false, 0.5),
            ("all priors equal", false, 1.0),
        ] {
            let row = tune_row_with(
                &base,
                &segments,
                &all_other,
                Some(&vectors),
                report,
                &|train| {
                    let (v, m) = train::fit(&base, &labels, train, Some(&vectors))?;
                    Ok((v, train::equalize_priors(m, train, topics_only, strength)))
                },
            )?;
            print(name, &row);
        }
        return Ok(());
    }
    if args.only == Some(TuneSection::Vectors) {
        let files = std::iter::once(&args.inputs.vectors).chain(&args.compare_vectors);
        for path in files {
            let v = Arc::new(WordVectors::load(path)?);
            for scale in [1.0f32, 2.0, 4.0] {
                for count in [10usize, 20, 40, 80] {
                    let mut c = base;
                    c.vector_scale = scale;
                    c.other.count = count;
                    let name = format!("{} x{scale} other {count}", path.display());
                    print(
                        &name,
                        &tune_row(&c, &segments, &all_other, Some(&v), report)?,
                    );
                }
            }
        }
        return Ok(());
    }
    // Selection is by the class-balanced out-of-fold log-loss (lowest), not by macro-F1:
    // on 187 examples macro-F1 moves in steps of one example and ties or flips on noise,
    // while the log-loss moves with every example's probability (session 8).
    let mut best: Option<(f64, String, TrainConfig, TuneRow)> = None;
    let mut best_f1: Option<(f64, String, TuneRow)> = None;
    if args.skip_grid {
        let row = tune_row(&base, &segments, &all_other, Some(&vectors), report)?;
        best = Some((0.0, "the shipped settings".into(), base, row));
    }
    for scale in [0.0f32, 1.0, 2.0, 4.0]
        .into_iter()
        .filter(|_| !args.skip_grid)
    {
        for count in [0usize, 10, 20, 40, 80] {
            for alpha in [0.01, 0.03, 0.1] {
                let mut c = base;
                c.vector_scale = scale;
                c.other.count = count;
                c.algorithm = lr(alpha);
                let name = format!("vectors x{scale} other {count:>2} lr a={alpha}");
                let row = tune_row(&c, &segments, &all_other, Some(&vectors), report)?;
                print(&name, &row);
                if best.as_ref().is_none_or(|b| row.cv_nll < b.0 - 1e-9) {
                    best = Some((row.cv_nll, name.clone(), c, row.clone()));
                }
                if best_f1
                    .as_ref()
                    .is_none_or(|b| row.cv.macro_f1 > b.0 + 1e-9)
                {
                    best_f1 = Some((row.cv.macro_f1, name, row));
                }
            }
        }
    }
    let (_, best_name, best, best_row) = best.expect("the grid is not empty");
    println!("\nbest by cv_nll (chosen): {best_name}");
    // The sections below change one setting of the chosen row at a time. Each prints its
    // class-balanced log-loss difference from the chosen row on the same examples, with
    // the paired standard error: a change is worth taking only when it is lower by more
    // than two standard errors.
    let print_against_chosen = |name: &str, row: &TuneRow| {
        print(name, row);
        let (d, se) = model::calibration::balanced_mean_difference(
            &row.losses,
            &best_row.losses,
            &row.gold,
            row.cv.labels.len(),
        );
        let verdict = if d < -2.0 * se {
            "  better (> 2 se)"
        } else {
            ""
        };
        println!("{:<40} dnll {d:+.4} se {se:.4}{verdict}", "");
    };
    if let Some((_, name, row)) = best_f1 {
        println!("best by cv_mF1 (the choice before session 8), against the chosen row:");
        print_against_chosen(&name, &row);
    }
    println!();
    header();
    let features = |words, stems, cmin, cmax| FeatureConfig {
        stop_words: true,
        words,
        stems,
        char_ngram_min: cmin,
        char_ngram_max: cmax,
    };
    for (fname, f) in [
        ("words", features(true, false, 0, 0)),
        ("words+stems+char3-5", features(true, true, 3, 5)),
        ("words+char2-4", features(true, false, 2, 4)),
    ] {
        let mut c = best;
        c.pipeline.features = f;
        print_against_chosen(
            &format!("best, features {fname}"),
            &tune_row(&c, &segments, &all_other, Some(&vectors), report)?,
        );
    }
    println!("\nvocabulary size of the vectors (best settings otherwise):");
    header();
    for n in [2_000, 5_000, 10_000, 20_000, 30_000, 50_000, 100_000] {
        if n > vectors.len() {
            continue;
        }
        let v = Arc::new(vectors.truncated(n)?);
        print_against_chosen(
            &format!("top {n} words"),
            &tune_row(&best, &segments, &all_other, Some(&v), report)?,
        );
    }
    println!("\nweight of the `other` examples (best settings otherwise):");
    header();
    for weight in [1u32, 2, 3] {
        for count in [10usize, 20, 40] {
            let mut c = best;
            c.other.weight = weight;
            c.other.count = count;
            print_against_chosen(
                &format!("other {count:>2} x weight {weight}"),
                &tune_row(&c, &segments, &all_other, Some(&vectors), report)?,
            );
        }
    }
    println!("\nself-training on the corpus' news sections (one round; best settings otherwise):");
    header();
    let pool = crate::corpus::news_sentences(&args.inputs.corpus, 2_000, &best.other)?;
    for (per_label, min_probability) in [(20, 0.9f32), (50, 0.9), (100, 0.8)] {
        let st = train::SelfTraining {
            pool: pool.clone(),
            per_label,
            min_probability,
        };
        let (labels, _) = model::examples(&segments)?;
        let row = tune_row_with(
            &best,
            &segments,
            &all_other,
            Some(&vectors),
            report,
            &|train| train::fit_self_trained(&best, &labels, train, Some(&vectors), &st),
        )?;
        print_against_chosen(
            &format!("self-training {per_label}/label p>={min_probability}"),
            &row,
        );
    }
    if !args.compare_vectors.is_empty() {
        println!("\nother vectors files (best settings otherwise):");
        header();
        for path in &args.compare_vectors {
            let v = Arc::new(WordVectors::load(path)?);
            for n in [10_000, 30_000] {
                let t = Arc::new(v.truncated(n)?);
                print_against_chosen(
                    &format!("{} top {n}", path.display()),
                    &tune_row(&best, &segments, &all_other, Some(&t), report)?,
                );
            }
        }
    }
    Ok(())
}
