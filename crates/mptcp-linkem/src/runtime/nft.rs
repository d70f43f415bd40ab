//! The nf_tables rules that send forwarded packets to the emulator's
//! queues, over netlink (no `nft` or `iptables` program needed).
//!
//! One table per emulator and family (`ip`, `ip6`), owned by the netlink
//! socket that created it (`NFT_TABLE_F_OWNER`, Linux 5.12): the kernel
//! deletes it when that socket closes, so a process that dies leaves no
//! rule behind. In `nft` syntax:
//!
//! ```text
//! table ip linkem_PID_N {          # flags owner
//!     chain forward {
//!         type filter hook forward priority filter; policy accept;
//!         iifname "lan" counter queue num UP      # via xt NFQUEUE
//!         iifname "wan" counter queue num DOWN
//!     }
//! }
//! ```
//!
//! The queue statement is xtables' `NFQUEUE` target (revision 3) inside
//! nf_tables' compat `target` expression: kernels built without
//! `CONFIG_NFT_QUEUE` (as the development machines' is) still have
//! `CONFIG_NFT_COMPAT` and `xt_NFQUEUE`. Copied in spirit from
//! mptcp-netns' nf_tables writer (`crates/mptcp-netns/src/nft/`); the two
//! can share one writer later.

use std::io;

use netlink_sys::Socket;

use super::nl::{self, NLM_F_ACK, NLM_F_APPEND, NLM_F_CREATE, NLM_F_REQUEST};

const SUBSYS_NFTABLES: u16 = 10;
const MSG_BATCH_BEGIN: u16 = 0x10;
const MSG_BATCH_END: u16 = 0x11;
const MSG_NEWTABLE: u16 = SUBSYS_NFTABLES << 8;
const MSG_DELTABLE: u16 = (SUBSYS_NFTABLES << 8) | 2;
const MSG_NEWCHAIN: u16 = (SUBSYS_NFTABLES << 8) | 3;
const MSG_NEWRULE: u16 = (SUBSYS_NFTABLES << 8) | 6;

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
const NFTA_TARGET_NAME: u16 = 1;
const NFTA_TARGET_REV: u16 = 2;
const NFTA_TARGET_INFO: u16 = 3;

/// `NFT_TABLE_F_OWNER`.
const TABLE_F_OWNER: u32 = 2;
/// `NF_INET_FORWARD`.
const HOOK_FORWARD: u32 = 2;
/// `NF_IP_PRI_FILTER`.
const PRIORITY_FILTER: u32 = 0;
const POLICY_ACCEPT: u32 = 1;
const NFT_META_IIFNAME: u32 = 6;
const NFT_REG_1: u32 = 1;
const NFT_CMP_EQ: u32 = 0;

/// The nf_tables family of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    /// `NFPROTO_IPV4`.
    Ip = 2,
    /// `NFPROTO_IPV6`.
    Ip6 = 10,
}

pub(crate) const CHAIN: &str = "forward";

/// `iifname IF queue num Q`: meta iifname -> reg 1, cmp, compat NFQUEUE v3.
fn queue_rule(out: &mut Vec<u8>, ifname: &str, queue: u16) {
    nl::put_nested(out, NFTA_LIST_ELEM, |b| {
        nl::put_str(b, NFTA_EXPR_NAME, "meta");
        nl::put_nested(b, NFTA_EXPR_DATA, |b| {
            nl::put_be32(b, NFTA_META_KEY, NFT_META_IIFNAME);
            nl::put_be32(b, NFTA_META_DREG, NFT_REG_1);
        });
    });
    nl::put_nested(out, NFTA_LIST_ELEM, |b| {
        nl::put_str(b, NFTA_EXPR_NAME, "cmp");
        nl::put_nested(b, NFTA_EXPR_DATA, |b| {
            nl::put_be32(b, NFTA_CMP_SREG, NFT_REG_1);
            nl::put_be32(b, NFTA_CMP_OP, NFT_CMP_EQ);
            // The name with its NUL, as nft sends it: an exact match.
            let mut name = ifname.as_bytes().to_vec();
            name.push(0);
            nl::put_nested(b, NFTA_CMP_DATA, |b| nl::put_attr(b, NFTA_DATA_VALUE, &name));
        });
    });
    nl::put_nested(out, NFTA_LIST_ELEM, |b| {
        nl::put_str(b, NFTA_EXPR_NAME, "target");
        nl::put_nested(b, NFTA_EXPR_DATA, |b| {
            nl::put_str(b, NFTA_TARGET_NAME, "NFQUEUE");
            nl::put_be32(b, NFTA_TARGET_REV, 3);
            // struct xt_NFQ_info_v3 { u16 queuenum; u16 queues_total; u16 flags; }
            // in host order, padded to XT_ALIGN (8). No bypass: with no
            // emulator listening, packets are dropped, not let through unshaped.
            let mut info = Vec::with_capacity(8);
            info.extend_from_slice(&queue.to_ne_bytes());
            info.extend_from_slice(&1u16.to_ne_bytes());
            info.extend_from_slice(&0u16.to_ne_bytes());
            info.extend_from_slice(&[0, 0]);
            nl::put_attr(b, NFTA_TARGET_INFO, &info);
        });
    });
}

