//! Training: labelled segments → fitted [`Vectorizer`] + [`LinearModel`], with linfa.
//!
//! Logistic regression is fitted through linfa's `Fit` trait on a dense design matrix
//! (training sets are small), and naive Bayes in closed form; the fitted weights are then
//! moved into a [`LinearModel`] for sparse inference. Leave-one-article-out cross-validation scores a configuration and its
//! out-of-fold scores calibrate the softmax temperature.

use std::sync::Arc;

use linfa::prelude::*;
use linfa_logistic::MultiLogisticRegression;
use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};

use super::linear::LinearModel;
use crate::embedding::WordVectors;
use crate::error::ModelError;
use crate::eval::Metrics;
use crate::text::PipelineConfig;
use crate::vectorizer::{Coverage, Embedding, TfIdfConfig, Vectorizer};

/// The learning algorithm and its hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Algorithm {
    /// linfa-logistic `MultiLogisticRegression`, l2 penalty `alpha` (on the summed loss).
    LogisticRegression { alpha: f64, max_iterations: u64 },
    /// Multinomial naive Bayes with additive smoothing `alpha` (closed form, ours).
    NaiveBayes { alpha: f64 },
}

impl Algorithm {
    pub fn name(&self) -> &'static str {
        match self {
            Algorithm::LogisticRegression { .. } => "multinomial_logistic_regression",
            Algorithm::NaiveBayes { .. } => "multinomial_naive_bayes",
        }
    }
}

/// Everything that defines a trained model besides its data.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub pipeline: PipelineConfig,
    pub tfidf: TfIdfConfig,
    pub algorithm: Algorithm,
    /// Weight of the mean word vector next to the unit-length TF-IDF part (0 = no
    /// vector features, even when vectors are given).
    pub vector_scale: f32,
    /// How many `other` examples to take from the corpus, and how.
    pub other: crate::corpus::OtherRule,
}

impl Default for TrainConfig {
    /// The configuration chosen by leave-one-article-out cross-validation: the lowest
    /// class-balanced out-of-fold log-loss of `tasnif tune`'s grid (the table is in
    /// `docs/model.md`).
    fn default() -> Self {
        Self {
            pipeline: PipelineConfig::default(),
            tfidf: TfIdfConfig::default(),
            algorithm: Algorithm::LogisticRegression {
                alpha: 0.01,
                max_iterations: 200,
            },
            vector_scale: 2.0,
            other: crate::corpus::OtherRule::default(),
        }
    }
}

/// One labelled training segment.
#[derive(Debug, Clone)]
pub struct Example {
    /// The article it comes from (the cross-validation group).
    pub doc: String,
    pub text: String,
    /// Index into the label list.
    pub label: usize,
    /// Trained on (outside its fold); when false, only scored in cross-validation — so
    /// settings that train on different data are compared on the same examples.
    pub train: bool,
    /// Training weight, as that many copies in the design matrix (scored once).
    pub weight: u32,
}

/// The vectorizer's word-vector part under `config`, if any.
pub fn embedding(config: &TrainConfig, vectors: Option<&Arc<WordVectors>>) -> Option<Embedding> {
    vectors
        .filter(|_| config.vector_scale > 0.0)
        .map(|v| Embedding {
            vectors: Arc::clone(v),
            scale: config.vector_scale,
        })
}

/// A fitted vectorizer and the model over its features.
pub type Fitted = (Vectorizer, LinearModel);

/// Fits a vectorizer and a model on `examples`.
pub fn fit(
    config: &TrainConfig,
    labels: &[String],
    examples: &[Example],
    vectors: Option<&Arc<WordVectors>>,
) -> Result<(Vectorizer, LinearModel), ModelError> {
    let examples: Vec<&Example> = examples
        .iter()
        .filter(|e| e.train)
        .flat_map(|e| std::iter::repeat_n(e, e.weight.max(1) as usize))
        .collect();
    let texts: Vec<&str> = examples.iter().map(|e| e.text.as_str()).collect();
    let vectorizer = Vectorizer::fit(config.pipeline, config.tfidf, &texts)
        .with_embedding(embedding(config, vectors))?;
    let x = vectorizer.to_dense(&vectorizer.transform_batch(&texts));
    let y: Array1<usize> = examples.iter().map(|e| e.label).collect();
    let (weights, bias) = match config.algorithm {
        Algorithm::LogisticRegression {
            alpha,
            max_iterations,
        } => fit_logistic(&x, &y, labels.len(), alpha, max_iterations)?,
        Algorithm::NaiveBayes { alpha } => fit_naive_bayes(&x, &y, labels.len(), alpha)?,
    };
    Ok((vectorizer, LinearModel::new(labels.to_vec(), weights, bias)))
}

