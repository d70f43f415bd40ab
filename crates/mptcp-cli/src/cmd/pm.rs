//! `mptcp pm` (not implemented yet).

use std::process::ExitCode;

/// Arguments of `mptcp pm`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `mptcp pm`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`mptcp pm` is not implemented yet")
}
