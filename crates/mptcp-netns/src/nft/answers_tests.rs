//! Property tests of [`answers`], the parser of the kernel's replies to a
//! transaction: arbitrary bytes never panic, and datagrams built as the
//! kernel builds them (acknowledgements and errors among other messages,
//! each 4-byte aligned) are read back as sent.

use proptest::prelude::*;
use proptest::test_runner::Config;

use super::answers;

const NLMSG_NOOP: u16 = 1;
const NLMSG_ERROR: u16 = 2;

/// One netlink message: header, payload, padding to 4 bytes.
fn message(kind: u16, seq: u32, payload: &[u8], out: &mut Vec<u8>) {
    let len = 16 + payload.len();
    out.extend_from_slice(&(len as u32).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(&0u16.to_ne_bytes());
    out.extend_from_slice(&seq.to_ne_bytes());
    out.extend_from_slice(&0u32.to_ne_bytes());
    out.extend_from_slice(payload);
    out.resize(out.len().next_multiple_of(4), 0);
}

/// An `NLMSG_ERROR` for request `seq`: errno 0 acknowledges it.
fn error(seq: u32, errno: i32, out: &mut Vec<u8>) {
    let mut payload = (-errno).to_ne_bytes().to_vec();
    // The request's header, as the kernel echoes it.
    let mut request = Vec::new();
    message(0x0a06, seq, &[], &mut request);
    payload.extend_from_slice(&request);
    message(NLMSG_ERROR, seq, &payload, out);
}

/// What the kernel may send: answers (errno 0 or an errno) and other
/// messages with payloads of any length.
fn reply() -> impl Strategy<Value = (u32, Option<i32>, Vec<u8>)> {
    (any::<u32>(), prop::option::of(1i32..4096), prop::collection::vec(any::<u8>(), 0..40))
}

proptest! {
    #![proptest_config(Config { cases: 512, ..Config::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = answers(&data);
    }

    #[test]
    fn answers_are_read_as_sent(replies in prop::collection::vec(reply(), 0..12), noise in any::<bool>()) {
        let mut data = Vec::new();
        let mut want = Vec::new();
        for (seq, errno, other) in &replies {
            if noise {
                message(NLMSG_NOOP, seq.wrapping_add(1), other, &mut data);
            }
            error(*seq, errno.unwrap_or(0), &mut data);
            want.push((*seq, *errno));
        }
        prop_assert_eq!(answers(&data).unwrap(), want);
    }

    #[test]
    fn a_cut_datagram_never_panics(replies in prop::collection::vec(reply(), 1..6), cut in any::<prop::sample::Index>()) {
        let mut data = Vec::new();
        for (seq, errno, _) in &replies {
            error(*seq, errno.unwrap_or(0), &mut data);
        }
        let at = cut.index(data.len());
        // A cut message is an error or is left out; whole ones before it stay.
        if let Ok(got) = answers(&data[..at]) {
            prop_assert!(got.len() <= replies.len());
        }
    }
}
