//! Reading the texts to classify: a file, or standard input for `-`.

use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result};

/// A file to read, or standard input for `-`.
pub fn open_input(path: &Path) -> Result<Box<dyn Read + Send>> {
    Ok(if path == Path::new("-") {
        Box::new(std::io::stdin())
    } else {
        Box::new(
            std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?,
        )
    })
}

/// The whole of a file, or of standard input for `-`, as text.
pub fn read_input(path: &Path) -> Result<String> {
    let mut text = String::new();
    open_input(path)?
        .read_to_string(&mut text)
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(text)
}