/// Moves `model`'s bias from the label priors of its training examples toward equal
/// priors: `b_c += strength · (ln(1/K) − ln(n_c/N))` over the K labels that have examples
/// (or, with `topics_only`, over the topic labels only, `other` untouched). A logistic
/// regression's intercepts absorb the training data's label shares; this is the standard
/// correction when the shares met in use are unknown.
pub fn equalize_priors(
    model: LinearModel,
    examples: &[Example],
    topics_only: bool,
    strength: f32,
) -> LinearModel {
    let labels = model.labels().to_vec();
    let mut counts = vec![0f64; labels.len()];
    for e in examples.iter().filter(|e| e.train) {
        counts[e.label] += f64::from(e.weight.max(1));
    }
    let chosen: Vec<usize> = (0..labels.len())
        .filter(|&c| counts[c] > 0.0 && !(topics_only && labels[c] == crate::OTHER))
        .collect();
    let total: f64 = chosen.iter().map(|&c| counts[c]).sum();
    let mut bias = model.bias().to_vec();
    for &c in &chosen {
        let share = counts[c] / total;
        bias[c] += strength * ((1.0 / chosen.len() as f64).ln() - share.ln()) as f32;
    }
    LinearModel::new(labels, model.weights().to_vec(), bias)
}

/// Self-training: segments of unlabelled text that the model, fitted on the labelled
/// examples, gives a topic label with at least `min_probability` (uncalibrated) are added
/// as examples of that label — the `per_label` most confident per topic — and the model
/// is fitted again.
#[derive(Debug, Clone)]
pub struct SelfTraining {
    pub pool: Vec<String>,
    pub per_label: usize,
    pub min_probability: f32,
}

/// [`fit`], then one round of self-training on `st.pool`.
pub fn fit_self_trained(
    config: &TrainConfig,
    labels: &[String],
    examples: &[Example],
    vectors: Option<&Arc<WordVectors>>,
    st: &SelfTraining,
) -> Result<(Vectorizer, LinearModel), ModelError> {
    let (vectorizer, model) = fit(config, labels, examples, vectors)?;
    let mut picked: Vec<Vec<(f32, usize)>> = vec![Vec::new(); labels.len()];
    for (i, text) in st.pool.iter().enumerate() {
        let p = model.predict_proba(&vectorizer.transform(text).0);
        let best = argmax(&p);
        if labels[best] != crate::OTHER && p[best] >= st.min_probability {
            picked[best].push((p[best], i));
        }
    }
    let mut more: Vec<Example> = examples.to_vec();
    for (label, list) in picked.iter_mut().enumerate() {
        list.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        for &(_, i) in list.iter().take(st.per_label) {
            more.push(Example {
                doc: "self-training".into(),
                text: st.pool[i].clone(),
                label,
                train: true,
                weight: 1,
            });
        }
    }
    fit(config, labels, &more, vectors)
}

/// Score given to a label absent from the training data: never predicted.
const ABSENT_BIAS: f32 = -30.0;

fn fit_logistic(
    x: &Array2<f64>,
    y: &Array1<usize>,
    n_labels: usize,
    alpha: f64,
    max_iterations: u64,
) -> Result<(Vec<f32>, Vec<f32>), ModelError> {
    let dataset = Dataset::new(x.clone(), y.clone());
    let fitted = MultiLogisticRegression::default()
        .alpha(alpha)
        .max_iterations(max_iterations)
        .fit(&dataset)
        .map_err(|e| ModelError::Training(e.to_string()))?;
    let (params, intercept) = (fitted.params(), fitted.intercept());
    let mut weights = vec![0.0f32; x.ncols() * n_labels];
    let mut bias = vec![ABSENT_BIAS; n_labels];
    for (col, &label) in fitted.classes().iter().enumerate() {
        bias[label] = intercept[col] as f32;
        for f in 0..x.ncols() {
            weights[f * n_labels + label] = params[[f, col]] as f32;
        }
    }
    Ok((weights, bias))
}

