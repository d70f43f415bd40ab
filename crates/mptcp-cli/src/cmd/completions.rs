//! `mptcp completions SHELL`: the shell completion script, on stdout.
//!
//! ```text
//! mptcp completions bash > /usr/share/bash-completion/completions/mptcp
//! mptcp completions zsh  > /usr/share/zsh/vendor-completions/_mptcp
//! mptcp completions fish > /usr/share/fish/vendor_completions.d/mptcp.fish
//! ```

use std::io::Write;
use std::process::ExitCode;

use clap::CommandFactory;
use clap_complete::Shell;

/// Arguments of `mptcp completions`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell.
    shell: Shell,
}

/// Runs `mptcp completions`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    // Generated into memory first: the generator panics on a write error,
    // and stdout may be closed under us.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut crate::Cli::command(), "mptcp", &mut script);
    let mut out = crate::util::stdout();
    out.write_all(&script)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
