//! `mptcp monitor` (not implemented yet).

use std::process::ExitCode;

/// Arguments of `mptcp monitor`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `mptcp monitor`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`mptcp monitor` is not implemented yet")
}
