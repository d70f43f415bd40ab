//! The one dial routine of every front end: std
//! ([`MptcpBuilder::connect`], [`MptcpBuilder::dial`]), tokio
//! (`MptcpBuilder::connect_async`) and hyper (`MptcpConnector`).
//!
//! One attempt to one address: create the socket with the builder's
//! [`FallbackPolicy`](crate::FallbackPolicy), set its options, bind the local
//! address when there is one, and connect within the timeout, blocking or
//! on tokio. Only socket creation may fall back to TCP; a failed connect is
//! returned, never dialed again over TCP.
//!
//! Around it, the loop over resolved addresses: each one in order, the
//! errors kept ([`Attempt`]), the first connection returned, or a
//! [`DialError`] naming every address tried.

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use socket2::{Domain, Socket};

use crate::socket::MptcpBuilder;

/// One dial: the builder's socket options and policy, a local address and
/// a bound on the connect.
pub(crate) struct Dial<'a> {
    builder: &'a MptcpBuilder,
    local: Option<SocketAddr>,
    timeout: Option<Duration>,
    #[cfg(feature = "hyper")]
    keepalive: Option<&'a socket2::TcpKeepalive>,
}

/// Where a dial failed.
#[derive(Debug)]
pub(crate) enum Failed {
    /// Before any connect: creating the socket (with `FallbackPolicy::Fail`
    /// where MPTCP is unavailable), an option, binding the local address.
    /// The same would happen for every address of the family.
    Setup(io::Error),
    /// The connect itself: refused, unreachable, timed out.
    Connect(io::Error),
}

impl From<Failed> for io::Error {
    fn from(f: Failed) -> io::Error {
        match f {
            Failed::Setup(e) | Failed::Connect(e) => e,
        }
    }
}

impl<'a> Dial<'a> {
    /// A dial with the builder's local address and connect timeout.
    pub(crate) fn new(builder: &'a MptcpBuilder) -> Dial<'a> {
        Dial {
            builder,
            local: builder.local_addr_value(),
            timeout: builder.connect_timeout_value(),
            #[cfg(feature = "hyper")]
            keepalive: None,
        }
    }

    /// Binds this local address instead of the builder's (`None`: none).
    #[cfg(feature = "hyper")]
    pub(crate) fn local(mut self, local: Option<SocketAddr>) -> Self {
        self.local = local;
        self
    }

    /// Bounds the connect with this instead of the builder's timeout.
    #[cfg(feature = "hyper")]
    pub(crate) fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets TCP keepalive on the socket before connecting.
    #[cfg(feature = "hyper")]
    pub(crate) fn keepalive(mut self, keepalive: Option<&'a socket2::TcpKeepalive>) -> Self {
        self.keepalive = keepalive;
        self
    }

    /// The socket for `addr`: created per the fallback policy, every option
    /// set, the local address bound.
    fn socket(&self, addr: SocketAddr) -> io::Result<Socket> {
        let s = self.builder.socket(Domain::for_address(addr))?;
        #[cfg(feature = "hyper")]
        if let Some(k) = self.keepalive {
            s.set_tcp_keepalive(k)
                .map_err(|e| io::Error::new(e.kind(), format!("setting SO_KEEPALIVE and TCP_KEEP* failed: {e}")))?;
        }
        if let Some(local) = self.local {
            if local.is_ipv4() != addr.is_ipv4() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "the local address {local} and the address {addr} are of different families: give a local \
                         address of the family connected to, or none"
                    ),
                ));
            }
            s.bind(&local.into())
                .map_err(|e| io::Error::new(e.kind(), format!("binding the local address {local} failed: {e}")))?;
        }
        Ok(s)
    }

    /// Connects to `addr`, blocking.
    pub(crate) fn connect(&self, addr: SocketAddr) -> Result<TcpStream, Failed> {
        let s = self.socket(addr).map_err(Failed::Setup)?;
        match self.timeout {
            Some(t) => s.connect_timeout(&addr.into(), t),
            None => s.connect(&addr.into()),
        }
        .map_err(Failed::Connect)?;
        Ok(s.into())
    }

    /// Connects to `addr` on tokio's reactor. Dropping the future closes
    /// the half-open socket.
    #[cfg(feature = "tokio")]
    pub(crate) async fn connect_async(&self, addr: SocketAddr) -> Result<tokio::net::TcpStream, Failed> {
        let s = self.socket(addr).map_err(Failed::Setup)?;
        s.set_nonblocking(true).map_err(Failed::Setup)?;
        let connect = tokio::net::TcpSocket::from_std_stream(s.into()).connect(addr);
        match self.timeout {
            Some(t) => tokio::time::timeout(t, connect)
                .await
                .unwrap_or_else(|_| Err(io::Error::new(io::ErrorKind::TimedOut, format!("no answer within {t:?}")))),
            None => connect.await,
        }
        .map_err(Failed::Connect)
    }
}

