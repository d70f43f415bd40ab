//! MPTCP for tokio: `connect` and `bind` returning tokio's `TcpStream` and
//! `TcpListener`. Futures are `Send`; connect errors are returned.

use std::io;

use tokio::net::{lookup_host, TcpListener, TcpStream, ToSocketAddrs};

use crate::dial::{candidates, Dial, DialError, Tries};
use crate::socket::MptcpBuilder;

/// Connects over MPTCP (plain TCP where the host has no MPTCP).
///
/// Each resolved address is tried once, in order; errors such as
/// `ECONNREFUSED` are returned, never retried over TCP.
///
/// # Cancel safety
///
/// Dropping the future closes the half-open socket.
///
/// # Examples
///
/// ```no_run
/// use mptcp::MptcpExt;
///
/// # async fn demo() -> std::io::Result<()> {
/// let stream = mptcp::tokio::connect("127.0.0.1:8080").await?;
/// println!("{}", stream.mptcp_status()?);
/// # Ok(())
/// # }
/// ```
pub async fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
    MptcpBuilder::new().connect_async(addr).await
}

/// Binds an MPTCP listener (plain TCP where the host has no MPTCP).
///
/// # Examples
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// let listener = mptcp::tokio::bind("127.0.0.1:8080").await?;
/// let (conn, peer) = listener.accept().await?;
/// # Ok(())
/// # }
/// ```
pub async fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
    MptcpBuilder::new().bind_async(addr).await
}

#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
impl MptcpBuilder {
    /// Async [`connect`](MptcpBuilder::connect) for tokio (feature `tokio`):
    /// the same options, [`local_addr`](MptcpBuilder::local_addr) and
    /// connect timeout, the same errors.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future closes the half-open socket.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo() -> std::io::Result<()> {
    /// let s = mptcp::MptcpBuilder::new().nodelay(true).connect_async("127.0.0.1:80").await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect_async<A: ToSocketAddrs>(&self, addr: A) -> io::Result<TcpStream> {
        let addrs = lookup_host(addr).await.map_err(DialError::Resolve)?;
        let dial = Dial::new(self);
        let mut tries = Tries::default();
        for a in candidates(addrs, self.local_addr_value())? {
            if let Some(s) = tries.record(a, dial.connect_async(a).await)? {
                return Ok(s);
            }
        }
        Err(tries.failed().into())
    }

    /// Async [`bind`](MptcpBuilder::bind) for tokio (feature `tokio`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo() -> std::io::Result<()> {
    /// let l = mptcp::MptcpBuilder::new().bind_async("[::]:8080").await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn bind_async<A: ToSocketAddrs>(&self, addr: A) -> io::Result<TcpListener> {
        let mut last = None;
        for a in lookup_host(addr).await? {
            match self.listen_socket(&a) {
                Ok(s) => {
                    s.set_nonblocking(true)?;
                    return TcpListener::from_std(s.into());
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "could not resolve to any address")))
    }
}

// Compile-time proof that the futures are `Send`.
const _: () = {
    fn assert_send<T: Send>(_: &T) {}
    #[allow(dead_code)]
    fn futures_are_send() {
        assert_send(&connect("127.0.0.1:1"));
        assert_send(&bind("127.0.0.1:1"));
        let b = MptcpBuilder::new();
        assert_send(&b.connect_async("127.0.0.1:1"));
        assert_send(&b.bind_async("127.0.0.1:1"));
    }
};
