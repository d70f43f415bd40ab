//! The few nf_tables netlink messages this crate sends, encoded by hand.
//!
//! Constants are those of the kernel's uapi headers
//! `linux/netfilter/nfnetlink.h` and `linux/netfilter/nf_tables.h`.
//! Attribute framing (length, type, padding, the nested flag) is
//! netlink-packet-core's [`Nla`]; message framing is its
//! [`NetlinkMessage`]. Integers inside nf_tables attributes are big-endian.

use netlink_packet_core::{
    Emitable, NetlinkHeader, NetlinkMessage, NetlinkPayload, NetlinkSerializable, Nla, NLA_F_NESTED, NLM_F_ACK,
    NLM_F_APPEND, NLM_F_CREATE, NLM_F_REQUEST,
};

/// `NFNL_SUBSYS_NFTABLES`: the nfnetlink subsystem id of nf_tables.
const SUBSYS_NFTABLES: u16 = 10;
/// `NFNL_MSG_BATCH_BEGIN` / `NFNL_MSG_BATCH_END` (`NLMSG_MIN_TYPE` and the next).
const MSG_BATCH_BEGIN: u16 = 0x10;
const MSG_BATCH_END: u16 = 0x11;

/// `enum nf_tables_msg_types`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MsgType {
    NewTable = 0,
    DelTable = 2,
    NewChain = 3,
    NewRule = 6,
    DelRule = 8,
}

/// The nf_tables family of a table (`NFPROTO_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    /// `NFPROTO_IPV4`: nft's `ip`.
    Ip = 2,
    /// `NFPROTO_IPV6`: nft's `ip6`.
    Ip6 = 10,
}

// Attribute numbers (each enum of nf_tables.h starts at UNSPEC = 0).
const NFTA_TABLE_NAME: u16 = 1;
const NFTA_TABLE_FLAGS: u16 = 2;
const NFTA_CHAIN_TABLE: u16 = 1;
const NFTA_CHAIN_NAME: u16 = 3;
const NFTA_CHAIN_HOOK: u16 = 4;
const NFTA_CHAIN_POLICY: u16 = 5;
const NFTA_CHAIN_TYPE: u16 = 7;
const NFTA_HOOK_HOOKNUM: u16 = 1;
const NFTA_HOOK_PRIORITY: u16 = 2;
const NFTA_RULE_TABLE: u16 = 1;
const NFTA_RULE_CHAIN: u16 = 2;
const NFTA_RULE_EXPRESSIONS: u16 = 4;
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_EXPR_NAME: u16 = 1;
const NFTA_EXPR_DATA: u16 = 2;
const NFTA_DATA_VALUE: u16 = 1;
const NFTA_META_DREG: u16 = 1;
const NFTA_META_KEY: u16 = 2;
const NFTA_CMP_SREG: u16 = 1;
const NFTA_CMP_OP: u16 = 2;
const NFTA_CMP_DATA: u16 = 3;
const NFTA_PAYLOAD_DREG: u16 = 1;
const NFTA_PAYLOAD_BASE: u16 = 2;
const NFTA_PAYLOAD_OFFSET: u16 = 3;
const NFTA_PAYLOAD_LEN: u16 = 4;
const NFTA_BITWISE_SREG: u16 = 1;
const NFTA_BITWISE_DREG: u16 = 2;
const NFTA_BITWISE_LEN: u16 = 3;
const NFTA_BITWISE_MASK: u16 = 4;
const NFTA_BITWISE_XOR: u16 = 5;
const NFTA_BITWISE_OP: u16 = 6;
const NFTA_EXTHDR_TYPE: u16 = 2;
const NFTA_EXTHDR_OP: u16 = 6;