/// Multinomial naive Bayes, in closed form. It is linear in log space:
/// score(c) = ln P(c) + Σ xᵢ ln P(i|c), with P(c) the share of the examples labelled c and
/// P(i|c) = (Nᶜᵢ + alpha) / (Σⱼ Nᶜⱼ + alpha·n), where Nᶜᵢ sums feature i over c's examples
/// (additive smoothing) — the weights are these logarithms. It is what linfa-bayes 0.8.1's
/// `MultinomialNb` computes, without its leftover `dbg!` that printed every class
/// histogram to stderr. Features must not be negative (no word vectors: they are counts).
fn fit_naive_bayes(
    x: &Array2<f64>,
    y: &Array1<usize>,
    n_labels: usize,
    alpha: f64,
) -> Result<(Vec<f32>, Vec<f32>), ModelError> {
    if !(alpha.is_finite() && alpha > 0.0) {
        return Err(ModelError::Training(format!(
            "naive Bayes smoothing alpha must be a positive number, got {alpha}"
        )));
    }
    if x.iter().any(|&v| v < 0.0) {
        return Err(ModelError::Training(
            "multinomial naive Bayes needs non-negative features: train it without word \
             vectors (vector_scale 0)"
                .into(),
        ));
    }
    let n = x.ncols();
    let mut sums = Array2::<f64>::zeros((n_labels, n));
    let mut examples = vec![0usize; n_labels];
    for (row, &label) in x.outer_iter().zip(y) {
        let mut sum = sums.row_mut(label);
        sum += &row;
        examples[label] += 1;
    }
    let mut weights = vec![0.0f32; n * n_labels];
    let mut bias = vec![ABSENT_BIAS; n_labels];
    for (label, sum) in sums.outer_iter().enumerate() {
        if examples[label] == 0 {
            continue;
        }
        bias[label] = (examples[label] as f64 / y.len() as f64).ln() as f32;
        let total = (sum.sum() + alpha * n as f64).ln();
        for (f, &count) in sum.iter().enumerate() {
            weights[f * n_labels + label] = ((count + alpha).ln() - total) as f32;
        }
    }
    Ok((weights, bias))
}

/// Out-of-fold results of leave-one-article-out cross-validation.
#[derive(Debug, Clone)]
pub struct CrossValidation {
    pub folds: usize,
    /// Raw scores of each example, predicted by the model that did not see its article.
    pub scores: Vec<Vec<f32>>,
    /// Coverage of each example under that model (tokens, and tokens it knows).
    pub coverage: Vec<Coverage>,
    pub gold: Vec<usize>,
    pub metrics: Metrics,
}

/// Leave-one-article-out: for each article, fit on the others and score its segments.
pub fn cross_validate(
    config: &TrainConfig,
    labels: &[String],
    examples: &[Example],
    vectors: Option<&Arc<WordVectors>>,
) -> Result<CrossValidation, ModelError> {
    cross_validate_with(config, labels, examples, vectors, &|| {})
}

/// [`cross_validate`], calling `on_fold` after each fold.
pub fn cross_validate_with(
    config: &TrainConfig,
    labels: &[String],
    examples: &[Example],
    vectors: Option<&Arc<WordVectors>>,
    on_fold: &dyn Fn(),
) -> Result<CrossValidation, ModelError> {
    cross_validate_by(labels, examples, on_fold, &|train| {
        fit(config, labels, train, vectors)
    })
}

