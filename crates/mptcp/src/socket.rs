//! Creating MPTCP sockets, with a precise fallback policy.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

use crate::host::Availability;

/// What to do when the host cannot create MPTCP sockets.
///
/// Only the errors that mean "MPTCP is unavailable here" at socket creation
/// (`EPROTONOSUPPORT`, `EINVAL`, `ENOPROTOOPT`) trigger the policy. Errors
/// from `connect`, `bind` or `listen` (refused, timed out, address in use)
/// are always returned as they are, after exactly one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FallbackPolicy {
    /// Create a plain TCP socket instead (the default, like Go).
    #[default]
    Tcp,
    /// Fail with an error that says why MPTCP is unavailable.
    Fail,
}

/// Creates a socket for `domain`: MPTCP when possible, else per `policy`.
///
/// Performs `socket(2)` with `IPPROTO_MPTCP`, and on an "unavailable" error
/// a second `socket(2)` with `IPPROTO_TCP` (only with [`FallbackPolicy::Tcp`]).
///
/// # Examples
///
/// ```
/// use mptcp::{new_socket, FallbackPolicy};
/// use socket2::Domain;
///
/// let socket = new_socket(Domain::IPV4, FallbackPolicy::Tcp)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn new_socket(domain: Domain, policy: FallbackPolicy) -> io::Result<Socket> {
    if !cfg!(mptcp_linux) {
        return match policy {
            FallbackPolicy::Tcp => Socket::new(domain, Type::STREAM, Some(Protocol::TCP)),
            FallbackPolicy::Fail => Err(io::Error::new(io::ErrorKind::Unsupported, "MPTCP exists only on Linux")),
        };
    }
    match Socket::new(domain, Type::STREAM, Some(Protocol::from(crate::IPPROTO_MPTCP))) {
        Ok(s) => Ok(s),
        Err(e) if Availability::means_unavailable(&e) => match policy {
            FallbackPolicy::Tcp => Socket::new(domain, Type::STREAM, Some(Protocol::TCP)),
            FallbackPolicy::Fail => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("MPTCP is unavailable: {} ({e})", Availability::from_socket_error(&e).describe()),
            )),
        },
        Err(e) => Err(e),
    }
}

/// Builds MPTCP sockets: options set before `connect`/`listen`, IPv4 or
/// IPv6, and a [`FallbackPolicy`].
///
/// Option failures name the option (MPTCP sockets refuse a few TCP options,
/// e.g. `TCP_USER_TIMEOUT` on some kernels).
///
/// # Examples
///
/// ```no_run
/// use mptcp::{FallbackPolicy, MptcpBuilder};
///
/// let stream = MptcpBuilder::new()
///     .fallback(FallbackPolicy::Fail)
///     .nodelay(true)
///     .congestion("cubic")
///     .connect("127.0.0.1:5201")?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct MptcpBuilder {
    policy: FallbackPolicy,
    nodelay: Option<bool>,
    reuse_address: Option<bool>,
    reuse_port: Option<bool>,
    congestion: Option<String>,
    send_buffer: Option<usize>,
    recv_buffer: Option<usize>,
    bind_device: Option<String>,
    only_v6: Option<bool>,
    local_addr: Option<SocketAddr>,
    connect_timeout: Option<Duration>,
    backlog: Option<i32>,
}

impl MptcpBuilder {
    /// A builder with the defaults: fall back to TCP, kernel defaults for
    /// every option, `SO_REUSEADDR` on listeners.
    pub fn new() -> MptcpBuilder {
        MptcpBuilder::default()
    }

