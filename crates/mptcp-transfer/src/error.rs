//! The crate's error type: a failed step says what it was doing, with the
//! cause below it (see [`Error::chain`] for the whole story on one line).

use std::fmt::Write as _;
use std::io;

/// What went wrong in a transfer or in setting one up.
///
/// A step that failed is [`Error::Context`] with its cause as the
/// [`source`](std::error::Error::source), so a front end can print the
/// chain: `upload to 10.0.0.2:5201 failed` caused by `sending data, after
/// 3.2 MiB: the peer reset the connection`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A value given by the user is not valid; nothing was sent. The
    /// message names the option as the command line spells it.
    #[error("--{option} {value:?}: {problem}")]
    InvalidOption {
        /// The option, e.g. `sndbuf`.
        option: &'static str,
        /// The value given.
        value: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// A socket call failed.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The peer is not a bench peer, or did something the bench protocol
    /// does not allow; the message says what it sent or did.
    #[error("{0}")]
    Protocol(String),
    /// A thread of the test panicked (a bug: please report it).
    #[error("{0} panicked")]
    Panicked(&'static str),
    /// A step failed: `context` says which, the source why.
    #[error("{context}")]
    Context {
        /// What was being done, e.g. `cannot connect to 10.0.0.2:5201`.
        context: String,
        /// Why it failed.
        #[source]
        source: Box<Error>,
    },
}

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The message with every cause after it, `: `-separated (as `anyhow`
    /// prints `{:#}`).
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp_transfer::Error;
    ///
    /// let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
    /// let e = Error::Context { context: "cannot connect to 10.0.0.2:5201".into(), source: Box::new(io.into()) };
    /// assert_eq!(e.chain(), "cannot connect to 10.0.0.2:5201: connection refused");
    /// ```
    pub fn chain(&self) -> String {
        let mut s = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(c) = cause {
            let _ = write!(s, ": {c}");
            cause = c.source();
        }
        s
    }
}

/// Adds what was being done to an error, as `anyhow::Context` does.
pub(crate) trait Context<T> {
    /// Wraps the error in [`Error::Context`] with `context`.
    fn context(self, context: impl Into<String>) -> Result<T>;
    /// The same, the context computed only on error.
    fn with_context<S: Into<String>>(self, f: impl FnOnce() -> S) -> Result<T>;
}

impl<T, E: Into<Error>> Context<T> for std::result::Result<T, E> {
    fn context(self, context: impl Into<String>) -> Result<T> {
        self.map_err(|e| Error::Context { context: context.into(), source: Box::new(e.into()) })
    }

    fn with_context<S: Into<String>>(self, f: impl FnOnce() -> S) -> Result<T> {
        self.map_err(|e| Error::Context { context: f().into(), source: Box::new(e.into()) })
    }
}

/// Returns [`Error::Protocol`] with a formatted message, as `anyhow::bail!`.
macro_rules! bail {
    ($($arg:tt)*) => {
        return Err($crate::Error::Protocol(format!($($arg)*)))
    };
}
pub(crate) use bail;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chain_reads_like_anyhow_s() {
        let r: std::result::Result<(), io::Error> = Err(io::Error::other("the peer reset the connection"));
        let e = r.context("sending data").with_context(|| "upload to p failed").unwrap_err();
        assert_eq!(e.to_string(), "upload to p failed");
        assert_eq!(e.chain(), "upload to p failed: sending data: the peer reset the connection");
        let e = Error::InvalidOption { option: "sndbuf", value: "0".into(), problem: "expected a size such as 4M" };
        assert_eq!(e.chain(), "--sndbuf \"0\": expected a size such as 4M");
    }
}
