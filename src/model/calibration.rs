//! Calibration: raw linear scores → the probabilities the API reports.
//!
//! Two steps, both fitted on out-of-fold predictions of leave-one-article-out
//! cross-validation (articles the model did not see), never on evaluation data:
//! 1. temperature scaling of the softmax, softer for texts with few known words:
//!    `T · (1 + s / n)` for a text of n known words (T and s minimize out-of-fold
//!    log-loss together; s = 0 is plain temperature scaling);
//! 2. the out-of-domain adjustment: a segment whose vocabulary coverage ratio r is below
//!    the threshold t moves a fraction (t − r) / t of its probability mass to `other`
//!    ("never seen anything like this" is not evidence for a topic). t is the middle of
//!    the range of thresholds with the best out-of-fold macro-F1.

use serde::{Deserialize, Serialize};

use super::linear::softmax;
use super::train::{argmax, CrossValidation};
use crate::eval::Metrics;
use crate::vectorizer::Coverage;

/// Fitted calibration parameters, stored in the model file.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Softmax temperature.
    pub temperature: f32,
    /// Softening for short texts: the temperature of a text of n known words is
    /// `temperature · (1 + short_text_softening / n)`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub short_text_softening: f32,
    /// Coverage ratio below which a segment is out of domain (0 = never).
    pub ood_threshold: f32,
}

fn is_zero(x: &f32) -> bool {
    *x == 0.0
}

impl Default for Calibration {
    fn default() -> Self {
        Self {
            temperature: 1.0,
            short_text_softening: 0.0,
            ood_threshold: 0.0,
        }
    }
}

impl Calibration {
    /// Probabilities of every label from raw `scores` and the coverage of the text.
    /// `other` is the index of the `other` label, if the model has one.
    pub fn probabilities(
        &self,
        scores: &[f32],
        coverage: Coverage,
        other: Option<usize>,
    ) -> Vec<f32> {
        let mut p = scores.to_vec();
        self.apply(&mut p, coverage, other);
        p
    }

    /// The temperature of a text of `known` known words.
    pub fn temperature_for(&self, known: u32) -> f32 {
        self.temperature * (1.0 + self.short_text_softening / known.max(1) as f32)
    }

    /// [`Calibration::probabilities`] in place: raw scores in, probabilities out.
    pub fn apply(&self, scores: &mut [f32], coverage: Coverage, other: Option<usize>) {
        let temperature = self.temperature_for(coverage.known);
        scores.iter_mut().for_each(|s| *s /= temperature);
        softmax(scores);
        let coverage = coverage.ratio();
        let t = self.ood_threshold;
        if let Some(other) = other {
            if t > 0.0 && coverage < t {
                let lambda = (t - coverage) / t;
                scores.iter_mut().for_each(|v| *v *= 1.0 - lambda);
                scores[other] += lambda;
            }
        }
    }

    /// Metrics of out-of-fold predictions under this calibration.
    pub fn score(&self, cv: &CrossValidation, labels: &[String]) -> Metrics {
        let other = labels.iter().position(|l| l == crate::OTHER);
        let predicted: Vec<usize> = cv
            .scores
            .iter()
            .zip(&cv.coverage)
            .map(|(s, &c)| argmax(&self.probabilities(s, c, other)))
            .collect();
        Metrics::new(labels, &cv.gold, &predicted)
    }

    /// Class-balanced log-loss of out-of-fold predictions under this calibration: the
    /// mean over labels of the mean negative log-probability given to each example of
    /// that label (weighted like macro-F1, but continuous: it moves with every example's
    /// probability, not only when an argmax flips).
    pub fn macro_log_loss(&self, cv: &CrossValidation, labels: &[String]) -> f64 {
        balanced_mean(&self.log_losses(cv, labels), &cv.gold, labels.len()).0
    }

    /// Each out-of-fold example's negative log-probability of its gold label.
    pub fn log_losses(&self, cv: &CrossValidation, labels: &[String]) -> Vec<f64> {
        let other = labels.iter().position(|l| l == crate::OTHER);
        cv.scores
            .iter()
            .zip(&cv.coverage)
            .zip(&cv.gold)
            .map(|((s, &c), &g)| -f64::from(self.probabilities(s, c, other)[g].max(1e-12)).ln())
            .collect()
    }

