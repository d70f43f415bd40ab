//! The data loops: writing the pseudo-random stream with its trailer, and
//! reading it to its end while checking it, then telling the sender. Both
//! keep to their time limit and give up on a stalled peer ([`super::timed`]).

use std::io;
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mptcp::MptcpExt;

use super::checksum::{Checksum, DataStream, CHUNK, CHUNK_BLOCKS};
use super::pacing::Pacer;
use super::proto::{Outcome, Paced, Status, Trailer, OUTCOME_LEN, TRAILER_LEN};
use super::sampler::Progress;
use super::timed::{meaning, Limits, Timed};
use super::units::fmt_bytes;

/// What a sender sends.
#[derive(Debug, Clone)]
pub struct SendPlan {
    /// Seed of the data stream.
    pub seed: u64,
    /// Stop after this many bytes (0: no limit).
    pub bytes: u64,
    /// Stop after this long (zero: no limit).
    pub duration: Duration,
    /// Application pacing (inactive when the kernel paces or nobody does).
    pub pacer: Pacer,
    /// How the data is paced, for the trailer.
    pub paced: Paced,
    /// Give up after this long without progress.
    pub stall: Duration,
}

/// `e` with what we were doing and how far we got.
fn after(e: io::Error, doing: &str, bytes: u64) -> io::Error {
    io::Error::new(e.kind(), format!("{doing}, after {}: {}", fmt_bytes(bytes), meaning(&e)))
}

/// Sends the data stream of the plan until its byte count or its time is
/// up, then the trailer, then `shutdown(SHUT_WR)`. Fails as soon as the
/// receiver has gone (closed its end or reset the connection), also while
/// the pacer or a full send buffer holds the data back.
pub fn send_data(stream: &TcpStream, plan: &SendPlan, progress: &Progress) -> io::Result<Trailer> {
    let mut data = DataStream::new(plan.seed);
    let mut hash = Checksum::new();
    let start = Instant::now();
    let end = (!plan.duration.is_zero()).then(|| start + plan.duration);
    // The receiver sends nothing before the end of the stream: its FIN or a
    // reset before then means it has gone, and the sender stops at once.
    let mut timed = Timed::new(stream, Limits::stall(plan.stall)).watch_acks().watch_gone();
    let pacer = &plan.pacer;
    let mut sent = 0u64;
    loop {
        if (plan.bytes > 0 && sent >= plan.bytes) || end.is_some_and(|e| Instant::now() >= e) {
            break;
        }
        let (chunk, sa, sb) = data.next_chunk();
        let n = if plan.bytes > 0 { (plan.bytes - sent).min(CHUNK as u64) as usize } else { CHUNK };
        let mut off = 0;
        while off < n {
            // A write that took part of the chunk returns: stop at the time
            // even mid-chunk (at 100 kbit/s a 128 KiB chunk is 10 s).
            if off > 0 && end.is_some_and(|e| Instant::now() >= e) {
                break;
            }
            let len = pacer.slice().min(n - off);
            if pacer.is_active() {
                let at = sent + off as u64;
                if !pacer.wait(stream, at, len, end).map_err(|e| after(e, "sending data", at))? {
                    break; // the time is up
                }
            }
            let w = timed
                .write_some(&chunk[off..off + len], end)
                .map_err(|e| after(e, "sending data", sent + off as u64))?;
            if w == 0 {
                break; // the time is up
            }
            off += w;
            progress.app_bytes.store(sent + off as u64, Ordering::Relaxed);
        }
        // A whole chunk's checksum is known without reading it again.
        if off < CHUNK || !hash.append_sums(CHUNK_BLOCKS, &sa, &sb) {
            hash.update(&chunk[..off]);
        }
        sent += off as u64;
        if off < n {
            break;
        }
    }
    let elapsed_us = start.elapsed().as_micros() as u64;
    let trailer = Trailer { bytes: sent, hash: hash.digest(), elapsed_us, paced: plan.paced };
    timed.write_all(&trailer.encode()).map_err(|e| after(e, "sending the end marker", sent))?;
    stream.shutdown(Shutdown::Write).map_err(|e| after(e, "closing our half", sent))?;
    Ok(trailer)
}

