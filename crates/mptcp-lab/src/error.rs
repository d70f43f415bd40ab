//! The crate's error type: a failed step says what it was doing, with the
//! cause below it, as `mptcp_transfer::Error` does.

use std::fmt::Write as _;

/// A boxed cause: the error of another crate (namespaces, path manager,
/// transfer, emulator, daemon) or of a system call.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What went wrong while planning or running the lab.
///
/// # Examples
///
/// ```
/// use mptcp_lab::Error;
///
/// let e = Error::Usage("--fail-path 3: expected 1 to 2".into());
/// assert_eq!(e.to_string(), "--fail-path 3: expected 1 to 2");
/// assert!(e.is_usage());
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bad input (a flag's value, a combination of flags): nothing was
    /// created. The message names the flag as the command line spells it.
    #[error("{0}")]
    Usage(String),
    /// The machine lacks what this run needs (root, namespaces, a kernel
    /// feature): one line per missing thing, with what provides it.
    #[error("{message}")]
    Missing {
        /// What is missing, for people.
        message: String,
        /// Whether root (privileges) is among what is missing.
        privileges: bool,
    },
    /// The work ran and did not do what it should; the message says what.
    #[error("{0}")]
    Failed(String),
    /// A step failed: `context` says which, the source why.
    #[error("{context}")]
    Context {
        /// What was being done, e.g. `creating path 2`.
        context: String,
        /// Why it failed.
        #[source]
        source: Cause,
    },
    /// An error of another crate or of a system call, as it came.
    #[error(transparent)]
    Other(Cause),
}

macro_rules! from_cause {
    ($($t:ty),*) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Error {
                Error::Other(Box::new(e))
            }
        }
    )*};
}

from_cause!(std::io::Error, mptcp_netns::Error, mptcp_transfer::Error, mptcp::pm::Error, mptcp_daemon::Error);

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Whether this is bad input ([`Error::Usage`]).
    pub fn is_usage(&self) -> bool {
        matches!(self, Error::Usage(_))
    }

    /// The message with every cause after it, `: `-separated.
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp_lab::Error;
    ///
    /// let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
    /// let e = Error::Context { context: "reading the trace".into(), source: Box::new(io) };
    /// assert_eq!(e.chain(), "reading the trace: no such file");
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

impl<T, E: Into<Cause>> Context<T> for std::result::Result<T, E> {
    fn context(self, context: impl Into<String>) -> Result<T> {
        self.map_err(|e| Error::Context { context: context.into(), source: e.into() })
    }

    fn with_context<S: Into<String>>(self, f: impl FnOnce() -> S) -> Result<T> {
        self.map_err(|e| Error::Context { context: f().into(), source: e.into() })
    }
}

impl<T> Context<T> for Option<T> {
    fn context(self, context: impl Into<String>) -> Result<T> {
        self.ok_or_else(|| Error::Failed(context.into()))
    }

    fn with_context<S: Into<String>>(self, f: impl FnOnce() -> S) -> Result<T> {
        self.ok_or_else(|| Error::Failed(f().into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chain_reads_like_anyhow_s() {
        let r: std::result::Result<(), std::io::Error> = Err(std::io::Error::other("refused"));
        let e = r.context("adding endpoint").with_context(|| "in namespace c").unwrap_err();
        assert_eq!(e.to_string(), "in namespace c");
        assert_eq!(e.chain(), "in namespace c: adding endpoint: refused");
        assert!(!e.is_usage());
        let none: Option<u8> = None;
        assert_eq!(none.context("no answer").unwrap_err().chain(), "no answer");
    }
}
