//! Resolving the `mptcp_pm` generic netlink family: its id and the id of
//! its events group, as the generic netlink controller reports them.

use netlink_packet_generic::ctrl::nlas::{GenlCtrlAttrs, McastGrpAttrs};
use netlink_packet_generic::ctrl::{GenlCtrl, GenlCtrlCmd};
use netlink_packet_generic::GenlMessage;
use netlink_sys::{protocols::NETLINK_GENERIC, Socket};

use super::error::{Error, Result};
use super::nl::{self, EVENTS_GROUP, FAMILY_NAME};
use crate::netlink::{self, Expect, RawError};

/// The family id and the events group id.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Family {
    pub id: u16,
    pub events_group: Option<u32>,
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
    let mut fam = Family { id: 0, events_group: None };
    for r in &replies {
        for a in &r.payload.nlas {
            match a {
                GenlCtrlAttrs::FamilyId(id) => fam.id = *id,
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
