//! Byte-exact checks against what `nft` 1.0.6 sent to a 6.18 kernel for
//!
//! ```text
//! table ip mptcp_strip_synack {
//!   chain output { type filter hook output priority mangle; policy accept;
//!     tcp flags & (syn|ack) == (syn|ack) reset tcp option mptcp } }
//! table ip6 mptcp_strip_nonsyn {
//!   chain output { type filter hook output priority mangle; policy accept;
//!     tcp flags & syn == 0 reset tcp option mptcp } }
//! ```
//!
//! and for `nft delete table ip mptcp_strip_synack` (captured with
//! `strace -e trace=sendmsg -e write=3`). The fixtures are the payloads after
//! the 16-byte netlink header; nft sets no `NLM_F_ACK` and we do, so the
//! headers are checked field by field instead.

use super::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

const NEWTABLE_IP_SYNACK: &str = "02000000 17000100 6d707463 705f7374 7269705f 73796e61 636b0000 08000200 00000000";

const NEWCHAIN_IP_SYNACK: &str = "02000000 17000100 6d707463 705f7374 7269705f 73796e61 636b0000
    0b000300 6f757470 75740000 0b000700 66696c74 65720000 08000500 00000001
    14000480 08000100 00000003 08000200 ffffff6a";

const NEWRULE_IP_SYNACK: &str = "02000000 17000100 6d707463 705f7374 7269705f 73796e61 636b0000
    0b000200 6f757470 75740000 24010480
    24000180 09000100 6d657461 00000000 14000280 08000200 00000010 08000100 00000001
    2c000180 08000100 636d7000 20000280 08000100 00000001 08000200 00000000 0c000380 05000100 06000000
    34000180 0c000100 7061796c 6f616400 24000280 08000100 00000001 08000200 00000002 08000300 0000000d
        08000400 00000001
    4c000180 0c000100 62697477 69736500 3c000280 08000100 00000001 08000200 00000001 08000600 00000000
        08000300 00000001 0c000480 05000100 12000000 0c000580 05000100 00000000
    2c000180 08000100 636d7000 20000280 08000100 00000001 08000200 00000000 0c000380 05000100 12000000
    24000180 0b000100 65787468 64720000 14000280 05000200 1e000000 08000600 00000001";

const NEWRULE_IP6_NONSYN: &str = "0a000000 17000100 6d707463 705f7374 7269705f 6e6f6e73 796e0000
    0b000200 6f757470 75740000 24010480
    24000180 09000100 6d657461 00000000 14000280 08000200 00000010 08000100 00000001
    2c000180 08000100 636d7000 20000280 08000100 00000001 08000200 00000000 0c000380 05000100 06000000
    34000180 0c000100 7061796c 6f616400 24000280 08000100 00000001 08000200 00000002 08000300 0000000d
        08000400 00000001
    4c000180 0c000100 62697477 69736500 3c000280 08000100 00000001 08000200 00000001 08000600 00000000
        08000300 00000001 0c000480 05000100 02000000 0c000580 05000100 00000000
    2c000180 08000100 636d7000 20000280 08000100 00000001 08000200 00000000 0c000380 05000100 00000000
    24000180 0b000100 65787468 64720000 14000280 05000200 1e000000 08000600 00000001";

const DELTABLE_IP_SYNACK: &str = "02000000 17000100 6d707463 705f7374 7269705f 73796e61 636b0000";

/// Splits a batch into (length, type, flags, seq, payload) per message.
fn split(b: &[u8]) -> Vec<(u32, u16, u16, u32, Vec<u8>)> {
    let mut v = Vec::new();
    let mut off = 0;
    while off < b.len() {
        let len = u32::from_ne_bytes(b[off..off + 4].try_into().unwrap());
        let ty = u16::from_ne_bytes(b[off + 4..off + 6].try_into().unwrap());
        let fl = u16::from_ne_bytes(b[off + 6..off + 8].try_into().unwrap());
        let seq = u32::from_ne_bytes(b[off + 8..off + 12].try_into().unwrap());
        assert_eq!(&b[off + 12..off + 16], &[0; 4], "port id 0");
        v.push((len, ty, fl, seq, b[off + 16..off + len as usize].to_vec()));
        off += (len as usize + 3) & !3;
    }
    assert_eq!(off, b.len());
    v
}

#[test]
fn strip_synack_batch_matches_nft() {
    let (t, c) = ("mptcp_strip_synack", "output");
    let msgs = [
        Msg::new_table(Family::Ip, t),
        Msg::new_output_chain(Family::Ip, t, c),
        Msg::append_rule(Family::Ip, t, c, strip_rule(Select::SynAck, TCPOPT_MPTCP)),
    ];
    let m = split(&batch(&msgs, 100));
    assert_eq!(m.len(), 5);
    // BATCH_BEGIN / BATCH_END: nfgenmsg AF_UNSPEC, v0, res_id NFNL_SUBSYS_NFTABLES (big-endian).
    assert_eq!(m[0], (20, 0x10, 0x1, 100, hex("0000000a")));
    assert_eq!(m[4], (20, 0x11, 0x1, 104, hex("0000000a")));
    // REQUEST|ACK; REQUEST|ACK|CREATE; REQUEST|ACK|CREATE|APPEND.
    assert_eq!((m[1].0, m[1].1, m[1].2, m[1].3), (52, 0xa00, 0x5, 101));
    assert_eq!((m[2].0, m[2].1, m[2].2, m[2].3), (96, 0xa03, 0x405, 102));
    assert_eq!((m[3].0, m[3].1, m[3].2, m[3].3), (348, 0xa06, 0xc05, 103));
    assert_eq!(m[1].4, hex(NEWTABLE_IP_SYNACK));
    assert_eq!(m[2].4, hex(NEWCHAIN_IP_SYNACK));
    assert_eq!(m[3].4, hex(NEWRULE_IP_SYNACK));
}

#[test]
fn strip_nonsyn_rule_matches_nft() {
    let (t, c) = ("mptcp_strip_nonsyn", "output");
    let m = split(&batch(&[Msg::append_rule(Family::Ip6, t, c, strip_rule(Select::NonSyn, TCPOPT_MPTCP))], 1));
    assert_eq!((m[1].0, m[1].1), (348, 0xa06));
    assert_eq!(m[1].4, hex(NEWRULE_IP6_NONSYN));
}

#[test]
fn delete_table_matches_nft() {
    let m = split(&batch(&[Msg::del_table(Family::Ip, "mptcp_strip_synack")], 7));
    assert_eq!(m.len(), 3);
    assert_eq!((m[1].0, m[1].1, m[1].2, m[1].3), (44, 0xa02, 0x5, 8));
    assert_eq!(m[1].4, hex(DELTABLE_IP_SYNACK));
}

#[test]
fn flush_chain_is_a_delrule_without_handle() {
    let m = split(&batch(&[Msg::flush_chain(Family::Ip6, "t", "c")], 1));
    // nfgenmsg (ip6), NFTA_RULE_TABLE "t", NFTA_RULE_CHAIN "c".
    assert_eq!((m[1].1, m[1].2), (0xa08, 0x5));
    assert_eq!(m[1].4, hex("0a000000 06000100 74000000 06000200 63000000"));
}
