//! Tests of `netlink.rs`: unit tests on fixed inputs, then property tests of
//! the netlink framing: any datagram splits and decodes without a panic,
//! requests the crate encodes split and decode back to what was encoded, and
//! a cut datagram yields a prefix of its messages.

use proptest::prelude::*;

use super::*;
use crate::info::tests::config;

/// A payload that is the message body as is, for framing tests.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Raw(u16, Vec<u8>);

impl NetlinkSerializable for Raw {
    fn message_type(&self) -> u16 {
        self.0
    }
    fn buffer_len(&self) -> usize {
        self.1.len()
    }
    fn serialize(&self, buffer: &mut [u8]) {
        buffer.copy_from_slice(&self.1)
    }
}

impl NetlinkDeserializable for Raw {
    type Error = DecodeError;
    fn deserialize(header: &NetlinkHeader, payload: &[u8]) -> Result<Self, DecodeError> {
        Ok(Raw(header.message_type, payload.to_vec()))
    }
}

fn error_msg(seq: u32, code: i32) -> Vec<u8> {
    let mut d = Vec::new();
    d.extend_from_slice(&36u32.to_ne_bytes());
    d.extend_from_slice(&2u16.to_ne_bytes());
    d.extend_from_slice(&0x100u16.to_ne_bytes());
    d.extend_from_slice(&seq.to_ne_bytes());
    d.extend_from_slice(&0u32.to_ne_bytes());
    d.extend_from_slice(&code.to_ne_bytes());
    d.extend_from_slice(&[0u8; 16]);
    d
}

#[test]
fn exchange_ack_and_dump() {
    // ACK for seq 4 after a stale one for seq 3.
    let mut d = error_msg(3, -1);
    d.extend(error_msg(4, 0));
    let mut ex = Exchange::<Raw>::new(4, Expect::Ack);
    assert!(ex.feed(&d).unwrap());
    let mut ex = Exchange::<Raw>::new(3, Expect::Ack);
    assert!(matches!(ex.feed(&d), Err(RawError::Kernel(1, None))));
    // Garbage is an error, not a panic.
    let mut ex = Exchange::<Raw>::new(3, Expect::Ack);
    assert!(ex.feed(&d[..30]).is_err());
    // A dump: two messages, then NLMSG_DONE.
    let data = |seq| encode(Raw(20, vec![1, 2, 3, 4]), NLM_F_REQUEST, seq);
    let mut ex = Exchange::<Raw>::new(7, Expect::Dump);
    assert!(!ex.feed(&[data(7), data(6)].concat()).unwrap(), "the dump goes on");
    let mut done = encode(Raw(3, vec![0; 4]), 0, 7);
    done[4..6].copy_from_slice(&3u16.to_ne_bytes()); // NLMSG_DONE
    assert!(ex.feed(&[data(7), done.clone()].concat()).unwrap());
    assert_eq!(ex.into_out(), vec![Raw(20, vec![1, 2, 3, 4]); 2]);
    // One reply expected: the first data message completes it.
    let mut ex = Exchange::<Raw>::new(5, Expect::One);
    assert!(ex.feed(&data(5)).unwrap());
    assert_eq!(ex.into_out().len(), 1);
    let mut ex = Exchange::<Raw>::new(5, Expect::One);
    assert!(matches!(ex.feed(&error_msg(5, -libc::ENOENT)), Err(RawError::Kernel(libc::ENOENT, None))));
}

#[test]
fn request_flags() {
    assert_eq!(Expect::Dump.flags(), 0x301);
    assert_eq!(Expect::Ack.flags(), 0x5);
    assert_eq!(Expect::One.flags(), 0x1);
    let req = encode(Raw(20, vec![9; 8]), Expect::One.flags(), 42);
    assert_eq!(req.len(), 24);
    assert_eq!(u32::from_ne_bytes(req[0..4].try_into().unwrap()), 24);
    assert_eq!(u16::from_ne_bytes(req[4..6].try_into().unwrap()), 20);
    assert_eq!(u16::from_ne_bytes(req[6..8].try_into().unwrap()), 1);
    assert_eq!(u32::from_ne_bytes(req[8..12].try_into().unwrap()), 42);
}

#[test]
fn error_with_extack() {
    // NLMSG_ERROR, flags CAPPED|ACK_TLVS, code -EINVAL, capped header,
    // NLMSGERR_ATTR_MSG "invalid token".
    let mut m = Vec::new();
    let text = b"invalid token\0";
    let attr_len = 4 + text.len();
    let total = 16 + 4 + 16 + ((attr_len + 3) & !3);
    m.extend_from_slice(&(total as u32).to_ne_bytes());
    m.extend_from_slice(&2u16.to_ne_bytes());
    m.extend_from_slice(&0x300u16.to_ne_bytes());
    m.extend_from_slice(&5u32.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(&(-22i32).to_ne_bytes());
    m.extend_from_slice(&[0u8; 16]);
    m.extend_from_slice(&(attr_len as u16).to_ne_bytes());
    m.extend_from_slice(&1u16.to_ne_bytes());
    m.extend_from_slice(text);
    m.resize(total, 0);
    let (seq, r) = decode::<Raw>(&m).unwrap();
    assert_eq!(seq, 5);
    match r {
        Reply::Ack(code, Some(msg)) => {
            assert_eq!(code, -22);
            assert_eq!(msg, "invalid token");
        }
        other => panic!("unexpected {other:?}"),
    }
    let mut ex = Exchange::<Raw>::new(5, Expect::Ack);
    assert!(matches!(ex.feed(&m), Err(RawError::Kernel(22, Some(ref t))) if t == "invalid token"));
}

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
