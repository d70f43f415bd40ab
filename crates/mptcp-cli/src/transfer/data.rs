//! The data loops: writing the pseudo-random stream with its trailer, and
//! reading it to its end while checking it, then telling the sender.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mptcp::MptcpExt;

use super::proto::{self, Checksum, DataStream, HoldbackHasher, Outcome, Trailer, CHUNK};
use super::report::Status;
use super::sampler::Progress;

/// Sends the data stream of `seed` until `bytes` (0: no limit) or `duration`
/// (zero: no limit), then the trailer, then `shutdown(SHUT_WR)`.
pub fn send_data(
    mut stream: &TcpStream,
    seed: u64,
    bytes: u64,
    duration: Duration,
    progress: &Progress,
) -> io::Result<Trailer> {
    let mut data = DataStream::new(seed);
    let mut hash = Checksum::new();
    let start = Instant::now();
    let mut sent = 0u64;
    loop {
        if bytes > 0 && sent >= bytes {
            break;
        }
        if !duration.is_zero() && start.elapsed() >= duration {
            break;
        }
        let (chunk, sa, sb) = data.next_chunk();
        let n = if bytes > 0 { (bytes - sent).min(CHUNK as u64) as usize } else { CHUNK };
        let chunk = &chunk[..n];
        stream.write_all(chunk)?;
        // A whole chunk's checksum is known without reading it again.
        if n < CHUNK || !hash.append_sums((CHUNK / proto::BLOCK) as u64, &sa, &sb) {
            hash.update(chunk);
        }
        sent += n as u64;
        progress.app_bytes.store(sent, Ordering::Relaxed);
    }
    let trailer = Trailer { bytes: sent, hash: hash.digest(), elapsed_us: start.elapsed().as_micros() as u64 };
    stream.write_all(&trailer.encode())?;
    stream.shutdown(Shutdown::Write)?;
    Ok(trailer)
}

/// What a receiver saw.
#[derive(Debug, Clone, Copy)]
pub struct Received {
    /// Data bytes.
    pub bytes: u64,
    /// Checksum of the data.
    pub hash: u64,
    /// The sender's trailer, when the stream ended with one.
    pub trailer: Option<Trailer>,
    /// From the start of the receive loop to end of stream.
    pub elapsed: Duration,
}

impl Received {
    /// Whether byte count and checksum match the sender's trailer.
    pub fn verified(&self) -> bool {
        matches!(self.trailer, Some(t) if t.bytes == self.bytes && t.hash == self.hash)
    }
}

/// The receiver's side of the end of a transfer: tells the sender what
/// arrived ([`Outcome`]), closes our half, and returns the sender's trailer
/// (zeros when the stream ended without one).
pub fn send_outcome(stream: &TcpStream, rec: &Received, status: Status) -> Trailer {
    let sf = stream.subflows().map(|v| v.len()).unwrap_or(0);
    let outcome = Outcome {
        bytes: rec.bytes,
        hash: rec.hash,
        elapsed_us: rec.elapsed.as_micros() as u64,
        verified: rec.verified(),
        status,
        subflows: sf.min(255) as u8,
    };
    let _ = outcome.write_to(&mut &*stream);
    let _ = stream.shutdown(Shutdown::Write);
    rec.trailer.unwrap_or(Trailer { bytes: 0, hash: 0, elapsed_us: 0 })
}

/// Reads the data stream to its end, hashing it.
pub fn recv_data(mut stream: &TcpStream, start: Instant, progress: &Progress) -> io::Result<Received> {
    let mut buf = vec![0u8; 4 * CHUNK];
    let mut h = HoldbackHasher::new();
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        h.update(&buf[..n]);
        progress.app_bytes.store(h.bytes(), Ordering::Relaxed);
    }
    let elapsed = start.elapsed();
    let (bytes, hash, trailer) = h.finish();
    Ok(Received { bytes, hash, trailer, elapsed })
}
