//! [`AsyncMptcpListener`]: the tokio flavour of [`MptcpListener`](super::MptcpListener).

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, BorrowedFd};
use std::task::{Context, Poll};

use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};

use super::{AcceptedStatus, Classifier};
use crate::MptcpBuilder;

/// An MPTCP listener for tokio whose `accept` also says what each client
/// got, passive fallback included (see the [module docs](super)).
///
/// The counters are read from `/proc` (memory, not disk) inside `accept`,
/// only for clients whose socket says plain TCP.
///
/// # Examples
///
/// ```no_run
/// use mptcp::listener::AsyncMptcpListener;
///
/// # async fn demo() -> std::io::Result<()> {
/// let listener = AsyncMptcpListener::bind("[::]:8080").await?;
/// loop {
///     let (stream, peer, status) = listener.accept().await?;
///     println!("{peer}: {status}");
///     tokio::spawn(async move { drop(stream) });
/// }
/// # }
/// ```
#[derive(Debug)]
pub struct AsyncMptcpListener {
    inner: TcpListener,
    classifier: Classifier,
}

impl AsyncMptcpListener {
    /// Binds with [`MptcpBuilder::bind_async`] (MPTCP, plain TCP where the
    /// host has none).
    ///
    /// # Errors
    ///
    /// As [`MptcpBuilder::bind_async`].
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let listener = mptcp::listener::AsyncMptcpListener::bind("127.0.0.1:0").await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<AsyncMptcpListener> {
        Ok(AsyncMptcpListener::from_tokio(MptcpBuilder::new().bind_async(addr).await?))
    }

    /// Wraps a tokio listener made elsewhere (e.g. by
    /// [`MptcpBuilder::bind_async`] with options). Call it on a thread of
    /// the listener's network namespace.
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp::{listener::AsyncMptcpListener, MptcpBuilder};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let listener = AsyncMptcpListener::from_tokio(MptcpBuilder::new().nodelay(true).bind_async("127.0.0.1:0").await?);
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_tokio(listener: TcpListener) -> AsyncMptcpListener {
        let classifier = Classifier::new(listener.as_fd());
        AsyncMptcpListener { inner: listener, classifier }
    }

    /// Accepts a client: its stream, address, and [`AcceptedStatus`].
    ///
    /// # Errors
    ///
    /// As tokio's `TcpListener::accept`. Counters that cannot be read never
    /// lose the client: its status is then [`AcceptedStatus::Unverified`].
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as tokio's `accept`: a dropped future accepted nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp::listener::{AcceptedStatus, AsyncMptcpListener};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let listener = AsyncMptcpListener::bind("127.0.0.1:0").await?;
    /// let _client = tokio::net::TcpStream::connect(listener.local_addr()?).await?; // plain TCP
    /// let (_stream, _peer, status) = listener.accept().await?;
    /// assert_eq!(status, AcceptedStatus::Tcp);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr, AcceptedStatus)> {
        let (stream, peer) = self.inner.accept().await?;
        let status = self.classifier.classify(stream.as_fd());
        Ok((stream, peer, status))
    }

    /// Polls for a client, as [`accept`](Self::accept) (for stream adapters
    /// and hand-written futures).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::future::poll_fn;
    ///
    /// # async fn demo(listener: mptcp::listener::AsyncMptcpListener) -> std::io::Result<()> {
    /// let (stream, peer, status) = poll_fn(|cx| listener.poll_accept(cx)).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr, AcceptedStatus)>> {
        self.inner.poll_accept(cx).map_ok(|(stream, peer)| {
            let status = self.classifier.classify(stream.as_fd());
            (stream, peer, status)
        })
    }

    /// The address it listens on.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let listener = mptcp::listener::AsyncMptcpListener::bind("127.0.0.1:0").await?;
    /// assert_ne!(listener.local_addr()?.port(), 0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// The tokio listener inside.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn demo(listener: &mptcp::listener::AsyncMptcpListener) -> std::io::Result<()> {
    /// println!("{:?}", listener.get_ref().local_addr()?);
    /// # Ok(())
    /// # }
    /// ```
    pub fn get_ref(&self) -> &TcpListener {
        &self.inner
    }

    /// The tokio listener, without the classification.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn demo(listener: mptcp::listener::AsyncMptcpListener) {
    /// let plain: tokio::net::TcpListener = listener.into_inner();
    /// # }
    /// ```
    pub fn into_inner(self) -> TcpListener {
        self.inner
    }
}

impl AsFd for AsyncMptcpListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_fd()
    }
}
