//! Property tests of the `/proc/net/netstat` parser: any text parses or
//! fails without a panic, and the kernel's layout (a names line, then a
//! values line, among other protocols' pairs) gives every counter back.

use proptest::prelude::*;

use super::*;
use crate::info::props::config;

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
