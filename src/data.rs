//! Reading labelled data: tab-separated files with a header row.
//!
//! * segment files (`seeds/labels.tsv`, `../shared/eval/dev.tsv`): columns `label` and
//!   `text`, optionally `doc` (the article a segment belongs to); others are ignored;
//! * article files (`dev_articles.tsv`): `primary`, `topics` (comma-separated) and `text`
//!   with line breaks written as the two characters `\n`.

use std::path::Path;

use crate::error::DataError;

/// A labelled segment.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledText {
    /// The article it belongs to (`doc` column), or its row number when absent.
    pub doc: String,
    pub label: String,
    pub text: String,
}

/// A labelled whole article.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledArticle {
    pub id: String,
    pub primary: String,
    pub topics: Vec<String>,
    pub text: String,
}

#[derive(Debug)]
struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn column(&self, path: &Path, name: &str) -> Result<usize, DataError> {
        self.header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| DataError::Format {
                path: path.display().to_string(),
                message: format!(
                    "header has no `{name}` column (found: {})",
                    self.header.join(", ")
                ),
            })
    }
}

fn read_table(path: &Path) -> Result<Table, DataError> {
    let raw = std::fs::read_to_string(path).map_err(|source| DataError::Io {
        path: path.display().to_string(),
        source,
    })?;
    parse_table(raw.trim_start_matches('\u{FEFF}'), path)
}

fn parse_table(raw: &str, path: &Path) -> Result<Table, DataError> {
    let mut lines = raw
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .filter(|l| !l.trim().is_empty());
    let header: Vec<String> = lines
        .next()
        .ok_or_else(|| DataError::Format {
            path: path.display().to_string(),
            message: "file is empty".into(),
        })?
        .split('\t')
        .map(|h| h.trim().to_lowercase())
        .collect();
    let mut rows = Vec::new();
    for (i, line) in lines.enumerate() {
        let row: Vec<String> = line.split('\t').map(str::to_string).collect();
        if row.len() != header.len() {
            return Err(DataError::Format {
                path: path.display().to_string(),
                message: format!(
                    "row {} has {} fields, the header has {}",
                    i + 2,
                    row.len(),
                    header.len()
                ),
            });
        }
        rows.push(row);
    }
    Ok(Table { header, rows })
}

/// Reads a segment file (needs `label` and `text`; `doc` is optional).
pub fn read_segments(path: &Path) -> Result<Vec<LabelledText>, DataError> {
    let table = read_table(path)?;
    let label = table.column(path, "label")?;
    let text = table.column(path, "text")?;
    let doc = table.header.iter().position(|h| h == "doc");
    Ok(table
        .rows
        .iter()
        .enumerate()
        .map(|(i, r)| LabelledText {
            doc: doc.map_or_else(|| i.to_string(), |d| r[d].clone()),
            label: r[label].trim().to_string(),
            text: r[text].clone(),
        })
        .collect())
}

/// Reads an article file (`id`, `primary`, `topics`, `text`).
pub fn read_articles(path: &Path) -> Result<Vec<LabelledArticle>, DataError> {
    let table = read_table(path)?;
    let id = table.column(path, "id")?;
    let primary = table.column(path, "primary")?;
    let topics = table.column(path, "topics")?;
    let text = table.column(path, "text")?;
    Ok(table
        .rows
        .iter()
        .map(|r| LabelledArticle {
            id: r[id].clone(),
            primary: r[primary].trim().to_string(),
            topics: r[topics]
                .split(',')
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
                .collect(),
            text: r[text].replace("\\n", "\n"),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_by_column_name_in_any_order() {
        let t = parse_table(
            "text\tid\tlabel\nسيطر الجيش\te1\tmilitary\n",
            Path::new("x"),
        )
        .unwrap();
        assert_eq!(t.header, vec!["text", "id", "label"]);
        assert_eq!(t.rows[0][2], "military");
    }

    #[test]
    fn ragged_rows_are_an_error_naming_the_row() {
        let err = parse_table("label\ttext\nmilitary\n", Path::new("f.tsv")).unwrap_err();
        assert!(err.to_string().contains("row 2"), "{err}");
    }

    #[test]
    fn missing_column_is_an_error_naming_it() {
        let t = parse_table("label\tbody\nx\ty\n", Path::new("f.tsv")).unwrap();
        let err = t.column(Path::new("f.tsv"), "text").unwrap_err();
        assert!(err.to_string().contains("`text`"));
    }
}
