//! `mptcp endpoint` (not implemented yet).

use std::process::ExitCode;

/// Arguments of `mptcp endpoint`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `mptcp endpoint`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`mptcp endpoint` is not implemented yet")
}
