//! What the daemon needs from the path manager that `mptcp::pm` does not
//! offer yet: `ip mptcp endpoint delete id 0 ADDR`, which closes the
//! initial subflow of every connection that started from `ADDR` (when no
//! endpoint owned that address at the time the connection opened, deleting
//! the endpoint does not close it). A candidate for `mptcp::pm`.

use std::fmt;
use std::io;
use std::net::IpAddr;

use netlink_packet_core::{
    DecodeError, DefaultNla, Emitable, NetlinkMessage, NetlinkPayload, ParseableParametrized, NLA_F_NESTED, NLM_F_ACK,
    NLM_F_REQUEST,
};
use netlink_packet_generic::ctrl::nlas::GenlCtrlAttrs;
use netlink_packet_generic::ctrl::{GenlCtrl, GenlCtrlCmd};
use netlink_packet_generic::{GenlFamily, GenlHeader, GenlMessage};
use netlink_sys::{protocols::NETLINK_GENERIC, Socket, SocketAddr};

const PM_FAMILY: &str = "mptcp_pm";
const PM_VERSION: u8 = 1;
const CMD_DEL_ADDR: u8 = 2;
const ATTR_ADDR: u16 = 1;
const ADDR_ATTR_FAMILY: u16 = 1;
const ADDR_ATTR_ID: u16 = 2;
const ADDR_ATTR_ADDR4: u16 = 3;
const ADDR_ATTR_ADDR6: u16 = 4;

/// `MPTCP_PM_CMD_DEL_ADDR` with id 0 and an address.
#[derive(Debug, Clone, PartialEq, Eq)]
struct DelId0 {
    nlas: Vec<DefaultNla>,
}

impl DelId0 {
    fn new(addr: IpAddr) -> DelId0 {
        let (family, bytes) = match addr {
            IpAddr::V4(a) => (libc::AF_INET as u16, (ADDR_ATTR_ADDR4, a.octets().to_vec())),
            IpAddr::V6(a) => (libc::AF_INET6 as u16, (ADDR_ATTR_ADDR6, a.octets().to_vec())),
        };
        let inner = [
            DefaultNla::new(ADDR_ATTR_FAMILY, family.to_ne_bytes().to_vec()),
            DefaultNla::new(ADDR_ATTR_ID, vec![0]),
            DefaultNla::new(bytes.0, bytes.1),
        ];
        let mut value = vec![0u8; inner.as_slice().buffer_len()];
        inner.as_slice().emit(&mut value);
        DelId0 { nlas: vec![DefaultNla::new(ATTR_ADDR | NLA_F_NESTED, value)] }
    }
}

impl GenlFamily for DelId0 {
    fn family_name() -> &'static str {
        PM_FAMILY
    }
    fn command(&self) -> u8 {
        CMD_DEL_ADDR
    }
    fn version(&self) -> u8 {
        PM_VERSION
    }
}

impl Emitable for DelId0 {
    fn buffer_len(&self) -> usize {
        self.nlas.as_slice().buffer_len()
    }
    fn emit(&self, buffer: &mut [u8]) {
        self.nlas.as_slice().emit(buffer)
    }
}

impl ParseableParametrized<[u8], GenlHeader> for DelId0 {
    // Only acknowledgements come back, and those are not parsed as a payload.
    fn parse_with_param(_buf: &[u8], _header: GenlHeader) -> Result<Self, DecodeError> {
        Ok(DelId0 { nlas: Vec::new() })
    }
}

/// A generic-netlink socket on the calling thread's network namespace, with
/// the `mptcp_pm` family resolved.
pub(crate) struct PmExtra {
    sock: Socket,
    family: u16,
    seq: u32,
}

impl fmt::Debug for PmExtra {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PmExtra").field("family", &self.family).finish()
    }
}

impl PmExtra {
    pub fn open() -> io::Result<PmExtra> {
        let mut sock = Socket::new(NETLINK_GENERIC)?;
        sock.bind_auto()?;
        sock.connect(&SocketAddr::new(0, 0))?;
        let mut px = PmExtra { sock, family: 0, seq: 0 };
        let mut req = GenlMessage::from_payload(GenlCtrl {
            cmd: GenlCtrlCmd::GetFamily,
            nlas: vec![GenlCtrlAttrs::FamilyName(PM_FAMILY.to_string())],
        });
        req.finalize();
        let reply = px.request(NetlinkMessage::from(req))?;
        px.family = reply
            .into_iter()
            .flat_map(|m: GenlMessage<GenlCtrl>| m.payload.nlas)
            .find_map(|a| if let GenlCtrlAttrs::FamilyId(id) = a { Some(id) } else { None })
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no mptcp_pm generic netlink family"))?;
        Ok(px)
    }

    /// `ip mptcp endpoint delete id 0 ADDR`: closes the initial subflows
    /// that started from `addr`. The kernel answers 0 also when none did.
    pub fn delete_id0(&mut self, addr: IpAddr) -> io::Result<()> {
        let mut msg = GenlMessage::from_payload(DelId0::new(addr));
        msg.set_resolved_family_id(self.family);
        msg.finalize();
        self.request::<DelId0>(NetlinkMessage::from(msg)).map(drop)
    }

    fn request<F>(&mut self, mut msg: NetlinkMessage<GenlMessage<F>>) -> io::Result<Vec<GenlMessage<F>>>
    where
        F: GenlFamily + Emitable + ParseableParametrized<[u8], GenlHeader> + fmt::Debug,
    {
        self.seq = self.seq.wrapping_add(1);
        msg.header.flags = NLM_F_REQUEST | NLM_F_ACK;
        msg.header.sequence_number = self.seq;
        msg.finalize();
        let mut out = vec![0u8; msg.buffer_len()];
        msg.serialize(&mut out);
        self.sock.send(&out, 0)?;
        let mut replies = Vec::new();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let mut slice = &mut buf[..];
            let n = self.sock.recv(&mut slice, 0)?.min(buf.len());
            let mut data = &buf[..n];
            while data.len() >= 16 {
                let m = NetlinkMessage::<GenlMessage<F>>::deserialize(data)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
                let len = (m.header.length as usize).max(16);
                if m.header.sequence_number == self.seq {
                    match m.payload {
                        NetlinkPayload::InnerMessage(g) => replies.push(g),
                        NetlinkPayload::Error(e) => {
                            return match e.code {
                                None => Ok(replies),
                                Some(_) => Err(e.to_io()),
                            }
                        }
                        NetlinkPayload::Done(_) => return Ok(replies),
                        _ => {}
                    }
                }
                data = data.get((len + 3) & !3..).unwrap_or(&[]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_bytes() {
        let m = DelId0::new("10.0.1.1".parse().unwrap());
        let mut b = vec![0u8; m.buffer_len()];
        m.emit(&mut b);
        // Nested ADDR: family (AF_INET), id 0 (padded to 8), ADDR4 in network order.
        let mut want = vec![28, 0, 0x01, 0x80];
        want.extend_from_slice(&[6, 0, 1, 0, 2, 0, 0, 0]);
        want.extend_from_slice(&[5, 0, 2, 0, 0, 0, 0, 0]);
        want.extend_from_slice(&[8, 0, 3, 0, 10, 0, 1, 1]);
        assert_eq!(b, want);
        let m6 = DelId0::new("2001:db8::1".parse().unwrap());
        let mut b6 = vec![0u8; m6.buffer_len()];
        m6.emit(&mut b6);
        assert_eq!(b6.len(), 4 + 8 + 8 + 20);
        assert_eq!(&b6[20..24], &[20, 0, 4, 0]);
    }
}
