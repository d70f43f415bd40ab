//! Creating MPTCP sockets, with a precise fallback policy.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

use crate::host::{Availability, Unavailable};

/// What to do when the host cannot create MPTCP sockets.
///
/// Only the errors that mean "MPTCP is unavailable here" at socket creation
/// (`EPROTONOSUPPORT`, `EINVAL`, `ENOPROTOOPT`) trigger the policy. Errors
/// from `connect`, `bind` or `listen` (refused, timed out, address in use)
/// are always returned as they are, after exactly one attempt.
///
/// Other policies may come, so the enum is `#[non_exhaustive]`.
///
/// # Examples
///
/// ```
/// use mptcp::{FallbackPolicy, MptcpBuilder, Unavailable};
///
/// assert_eq!(FallbackPolicy::default(), FallbackPolicy::Tcp);
/// // `Fail`: an error that says why, rather than a plain TCP socket.
/// match MptcpBuilder::new().fallback(FallbackPolicy::Fail).socket(socket2::Domain::IPV4) {
///     Ok(_) => println!("an MPTCP socket"),
///     Err(e) => {
///         let why = e.get_ref().and_then(|inner| inner.downcast_ref::<Unavailable>());
///         println!("{e} (availability: {:?})", why.map(Unavailable::availability));
///     }
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum FallbackPolicy {
    /// Create a plain TCP socket instead (the default, like Go).
    #[default]
    Tcp,
    /// Fail with an `io::Error` of kind `Unsupported` that wraps an
    /// [`Unavailable`]: why MPTCP is unavailable, as an [`Availability`].
    Fail,
}

/// Creates a socket for `domain`: MPTCP when possible, else per `policy`.
///
/// Performs `socket(2)` with `IPPROTO_MPTCP`, and on an "unavailable" error
/// a second `socket(2)` with `IPPROTO_TCP` (only with [`FallbackPolicy::Tcp`]).
///
/// # Errors
///
/// With [`FallbackPolicy::Fail`] where MPTCP is unavailable: kind
/// `Unsupported`, wrapping an [`Unavailable`]. Any other error of
/// `socket(2)` as it is.
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
    let (availability, os) = match try_mptcp(domain)? {
        Ok(s) => return Ok(s),
        Err(why) => why,
    };
    match policy {
        FallbackPolicy::Tcp => Socket::new(domain, Type::STREAM, Some(Protocol::TCP)),
        FallbackPolicy::Fail => Err(Unavailable::io_error(availability, os)),
    }
}

/// `Ok(Ok(socket))`, `Ok(Err(why))` where MPTCP is unavailable (with the
/// error `socket(2)` gave), `Err` for any other error (no fallback then).
#[cfg(mptcp_linux)]
fn try_mptcp(domain: Domain) -> io::Result<Result<Socket, (Availability, Option<io::Error>)>> {
    match crate::sys::mptcp_socket(domain) {
        Ok(s) => Ok(Ok(s)),
        Err(e) if Availability::means_unavailable(&e) => Ok(Err((Availability::from_socket_error(&e), Some(e)))),
        Err(e) => Err(e),
    }
}

