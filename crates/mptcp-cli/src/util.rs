//! Helpers shared by the subcommands: error reporting and output.

use std::fmt;
use std::io::{self, Write};

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

/// Standard output was closed under us (`mptcp ... | head`): the command
/// stops quietly with status 0. Only [`Stdout`] produces it, so a broken
/// pipe on a network socket stays an error.
#[derive(Debug)]
pub struct StdoutClosed;

impl fmt::Display for StdoutClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("standard output is closed")
    }
}

impl std::error::Error for StdoutClosed {}

/// Standard output for commands: a broken pipe becomes [`StdoutClosed`].
#[derive(Debug)]
pub struct Stdout(io::StdoutLock<'static>);

/// Locks standard output.
pub fn stdout() -> Stdout {
    Stdout(io::stdout().lock())
}

fn closed(e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::BrokenPipe {
        io::Error::new(io::ErrorKind::BrokenPipe, StdoutClosed)
    } else {
        e
    }
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf).map_err(closed)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush().map_err(closed)
    }
}

/// Whether `err` is standard output closing under us.
pub(crate) fn is_stdout_closed(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.is::<StdoutClosed>()
            || c.downcast_ref::<io::Error>().and_then(|e| e.get_ref()).is_some_and(|e| e.is::<StdoutClosed>())
    })
}

/// An error of the transfer engine as the command reports it: bad input is
/// a [`UsageError`] (exit status 2), each step that failed one link of the
/// chain, and socket errors stay `io::Error`s (their JSON `kind`).
pub fn from_transfer(e: mptcp_transfer::Error) -> anyhow::Error {
    use mptcp_transfer::Error as E;
    match e {
        E::InvalidOption { .. } => usage(e.to_string()),
        E::Io(io) => anyhow::Error::new(io),
        E::Context { context, source } => from_transfer(*source).context(context),
        e => anyhow::Error::new(e),
    }
}

/// Prints a value as pretty JSON followed by a newline.
pub fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    let mut text = serde_json::to_vec_pretty(value)?;
    text.push(b'\n');
    let mut out = stdout();
    out.write_all(&text)?;
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_closed_stdout_is_quiet() {
        let stdout_gone = anyhow::Error::new(closed(io::Error::from(io::ErrorKind::BrokenPipe)));
        assert!(is_stdout_closed(&stdout_gone.context("printing the report")));
        let socket_gone = anyhow::Error::new(io::Error::from_raw_os_error(libc::EPIPE)).context("upload failed");
        assert!(!is_stdout_closed(&socket_gone), "a broken pipe on a socket is an error");
        assert!(is_stdout_closed(&anyhow::Error::new(StdoutClosed)));
    }

    #[test]
    fn transfer_errors_keep_their_chain_and_kind() {
        let refused = io::Error::from_raw_os_error(libc::ECONNREFUSED);
        let e = mptcp_transfer::Error::Context {
            context: "cannot connect to h:1".into(),
            source: Box::new(refused.into()),
        };
        let e = from_transfer(e);
        assert_eq!(format!("{e:#}"), "cannot connect to h:1: Connection refused (os error 111)");
        assert_eq!(crate::errors::kind_of(&e), crate::errors::Kind::Io);
    }
}
