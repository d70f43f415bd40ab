//! [`ConnectError`]: why [`MptcpConnector`](super::MptcpConnector) could not connect.

use std::io;
use std::net::SocketAddr;

use crate::dial::Attempts;
use crate::Attempt;

/// A boxed error, as resolvers return them.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why [`MptcpConnector`](super::MptcpConnector) could not connect.
///
/// hyper-util's client wraps it (`hyper_util::client::legacy::Error`, whose
/// `source()` chain leads here); hyper-rustls boxes it. It converts into an
/// [`io::Error`] of the matching kind.
///
/// # Examples
///
/// ```
/// use mptcp::hyper::{ConnectError, MptcpConnector};
/// use tower_service::Service;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// // A plain connector refuses https unless told otherwise (enforce_http).
/// let err = MptcpConnector::new().call("https://127.0.0.1/".parse().unwrap()).await.unwrap_err();
/// assert!(matches!(err, ConnectError::InvalidUri { .. }), "{err}");
/// assert_eq!(std::io::Error::from(err).kind(), std::io::ErrorKind::InvalidInput);
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The URI cannot be connected to: no scheme or host, or a scheme
    /// other than `http` while `enforce_http` is on.
    #[error("cannot connect to {uri:?}: {reason}")]
    InvalidUri {
        /// The URI as given.
        uri: String,
        /// What is wrong with it, and what to do.
        reason: &'static str,
    },
    /// The resolver failed.
    #[error("cannot resolve {host:?}: {source}")]
    Resolve {
        /// The host name.
        host: String,
        /// The resolver's error.
        #[source]
        source: BoxError,
    },
    /// The host resolved to no address this connector may use (none at all,
    /// or none of the family its local address allows).
    #[error("{host:?} has no address to connect to{why}")]
    NoAddress {
        /// The host name.
        host: String,
        /// Why the addresses it had were left out, if they were.
        why: &'static str,
    },
    /// Preparing a socket failed before any connect: creating it (with
    /// `FallbackPolicy::Fail` where MPTCP is unavailable: kind `Unsupported`
    /// wrapping a [`crate::Unavailable`]), an option, binding the local
    /// address, reading its status. No other address is tried after it.
    #[error("preparing the socket for {addr} failed: {source}")]
    Setup {
        /// The address the socket was for.
        addr: SocketAddr,
        /// What the kernel said; option errors name the option.
        #[source]
        source: io::Error,
    },
    /// Every connect attempt failed (refused, unreachable, timed out). No
    /// attempt is repeated over plain TCP.
    #[error("connecting to {host} failed: {}", Attempts(attempts))]
    Connect {
        /// The host as given in the URI.
        host: String,
        /// Each address tried, in the order the attempts ended.
        attempts: Vec<Attempt>,
    },
}

impl From<ConnectError> for io::Error {
    fn from(e: ConnectError) -> io::Error {
        let kind = match &e {
            ConnectError::InvalidUri { .. } => io::ErrorKind::InvalidInput,
            ConnectError::Resolve { .. } | ConnectError::NoAddress { .. } => io::ErrorKind::NotFound,
            ConnectError::Setup { source, .. } => source.kind(),
            ConnectError::Connect { attempts, .. } => {
                attempts.first().map(|a| a.error.kind()).unwrap_or(io::ErrorKind::NotConnected)
            }
        };
        io::Error::new(kind, e)
    }
}
