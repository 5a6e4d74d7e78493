//! The `tasnif` command line: one source of configuration (flags, each also settable by
//! a `TASNIF_*` environment variable) and one function per subcommand.

use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::batch::{classify_jsonl, ArticleJson, JsonlReader};
use crate::classifier::{Classifier, Options};
use crate::data::{read_articles, read_segments, LabelledText};
use crate::eval::{set_f1, Metrics};
use crate::model::{self, train, Algorithm, TrainConfig};
use crate::service::ServeArgs;
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
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the gRPC API.
    Serve(ServeArgs),
    /// Train a model from labelled segments and write the model file.
    Train(TrainArgs),
    /// Score the model on labelled data, or cross-validate on the training data.
    Eval(EvalArgs),
    /// Classify whole articles; one JSON line per article.
    Classify(ClassifyArgs),
    /// Print the sparse TF-IDF vector of a text (term, index, weight).
    Vectorize(VectorizeArgs),
    /// Compare pipeline and model configurations by leave-one-article-out CV.
    Tune(TuneArgs),
}

/// Selects the model: the embedded one unless a path is given.
#[derive(Debug, Args, Clone)]
pub struct ModelArg {
    /// Model file to load instead of the one embedded in the binary.
    #[arg(long, env = "TASNIF_MODEL")]
    pub model: Option<PathBuf>,
}

impl ModelArg {
    pub fn load(&self) -> Result<Classifier> {
        Ok(match &self.model {
            Some(path) => Classifier::load(path)?,
            None => Classifier::embedded()?,
        })
    }
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Labelled segments (TSV with `doc`, `label`, `text`).
    #[arg(long, default_value = "seeds/labels.tsv")]
    pub data: PathBuf,
    /// Where to write the model file.
    #[arg(long, default_value = "models/tasnif.json")]
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
    /// Call a running server (e.g. http://127.0.0.1:50051) instead of classifying in-process.
    #[arg(long, env = "TASNIF_SERVER")]
    pub server: Option<String>,
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
    #[arg(long, default_value = "seeds/labels.tsv")]
    pub data: PathBuf,
    /// Also print macro-F1 on this labelled file (for the record; selection is by CV only).
    #[arg(long)]
    pub report: Option<PathBuf>,
}

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Serve(args) => crate::service::run(args),
        Command::Train(args) => train_cmd(&args),
        Command::Eval(args) => eval_cmd(&args),
        Command::Classify(args) => classify_cmd(&args),
        Command::Vectorize(args) => vectorize_cmd(&args),
        Command::Tune(args) => tune_cmd(&args),
    }
}

/// A file to read, or standard input for `-`.
fn open_input(path: &Path) -> Result<Box<dyn Read + Send>> {
    Ok(if path == Path::new("-") {
        Box::new(std::io::stdin())
    } else {
        Box::new(
            std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?,
        )
    })
}

/// The whole of a file, or of standard input for `-`, as text.
pub fn read_input(path: &Path) -> Result<String> {
    let mut text = String::new();
    open_input(path)?
        .read_to_string(&mut text)
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(text)
}

/// Trains `config` on a data file; the whole of `tasnif train`.
pub fn train_model(config: &TrainConfig, data: &Path, progress: bool) -> Result<model::ModelFile> {
    let bytes = std::fs::read(data).with_context(|| format!("cannot read {}", data.display()))?;
    let segments = read_segments(data)?;
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
    let file = model::build(config, &segments, &name, &bytes, &|| bar.inc(1))?;
    bar.finish_and_clear();
    Ok(file)
}

