//! The path manager and its events on tokio (feature `tokio`).

use std::collections::VecDeque;
use std::fmt::Debug;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use netlink_packet_core::NetlinkDeserializable;
use netlink_packet_generic::ctrl::GenlCtrl;
use netlink_packet_generic::GenlMessage;
use netlink_packet_utils::DecodeError;
use netlink_sys::Socket;
use tokio::io::unix::AsyncFd;

use super::nl::{self, PmMessage};
use super::{
    family_from, family_request, open_socket, ops, parse_events, subscribe, Endpoint, EndpointFlags, EndpointRef,
    Error, Event, Exchange, Family, Limits, LocalAddr, Op, RawError, Result, RECV_BUF,
};

async fn transact<T: Debug>(
    fd: &AsyncFd<Socket>,
    buf: &mut [u8],
    req: &[u8],
    seq: u32,
    dump: bool,
) -> Result<Vec<T>, RawError>
where
    GenlMessage<T>: NetlinkDeserializable<Error = DecodeError> + Debug,
{
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
    let mut ex = Exchange::new(seq, dump);
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

async fn open_async() -> Result<(AsyncFd<Socket>, Family, Vec<u8>)> {
    let sock = open_socket()?;
    sock.set_non_blocking(true)?;
    let fd = crate::sys::register_netlink(sock)?;
    let mut buf = vec![0u8; RECV_BUF];
    let family = family_from(transact::<GenlCtrl>(&fd, &mut buf, &family_request(1), 1, false).await)?;
    Ok((fd, family, buf))
}

/// The tokio twin of [`PathManager`](super::PathManager): same requests,
/// `async`. Futures are `Send`.
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
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), mptcp::pm::Error> {
    /// use mptcp::pm::{AsyncPathManager, Error};
    ///
    /// let mut pm = match AsyncPathManager::new().await {
    ///     Err(Error::FamilyNotFound) => return Ok(()), // no MPTCP path manager in this kernel
    ///     r => r?,
    /// };
    /// println!("{:?}", pm.limits().await?);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn new() -> Result<AsyncPathManager> {
        let (fd, family, buf) = open_async().await?;
        Ok(AsyncPathManager { fd, seq: 1, family, buf })
    }

    async fn run(&mut self, op: Op) -> Result<Vec<PmMessage>> {
        self.seq = self.seq.wrapping_add(1).max(1);
        let req = nl::encode(op.msg.clone(), self.family.id, op.flags(), self.seq);
        transact(&self.fd, &mut self.buf, &req, self.seq, op.dump).await.map_err(|e| e.named(op.name, op.token))
    }

    /// Lists the endpoints. See [`PathManager::endpoints`](super::PathManager::endpoints).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), mptcp::pm::Error> {
    /// let mut pm = mptcp::pm::AsyncPathManager::new().await?;
    /// for ep in pm.endpoints().await? {
    ///     println!("{} id {} {}", ep.addr, ep.id, ep.flags);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn endpoints(&mut self) -> Result<Vec<Endpoint>> {
        Ok(ops::decode_list(self.run(ops::list()).await?))
    }

    /// The endpoint with id `id`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), mptcp::pm::Error> {
    /// let mut pm = mptcp::pm::AsyncPathManager::new().await?;
    /// let ep = pm.endpoint(1).await?;
    /// println!("endpoint 1: {} {}", ep.addr, ep.flags);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn endpoint(&mut self, id: u8) -> Result<Endpoint> {
        let r = match self.run(ops::get(id)?).await {
            Err(Error::Kernel { errno: libc::EINVAL | libc::ENOENT, .. }) => {
                return Err(Error::NoSuchEndpoint(EndpointRef::Id(id)))
            }
            r => r?,
        };
        r.iter().find_map(ops::decode_endpoint).ok_or(Error::NoSuchEndpoint(EndpointRef::Id(id)))
    }

    /// Adds an endpoint. See [`PathManager::add_endpoint`](super::PathManager::add_endpoint).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), mptcp::pm::Error> {
    /// use mptcp::pm::{AsyncPathManager, Endpoint, EndpointFlags};
    ///
    /// let mut pm = AsyncPathManager::new().await?;
    /// let ep = Endpoint::new("10.0.2.1".parse().unwrap()).with_flags(EndpointFlags::SUBFLOW);
    /// pm.add_endpoint(&ep).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn add_endpoint(&mut self, ep: &Endpoint) -> Result<()> {
        self.run(ops::add(ep)?).await.map(drop)
    }

    /// Deletes an endpoint by id or address.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), mptcp::pm::Error> {
    /// use std::net::IpAddr;
    /// use mptcp::pm::AsyncPathManager;
    ///
    /// let mut pm = AsyncPathManager::new().await?;
    /// pm.delete_endpoint(2.into()).await?; // by id
    /// pm.delete_endpoint(IpAddr::from([10, 0, 2, 1]).into()).await?; // by address
    /// # Ok(())
    /// # }
    /// ```
    pub async fn delete_endpoint(&mut self, target: EndpointRef) -> Result<()> {
        let id = match target {
            EndpointRef::Id(id) => id,
            EndpointRef::Addr(a) => self
                .endpoints()
                .await?
                .into_iter()
                .find(|e| e.addr == a)
                .map(|e| e.id)
                .ok_or(Error::NoSuchEndpoint(target))?,
        };
        match self.run(ops::delete(id)?).await {
            Err(Error::Kernel { errno: libc::EINVAL | libc::ENOENT, .. }) => Err(Error::NoSuchEndpoint(target)),
            r => r.map(drop),
        }
    }

    /// Deletes every endpoint.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), mptcp::pm::Error> {
    /// let mut pm = mptcp::pm::AsyncPathManager::new().await?;
    /// pm.flush_endpoints().await?;
    /// assert!(pm.endpoints().await?.is_empty());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn flush_endpoints(&mut self) -> Result<()> {
        self.run(ops::flush()).await.map(drop)
    }

    /// Sets `backup` / `fullmesh` of an endpoint (both are replaced).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), mptcp::pm::Error> {
    /// use mptcp::pm::{AsyncPathManager, EndpointFlags};
    ///
    /// let mut pm = AsyncPathManager::new().await?;
    /// pm.set_endpoint_flags(2.into(), EndpointFlags::BACKUP).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn set_endpoint_flags(&mut self, target: EndpointRef, flags: EndpointFlags) -> Result<()> {
        match self.run(ops::set_flags(target, flags)?).await {
            Err(Error::Kernel { errno: libc::ENOENT, .. }) => Err(Error::NoSuchEndpoint(target)),
            r => r.map(drop),
        }
    }

    /// Marks one subflow of connection `token` as backup or not.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), mptcp::pm::Error> {
    /// let mut pm = mptcp::pm::AsyncPathManager::new().await?;
    /// let (local, remote) = ("10.0.2.1:40000".parse().unwrap(), "10.0.1.2:80".parse().unwrap());
    /// pm.set_subflow_backup(0x1234, local, remote, true).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn set_subflow_backup(
        &mut self,
        token: u32,
        local: SocketAddr,
        remote: SocketAddr,
        backup: bool,
    ) -> Result<()> {
        self.run(ops::set_subflow_backup(token, local, remote, backup)?).await.map(drop)
    }

    /// The limits.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), mptcp::pm::Error> {
    /// let mut pm = mptcp::pm::AsyncPathManager::new().await?;
    /// let l = pm.limits().await?;
    /// println!("subflows {} add_addr_accepted {}", l.subflows, l.add_addr_accepted);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn limits(&mut self) -> Result<Limits> {
        ops::decode_limits(self.run(ops::get_limits()).await?)
    }

    /// Sets one or both limits; `None` keeps the current value.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), mptcp::pm::Error> {
    /// let mut pm = mptcp::pm::AsyncPathManager::new().await?;
    /// pm.set_limits(Some(4), None).await?; // add_addr_accepted unchanged
    /// # Ok(())
    /// # }
    /// ```
    pub async fn set_limits(&mut self, subflows: Option<u32>, add_addr_accepted: Option<u32>) -> Result<()> {
        self.run(ops::set_limits(subflows, add_addr_accepted)?).await.map(drop)
    }

    /// Userspace PM: announces `ep` on connection `token`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), mptcp::pm::Error> {
    /// use mptcp::pm::{AsyncPathManager, Endpoint};
    ///
    /// let mut pm = AsyncPathManager::new().await?;
    /// pm.announce(0x1234, &Endpoint::new("10.0.2.1".parse().unwrap()).with_id(5)).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn announce(&mut self, token: u32, ep: &Endpoint) -> Result<()> {
        self.run(ops::announce(token, ep)?).await.map(drop)
    }

    /// Userspace PM: withdraws address `id` from connection `token`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), mptcp::pm::Error> {
    /// let mut pm = mptcp::pm::AsyncPathManager::new().await?;
    /// pm.remove(0x1234, 5).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn remove(&mut self, token: u32, id: u8) -> Result<()> {
        self.run(ops::remove(token, id)?).await.map(drop)
    }

    /// Userspace PM: opens a subflow of connection `token`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), mptcp::pm::Error> {
    /// use mptcp::pm::{AsyncPathManager, LocalAddr};
    ///
    /// let mut pm = AsyncPathManager::new().await?;
    /// let local = LocalAddr::new("10.0.2.1".parse().unwrap()).with_id(5);
    /// pm.create_subflow(0x1234, local, "10.0.1.2:80".parse().unwrap()).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn create_subflow(&mut self, token: u32, local: LocalAddr, remote: SocketAddr) -> Result<()> {
        self.run(ops::subflow_create(token, local, remote)?).await.map(drop)
    }

    /// Userspace PM: closes a subflow of connection `token`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), mptcp::pm::Error> {
    /// let mut pm = mptcp::pm::AsyncPathManager::new().await?;
    /// let (local, remote) = ("10.0.2.1:40000".parse().unwrap(), "10.0.1.2:80".parse().unwrap());
    /// pm.destroy_subflow(0x1234, local, remote).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn destroy_subflow(&mut self, token: u32, local: SocketAddr, remote: SocketAddr) -> Result<()> {
        self.run(ops::subflow_destroy(token, local, remote)?).await.map(drop)
    }
}

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
                Ok(Err(e)) => return Poll::Ready(Some(Err(e.into()))),
                Err(_would_block) => {}
            }
        }
    }
}
