//! Compiles `proto/tasnif/v1/tasnif.proto` into Rust (prost + tonic) with a vendored
//! `protoc`, so a fresh machine needs nothing but the Rust toolchain. Also writes the
//! file descriptor set that server reflection serves, and from it (pbjson) the proto3
//! canonical JSON mapping of every message, so the CLI, the HTTP side and grpcurl print
//! one shape. And the SHA-256 of the embedded model and vectors, so loading them does not
//! hash 4 MB at every start (the vectors' hash was the longest step of start-up). And the
//! embedded model split in two: its large arrays (vocabulary, idf, weights) in binary and
//! the rest as JSON, so starting does not parse 56 000 numbers from text (the model's
//! JSON was then the longest step; a test checks the two read as the JSON file does).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY: build scripts are single-threaded; nothing else reads the environment here.
    unsafe { std::env::set_var("PROTOC", protoc) };
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    let descriptor = out_dir.join("tasnif_descriptor.bin");
    tonic_prost_build::configure()
        .file_descriptor_set_path(&descriptor)
        .compile_protos(&["proto/tasnif/v1/tasnif.proto"], &["proto"])?;
    pbjson_build::Builder::new()
        .register_descriptors(&std::fs::read(&descriptor)?)?
        .build(&[".tasnif.v1"])?;
    println!("cargo:rerun-if-changed=proto");
    let mut hashes = String::new();
    for (name, path) in [
        ("EMBEDDED_MODEL_SHA256", "models/tasnif.json"),
        ("EMBEDDED_VECTORS_SHA256", "models/vectors.bin"),
    ] {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(std::fs::read(path)?);
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        hashes.push_str(&format!(
            "/// SHA-256 of `{path}`, computed by build.rs.\npub const {name}: &str = \"{hex}\";\n"
        ));
        println!("cargo:rerun-if-changed={path}");
    }
    std::fs::write(out_dir.join("embedded_sha256.rs"), hashes)?;
    split_model("models/tasnif.json", &out_dir)?;
    Ok(())
}

/// Writes `model_meta.json` (the model file with its vocabulary, idf and weight arrays
/// emptied) and `model_arrays.bin`, those arrays in the layout `ModelFile::from_split`
/// reads. All little-endian: the vocabulary (`u32` count, then per term a `u32` byte
/// length and its UTF-8), the idf (`u32` count, `f32`s), the weights and the vector part's
/// weights (each `u32` rows, `u32` width, `f32`s row after row; no vector part is 0 × 0).
/// Numbers are read as serde reads an `f32` from JSON, so they are the same values.
fn split_model(path: &str, out_dir: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    use serde_json::Value;
    fn u32_of(n: usize) -> Result<[u8; 4], Box<dyn std::error::Error>> {
        Ok(u32::try_from(n)?.to_le_bytes())
    }
    fn take(v: &mut Value, key: &str) -> Result<Vec<Value>, Box<dyn std::error::Error>> {
        match v.get_mut(key).map(Value::take) {
            Some(Value::Array(items)) => {
                v[key] = Value::Array(Vec::new());
                Ok(items)
            }
            _ => Err(format!("the model has no array {key:?}").into()),
        }
    }
    fn rows(out: &mut Vec<u8>, rows: Vec<Value>) -> Result<(), Box<dyn std::error::Error>> {
        let rows: Vec<Vec<f32>> = serde_json::from_value(Value::Array(rows))?;
        let width = rows.first().map_or(0, Vec::len);
        if rows.iter().any(|r| r.len() != width) {
            return Err("weight rows of unequal length".into());
        }
        out.extend(u32_of(rows.len())?);
        out.extend(u32_of(width)?);
        rows.iter()
            .flatten()
            .for_each(|x| out.extend(x.to_le_bytes()));
        Ok(())
    }
    let mut model: Value = serde_json::from_slice(&std::fs::read(path)?)?;
    let mut out = Vec::new();
    let vocabulary: Vec<String> =
        serde_json::from_value(Value::Array(take(&mut model, "vocabulary")?))?;
    out.extend(u32_of(vocabulary.len())?);
    for term in &vocabulary {
        out.extend(u32_of(term.len())?);
        out.extend(term.as_bytes());
    }
    let idf: Vec<f32> = serde_json::from_value(Value::Array(take(&mut model, "idf")?))?;
    out.extend(u32_of(idf.len())?);
    idf.iter().for_each(|x| out.extend(x.to_le_bytes()));
    rows(&mut out, take(&mut model, "weights")?)?;
    match model.get_mut("embedding") {
        Some(e) if !e.is_null() => rows(&mut out, take(e, "weights")?)?,
        _ => rows(&mut out, Vec::new())?,
    }
    std::fs::write(out_dir.join("model_meta.json"), serde_json::to_vec(&model)?)?;
    std::fs::write(out_dir.join("model_arrays.bin"), out)?;
    Ok(())
}
