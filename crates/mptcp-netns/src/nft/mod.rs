//! nf_tables over netlink (`NETLINK_NETFILTER`): one transaction at a time,
//! from the calling thread's network namespace.

use std::collections::BTreeMap;
use std::io;
use std::time::Duration;

use netlink_packet_core::{ErrorBuffer, ErrorMessage, NetlinkBuffer, Parseable, NLMSG_ERROR};
use netlink_sys::{protocols::NETLINK_NETFILTER, Socket, SocketAddr};

mod wire;

pub(crate) use wire::{strip_rule, Family, Msg, Select, TCPOPT_MPTCP};

/// How long to wait for the kernel's answers. They are produced while
/// `send` runs, so this only bounds a kernel that does not answer at all.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// The kernel refused a transaction (nothing of it was applied).
#[derive(Debug)]
pub(crate) struct Refused {
    /// Index of the refused message in the batch; `None` when the socket or
    /// the batch as a whole was refused (no nf_tables in this kernel, no
    /// CAP_NET_ADMIN, ...).
    pub(crate) index: Option<usize>,
    /// The kernel's answer.
    pub(crate) error: io::Error,
}

impl Refused {
    fn whole(error: io::Error) -> Refused {
        Refused { index: None, error }
    }

    /// Whether the answer means "this kernel cannot do that" rather than a
    /// mistake or a missing privilege: no nf_tables at all
    /// (`EPROTONOSUPPORT` for the socket, `EOPNOTSUPP` for the batch), no
    /// nf_tables for that family (`EAFNOSUPPORT`), or an expression it does
    /// not know (`EOPNOTSUPP`, e.g. the TCP option reset before Linux 5.18).
    pub(crate) fn unsupported(&self) -> bool {
        matches!(self.error.raw_os_error(), Some(libc::EOPNOTSUPP | libc::EPROTONOSUPPORT | libc::EAFNOSUPPORT))
    }
}

/// Sends `msgs` as one nfnetlink batch and waits for the kernel's answer to
/// each. Every message carries `NLM_F_ACK`, so each gets an acknowledgement
/// or an error; on any error the kernel aborts the whole batch, and the
/// first refused message is reported.
pub(crate) fn transact(msgs: &[Msg]) -> Result<(), Refused> {
    let mut sock = Socket::new(NETLINK_NETFILTER).map_err(Refused::whole)?;
    sock.bind_auto().map_err(Refused::whole)?;
    sock.connect(&SocketAddr::new(0, 0)).map_err(Refused::whole)?;
    socket2::SockRef::from(&sock).set_read_timeout(Some(ANSWER_TIMEOUT)).map_err(Refused::whole)?;
    // A fresh socket: any sequence numbers will do.
    let first_seq = 1;
    let bytes = wire::batch(msgs, first_seq);
    sock.send(&bytes, 0).map_err(Refused::whole)?;
    // seq -> index in `msgs`, for the messages still unanswered.
    let mut pending: BTreeMap<u32, usize> = (0..msgs.len()).map(|i| (first_seq + 1 + i as u32, i)).collect();
    let mut refused: Option<Refused> = None;
    while !pending.is_empty() {
        let (data, _) = sock.recv_from_full().map_err(|e| {
            let e = if e.kind() == io::ErrorKind::WouldBlock {
                io::Error::new(io::ErrorKind::TimedOut, "the kernel did not answer an nf_tables batch")
            } else {
                e
            };
            Refused::whole(e)
        })?;
        for (seq, code) in answers(&data).map_err(Refused::whole)? {
            let error = code.map(io::Error::from_raw_os_error);
            if seq == first_seq {
                // An answer to BATCH_BEGIN: the batch was not run at all.
                return Err(Refused::whole(error.unwrap_or_else(|| io::Error::other("batch refused"))));
            }
            let Some(index) = pending.remove(&seq) else { continue };
            if let Some(error) = error {
                if refused.as_ref().map_or(true, |r| r.index > Some(index)) {
                    refused = Some(Refused { index: Some(index), error });
                }
            }
        }
    }
    refused.map_or(Ok(()), Err)
}

/// The `(sequence number, errno)` of each `NLMSG_ERROR` in a datagram
/// (errno `None`: an acknowledgement).
fn answers(data: &[u8]) -> io::Result<Vec<(u32, Option<i32>)>> {
    let bad = |e: netlink_packet_core::DecodeError| io::Error::new(io::ErrorKind::InvalidData, e.to_string());
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let buf = NetlinkBuffer::new_checked(rest).map_err(bad)?;
        let len = (buf.length() as usize).min(rest.len());
        if buf.message_type() == NLMSG_ERROR {
            let payload = buf.payload();
            let msg = ErrorMessage::parse(&ErrorBuffer::new_checked(&payload).map_err(bad)?).map_err(bad)?;
            out.push((buf.sequence_number(), msg.code.map(|c| -c.get())));
        }
        // Messages are 4-byte aligned within a datagram.
        rest = rest.get(len.next_multiple_of(4)..).unwrap_or(&[]);
    }
    Ok(out)
}

#[cfg(test)]
#[path = "answers_tests.rs"]
mod answers_tests;
