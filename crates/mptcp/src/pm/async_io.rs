//! The path manager and its events on tokio (feature `tokio`): the same
//! calls as the blocking handle, driven on tokio's reactor.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use netlink_packet_core::NetlinkDeserializable;
use netlink_packet_generic::GenlMessage;
use netlink_sys::Socket;
use tokio::io::unix::AsyncFd;

use super::api::path_manager_api;
use super::error::{Error, Result};
use super::event::Event;
use super::family::{self, Family};
use super::nl::{self, PmMessage};
use super::requests::{Call, Next, Op};
use super::subscription::{parse_events, read_error, subscribe};
use crate::netlink::{Exchange, Expect, RawError, RECV_BUF};

/// Sends `req` and collects its replies, on tokio.
async fn transact<P: NetlinkDeserializable>(
    fd: &AsyncFd<Socket>,
    buf: &mut [u8],
    req: &[u8],
    seq: u32,
    expect: Expect,
) -> Result<Vec<P>, RawError> {
    loop {
        let mut g = fd.writable().await?;
        match g.try_io(|s| s.get_ref().send(req, 0)) {
            Ok(r) => {
                r?;
                break;
            }
            Err(_would_block) => continue,
        }
    }
    let mut ex = Exchange::new(seq, expect);
    loop {
        let mut g = fd.readable().await?;
        match g.try_io(|s| s.get_ref().recv(&mut &mut buf[..], 0)) {
            Ok(Ok(n)) => {
                if ex.feed(&buf[..n.min(buf.len())])? {
                    return Ok(ex.into_out());
                }
            }
            Ok(Err(e)) => return Err(e.into()),
            Err(_would_block) => continue,
        }
    }
}

/// Opens a non-blocking socket on tokio's reactor and resolves the family.
async fn open_async() -> Result<(AsyncFd<Socket>, Family, Vec<u8>)> {
    let sock = family::open_socket()?;
    sock.set_non_blocking(true)?;
    let fd = crate::sys::register_netlink(sock)?;
    let mut buf = vec![0u8; RECV_BUF];
    let replies = transact(&fd, &mut buf, &family::request(), family::FAMILY_SEQ, Expect::Ack).await;
    let family = family::from_replies(replies)?;
    Ok((fd, family, buf))
}

/// The tokio twin of [`PathManager`](super::PathManager): the same
/// methods, `async`. Futures are `Send`.
///
/// # Cancel safety
///
/// Not cancel safe: dropping a request future after it was sent leaves its
/// answer in the socket; the next request skips it by sequence number, but
/// whether the change happened is unknown.
///
/// # Examples
///
/// ```no_run
/// # async fn demo() -> Result<(), mptcp::pm::Error> {
/// let mut pm = mptcp::pm::AsyncPathManager::new().await?;
/// for ep in pm.endpoints().await? {
///     println!("{} id {}", ep.addr, ep.id);
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct AsyncPathManager {
    fd: AsyncFd<Socket>,
    seq: u32,
    family: Family,
    buf: Vec<u8>,
}

impl AsyncPathManager {
    /// Opens a netlink socket and resolves the `mptcp_pm` family. Must be
    /// called within a tokio runtime.
    ///
    /// # Errors
    ///
    /// [`Error::FamilyNotFound`] when the kernel has no MPTCP path manager;
    /// its message says why.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), mptcp::pm::Error> {
    /// use mptcp::pm::{AsyncPathManager, Error};
    ///
    /// let mut pm = match AsyncPathManager::new().await {
    ///     Err(Error::FamilyNotFound { .. }) => return Ok(()), // no MPTCP path manager in this kernel
    ///     r => r?,
    /// };
    /// println!("{:?}", pm.limits().await?);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn new() -> Result<AsyncPathManager> {
        let (fd, family, buf) = open_async().await?;
        Ok(AsyncPathManager { fd, seq: family::FAMILY_SEQ, family, buf })
    }

    /// Sends `op` and collects the kernel's replies.
    async fn run(&mut self, op: &Op) -> Result<Vec<PmMessage>> {
        self.family.check(op.msg.cmd, op.name)?;
        self.seq = self.seq.wrapping_add(1).max(1);
        let req = nl::encode(op.msg.clone(), self.family.id, op.expect.flags(), self.seq);
        transact::<GenlMessage<PmMessage>>(&self.fd, &mut self.buf, &req, self.seq, op.expect)
            .await
            .map(|replies| replies.into_iter().map(|m| m.payload).collect())
            .map_err(|e| Error::named(e, op.name, op.token))
    }

    /// Drives a call to its answer.
    async fn call<T: Send + 'static>(&mut self, call: Result<Call<T>>) -> Result<T> {
        let mut call = call?;
        loop {
            let replies = self.run(&call.op).await;
            match call.answer(replies)? {
                Next::Done(v) => return Ok(v),
                Next::Then(next) => call = next,
            }
        }
    }
}

