//! `tasnif vectors`: learning word vectors from an unlabelled corpus.
//!
//! The corpus is read with tasnif's own pipeline ([`crate::text::Analyzer::word_key`]:
//! normalized, proclitics stripped, stop words dropped). Two trainers, compared in
//! `docs/model.md`:
//! * [`Trainer::PpmiSvd`] (default): counts of word pairs within a window (weighted
//!   `(window − d + 1) / window` by distance d), positive pointwise mutual information
//!   with context-distribution smoothing (α = 0.75), then a truncated SVD by randomized
//!   range finding with power iterations (Halko, Martinsson & Tropp 2011) on ndarray, with
//!   linfa-linalg's QR and symmetric eigendecomposition. Word vectors are `U·Σ^p`
//!   (Levy, Goldberg & Dagan 2015's eigenvalue weighting). Deterministic: a fixed seed,
//!   a fixed order of every sum — the same corpus and settings give the same file.
//! * [`Trainer::FastText`]: the fastText CLI's skipgram (`-thread 1`, fixed seed) on the
//!   same tokens, for comparison.

use std::path::{Path, PathBuf};

use linfa_linalg::eigh::Eigh;
use linfa_linalg::qr::QR;
use ndarray::Array2;
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use super::{Provenance, WordVectors};
use crate::error::ModelError;
use crate::text::{Analyzer, PipelineConfig};

/// Which trainer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Trainer {
    #[default]
    PpmiSvd,
    FastText,
}

/// Every setting of `tasnif vectors`; recorded in the vectors file.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrainerConfig {
    pub trainer: Trainer,
    /// Vector dimensions.
    pub dims: usize,
    /// Keep this many most frequent words.
    pub vocabulary: usize,
    /// Words seen fewer times are dropped.
    pub min_count: u64,
    /// Context window (words each side).
    pub window: usize,
    /// PPMI-SVD: context-distribution smoothing exponent.
    pub cds_alpha: f64,
    /// PPMI-SVD: singular-value weighting exponent p in U·Σ^p.
    pub eig_power: f64,
    /// PPMI-SVD: power iterations of the range finder.
    pub power_iterations: usize,
    /// fastText: epochs.
    pub epochs: usize,
    pub seed: u64,
}

impl Default for TrainerConfig {
    fn default() -> Self {
        Self {
            trainer: Trainer::PpmiSvd,
            dims: 100,
            vocabulary: 30_000,
            min_count: 3,
            window: 5,
            cds_alpha: 0.75,
            eig_power: 0.5,
            power_iterations: 3,
            epochs: 5,
            seed: 1,
        }
    }
}

/// The corpus as word ids: one sequence per article, and what each id is.
struct Tokens {
    /// Distinct words, by first appearance.
    words: Vec<String>,
    counts: Vec<u64>,
    /// Number of articles each word occurs in.
    df: Vec<u64>,
    articles: Vec<Vec<u32>>,
    corpus_sha256: String,
}

fn read_tokens(corpus: &Path, analyzer: &Analyzer) -> Result<Tokens, ModelError> {
    let mut ids: FxHashMap<String, u32> = FxHashMap::default();
    let mut words: Vec<String> = Vec::new();
    let mut counts: Vec<u64> = Vec::new();
    let mut df: Vec<u64> = Vec::new();
    let mut last_seen: Vec<u32> = Vec::new();
    let mut articles = Vec::new();
    let mut buf = String::new();
    let sha = crate::corpus::for_each_article(corpus, |a| {
        let n = articles.len() as u32 + 1;
        let mut seq = Vec::new();
        analyzer.for_each_word(&a.text, &mut buf, |w| {
            let Some(key) = analyzer.word_key(w) else {
                return;
            };
            let id = match ids.get(key) {
                Some(&id) => id,
                None => {
                    let id = words.len() as u32;
                    ids.insert(key.to_string(), id);
                    words.push(key.to_string());
                    counts.push(0);
                    df.push(0);
                    last_seen.push(0);
                    id
                }
            };
            counts[id as usize] += 1;
            if last_seen[id as usize] != n {
                last_seen[id as usize] = n;
                df[id as usize] += 1;
            }
            seq.push(id);
        });
        articles.push(seq);
    })
    .map_err(|e| ModelError::Training(e.to_string()))?;
    Ok(Tokens {
        words,
        counts,
        df,
        articles,
        corpus_sha256: sha,
    })
}

