//! Vectors for words outside the stored vocabulary, from their character n-grams.
//!
//! fastText learns a vector per character n-gram; tasnif's PPMI-SVD vectors have none, so
//! here an n-gram's vector is derived from the stored words: the mean of the unit vectors
//! of every stored word that contains it (`<word>` with boundary marks, n = 3–5). A word
//! outside the vocabulary gets the normalized mean of the vectors of its n-grams that
//! occur in the vocabulary. Nothing beyond the vectors file is needed, so the table could
//! be rebuilt at load; `tasnif tune --only oov` measures whether it is worth that
//! (`docs/model.md`).

use rustc_hash::FxHashMap;

use super::WordVectors;
use crate::error::ModelError;

/// Character n-gram vectors derived from a vectors file's words.
pub struct SubwordVectors {
    dims: usize,
    nmin: usize,
    nmax: usize,
    table: FxHashMap<String, Vec<f32>>,
}

/// The character n-grams of `word` with boundary marks, n = `nmin..=nmax`.
fn ngrams(word: &str, nmin: usize, nmax: usize) -> Vec<String> {
    let chars: Vec<char> = std::iter::once('<')
        .chain(word.chars())
        .chain(std::iter::once('>'))
        .collect();
    let mut out = Vec::new();
    for n in nmin..=nmax {
        for w in chars.windows(n) {
            out.push(w.iter().collect());
        }
    }
    out
}

impl SubwordVectors {
    /// Derives the n-gram table from every word of `vectors`.
    pub fn derive(vectors: &WordVectors, nmin: usize, nmax: usize) -> Self {
        let dims = vectors.dims();
        let mut sums: FxHashMap<String, (Vec<f32>, u32)> = FxHashMap::default();
        for (i, word) in vectors.words().enumerate() {
            let v: Vec<f32> = vectors.vector(i as u32).collect();
            for g in ngrams(word, nmin, nmax) {
                let e = sums.entry(g).or_insert_with(|| (vec![0.0; dims], 0));
                e.0.iter_mut().zip(&v).for_each(|(s, x)| *s += x);
                e.1 += 1;
            }
        }
        let table = sums
            .into_iter()
            .map(|(g, (mut s, n))| {
                s.iter_mut().for_each(|x| *x /= n as f32);
                (g, s)
            })
            .collect();
        Self {
            dims,
            nmin,
            nmax,
            table,
        }
    }

    /// The vector of `word` from its known n-grams (`None` if it has none).
    pub fn vector(&self, word: &str) -> Option<Vec<f32>> {
        let mut sum = vec![0.0f32; self.dims];
        let mut any = false;
        for g in ngrams(word, self.nmin, self.nmax) {
            if let Some(v) = self.table.get(&g) {
                any = true;
                sum.iter_mut().zip(v).for_each(|(s, x)| *s += x);
            }
        }
        let norm = sum.iter().map(|x| x * x).sum::<f32>().sqrt();
        (any && norm > 0.0).then(|| sum.into_iter().map(|x| x / norm).collect())
    }

    /// `vectors` with a row appended for each of `words` it lacks and this table can
    /// compose, at `idf` (the words a text may bring that the file does not hold).
    pub fn extend(
        &self,
        vectors: &WordVectors,
        words: &[String],
        idf: f32,
    ) -> Result<WordVectors, ModelError> {
        let mut all: Vec<String> = vectors.words().map(String::from).collect();
        let mut idfs: Vec<f32> = (0..all.len()).map(|i| vectors.idf(i as u32)).collect();
        let mut matrix: Vec<Vec<f32>> = (0..all.len())
            .map(|i| vectors.vector(i as u32).collect())
            .collect();
        let mut seen = rustc_hash::FxHashSet::default();
        for w in words {
            if vectors.lookup(w).is_some() || !seen.insert(w.as_str()) {
                continue;
            }
            if let Some(v) = self.vector(w) {
                all.push(w.clone());
                idfs.push(idf);
                matrix.push(v);
            }
        }
        WordVectors::from_float(
            vectors.header().pipeline,
            vectors.header().provenance.clone(),
            all,
            idfs,
            &matrix,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vectors() -> WordVectors {
        let provenance = crate::embedding::Provenance {
            corpus: "test".into(),
            corpus_sha256: "0".repeat(64),
            articles: 1,
            tokens: 3,
            trainer: crate::embedding::train::TrainerConfig::default(),
        };
        WordVectors::from_float(
            crate::text::PipelineConfig::default(),
            provenance,
            vec!["الطائرات".into(), "مباراه".into()],
            vec![2.0, 3.0],
            &[vec![1.0, 0.0], vec![0.0, 1.0]],
        )
        .unwrap()
    }

    #[test]
    fn an_unknown_word_takes_the_direction_of_the_words_it_shares_ngrams_with() {
        let v = vectors();
        let sub = SubwordVectors::derive(&v, 3, 5);
        // "طائرات" shares n-grams with "الطائرات" only.
        let x = sub.vector("طائرات").unwrap();
        assert!(x[0] > 0.99 && x[1].abs() < 0.01, "{x:?}");
        // Nothing in common: no vector.
        assert!(sub.vector("قصف").is_none());
        let extended = sub
            .extend(&v, &["طائرات".into(), "قصف".into()], 5.0)
            .unwrap();
        assert_eq!(extended.len(), 3);
        let row = extended.lookup("طائرات").unwrap();
        assert_eq!(extended.idf(row), 5.0);
        assert!(extended.lookup("قصف").is_none());
    }

    #[test]
    fn ngrams_have_boundary_marks() {
        assert_eq!(ngrams("قصف", 3, 3), vec!["<قص", "قصف", "صف>"]);
        assert_eq!(ngrams("قصف", 5, 5), vec!["<قصف>"]);
    }
}
