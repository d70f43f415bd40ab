//! The subscription to path manager events: joining the `mptcp_pm_events`
//! group, parsing the datagrams it sends into [`Event`]s, and the blocking
//! [`EventListener`] (`EventStream`, with feature `tokio`, is its async twin).

use std::collections::VecDeque;
use std::io;
use std::os::fd::AsFd;
use std::time::Duration;

use netlink_packet_generic::GenlMessage;
use netlink_sys::Socket;

use super::error::{Error, Result};
use super::event::Event;
use super::family::{self, Family};
use super::nl::EventMessage;
use crate::netlink::{decode, malformed, split, Reply, RECV_BUF};
use crate::sys;

/// The receive buffer a subscription asks for. Events come in bursts (a
/// busy server makes several per connection) and the kernel drops what
/// does not fit ([`Error::EventsLost`]); the memory is only used while
/// events wait to be read.
pub(crate) const EVENTS_RCVBUF: usize = 4 << 20;

/// Joins the events group of `family` (needs `CAP_NET_ADMIN`) and takes an
/// [`EVENTS_RCVBUF`] receive buffer.
pub(crate) fn subscribe(sock: &Socket, family: Family) -> Result<()> {
    let group = family.events()?;
    sock.add_membership(group).map_err(|e| match e.raw_os_error() {
        Some(errno) => Error::Kernel { op: "subscribe to MPTCP events", errno, token: None, detail: None },
        None => Error::Io(e),
    })?;
    // Best effort: a smaller buffer loses events sooner, nothing more.
    let _ = set_receive_buffer(sock, EVENTS_RCVBUF);
    Ok(())
}

/// Sets the receive buffer of `sock` to `bytes` and returns what the kernel
/// took (`SO_RCVBUF` read back). `SO_RCVBUFFORCE` goes past
/// `net.core.rmem_max` (which is 208 KiB by default) and needs
/// `CAP_NET_ADMIN`, which subscribing needs too; without it, `SO_RCVBUF`
/// (capped by `rmem_max`).
pub(crate) fn set_receive_buffer(sock: &Socket, bytes: usize) -> Result<usize> {
    let value = i32::try_from(bytes)
        .map_err(|_| Error::invalid(format!("receive buffer of {bytes} bytes: at most {} bytes", i32::MAX)))?;
    let fd = sock.as_fd();
    if sys::setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, value).is_err() {
        sys::setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, value)?;
    }
    receive_buffer(sock)
}

/// `SO_RCVBUF` of `sock`: the kernel's size, twice what was asked (its
/// bookkeeping included).
pub(crate) fn receive_buffer(sock: &Socket) -> Result<usize> {
    let n = sys::getsockopt_int(sock.as_fd(), libc::SOL_SOCKET, libc::SO_RCVBUF)?;
    Ok(usize::try_from(n).unwrap_or(0))
}

/// The error of a failed read on an events socket: `ENOBUFS` means the
/// kernel dropped events ([`Error::EventsLost`]), the socket goes on.
pub(crate) fn read_error(e: io::Error) -> Error {
    match e.raw_os_error() {
        Some(libc::ENOBUFS) => Error::EventsLost,
        _ => Error::Io(e),
    }
}

/// Appends the events in `datagram` to `out`. A malformed datagram is an
/// error; one unparsable event in it is skipped.
pub(crate) fn parse_events(datagram: &[u8], out: &mut VecDeque<Event>) -> Result<()> {
    for m in split(datagram) {
        let m = m.map_err(|e| Error::named(malformed(e), "receive events", None))?;
        if let Ok((_, Reply::Data(ev))) = decode::<GenlMessage<EventMessage>>(m) {
            out.push_back(Event::from_message(&ev.payload));
        }
    }
    Ok(())
}

/// A subscription to the path manager events of the calling thread's
/// network namespace (`ip mptcp monitor`). Iterating blocks until the
/// next event.
///
/// Needs `CAP_NET_ADMIN`.
///
/// # Examples
///
/// ```no_run
/// use mptcp::pm::{EventKind, EventListener};
///
/// for ev in EventListener::new()? {
///     let ev = ev?;
///     if ev.kind == EventKind::SubEstablished {
///         println!("new subflow {:?} -> {:?} on token {:?}", ev.local(), ev.remote(), ev.token);
///     }
/// }
/// # Ok::<(), mptcp::pm::Error>(())
/// ```
#[derive(Debug)]
pub struct EventListener {
    sock: Socket,
    buf: Vec<u8>,
    pending: VecDeque<Event>,
}