/// After [`send_data`]: waits for the receiver's [`Outcome`], as long as
/// the receiver keeps taking data (its acknowledgements count as progress).
pub fn read_outcome(stream: &TcpStream, stall: Duration, sent: u64) -> io::Result<Outcome> {
    let mut timed = Timed::new(stream, Limits::stall(stall)).watch_acks();
    let mut b = [0u8; OUTCOME_LEN];
    timed.read_exact(&mut b).map_err(|e| {
        let doing = if e.kind() == io::ErrorKind::UnexpectedEof {
            "the receiver closed the connection without reporting what it received"
        } else {
            "waiting for the receiver's report"
        };
        after(e, doing, sent)
    })?;
    Outcome::decode(&b).ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "the receiver's report is malformed"))
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
/// arrived ([`Outcome`]) and closes our half. Best effort: a sender that is
/// gone does not hear it.
pub fn send_outcome(stream: &TcpStream, rec: &Received, status: Status) {
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
}

/// Hashes the data stream as a receiver: everything but the last
/// [`TRAILER_LEN`] bytes seen, which are kept back as the trailer candidate.
#[derive(Debug, Default)]
pub struct HoldbackHasher {
    hash: Checksum,
    tail: Vec<u8>,
    bytes: u64,
}

impl HoldbackHasher {
    /// A fresh receiver-side hasher.
    pub fn new() -> HoldbackHasher {
        HoldbackHasher { hash: Checksum::new(), tail: Vec::with_capacity(2 * TRAILER_LEN), bytes: 0 }
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

/// Reads the data stream to its end, hashing it. `limits` bound the wait
/// for each read (stall) and the whole stream (deadline).
pub fn recv_data(stream: &TcpStream, start: Instant, progress: &Progress, limits: Limits) -> io::Result<Received> {
    let mut buf = vec![0u8; 4 * CHUNK];
    let mut h = HoldbackHasher::new();
    let mut timed = Timed::new(stream, limits);
    loop {
        let n = timed.read(&mut buf).map_err(|e| after(e, "receiving data", h.bytes()))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        progress.app_bytes.store(h.bytes(), Ordering::Relaxed);
    }
    let elapsed = start.elapsed();
    let (bytes, hash, trailer) = h.finish();
    Ok(Received { bytes, hash, trailer, elapsed })
}

/// The message for a stream that ended without its trailer.
pub fn ended_early(rec: &Received, sender: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!(
            "the data stream ended before its end marker, after {} in {:.2} s: the {sender} closed the \
             connection or died mid-transfer",
            fmt_bytes(rec.bytes),
            rec.elapsed.as_secs_f64()
        ),
    )
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
    fn holdback_finds_the_trailer_whatever_the_read_sizes() {
        let mut ds = DataStream::new(42);
        let mut stream = Vec::new();
        stream.extend_from_slice(&ds.next_chunk().0[..1000]);
        let t = Trailer { bytes: 1000, hash: sum(&stream), elapsed_us: 5, paced: Paced::No };
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

    /// A receiver that takes 1 KiB every 20 ms, and small buffers: by the
    /// time the sender's 300 ms are up, far less than one 128 KiB chunk has
    /// gone. The sender stops there, mid-chunk, instead of blocking until
    /// the whole chunk is written (at 100 kbit/s that was 10 s more).
    #[test]
    fn the_sender_stops_at_its_time_even_mid_chunk() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        socket2::SockRef::from(&listener).set_recv_buffer_size(4096).unwrap();
        let addr = listener.local_addr().unwrap();
        let reader = std::thread::spawn(move || {
            let (mut c, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let mut total = 0u64;
            loop {
                match std::io::Read::read(&mut c, &mut buf) {
                    Ok(0) | Err(_) => return total,
                    Ok(n) => total += n as u64,
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        let s = TcpStream::connect(addr).unwrap();
        socket2::SockRef::from(&s).set_send_buffer_size(4096).unwrap();
        crate::timed::prepare(&s).unwrap();
        let plan = SendPlan {
            seed: 7,
            bytes: 0,
            duration: Duration::from_millis(300),
            pacer: Pacer::none(),
            paced: Paced::No,
            stall: Duration::from_secs(10),
        };
        let t = send_data(&s, &plan, &Progress::default()).unwrap();
        assert!(t.bytes > 0 && t.bytes < CHUNK as u64, "sent {} bytes: it should stop inside the first chunk", t.bytes);
        let received = reader.join().unwrap();
        assert_eq!(received, t.bytes + crate::proto::TRAILER_LEN as u64, "the data and the trailer arrived");
    }
}
