//! Per-article latency of the in-process path (`Classifier::classify`) on the seed
//! articles, and of vectorizing one article. `cargo bench --bench classify`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tasnif::{Classifier, Options};

fn seeds() -> Vec<(String, String)> {
    let mut files: Vec<_> = std::fs::read_dir("seeds")
        .expect("run from the repository root")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            (
                p.file_stem().unwrap().to_string_lossy()[..3].to_string(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
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
