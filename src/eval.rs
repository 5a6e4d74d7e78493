//! Scoring predictions against gold labels: accuracy, per-label precision / recall /
//! F1, macro-F1 and the confusion matrix.

use serde::Serialize;

/// Precision, recall and F1 of one label.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LabelMetrics {
    pub label: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Gold examples of this label.
    pub support: usize,
}

/// Classification metrics over a set of examples.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Metrics {
    pub examples: usize,
    pub accuracy: f64,
    /// Mean F1 over the labels present in the gold data.
    pub macro_f1: f64,
    /// Mean F1 over the topic labels (every label but "other") present in the gold data.
    pub macro_f1_topics: f64,
    pub per_label: Vec<LabelMetrics>,
    /// `confusion[gold][predicted]`, rows and columns in `labels` order.
    pub labels: Vec<String>,
    pub confusion: Vec<Vec<usize>>,
}

impl Metrics {
    /// `gold` and `predicted` hold indices into `labels`.
    pub fn new(labels: &[String], gold: &[usize], predicted: &[usize]) -> Self {
        let k = labels.len();
        let mut confusion = vec![vec![0usize; k]; k];
        for (&g, &p) in gold.iter().zip(predicted) {
            confusion[g][p] += 1;
        }
        let n = gold.len();
        let correct: usize = (0..k).map(|i| confusion[i][i]).sum();
        let per_label: Vec<LabelMetrics> = (0..k)
            .map(|c| {
                let tp = confusion[c][c] as f64;
                let support: usize = confusion[c].iter().sum();
                let predicted: usize = confusion.iter().map(|row| row[c]).sum();
                let precision = if predicted > 0 {
                    tp / predicted as f64
                } else {
                    0.0
                };
                let recall = if support > 0 {
                    tp / support as f64
                } else {
                    0.0
                };
                let f1 = if precision + recall > 0.0 {
                    2.0 * precision * recall / (precision + recall)
                } else {
                    0.0
                };
                LabelMetrics {
                    label: labels[c].clone(),
                    precision,
                    recall,
                    f1,
                    support,
                }
            })
            .collect();
        let mean = |keep: &dyn Fn(&LabelMetrics) -> bool| {
            let chosen: Vec<f64> = per_label
                .iter()
                .filter(|m| m.support > 0 && keep(m))
                .map(|m| m.f1)
                .collect();
            if chosen.is_empty() {
                0.0
            } else {
                chosen.iter().sum::<f64>() / chosen.len() as f64
            }
        };
        Self {
            examples: n,
            accuracy: if n > 0 {
                correct as f64 / n as f64
            } else {
                0.0
            },
            macro_f1: mean(&|_| true),
            macro_f1_topics: mean(&|m| m.label != crate::OTHER),
            per_label,
            labels: labels.to_vec(),
            confusion,
        }
    }

    /// A human-readable report.
    pub fn report(&self) -> String {
        let mut out = format!(
            "examples {}  accuracy {:.3}  macro-F1 {:.3}  macro-F1 (topics) {:.3}\n\n",
            self.examples, self.accuracy, self.macro_f1, self.macro_f1_topics
        );
        out += &format!(
            "{:<14} {:>9} {:>7} {:>7} {:>8}\n",
            "label", "precision", "recall", "F1", "support"
        );
        for m in &self.per_label {
            out += &format!(
                "{:<14} {:>9.3} {:>7.3} {:>7.3} {:>8}\n",
                m.label, m.precision, m.recall, m.f1, m.support
            );
        }
        out += "\nconfusion (rows gold, columns predicted)\n";
        out += &format!("{:<14}", "");
        for l in &self.labels {
            out += &format!(" {:>12}", l);
        }
        out += "\n";
        for (l, row) in self.labels.iter().zip(&self.confusion) {
            out += &format!("{:<14}", l);
            for v in row {
                out += &format!(" {:>12}", v);
            }
            out += "\n";
        }
        out
    }
}

/// F1 of a predicted label set against a gold set (1 when both are empty).
pub fn set_f1(gold: &[String], predicted: &[String]) -> f64 {
    if gold.is_empty() && predicted.is_empty() {
        return 1.0;
    }
    let tp = predicted.iter().filter(|p| gold.contains(p)).count() as f64;
    if tp == 0.0 {
        return 0.0;
    }
    let precision = tp / predicted.len() as f64;
    let recall = tp / gold.len() as f64;
    2.0 * precision * recall / (precision + recall)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_match_a_hand_computed_example() {
        let labels: Vec<String> = ["diplomacy", "military", "other"]
            .map(String::from)
            .to_vec();
        // gold:      d d m m o
        // predicted: d m m m d
        let m = Metrics::new(&labels, &[0, 0, 1, 1, 2], &[0, 1, 1, 1, 0]);
        assert!((m.accuracy - 0.6).abs() < 1e-12);
        assert_eq!(
            m.confusion,
            vec![vec![1, 1, 0], vec![0, 2, 0], vec![1, 0, 0]]
        );
        // diplomacy P=1/2 R=1/2 F1=.5; military P=2/3 R=1 F1=.8; other F1=0.
        assert!((m.per_label[0].f1 - 0.5).abs() < 1e-12);
        assert!((m.per_label[1].f1 - 0.8).abs() < 1e-12);
        assert!((m.macro_f1 - 1.3 / 3.0).abs() < 1e-12);
        assert!((m.macro_f1_topics - 0.65).abs() < 1e-12);
    }

    #[test]
    fn labels_absent_from_gold_do_not_count_in_macro_f1() {
        let labels: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let m = Metrics::new(&labels, &[0, 1], &[0, 1]);
        assert_eq!(m.macro_f1, 1.0);
    }

    #[test]
    fn set_f1_of_topic_sets() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(set_f1(&s(&["military"]), &s(&["military"])), 1.0);
        assert!(
            (set_f1(&s(&["military", "diplomacy"]), &s(&["military"])) - 2.0 / 3.0).abs() < 1e-12
        );
        assert_eq!(set_f1(&s(&[]), &s(&[])), 1.0);
        assert_eq!(set_f1(&s(&["a"]), &s(&[])), 0.0);
    }
}
