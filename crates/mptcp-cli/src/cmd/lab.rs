//! `mptcp lab` (not implemented yet).

use std::process::ExitCode;

/// Arguments of `mptcp lab`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `mptcp lab`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`mptcp lab` is not implemented yet")
}
