//! `mptcp bench` (not implemented yet).

use std::process::ExitCode;

/// Arguments of `mptcp bench`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `mptcp bench`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`mptcp bench` is not implemented yet")
}
