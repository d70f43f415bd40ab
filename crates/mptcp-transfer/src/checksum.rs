//! The data stream and its checksum: a deterministic pseudo-random stream
//! (128 KiB chunks of wyrand output generated once from the seed, with a
//! per-chunk key added to every word, so a misplaced, lost or duplicated
//! segment changes the checksum) and the stream checksum.

/// Size of one data chunk written at a time.
pub const CHUNK: usize = 128 * 1024;

fn le64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
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

/// A seed that differs from run to run (the clock and the process id
/// through wyrand): for data streams and test ids.
pub fn random_seed() -> u64 {
    let t =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
    WyRand::new(t ^ (u64::from(std::process::id()) << 32)).next_u64()
}

/// Bytes per checksum block (four little-endian u64 lanes).
pub const BLOCK: usize = 32;
const LANES: usize = 4;
/// Blocks per chunk.
pub const CHUNK_BLOCKS: u64 = (CHUNK / BLOCK) as u64;

/// The stream checksum: Fletcher over four 64-bit lanes (`a += word`,
/// `b += a`, wrapping), so it sees changed, lost, duplicated and reordered
/// bytes, finished with the byte count through a 64-bit mixer. It
/// vectorizes well (tens of GB/s), and it is linear, so a sender can add the
/// checksum of a chunk it knows without reading it again.
///
/// # Examples
///
/// ```
/// use mptcp_transfer::checksum::Checksum;
///
/// let mut a = Checksum::new();
/// a.update(b"hello ");
/// a.update(b"world");
/// let mut b = Checksum::new();
/// b.update(b"hello world");
/// assert_eq!(a.digest(), b.digest());
/// let mut c = Checksum::new();
/// c.update(b"world hello");
/// assert_ne!(a.digest(), c.digest(), "reordered bytes change it");
/// ```
#[derive(Debug, Clone, Default)]
pub struct Checksum {
    a: [u64; LANES],
    b: [u64; LANES],
    total: u64,
    mem: [u8; BLOCK],
    mem_len: usize,
}

#[inline(always)]
fn read64(b: &[u8]) -> u64 {
    le64(b)
}

fn mix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

impl Checksum {
    /// Name of the algorithm, as reports give it.
    pub const NAME: &'static str = "fletcher-4x64";

    /// A fresh checksum.
    pub fn new() -> Checksum {
        Checksum::default()
    }

    fn blocks(&mut self, data: &[u8]) {
        let (mut a, mut b) = (self.a, self.b);
        for blk in data.chunks_exact(BLOCK) {
            for j in 0..LANES {
                a[j] = a[j].wrapping_add(read64(&blk[j * 8..j * 8 + 8]));
                b[j] = b[j].wrapping_add(a[j]);
            }
        }
        self.a = a;
        self.b = b;
    }

    /// Adds bytes.
    pub fn update(&mut self, mut data: &[u8]) {
        self.total += data.len() as u64;
        if self.mem_len > 0 {
            let take = (BLOCK - self.mem_len).min(data.len());
            self.mem[self.mem_len..self.mem_len + take].copy_from_slice(&data[..take]);
            self.mem_len += take;
            data = &data[take..];
            if self.mem_len < BLOCK {
                return;
            }
            let mem = self.mem;
            self.blocks(&mem);
            self.mem_len = 0;
        }
        let whole = data.len() / BLOCK * BLOCK;
        self.blocks(&data[..whole]);
        let rest = &data[whole..];
        self.mem[..rest.len()].copy_from_slice(rest);
        self.mem_len = rest.len();
    }

    /// Adds `m` whole blocks whose sums, computed from a zero state, are
    /// `(sa, sb)`. Only at a block boundary (else it returns `false` and
    /// does nothing).
    pub fn append_sums(&mut self, m: u64, sa: &[u64; LANES], sb: &[u64; LANES]) -> bool {
        if self.mem_len != 0 {
            return false;
        }
        for j in 0..LANES {
            self.b[j] = self.b[j].wrapping_add(m.wrapping_mul(self.a[j])).wrapping_add(sb[j]);
            self.a[j] = self.a[j].wrapping_add(sa[j]);
        }
        self.total += m * BLOCK as u64;
        true
    }

    /// The checksum of everything added so far.
    pub fn digest(&self) -> u64 {
        let mut c = self.clone();
        if c.mem_len > 0 {
            let mut last = [0u8; BLOCK];
            last[..c.mem_len].copy_from_slice(&c.mem[..c.mem_len]);
            c.blocks(&last);
        }
        let mut h = mix(c.total ^ 0x6d70_7463_7062_656e);
        for j in 0..LANES {
            h = mix(h ^ c.a[j]).rotate_left(17);
            h = mix(h ^ c.b[j]).rotate_left(31);
        }
        mix(h)
    }
}

