//! Unlabelled Arabic news: reading the ANT corpus (`../shared/corpus/ant.jsonl.zst`) and
//! the one fixed rule that picks `other` training examples from it.
//!
//! The corpus is one JSON object per line (`id source category time url title text …`),
//! zstd-compressed; it is streamed, never held whole. It is used twice:
//! * `tasnif vectors` learns word vectors from every article's text;
//! * `tasnif train` takes `other` examples from the outlets' non-political sections
//!   ([`OTHER_CATEGORIES`]) by [`other_examples`] — a rule on ids and categories alone,
//!   never on any evaluation data.
//!
//! The ANT corpus (Chouigui, Ben Khiroun, Elayeb; https://antcorpus.github.io) is
//! Apache-2.0 with a citation clause; `models/README.md` carries the citation.

use std::io::{BufRead, BufReader};
use std::path::Path;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::DataError;
use crate::text::segment;

/// Where the corpus lives next to a checkout of this repository.
pub const DEFAULT_CORPUS: &str = "../shared/corpus/ant.jsonl.zst";

/// One article of the corpus (the fields tasnif reads).
#[derive(Debug, Clone, Deserialize)]
pub struct CorpusArticle {
    pub id: String,
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub category: String,
    #[serde(default)]
    pub text: String,
}