impl EventListener {
    /// Subscribes to the `mptcp_pm_events` group.
    ///
    /// # Errors
    ///
    /// [`Error::Kernel`] with `EPERM` without `CAP_NET_ADMIN`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use mptcp::pm::EventListener;
    ///
    /// let mut events = match EventListener::new() {
    ///     Err(e) if e.is_permission_denied() => panic!("run with CAP_NET_ADMIN: {e}"),
    ///     r => r?,
    /// };
    /// println!("{}", events.recv()?);
    /// # Ok::<(), mptcp::pm::Error>(())
    /// ```
    pub fn new() -> Result<EventListener> {
        let mut buf = vec![0u8; RECV_BUF];
        let (sock, family) = family::open_blocking(&mut buf)?;
        subscribe(&sock, family)?;
        Ok(EventListener { sock, buf, pending: VecDeque::new() })
    }

    /// Sets the receive buffer: events that come while it is full are lost
    /// ([`Error::EventsLost`]). A subscription starts with 4 MiB, past
    /// `net.core.rmem_max` where the caller has `CAP_NET_ADMIN`. Returns
    /// the size the kernel took, which is twice `bytes` (its bookkeeping
    /// included; at least its minimum of about 4.5 KiB) and, without
    /// `CAP_NET_ADMIN`, at most twice `net.core.rmem_max`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for more than `i32::MAX` bytes;
    /// [`Error::Io`] when the kernel refuses.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use mptcp::pm::EventListener;
    ///
    /// let mut events = EventListener::new()?;
    /// let took = events.set_receive_buffer(16 << 20)?;
    /// println!("receive buffer: {took} bytes");
    /// # Ok::<(), mptcp::pm::Error>(())
    /// ```
    pub fn set_receive_buffer(&mut self, bytes: usize) -> Result<usize> {
        set_receive_buffer(&self.sock, bytes)
    }

    /// The receive buffer's size in bytes, as the kernel counts it
    /// (`SO_RCVBUF`: twice what was asked).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let events = mptcp::pm::EventListener::new()?;
    /// println!("{} bytes", events.receive_buffer()?);
    /// # Ok::<(), mptcp::pm::Error>(())
    /// ```
    pub fn receive_buffer(&self) -> Result<usize> {
        receive_buffer(&self.sock)
    }

    /// Waits for the next event.
    ///
    /// # Errors
    ///
    /// [`Error::EventsLost`] when the kernel dropped events because they
    /// were not read fast enough: the listener goes on, the next call
    /// returns the next event. Other errors end the subscription.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use mptcp::pm::{EventKind, EventListener};
    ///
    /// let mut events = EventListener::new()?;
    /// let closed = loop {
    ///     let ev = events.recv()?;
    ///     if ev.kind == EventKind::Closed {
    ///         break ev.token;
    ///     }
    /// };
    /// println!("connection {closed:?} closed");
    /// # Ok::<(), mptcp::pm::Error>(())
    /// ```
    pub fn recv(&mut self) -> Result<Event> {
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Ok(e);
            }
            let n = self.sock.recv(&mut &mut self.buf[..], 0).map_err(read_error)?;
            parse_events(&self.buf[..n.min(self.buf.len())], &mut self.pending)?;
        }
    }

    /// Waits at most `timeout` for the next event; `Ok(None)` when none came.
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv): [`Error::EventsLost`] lets it go on.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::time::Duration;
    ///
    /// let mut events = mptcp::pm::EventListener::new()?;
    /// while let Some(ev) = events.recv_timeout(Duration::from_secs(1))? {
    ///     println!("{ev}");
    /// }
    /// # Ok::<(), mptcp::pm::Error>(())
    /// ```
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Option<Event>> {
        if let Some(e) = self.pending.pop_front() {
            return Ok(Some(e));
        }
        let deadline = std::time::Instant::now() + timeout;
        let sock = socket2::SockRef::from(&self.sock);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            sock.set_read_timeout(Some(left.max(Duration::from_millis(1))))?;
            let r = self.sock.recv(&mut &mut self.buf[..], 0);
            sock.set_read_timeout(None)?;
            match r {
                Ok(n) => parse_events(&self.buf[..n.min(self.buf.len())], &mut self.pending)?,
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(read_error(e)),
            }
            if let Some(e) = self.pending.pop_front() {
                return Ok(Some(e));
            }
        }
    }
}

impl Iterator for EventListener {
    type Item = Result<Event>;

    fn next(&mut self) -> Option<Self::Item> {
        Some(self.recv())
    }
}