/// The deterministic data stream of a seed: chunk `k` is a fixed 128 KiB
/// block of wyrand output with a per-chunk key added to every 64-bit word,
/// so no two chunks are alike and a misplaced segment changes the checksum.
///
/// # Examples
///
/// ```
/// use mptcp_transfer::checksum::{DataStream, CHUNK};
///
/// let (mut a, mut b) = (DataStream::new(7), DataStream::new(7));
/// let first = a.next_chunk().0.to_vec();
/// assert_eq!(first.len(), CHUNK);
/// assert_eq!(first, b.next_chunk().0, "the same seed gives the same stream");
/// assert_ne!(first, a.next_chunk().0, "no two chunks are alike");
/// ```
#[derive(Debug)]
pub struct DataStream {
    seed: u64,
    body: Vec<u64>,
    body_a: [u64; LANES],
    body_b: [u64; LANES],
    out: Vec<u8>,
    next_chunk: u64,
}

impl DataStream {
    /// The stream of `seed`.
    pub fn new(seed: u64) -> DataStream {
        let mut rng = WyRand::new(seed);
        let body: Vec<u64> = (0..CHUNK / 8).map(|_| rng.next_u64()).collect();
        let bytes: Vec<u8> = body.iter().flat_map(|w| w.to_le_bytes()).collect();
        let mut c = Checksum::new();
        c.blocks(&bytes);
        DataStream { seed, body, body_a: c.a, body_b: c.b, out: vec![0u8; CHUNK], next_chunk: 0 }
    }

    fn key(&self, k: u64) -> u64 {
        WyRand::new(self.seed ^ k.wrapping_mul(0x9E37_79B9_7F4A_7C15)).next_u64()
    }

    /// The next chunk ([`CHUNK`] bytes; the caller may send a prefix of the
    /// last one), and the checksum sums of the whole chunk.
    pub fn next_chunk(&mut self) -> (&[u8], [u64; LANES], [u64; LANES]) {
        let key = self.key(self.next_chunk);
        self.next_chunk += 1;
        for (o, w) in self.out.chunks_exact_mut(8).zip(&self.body) {
            o.copy_from_slice(&w.wrapping_add(key).to_le_bytes());
        }
        // Every word of every block grew by `key`: the sums grow by
        // m*key (a) and key*m*(m+1)/2 (b) in each lane.
        let m = CHUNK_BLOCKS;
        let (mut sa, mut sb) = (self.body_a, self.body_b);
        for j in 0..LANES {
            sa[j] = sa[j].wrapping_add(m.wrapping_mul(key));
            sb[j] = sb[j].wrapping_add(key.wrapping_mul(m * (m + 1) / 2));
        }
        (&self.out, sa, sb)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(d: &[u8]) -> u64 {
        let mut h = Checksum::new();
        h.update(d);
        h.digest()
    }

    #[test]
    fn streaming_equals_one_shot() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 + 3) as u8).collect();
        let whole = sum(&data);
        for step in [1, 3, 31, 32, 33, 100, 999] {
            let mut h = Checksum::new();
            for c in data.chunks(step) {
                h.update(c);
            }
            assert_eq!(h.digest(), whole, "step {step}");
        }
        assert_ne!(sum(b""), sum(b"\0"));
        assert_ne!(sum(b"a"), sum(b"a\0"));
    }

    #[test]
    fn sender_shortcut_equals_reading_the_bytes() {
        let mut ds = DataStream::new(7);
        let mut fast = Checksum::new();
        let mut slow = Checksum::new();
        for _ in 0..3 {
            let (chunk, sa, sb) = ds.next_chunk();
            slow.update(chunk);
            assert!(fast.append_sums(CHUNK_BLOCKS, &sa, &sb));
        }
        let (chunk, _, _) = ds.next_chunk();
        slow.update(&chunk[..1001]);
        fast.update(&chunk[..1001]);
        assert_eq!(fast.digest(), slow.digest());
        let (_, sa, sb) = ds.next_chunk();
        assert!(!fast.append_sums(CHUNK_BLOCKS, &sa, &sb), "mid-block append must be refused");
    }

    #[test]
    fn changes_are_seen() {
        let mut ds = DataStream::new(1);
        let a = ds.next_chunk().0.to_vec();
        let b = ds.next_chunk().0.to_vec();
        let ab = [a.clone(), b.clone()].concat();
        // Chunks differ everywhere, not only in a header.
        assert_ne!(a[5000..5100], b[5000..5100]);
        // Reordered chunks, a segment moved to the other chunk, a flipped bit,
        // a lost segment.
        assert_ne!(sum(&ab), sum(&[b.clone(), a.clone()].concat()));
        let mut moved = ab.clone();
        moved[CHUNK + 1448..CHUNK + 2896].copy_from_slice(&a[1448..2896]);
        assert_ne!(sum(&ab), sum(&moved));
        let mut swapped = ab.clone();
        swapped[0..1448].copy_from_slice(&ab[1448..2896]);
        swapped[1448..2896].copy_from_slice(&ab[0..1448]);
        assert_ne!(sum(&ab), sum(&swapped));
        let mut flipped = ab.clone();
        flipped[77_777] ^= 1;
        assert_ne!(sum(&ab), sum(&flipped));
        let lost = [&ab[..1448], &ab[2896..]].concat();
        assert_ne!(sum(&ab), sum(&lost));
    }
}