    /// Fits temperature and short-text softening, then the out-of-domain threshold, on
    /// out-of-fold predictions.
    /// The threshold is the middle of the range of thresholds (0–0.9, step 0.05) that
    /// reach the best out-of-fold macro-F1; 0 when no threshold beats none.
    pub fn fit(cv: &CrossValidation, labels: &[String]) -> Self {
        let known: Vec<u32> = cv.coverage.iter().map(|c| c.known).collect();
        let (temperature, short_text_softening) = fit_temperature(&cv.scores, &known, &cv.gold);
        let candidates: Vec<(f32, f64)> = (0..=18)
            .map(|step| {
                let t = step as f32 * 0.05;
                let c = Self {
                    temperature,
                    short_text_softening,
                    ood_threshold: t,
                };
                (t, c.score(cv, labels).macro_f1)
            })
            .collect();
        // Out-of-fold scores are flat over a range of thresholds (few `other` examples
        // decide them): take the middle of the best plateau, the choice least tied to
        // any single example.
        let best = candidates
            .iter()
            .map(|c| c.1)
            .fold(f64::NEG_INFINITY, f64::max);
        if candidates[0].1 >= best - 1e-9 {
            // No threshold beats none.
            return Self {
                temperature,
                short_text_softening,
                ood_threshold: 0.0,
            };
        }
        let plateau: Vec<f32> = candidates
            .iter()
            .filter(|c| c.1 >= best - 1e-9)
            .map(|c| c.0)
            .collect();
        let middle = (plateau[0] + plateau[plateau.len() - 1]) / 2.0;
        Self {
            temperature,
            short_text_softening,
            ood_threshold: (middle * 1000.0).round() / 1000.0,
        }
    }
}

/// The class-balanced mean of `a[i] − b[i]` and its standard error ([`balanced_mean`] of
/// the differences): how far two configurations scored on the same examples are apart,
/// and whether that is more than noise.
pub fn balanced_mean_difference(a: &[f64], b: &[f64], gold: &[usize], labels: usize) -> (f64, f64) {
    let differences: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    balanced_mean(&differences, gold, labels)
}

/// The class-balanced mean of `values` (the mean over labels present in `gold` of each
/// label's mean) and its standard error, from the per-label sample variances.
pub fn balanced_mean(values: &[f64], gold: &[usize], labels: usize) -> (f64, f64) {
    let mut groups = vec![Vec::new(); labels];
    for (&v, &g) in values.iter().zip(gold) {
        groups[g].push(v);
    }
    let present: Vec<&Vec<f64>> = groups.iter().filter(|g| !g.is_empty()).collect();
    let l = present.len().max(1) as f64;
    let (mut mean, mut var) = (0.0, 0.0);
    for g in &present {
        let n = g.len() as f64;
        let m = g.iter().sum::<f64>() / n;
        mean += m / l;
        if g.len() > 1 {
            let v = g.iter().map(|d| (d - m).powi(2)).sum::<f64>() / (n - 1.0);
            var += v / n / (l * l);
        }
    }
    (mean, var.sqrt())
}

/// Softening values tried for short texts (0 = plain temperature scaling).
const SOFTENING_GRID: [f32; 9] = [0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0];

