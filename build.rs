//! Compiles `proto/tasnif/v1/tasnif.proto` into Rust (prost + tonic) with a vendored
//! `protoc`, so a fresh machine needs nothing but the Rust toolchain. Also writes the
//! file descriptor set that server reflection serves, and from it (pbjson) the proto3
//! canonical JSON mapping of every message, so the CLI, the HTTP side and grpcurl print
//! one shape.

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
    Ok(())
}