path_manager_api!(
    AsyncPathManager,
    "# async fn demo() -> Result<(), mptcp::pm::Error> {\n",
    "mptcp::pm::AsyncPathManager::new().await?",
    "# Ok(())\n# }\n",
    ".await",
    [async],
    [.await]
);

/// Path manager events as a `futures_core::Stream` (feature `tokio`).
///
/// # Examples
///
/// ```no_run
/// # async fn demo() -> Result<(), mptcp::pm::Error> {
/// let mut events = mptcp::pm::EventStream::new().await?;
/// while let Some(ev) = events.next_event().await.transpose() {
///     println!("{}", ev?);
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct EventStream {
    fd: AsyncFd<Socket>,
    buf: Vec<u8>,
    pending: VecDeque<Event>,
}

impl EventStream {
    /// Subscribes to the events group. Needs `CAP_NET_ADMIN`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), mptcp::pm::Error> {
    /// let mut events = mptcp::pm::EventStream::new().await?;
    /// if let Some(ev) = events.next_event().await? {
    ///     println!("{ev}");
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn new() -> Result<EventStream> {
        let (fd, family, buf) = open_async().await?;
        subscribe(fd.get_ref(), family)?;
        Ok(EventStream { fd, buf, pending: VecDeque::new() })
    }

    /// The next event (never `Ok(None)`: the subscription does not end).
    ///
    /// # Errors
    ///
    /// [`Error::EventsLost`] when the kernel dropped events because they
    /// were not read fast enough: the stream goes on. Other errors end the
    /// subscription.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: an event is only taken out of the queue when returned.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), mptcp::pm::Error> {
    /// use mptcp::pm::{EventKind, EventStream};
    ///
    /// let mut events = EventStream::new().await?;
    /// while let Some(ev) = events.next_event().await? {
    ///     if ev.kind == EventKind::SubEstablished {
    ///         println!("new subflow {:?} -> {:?}", ev.local(), ev.remote());
    ///     }
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn next_event(&mut self) -> Result<Option<Event>> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await.transpose()
    }
}

impl Stream for EventStream {
    type Item = Result<Event>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(e) = this.pending.pop_front() {
                return Poll::Ready(Some(Ok(e)));
            }
            let mut guard = match this.fd.poll_read_ready(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Some(Err(e.into()))),
                Poll::Ready(Ok(g)) => g,
            };
            let buf = &mut this.buf;
            match guard.try_io(|s| s.get_ref().recv(&mut &mut buf[..], 0)) {
                Ok(Ok(n)) => {
                    let n = n.min(buf.len());
                    if let Err(e) = parse_events(&buf[..n], &mut this.pending) {
                        return Poll::Ready(Some(Err(e)));
                    }
                }
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Ok(Err(e)) => return Poll::Ready(Some(Err(read_error(e)))),
                Err(_would_block) => {}
            }
        }
    }
}

// Compile-time proof that the futures are `Send`.
const _: () = {
    fn assert_send<T: Send>(_: &T) {}
    #[allow(dead_code)]
    fn futures_are_send(pm: &mut AsyncPathManager, events: &mut EventStream) {
        assert_send(&AsyncPathManager::new());
        assert_send(&pm.endpoints());
        assert_send(&pm.delete_endpoint(1.into()));
        assert_send(&pm.set_limits(Some(1), None));
        assert_send(&EventStream::new());
        assert_send(&events.next_event());
    }
};