/// The batch that creates the table, its forward chain and one rule per
/// direction; returns the bytes and the sequence numbers to wait for.
pub(crate) fn install_batch(
    family: Family,
    table: &str,
    owner: bool,
    rules: &[(&str, u16)],
    first_seq: u32,
) -> (Vec<u8>, Vec<u32>) {
    let f = family as u8;
    let mut out = Vec::new();
    let mut seqs = Vec::new();
    let mut seq = first_seq;
    nl::put_msg(&mut out, MSG_BATCH_BEGIN, NLM_F_REQUEST, seq, 0, SUBSYS_NFTABLES, |_| {});
    seq += 1;
    nl::put_msg(&mut out, MSG_NEWTABLE, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE, seq, f, 0, |b| {
        nl::put_str(b, NFTA_TABLE_NAME, table);
        nl::put_be32(b, NFTA_TABLE_FLAGS, if owner { TABLE_F_OWNER } else { 0 });
    });
    seqs.push(seq);
    seq += 1;
    nl::put_msg(&mut out, MSG_NEWCHAIN, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE, seq, f, 0, |b| {
        nl::put_str(b, NFTA_CHAIN_TABLE, table);
        nl::put_str(b, NFTA_CHAIN_NAME, CHAIN);
        nl::put_str(b, NFTA_CHAIN_TYPE, "filter");
        nl::put_be32(b, NFTA_CHAIN_POLICY, POLICY_ACCEPT);
        nl::put_nested(b, NFTA_CHAIN_HOOK, |b| {
            nl::put_be32(b, NFTA_HOOK_HOOKNUM, HOOK_FORWARD);
            nl::put_be32(b, NFTA_HOOK_PRIORITY, PRIORITY_FILTER);
        });
    });
    seqs.push(seq);
    for &(ifname, queue) in rules {
        seq += 1;
        nl::put_msg(&mut out, MSG_NEWRULE, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_APPEND, seq, f, 0, |b| {
            nl::put_str(b, NFTA_RULE_TABLE, table);
            nl::put_str(b, NFTA_RULE_CHAIN, CHAIN);
            nl::put_nested(b, NFTA_RULE_EXPRESSIONS, |b| queue_rule(b, ifname, queue));
        });
        seqs.push(seq);
    }
    seq += 1;
    nl::put_msg(&mut out, MSG_BATCH_END, NLM_F_REQUEST, seq, 0, SUBSYS_NFTABLES, |_| {});
    (out, seqs)
}

/// Installs the table on `socket` (which, with `owner`, then owns it).
pub(crate) fn install(
    socket: &Socket,
    family: Family,
    table: &str,
    owner: bool,
    rules: &[(&str, u16)],
) -> io::Result<()> {
    let (bytes, seqs) = install_batch(family, table, owner, rules, 100);
    nl::transact(socket, &bytes, &seqs)
}

/// Deletes the table (an absent table is not an error).
pub(crate) fn remove(socket: &Socket, family: Family, table: &str) -> io::Result<()> {
    let mut out = Vec::new();
    nl::put_msg(&mut out, MSG_BATCH_BEGIN, NLM_F_REQUEST, 200, 0, SUBSYS_NFTABLES, |_| {});
    nl::put_msg(&mut out, MSG_DELTABLE, NLM_F_REQUEST | NLM_F_ACK, 201, family as u8, 0, |b| {
        nl::put_str(b, NFTA_TABLE_NAME, table);
    });
    nl::put_msg(&mut out, MSG_BATCH_END, NLM_F_REQUEST, 202, 0, SUBSYS_NFTABLES, |_| {});
    match nl::transact(socket, &out, &[201]) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
        r => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_has_table_chain_and_one_rule_per_direction() {
        let (bytes, seqs) = install_batch(Family::Ip, "linkem_1_0", true, &[("lan", 10), ("wan", 11)], 1);
        assert_eq!(seqs, vec![2, 3, 4, 5]);
        let msgs: Vec<_> = nl::messages(&bytes).collect();
        let kinds: Vec<u16> = msgs.iter().map(|m| m.kind).collect();
        assert_eq!(kinds, vec![MSG_BATCH_BEGIN, MSG_NEWTABLE, MSG_NEWCHAIN, MSG_NEWRULE, MSG_NEWRULE, MSG_BATCH_END]);
        // The batch messages name the subsystem in the resource id.
        assert_eq!(msgs[0].res_id, SUBSYS_NFTABLES);
        let table: Vec<_> = nl::attrs(msgs[1].payload).collect();
        assert_eq!(table[1], (NFTA_TABLE_FLAGS, &TABLE_F_OWNER.to_be_bytes()[..]));
        // The second rule queues to 11 what comes in on `wan`.
        let rule: Vec<_> = nl::attrs(msgs[4].payload).collect();
        let exprs: Vec<_> = nl::attrs(rule[2].1).collect();
        assert_eq!(exprs.len(), 3);
        let cmp: Vec<_> = nl::attrs(exprs[1].1).collect();
        assert_eq!(cmp[0], (NFTA_EXPR_NAME, &b"cmp\0"[..]));
        let cmp_data: Vec<_> = nl::attrs(cmp[1].1).collect();
        assert_eq!(nl::attrs(cmp_data[2].1).next(), Some((NFTA_DATA_VALUE, &b"wan\0"[..])));
        let target: Vec<_> = nl::attrs(exprs[2].1).collect();
        let t: Vec<_> = nl::attrs(target[1].1).collect();
        assert_eq!(t[0], (NFTA_TARGET_NAME, &b"NFQUEUE\0"[..]));
        assert_eq!(t[1], (NFTA_TARGET_REV, &3u32.to_be_bytes()[..]));
        let mut info = 11u16.to_ne_bytes().to_vec();
        info.extend_from_slice(&1u16.to_ne_bytes());
        info.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(t[2], (NFTA_TARGET_INFO, &info[..]));
    }
}
