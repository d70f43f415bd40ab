//! [`MptcpStream`]: a tokio `TcpStream` for hyper that lends a live view of
//! its MPTCP state ([`MptcpConnectionInfo`]) to whoever asks later.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};

use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::{MptcpExt, MptcpInfo, MptcpStatus, SubflowInfo};

/// A connection for hyper: a tokio `TcpStream` that implements hyper's
/// `rt::Read`/`rt::Write`, hyper-util's `Connection` and tokio's
/// `AsyncRead`/`AsyncWrite`, and hands out [`MptcpConnectionInfo`] handles
/// that answer "MPTCP? how many subflows?" for as long as it lives.
///
/// [`MptcpConnector`](crate::hyper::MptcpConnector) returns it to clients;
/// servers wrap what they accept ([`MptcpStream::accepted`]) to tell each
/// request about its connection (the `http_server` example does it for axum).
///
/// It keeps a second descriptor of its socket, which the info handles
/// borrow (they hold only a weak reference): one more file descriptor per
/// connection, closed with the stream.
///
/// # Examples
///
/// ```no_run
/// use mptcp::hyper::MptcpStream;
///
/// # async fn demo() -> std::io::Result<()> {
/// let tcp = mptcp::tokio::connect("127.0.0.1:8080").await?;
/// let stream = MptcpStream::new(tcp)?;
/// let info = stream.info();
/// println!("{}: {} on {} subflow(s)", info.remote_addr(), info.status()?, info.subflow_count()?);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct MptcpStream {
    io: TokioIo<TcpStream>,
    /// The second descriptor the info handles borrow; dropped with the stream.
    _watch: Arc<OwnedFd>,
    info: MptcpConnectionInfo,
}

impl MptcpStream {
    /// Wraps a connected stream; its status now (after the handshake)
    /// becomes [`MptcpConnectionInfo::initial_status`].
    ///
    /// # Errors
    ///
    /// When the socket's addresses or status cannot be read, or the
    /// descriptor cannot be duplicated (`EMFILE`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo() -> std::io::Result<()> {
    /// let stream = mptcp::hyper::MptcpStream::new(mptcp::tokio::connect("127.0.0.1:8080").await?)?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(stream: TcpStream) -> io::Result<MptcpStream> {
        let status = stream.mptcp_status()?;
        MptcpStream::with_status(stream, status)
    }

    /// Wraps a stream a server accepted, with the status the listener found
    /// for it: a passive fallback that only the namespace's counters show
    /// ([`crate::listener`]) stays [`MptcpStatus::Fallback`] in the info.
    ///
    /// # Errors
    ///
    /// As [`new`](MptcpStream::new).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use mptcp::hyper::MptcpStream;
    /// use mptcp::listener::AsyncMptcpListener;
    ///
    /// # async fn demo() -> std::io::Result<()> {
    /// let listener = AsyncMptcpListener::bind("[::]:8080").await?;
    /// let (tcp, peer, status) = listener.accept().await?;
    /// let stream = MptcpStream::accepted(tcp, status)?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn accepted(stream: TcpStream, status: impl Into<MptcpStatus>) -> io::Result<MptcpStream> {
        MptcpStream::with_status(stream, status.into())
    }

    fn with_status(stream: TcpStream, initial: MptcpStatus) -> io::Result<MptcpStream> {
        let watch = Arc::new(stream.as_fd().try_clone_to_owned()?);
        let info = MptcpConnectionInfo {
            local: stream.local_addr()?,
            remote: stream.peer_addr()?,
            initial,
            fd: Arc::downgrade(&watch),
        };
        Ok(MptcpStream { io: TokioIo::new(stream), _watch: watch, info })
    }

    /// A handle on this connection's MPTCP state, valid while the stream
    /// lives (cheap to clone).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(stream: mptcp::hyper::MptcpStream) -> std::io::Result<()> {
    /// let info = stream.info();
    /// assert!(info.is_open());
    /// # Ok(())
    /// # }
    /// ```
    pub fn info(&self) -> MptcpConnectionInfo {
        self.info.clone()
    }

    /// The tokio stream inside.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn demo(stream: &mptcp::hyper::MptcpStream) -> std::io::Result<()> {
    /// println!("{}", stream.get_ref().peer_addr()?);
    /// # Ok(())
    /// # }
    /// ```
    pub fn get_ref(&self) -> &TcpStream {
        self.io.inner()
    }

    /// The tokio stream inside, mutably.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn demo(stream: &mut mptcp::hyper::MptcpStream) -> std::io::Result<()> {
    /// stream.get_mut().set_nodelay(true)?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn get_mut(&mut self) -> &mut TcpStream {
        self.io.inner_mut()
    }
}

