//! `mptcp status` (not implemented yet).

use std::process::ExitCode;

/// Arguments of `mptcp status`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `mptcp status`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`mptcp status` is not implemented yet")
}
