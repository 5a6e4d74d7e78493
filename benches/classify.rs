//! Per-article latency of the in-process path (`Classifier::classify`) on the seed
//! articles, and of vectorizing one article. `cargo bench --bench classify`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tasnif::{Classifier, Options};

#[path = "../tests/common/mod.rs"]
mod common;

/// The seed articles, named by their number (`000` …).
fn seeds() -> Vec<(String, String)> {
    common::seed_articles()
        .into_iter()
        .map(|(file, text)| (file[..3].to_string(), text))
        .collect()
}

fn bench(c: &mut Criterion) {
    let classifier = Classifier::embedded().unwrap();
    let options = Options::default();
    let mut group = c.benchmark_group("classify_article");
    for (name, text) in seeds() {
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(&name), &text, |b, t| {
            b.iter(|| classifier.classify(t, &options).unwrap())
        });
    }
    group.finish();
    let all: String = seeds()
        .into_iter()
        .map(|(_, t)| t)
        .collect::<Vec<_>>()
        .join("\n");
    let mut group = c.benchmark_group("explain");
    group.throughput(Throughput::Bytes(all.len() as u64));
    let explain = Options {
        explain_top_n: 5,
        ..Options::default()
    };
    group.bench_function("all_seeds_top5", |b| {
        b.iter(|| classifier.classify(&all, &explain).unwrap())
    });
    group.finish();
    c.bench_function("vectorize_article", |b| {
        b.iter(|| classifier.vectorize(&all, &options).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