/// Learns word vectors from `corpus` (see the module documentation).
pub fn train(
    corpus: &Path,
    pipeline: PipelineConfig,
    config: &TrainerConfig,
    fasttext: &Path,
) -> Result<WordVectors, ModelError> {
    if config.dims == 0 || config.vocabulary < config.dims || config.window == 0 {
        return Err(ModelError::Training(format!(
            "need dims ≥ 1, vocabulary ≥ dims and window ≥ 1 (got {} dims, {} words, window {})",
            config.dims, config.vocabulary, config.window
        )));
    }
    let analyzer = Analyzer::new(pipeline);
    let tokens = read_tokens(corpus, &analyzer)?;
    // The vocabulary: most frequent first, ties by the word itself.
    let mut order: Vec<u32> = (0..tokens.words.len() as u32)
        .filter(|&i| tokens.counts[i as usize] >= config.min_count)
        .collect();
    order.sort_by(|&a, &b| {
        tokens.counts[b as usize]
            .cmp(&tokens.counts[a as usize])
            .then_with(|| tokens.words[a as usize].cmp(&tokens.words[b as usize]))
    });
    let n_articles = tokens.articles.len() as u64;
    let idf_of =
        |i: u32| (((1 + n_articles) as f64 / (1 + tokens.df[i as usize]) as f64).ln() + 1.0) as f32;
    let total_tokens: u64 = tokens.counts.iter().sum();
    let provenance = Provenance {
        corpus: corpus.to_string_lossy().replace('\\', "/"),
        corpus_sha256: tokens.corpus_sha256.clone(),
        articles: n_articles,
        tokens: total_tokens,
        trainer: *config,
    };
    let (words, matrix) = match config.trainer {
        Trainer::PpmiSvd => {
            order.truncate(config.vocabulary);
            let matrix = ppmi_svd(&tokens, &order, config)?;
            let words = order
                .iter()
                .map(|&i| tokens.words[i as usize].clone())
                .collect();
            (words, matrix)
        }
        Trainer::FastText => {
            let (words, matrix) = fasttext_skipgram(&tokens, config, fasttext)?;
            (words, matrix)
        }
    };
    let index: FxHashMap<&str, u32> = tokens
        .words
        .iter()
        .enumerate()
        .map(|(i, w)| (w.as_str(), i as u32))
        .collect();
    let idf = words
        .iter()
        .map(|w: &String| idf_of(index[w.as_str()]))
        .collect();
    WordVectors::from_float(pipeline, provenance, words, idf, &matrix)
}

/// PPMI of windowed co-occurrences, then a randomized truncated SVD.
fn ppmi_svd(
    tokens: &Tokens,
    vocab: &[u32],
    config: &TrainerConfig,
) -> Result<Vec<Vec<f32>>, ModelError> {
    let n = vocab.len();
    let mut row_of = vec![u32::MAX; tokens.words.len()];
    for (r, &i) in vocab.iter().enumerate() {
        row_of[i as usize] = r as u32;
    }
    // Co-occurrence counts, both directions, as sorted (row, col) keys.
    let w = config.window;
    let mut pairs: FxHashMap<u64, f32> = FxHashMap::default();
    let mut seq: Vec<u32> = Vec::new();
    for article in &tokens.articles {
        // Rare words are removed before windowing (as word2vec does).
        seq.clear();
        seq.extend(
            article
                .iter()
                .map(|&i| row_of[i as usize])
                .filter(|&r| r != u32::MAX),
        );
        for (p, &a) in seq.iter().enumerate() {
            for (d, &b) in seq[p + 1..].iter().take(w).enumerate() {
                let weight = (w - d) as f32 / w as f32;
                *pairs.entry(u64::from(a) << 32 | u64::from(b)).or_default() += weight;
                *pairs.entry(u64::from(b) << 32 | u64::from(a)).or_default() += weight;
            }
        }
    }
    let mut entries: Vec<(u64, f32)> = pairs.into_iter().collect();
    entries.sort_unstable_by_key(|e| e.0);
    let mut row_sum = vec![0.0f64; n];
    for &(key, c) in &entries {
        row_sum[(key >> 32) as usize] += f64::from(c);
    }
    let alpha = config.cds_alpha;
    let smoothed_total: f64 = row_sum.iter().map(|r| r.powf(alpha)).sum();
    // CSR of PPMI.
    let mut indptr = vec![0usize; n + 1];
    let mut indices = Vec::new();
    let mut values = Vec::new();
    for &(key, c) in &entries {
        let (i, j) = ((key >> 32) as usize, (key & 0xFFFF_FFFF) as usize);
        let pmi = (f64::from(c) * smoothed_total / (row_sum[i] * row_sum[j].powf(alpha))).ln();
        if pmi > 0.0 {
            indices.push(j as u32);
            values.push(pmi as f32);
            indptr[i + 1] += 1;
        }
    }
    for i in 0..n {
        indptr[i + 1] += indptr[i];
    }
    drop(entries);
    let a = Csr {
        n,
        indptr,
        indices,
        values,
    };
    let at = a.transpose();
    let k = config.dims;
    let l = (k + 10).min(n);
    let mut rng = SplitMix64(config.seed);
    let omega = Array2::from_shape_fn((n, l), |_| rng.next_f64() * 2.0 - 1.0);
    let mut q = orthonormal(a.mul(&omega))?;
    for _ in 0..config.power_iterations {
        let z = orthonormal(at.mul(&q))?;
        q = orthonormal(a.mul(&z))?;
    }
    // B = Qᵀ A (l × n); B Bᵀ = (Aᵀ Q)ᵀ (Aᵀ Q) is small and symmetric.
    let atq = at.mul(&q);
    let bbt = atq.t().dot(&atq);
    let (eigenvalues, eigenvectors) = bbt
        .eigh()
        .map_err(|e| ModelError::Training(format!("eigendecomposition failed: {e}")))?;
    let mut order: Vec<usize> = (0..l).collect();
    order.sort_by(|&x, &y| eigenvalues[y].total_cmp(&eigenvalues[x]).then(x.cmp(&y)));
    let u = q.dot(&eigenvectors);
    let mut out = vec![vec![0.0f32; k]; n];
    for (c, &e) in order.iter().take(k).enumerate() {
        let sigma = eigenvalues[e].max(0.0).sqrt();
        let weight = sigma.powf(config.eig_power);
        // A fixed sign per component: its largest entry positive.
        let column = u.column(e);
        let sign = if column
            .iter()
            .fold(0.0f64, |m, &x| if x.abs() > m.abs() { x } else { m })
            < 0.0
        {
            -1.0
        } else {
            1.0
        };
        for (r, &x) in column.iter().enumerate() {
            out[r][c] = (sign * x * weight) as f32;
        }
    }
    Ok(out)
}