// Values.
/// `NFT_REG_1`: the first 16-byte data register.
const REG_1: u32 = 1;
/// `NF_INET_LOCAL_OUT`.
const HOOK_LOCAL_OUT: u32 = 3;
/// `NF_IP_PRI_MANGLE` (nft's `priority mangle`).
const PRIORITY_MANGLE: i32 = -150;
/// `NF_ACCEPT`.
const POLICY_ACCEPT: u32 = 1;
/// `NFT_META_L4PROTO`.
const META_L4PROTO: u32 = 16;
/// `NFT_CMP_EQ`.
const CMP_EQ: u32 = 0;
/// `NFT_PAYLOAD_TRANSPORT_HEADER`.
const PAYLOAD_TRANSPORT: u32 = 2;
/// `NFT_BITWISE_MASK_XOR` (formerly `NFT_BITWISE_BOOL`).
const BITWISE_MASK_XOR: u32 = 0;
/// `NFT_EXTHDR_OP_TCPOPT`.
const EXTHDR_OP_TCPOPT: u32 = 1;
/// Offset of the flags byte in the TCP header.
const TCP_FLAGS_OFFSET: u32 = 13;
const TCP_SYN: u8 = 0x02;
const TCP_ACK: u8 = 0x10;
/// TCP option kind of MPTCP.
pub(crate) const TCPOPT_MPTCP: u8 = 30;

/// One netlink attribute of the tree an nf_tables message carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Attr {
    /// A big-endian u32.
    U32(u16, u32),
    /// A single byte.
    U8(u16, u8),
    /// A NUL-terminated string.
    Str(u16, String),
    /// Raw bytes.
    Bytes(u16, Vec<u8>),
    /// Nested attributes (sent with `NLA_F_NESTED`, as nft does).
    Nested(u16, Vec<Attr>),
}

impl Nla for Attr {
    fn value_len(&self) -> usize {
        match self {
            Attr::U32(..) => 4,
            Attr::U8(..) => 1,
            Attr::Str(_, s) => s.len() + 1,
            Attr::Bytes(_, b) => b.len(),
            Attr::Nested(_, v) => v.as_slice().buffer_len(),
        }
    }

    fn kind(&self) -> u16 {
        match self {
            Attr::Nested(k, _) => k | NLA_F_NESTED,
            Attr::U32(k, _) | Attr::U8(k, _) | Attr::Str(k, _) | Attr::Bytes(k, _) => *k,
        }
    }

    fn emit_value(&self, buf: &mut [u8]) {
        match self {
            Attr::U32(_, v) => buf.copy_from_slice(&v.to_be_bytes()),
            Attr::U8(_, v) => buf[0] = *v,
            Attr::Str(_, s) => {
                buf[..s.len()].copy_from_slice(s.as_bytes());
                buf[s.len()] = 0;
            }
            Attr::Bytes(_, b) => buf.copy_from_slice(b),
            Attr::Nested(_, v) => v.as_slice().emit(buf),
        }
    }
}

/// An nf_tables expression, as a `NFTA_LIST_ELEM` of a rule.
fn expr(name: &str, data: Vec<Attr>) -> Attr {
    Attr::Nested(NFTA_LIST_ELEM, vec![Attr::Str(NFTA_EXPR_NAME, name.into()), Attr::Nested(NFTA_EXPR_DATA, data)])
}

/// A register value padded to 4 bytes, as nft sends it (`NFTA_DATA_VALUE`).
fn value(kind: u16, bytes: &[u8]) -> Attr {
    Attr::Nested(kind, vec![Attr::Bytes(NFTA_DATA_VALUE, bytes.to_vec())])
}

/// `meta l4proto tcp`: load the layer 4 protocol, compare with 6.
fn match_tcp() -> Vec<Attr> {
    vec![
        expr("meta", vec![Attr::U32(NFTA_META_KEY, META_L4PROTO), Attr::U32(NFTA_META_DREG, REG_1)]),
        cmp_eq(libc::IPPROTO_TCP as u8),
    ]
}