    /// Sets the fallback policy.
    pub fn fallback(mut self, policy: FallbackPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// `TCP_NODELAY`.
    pub fn nodelay(mut self, on: bool) -> Self {
        self.nodelay = Some(on);
        self
    }

    /// `SO_REUSEADDR` (default on for listeners).
    pub fn reuse_address(mut self, on: bool) -> Self {
        self.reuse_address = Some(on);
        self
    }

    /// `SO_REUSEPORT`.
    pub fn reuse_port(mut self, on: bool) -> Self {
        self.reuse_port = Some(on);
        self
    }

    /// `TCP_CONGESTION` (propagates to every subflow), e.g. `cubic`.
    pub fn congestion(mut self, name: &str) -> Self {
        self.congestion = Some(name.to_string());
        self
    }

    /// `SO_SNDBUF` in bytes.
    pub fn send_buffer(mut self, bytes: usize) -> Self {
        self.send_buffer = Some(bytes);
        self
    }

    /// `SO_RCVBUF` in bytes.
    pub fn recv_buffer(mut self, bytes: usize) -> Self {
        self.recv_buffer = Some(bytes);
        self
    }

    /// `SO_BINDTODEVICE`.
    pub fn bind_device(mut self, ifname: &str) -> Self {
        self.bind_device = Some(ifname.to_string());
        self
    }

    /// `IPV6_V6ONLY` for IPv6 sockets.
    pub fn only_v6(mut self, on: bool) -> Self {
        self.only_v6 = Some(on);
        self
    }

    /// Binds the client socket to this local address before connecting.
    pub fn local_addr(mut self, addr: SocketAddr) -> Self {
        self.local_addr = Some(addr);
        self
    }

    /// Bounds each connect attempt.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// Listen backlog (default 1024).
    pub fn backlog(mut self, backlog: i32) -> Self {
        self.backlog = Some(backlog);
        self
    }

    /// Creates the socket for `domain` with every option applied.
    pub fn socket(&self, domain: Domain) -> io::Result<Socket> {
        let s = new_socket(domain, self.policy)?;
        self.apply(&s, domain)?;
        Ok(s)
    }

    fn apply(&self, s: &Socket, domain: Domain) -> io::Result<()> {
        fn named<T>(opt: &str, r: io::Result<T>) -> io::Result<T> {
            r.map_err(|e| io::Error::new(e.kind(), format!("setting {opt} failed: {e}")))
        }
        if let Some(v) = self.nodelay {
            named("TCP_NODELAY", s.set_nodelay(v))?;
        }
        if let Some(v) = self.reuse_address {
            named("SO_REUSEADDR", s.set_reuse_address(v))?;
        }
        #[cfg(unix)]
        if let Some(v) = self.reuse_port {
            named("SO_REUSEPORT", s.set_reuse_port(v))?;
        }
        #[cfg(target_os = "linux")]
        if let Some(cc) = &self.congestion {
            named(&format!("TCP_CONGESTION={cc}"), s.set_tcp_congestion(cc.as_bytes()))?;
        }
        if let Some(v) = self.send_buffer {
            named("SO_SNDBUF", s.set_send_buffer_size(v))?;
        }
        if let Some(v) = self.recv_buffer {
            named("SO_RCVBUF", s.set_recv_buffer_size(v))?;
        }
        #[cfg(target_os = "linux")]
        if let Some(dev) = &self.bind_device {
            named(&format!("SO_BINDTODEVICE={dev}"), s.bind_device(Some(dev.as_bytes())))?;
        }
        if domain == Domain::IPV6 {
            if let Some(v) = self.only_v6 {
                named("IPV6_V6ONLY", s.set_only_v6(v))?;
            }
        }
        Ok(())
    }

    /// Connects to `addr` (each resolved address tried once, in order, as
    /// `std` does). No second dial over TCP: a refused or timed-out connect
    /// is returned as is.
    pub fn connect<A: ToSocketAddrs>(&self, addr: A) -> io::Result<TcpStream> {
        each_addr(addr, |a| self.connect_addr(a))
    }

    /// Connects to one address.
    pub fn connect_addr(&self, addr: &SocketAddr) -> io::Result<TcpStream> {
        let s = self.socket(Domain::for_address(*addr))?;
        if let Some(local) = self.local_addr {
            s.bind(&local.into())?;
        }
        match self.connect_timeout {
            Some(t) => s.connect_timeout(&(*addr).into(), t)?,
            None => s.connect(&(*addr).into())?,
        }
        Ok(s.into())
    }

    /// Binds and listens on `addr` (each resolved address tried once).
    pub fn bind<A: ToSocketAddrs>(&self, addr: A) -> io::Result<TcpListener> {
        each_addr(addr, |a| self.bind_addr(a))
    }

    /// Binds and listens on one address.
    pub fn bind_addr(&self, addr: &SocketAddr) -> io::Result<TcpListener> {
        let s = self.listen_socket(addr)?;
        Ok(s.into())
    }

    #[cfg(feature = "tokio")]
    pub(crate) fn connect_timeout_value(&self) -> Option<Duration> {
        self.connect_timeout
    }

    /// A bound, listening socket.
    pub(crate) fn listen_socket(&self, addr: &SocketAddr) -> io::Result<Socket> {
        let s = self.socket(Domain::for_address(*addr))?;
        if self.reuse_address.is_none() {
            s.set_reuse_address(true)?;
        }
        s.bind(&(*addr).into())?;
        s.listen(self.backlog.unwrap_or(1024))?;
        Ok(s)
    }
}

pub(crate) fn each_addr<A: ToSocketAddrs, T>(
    addr: A,
    mut f: impl FnMut(&SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = None;
    for a in addr.to_socket_addrs()? {
        match f(&a) {
            Ok(v) => return Ok(v),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "could not resolve to any address")))
}

/// `TcpStream::connect_mptcp`: connect with MPTCP, falling back to TCP
/// only when the host cannot create MPTCP sockets.
pub trait MptcpStreamExt: Sized {
    /// Connects to `addr` over MPTCP (plain TCP where the host has no MPTCP).
    ///
    /// # Errors
    ///
    /// Connect errors (`ECONNREFUSED`, timeouts, ...) are returned after one
    /// attempt per resolved address; they never cause a TCP retry.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::net::TcpStream;
    /// use mptcp::MptcpStreamExt;
    ///
    /// let stream = TcpStream::connect_mptcp("127.0.0.1:8080")?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    fn connect_mptcp<A: ToSocketAddrs>(addr: A) -> io::Result<Self>;
}

impl MptcpStreamExt for TcpStream {
    fn connect_mptcp<A: ToSocketAddrs>(addr: A) -> io::Result<Self> {
        MptcpBuilder::new().connect(addr)
    }
}

/// `TcpListener::bind_mptcp`: listen with MPTCP, falling back to TCP only
/// when the host cannot create MPTCP sockets.
pub trait MptcpListenerExt: Sized {
    /// Binds an MPTCP listener to `addr`. It accepts MPTCP and plain TCP
    /// clients alike.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::net::TcpListener;
    /// use mptcp::{MptcpExt, MptcpListenerExt};
    ///
    /// let listener = TcpListener::bind_mptcp("127.0.0.1:8080")?;
    /// let (conn, peer) = listener.accept()?;
    /// println!("{peer}: {}", conn.mptcp_status()?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    fn bind_mptcp<A: ToSocketAddrs>(addr: A) -> io::Result<Self>;
}

impl MptcpListenerExt for TcpListener {
    fn bind_mptcp<A: ToSocketAddrs>(addr: A) -> io::Result<Self> {
        MptcpBuilder::new().bind(addr)
    }
}
