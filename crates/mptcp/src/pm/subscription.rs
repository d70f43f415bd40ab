//! The subscription to path manager events: joining the `mptcp_pm_events`
//! group, parsing the datagrams it sends into [`Event`]s, and the blocking
//! [`EventListener`] (`EventStream`, with feature `tokio`, is its async twin).

use std::collections::VecDeque;
use std::io;
use std::time::Duration;

use netlink_packet_generic::GenlMessage;
use netlink_sys::Socket;

use super::error::{Error, Result};
use super::event::Event;
use super::family::{self, Family};
use super::nl::EventMessage;
use crate::netlink::{decode, malformed, split, Reply, RECV_BUF};

/// Joins the events group of `family` (needs `CAP_NET_ADMIN`).
pub(crate) fn subscribe(sock: &Socket, family: Family) -> Result<()> {
    let group = family.events()?;
    sock.add_membership(group).map_err(|e| match e.raw_os_error() {
        Some(errno) => Error::Kernel { op: "subscribe to MPTCP events", errno, token: None, detail: None },
        None => Error::Io(e),
    })?;
    let _ = sock.set_rx_buf_sz(1 << 20);
    Ok(())
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

    /// Waits for the next event.
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
            let n = self.sock.recv(&mut &mut self.buf[..], 0)?;
            parse_events(&self.buf[..n.min(self.buf.len())], &mut self.pending)?;
        }
    }

    /// Waits at most `timeout` for the next event; `Ok(None)` when none came.
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
                Err(e) => return Err(e.into()),
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
