//! Tests of `info.rs`: unit tests on fixed inputs, then property tests of
//! `MptcpInfo::parse` and `TcpInfo::parse`, and the configuration every
//! property test of the crate shares.

use proptest::prelude::*;
use proptest::test_runner::Config;

use super::*;

fn info_bytes(len: usize) -> Vec<u8> {
    let mut v = vec![0u8; 96];
    v[0] = 1;
    v[3] = 2;
    v[8..12].copy_from_slice(&2u32.to_ne_bytes());
    v[12..16].copy_from_slice(&0xdead_beefu32.to_ne_bytes());
    v[42] = 1;
    v[44..48].copy_from_slice(&3u32.to_ne_bytes());
    v[56..64].copy_from_slice(&123_456u64.to_ne_bytes());
    v[80] = 2;
    v[92..96].copy_from_slice(&77u32.to_ne_bytes());
    v.truncate(len);
    v
}

#[test]
fn mptcp_info_exact_96() {
    let i = MptcpInfo::parse(&info_bytes(96));
    assert_eq!(i.subflows, Some(1));
    assert_eq!(i.subflows_max, Some(2));
    assert_eq!(i.token, Some(0xdead_beef));
    assert_eq!(i.is_fallback(), Some(false));
    assert_eq!(i.flags, Some(MptcpInfoFlags::REMOTE_KEY_RECEIVED));
    assert_eq!(i.csum_enabled, Some(true));
    assert_eq!(i.retransmits, Some(3));
    assert_eq!(i.bytes_sent, Some(123_456));
    assert_eq!(i.subflows_total, Some(2));
    assert_eq!(i.last_ack_recv_ms, Some(77));
    assert_eq!(i.reported_len, 96);
}

#[test]
fn mptcp_info_short_6_1() {
    // 6.1 returns 48 bytes: fields from 6.5 on are absent, not zero,
    // even `retransmits`, whose bytes 44..48 are padding there.
    let i = MptcpInfo::parse(&info_bytes(48));
    assert_eq!(i.token, Some(0xdead_beef));
    assert_eq!(i.csum_enabled, Some(true));
    assert_eq!(i.retransmits, None);
    assert_eq!(i.bytes_retrans, None);
    assert_eq!(i.bytes_sent, None);
    assert_eq!(i.subflows_total, None);
    assert_eq!(i.last_data_sent_ms, None);
}

#[test]
fn mptcp_info_truncated_mid_field() {
    // 50 bytes: a cut copy of the 6.5+ struct; bytes_retrans (48..56)
    // is cut, and nothing of 6.5 counts without its whole struct.
    let i = MptcpInfo::parse(&info_bytes(50));
    assert_eq!(i.bytes_retrans, None);
    assert_eq!(i.retransmits, None);
    assert_eq!(i.csum_enabled, Some(true));
    // 88 bytes (6.7-6.9): subflows_total yes, the 6.10 timers no.
    let i = MptcpInfo::parse(&info_bytes(88));
    assert_eq!(i.subflows_total, Some(2));
    assert_eq!(i.retransmits, Some(3));
    assert_eq!(i.last_data_sent_ms, None);
    // 40 bytes (5.9-5.11): no local_addr_* yet.
    let i = MptcpInfo::parse(&info_bytes(40));
    assert_eq!(i.rcv_nxt, Some(0));
    assert_eq!(i.local_addr_used, None);
    let empty = MptcpInfo::parse(&[]);
    assert_eq!(empty.subflows, None);
    assert_eq!(empty.flags, None);
}

#[test]
fn mptcp_info_longer_than_known() {
    let mut v = info_bytes(96);
    v.extend_from_slice(&[0xff; 32]);
    let i = MptcpInfo::parse(&v);
    assert_eq!(i.last_ack_recv_ms, Some(77));
    assert_eq!(i.reported_len, 128);
}

#[test]
fn tcp_info_lengths() {
    let mut v = vec![0u8; 280];
    v[0] = 1;
    v[80..84].copy_from_slice(&10u32.to_ne_bytes());
    v[120..128].copy_from_slice(&1000u64.to_ne_bytes());
    v[200..208].copy_from_slice(&2000u64.to_ne_bytes());
    let t = TcpInfo::parse(&v);
    assert_eq!(t.state_name(), Some("ESTAB"));
    assert_eq!(t.snd_cwnd, Some(10));
    assert_eq!(t.bytes_acked, Some(1000));
    assert_eq!(t.bytes_sent, Some(2000));
    let t = TcpInfo::parse(&v[..200]);
    assert_eq!(t.bytes_sent, None);
    assert_eq!(t.bytes_acked, Some(1000));
}

