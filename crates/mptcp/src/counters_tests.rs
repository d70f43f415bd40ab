//! Tests of `counters.rs`: unit tests on fixed inputs, then property tests of
//! the `/proc/net/netstat` parser: any text parses or fails without a panic,
//! and the kernel's layout (a names line, then a values line, among other
//! protocols' pairs) gives every counter back.

use proptest::prelude::*;

use super::*;
use crate::info::tests::config;

/// `/proc/net/netstat` of Linux 6.18 (host namespace, after a few test
/// connections), `TcpExt` and `IpExt` shortened.
const NETSTAT_6_18: &str = concat!(
    "TcpExt: SyncookiesSent SyncookiesRecv SyncookiesFailed EmbryonicRsts\n",
    "TcpExt: 0 0 0 0\n",
    "IpExt: InNoRoutes InTruncatedPkts InMcastPkts OutMcastPkts\n",
    "IpExt: 0 0 0 0\n",
    "MPTcpExt: MPCapableSYNRX MPCapableSYNTX MPCapableSYNACKRX MPCapableACKRX MPCapableFallbackACK ",
    "MPCapableFallbackSYNACK MPCapableSYNTXDrop MPCapableSYNTXDisabled MPCapableEndpAttempt MPFallbackTokenInit ",
    "MPTCPRetrans MPJoinNoTokenFound MPJoinSynRx MPJoinSynBackupRx MPJoinSynAckRx MPJoinSynAckBackupRx ",
    "MPJoinSynAckHMacFailure MPJoinAckRx MPJoinAckHMacFailure MPJoinRejected MPJoinSynTx MPJoinSynTxCreatSkErr ",
    "MPJoinSynTxBindErr MPJoinSynTxConnectErr DSSNotMatching DSSCorruptionFallback DSSCorruptionReset ",
    "InfiniteMapTx InfiniteMapRx DSSNoMatchTCP DataCsumErr OFOQueueTail OFOQueue OFOMerge NoDSSInWindow ",
    "DuplicateData AddAddr AddAddrTx AddAddrTxDrop EchoAdd EchoAddTx EchoAddTxDrop PortAdd AddAddrDrop ",
    "MPJoinPortSynRx MPJoinPortSynAckRx MPJoinPortAckRx MismatchPortSynRx MismatchPortAckRx RmAddr RmAddrDrop ",
    "RmAddrTx RmAddrTxDrop RmSubflow MPPrioTx MPPrioRx MPFailTx MPFailRx MPFastcloseTx MPFastcloseRx MPRstTx ",
    "MPRstRx SubflowStale SubflowRecover SndWndShared RcvWndShared RcvWndConflictUpdate RcvWndConflict ",
    "MPCurrEstab Blackhole MPCapableDataFallback MD5SigFallback DssFallback SimultConnectFallback ",
    "FallbackFailed WinProbe\n",
    "MPTcpExt: 15 19 15 5 0 2 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 ",
    "0 0 0 0 0 0 0 0 0 0 0 0 0 10 8 10 8 0 0 0 0 0 0 2 0 2 0 0 0 0 0\n",
);

const NAMES: &str = "MPTcpExt: MPCapableSYNRX MPCapableACKRX MPCapableFallbackACK\n";

/// A snapshot of the three counters the detector reads.
fn snap(syn_rx: u64, ack_rx: u64, fallback_ack: u64) -> MptcpCounters {
    MptcpCounters::parse(&format!("{NAMES}MPTcpExt: {syn_rx} {ack_rx} {fallback_ack}\n")).unwrap()
}

#[test]
fn parses_a_real_kernel_s_counters() {
    let c = MptcpCounters::parse(NETSTAT_6_18).unwrap();
    assert_eq!(c.iter().count(), 76);
    assert_eq!(c.mp_capable_syn_rx(), Some(15));
    assert_eq!(c.mp_capable_syn_tx(), Some(19));
    assert_eq!(c.mp_capable_syn_ack_rx(), Some(15));
    assert_eq!(c.mp_capable_ack_rx(), Some(5));
    assert_eq!(c.mp_capable_fallback_ack(), Some(0));
    assert_eq!(c.mp_capable_fallback_syn_ack(), Some(2));
    assert_eq!(c.curr_estab(), Some(2));
    assert_eq!(c.get("MPRstTx"), Some(10));
    assert_eq!(c.get("WinProbe"), Some(0));
    // Other sections are not MPTCP counters.
    assert_eq!(c.get("SyncookiesSent"), None);
    assert_eq!(c.get("InNoRoutes"), None);
    assert_eq!(c.iter().next(), Some(("MPCapableSYNRX", 15)));
    assert_eq!(c.iter().last(), Some(("WinProbe", 0)));
}