/// Orthonormal basis of the columns of `y` (QR's Q).
fn orthonormal(y: Array2<f64>) -> Result<Array2<f64>, ModelError> {
    y.qr()
        .map(|d| d.generate_q())
        .map_err(|e| ModelError::Training(format!("QR failed: {e}")))
}

/// A square sparse matrix in compressed rows.
struct Csr {
    n: usize,
    indptr: Vec<usize>,
    indices: Vec<u32>,
    values: Vec<f32>,
}

impl Csr {
    fn transpose(&self) -> Csr {
        let mut counts = vec![0usize; self.n + 1];
        for &j in &self.indices {
            counts[j as usize + 1] += 1;
        }
        for i in 0..self.n {
            counts[i + 1] += counts[i];
        }
        let mut next = counts.clone();
        let mut indices = vec![0u32; self.indices.len()];
        let mut values = vec![0.0f32; self.values.len()];
        for i in 0..self.n {
            for p in self.indptr[i]..self.indptr[i + 1] {
                let j = self.indices[p] as usize;
                indices[next[j]] = i as u32;
                values[next[j]] = self.values[p];
                next[j] += 1;
            }
        }
        Csr {
            n: self.n,
            indptr: counts,
            indices,
            values,
        }
    }

    /// `self · x` (rows in parallel; each row's sum in a fixed order).
    fn mul(&self, x: &Array2<f64>) -> Array2<f64> {
        let cols = x.ncols();
        let x = x.as_standard_layout();
        let x = x.as_slice().expect("standard layout");
        let mut out = vec![0.0f64; self.n * cols];
        out.par_chunks_mut(cols.max(1))
            .enumerate()
            .for_each(|(i, row)| {
                for p in self.indptr[i]..self.indptr[i + 1] {
                    let v = f64::from(self.values[p]);
                    let j = self.indices[p] as usize;
                    for (o, &xv) in row.iter_mut().zip(&x[j * cols..(j + 1) * cols]) {
                        *o += v * xv;
                    }
                }
            });
        Array2::from_shape_vec((self.n, cols), out).expect("n × cols values")
    }
}

