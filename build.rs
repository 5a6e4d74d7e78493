//! Compiles `proto/tasnif/v1/tasnif.proto` into Rust (prost + tonic) with a vendored
//! `protoc`, so a fresh machine needs nothing but the Rust toolchain. Also writes the
//! file descriptor set that server reflection serves.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY: build scripts are single-threaded; nothing else reads the environment here.
    unsafe { std::env::set_var("PROTOC", protoc) };
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    tonic_prost_build::configure()
        .file_descriptor_set_path(out_dir.join("tasnif_descriptor.bin"))
        .compile_protos(&["proto/tasnif/v1/tasnif.proto"], &["proto"])?;
    println!("cargo:rerun-if-changed=proto");
    Ok(())
}
