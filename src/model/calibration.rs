//! Calibration: raw linear scores → the probabilities the API reports.
//!
//! Two steps, both fitted on out-of-fold predictions of leave-one-article-out
//! cross-validation (articles the model did not see), never on evaluation data:
//! 1. temperature scaling of the softmax (minimizes out-of-fold log-loss);
//! 2. the out-of-domain adjustment: a segment whose vocabulary coverage ratio r is below
//!    the threshold t moves a fraction (t − r) / t of its probability mass to `other`
//!    ("never seen anything like this" is not evidence for a topic). t is the middle of
//!    the range of thresholds with the best out-of-fold macro-F1.

use serde::{Deserialize, Serialize};

use super::linear::softmax;
use super::train::{argmax, CrossValidation};
use crate::eval::Metrics;

/// Fitted calibration parameters, stored in the model file.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Softmax temperature.
    pub temperature: f32,
    /// Coverage ratio below which a segment is out of domain (0 = never).
    pub ood_threshold: f32,
}

impl Default for Calibration {
    fn default() -> Self {
        Self {
            temperature: 1.0,
            ood_threshold: 0.0,
        }
    }
}

impl Calibration {
    /// Probabilities of every label from raw `scores` and the coverage ratio of the text.
    /// `other` is the index of the `other` label, if the model has one.
    pub fn probabilities(&self, scores: &[f32], coverage: f32, other: Option<usize>) -> Vec<f32> {
        let mut p = scores.to_vec();
        self.apply(&mut p, coverage, other);
        p
    }

    /// [`Calibration::probabilities`] in place: raw scores in, probabilities out.
    pub fn apply(&self, scores: &mut [f32], coverage: f32, other: Option<usize>) {
        scores.iter_mut().for_each(|s| *s /= self.temperature);
        softmax(scores);
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

    /// Fits temperature, then the out-of-domain threshold, on out-of-fold predictions.
    /// The threshold is the middle of the range of thresholds (0–0.9, step 0.05) that
    /// reach the best out-of-fold macro-F1; 0 when no threshold beats none.
    pub fn fit(cv: &CrossValidation, labels: &[String]) -> Self {
        let temperature = fit_temperature(&cv.scores, &cv.gold);
        let candidates: Vec<(f32, f64)> = (0..=18)
            .map(|step| {
                let t = step as f32 * 0.05;
                let c = Self {
                    temperature,
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
            ood_threshold: (middle * 1000.0).round() / 1000.0,
        }
    }
}

/// The softmax temperature minimizing the log-loss of out-of-fold scores (grid search
/// over 0.05–20, log-spaced), rounded to 3 decimals so the model file does not depend on
/// the last bits of the search.
pub fn fit_temperature(scores: &[Vec<f32>], gold: &[usize]) -> f32 {
    let nll = |t: f32| -> f64 {
        scores
            .iter()
            .zip(gold)
            .map(|(s, &g)| {
                let mut p: Vec<f32> = s.iter().map(|v| v / t).collect();
                softmax(&mut p);
                -f64::from(p[g].max(1e-12)).ln()
            })
            .sum()
    };
    let grid = (0..=120).map(|i| 0.05f32 * 400f32.powf(i as f32 / 120.0));
    let best = grid.fold((1.0f32, f64::INFINITY), |best, t| {
        let l = nll(t);
        if l < best.1 {
            (t, l)
        } else {
            best
        }
    });
    (best.0 * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temperature_sharpens_underconfident_scores() {
        let scores = vec![vec![0.3, 0.0], vec![0.0, 0.3], vec![0.3, 0.0]];
        let t = fit_temperature(&scores, &[0, 1, 0]);
        assert!(t < 1.0, "{t}");
    }

    #[test]
    fn out_of_domain_moves_mass_to_other_in_proportion() {
        let c = Calibration {
            temperature: 1.0,
            ood_threshold: 0.5,
        };
        let scores = [2.0, 0.0, 0.0];
        let known = c.probabilities(&scores, 0.9, Some(2));
        let unknown = c.probabilities(&scores, 0.0, Some(2));
        let half = c.probabilities(&scores, 0.25, Some(2));
        assert!(known[0] > 0.7);
        assert!((unknown[2] - 1.0).abs() < 1e-6);
        assert!((half.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!((half[0] - known[0] * 0.5).abs() < 1e-6);
        // Without an `other` label nothing moves.
        assert_eq!(c.probabilities(&scores, 0.0, None), known);
    }

    #[test]
    fn fit_picks_a_threshold_only_when_it_helps() {
        let labels: Vec<String> = ["a", "other"].map(String::from).to_vec();
        // Both examples score "a"; the "other" one has no known words.
        let cv = CrossValidation {
            folds: 2,
            scores: vec![vec![1.0, 0.0], vec![1.0, 0.0]],
            coverage: vec![0.9, 0.0],
            gold: vec![0, 1],
            metrics: Metrics::new(&labels, &[0, 1], &[0, 0]),
        };
        let c = Calibration::fit(&cv, &labels);
        assert!(c.ood_threshold > 0.0);
        assert_eq!(c.score(&cv, &labels).accuracy, 1.0);
        // If coverage does not separate them, no threshold is chosen.
        let flat = CrossValidation {
            coverage: vec![0.9, 0.9],
            ..cv
        };
        assert_eq!(Calibration::fit(&flat, &labels).ood_threshold, 0.0);
    }
}
