//! `mptcp conns` (not implemented yet).

use std::process::ExitCode;

/// Arguments of `mptcp conns`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `mptcp conns`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`mptcp conns` is not implemented yet")
}
