//! The bench wire protocol, the data generator and the stream checksum.
//!
//! One TCP/MPTCP connection carries everything:
//!
//! 1. client -> server: a [`Header`] (40 bytes): direction, seed, byte or
//!    time limit;
//! 2. sender -> receiver (client in an upload, server in a download): the
//!    data stream, then a 32-byte [`Trailer`] with the sender's byte count and
//!    XXH64 of the stream, then `shutdown(SHUT_WR)`;
//! 3. receiver -> sender: a 48-byte [`Outcome`] (what the receiver counted
//!    and whether it matched), then the connection closes.
//!
//! The receiver never needs to know the length in advance: it holds back the
//! last 32 bytes it has read and, at end of stream, those are the trailer.
//!
//! The data is a deterministic pseudo-random stream: 128 KiB chunks of
//! wyrand output generated once from the seed, each stamped with its chunk
//! number, so a misplaced, lost or duplicated segment changes the checksum.

use std::io::{self, Read, Write};

/// Size of one data chunk written at a time.
pub const CHUNK: usize = 128 * 1024;
/// Size of the encoded [`Header`].
pub const HEADER_LEN: usize = 40;
/// Size of the encoded [`Trailer`].
pub const TRAILER_LEN: usize = 32;
/// Size of the encoded [`Outcome`].
pub const OUTCOME_LEN: usize = 48;

const HEADER_MAGIC: &[u8; 8] = b"MPTCPBN1";
const TRAILER_MAGIC: &[u8; 8] = b"MPTCPEND";
const OUTCOME_MAGIC: &[u8; 8] = b"MPTCPRES";

/// Which way the data flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Client sends, server receives.
    Upload,
    /// Server sends, client receives (`--reverse`).
    Download,
}

/// What the client asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Direction of the data.
    pub direction: Direction,
    /// Seed of the data stream.
    pub seed: u64,
    /// Stop after this many bytes (0: no byte limit).
    pub bytes: u64,
    /// Stop after this many milliseconds (0: no time limit).
    pub duration_ms: u64,
}

impl Header {
    /// Encodes the header.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[..8].copy_from_slice(HEADER_MAGIC);
        b[8] = match self.direction {
            Direction::Upload => 0,
            Direction::Download => 1,
        };
        b[16..24].copy_from_slice(&self.seed.to_le_bytes());
        b[24..32].copy_from_slice(&self.bytes.to_le_bytes());
        b[32..40].copy_from_slice(&self.duration_ms.to_le_bytes());
        b
    }

    /// Decodes a header; `None` when it is not one.
    pub fn decode(b: &[u8; HEADER_LEN]) -> Option<Header> {
        if &b[..8] != HEADER_MAGIC {
            return None;
        }
        let direction = match b[8] {
            0 => Direction::Upload,
            1 => Direction::Download,
            _ => return None,
        };
        Some(Header { direction, seed: le64(&b[16..24]), bytes: le64(&b[24..32]), duration_ms: le64(&b[32..40]) })
    }

    /// Reads a header from `r`.
    pub fn read_from(r: &mut impl Read) -> io::Result<Header> {
        let mut b = [0u8; HEADER_LEN];
        r.read_exact(&mut b)?;
        Header::decode(&b).ok_or_else(|| bad("not an `mptcp bench` client (bad header)"))
    }
}

/// What the sender says it sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trailer {
    /// Bytes of data sent.
    pub bytes: u64,
    /// XXH64 of those bytes.
    pub hash: u64,
    /// Sender's time from first to last byte written, microseconds.
    pub elapsed_us: u64,
}

impl Trailer {
    /// Encodes the trailer.
    pub fn encode(&self) -> [u8; TRAILER_LEN] {
        let mut b = [0u8; TRAILER_LEN];
        b[..8].copy_from_slice(TRAILER_MAGIC);
        b[8..16].copy_from_slice(&self.bytes.to_le_bytes());
        b[16..24].copy_from_slice(&self.hash.to_le_bytes());
        b[24..32].copy_from_slice(&self.elapsed_us.to_le_bytes());
        b
    }

    /// Decodes a trailer; `None` when the bytes are not one.
    pub fn decode(b: &[u8]) -> Option<Trailer> {
        if b.len() != TRAILER_LEN || &b[..8] != TRAILER_MAGIC {
            return None;
        }
        Some(Trailer { bytes: le64(&b[8..16]), hash: le64(&b[16..24]), elapsed_us: le64(&b[24..32]) })
    }
}