/// Cases per property: bounded, so the suite stays quick; no failure files
/// are written (a failure found is kept as a test with its bytes).
pub(crate) fn config() -> Config {
    Config { cases: 512, failure_persistence: None, ..Config::default() }
}

/// Fields of a parse as comparable values, in declaration order.
fn mptcp_fields(i: &MptcpInfo) -> Vec<Option<u64>> {
    let b = |v: Option<bool>| v.map(u64::from);
    vec![
        i.subflows.map(u64::from),
        i.add_addr_signal.map(u64::from),
        i.add_addr_accepted.map(u64::from),
        i.subflows_max.map(u64::from),
        i.add_addr_signal_max.map(u64::from),
        i.add_addr_accepted_max.map(u64::from),
        i.flags.map(|f| u64::from(f.0)),
        i.token.map(u64::from),
        i.write_seq,
        i.snd_una,
        i.rcv_nxt,
        i.local_addr_used.map(u64::from),
        i.local_addr_max.map(u64::from),
        b(i.csum_enabled),
        i.retransmits.map(u64::from),
        i.bytes_retrans,
        i.bytes_sent,
        i.bytes_received,
        i.bytes_acked,
        i.subflows_total.map(u64::from),
        i.last_data_sent_ms.map(u64::from),
        i.last_data_recv_ms.map(u64::from),
        i.last_ack_recv_ms.map(u64::from),
    ]
}

fn tcp_fields(t: &TcpInfo) -> Vec<Option<u64>> {
    let w = |v: Option<u32>| v.map(u64::from);
    vec![
        t.state.map(u64::from),
        t.retransmits.map(u64::from),
        w(t.rto_us),
        w(t.snd_mss),
        w(t.rcv_mss),
        w(t.lost),
        w(t.pmtu),
        w(t.rtt_us),
        w(t.rttvar_us),
        w(t.snd_cwnd),
        w(t.total_retrans),
        t.pacing_rate,
        t.bytes_acked,
        t.bytes_received,
        w(t.segs_out),
        w(t.segs_in),
        w(t.min_rtt_us),
        t.delivery_rate,
        t.bytes_sent,
        t.bytes_retrans,
    ]
}

/// Each field of `short` is absent or the one of `full`: a cut copy never
/// makes a value up.
fn is_prefix(short: &[Option<u64>], full: &[Option<u64>]) -> bool {
    short.iter().zip(full).all(|(s, f)| s.is_none() || s == f)
}

proptest! {
    #![proptest_config(config())]

    /// Any bytes parse (never a panic); a truncation of them reports each
    /// field as absent or as in the whole, and its own length.
    #[test]
    fn mptcp_info_truncations_are_prefixes(raw in proptest::collection::vec(any::<u8>(), 0..160), cut in 0usize..160) {
        let full = MptcpInfo::parse(&raw);
        let cut = cut.min(raw.len());
        let short = MptcpInfo::parse(&raw[..cut]);
        prop_assert_eq!(short.reported_len, cut);
        prop_assert!(is_prefix(&mptcp_fields(&short), &mptcp_fields(&full)), "{:?} vs {:?}", short, full);
    }

    /// The lengths real kernels return (40, 48, 80, 88, 96): every field
    /// of that kernel is present, every later one absent.
    #[test]
    fn mptcp_info_kernel_sizes(raw in proptest::collection::vec(any::<u8>(), 96), k in 0usize..5) {
        let len = [40, 48, 80, 88, 96][k];
        let present = [11, 14, 19, 20, 23][k];
        let f = mptcp_fields(&MptcpInfo::parse(&raw[..len]));
        prop_assert!(f[..present].iter().all(Option::is_some));
        prop_assert!(f[present..].iter().all(Option::is_none));
        let i = MptcpInfo::parse(&raw);
        prop_assert_eq!(i.token, Some(u32::from_ne_bytes(raw[12..16].try_into().unwrap())));
        prop_assert_eq!(i.bytes_acked, Some(u64::from_ne_bytes(raw[72..80].try_into().unwrap())));
    }

    #[test]
    fn tcp_info_truncations_are_prefixes(raw in proptest::collection::vec(any::<u8>(), 0..320), cut in 0usize..320) {
        let full = TcpInfo::parse(&raw);
        let cut = cut.min(raw.len());
        let short = TcpInfo::parse(&raw[..cut]);
        prop_assert_eq!(short.reported_len, cut);
        prop_assert!(is_prefix(&tcp_fields(&short), &tcp_fields(&full)));
        if raw.len() >= 216 {
            prop_assert!(tcp_fields(&full).iter().all(Option::is_some));
            prop_assert_eq!(full.rtt_us, Some(u32::from_ne_bytes(raw[68..72].try_into().unwrap())));
        }
    }
}