/// One failed connect attempt.
///
/// # Examples
///
/// ```
/// use mptcp::{Attempt, DialError};
///
/// let err = DialError::Connect {
///     attempts: vec![Attempt { addr: "[2001:db8::1]:80".parse().unwrap(), error: std::io::ErrorKind::TimedOut.into() }],
/// };
/// assert!(err.to_string().contains("[2001:db8::1]:80: timed out"), "{err}");
/// ```
#[derive(Debug)]
pub struct Attempt {
    /// The address.
    pub addr: SocketAddr,
    /// Why it failed (`TimedOut` when the connect timeout ended it).
    pub error: io::Error,
}

/// Attempts as `ADDR: ERROR; ADDR: ERROR`.
pub(crate) struct Attempts<'a>(pub(crate) &'a [Attempt]);

impl fmt::Display for Attempts<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in self.0.iter().enumerate() {
            let sep = if i == 0 { "" } else { "; " };
            write!(f, "{sep}{}: {}", a.addr, a.error)?;
        }
        Ok(())
    }
}

/// Why [`MptcpBuilder::dial`] made no connection.
///
/// It converts into an [`io::Error`]: resolution and setup errors as they
/// are (so an [`Unavailable`](crate::Unavailable) stays reachable with
/// `get_ref()`), failed attempts with the kind of the last one.
///
/// # Examples
///
/// ```
/// use std::io::ErrorKind;
/// use mptcp::{DialError, MptcpBuilder};
///
/// // Two loopback addresses where nothing listens: both are tried, once each.
/// let closed = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
/// let other = std::net::SocketAddr::from(([127, 0, 0, 3], closed.port()));
/// match MptcpBuilder::new().dial(&[closed, other][..]) {
///     Err(DialError::Connect { attempts }) => {
///         assert_eq!(attempts.iter().map(|a| a.addr).collect::<Vec<_>>(), [closed, other]);
///         assert!(attempts.iter().all(|a| a.error.kind() == ErrorKind::ConnectionRefused));
///     }
///     other => panic!("expected two refused attempts, got {other:?}"),
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DialError {
    /// The address could not be resolved (`ToSocketAddrs` failed: a name
    /// unknown to the resolver, or no port).
    #[error("cannot resolve the address: {0}")]
    Resolve(#[source] io::Error),
    /// It resolved to no address to connect to: none at all, or none of
    /// the family of the builder's local address.
    #[error("no address to connect to{why}")]
    NoAddress {
        /// Why the addresses it had were left out, if they were.
        why: &'static str,
    },
    /// Preparing a socket failed before any connect: creating it (with
    /// `FallbackPolicy::Fail` where MPTCP is unavailable: kind
    /// `Unsupported` wrapping an [`Unavailable`](crate::Unavailable)), an
    /// option (named), binding the local address. No other address is
    /// tried after it.
    #[error("preparing the socket for {addr} failed: {source}")]
    Setup {
        /// The address the socket was for.
        addr: SocketAddr,
        /// What the kernel said; option errors name the option.
        #[source]
        source: io::Error,
    },
    /// Every address was tried once, in order, and failed (refused,
    /// unreachable, timed out). No attempt is repeated over plain TCP.
    #[error("{}", Attempts(attempts))]
    Connect {
        /// Each address tried, in order, with its error.
        attempts: Vec<Attempt>,
    },
}

impl From<DialError> for io::Error {
    fn from(e: DialError) -> io::Error {
        match e {
            DialError::Resolve(e) | DialError::Setup { source: e, .. } => e,
            DialError::NoAddress { .. } => io::Error::new(io::ErrorKind::InvalidInput, e),
            DialError::Connect { ref attempts } => {
                let kind = attempts.last().map(|a| a.error.kind()).unwrap_or(io::ErrorKind::NotConnected);
                io::Error::new(kind, e)
            }
        }
    }
}

/// The addresses to try, in order: all of them, or only those of the
/// local address's family when there is one.
pub(crate) fn candidates(
    addrs: impl IntoIterator<Item = SocketAddr>,
    local: Option<SocketAddr>,
) -> Result<Vec<SocketAddr>, DialError> {
    let all: Vec<SocketAddr> = addrs.into_iter().collect();
    if all.is_empty() {
        return Err(DialError::NoAddress { why: "" });
    }
    let allowed: Vec<SocketAddr> = match local {
        Some(l) => all.into_iter().filter(|a| a.is_ipv4() == l.is_ipv4()).collect(),
        None => all,
    };
    if allowed.is_empty() {
        return Err(DialError::NoAddress { why: " of the local address's family" });
    }
    Ok(allowed)
}

/// The attempts of one try-each-address loop.
#[derive(Default)]
pub(crate) struct Tries(Vec<Attempt>);

impl Tries {
    /// Takes the outcome of the attempt at `addr`: the connection, `None`
    /// to go on with the next address, or the error that ends the loop.
    pub(crate) fn record<T>(&mut self, addr: SocketAddr, r: Result<T, Failed>) -> Result<Option<T>, DialError> {
        match r {
            Ok(s) => Ok(Some(s)),
            Err(Failed::Setup(source)) => Err(DialError::Setup { addr, source }),
            Err(Failed::Connect(error)) => {
                self.0.push(Attempt { addr, error });
                Ok(None)
            }
        }
    }

    /// Every address failed.
    pub(crate) fn failed(self) -> DialError {
        DialError::Connect { attempts: self.0 }
    }
}

#[cfg(test)]
#[path = "dial_tests.rs"]
mod tests;

/// The connecting side of [`MptcpBuilder`], beside the dial routine that
/// every front end (std, tokio, hyper) uses.
impl MptcpBuilder {
    /// Connects to `addr`: [`dial`](Self::dial) without the address it
    /// connected to. Each resolved address is tried once, in order; no
    /// second dial over TCP.
    ///
    /// # Errors
    ///
    /// The [`DialError`] as an `io::Error`: when every address failed, of
    /// the kind of the last one's error, naming each address and its error;
    /// an error preparing the socket (creating it, an option, binding the
    /// local address) as it is.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::ErrorKind;
    /// use mptcp::MptcpBuilder;
    ///
    /// let listener = MptcpBuilder::new().bind("127.0.0.1:0")?;
    /// let stream = MptcpBuilder::new().connect(listener.local_addr()?)?;
    /// assert_eq!(stream.peer_addr()?, listener.local_addr()?);
    /// // A refused connect is returned, not retried over TCP.
    /// let closed = listener.local_addr()?;
    /// drop(listener);
    /// assert_eq!(MptcpBuilder::new().connect(closed).unwrap_err().kind(), ErrorKind::ConnectionRefused);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn connect<A: ToSocketAddrs>(&self, addr: A) -> io::Result<TcpStream> {
        Ok(self.dial(addr)?.0)
    }

    /// Connects to the first address of `addr` that accepts, and says which
    /// one: the addresses it resolves to are tried once each, in order (with
    /// a [`local_addr`](Self::local_addr), only those of its family). A
    /// failed connect is never retried over TCP.
    ///
    /// # Errors
    ///
    /// [`DialError::Resolve`] when `addr` cannot be resolved,
    /// [`DialError::NoAddress`] when it resolves to none to try,
    /// [`DialError::Setup`] when a socket cannot be prepared (no other
    /// address is tried then), [`DialError::Connect`] with every address
    /// and its error when all failed.
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp::{DialError, MptcpBuilder};
    ///
    /// let listener = MptcpBuilder::new().bind("127.0.0.1:0")?;
    /// let (stream, addr) = MptcpBuilder::new().dial(listener.local_addr()?).expect("connected");
    /// assert_eq!(addr, listener.local_addr()?); // the address that answered
    /// assert!(matches!(MptcpBuilder::new().dial("localhost"), Err(DialError::Resolve(_)))); // no port
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn dial<A: ToSocketAddrs>(&self, addr: A) -> Result<(TcpStream, SocketAddr), DialError> {
        let addrs = addr.to_socket_addrs().map_err(DialError::Resolve)?;
        let dial = Dial::new(self);
        let mut tries = Tries::default();
        for a in candidates(addrs, self.local_addr_value())? {
            if let Some(s) = tries.record(a, dial.connect(a))? {
                return Ok((s, a));
            }
        }
        Err(tries.failed())
    }

    /// Connects to one address, from the [`local_addr`](Self::local_addr)
    /// if one is set (an error if it is of the other family).
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp::MptcpBuilder;
    ///
    /// let listener = MptcpBuilder::new().bind("127.0.0.1:0")?;
    /// let stream = MptcpBuilder::new().connect_addr(&listener.local_addr()?)?;
    /// assert_eq!(stream.peer_addr()?, listener.local_addr()?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn connect_addr(&self, addr: &SocketAddr) -> io::Result<TcpStream> {
        Ok(Dial::new(self).connect(*addr)?)
    }
}