/// What the receiver counted, sent back to the sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// Bytes of data received (trailer excluded).
    pub bytes: u64,
    /// XXH64 of the received data.
    pub hash: u64,
    /// Receiver's time from the header to end of stream, microseconds.
    pub elapsed_us: u64,
    /// Whether count and checksum matched the sender's trailer.
    pub verified: bool,
    /// The receiver's MPTCP status: 0 mptcp, 1 fallback, 2 tcp, 255 unknown.
    pub status: u8,
    /// Subflows the receiver saw at the end.
    pub subflows: u8,
}

impl Outcome {
    /// Encodes the outcome.
    pub fn encode(&self) -> [u8; OUTCOME_LEN] {
        let mut b = [0u8; OUTCOME_LEN];
        b[..8].copy_from_slice(OUTCOME_MAGIC);
        b[8..16].copy_from_slice(&self.bytes.to_le_bytes());
        b[16..24].copy_from_slice(&self.hash.to_le_bytes());
        b[24..32].copy_from_slice(&self.elapsed_us.to_le_bytes());
        b[32] = self.verified as u8;
        b[33] = self.status;
        b[34] = self.subflows;
        b
    }

    /// Decodes an outcome; `None` when the bytes are not one.
    pub fn decode(b: &[u8; OUTCOME_LEN]) -> Option<Outcome> {
        if &b[..8] != OUTCOME_MAGIC {
            return None;
        }
        Some(Outcome {
            bytes: le64(&b[8..16]),
            hash: le64(&b[16..24]),
            elapsed_us: le64(&b[24..32]),
            verified: b[32] == 1,
            status: b[33],
            subflows: b[34],
        })
    }

    /// Reads an outcome from `r`.
    pub fn read_from(r: &mut impl Read) -> io::Result<Outcome> {
        let mut b = [0u8; OUTCOME_LEN];
        r.read_exact(&mut b)?;
        Outcome::decode(&b).ok_or_else(|| bad("the peer's final report is malformed"))
    }

    /// Writes the outcome to `w`.
    pub fn write_to(&self, w: &mut impl Write) -> io::Result<()> {
        w.write_all(&self.encode())
    }
}

/// Encodes an MPTCP status for [`Outcome::status`].
pub fn status_code(s: Option<mptcp::MptcpStatus>) -> u8 {
    match s {
        Some(mptcp::MptcpStatus::Mptcp) => 0,
        Some(mptcp::MptcpStatus::Fallback) => 1,
        Some(mptcp::MptcpStatus::Tcp) => 2,
        None => 255,
    }
}

/// Decodes [`Outcome::status`] to the status name.
pub fn status_name(code: u8) -> &'static str {
    match code {
        0 => "mptcp",
        1 => "fallback",
        2 => "tcp",
        _ => "unknown",
    }
}

fn le64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

/// wyrand: a small, fast 64-bit PRNG.
#[derive(Debug, Clone)]
pub struct WyRand(u64);

impl WyRand {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> WyRand {
        WyRand(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0xa076_1d64_78bd_642f);
        let t = (self.0 as u128).wrapping_mul((self.0 ^ 0xe703_7ed1_a0b4_28db) as u128);
        ((t >> 64) ^ t) as u64
    }
}

/// The deterministic data stream of a seed: chunk `k` is a fixed 128 KiB
/// block of wyrand output whose first 8 bytes are replaced by `k ^ seed`.
#[derive(Debug)]
pub struct DataStream {
    seed: u64,
    buf: Vec<u8>,
    next_chunk: u64,
}

impl DataStream {
    /// The stream of `seed`.
    pub fn new(seed: u64) -> DataStream {
        let mut rng = WyRand::new(seed);
        let mut buf = vec![0u8; CHUNK];
        for w in buf.chunks_exact_mut(8) {
            w.copy_from_slice(&rng.next_u64().to_le_bytes());
        }
        DataStream { seed, buf, next_chunk: 0 }
    }

    /// The next chunk (always [`CHUNK`] bytes; the caller may send a prefix
    /// of the last one).
    pub fn next_chunk(&mut self) -> &[u8] {
        let stamp = self.next_chunk ^ self.seed;
        self.buf[..8].copy_from_slice(&stamp.to_le_bytes());
        self.next_chunk += 1;
        &self.buf
    }
}

