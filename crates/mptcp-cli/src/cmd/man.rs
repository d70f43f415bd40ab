//! `mptcp man [--dir DIR]`: the manual pages, in roff.
//!
//! Without `--dir`, mptcp(1) on stdout (`mptcp man | man -l -`). With it,
//! one page per command and subcommand, named like git's: `mptcp.1`,
//! `mptcp-status.1`, `mptcp-endpoint-add.1`, ...; each path written is
//! printed.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::CommandFactory;
use clap_mangen::Man;

use crate::util::usage;

/// Arguments of `mptcp man`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Write every page into this directory (it must exist).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

/// The command tree the pages describe: built, and without the `help`
/// subcommand (which has no page).
fn command() -> clap::Command {
    let mut cmd = crate::Cli::command().disable_help_subcommand(true);
    cmd.build();
    cmd
}

/// Writes the page of `cmd` and of each of its subcommands into `dir`;
/// returns the paths, parents first.
fn write_pages(cmd: clap::Command, dir: &Path, written: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let subs: Vec<clap::Command> = cmd.get_subcommands().filter(|s| !s.is_hide_set()).cloned().collect();
    written.push(Man::new(cmd).generate_to(dir)?);
    for sub in subs {
        write_pages(sub, dir, written)?;
    }
    Ok(())
}

/// Runs `mptcp man`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut out = crate::util::stdout();
    match args.dir {
        None => {
            let mut page = Vec::new();
            Man::new(command()).render(&mut page)?;
            out.write_all(&page)?;
        }
        Some(dir) => {
            if !dir.is_dir() {
                return Err(usage(format!("--dir {}: not a directory", dir.display())));
            }
            let mut written = Vec::new();
            write_pages(command(), &dir, &mut written)
                .with_context(|| format!("writing manual pages into {}", dir.display()))?;
            for p in written {
                writeln!(out, "{}", p.display())?;
            }
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
