//! Compiles `proto/tasnif/v1/tasnif.proto` into Rust (prost + tonic) with a vendored
//! `protoc`, so a fresh machine needs nothing but the Rust toolchain. Also writes the
//! file descriptor set that server reflection serves, and from it (pbjson) the proto3
//! canonical JSON mapping of every message, so the CLI, the HTTP side and grpcurl print
//! one shape. And the SHA-256 of the embedded model and vectors, so loading them does not
//! hash 4 MB at every start (the vectors' hash was the longest step of start-up).

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
    Ok(())
}
