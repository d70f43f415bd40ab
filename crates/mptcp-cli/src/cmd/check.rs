//! `mptcp check` (not implemented yet).

use std::process::ExitCode;

/// Arguments of `mptcp check`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `mptcp check`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`mptcp check` is not implemented yet")
}