impl AsFd for MptcpStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.inner().as_fd()
    }
}

impl Connection for MptcpStream {
    /// `Connected` with the [`MptcpConnectionInfo`] as an extra: hyper-util's
    /// client copies it into the extensions of every response.
    fn connected(&self) -> Connected {
        Connected::new().extra(self.info.clone())
    }
}

impl ::hyper::rt::Read for MptcpStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ::hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl ::hyper::rt::Write for MptcpStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        ::hyper::rt::Write::poll_write(Pin::new(&mut self.io), cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ::hyper::rt::Write::poll_flush(Pin::new(&mut self.io), cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ::hyper::rt::Write::poll_shutdown(Pin::new(&mut self.io), cx)
    }

    fn is_write_vectored(&self) -> bool {
        ::hyper::rt::Write::is_write_vectored(&self.io)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        ::hyper::rt::Write::poll_write_vectored(Pin::new(&mut self.io), cx, bufs)
    }
}

impl AsyncRead for MptcpStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.io.inner_mut()).poll_read(cx, buf)
    }
}

impl AsyncWrite for MptcpStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(self.io.inner_mut()).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.io.inner_mut()).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.io.inner_mut()).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.inner().is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(self.io.inner_mut()).poll_write_vectored(cx, bufs)
    }
}

/// What a client or server can learn about one connection's MPTCP state:
/// its status and subflows, read from the kernel at the moment of asking,
/// for as long as the connection is open.
///
/// Clients get it from every response of a hyper-util client built on
/// [`MptcpConnector`](crate::hyper::MptcpConnector) (also through
/// hyper-rustls's `HttpsConnector`):
/// `response.extensions().get::<MptcpConnectionInfo>()`. Servers get it
/// from [`MptcpStream::info`].
///
/// A handle holds a weak reference only: it does not keep the connection
/// open. Once the connection is closed, the live methods fail with
/// `NotConnected`; the addresses and [`initial_status`](Self::initial_status)
/// stay.
///
/// # Examples
///
/// ```no_run
/// use http_body_util::Empty;
/// use hyper::body::Bytes;
/// use hyper_util::client::legacy::Client;
/// use hyper_util::rt::TokioExecutor;
/// use mptcp::hyper::{MptcpConnectionInfo, MptcpConnector};
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let client = Client::builder(TokioExecutor::new()).build::<_, Empty<Bytes>>(MptcpConnector::new());
/// let response = client.get("http://10.0.1.2:8080/".parse()?).await?;
/// let info = response.extensions().get::<MptcpConnectionInfo>().expect("set by MptcpConnector");
/// println!("{} over {} subflow(s)", info.status()?, info.subflow_count()?);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct MptcpConnectionInfo {
    local: SocketAddr,
    remote: SocketAddr,
    initial: MptcpStatus,
    fd: Weak<OwnedFd>,
}