/// Calls `f` with every article of a `.jsonl.zst` (or plain `.jsonl`) corpus file, in
/// file order. Returns the file's SHA-256 (computed on the bytes as read).
pub fn for_each_article(
    path: &Path,
    mut f: impl FnMut(CorpusArticle),
) -> Result<String, DataError> {
    let io = |source| DataError::Io {
        path: path.display().to_string(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let hashing = HashingReader {
        inner: file,
        hasher: Sha256::new(),
    };
    let mut hashing = BufReader::with_capacity(1 << 20, hashing);
    let compressed = path.extension().is_some_and(|e| e == "zst");
    {
        let reader: Box<dyn BufRead> = if compressed {
            Box::new(BufReader::new(
                zstd::stream::read::Decoder::with_buffer(&mut hashing).map_err(io)?,
            ))
        } else {
            Box::new(&mut hashing)
        };
        for (n, line) in reader.lines().enumerate() {
            let line = line.map_err(io)?;
            if line.trim().is_empty() {
                continue;
            }
            let article: CorpusArticle =
                serde_json::from_str(&line).map_err(|e| DataError::Format {
                    path: path.display().to_string(),
                    message: format!("line {}: {e}", n + 1),
                })?;
            f(article);
        }
    }
    // Hash whatever the decoder left unread (zstd frames' padding, say).
    std::io::copy(&mut hashing, &mut std::io::sink()).map_err(io)?;
    let digest = hashing.into_inner().hasher.finalize();
    Ok(digest.iter().map(|b| format!("{b:02x}")).collect())
}

/// A reader that hashes what passes through it.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: std::io::Read> std::io::Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// The outlets' sections whose articles are, almost all, what the labelling guide calls
/// `other` (sport, economy, technology, culture). `society`, `diverse` and the news
/// sections mix in our topics and are never used for `other`.
pub const OTHER_CATEGORIES: [&str; 4] = ["sport", "economy", "technology", "culture"];

/// The rule that picks `other` examples, recorded in the model file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OtherRule {
    /// How many examples (0 = none).
    pub count: usize,
    /// Sentences shorter or longer than this many characters are skipped.
    pub min_chars: usize,
    pub max_chars: usize,
    /// Training weight of each example (as that many copies; linfa's logistic regression
    /// takes no sample weights).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub weight: u32,
}

fn one() -> u32 {
    1
}

fn is_one(w: &u32) -> bool {
    *w == 1
}

impl Default for OtherRule {
    fn default() -> Self {
        Self {
            count: 20,
            min_chars: 40,
            max_chars: 300,
            weight: 1,
        }
    }
}

/// An `other` example taken from the corpus.
#[derive(Debug, Clone, PartialEq)]
pub struct OtherExample {
    /// The corpus article id.
    pub id: String,
    pub category: String,
    pub text: String,
}

/// Picks `rule.count` `other` examples: the articles of [`OTHER_CATEGORIES`] ordered by
/// the SHA-256 of their id (a fixed pseudo-random order that depends on nothing else),
/// taken from the categories in turn, one sentence per article — its first sentence of
/// `min_chars..=max_chars` characters. Returns them in the order picked, and the corpus
/// file's SHA-256 (empty if nothing was asked for and the file was not read).
pub fn other_examples(
    path: &Path,
    rule: &OtherRule,
) -> Result<(Vec<OtherExample>, String), DataError> {
    let mut by_category: Vec<Vec<([u8; 32], OtherExample)>> =
        vec![Vec::new(); OTHER_CATEGORIES.len()];
    if rule.count == 0 {
        return Ok((Vec::new(), String::new()));
    }
    let sha256 = for_each_article(path, |a| {
        let Some(c) = OTHER_CATEGORIES.iter().position(|c| *c == a.category) else {
            return;
        };
        let Some(sentence) = first_sentence(&a.text, rule) else {
            return;
        };
        let key: [u8; 32] = Sha256::digest(a.id.as_bytes()).into();
        by_category[c].push((
            key,
            OtherExample {
                id: a.id,
                category: a.category,
                text: sentence,
            },
        ));
    })?;
    for list in &mut by_category {
        list.sort_by_key(|e| e.0);
    }
    let mut picked = Vec::with_capacity(rule.count);
    let mut round = 0;
    while picked.len() < rule.count {
        let mut any = false;
        for list in &by_category {
            if let Some((_, e)) = list.get(round) {
                any = true;
                if picked.len() < rule.count {
                    picked.push(e.clone());
                }
            }
        }
        if !any {
            break;
        }
        round += 1;
    }
    Ok((picked, sha256))
}

/// The corpus' news sections (which hold our topics among much else): the pool for the
/// self-training experiment of `tasnif tune`.
pub const NEWS_CATEGORIES: [&str; 3] = ["politic", "middleEast", "internationalNews"];

/// Up to `articles` news-section articles (by SHA-256 of their id), every sentence of
/// `min_chars..=max_chars` characters of them.
pub fn news_sentences(
    path: &Path,
    articles: usize,
    rule: &OtherRule,
) -> Result<Vec<String>, DataError> {
    let mut all: Vec<([u8; 32], String)> = Vec::new();
    for_each_article(path, |a| {
        if NEWS_CATEGORIES.contains(&a.category.as_str()) {
            all.push((Sha256::digest(a.id.as_bytes()).into(), a.text));
        }
    })?;
    all.sort_by_key(|e| e.0);
    let mut out = Vec::new();
    for (_, text) in all.into_iter().take(articles) {
        for span in segment(&text) {
            let s = span.text(&text).trim();
            let n = s.chars().count();
            if (rule.min_chars..=rule.max_chars).contains(&n) && crate::text::has_arabic_letter(s) {
                out.push(s.to_string());
            }
        }
    }
    Ok(out)
}

/// Site boilerplate and bylines, as the labelling guide calls them `other`: segments
/// (10–300 characters, with an Arabic letter) that recur verbatim in at least
/// `min_articles` articles of the corpus — "all articles reflect their authors' views",
/// "install our app", "source: …" — ordered by the SHA-256 of their text. Category
/// `recurring`.
pub fn recurring_segments(
    path: &Path,
    min_articles: usize,
) -> Result<Vec<OtherExample>, DataError> {
    let mut counts: rustc_hash::FxHashMap<String, (usize, String)> = Default::default();
    for_each_article(path, |a| {
        let mut seen = rustc_hash::FxHashSet::default();
        for span in segment(&a.text) {
            let s = span.text(&a.text).trim();
            let n = s.chars().count();
            if (10..=300).contains(&n) && crate::text::has_arabic_letter(s) && seen.insert(s) {
                let e = counts
                    .entry(s.to_string())
                    .or_insert_with(|| (0, a.id.clone()));
                e.0 += 1;
            }
        }
    })?;
    let mut out: Vec<([u8; 32], OtherExample)> = counts
        .into_iter()
        .filter(|(_, (n, _))| *n >= min_articles)
        .map(|(text, (_, id))| {
            (
                Sha256::digest(text.as_bytes()).into(),
                OtherExample {
                    id,
                    category: "recurring".into(),
                    text,
                },
            )
        })
        .collect();
    out.sort_by_key(|a| a.0);
    Ok(out.into_iter().map(|(_, e)| e).collect())
}

/// The first sentence of `text` (by the guide's segmentation) with a length in the rule's
/// bounds and an Arabic letter.
fn first_sentence(text: &str, rule: &OtherRule) -> Option<String> {
    segment(text).into_iter().find_map(|span| {
        let s = span.text(text).trim();
        let n = s.chars().count();
        ((rule.min_chars..=rule.max_chars).contains(&n) && crate::text::has_arabic_letter(s))
            .then(|| s.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn recurring_segments_are_lines_many_articles_share() {
        let dir = tempfile::tempdir().unwrap();
        let boiler = "جميع المقالات المنشورة تمثل رأي كتابها فقط";
        let lines: Vec<String> = (0..3)
            .map(|i| {
                serde_json::json!({
                    "id": format!("a{i}"),
                    "category": "politic",
                    // twice in one article: counted once for it
                    "text": format!("خبر رقم {i} عن زيارة الوزير إلى العاصمة\n{boiler}\n{boiler}"),
                })
                .to_string()
            })
            .collect();
        let path = dir.path().join("c.jsonl");
        std::fs::write(&path, lines.join("\n")).unwrap();
        let found = recurring_segments(&path, 3).unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].text, boiler);
        assert_eq!(found[0].category, "recurring");
        assert!(recurring_segments(&path, 4).unwrap().is_empty());
    }

    fn write_corpus(dir: &Path, compressed: bool) -> std::path::PathBuf {
        let lines = [
            r#"{"id":"s1","category":"sport","text":"قصير.\nفاز الفريق المحلي على ضيفه بثلاثة أهداف دون رد في مباراة الأمس"}"#,
            r#"{"id":"s2","category":"sport","text":"تأهل المنتخب الوطني إلى الدور النهائي من البطولة القارية للمرة الأولى"}"#,
            r#"{"id":"e1","category":"economy","text":"ارتفعت أسعار النفط في الأسواق العالمية مع تراجع المخزونات الأمريكية"}"#,
            r#"{"id":"p1","category":"politic","text":"استقبل الرئيس وزير الخارجية وبحث معه العلاقات الثنائية بين البلدين"}"#,
        ];
        let body = lines.join("\n") + "\n";
        let path = dir.join(if compressed { "c.jsonl.zst" } else { "c.jsonl" });
        let mut f = std::fs::File::create(&path).unwrap();
        if compressed {
            f.write_all(&zstd::encode_all(body.as_bytes(), 3).unwrap())
                .unwrap();
        } else {
            f.write_all(body.as_bytes()).unwrap();
        }
        path
    }

    #[test]
    fn reads_compressed_and_plain_files_alike() {
        let dir = tempfile::tempdir().unwrap();
        for compressed in [true, false] {
            let path = write_corpus(dir.path(), compressed);
            let mut ids = Vec::new();
            let sha = for_each_article(&path, |a| ids.push(a.id)).unwrap();
            assert_eq!(ids, ["s1", "s2", "e1", "p1"]);
            let bytes = std::fs::read(&path).unwrap();
            assert_eq!(sha, crate::model::artifact::sha256_hex(&bytes));
        }
    }

    #[test]
    fn other_examples_come_from_other_sections_in_turn_and_skip_short_sentences() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_corpus(dir.path(), true);
        let rule = OtherRule {
            count: 3,
            ..OtherRule::default()
        };
        let (picked, sha256) = other_examples(&path, &rule).unwrap();
        assert_eq!(sha256, for_each_article(&path, |_| {}).unwrap());
        assert_eq!(picked.len(), 3);
        assert!(picked.iter().all(|e| e.category != "politic"));
        // Categories alternate: the first two are one sport and one economy article.
        assert_ne!(picked[0].category, picked[1].category);
        // s1's first sentence is too short; its second is taken.
        if let Some(s1) = picked.iter().find(|e| e.id == "s1") {
            assert!(s1.text.starts_with("فاز"), "{}", s1.text);
        }
        // Deterministic.
        assert_eq!(picked, other_examples(&path, &rule).unwrap().0);
        let none = OtherRule { count: 0, ..rule };
        assert!(other_examples(&path, &none).unwrap().0.is_empty());
    }

    #[test]
    fn a_bad_line_names_its_number() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.jsonl");
        std::fs::write(&path, "{\"id\":\"a\",\"text\":\"x\"}\nnot json\n").unwrap();
        let err = for_each_article(&path, |_| {}).unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
    }
}