/// Leave-one-article-out with any fitting procedure `fit` (given each fold's training
/// examples).
pub fn cross_validate_by(
    labels: &[String],
    examples: &[Example],
    on_fold: &dyn Fn(),
    fit: &dyn Fn(&[Example]) -> Result<Fitted, ModelError>,
) -> Result<CrossValidation, ModelError> {
    let mut docs: Vec<&str> = examples.iter().map(|e| e.doc.as_str()).collect();
    docs.sort_unstable();
    docs.dedup();
    let mut scores = vec![Vec::new(); examples.len()];
    let mut coverage = vec![Coverage::default(); examples.len()];
    for doc in &docs {
        let train: Vec<Example> = examples.iter().filter(|e| e.doc != *doc).cloned().collect();
        let (vectorizer, model) = fit(&train)?;
        for (i, e) in examples.iter().enumerate().filter(|(_, e)| e.doc == *doc) {
            let (x, cov) = vectorizer.transform(&e.text);
            scores[i] = model.scores(&x);
            coverage[i] = cov;
        }
        on_fold();
    }
    let gold: Vec<usize> = examples.iter().map(|e| e.label).collect();
    let predicted: Vec<usize> = scores.iter().map(|s| argmax(s)).collect();
    let metrics = Metrics::new(labels, &gold, &predicted);
    Ok(CrossValidation {
        folds: docs.len(),
        scores,
        coverage,
        gold,
        metrics,
    })
}

