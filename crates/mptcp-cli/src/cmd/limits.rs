//! `mptcp limits` (not implemented yet).

use std::process::ExitCode;

/// Arguments of `mptcp limits`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `mptcp limits`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`mptcp limits` is not implemented yet")
}