fn cmp_eq(byte: u8) -> Attr {
    expr("cmp", vec![Attr::U32(NFTA_CMP_SREG, REG_1), Attr::U32(NFTA_CMP_OP, CMP_EQ), value(NFTA_CMP_DATA, &[byte])])
}

/// `tcp flags & mask == want`: load the flags byte, mask it, compare.
fn match_tcp_flags(mask: u8, want: u8) -> Vec<Attr> {
    vec![
        expr(
            "payload",
            vec![
                Attr::U32(NFTA_PAYLOAD_DREG, REG_1),
                Attr::U32(NFTA_PAYLOAD_BASE, PAYLOAD_TRANSPORT),
                Attr::U32(NFTA_PAYLOAD_OFFSET, TCP_FLAGS_OFFSET),
                Attr::U32(NFTA_PAYLOAD_LEN, 1),
            ],
        ),
        expr(
            "bitwise",
            vec![
                Attr::U32(NFTA_BITWISE_SREG, REG_1),
                Attr::U32(NFTA_BITWISE_DREG, REG_1),
                Attr::U32(NFTA_BITWISE_OP, BITWISE_MASK_XOR),
                Attr::U32(NFTA_BITWISE_LEN, 1),
                value(NFTA_BITWISE_MASK, &[mask]),
                value(NFTA_BITWISE_XOR, &[0]),
            ],
        ),
        cmp_eq(want),
    ]
}

/// `reset tcp option KIND`: an exthdr expression with neither source nor
/// destination register, which the kernel (since 5.18) reads as "overwrite
/// this option with NOPs". Older kernels refuse it with `EOPNOTSUPP`.
fn reset_tcp_option(kind: u8) -> Attr {
    expr("exthdr", vec![Attr::U8(NFTA_EXTHDR_TYPE, kind), Attr::U32(NFTA_EXTHDR_OP, EXTHDR_OP_TCPOPT)])
}

/// Which packets a strip rule selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Select {
    /// `tcp flags & (syn|ack) == (syn|ack)`.
    SynAck,
    /// `tcp flags & syn == 0`.
    NonSyn,
}

/// The expressions of `<select> reset tcp option <kind>`.
pub(crate) fn strip_rule(select: Select, kind: u8) -> Vec<Attr> {
    let mut v = match_tcp();
    v.extend(match select {
        Select::SynAck => match_tcp_flags(TCP_SYN | TCP_ACK, TCP_SYN | TCP_ACK),
        Select::NonSyn => match_tcp_flags(TCP_SYN, 0),
    });
    v.push(reset_tcp_option(kind));
    v
}

/// One nf_tables message: type, family, flags and attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Msg {
    pub(crate) kind: MsgType,
    pub(crate) family: Family,
    pub(crate) flags: u16,
    pub(crate) attrs: Vec<Attr>,
}

impl Msg {
    /// `NFT_MSG_NEWTABLE` (creates it, or leaves an existing one as is).
    pub(crate) fn new_table(family: Family, table: &str) -> Msg {
        Msg {
            kind: MsgType::NewTable,
            family,
            flags: NLM_F_REQUEST | NLM_F_ACK,
            attrs: vec![Attr::Str(NFTA_TABLE_NAME, table.into()), Attr::U32(NFTA_TABLE_FLAGS, 0)],
        }
    }

    /// `NFT_MSG_DELTABLE`: the table with its chains and rules.
    pub(crate) fn del_table(family: Family, table: &str) -> Msg {
        Msg {
            kind: MsgType::DelTable,
            family,
            flags: NLM_F_REQUEST | NLM_F_ACK,
            attrs: vec![Attr::Str(NFTA_TABLE_NAME, table.into())],
        }
    }