/// Index of the largest value (first on ties).
pub fn argmax(s: &[f32]) -> usize {
    s.iter()
        .enumerate()
        .fold(
            (0, f32::NEG_INFINITY),
            |b, (i, &v)| if v > b.1 { (i, v) } else { b },
        )
        .0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_priors_move_the_bias_by_the_log_share() {
        let labels: Vec<String> = ["diplomacy", "negotiations", "other"]
            .map(String::from)
            .to_vec();
        let model = LinearModel::new(labels.clone(), vec![0.0; 3], vec![0.0; 3]);
        let example = |label, weight| Example {
            doc: "d".into(),
            text: String::new(),
            label,
            train: true,
            weight,
        };
        // Shares by weight: diplomacy 1/8, negotiations 3/8, other 4/8.
        let ex = vec![example(0, 1), example(1, 3), example(2, 2), example(2, 2)];
        let all = equalize_priors(model.clone(), &ex, false, 1.0);
        let want = |share: f64, k: f64| ((1.0 / k).ln() - share.ln()) as f32;
        for (b, w) in all
            .bias()
            .iter()
            .zip([want(0.125, 3.0), want(0.375, 3.0), want(0.5, 3.0)])
        {
            assert!((b - w).abs() < 1e-6, "{:?}", all.bias());
        }
        // Topics only: shares within the topics (1/4, 3/4), `other` untouched; half strength.
        let topics = equalize_priors(model, &ex, true, 0.5);
        assert!((topics.bias()[0] - 0.5 * want(0.25, 2.0)).abs() < 1e-6);
        assert!((topics.bias()[1] - 0.5 * want(0.75, 2.0)).abs() < 1e-6);
        assert_eq!(topics.bias()[2], 0.0);
        assert_eq!(topics.weights(), &[0.0; 3]);
    }

    fn labels() -> Vec<String> {
        ["diplomacy", "military", "negotiations"]
            .map(String::from)
            .to_vec()
    }

    fn examples() -> Vec<Example> {
        let rows = [
            ("a", "استقبل الرئيس وفدا روسيا وبحث العلاقات", 0),
            ("a", "سيطر الجيش على المدينة بعد اشتباكات", 1),
            ("a", "تعقد الجولة الثامنة من المحادثات في جنيف", 2),
            ("b", "التقى وزير الخارجية السفير وبحث العلاقات", 0),
            ("b", "غارات جوية واشتباكات عنيفة مع الجيش", 1),
            ("b", "جولة جديدة من المفاوضات في أستانا", 2),
        ];
        rows.iter()
            .map(|(d, t, l)| Example {
                doc: d.to_string(),
                text: t.to_string(),
                label: *l,
                train: true,
                weight: 1,
            })
            .collect()
    }

    #[test]
    fn logistic_weights_reproduce_linfa_predictions() {
        let ex = examples();
        let texts: Vec<&str> = ex.iter().map(|e| e.text.as_str()).collect();
        let config = TrainConfig::default();
        let vectorizer = Vectorizer::fit(config.pipeline, config.tfidf, &texts);
        let x = vectorizer.to_dense(&vectorizer.transform_batch(&texts));
        let y: Array1<usize> = ex.iter().map(|e| e.label).collect();
        let Algorithm::LogisticRegression {
            alpha,
            max_iterations,
        } = config.algorithm
        else {
            panic!("the default algorithm is logistic regression");
        };
        let fitted = MultiLogisticRegression::default()
            .alpha(alpha)
            .max_iterations(max_iterations)
            .fit(&Dataset::new(x.clone(), y.clone()))
            .unwrap();
        let linfa_proba = fitted.predict_probabilities(&x);
        let linfa_labels = fitted.predict(&x);
        let (_, model) = fit(&config, &labels(), &ex, None).unwrap();
        for (r, text) in texts.iter().enumerate() {
            let p = model.predict_proba(&vectorizer.transform(text).0);
            for c in 0..3 {
                assert!((p[c] - linfa_proba[[r, c]] as f32).abs() < 1e-4);
            }
            assert_eq!(argmax(&p), linfa_labels[r]);
            // And it learned its training data.
            assert_eq!(argmax(&p), y[r]);
        }
    }

    #[test]
    fn naive_bayes_is_the_multinomial_posterior() {
        let ex = examples();
        let texts: Vec<&str> = ex.iter().map(|e| e.text.as_str()).collect();
        let alpha = 0.1;
        let config = TrainConfig {
            algorithm: Algorithm::NaiveBayes { alpha },
            ..TrainConfig::default()
        };
        let vectorizer = Vectorizer::fit(config.pipeline, config.tfidf, &texts);
        let x = vectorizer.to_dense(&vectorizer.transform_batch(&texts));
        let (_, model) = fit(&config, &labels(), &ex, None).unwrap();
        // P(c | x) ∝ P(c) Πᵢ P(i | c)^xᵢ, computed example by example.
        let n = x.ncols();
        for (r, text) in texts.iter().enumerate() {
            let log_joint: Vec<f64> = (0..3)
                .map(|c| {
                    let of_c: Vec<usize> = (0..ex.len()).filter(|&e| ex[e].label == c).collect();
                    let prior = of_c.len() as f64 / ex.len() as f64;
                    let feature = |i: usize| of_c.iter().map(|&e| x[[e, i]]).sum::<f64>();
                    let total: f64 = (0..n).map(feature).sum::<f64>() + alpha * n as f64;
                    prior.ln()
                        + (0..n)
                            .map(|i| x[[r, i]] * ((feature(i) + alpha) / total).ln())
                            .sum::<f64>()
                })
                .collect();
            let top = log_joint.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let norm: f64 = log_joint.iter().map(|l| (l - top).exp()).sum();
            let p = model.predict_proba(&vectorizer.transform(text).0);
            for (&got, &joint) in p.iter().zip(&log_joint) {
                let expected = (joint - top).exp() / norm;
                assert!((f64::from(got) - expected).abs() < 1e-4, "{p:?} {expected}");
            }
            // And it learned its training data.
            assert_eq!(argmax(&p), ex[r].label);
        }
    }

    #[test]
    fn naive_bayes_refuses_what_it_cannot_fit() {
        let x = Array2::from_shape_vec((2, 2), vec![1.0, 0.0, 0.0, -1.0]).unwrap();
        let y = Array1::from(vec![0, 1]);
        assert!(fit_naive_bayes(&x, &y, 2, 1.0).is_err());
        let x = x.mapv(f64::abs);
        assert!(fit_naive_bayes(&x, &y, 2, 0.0).is_err());
        let (weights, bias) = fit_naive_bayes(&x, &y, 3, 1.0).unwrap();
        assert_eq!(
            bias[2], ABSENT_BIAS,
            "a label with no example is never predicted"
        );
        assert!(weights.iter().all(|w| w.is_finite()));
    }

    #[test]
    fn cross_validation_holds_out_whole_articles() {
        let cv = cross_validate(&TrainConfig::default(), &labels(), &examples(), None).unwrap();
        assert_eq!(cv.folds, 2);
        assert_eq!(cv.scores.len(), 6);
        assert!(cv.scores.iter().all(|s| s.len() == 3));
    }
}