fn train_cmd(args: &TrainArgs) -> Result<()> {
    let file = train_model(&TrainConfig::default(), &args.data, true)?;
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
        let (labels, cv) = cross_validate_file(&TrainConfig::default(), &args.train_data)?;
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

/// Leave-one-article-out CV of `config` on a segment file; returns the labels and the
/// out-of-fold predictions.
fn cross_validate_file(
    config: &TrainConfig,
    data: &Path,
) -> Result<(Vec<String>, train::CrossValidation)> {
    let (labels, examples) = model::examples(&read_segments(data)?)?;
    let cv = train::cross_validate(config, &labels, &examples)?;
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
    if let Some(server) = &args.server {
        return crate::service::client::classify_files(
            server,
            &args.files,
            args.segments,
            args.explain,
        );
    }
    let options = Options {
        explain_top_n: args.explain,
        ..Options::default()
    };
    if let Some(path) = &args.jsonl {
        let reader = JsonlReader::spawn(open_input(path)?);
        // The reader runs ahead while the model loads.
        let classifier = args.model.load()?;
        let stdout = std::io::stdout();
        let mut out = BufWriter::new(stdout.lock());
        classify_jsonl(&classifier, reader, &mut out, &options, args.segments)?;
        return Ok(out.flush()?);
    }
    let classifier = args.model.load()?;
    let labels = classifier.labels();
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    if args.files.is_empty() {
        bail!("give files to classify (`-` for standard input), or --jsonl FILE");
    }
    for path in &args.files {
        let text = read_input(path)?;
        let name = path.display().to_string();
        match classifier.classify(&text, &options) {
            Ok(a) => writeln!(
                out,
                "{}",
                serde_json::to_string(&ArticleJson::new(labels, &a, Some(&name), args.segments))?
            )?,
            Err(e) => bail!("{name}: {e}"),
        }
    }
    Ok(out.flush()?)
}

fn vectorize_cmd(args: &VectorizeArgs) -> Result<()> {
    let classifier = args.model.load()?;
    let text = read_input(&args.file)?;
    let v = classifier.vectorize(&text, &Options::default())?;
    let terms = classifier.vectorizer().terms();
    let mut out = BufWriter::new(std::io::stdout().lock());
    writeln!(out, "term\tindex\tweight")?;
    for (i, w) in v.vector.iter() {
        writeln!(out, "{}\t{}\t{:.6}", terms[i], i, w)?;
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

fn tune_cmd(args: &TuneArgs) -> Result<()> {
    let segments = read_segments(&args.data)?;
    let report = args.report.as_deref().map(read_segments).transpose()?;
    let base = TrainConfig::default();
    let features = |words, stems, cmin, cmax| FeatureConfig {
        stop_words: true,
        words,
        stems,
        char_ngram_min: cmin,
        char_ngram_max: cmax,
    };
    let mut grid: Vec<(String, TrainConfig)> = Vec::new();
    let feature_sets = [
        ("words", features(true, false, 0, 0)),
        ("words+stems", features(true, true, 0, 0)),
        ("stems", features(false, true, 0, 0)),
        ("words+char2-4", features(true, false, 2, 4)),
        ("words+stems+char3-5", features(true, true, 3, 5)),
        ("words+char3-5", features(true, false, 3, 5)),
        ("char2-5", features(false, false, 2, 5)),
    ];
    let lr = |alpha| Algorithm::LogisticRegression {
        alpha,
        max_iterations: 200,
    };
    let algorithms = [
        ("lr a=0.03", lr(0.03)),
        ("lr a=0.1", lr(0.1)),
        ("lr a=0.3", lr(0.3)),
        ("lr a=1", lr(1.0)),
        ("nb a=0.03", Algorithm::NaiveBayes { alpha: 0.03 }),
        ("nb a=0.1", Algorithm::NaiveBayes { alpha: 0.1 }),
        ("nb a=1", Algorithm::NaiveBayes { alpha: 1.0 }),
    ];
    for (fname, f) in feature_sets {
        for (aname, a) in algorithms {
            let mut c = base;
            c.pipeline.features = f;
            c.algorithm = a;
            grid.push((format!("{fname:<20} {aname}"), c));
        }
    }
    for (name, flag) in [
        ("no teh-marbuta→ha", 0),
        ("no alef-maqsura→ya", 1),
        ("no alef unification", 2),
        ("keep diacritics", 3),
        ("keep stop words", 4),
        ("min_df 2", 5),
    ] {
        let mut c = base;
        match flag {
            0 => c.pipeline.normalizer.teh_marbuta_to_ha = false,
            1 => c.pipeline.normalizer.alef_maqsura_to_ya = false,
            2 => c.pipeline.normalizer.unify_alef = false,
            3 => c.pipeline.normalizer.strip_diacritics = false,
            4 => c.pipeline.features.stop_words = false,
            _ => c.tfidf.min_df = 2,
        }
        grid.push((format!("default, {name}"), c));
    }
    let (labels, cv) = cross_validate_file(&base, &args.data)?;
    let fitted = model::Calibration::fit(&cv, &labels);
    println!(
        "out-of-domain threshold sweep (default configuration, temperature {}):",
        fitted.temperature
    );
    println!("{:>9} {:>8} {:>8}", "threshold", "cv_acc", "cv_mF1");
    for step in 0..=18 {
        let c = model::Calibration {
            ood_threshold: step as f32 * 0.05,
            ..fitted
        };
        let m = c.score(&cv, &labels);
        println!(
            "{:>9.2} {:>8.3} {:>8.3}",
            c.ood_threshold, m.accuracy, m.macro_f1
        );
    }
    println!("chosen: {:.2}\n", fitted.ood_threshold);
    println!(
        "{:<36} {:>8} {:>8} {:>10}",
        "configuration", "cv_acc", "cv_mF1", "report_mF1"
    );
    for (name, config) in grid {
        let file = model::build(&config, &segments, "tune", b"", &|| {})?;
        let cv = &file.training.cross_validation;
        let rep = match &report {
            Some(rows) => {
                let classifier = Classifier::from_bytes(&file.to_bytes())?;
                format!("{:>10.3}", evaluate_segments(&classifier, rows)?.macro_f1)
            }
            None => String::new(),
        };
        println!("{name:<36} {:>8.3} {:>8.3} {rep}", cv.accuracy, cv.macro_f1);
    }
    Ok(())
}