const P1: u64 = 0x9E37_79B1_85EB_CA87;
const P2: u64 = 0xC2B2_AE3D_27D4_EB4F;
const P3: u64 = 0x1656_67B1_9E37_79F9;
const P4: u64 = 0x85EB_CA77_C2B2_AE63;
const P5: u64 = 0x27D4_EB2F_1656_67C5;

/// Streaming XXH64 (seed 0), the checksum of the data stream.
#[derive(Debug, Clone)]
pub struct Xxh64 {
    v: [u64; 4],
    total: u64,
    mem: [u8; 32],
    mem_len: usize,
}

impl Default for Xxh64 {
    fn default() -> Self {
        Xxh64::new()
    }
}

#[inline(always)]
fn round(acc: u64, input: u64) -> u64 {
    acc.wrapping_add(input.wrapping_mul(P2)).rotate_left(31).wrapping_mul(P1)
}

#[inline(always)]
fn merge(acc: u64, val: u64) -> u64 {
    (acc ^ round(0, val)).wrapping_mul(P1).wrapping_add(P4)
}

#[inline(always)]
fn read64(b: &[u8]) -> u64 {
    le64(b)
}

impl Xxh64 {
    /// A fresh hasher.
    pub fn new() -> Xxh64 {
        Xxh64 { v: [P1.wrapping_add(P2), P2, 0, 0u64.wrapping_sub(P1)], total: 0, mem: [0u8; 32], mem_len: 0 }
    }

    fn stripes(v: &mut [u64; 4], data: &[u8]) {
        let [mut a, mut b, mut c, mut d] = *v;
        for s in data.chunks_exact(32) {
            a = round(a, read64(&s[0..8]));
            b = round(b, read64(&s[8..16]));
            c = round(c, read64(&s[16..24]));
            d = round(d, read64(&s[24..32]));
        }
        *v = [a, b, c, d];
    }

    /// Adds bytes.
    pub fn update(&mut self, mut data: &[u8]) {
        self.total += data.len() as u64;
        if self.mem_len > 0 {
            let take = (32 - self.mem_len).min(data.len());
            self.mem[self.mem_len..self.mem_len + take].copy_from_slice(&data[..take]);
            self.mem_len += take;
            data = &data[take..];
            if self.mem_len < 32 {
                return;
            }
            let mem = self.mem;
            Self::stripes(&mut self.v, &mem);
            self.mem_len = 0;
        }
        let whole = data.len() / 32 * 32;
        Self::stripes(&mut self.v, &data[..whole]);
        let rest = &data[whole..];
        self.mem[..rest.len()].copy_from_slice(rest);
        self.mem_len = rest.len();
    }

    /// The hash of everything added so far.
    pub fn digest(&self) -> u64 {
        let [a, b, c, d] = self.v;
        let mut h = if self.total >= 32 {
            let mut h = a
                .rotate_left(1)
                .wrapping_add(b.rotate_left(7))
                .wrapping_add(c.rotate_left(12))
                .wrapping_add(d.rotate_left(18));
            h = merge(h, a);
            h = merge(h, b);
            h = merge(h, c);
            merge(h, d)
        } else {
            P5
        };
        h = h.wrapping_add(self.total);
        let mut rest = &self.mem[..self.mem_len];
        while rest.len() >= 8 {
            h ^= round(0, read64(rest));
            h = h.rotate_left(27).wrapping_mul(P1).wrapping_add(P4);
            rest = &rest[8..];
        }
        if rest.len() >= 4 {
            let k = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as u64;
            h ^= k.wrapping_mul(P1);
            h = h.rotate_left(23).wrapping_mul(P2).wrapping_add(P3);
            rest = &rest[4..];
        }
        for &byte in rest {
            h ^= (byte as u64).wrapping_mul(P5);
            h = h.rotate_left(11).wrapping_mul(P1);
        }
        h ^= h >> 33;
        h = h.wrapping_mul(P2);
        h ^= h >> 29;
        h = h.wrapping_mul(P3);
        h ^ (h >> 32)
    }
}

/// Hashes the data stream as a receiver: everything but the last
/// [`TRAILER_LEN`] bytes seen, which are kept back as the trailer candidate.
#[derive(Debug, Default)]
pub struct HoldbackHasher {
    hash: Xxh64,
    tail: Vec<u8>,
    bytes: u64,
}