#[test]
fn a_kernel_without_mptcp_gives_an_empty_snapshot() {
    let without: String = NETSTAT_6_18.lines().filter(|l| !l.starts_with(PREFIX)).map(|l| format!("{l}\n")).collect();
    let c = MptcpCounters::parse(&without).unwrap();
    assert!(c.is_empty());
    assert_eq!(c.mp_capable_fallback_ack(), None);
    assert!(MptcpCounters::parse("").unwrap().is_empty());
    assert!(matches!(
        PassiveFallbackDetector::starting_at(&c),
        Err(CountersError::Missing { name: "MPCapableFallbackACK" })
    ));
}

#[test]
fn malformed_text_is_an_error_naming_the_line() {
    let line_of = |text: &str| match MptcpCounters::parse(text) {
        Err(CountersError::Malformed { line, reason }) => {
            assert!(!reason.is_empty());
            line
        }
        other => panic!("{text:?}: expected Malformed, got {other:?}"),
    };
    // Names without values, at the end and before another section.
    assert_eq!(line_of("TcpExt: A\nTcpExt: 1\nMPTcpExt: MPCurrEstab"), 3);
    assert_eq!(line_of("MPTcpExt: MPCurrEstab\nIpExt: 0\n"), 2);
    // A values line cut short: its last number may be cut too.
    assert_eq!(line_of("MPTcpExt: MPCurrEstab\nMPTcpExt: 12"), 2);
    // More names than values, and the other way round.
    assert_eq!(line_of("MPTcpExt: MPCurrEstab Blackhole\nMPTcpExt: 1\n"), 2);
    assert_eq!(line_of("MPTcpExt: MPCurrEstab\nMPTcpExt: 1 2\n"), 2);
    // Values that are not unsigned integers.
    for bad in ["-1", "1.5", "x", "18446744073709551616", "0x10"] {
        assert_eq!(line_of(&format!("MPTcpExt: MPCurrEstab\nMPTcpExt: {bad}\n")), 2, "{bad}");
    }
    // Values where the names should be (the names line lost).
    assert_eq!(line_of("MPTcpExt: 1 2\nMPTcpExt: 3 4\n"), 1);
    let io: io::Error = CountersError::Malformed { line: 1, reason: "x".into() }.into();
    assert_eq!(io.kind(), io::ErrorKind::InvalidData);
}

#[test]
fn no_input_makes_it_panic() {
    // Every prefix of a real file, and the file with bytes replaced.
    let mut cut = NETSTAT_6_18.len();
    while cut > 0 {
        let _ = MptcpCounters::parse(&NETSTAT_6_18[..cut]);
        cut -= 1;
    }
    for (i, _) in NETSTAT_6_18.char_indices().step_by(7) {
        for with in ["\n", " ", "\u{0}", "é", "MPTcpExt:"] {
            let text = format!("{}{with}{}", &NETSTAT_6_18[..i], &NETSTAT_6_18[i + 1..]);
            let _ = MptcpCounters::parse(&text);
        }
    }
    for odd in ["MPTcpExt:", "MPTcpExt:\nMPTcpExt:", "\n\n\n", "MPTcpExt: \u{0}\nMPTcpExt: \u{0}"] {
        let _ = MptcpCounters::parse(odd);
    }
    // An empty section is a valid, empty snapshot.
    assert!(MptcpCounters::parse("MPTcpExt:\nMPTcpExt:\n").unwrap().is_empty());
}

#[test]
fn deltas_subtract_counters_and_keep_gauges() {
    let a = MptcpCounters::parse("MPTcpExt: MPCapableSYNRX MPCurrEstab Blackhole\nMPTcpExt: 10 5 2\n").unwrap();
    let b =
        MptcpCounters::parse("MPTcpExt: MPCapableSYNRX MPCurrEstab Blackhole NewOne\nMPTcpExt: 12 3 1 9\n").unwrap();
    let d = b.since(&a);
    assert_eq!(d.mp_capable_syn_rx(), Some(2));
    assert_eq!(d.curr_estab(), Some(3), "a gauge keeps the later value");
    assert_eq!(d.get("Blackhole"), Some(0), "a counter that went down does not wrap");
    assert_eq!(d.get("NewOne"), Some(9), "a counter the earlier snapshot lacks counts whole");
    assert_eq!(b.since(&b).mp_capable_syn_rx(), Some(0));
    assert_eq!(CounterKind::of("MPCurrEstab"), CounterKind::Gauge);
    assert_eq!(CounterKind::of("Blackhole"), CounterKind::Counter);
}

