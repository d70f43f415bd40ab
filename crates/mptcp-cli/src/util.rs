//! Helpers shared by the subcommands: error reporting and output.

use std::fmt;
use std::io::{self, Write};
use std::process::ExitCode;

/// Bad input from the user: reported with exit status 2, before anything
/// was sent to the kernel or the network.
#[derive(Debug)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Returns an `anyhow::Error` carrying a [`UsageError`].
pub fn usage(msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(UsageError(msg.into()))
}

/// Prints `mptcp: error: ...` with the cause chain; returns the exit code
/// (2 for bad input, 1 otherwise; a broken pipe exits 0).
pub fn report_error(err: &anyhow::Error) -> ExitCode {
    for cause in err.chain() {
        if let Some(ioe) = cause.downcast_ref::<io::Error>() {
            if ioe.kind() == io::ErrorKind::BrokenPipe {
                return ExitCode::SUCCESS;
            }
        }
    }
    let mut msg = format!("mptcp: error: {err}");
    for cause in err.chain().skip(1) {
        msg.push_str(&format!("\n  caused by: {cause}"));
    }
    let _ = writeln!(io::stderr(), "{msg}");
    if err.chain().any(|c| c.downcast_ref::<UsageError>().is_some()) {
        ExitCode::from(2)
    } else {
        ExitCode::from(1)
    }
}

/// Prints a value as pretty JSON followed by a newline.
pub fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}
