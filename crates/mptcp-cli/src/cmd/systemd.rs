//! `mptcp systemd` (not implemented yet).

use std::process::ExitCode;

/// Arguments of `mptcp systemd`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `mptcp systemd`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`mptcp systemd` is not implemented yet")
}