/// The softmax temperature T and short-text softening s minimizing the log-loss of
/// out-of-fold scores, each example at temperature `T · (1 + s / known words)` (grid
/// search: T over 0.05–20, log-spaced; s over [`SOFTENING_GRID`]), rounded to 3 decimals
/// so the model file does not depend on the last bits of the search.
pub fn fit_temperature(scores: &[Vec<f32>], known: &[u32], gold: &[usize]) -> (f32, f32) {
    let nll = |t: f32, soft: f32| -> f64 {
        scores
            .iter()
            .zip(known)
            .zip(gold)
            .map(|((s, &n), &g)| {
                let t = t * (1.0 + soft / n.max(1) as f32);
                let mut p: Vec<f32> = s.iter().map(|v| v / t).collect();
                softmax(&mut p);
                -f64::from(p[g].max(1e-12)).ln()
            })
            .sum()
    };
    let mut best = (1.0f32, 0.0f32, f64::INFINITY);
    for soft in SOFTENING_GRID {
        for i in 0..=120 {
            let t = 0.05f32 * 400f32.powf(i as f32 / 120.0);
            let l = nll(t, soft);
            if l < best.2 {
                best = (t, soft, l);
            }
        }
    }
    ((best.0 * 1000.0).round() / 1000.0, best.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Coverage of a hundred tokens with the given share known.
    fn cov(ratio: f32) -> Coverage {
        Coverage {
            tokens: 100,
            known: (ratio * 100.0).round() as u32,
        }
    }

    #[test]
    fn temperature_sharpens_underconfident_scores() {
        let scores = vec![vec![0.3, 0.0], vec![0.0, 0.3], vec![0.3, 0.0]];
        let (t, soft) = fit_temperature(&scores, &[10, 10, 10], &[0, 1, 0]);
        assert!(t < 1.0, "{t}");
        assert_eq!(soft, 0.0);
    }

    #[test]
    fn short_texts_are_softened_when_they_are_wrong_more_often() {
        // Long texts: confident and right. Short texts (one known word): as confident,
        // right only half the time.
        let mut scores = Vec::new();
        let mut known = Vec::new();
        let mut gold = Vec::new();
        for i in 0..20 {
            scores.push(vec![4.0, 0.0]);
            known.push(20);
            gold.push(0);
            scores.push(vec![4.0, 0.0]);
            known.push(1);
            gold.push(i % 2);
        }
        let (t, soft) = fit_temperature(&scores, &known, &gold);
        assert!(soft > 0.0, "{t} {soft}");
        let c = Calibration {
            temperature: t,
            short_text_softening: soft,
            ood_threshold: 0.0,
        };
        let short = c.probabilities(
            &[4.0, 0.0],
            Coverage {
                tokens: 1,
                known: 1,
            },
            None,
        );
        let long = c.probabilities(
            &[4.0, 0.0],
            Coverage {
                tokens: 20,
                known: 20,
            },
            None,
        );
        assert!(short[0] < long[0] && short[0] < 0.9, "{short:?} {long:?}");
    }

    #[test]
    fn macro_log_loss_weights_labels_equally() {
        let labels: Vec<String> = ["a", "b"].iter().map(|s| s.to_string()).collect();
        // Three confident right answers for `a`, one uniform answer for `b`.
        let cv = CrossValidation {
            folds: 1,
            scores: vec![
                vec![50.0, 0.0],
                vec![50.0, 0.0],
                vec![50.0, 0.0],
                vec![0.0, 0.0],
            ],
            coverage: vec![cov(1.0); 4],
            gold: vec![0, 0, 0, 1],
            metrics: Metrics::new(&labels, &[0, 0, 0, 1], &[0, 0, 0, 0]),
        };
        let loss = Calibration::default().macro_log_loss(&cv, &labels);
        // Label a: ~0; label b: ln 2. Their mean, not the example mean (ln 2 / 4).
        assert!((loss - std::f64::consts::LN_2 / 2.0).abs() < 1e-6, "{loss}");
    }

    #[test]
    fn balanced_difference_has_the_paired_standard_error() {
        // Label 0: differences 1 and 3 (mean 2, variance 2); label 1: 0 and 0.
        let (mean, se) = balanced_mean_difference(
            &[1.0, 3.0, 5.0, 5.0],
            &[0.0, 0.0, 5.0, 5.0],
            &[0, 0, 1, 1],
            2,
        );
        assert!((mean - 1.0).abs() < 1e-12, "{mean}");
        // sqrt((2 / 2) / 2²) = 0.5
        assert!((se - 0.5).abs() < 1e-12, "{se}");
    }

    #[test]
    fn out_of_domain_moves_mass_to_other_in_proportion() {
        let c = Calibration {
            temperature: 1.0,
            short_text_softening: 0.0,
            ood_threshold: 0.5,
        };
        let scores = [2.0, 0.0, 0.0];
        let known = c.probabilities(&scores, cov(0.9), Some(2));
        let unknown = c.probabilities(&scores, cov(0.0), Some(2));
        let half = c.probabilities(&scores, cov(0.25), Some(2));
        assert!(known[0] > 0.7);
        assert!((unknown[2] - 1.0).abs() < 1e-6);
        assert!((half.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!((half[0] - known[0] * 0.5).abs() < 1e-6);
        // Without an `other` label nothing moves.
        assert_eq!(c.probabilities(&scores, cov(0.0), None), known);
    }

    #[test]
    fn fit_picks_a_threshold_only_when_it_helps() {
        let labels: Vec<String> = ["a", "other"].map(String::from).to_vec();
        // Both examples score "a"; the "other" one has no known words.
        let cv = CrossValidation {
            folds: 2,
            scores: vec![vec![1.0, 0.0], vec![1.0, 0.0]],
            coverage: vec![cov(0.9), cov(0.0)],
            gold: vec![0, 1],
            metrics: Metrics::new(&labels, &[0, 1], &[0, 0]),
        };
        let c = Calibration::fit(&cv, &labels);
        assert!(c.ood_threshold > 0.0);
        assert_eq!(c.score(&cv, &labels).accuracy, 1.0);
        // If coverage does not separate them, no threshold is chosen.
        let flat = CrossValidation {
            coverage: vec![cov(0.9), cov(0.9)],
            ..cv
        };
        assert_eq!(Calibration::fit(&flat, &labels).ood_threshold, 0.0);
    }
}
