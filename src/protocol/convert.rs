//! Library results → protocol messages.

use crate::classifier::{Article, Classifier, Vectorized};
use crate::protocol as proto;
use crate::vectorizer::Coverage;

fn coverage(c: Coverage, threshold: f32) -> proto::Coverage {
    proto::Coverage {
        tokens: c.tokens,
        known_tokens: c.known,
        ratio: c.ratio(),
        out_of_domain: c.ratio() < threshold,
    }
}

fn scores(labels: &[String], p: &[f32], sort: bool) -> Vec<proto::LabelScore> {
    let mut v: Vec<proto::LabelScore> = labels
        .iter()
        .zip(p)
        .map(|(label, &probability)| proto::LabelScore {
            label: label.clone(),
            probability,
        })
        .collect();
    if sort {
        v.sort_by(|a, b| b.probability.total_cmp(&a.probability));
    }
    v
}

/// A classified article as a `ClassifyResponse`.
pub fn article(
    c: &Classifier,
    a: &Article,
    id: String,
    include_segments: bool,
) -> proto::ClassifyResponse {
    let labels = c.labels();
    let ood = c.ood_threshold();
    proto::ClassifyResponse {
        primary: labels[a.primary].clone(),
        scores: scores(labels, &a.shares, true),
        topics: a.topics.iter().map(|&t| labels[t].clone()).collect(),
        id,
        coverage: Some(coverage(a.coverage, ood)),
        model_version: c.version().to_string(),
        segments: if include_segments {
            a.segments
                .iter()
                .enumerate()
                .map(|(i, s)| proto::Segment {
                    index: i as u32,
                    start: s.span.start as u32,
                    end: s.span.end as u32,
                    label: labels[s.label].clone(),
                    probabilities: scores(labels, &s.probabilities, false),
                    coverage: Some(coverage(s.coverage, ood)),
                })
                .collect()
        } else {
            Vec::new()
        },
        explanations: a
            .explanations
            .iter()
            .enumerate()
            .map(|(i, terms)| proto::Explanation {
                label: labels[i].clone(),
                terms: terms
                    .iter()
                    .map(|t| proto::TermContribution {
                        term: t.term.clone(),
                        contribution: t.contribution,
                    })
                    .collect(),
            })
            .collect(),
        truncated: a.truncated,
        characters: a.characters as u32,
        segment_count: a.segments.len() as u32,
    }
}

/// A vectorized text as a `VectorizeResponse`.
pub fn vectorized(c: &Classifier, v: &Vectorized, include_terms: bool) -> proto::VectorizeResponse {
    proto::VectorizeResponse {
        dimension: c.vectorizer().dimension() as u32,
        indices: v.vector.indices.clone(),
        weights: v.vector.values.clone(),
        terms: if include_terms {
            v.vector
                .indices
                .iter()
                .map(|&i| c.vectorizer().feature_name(i as usize))
                .collect()
        } else {
            Vec::new()
        },
        coverage: Some(coverage(v.coverage, c.ood_threshold())),
        truncated: v.truncated,
    }
}

/// Model metadata and the server's limits as `ModelInfo`.
pub fn model_info(c: &Classifier, limits: proto::Limits) -> proto::ModelInfo {
    let m = c.metadata();
    let p = &m.pipeline;
    let cv = &m.training.cross_validation;
    proto::ModelInfo {
        labels: c.labels().to_vec(),
        version: c.version().to_string(),
        sha256: c.sha256().to_string(),
        algorithm: m.algorithm.name().to_string(),
        training: Some(proto::TrainingSummary {
            documents: m.training.documents,
            segments: m.training.segments,
            segments_per_label: m
                .training
                .segments_per_label
                .iter()
                .map(|l| proto::LabelCount {
                    label: l.label.clone(),
                    count: l.count,
                })
                .collect(),
            data_sha256: m.training.data_sha256.clone(),
        }),
        vectorizer: Some(proto::VectorizerConfig {
            strip_diacritics: p.normalizer.strip_diacritics,
            unify_alef: p.normalizer.unify_alef,
            alef_maqsura_to_ya: p.normalizer.alef_maqsura_to_ya,
            teh_marbuta_to_ha: p.normalizer.teh_marbuta_to_ha,
            stop_words: p.features.stop_words,
            word_features: p.features.words,
            stem_features: p.features.stems,
            char_ngram_min: p.features.char_ngram_min as u32,
            char_ngram_max: p.features.char_ngram_max as u32,
            sublinear_tf: m.tfidf.sublinear_tf,
            min_df: m.tfidf.min_df as u32,
        }),
        vocabulary_size: c.vectorizer().dimension() as u32,
        cross_validation: Some(proto::CrossValidation {
            scheme: cv.scheme.clone(),
            folds: cv.folds,
            accuracy: cv.accuracy as f32,
            macro_f1: cv.macro_f1 as f32,
        }),
        limits: Some(limits),
        ood_threshold: c.ood_threshold(),
        default_topic_threshold: crate::classifier::DEFAULT_TOPIC_THRESHOLD,
        format_version: m.format_version,
    }
}
