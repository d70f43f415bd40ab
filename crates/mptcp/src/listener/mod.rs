//! Listeners for servers that want to know, per client, what it got: MPTCP,
//! plain TCP, or MPTCP asked for and lost on the way.
//!
//! An MPTCP listener accepts MPTCP and plain-TCP clients alike, and the
//! accepted socket's own status ([`MptcpExt::mptcp_status`]) tells them
//! apart, except in one case: when a middlebox strips MP_CAPABLE from the
//! server's SYN-ACK, both ends fall back during the handshake and `accept()`
//! returns a plain TCP socket, the same as for a client that never asked.
//! Only the namespace's `MPCapableFallbackACK` counter shows the difference.
//! [`MptcpListener`] (std) and [`AsyncMptcpListener`] (tokio) read it for you
//! ([`PassiveFallbackDetector`])
//! and hand back each stream with an [`AcceptedStatus`].
//!
//! The counters are read only for clients whose socket says plain TCP, from
//! a file opened when the listener was made: the counters of the network
//! namespace of the thread that made it, whichever thread accepts later.
//! Their limits (exact counts, attribution exact when handshakes do not
//! overlap, other listeners of the namespace counted too) are those of
//! [`PassiveFallbackDetector`].
//!
//! # Examples
//!
//! ```no_run
//! use mptcp::listener::{AcceptedStatus, MptcpListener};
//!
//! let listener = MptcpListener::bind("[::]:8080")?;
//! loop {
//!     let (stream, peer, status) = listener.accept()?;
//!     if status == AcceptedStatus::Fallback {
//!         eprintln!("{peer} asked for MPTCP; something on the path removed it");
//!     }
//! }
//! # Ok::<(), std::io::Error>(())
//! ```
//!
#![cfg_attr(not(feature = "tokio"), doc = "[`AsyncMptcpListener`]: crate#features")]

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Seek};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Mutex;

use crate::counters::{CountersError, MptcpCounters, PassiveFallbackDetector, NETSTAT_PATH};
use crate::{MptcpBuilder, MptcpExt, MptcpStatus};

#[cfg(feature = "tokio")]
mod async_io;
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use async_io::AsyncMptcpListener;

/// What a listener found for one accepted connection.
///
/// # Examples
///
/// ```
/// use mptcp::listener::AcceptedStatus;
/// use mptcp::MptcpStatus;
///
/// assert_eq!(AcceptedStatus::Fallback.status(), MptcpStatus::Fallback);
/// assert_eq!(AcceptedStatus::Unverified.status(), MptcpStatus::Tcp);
/// assert_eq!(AcceptedStatus::Mptcp.to_string(), "mptcp");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
#[non_exhaustive]
pub enum AcceptedStatus {
    /// The connection uses MPTCP.
    Mptcp,
    /// The client asked for MPTCP and the connection is plain TCP: stripped
    /// on the way (seen in the namespace's counters), or fallen back on the
    /// accepted MPTCP socket.
    Fallback,
    /// Plain TCP: the client did not ask for MPTCP (or the listener is a
    /// plain TCP one, where the host has no MPTCP).
    Tcp,
    /// Plain TCP on the socket; whether the client had asked for MPTCP is
    /// unknown, because the counters (or the socket's status) could not be
    /// read.
    Unverified,
}

impl AcceptedStatus {
    /// As an [`MptcpStatus`] (`Unverified` is [`MptcpStatus::Tcp`]: what
    /// the socket says).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(mptcp::listener::AcceptedStatus::Mptcp.status().is_mptcp());
    /// ```
    pub fn status(self) -> MptcpStatus {
        match self {
            AcceptedStatus::Mptcp => MptcpStatus::Mptcp,
            AcceptedStatus::Fallback => MptcpStatus::Fallback,
            AcceptedStatus::Tcp | AcceptedStatus::Unverified => MptcpStatus::Tcp,
        }
    }

    /// `mptcp`, `fallback`, `tcp` or `unverified`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(mptcp::listener::AcceptedStatus::Unverified.as_str(), "unverified");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            AcceptedStatus::Mptcp => "mptcp",
            AcceptedStatus::Fallback => "fallback",
            AcceptedStatus::Tcp => "tcp",
            AcceptedStatus::Unverified => "unverified",
        }
    }
}

impl From<AcceptedStatus> for MptcpStatus {
    /// As [`AcceptedStatus::status`].
    fn from(s: AcceptedStatus) -> MptcpStatus {
        s.status()
    }
}

impl fmt::Display for AcceptedStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Classifies accepted sockets; shared by the std and tokio listeners.
#[derive(Debug)]
pub(crate) enum Classifier {
    /// Nothing to detect: a plain TCP listener (no MPTCP on this host).
    PlainListener,
    /// The namespace's counters, read after each plain-TCP accept.
    Counters(Mutex<Passive>),
    /// The counters could not be read when the listener was made.
    Unreadable,
}

#[derive(Debug)]
pub(crate) struct Passive {
    /// `/proc/thread-self/net/netstat` of the namespace the listener was made in.
    netstat: File,
    detector: PassiveFallbackDetector,
    text: String,
}

impl Passive {
    fn snapshot(netstat: &mut File, text: &mut String) -> Result<MptcpCounters, CountersError> {
        let read = |e| CountersError::Read { path: NETSTAT_PATH.into(), source: e };
        netstat.rewind().map_err(read)?;
        text.clear();
        netstat.read_to_string(text).map_err(read)?;
        MptcpCounters::parse(text)
    }
}