impl HoldbackHasher {
    /// A fresh receiver-side hasher.
    pub fn new() -> HoldbackHasher {
        HoldbackHasher { hash: Xxh64::new(), tail: Vec::with_capacity(2 * TRAILER_LEN), bytes: 0 }
    }

    /// Adds bytes just read.
    pub fn update(&mut self, data: &[u8]) {
        if data.len() >= TRAILER_LEN {
            // Everything held back is data now, and so is all but the new tail.
            let tail = std::mem::take(&mut self.tail);
            self.feed(&tail);
            let (body, tail) = data.split_at(data.len() - TRAILER_LEN);
            self.feed(body);
            self.tail.extend_from_slice(tail);
        } else {
            self.tail.extend_from_slice(data);
            if self.tail.len() > TRAILER_LEN {
                let excess = self.tail.len() - TRAILER_LEN;
                let head: Vec<u8> = self.tail.drain(..excess).collect();
                self.feed(&head);
            }
        }
    }

    fn feed(&mut self, d: &[u8]) {
        self.hash.update(d);
        self.bytes += d.len() as u64;
    }

    /// Data bytes so far (the held-back tail excluded).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// At end of stream: (data bytes, hash, the trailer if the tail is one).
    pub fn finish(&self) -> (u64, u64, Option<Trailer>) {
        (self.bytes, self.hash.digest(), Trailer::decode(&self.tail))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xxh(d: &[u8]) -> u64 {
        let mut h = Xxh64::new();
        h.update(d);
        h.digest()
    }

    #[test]
    fn xxh64_matches_reference_vectors() {
        assert_eq!(xxh(b""), 0xEF46_DB37_51D8_E999);
        assert_eq!(xxh(b"a"), 0xD24E_C4F1_A98C_6E5B);
        assert_eq!(xxh(b"abc"), 0x44BC_2CF5_AD77_0999);
        assert_eq!(xxh(b"Nobody inspects the spammish repetition"), 0xFBCE_A83C_8A37_8BF1);
    }

    #[test]
    fn xxh64_streaming_equals_one_shot() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 + 3) as u8).collect();
        let whole = xxh(&data);
        for step in [1, 3, 31, 32, 33, 100, 999] {
            let mut h = Xxh64::new();
            for c in data.chunks(step) {
                h.update(c);
            }
            assert_eq!(h.digest(), whole, "step {step}");
        }
    }

    #[test]
    fn holdback_finds_the_trailer_whatever_the_read_sizes() {
        let mut ds = DataStream::new(42);
        let mut stream = Vec::new();
        stream.extend_from_slice(&ds.next_chunk()[..1000]);
        let t = Trailer { bytes: 1000, hash: xxh(&stream), elapsed_us: 5 };
        stream.extend_from_slice(&t.encode());
        for step in [1, 7, 32, 33, 500, 2000] {
            let mut h = HoldbackHasher::new();
            for c in stream.chunks(step) {
                h.update(c);
            }
            let (n, hash, tr) = h.finish();
            assert_eq!((n, hash, tr), (1000, t.hash, Some(t)), "step {step}");
        }
    }

    #[test]
    fn corrupted_stream_changes_the_hash() {
        let mut ds = DataStream::new(1);
        let a = ds.next_chunk().to_vec();
        let b = ds.next_chunk().to_vec();
        assert_ne!(a[..8], b[..8]);
        let mut ab = a.clone();
        ab.extend_from_slice(&b);
        let mut ba = b.clone();
        ba.extend_from_slice(&a);
        assert_ne!(xxh(&ab), xxh(&ba));
    }

    #[test]
    fn messages_round_trip_and_reject_garbage() {
        let h = Header { direction: Direction::Download, seed: 9, bytes: 10, duration_ms: 11 };
        assert_eq!(Header::decode(&h.encode()), Some(h));
        assert_eq!(Header::decode(&[0u8; HEADER_LEN]), None);
        let o = Outcome { bytes: 1, hash: 2, elapsed_us: 3, verified: true, status: 1, subflows: 2 };
        assert_eq!(Outcome::decode(&o.encode()), Some(o));
        assert_eq!(Trailer::decode(&[1u8; 5]), None);
    }
}
