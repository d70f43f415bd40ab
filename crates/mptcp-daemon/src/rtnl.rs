//! rtnetlink: one socket subscribed to link, address and route events, one
//! for dumps. Messages are parsed by `netlink-packet-route`.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use netlink_packet_core::{
    NetlinkBuffer, NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_MULTIPART, NLM_F_REQUEST,
};
use netlink_packet_route::address::AddressMessage;
use netlink_packet_route::link::LinkMessage;
use netlink_packet_route::route::RouteMessage;
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

use crate::net::NetState;

// rtnetlink multicast groups (linux/rtnetlink.h, enum rtnetlink_groups).
const RTNLGRP_LINK: u32 = 1;
const RTNLGRP_IPV4_IFADDR: u32 = 5;
const RTNLGRP_IPV4_ROUTE: u32 = 7;
const RTNLGRP_IPV6_IFADDR: u32 = 9;
const RTNLGRP_IPV6_ROUTE: u32 = 11;

/// Receive buffer of the event socket: large enough for bursts (a link going
/// down sends a dozen messages) so that the kernel rarely has to drop.
const EVENT_RCVBUF: usize = 4 << 20;

/// Datagrams read per wake-up at most; the rest are read at the next one.
const DRAIN_MAX: usize = 256;

/// What draining the event socket found.
#[derive(Debug, Default)]
pub(crate) struct Drained {
    /// Messages, in the order the kernel sent them.
    pub messages: Vec<RouteNetlinkMessage>,
    /// The kernel dropped events (`ENOBUFS`) or sent one we could not
    /// parse: the state must be dumped again.
    pub lost: bool,
}

/// The subscribed socket. Subscribe first, dump second: events queued
/// during the dump are applied after it, in order, so the state converges.
pub(crate) struct Events {
    sock: Socket,
    buf: Vec<u8>,
}

impl Events {
    pub fn open() -> io::Result<Events> {
        let mut sock = Socket::new(NETLINK_ROUTE)?;
        sock.bind_auto()?;
        for g in [RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR, RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE] {
            sock.add_membership(g)?;
        }
        // SO_RCVBUFFORCE needs CAP_NET_ADMIN, which the daemon has; fall
        // back to the capped SO_RCVBUF otherwise.
        if nix::sys::socket::setsockopt(&sock, nix::sys::socket::sockopt::RcvBufForce, &EVENT_RCVBUF).is_err() {
            let _ = sock.set_rx_buf_sz(EVENT_RCVBUF as libc::c_int);
        }
        sock.set_non_blocking(true)?;
        Ok(Events { sock, buf: vec![0; 64 * 1024] })
    }

