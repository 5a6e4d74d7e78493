//! gRPC service (stub while the core is built).
pub mod client;
#[derive(Debug, clap::Args)]
pub struct ServeArgs {}
pub fn run(_args: ServeArgs) -> anyhow::Result<()> { anyhow::bail!("not yet") }