/// Elsewhere MPTCP does not exist.
#[cfg(not(mptcp_linux))]
fn try_mptcp(_: Domain) -> io::Result<Result<Socket, (Availability, Option<io::Error>)>> {
    Ok(Err((Availability::Unsupported, None)))
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
    plain_tcp: bool,
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
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp::MptcpBuilder;
    ///
    /// let listener = MptcpBuilder::new().bind("127.0.0.1:0")?;
    /// assert!(socket2::SockRef::from(&listener).reuse_address()?); // the listener default
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new() -> MptcpBuilder {
        MptcpBuilder::default()
    }

    /// Sets the fallback policy.
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp::{FallbackPolicy, MptcpBuilder};
    ///
    /// let strict = MptcpBuilder::new().fallback(FallbackPolicy::Fail).socket(socket2::Domain::IPV4);
    /// assert_eq!(strict.is_ok(), mptcp::host_support().is_available());
    /// ```
    pub fn fallback(mut self, policy: FallbackPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Whether to ask for MPTCP at all (default `true`). With `false` the
    /// builder makes plain TCP sockets with the same options: a baseline to
    /// compare MPTCP against.
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp::MptcpBuilder;
    ///
    /// let socket = MptcpBuilder::new().mptcp(false).socket(socket2::Domain::IPV4)?;
    /// assert_eq!(socket.protocol()?, Some(socket2::Protocol::TCP));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn mptcp(mut self, on: bool) -> Self {
        self.plain_tcp = !on;
        self
    }

    /// `TCP_NODELAY`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let stream = mptcp::MptcpBuilder::new().nodelay(true).connect("127.0.0.1:5201")?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn nodelay(mut self, on: bool) -> Self {
        self.nodelay = Some(on);
        self
    }

    /// `SO_REUSEADDR` (default on for listeners).
    ///
    /// # Examples
    ///
    /// ```
    /// let socket = mptcp::MptcpBuilder::new().reuse_address(true).socket(socket2::Domain::IPV4)?;
    /// assert!(socket.reuse_address()?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn reuse_address(mut self, on: bool) -> Self {
        self.reuse_address = Some(on);
        self
    }

    /// `SO_REUSEPORT`.
    ///
    /// # Examples
    ///
    /// ```
    /// let socket = mptcp::MptcpBuilder::new().reuse_port(true).socket(socket2::Domain::IPV4)?;
    /// assert!(socket.reuse_port()?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn reuse_port(mut self, on: bool) -> Self {
        self.reuse_port = Some(on);
        self
    }

    /// `TCP_CONGESTION` (propagates to every subflow), e.g. `cubic`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let stream = mptcp::MptcpBuilder::new().congestion("bbr").connect("127.0.0.1:5201")?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn congestion(mut self, name: &str) -> Self {
        self.congestion = Some(name.to_string());
        self
    }

    /// `SO_SNDBUF` in bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// let socket = mptcp::MptcpBuilder::new().send_buffer(64 * 1024).socket(socket2::Domain::IPV4)?;
    /// assert!(socket.send_buffer_size()? >= 64 * 1024); // Linux doubles the value
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn send_buffer(mut self, bytes: usize) -> Self {
        self.send_buffer = Some(bytes);
        self
    }

    /// `SO_RCVBUF` in bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// let socket = mptcp::MptcpBuilder::new().recv_buffer(64 * 1024).socket(socket2::Domain::IPV4)?;
    /// assert!(socket.recv_buffer_size()? >= 64 * 1024); // Linux doubles the value
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn recv_buffer(mut self, bytes: usize) -> Self {
        self.recv_buffer = Some(bytes);
        self
    }

    /// `SO_BINDTODEVICE`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// // Only through eth1 (needs CAP_NET_RAW on kernels before 5.7).
    /// let stream = mptcp::MptcpBuilder::new().bind_device("eth1").connect("10.0.1.2:5201")?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn bind_device(mut self, ifname: &str) -> Self {
        self.bind_device = Some(ifname.to_string());
        self
    }

    /// `IPV6_V6ONLY` for IPv6 sockets.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// // IPv6 clients only; IPv4 ones are not accepted through mapped addresses.
    /// let listener = mptcp::MptcpBuilder::new().only_v6(true).bind("[::]:5201")?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn only_v6(mut self, on: bool) -> Self {
        self.only_v6 = Some(on);
        self
    }

    /// Binds the client socket to this local address before connecting,
    /// with every front end ([`connect`](Self::connect), `connect_async`,
    /// the hyper connector). Of the addresses a name resolves to, only
    /// those of the local address's family are tried.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// // The initial subflow leaves from 10.0.2.1, any port.
    /// let local = "10.0.2.1:0".parse().unwrap();
    /// let stream = mptcp::MptcpBuilder::new().local_addr(local).connect("10.0.1.2:5201")?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn local_addr(mut self, addr: SocketAddr) -> Self {
        self.local_addr = Some(addr);
        self
    }

    /// Bounds each connect attempt.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use mptcp::MptcpBuilder;
    ///
    /// let listener = MptcpBuilder::new().bind("127.0.0.1:0")?;
    /// let stream = MptcpBuilder::new().connect_timeout(Duration::from_secs(2)).connect(listener.local_addr()?)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// Listen backlog (default 1024).
    ///
    /// # Examples
    ///
    /// ```
    /// let listener = mptcp::MptcpBuilder::new().backlog(16).bind("127.0.0.1:0")?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn backlog(mut self, backlog: i32) -> Self {
        self.backlog = Some(backlog);
        self
    }

    /// Creates the socket for `domain` with every option applied.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::TcpStream;
    /// use mptcp::MptcpBuilder;
    /// use socket2::Domain;
    ///
    /// let listener = MptcpBuilder::new().bind("127.0.0.1:0")?;
    /// let socket = MptcpBuilder::new().socket(Domain::IPV4)?;
    /// socket.set_keepalive(true)?; // an option the builder lacks
    /// socket.connect(&listener.local_addr()?.into())?;
    /// let stream: TcpStream = socket.into();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn socket(&self, domain: Domain) -> io::Result<Socket> {
        let s = if self.plain_tcp {
            Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?
        } else {
            new_socket(domain, self.policy)?
        };
        self.apply(&s, domain)?;
        Ok(s)
    }

    fn apply(&self, s: &Socket, domain: Domain) -> io::Result<()> {
        fn named<T>(opt: &str, r: io::Result<T>) -> io::Result<T> {
            r.map_err(|e| io::Error::new(e.kind(), format!("setting {opt} failed: {e}")))
        }
        if let Some(v) = self.nodelay {
            named("TCP_NODELAY", s.set_tcp_nodelay(v))?;
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

    /// Binds and listens on `addr` (each resolved address tried once).
    ///
    /// # Examples
    ///
    /// ```
    /// let listener = mptcp::MptcpBuilder::new().bind("127.0.0.1:0")?;
    /// assert_ne!(listener.local_addr()?.port(), 0); // the kernel picked a port
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn bind<A: ToSocketAddrs>(&self, addr: A) -> io::Result<TcpListener> {
        each_addr(addr, |a| self.bind_addr(a))
    }

    /// Binds and listens on one address.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::{Ipv4Addr, SocketAddr};
    ///
    /// let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    /// let listener = mptcp::MptcpBuilder::new().bind_addr(&addr)?;
    /// assert_eq!(listener.local_addr()?.ip(), addr.ip());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn bind_addr(&self, addr: &SocketAddr) -> io::Result<TcpListener> {
        let s = self.listen_socket(addr)?;
        Ok(s.into())
    }

    pub(crate) fn connect_timeout_value(&self) -> Option<Duration> {
        self.connect_timeout
    }

    pub(crate) fn local_addr_value(&self) -> Option<SocketAddr> {
        self.local_addr
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
///
/// # Examples
///
/// ```
/// use std::net::{TcpListener, TcpStream};
/// use mptcp::{MptcpListenerExt, MptcpStreamExt};
///
/// let listener = TcpListener::bind_mptcp("127.0.0.1:0")?;
/// let stream = TcpStream::connect_mptcp(listener.local_addr()?)?;
/// assert_eq!(listener.accept()?.1, stream.local_addr()?);
/// # Ok::<(), std::io::Error>(())
/// ```
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
///
/// # Examples
///
/// ```
/// use std::net::{TcpListener, TcpStream};
/// use mptcp::MptcpListenerExt;
///
/// let listener = TcpListener::bind_mptcp("127.0.0.1:0")?;
/// // Plain TCP clients are accepted too.
/// let client = TcpStream::connect(listener.local_addr()?)?;
/// assert_eq!(listener.accept()?.1, client.local_addr()?);
/// # Ok::<(), std::io::Error>(())
/// ```
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