/// SplitMix64: a tiny, fixed pseudo-random sequence (the range finder's test matrix).
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// fastText skipgram on the same tokens; words in fastText's order (most frequent first).
fn fasttext_skipgram(
    tokens: &Tokens,
    config: &TrainerConfig,
    binary: &Path,
) -> Result<(Vec<String>, Vec<Vec<f32>>), ModelError> {
    let io = |e: std::io::Error| ModelError::Training(format!("fastText: {e}"));
    let dir = tempfile_dir().map_err(io)?;
    let input = dir.join("tokens.txt");
    {
        use std::io::Write;
        let mut f = std::io::BufWriter::new(std::fs::File::create(&input).map_err(io)?);
        for article in &tokens.articles {
            let line: Vec<&str> = article
                .iter()
                .map(|&i| tokens.words[i as usize].as_str())
                .collect();
            writeln!(f, "{}", line.join(" ")).map_err(io)?;
        }
        f.flush().map_err(io)?;
    }
    let output = dir.join("vectors");
    let status = std::process::Command::new(binary)
        .arg("skipgram")
        .args(["-input", &input.to_string_lossy()])
        .args(["-output", &output.to_string_lossy()])
        .args(["-dim", &config.dims.to_string()])
        .args(["-ws", &config.window.to_string()])
        .args(["-epoch", &config.epochs.to_string()])
        .args(["-minCount", &config.min_count.to_string()])
        .args(["-minn", "0", "-maxn", "0", "-thread", "1"])
        .args(["-seed", &config.seed.to_string()])
        .args(["-verbose", "1"])
        .status()
        .map_err(|e| {
            ModelError::Training(format!(
                "cannot run {} (install fastText or pass --fasttext PATH): {e}",
                binary.display()
            ))
        })?;
    if !status.success() {
        return Err(ModelError::Training(format!("fastText failed: {status}")));
    }
    let text = std::fs::read_to_string(output.with_extension("vec")).map_err(io)?;
    let _ = std::fs::remove_dir_all(&dir);
    let mut words = Vec::new();
    let mut matrix = Vec::new();
    for line in text.lines().skip(1) {
        let mut parts = line.split(' ');
        let Some(word) = parts.next() else { continue };
        if word == "</s>" || word.is_empty() {
            continue;
        }
        let v: Vec<f32> = parts.filter_map(|x| x.parse().ok()).collect();
        if v.len() != config.dims {
            continue;
        }
        words.push(word.to_string());
        matrix.push(v);
        if words.len() == config.vocabulary {
            break;
        }
    }
    Ok((words, matrix))
}

fn tempfile_dir() -> std::io::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("tasnif-vectors-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A corpus where two groups of words share contexts.
    fn corpus(dir: &Path) -> PathBuf {
        let mut lines = Vec::new();
        for i in 0..60 {
            let (a, b) = if i % 2 == 0 {
                ("دبابه", "مدفعيه")
            } else {
                ("مباراه", "ملعب")
            };
            let context = if i % 2 == 0 {
                "قصف جنود معركه هجوم"
            } else {
                "هدف لاعب فريق كره"
            };
            lines.push(format!(
                "{{\"id\":\"{i}\",\"text\":\"{context} {a} {context} {b} {context}\"}}"
            ));
        }
        let path = dir.join("c.jsonl");
        std::fs::write(&path, lines.join("\n")).unwrap();
        path
    }

    #[test]
    fn ppmi_svd_groups_words_that_share_contexts_and_is_deterministic() {
        let dir = tempfile::tempdir().unwrap();
        let path = corpus(dir.path());
        let config = TrainerConfig {
            dims: 4,
            vocabulary: 100,
            min_count: 1,
            window: 2,
            ..TrainerConfig::default()
        };
        let v = train(
            &path,
            PipelineConfig::default(),
            &config,
            Path::new("fasttext"),
        )
        .unwrap();
        let cos = |a: &str, b: &str| -> f32 {
            let x: Vec<f32> = v.vector(v.lookup(a).unwrap()).collect();
            let y: Vec<f32> = v.vector(v.lookup(b).unwrap()).collect();
            x.iter().zip(&y).map(|(p, q)| p * q).sum()
        };
        assert!(cos("دبابه", "مدفعيه") > cos("دبابه", "ملعب") + 0.3);
        assert!(cos("مباراه", "ملعب") > cos("مباراه", "مدفعيه") + 0.3);
        let again = train(
            &path,
            PipelineConfig::default(),
            &config,
            Path::new("fasttext"),
        )
        .unwrap();
        assert_eq!(v.to_bytes(), again.to_bytes());
        assert_eq!(v.header().provenance.articles, 60);
    }

    #[test]
    fn bad_settings_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = corpus(dir.path());
        let config = TrainerConfig {
            dims: 10,
            vocabulary: 5,
            ..TrainerConfig::default()
        };
        assert!(train(
            &path,
            PipelineConfig::default(),
            &config,
            Path::new("fasttext")
        )
        .is_err());
    }
}
