//! Property tests of the netlink framing: any datagram splits and decodes
//! without a panic, requests the crate encodes split and decode back to
//! what was encoded, and a cut datagram yields a prefix of its messages.

use proptest::prelude::*;

use super::tests::Raw;
use super::*;
use crate::info::props::config;

/// Data messages of family type 16 and up (below are the control types).
fn message() -> impl Strategy<Value = (u16, Vec<u8>, u32)> {
    (16u16..1000, proptest::collection::vec(any::<u8>(), 0..64), any::<u32>())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_datagrams_never_panic(d in proptest::collection::vec(any::<u8>(), 0..512), seq in any::<u32>(), flags in any::<u16>()) {
        for m in split(&d).flatten() {
            prop_assert!(m.len() >= 16);
            let _ = decode::<Raw>(m);
        }
        for expect in [Expect::Dump, Expect::Ack, Expect::One] {
            let _ = Exchange::<Raw>::new(seq, expect).feed(&d);
        }
        let _ = extack_message(flags, &d);
    }

    /// Requests encode, split and decode back to themselves, in order,
    /// however many share a datagram.
    #[test]
    fn encode_split_decode_round_trip(msgs in proptest::collection::vec(message(), 1..6), cut in 0usize..700) {
        let mut d = Vec::new();
        for (ty, body, seq) in &msgs {
            d.extend(encode(Raw(*ty, body.clone()), NLM_F_REQUEST, *seq));
            d.resize((d.len() + 3) & !3, 0);
        }
        let parsed: Vec<(u32, Raw)> = split(&d)
            .map(|m| match decode::<Raw>(m.unwrap()).unwrap() {
                (seq, Reply::Data(r)) => (seq, r),
                (_, other) => panic!("unexpected {other:?}"),
            })
            .collect();
        let want: Vec<(u32, Raw)> = msgs.iter().map(|(t, b, s)| (*s, Raw(*t, b.clone()))).collect();
        prop_assert_eq!(&parsed, &want);
        // Cut anywhere: whole messages first, then at most one error.
        let cut = cut.min(d.len());
        let mut got = Vec::new();
        let mut errors = 0;
        for m in split(&d[..cut]) {
            match m {
                Ok(m) => {
                    prop_assert_eq!(errors, 0, "a message after an error");
                    if let (seq, Reply::Data(r)) = decode::<Raw>(m).unwrap() {
                        got.push((seq, r));
                    }
                }
                Err(_) => errors += 1,
            }
        }
        prop_assert!(errors <= 1);
        prop_assert!(want.starts_with(&got), "{:?} is not a prefix", got);
    }

    /// A dump's replies are collected until its NLMSG_DONE, an exact
    /// request's first reply completes it, and replies to other requests
    /// are skipped.
    #[test]
    fn exchanges_collect_their_replies(bodies in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..32), 0..5), other in any::<u32>()) {
        let seq = 7;
        let other = if other == seq { seq + 1 } else { other };
        let mut d = Vec::new();
        let mut push = |m: Vec<u8>| {
            d.extend(m);
            d.resize((d.len() + 3) & !3, 0); // NLMSG_ALIGN, as the kernel pads
        };
        for b in &bodies {
            push(encode(Raw(20, b.clone()), 0, other));
            push(encode(Raw(20, b.clone()), 0, seq));
        }
        let mut done = encode(Raw(3, vec![0; 4]), 0, seq);
        done[4..6].copy_from_slice(&3u16.to_ne_bytes()); // NLMSG_DONE
        push(done);
        let mut ex = Exchange::<Raw>::new(seq, Expect::Dump);
        prop_assert!(ex.feed(&d).unwrap());
        let want: Vec<Raw> = bodies.iter().map(|b| Raw(20, b.clone())).collect();
        prop_assert_eq!(ex.into_out(), want.clone());
        let mut one = Exchange::<Raw>::new(seq, Expect::One);
        prop_assert_eq!(one.feed(&d).unwrap(), true);
        prop_assert_eq!(one.into_out(), want.into_iter().take(1).collect::<Vec<_>>());
    }
}