    /// Reads the queued datagrams without blocking, at most
    /// [`DRAIN_MAX`] of them (a flood of route updates on a router must not
    /// keep the daemon from acting on what it has read).
    pub fn drain(&mut self) -> io::Result<Drained> {
        let mut out = Drained::default();
        for _ in 0..DRAIN_MAX {
            let mut slice = &mut self.buf[..];
            match self.sock.recv(&mut slice, 0) {
                Ok(n) => {
                    let n = n.min(self.buf.len());
                    parse_all(&self.buf[..n], |m| match m {
                        Some(NetlinkPayload::InnerMessage(m)) => out.messages.push(m),
                        Some(_) => {}
                        None => out.lost = true,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(out),
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => out.lost = true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }
}

impl AsFd for Events {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

/// Calls `f` for each message of one datagram; `None` for one that does not
/// parse (it is skipped by its length).
fn parse_all(mut data: &[u8], mut f: impl FnMut(Option<NetlinkPayload<RouteNetlinkMessage>>)) {
    while !data.is_empty() {
        if data.len() < 16 {
            // Less than a header: the datagram was cut.
            f(None);
            return;
        }
        let len = match NetlinkBuffer::new_checked(data) {
            Ok(b) => b.length() as usize,
            Err(_) => {
                f(None);
                return;
            }
        };
        if len < 16 || len > data.len() {
            f(None);
            return;
        }
        match NetlinkMessage::<RouteNetlinkMessage>::deserialize(&data[..len]) {
            Ok(m) => f(Some(m.payload)),
            Err(e) => {
                log::debug!("unparsable rtnetlink message: {e}");
                f(None);
            }
        }
        data = data.get((len + 3) & !3..).unwrap_or(&[]);
    }
}

/// Dumps links, addresses and routes into a fresh [`NetState`].
///
/// # Errors
///
/// The netlink socket's errors; `EINTR` of a dump interrupted by a change
/// (`NLM_F_DUMP_INTR`) is retried.
pub fn dump() -> io::Result<NetState> {
    let mut sock = Socket::new(NETLINK_ROUTE)?;
    sock.bind_auto()?;
    let mut net = NetState::default();
    for _ in 0..5 {
        match dump_into(&sock, &mut net) {
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => net = NetState::default(),
            r => return r.map(|()| net),
        }
    }
    Err(io::Error::other("rtnetlink dumps kept being interrupted by changes"))
}

fn dump_into(sock: &Socket, net: &mut NetState) -> io::Result<()> {
    let requests = [
        RouteNetlinkMessage::GetLink(LinkMessage::default()),
        RouteNetlinkMessage::GetAddress(AddressMessage::default()),
        RouteNetlinkMessage::GetRoute(route_request(AddressFamily::Inet)),
        RouteNetlinkMessage::GetRoute(route_request(AddressFamily::Inet6)),
    ];
    for (seq, req) in requests.into_iter().enumerate() {
        for m in request_dump(sock, req, seq as u32 + 1)? {
            net.apply(&m);
        }
    }
    Ok(())
}

fn route_request(family: AddressFamily) -> RouteMessage {
    let mut m = RouteMessage::default();
    m.header.address_family = family;
    m
}

/// Sends one dump request and collects its replies.
fn request_dump(sock: &Socket, req: RouteNetlinkMessage, seq: u32) -> io::Result<Vec<RouteNetlinkMessage>> {
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    header.sequence_number = seq;
    let mut msg = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(req));
    msg.finalize();
    let mut out = vec![0u8; msg.buffer_len()];
    msg.serialize(&mut out);
    sock.send_to(&out, &SocketAddr::new(0, 0), 0)?;
    let mut replies = Vec::new();
    let mut interrupted = false;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let mut slice = &mut buf[..];
        let n = sock.recv(&mut slice, 0)?.min(buf.len());
        let chunk = dump_replies(&buf[..n], seq);
        if let Some(e) = chunk.failure {
            return Err(e);
        }
        replies.extend(chunk.replies);
        interrupted |= chunk.interrupted;
        if chunk.done {
            if interrupted {
                return Err(io::Error::from_raw_os_error(libc::EINTR));
            }
            return Ok(replies);
        }
    }
}

/// What one datagram held for the dump request `seq`.
#[derive(Debug, Default)]
struct DumpChunk {
    /// Its replies, in order (those that did not parse are skipped).
    replies: Vec<RouteNetlinkMessage>,
    /// The dump is over (`NLMSG_DONE`, an error, or a reply that is not
    /// part of a multipart answer).
    done: bool,
    /// The kernel flagged the dump as interrupted by a change
    /// (`NLM_F_DUMP_INTR`): it must be done again.
    interrupted: bool,
    /// The kernel refused the request.
    failure: Option<io::Error>,
}

/// Reads the replies to dump request `seq` from one datagram; messages
/// of other requests are skipped, a cut message ends the datagram.
fn dump_replies(mut data: &[u8], seq: u32) -> DumpChunk {
    let mut out = DumpChunk::default();
    while data.len() >= 16 {
        let Ok(b) = NetlinkBuffer::new_checked(data) else { break };
        let len = b.length() as usize;
        if len < 16 || len > data.len() {
            break;
        }
        if b.sequence_number() == seq {
            out.interrupted |= b.flags() & netlink_packet_core::NLM_F_DUMP_INTR != 0;
            match NetlinkMessage::<RouteNetlinkMessage>::deserialize(&data[..len]) {
                Ok(m) => match m.payload {
                    NetlinkPayload::InnerMessage(m) => out.replies.push(m),
                    NetlinkPayload::Done(_) => out.done = true,
                    NetlinkPayload::Error(e) if e.code.is_some() => {
                        out.failure = Some(e.to_io());
                        out.done = true;
                    }
                    _ => {}
                },
                Err(e) => log::debug!("unparsable dump reply skipped: {e}"),
            }
            if b.flags() & NLM_F_MULTIPART == 0 {
                out.done = true;
            }
        }
        data = data.get((len + 3) & !3..).unwrap_or(&[]);
    }
    out
}

#[cfg(test)]
#[path = "rtnl_tests.rs"]
mod tests;