    /// `NFT_MSG_NEWCHAIN`: a base chain `type filter hook output priority
    /// mangle; policy accept`.
    pub(crate) fn new_output_chain(family: Family, table: &str, chain: &str) -> Msg {
        Msg {
            kind: MsgType::NewChain,
            family,
            flags: NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE,
            attrs: vec![
                Attr::Str(NFTA_CHAIN_TABLE, table.into()),
                Attr::Str(NFTA_CHAIN_NAME, chain.into()),
                Attr::Str(NFTA_CHAIN_TYPE, "filter".into()),
                Attr::U32(NFTA_CHAIN_POLICY, POLICY_ACCEPT),
                Attr::Nested(
                    NFTA_CHAIN_HOOK,
                    vec![
                        Attr::U32(NFTA_HOOK_HOOKNUM, HOOK_LOCAL_OUT),
                        Attr::U32(NFTA_HOOK_PRIORITY, PRIORITY_MANGLE as u32),
                    ],
                ),
            ],
        }
    }

    /// `NFT_MSG_DELRULE` without a handle: flushes the chain.
    pub(crate) fn flush_chain(family: Family, table: &str, chain: &str) -> Msg {
        Msg {
            kind: MsgType::DelRule,
            family,
            flags: NLM_F_REQUEST | NLM_F_ACK,
            attrs: vec![Attr::Str(NFTA_RULE_TABLE, table.into()), Attr::Str(NFTA_RULE_CHAIN, chain.into())],
        }
    }

    /// `NFT_MSG_NEWRULE`: appends a rule made of `exprs` to the chain.
    pub(crate) fn append_rule(family: Family, table: &str, chain: &str, exprs: Vec<Attr>) -> Msg {
        Msg {
            kind: MsgType::NewRule,
            family,
            flags: NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_APPEND,
            attrs: vec![
                Attr::Str(NFTA_RULE_TABLE, table.into()),
                Attr::Str(NFTA_RULE_CHAIN, chain.into()),
                Attr::Nested(NFTA_RULE_EXPRESSIONS, exprs),
            ],
        }
    }
}

/// The nfnetlink payload: `struct nfgenmsg` (family, version 0, big-endian
/// resource id) and the attributes.
#[derive(Debug)]
struct Payload<'a> {
    message_type: u16,
    family: u8,
    res_id: u16,
    attrs: &'a [Attr],
}

impl NetlinkSerializable for Payload<'_> {
    fn message_type(&self) -> u16 {
        self.message_type
    }

    fn buffer_len(&self) -> usize {
        4 + self.attrs.buffer_len()
    }

    fn serialize(&self, buf: &mut [u8]) {
        buf[0] = self.family;
        buf[1] = 0; // NFNETLINK_V0
        buf[2..4].copy_from_slice(&self.res_id.to_be_bytes());
        self.attrs.emit(&mut buf[4..]);
    }
}

fn frame(payload: Payload<'_>, flags: u16, seq: u32, out: &mut Vec<u8>) {
    let mut header = NetlinkHeader::default();
    header.flags = flags;
    header.sequence_number = seq;
    let mut msg = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(payload));
    msg.finalize();
    let start = out.len();
    out.resize(start + msg.buffer_len(), 0);
    msg.serialize(&mut out[start..]);
}

/// One transaction: `BATCH_BEGIN`, the messages with sequence numbers
/// `first_seq + 1 ..`, `BATCH_END`. The kernel applies all or nothing.
pub(crate) fn batch(msgs: &[Msg], first_seq: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let control = |message_type| Payload { message_type, family: 0, res_id: SUBSYS_NFTABLES, attrs: &[] };
    frame(control(MSG_BATCH_BEGIN), NLM_F_REQUEST, first_seq, &mut out);
    for (i, m) in msgs.iter().enumerate() {
        let p = Payload {
            message_type: (SUBSYS_NFTABLES << 8) | m.kind as u16,
            family: m.family as u8,
            res_id: 0,
            attrs: &m.attrs,
        };
        frame(p, m.flags, first_seq + 1 + i as u32, &mut out);
    }
    frame(control(MSG_BATCH_END), NLM_F_REQUEST, first_seq + msgs.len() as u32 + 1, &mut out);
    out
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