impl Classifier {
    /// Starts from the counters now, for the listener `fd`. Must run on a
    /// thread of the listener's network namespace.
    pub(crate) fn new(listener: BorrowedFd<'_>) -> Classifier {
        if !listener.created_as_mptcp().unwrap_or(false) {
            return Classifier::PlainListener;
        }
        let start = || -> Result<Passive, CountersError> {
            let mut netstat =
                File::open(NETSTAT_PATH).map_err(|e| CountersError::Read { path: NETSTAT_PATH.into(), source: e })?;
            let mut text = String::new();
            let now = Passive::snapshot(&mut netstat, &mut text)?;
            Ok(Passive { netstat, detector: PassiveFallbackDetector::starting_at(&now)?, text })
        };
        match start() {
            Ok(p) => Classifier::Counters(Mutex::new(p)),
            Err(_) => Classifier::Unreadable,
        }
    }

    /// The status of a socket just accepted.
    pub(crate) fn classify(&self, conn: BorrowedFd<'_>) -> AcceptedStatus {
        let own = match conn.mptcp_status() {
            Ok(MptcpStatus::Mptcp) => return AcceptedStatus::Mptcp,
            Ok(MptcpStatus::Fallback) => return AcceptedStatus::Fallback,
            Ok(MptcpStatus::Tcp) => MptcpStatus::Tcp,
            Err(_) => return AcceptedStatus::Unverified,
        };
        let passive = match self {
            Classifier::PlainListener => return AcceptedStatus::Tcp,
            Classifier::Unreadable => return AcceptedStatus::Unverified,
            Classifier::Counters(p) => p,
        };
        let mut guard = passive.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let p = &mut *guard;
        let verdict = Passive::snapshot(&mut p.netstat, &mut p.text).and_then(|now| p.detector.classify_at(own, &now));
        match verdict {
            Ok(MptcpStatus::Fallback) => AcceptedStatus::Fallback,
            Ok(_) => AcceptedStatus::Tcp,
            Err(_) => AcceptedStatus::Unverified,
        }
    }
}

/// An MPTCP listener (std) whose `accept` also says what each client got,
/// passive fallback included (see the [module docs](self)).
///
/// # Examples
///
/// ```
/// use std::net::TcpStream;
/// use mptcp::listener::{AcceptedStatus, MptcpListener};
///
/// let listener = MptcpListener::bind("127.0.0.1:0")?;
/// let _client = TcpStream::connect(listener.local_addr()?)?; // plain TCP
/// let (_stream, _peer, status) = listener.accept()?;
/// assert_eq!(status, AcceptedStatus::Tcp);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct MptcpListener {
    inner: TcpListener,
    classifier: Classifier,
}

impl MptcpListener {
    /// Binds with [`MptcpBuilder::bind`] (MPTCP, plain TCP where the host
    /// has none).
    ///
    /// # Errors
    ///
    /// As [`MptcpBuilder::bind`].
    ///
    /// # Examples
    ///
    /// ```
    /// let listener = mptcp::listener::MptcpListener::bind("127.0.0.1:0")?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<MptcpListener> {
        Ok(MptcpListener::from_std(MptcpBuilder::new().bind(addr)?))
    }

    /// Wraps a listener made elsewhere (e.g. [`MptcpBuilder::bind`] with
    /// options). Call it on a thread of the listener's network namespace:
    /// the counters are that namespace's from now on.
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp::{listener::MptcpListener, MptcpBuilder};
    ///
    /// let listener = MptcpListener::from_std(MptcpBuilder::new().backlog(64).bind("127.0.0.1:0")?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn from_std(listener: TcpListener) -> MptcpListener {
        let classifier = Classifier::new(listener.as_fd());
        MptcpListener { inner: listener, classifier }
    }

    /// Accepts a client: its stream, address, and [`AcceptedStatus`]. Call
    /// it as soon as possible after each connection (accepting late lets
    /// handshakes overlap, which blurs the attribution of fallbacks).
    ///
    /// # Errors
    ///
    /// As `accept(2)`. Counters that cannot be read never lose the client:
    /// its status is then [`AcceptedStatus::Unverified`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let listener = mptcp::listener::MptcpListener::bind("[::]:8080")?;
    /// let (stream, peer, status) = listener.accept()?;
    /// println!("{peer}: {status}");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr, AcceptedStatus)> {
        let (stream, peer) = self.inner.accept()?;
        let status = self.classifier.classify(stream.as_fd());
        Ok((stream, peer, status))
    }

    /// The address it listens on.
    ///
    /// # Examples
    ///
    /// ```
    /// let listener = mptcp::listener::MptcpListener::bind("127.0.0.1:0")?;
    /// assert_ne!(listener.local_addr()?.port(), 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// The std listener inside.
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp::MptcpExt;
    ///
    /// let listener = mptcp::listener::MptcpListener::bind("127.0.0.1:0")?;
    /// assert_eq!(listener.get_ref().created_as_mptcp()?, mptcp::host_support().is_available());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn get_ref(&self) -> &TcpListener {
        &self.inner
    }

    /// The std listener, without the classification.
    ///
    /// # Examples
    ///
    /// ```
    /// let std_listener = mptcp::listener::MptcpListener::bind("127.0.0.1:0")?.into_inner();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn into_inner(self) -> TcpListener {
        self.inner
    }
}

impl AsFd for MptcpListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_fd()
    }
}
