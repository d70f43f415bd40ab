//! `mptcp run` (not implemented yet).

use std::process::ExitCode;

/// Arguments of `mptcp run`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `mptcp run`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`mptcp run` is not implemented yet")
}