impl MptcpConnectionInfo {
    /// The local address of the connection (of its first subflow).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn demo(info: &mptcp::hyper::MptcpConnectionInfo) {
    /// println!("from {}", info.local_addr());
    /// # }
    /// ```
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The remote address of the connection (of its first subflow).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn demo(info: &mptcp::hyper::MptcpConnectionInfo) {
    /// println!("to {}", info.remote_addr());
    /// # }
    /// ```
    pub fn remote_addr(&self) -> SocketAddr {
        self.remote
    }

    /// The status right after the handshake (for an accepted connection:
    /// the listener's verdict, passive fallback included).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn demo(info: &mptcp::hyper::MptcpConnectionInfo) {
    /// if !info.initial_status().is_mptcp() {
    ///     eprintln!("{} did not negotiate MPTCP", info.remote_addr());
    /// }
    /// # }
    /// ```
    pub fn initial_status(&self) -> MptcpStatus {
        self.initial
    }

    /// Whether the connection is still open (its stream not dropped).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn demo(info: &mptcp::hyper::MptcpConnectionInfo) {
    /// println!("open: {}", info.is_open());
    /// # }
    /// ```
    pub fn is_open(&self) -> bool {
        self.fd.strong_count() > 0
    }

    fn with_fd<T>(&self, f: impl FnOnce(BorrowedFd<'_>) -> io::Result<T>) -> io::Result<T> {
        let fd = self.fd.upgrade().ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotConnected, format!("the connection to {} is closed", self.remote))
        })?;
        f(fd.as_fd())
    }

    /// The status now ([`MptcpExt::mptcp_status`]): an MPTCP connection can
    /// fall back later. A connection whose initial status was
    /// [`MptcpStatus::Fallback`] stays `Fallback`.
    ///
    /// # Errors
    ///
    /// `NotConnected` once the connection is closed; else as
    /// [`MptcpExt::mptcp_status`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn demo(info: &mptcp::hyper::MptcpConnectionInfo) -> std::io::Result<()> {
    /// println!("x-mptcp: {}", info.status()?);
    /// # Ok(())
    /// # }
    /// ```
    pub fn status(&self) -> io::Result<MptcpStatus> {
        let now = self.with_fd(|fd| fd.mptcp_status())?;
        Ok(if now == MptcpStatus::Tcp && self.initial == MptcpStatus::Fallback { MptcpStatus::Fallback } else { now })
    }

    /// Every subflow now ([`MptcpExt::subflows`]); one for a connection
    /// that does not use MPTCP. Subflows beyond the first join only after
    /// the first data was acknowledged: a first request may see one.
    ///
    /// # Errors
    ///
    /// `NotConnected` once the connection is closed; else as
    /// [`MptcpExt::subflows`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn demo(info: &mptcp::hyper::MptcpConnectionInfo) -> std::io::Result<()> {
    /// for sf in info.subflows()? {
    ///     println!("{:?} -> {:?} rtt {:?} us", sf.local, sf.remote, sf.tcp.rtt_us);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn subflows(&self) -> io::Result<Vec<SubflowInfo>> {
        self.with_fd(|fd| fd.subflows())
    }

    /// How many subflows the connection has now (1 without MPTCP).
    ///
    /// # Errors
    ///
    /// As [`subflows`](Self::subflows).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn demo(info: &mptcp::hyper::MptcpConnectionInfo) -> std::io::Result<()> {
    /// println!("x-mptcp: {}; subflows={}", info.status()?, info.subflow_count()?);
    /// # Ok(())
    /// # }
    /// ```
    pub fn subflow_count(&self) -> io::Result<usize> {
        self.subflows().map(|s| s.len())
    }

    /// The connection-level MPTCP counters now ([`MptcpExt::mptcp_info`]);
    /// `None` when the connection does not use MPTCP.
    ///
    /// # Errors
    ///
    /// `NotConnected` once the connection is closed; else as
    /// [`MptcpExt::mptcp_info`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn demo(info: &mptcp::hyper::MptcpConnectionInfo) -> std::io::Result<()> {
    /// if let Some(i) = info.mptcp_info()? {
    ///     println!("bytes sent over all subflows: {:?}", i.bytes_sent);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn mptcp_info(&self) -> io::Result<Option<MptcpInfo>> {
        self.with_fd(|fd| fd.mptcp_info())
    }
}
