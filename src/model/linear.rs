//! The shipped classifier: a linear model over sparse TF-IDF vectors.
//!
//! Both algorithms we train (linfa-logistic's multinomial logistic regression and our
//! closed-form multinomial naive Bayes) score a label as `bias + Σ xᵢ·wᵢ` and turn the
//! scores into probabilities with a softmax; [`LinearModel`] holds exactly those numbers,
//! so inference is a sparse dot product and every score decomposes exactly into
//! per-term contributions (the explanation).

use crate::vectorizer::SparseVector;

/// Weights of a fitted linear classifier.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearModel {
    labels: Vec<String>,
    /// Feature-major: `weights[f * labels.len() + c]`.
    weights: Vec<f32>,
    bias: Vec<f32>,
}

impl LinearModel {
    /// `weights` is feature-major (one row of `labels.len()` weights per feature).
    pub fn new(labels: Vec<String>, weights: Vec<f32>, bias: Vec<f32>) -> Self {
        assert_eq!(bias.len(), labels.len());
        assert_eq!(weights.len() % labels.len().max(1), 0);
        Self {
            labels,
            weights,
            bias,
        }
    }

    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    pub fn n_features(&self) -> usize {
        self.weights.len() / self.labels.len()
    }

    pub fn weights(&self) -> &[f32] {
        &self.weights
    }

    pub fn bias(&self) -> &[f32] {
        &self.bias
    }

    /// The weights of `feature`, one per label.
    #[inline]
    pub fn row(&self, feature: usize) -> &[f32] {
        let k = self.labels.len();
        &self.weights[feature * k..(feature + 1) * k]
    }

    /// Raw scores (before calibration and softmax).
    pub fn scores(&self, x: &SparseVector) -> Vec<f32> {
        let mut s = self.bias.clone();
        for (i, v) in x.iter() {
            for (acc, w) in s.iter_mut().zip(self.row(i)) {
                *acc += v * w;
            }
        }
        s
    }

    /// Adds feature `i` with weight `v` to running scores `acc` (see
    /// [`LinearModel::finish`]): the allocation-free path for unnormalized vectors.
    #[inline]
    pub fn accumulate(&self, acc: &mut [f32], i: u32, v: f32) {
        let row = self.row(i as usize);
        // Four labels (the shipped model) unrolled into one vector operation.
        if let (Ok(acc), Ok(row)) = (
            <&mut [f32; 4]>::try_from(&mut *acc),
            <&[f32; 4]>::try_from(row),
        ) {
            for c in 0..4 {
                acc[c] += v * row[c];
            }
            return;
        }
        for (a, w) in acc.iter_mut().zip(row) {
            *a += v * w;
        }
    }

    /// Turns `acc` (from [`LinearModel::accumulate`] over a vector of l2 norm `norm`)
    /// into the scores of the normalized vector.
    pub fn finish(&self, acc: &mut [f32], norm: f32) {
        let inv = if norm > 0.0 { 1.0 / norm } else { 0.0 };
        for (a, b) in acc.iter_mut().zip(&self.bias) {
            *a = b + *a * inv;
        }
    }

    /// Uncalibrated probabilities (softmax of the scores), as linfa predicts them.
    pub fn predict_proba(&self, x: &SparseVector) -> Vec<f32> {
        let mut s = self.scores(x);
        softmax(&mut s);
        s
    }

    /// Contribution `xᵢ·wᵢ,label` of every non-zero feature of `x` to `label`'s score.
    pub fn contributions<'a>(
        &'a self,
        x: &'a SparseVector,
        label: usize,
    ) -> impl Iterator<Item = (usize, f32)> + 'a {
        x.iter().map(move |(i, v)| (i, v * self.row(i)[label]))
    }
}

/// In-place softmax, numerically stable.
pub fn softmax(s: &mut [f32]) {
    let max = s.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for v in s.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    s.iter_mut().for_each(|v| *v /= sum);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> LinearModel {
        LinearModel::new(
            vec!["a".into(), "b".into()],
            vec![1.0, -1.0, 0.0, 2.0, 0.5, 0.5],
            vec![0.1, -0.1],
        )
    }

    #[test]
    fn scores_are_bias_plus_sparse_dot() {
        let m = model();
        let x = SparseVector {
            indices: vec![0, 1],
            values: vec![0.6, 0.8],
        };
        let s = m.scores(&x);
        assert!((s[0] - (0.1 + 0.6)).abs() < 1e-6);
        assert!((s[1] - (-0.1 - 0.6 + 1.6)).abs() < 1e-6);
        // The accumulate/finish path gives the same scores from unnormalized weights.
        let mut acc = vec![0.0; 2];
        m.accumulate(&mut acc, 0, 3.0);
        m.accumulate(&mut acc, 1, 4.0);
        m.finish(&mut acc, 5.0);
        assert!((acc[0] - s[0]).abs() < 1e-6 && (acc[1] - s[1]).abs() < 1e-6);
        let total: f32 = m.contributions(&x, 1).map(|(_, c)| c).sum();
        assert!((total + m.bias()[1] - s[1]).abs() < 1e-6);
    }

    #[test]
    fn probabilities_sum_to_one() {
        let m = model();
        let x = SparseVector {
            indices: vec![1],
            values: vec![1.0],
        };
        let p = m.predict_proba(&x);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(p[1] > p[0]);
    }
}
