//! `mptcp limits`: path manager limits, with the arguments of
//! `ip mptcp limits`.
//!
//! ```text
//! mptcp limits [show] [--json]
//! mptcp limits set [subflows NR] [add_addr_accepted NR]
//! ```

use std::io::Write;
use std::process::ExitCode;

use mptcp::pm::{PathManager, MAX_LIMIT};
use serde_json::json;

use crate::cmd::endpoint::{once, pm_err};
use crate::util::{print_json, usage};

/// Arguments of `mptcp limits`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON (`{"add_addr_accepted": N, "subflows": N}`).
    #[arg(short = 'j', long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    action: Option<Action>,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Show the limits.
    Show,
    /// Set limits: `[subflows NR] [add_addr_accepted NR]` (each 0-8).
    #[command(allow_negative_numbers = true)]
    Set {
        /// `subflows NR` and/or `add_addr_accepted NR`.
        #[arg(required = true)]
        words: Vec<String>,
    },
}

fn parse_limit(name: &str, v: Option<&String>) -> anyhow::Result<u32> {
    let v = v.ok_or_else(|| usage(format!("`{name}` needs a value")))?;
    let n: u32 = v.parse().map_err(|_| usage(format!("invalid {name} `{v}` (expected 0-{MAX_LIMIT})")))?;
    if n > MAX_LIMIT {
        return Err(usage(format!("{name} {n} is above the kernel's maximum of {MAX_LIMIT}")));
    }
    Ok(n)
}

/// Parses `[subflows NR] [add_addr_accepted NR]`.
fn parse_set(words: &[String]) -> anyhow::Result<(Option<u32>, Option<u32>)> {
    let (mut subflows, mut accepted) = (None, None);
    let mut it = words.iter();
    while let Some(w) = it.next() {
        match w.as_str() {
            "subflows" | "subflow" => once(&mut subflows, "subflows", parse_limit("subflows", it.next())?)?,
            "add_addr_accepted" => {
                once(&mut accepted, "add_addr_accepted", parse_limit("add_addr_accepted", it.next())?)?
            }
            other => return Err(usage(format!("unexpected `{other}` (expected subflows or add_addr_accepted)"))),
        }
    }
    Ok((subflows, accepted))
}

/// Runs `mptcp limits`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.action.unwrap_or(Action::Show) {
        Action::Show => {
            let l = PathManager::new().and_then(|mut pm| pm.limits()).map_err(pm_err)?;
            if args.json {
                print_json(&json!({"add_addr_accepted": l.add_addr_accepted, "subflows": l.subflows}))?;
            } else {
                let mut out = crate::util::stdout();
                writeln!(out, "add_addr_accepted {} subflows {}", l.add_addr_accepted, l.subflows)?;
                out.flush()?;
            }
        }
        Action::Set { words } => {
            let (subflows, accepted) = parse_set(&words)?;
            PathManager::new().and_then(|mut pm| pm.set_limits(subflows, accepted)).map_err(pm_err)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_words() {
        let w = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        assert_eq!(parse_set(&w("subflows 2 add_addr_accepted 3")).unwrap(), (Some(2), Some(3)));
        assert!(parse_set(&w("subflows 9")).is_err());
        assert!(parse_set(&w("subflows")).is_err());
        assert!(parse_set(&w("bogus 1")).is_err());
        let twice = parse_set(&w("subflows 8 subflows 2")).unwrap_err();
        assert_eq!(twice.to_string(), "`subflows` given twice");
        assert!(parse_set(&w("add_addr_accepted 1 subflow 2 add_addr_accepted 1")).is_err());
    }
}