#[test]
fn detector_credits_a_stripped_handshake_and_not_a_plain_client() {
    use MptcpStatus::{Fallback, Mptcp, Tcp};
    let mut d = PassiveFallbackDetector::starting_at(&snap(100, 90, 3)).unwrap();
    // A plain-TCP client (Linux >= 6.9 counts nothing).
    assert_eq!(d.classify_at(Tcp, &snap(100, 90, 3)).unwrap(), Tcp);
    // An MPTCP client: SYN and accept counted.
    assert_eq!(d.classify_at(Mptcp, &snap(101, 91, 3)).unwrap(), Mptcp);
    // A client whose SYN-ACK lost MP_CAPABLE.
    assert_eq!(d.classify_at(Tcp, &snap(102, 91, 4)).unwrap(), Fallback);
    assert_eq!(d.unclaimed, 0);
    // A plain-TCP client on a kernel before 6.9: the fallback counter
    // rises, but no MP_CAPABLE SYN came.
    assert_eq!(d.classify_at(Tcp, &snap(102, 91, 5)).unwrap(), Tcp);
    // Two stripped handshakes queued before the accepts: one each.
    assert_eq!(d.classify_at(Tcp, &snap(104, 91, 7)).unwrap(), Fallback);
    assert_eq!(d.unclaimed, 1);
    assert_eq!(d.classify_at(Tcp, &snap(104, 91, 7)).unwrap(), Fallback);
    assert_eq!(d.classify_at(Tcp, &snap(104, 91, 7)).unwrap(), Tcp);
    // An MPTCP socket whose status is already known is left alone.
    assert_eq!(d.classify_at(Fallback, &snap(104, 91, 7)).unwrap(), Fallback);
}

#[test]
fn detector_restarts_on_another_namespace_s_counters() {
    let mut d = PassiveFallbackDetector::starting_at(&snap(50, 40, 5)).unwrap();
    assert_eq!(d.observe(&snap(1, 0, 0)).unwrap(), 0);
    assert_eq!(d.observe(&snap(2, 0, 1)).unwrap(), 1);
    assert!(matches!(d.observe(&MptcpCounters::default()), Err(CountersError::Missing { .. })));
}

#[cfg(not(mptcp_linux))]
#[test]
fn elsewhere_there_are_no_counters() {
    assert!(matches!(MptcpCounters::read(), Err(CountersError::Unsupported)));
    assert!(matches!(PassiveFallbackDetector::new(), Err(CountersError::Unsupported)));
}

fn counters() -> impl Strategy<Value = Vec<(String, u64)>> {
    proptest::collection::vec(("[A-Z][A-Za-z0-9]{0,20}", any::<u64>()), 0..40)
}

/// The text the kernel writes: `TcpExt` first, `MPTcpExt` after it.
fn netstat(entries: &[(String, u64)]) -> String {
    let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
    let values: Vec<String> = entries.iter().map(|(_, v)| v.to_string()).collect();
    format!(
        "TcpExt: SyncookiesSent EmbryonicRsts\nTcpExt: 0 3\n{PREFIX} {}\n{PREFIX} {}\n",
        names.join(" "),
        values.join(" ")
    )
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_text_never_panics(text in "(MPTcpExt:|TcpExt:| |[A-Za-z]{1,8}|[0-9]{1,25}|-|\n){0,60}") {
        if let Ok(c) = MptcpCounters::parse(&text) {
            for (name, v) in c.iter() {
                prop_assert_eq!(c.get(name), Some(v));
            }
            let _ = c.since(&c);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = MptcpCounters::parse(&String::from_utf8_lossy(&raw));
    }

    #[test]
    fn kernel_layout_round_trips(entries in counters(), cut in 0usize..2000) {
        let text = netstat(&entries);
        let c = MptcpCounters::parse(&text).unwrap();
        let got: Vec<(String, u64)> = c.iter().map(|(n, v)| (n.to_string(), v)).collect();
        prop_assert_eq!(&got, &entries);
        // Cut short: an error naming a line, or no MPTCP section yet, or
        // all of it; never a value cut short.
        let cut = cut.min(text.len());
        if let Ok(c) = MptcpCounters::parse(&text[..cut]) {
            let got: Vec<(String, u64)> = c.iter().map(|(n, v)| (n.to_string(), v)).collect();
            prop_assert!(got.is_empty() || got == entries, "{:?}", got);
        }
    }
}
