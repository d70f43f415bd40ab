//! Resolving the `mptcp_pm` generic netlink family: its id and the id of
//! its events group, as the generic netlink controller reports them.

use netlink_packet_generic::ctrl::nlas::{GenlCtrlAttrs, McastGrpAttrs, OpAttrs};
use netlink_packet_generic::ctrl::{GenlCtrl, GenlCtrlCmd};
use netlink_packet_generic::GenlMessage;
use netlink_sys::{protocols::NETLINK_GENERIC, Socket};

use super::error::{Error, Result};
use super::nl::{self, EVENTS_GROUP, FAMILY_NAME};
use crate::netlink::{self, Expect, RawError};

/// The family id, the events group id and the operations it offers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Family {
    pub id: u16,
    pub events_group: Option<u32>,
    /// Bit `n` set: command `n` is offered. `None` when the controller
    /// listed no operations (then nothing is refused up front).
    pub ops: Option<u64>,
}

impl Family {
    /// Refuses, before anything is sent, a command the family does not
    /// offer; `name` is the operation's name for the error.
    pub(crate) fn check(&self, cmd: u8, name: &str) -> Result<()> {
        match self.ops {
            Some(ops) if cmd < 64 && ops & (1 << cmd) == 0 => {
                Err(Error::NotSupported { what: format!("`{name}` operation (command {cmd}{})", since(cmd)) })
            }
            _ => Ok(()),
        }
    }

    /// The events group, or why there is none.
    pub(crate) fn events(&self) -> Result<u32> {
        self.events_group.ok_or_else(|| Error::NotSupported {
            what: format!("events (no `{EVENTS_GROUP}` multicast group; events came with Linux 5.12)"),
        })
    }
}

/// When the kernel's history added a command, for the error message only
/// (what is refused was found by probing the family).
fn since(cmd: u8) -> &'static str {
    match cmd {
        nl::CMD_ANNOUNCE..=nl::CMD_SUBFLOW_DESTROY => "; the userspace path manager came with Linux 5.19",
        _ => "",
    }
}

/// Sequence number of the family request (the first on every socket).
pub(crate) const FAMILY_SEQ: u32 = 1;

/// `CTRL_CMD_GETFAMILY` for `mptcp_pm`.
pub(crate) fn request() -> Vec<u8> {
    let ctrl = GenlCtrl { cmd: GenlCtrlCmd::GetFamily, nlas: vec![GenlCtrlAttrs::FamilyName(FAMILY_NAME.to_string())] };
    nl::encode(ctrl, 0, Expect::Ack.flags(), FAMILY_SEQ)
}

/// The family from the controller's replies; [`Error::FamilyNotFound`]
/// (with whether MPTCP sockets can be created here) when there is none.
pub(crate) fn from_replies(replies: Result<Vec<GenlMessage<GenlCtrl>>, RawError>) -> Result<Family> {
    let replies = match replies {
        Ok(r) => r,
        Err(RawError::Kernel(libc::ENOENT, _)) => return Err(not_found()),
        Err(e) => return Err(Error::named(e, "resolve the mptcp_pm family", None)),
    };
    let mut fam = Family { id: 0, events_group: None, ops: None };
    for r in &replies {
        for a in &r.payload.nlas {
            match a {
                GenlCtrlAttrs::FamilyId(id) => fam.id = *id,
                GenlCtrlAttrs::Ops(ops) => {
                    let ids = ops.iter().flatten().filter_map(|o| match o {
                        OpAttrs::Id(id) if *id < 64 => Some(*id),
                        _ => None,
                    });
                    fam.ops = Some(ids.fold(fam.ops.unwrap_or(0), |acc, id| acc | 1 << id));
                }
                GenlCtrlAttrs::McastGroups(groups) => {
                    for g in groups {
                        let name = g.iter().find_map(|x| match x {
                            McastGrpAttrs::Name(n) => Some(n.as_str()),
                            _ => None,
                        });
                        let id = g.iter().find_map(|x| match x {
                            McastGrpAttrs::Id(i) => Some(*i),
                            _ => None,
                        });
                        if let (Some(EVENTS_GROUP), Some(id)) = (name, id) {
                            fam.events_group = Some(id);
                        }
                    }
                }
                _ => {}
            }
        }
    }
    if fam.id == 0 {
        return Err(not_found());
    }
    Ok(fam)
}

fn not_found() -> Error {
    Error::FamilyNotFound { availability: crate::host::availability_now() }
}

/// A generic netlink socket for the path manager, with capped errors and
/// the kernel's extended ACK messages where it offers them.
pub(crate) fn open_socket() -> std::io::Result<Socket> {
    let s = netlink::open(NETLINK_GENERIC)?;
    // Best effort: shorter errors and the kernel's explanation.
    let _ = s.set_cap_ack(true);
    let _ = s.set_ext_ack(true);
    Ok(s)
}

/// Opens a socket and resolves the family, blocking.
pub(crate) fn open_blocking(buf: &mut [u8]) -> Result<(Socket, Family)> {
    let sock = open_socket()?;
    let family = from_replies(netlink::transact(&sock, buf, &request(), FAMILY_SEQ, Expect::Ack))?;
    Ok((sock, family))
}

#[cfg(test)]
#[path = "family_tests.rs"]
mod tests;
