//! The bench wire protocol (version 2).
//!
//! Every connection starts with an 80-byte [`Hello`] from the client; its
//! [`Kind`] says what the connection is for:
//!
//! - **control**: one per test. The server answers [`Reply::Accept`] (or
//!   [`Reply::Refuse`] with a reason), which proves to the client that it
//!   talks to an `mptcp bench server` before any data moves. The client then
//!   opens the test's other connections, and closes its half of the control
//!   connection when they have all ended; the server then reports the test.
//! - **data**: one bulk transfer, checked end to end. The sender (client in
//!   an upload, server in a download) writes the data stream, a 40-byte
//!   [`Trailer`] with its byte count and checksum, then `shutdown(SHUT_WR)`;
//!   the receiver answers with a 48-byte [`Outcome`] (what it counted and
//!   whether it matched). The receiver never needs the length in advance: it
//!   holds back the last 40 bytes it has read, and at end of stream those
//!   are the trailer. A data connection with test id 0 stands alone (the lab
//!   uses them without a control connection).
//! - **rr**: request/response transactions of fixed sizes until the client
//!   closes its half; the server then sends [`RrDone`] with its count.
//! - **crr**: one transaction per connection: hello and request in one
//!   write, the response, and the server closes first (so the client, which
//!   opens thousands of them, holds no `TIME_WAIT` port).
//!
//! The hello ends in `\r\n\r\n`, so a line-based server that is not ours
//! (an HTTP server, say) sees a complete request and answers it: the client
//! shows that answer instead of waiting.

use std::fmt;
use std::io::{self, Read, Write};

use mptcp::MptcpStatus;

/// Size of the encoded [`Hello`].
pub const HELLO_LEN: usize = 80;
/// Size of the encoded [`Trailer`].
pub const TRAILER_LEN: usize = 40;
/// Size of the encoded [`Outcome`].
pub const OUTCOME_LEN: usize = 48;
/// Size of an accepting [`Reply`] and of [`RrDone`].
pub const REPLY_LEN: usize = 16;
/// Longest reason a [`Reply::Refuse`] carries.
pub const MAX_REASON: usize = 1024;

/// Longest time limit a hello may ask for, milliseconds (24 h).
pub const MAX_DURATION_MS: u64 = 86_400_000;
/// Slowest pacing rate a hello may ask for, bits per second (0: unpaced).
pub const MIN_RATE_BPS: u64 = 1_000;
/// Fastest pacing rate a hello may ask for, bits per second.
pub const MAX_RATE_BPS: u64 = 10_000_000_000_000;
/// Most transactions a hello may ask for (0: until the time limit).
pub const MAX_COUNT: u64 = 1_000_000_000;
/// Shortest stall limit a hello may ask for, milliseconds (0: the default).
pub const MIN_STALL_MS: u32 = 500;
/// Longest stall limit a hello may ask for, milliseconds (1 h).
pub const MAX_STALL_MS: u32 = 3_600_000;
/// Largest request or response of a request/response test, bytes.
pub const MAX_MESSAGE: u32 = 16 << 20;
/// Most connections one test may hold open at once.
pub const MAX_STREAMS: u16 = 256;

const HELLO_MAGIC: &[u8; 8] = b"MPTCPBN2";
/// Version 1 clients (before control connections) started with this.
const HELLO_V1_MAGIC: &[u8; 8] = b"MPTCPBN1";
const ACCEPT_MAGIC: &[u8; 8] = b"MPTCPOK2";
const REFUSE_MAGIC: &[u8; 8] = b"MPTCPNO2";
const RR_DONE_MAGIC: &[u8; 8] = b"MPTCPRR2";
const TRAILER_MAGIC: &[u8; 8] = b"MPTCPEND";
const OUTCOME_MAGIC: &[u8; 8] = b"MPTCPRES";
const HELLO_END: &[u8; 4] = b"\r\n\r\n";

/// Which way the data flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Client sends, server receives.
    Upload,
    /// Server sends, client receives (`--reverse`).
    Download,
}

/// What a connection is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// The test's control connection.
    Control,
    /// A bulk data transfer.
    Data,
    /// Request/response transactions on one connection.
    Rr,
    /// One transaction on its own connection.
    Crr,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Kind::Control => "control",
            Kind::Data => "data",
            Kind::Rr => "rr",
            Kind::Crr => "crr",
        })
    }
}

/// What the test measures, as the control hello announces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Bulk throughput (data connections).
    Stream,
    /// Request/response latency (rr connections).
    Rr,
    /// Connections per second (crr connections).
    Crr,
}

impl Mode {
    /// The kind of the test's connections other than the control one.
    pub fn kind(self) -> Kind {
        match self {
            Mode::Stream => Kind::Data,
            Mode::Rr => Kind::Rr,
            Mode::Crr => Kind::Crr,
        }
    }
}

/// A connection's MPTCP status as the [`Outcome`] carries it and reports
/// give it: the library's answer, or `unknown` when there was none (a peer
/// that did not say).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// MPTCP on the wire.
    Mptcp,
    /// Asked for MPTCP, runs as TCP.
    Fallback,
    /// Plain TCP.
    Tcp,
    /// Not known.
    Unknown,
}

impl From<Option<MptcpStatus>> for Status {
    fn from(s: Option<MptcpStatus>) -> Status {
        match s {
            Some(MptcpStatus::Mptcp) => Status::Mptcp,
            Some(MptcpStatus::Fallback) => Status::Fallback,
            Some(MptcpStatus::Tcp) => Status::Tcp,
            None => Status::Unknown,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Status::Mptcp => "mptcp",
            Status::Fallback => "fallback",
            Status::Tcp => "tcp",
            Status::Unknown => "unknown",
        })
    }
}

/// The first message of every connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hello {
    /// What this connection is for.
    pub kind: Kind,
    /// For control: the test's mode. Else: the mode its kind belongs to.
    pub mode: Mode,
    /// Data direction (data connections; control: the first stream's).
    pub direction: Direction,
    /// Both directions at once (control of a `--bidir` test).
    pub bidir: bool,
    /// Index of this connection in its test (crr: the transaction number,
    /// truncated).
    pub index: u16,
    /// Connections the test keeps open at once (`-P`; both directions
    /// counted in a bidirectional test).
    pub streams: u16,
    /// The test this connection belongs to (0: a standalone data connection).
    pub test_id: u64,
    /// Seed of the data stream.
    pub seed: u64,
    /// Stop after this many bytes (0: no byte limit).
    pub bytes: u64,
    /// Stop after this many milliseconds (0: no time limit).
    pub duration_ms: u64,
    /// Sender's pacing rate, bits per second (0: unpaced).
    pub rate_bps: u64,
    /// Request size (rr, crr).
    pub request_size: u32,
    /// Response size (rr, crr).
    pub response_size: u32,
    /// Transactions per connection (rr; 0: until the time limit).
    pub count: u64,
    /// Give up after this long without progress, milliseconds.
    pub stall_ms: u32,
}

impl Hello {
    /// A data hello with everything else zero.
    pub fn data(direction: Direction, seed: u64, bytes: u64, duration_ms: u64) -> Hello {
        Hello {
            kind: Kind::Data,
            mode: Mode::Stream,
            direction,
            bidir: false,
            index: 0,
            streams: 1,
            test_id: 0,
            seed,
            bytes,
            duration_ms,
            rate_bps: 0,
            request_size: 0,
            response_size: 0,
            count: 0,
            stall_ms: 0,
        }
    }

    /// Encodes the hello.
    pub fn encode(&self) -> [u8; HELLO_LEN] {
        let mut b = [0u8; HELLO_LEN];
        b[..8].copy_from_slice(HELLO_MAGIC);
        b[8] = match self.kind {
            Kind::Control => 0,
            Kind::Data => 1,
            Kind::Rr => 2,
            Kind::Crr => 3,
        };
        b[9] = match self.direction {
            Direction::Upload => 0,
            Direction::Download => 1,
        };
        b[10..12].copy_from_slice(&self.index.to_le_bytes());
        b[12..14].copy_from_slice(&self.streams.to_le_bytes());
        b[14] = match self.mode {
            Mode::Stream => 0,
            Mode::Rr => 1,
            Mode::Crr => 2,
        };
        b[15] = self.bidir as u8;
        b[16..24].copy_from_slice(&self.test_id.to_le_bytes());
        b[24..32].copy_from_slice(&self.seed.to_le_bytes());
        b[32..40].copy_from_slice(&self.bytes.to_le_bytes());
        b[40..48].copy_from_slice(&self.duration_ms.to_le_bytes());
        b[48..56].copy_from_slice(&self.rate_bps.to_le_bytes());
        b[56..60].copy_from_slice(&self.request_size.to_le_bytes());
        b[60..64].copy_from_slice(&self.response_size.to_le_bytes());
        b[64..72].copy_from_slice(&self.count.to_le_bytes());
        b[72..76].copy_from_slice(&self.stall_ms.to_le_bytes());
        b[76..80].copy_from_slice(HELLO_END);
        b
    }

    /// Decodes a hello, or says why the bytes are not one.
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp_transfer::proto::{Direction, Hello};
    ///
    /// let h = Hello::data(Direction::Upload, 42, 1 << 20, 0);
    /// assert_eq!(Hello::decode(&h.encode()), Ok(h));
    /// let mut http = [b' '; 80];
    /// http[..14].copy_from_slice(b"GET / HTTP/1.1");
    /// assert!(Hello::decode(&http).unwrap_err().starts_with("not an `mptcp bench client`"));
    /// ```
    pub fn decode(b: &[u8; HELLO_LEN]) -> Result<Hello, String> {
        if &b[..8] == HELLO_V1_MAGIC {
            return Err(
                "an `mptcp bench client` of an older version (bench protocol 1): use the same version on both ends"
                    .into(),
            );
        }
        if &b[..8] != HELLO_MAGIC {
            return Err(format!("not an `mptcp bench client`: it sent {}", printable(b)));
        }
        let kind = match b[8] {
            0 => Kind::Control,
            1 => Kind::Data,
            2 => Kind::Rr,
            3 => Kind::Crr,
            k => return Err(format!("unknown connection kind {k}")),
        };
        let direction = match b[9] {
            0 => Direction::Upload,
            1 => Direction::Download,
            d => return Err(format!("unknown direction {d}")),
        };
        let mode = match b[14] {
            0 => Mode::Stream,
            1 => Mode::Rr,
            2 => Mode::Crr,
            m => return Err(format!("unknown test mode {m}")),
        };
        Ok(Hello {
            kind,
            mode,
            direction,
            bidir: b[15] != 0,
            index: le16(&b[10..12]),
            streams: le16(&b[12..14]),
            test_id: le64(&b[16..24]),
            seed: le64(&b[24..32]),
            bytes: le64(&b[32..40]),
            duration_ms: le64(&b[40..48]),
            rate_bps: le64(&b[48..56]),
            request_size: le32(&b[56..60]),
            response_size: le32(&b[60..64]),
            count: le64(&b[64..72]),
            stall_ms: le32(&b[72..76]),
        })
    }
}

impl Hello {
    /// Checks what the hello asks for against the limits both ends keep
    /// (the constants of this module, which `mptcp bench client` checks its
    /// options against): a client checks its hello before it sends it, the
    /// server every hello it reads, so neither end runs what the other
    /// would refuse. `Err` says which value is out of range and what is
    /// allowed.
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp_transfer::proto::{Direction, Hello};
    ///
    /// let mut h = Hello::data(Direction::Download, 42, 0, 3_600_000);
    /// h.rate_bps = 1_000; // 1 kbit/s for an hour: slow, but allowed
    /// assert_eq!(h.validate(), Ok(()));
    /// h.rate_bps = 1;
    /// assert!(h.validate().unwrap_err().starts_with("pacing rate 1 bit/s"));
    /// ```
    pub fn validate(&self) -> Result<(), String> {
        if self.kind != Kind::Control && self.kind != self.mode.kind() {
            return Err(format!(
                "a {} connection in a {:?} test: the kind and the mode disagree",
                self.kind, self.mode
            ));
        }
        if self.streams == 0 || self.streams > MAX_STREAMS {
            return Err(format!("{} connections: expected 1 to {MAX_STREAMS} per test", self.streams));
        }
        if self.duration_ms > MAX_DURATION_MS {
            return Err(format!(
                "time limit {} ms: expected at most {MAX_DURATION_MS} ms (24 h), or 0 for none",
                self.duration_ms
            ));
        }
        if self.kind == Kind::Data && self.bytes == 0 && self.duration_ms == 0 {
            return Err("no byte count and no time limit: a data connection needs one".into());
        }
        if self.rate_bps != 0 && !(MIN_RATE_BPS..=MAX_RATE_BPS).contains(&self.rate_bps) {
            return Err(format!(
                "pacing rate {} bit/s: expected {MIN_RATE_BPS} to {MAX_RATE_BPS} bit/s, or 0 for none",
                self.rate_bps
            ));
        }
        if self.count > MAX_COUNT {
            return Err(format!("{} transactions: expected at most {MAX_COUNT}, or 0 for none", self.count));
        }
        if self.stall_ms != 0 && !(MIN_STALL_MS..=MAX_STALL_MS).contains(&self.stall_ms) {
            return Err(format!(
                "stall limit {} ms: expected {MIN_STALL_MS} to {MAX_STALL_MS} ms, or 0 for the default",
                self.stall_ms
            ));
        }
        if self.mode != Mode::Stream {
            for (what, n) in [("request", self.request_size), ("response", self.response_size)] {
                if n == 0 || n > MAX_MESSAGE {
                    return Err(format!("{what} size {n}: expected 1 to {MAX_MESSAGE} bytes"));
                }
            }
        }
        Ok(())
    }
}

/// The server's answer on a control connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// The test may start.
    Accept {
        /// The test id, echoed.
        test_id: u64,
    },
    /// The server will not run this test, and says why.
    Refuse(String),
}

impl Reply {
    /// Encodes the reply.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Reply::Accept { test_id } => {
                let mut b = ACCEPT_MAGIC.to_vec();
                b.extend_from_slice(&test_id.to_le_bytes());
                b
            }
            Reply::Refuse(reason) => {
                let r = &reason.as_bytes()[..reason.len().min(MAX_REASON)];
                let mut b = REFUSE_MAGIC.to_vec();
                b.extend_from_slice(&(r.len() as u16).to_le_bytes());
                b.extend_from_slice(r);
                b
            }
        }
    }

    /// Decodes a reply from its first [`REPLY_LEN`] bytes; `more` reads the
    /// rest of a refusal. `Err` carries the bytes when they are no reply.
    pub fn decode(head: &[u8; REPLY_LEN], more: &mut impl Read) -> io::Result<Result<Reply, [u8; REPLY_LEN]>> {
        if &head[..8] == ACCEPT_MAGIC {
            return Ok(Ok(Reply::Accept { test_id: le64(&head[8..16]) }));
        }
        if &head[..8] != REFUSE_MAGIC {
            return Ok(Err(*head));
        }
        let len = usize::from(le16(&head[8..10])).min(MAX_REASON);
        let mut reason = head[10..].to_vec();
        if len > reason.len() {
            let mut rest = vec![0u8; len - reason.len()];
            more.read_exact(&mut rest)?;
            reason.extend_from_slice(&rest);
        }
        reason.truncate(len);
        Ok(Ok(Reply::Refuse(String::from_utf8_lossy(&reason).into_owned())))
    }
}

/// The server's count at the end of an rr connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RrDone {
    /// Transactions the server answered.
    pub served: u64,
}

impl RrDone {
    /// Encodes the message.
    pub fn encode(&self) -> [u8; REPLY_LEN] {
        let mut b = [0u8; REPLY_LEN];
        b[..8].copy_from_slice(RR_DONE_MAGIC);
        b[8..].copy_from_slice(&self.served.to_le_bytes());
        b
    }

    /// Decodes the message; `None` when the bytes are not one.
    pub fn decode(b: &[u8; REPLY_LEN]) -> Option<RrDone> {
        (&b[..8] == RR_DONE_MAGIC).then(|| RrDone { served: le64(&b[8..]) })
    }
}

/// What the sender says it sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trailer {
    /// Bytes of data sent.
    pub bytes: u64,
    /// Checksum of those bytes.
    pub hash: u64,
    /// Sender's time from first to last byte written, microseconds.
    pub elapsed_us: u64,
    /// How the sender paced its data.
    pub paced: Paced,
}

/// How a sender paced its data, as its [`Trailer`] says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paced {
    /// Not paced.
    No,
    /// By the kernel (`SO_MAX_PACING_RATE`).
    Kernel,
    /// By the application.
    Application,
}

impl Trailer {
    /// Encodes the trailer.
    pub fn encode(&self) -> [u8; TRAILER_LEN] {
        let mut b = [0u8; TRAILER_LEN];
        b[..8].copy_from_slice(TRAILER_MAGIC);
        b[8..16].copy_from_slice(&self.bytes.to_le_bytes());
        b[16..24].copy_from_slice(&self.hash.to_le_bytes());
        b[24..32].copy_from_slice(&self.elapsed_us.to_le_bytes());
        b[32] = match self.paced {
            Paced::No => 0,
            Paced::Kernel => 1,
            Paced::Application => 2,
        };
        b
    }

    /// Decodes a trailer; `None` when the bytes are not one.
    pub fn decode(b: &[u8]) -> Option<Trailer> {
        if b.len() != TRAILER_LEN || &b[..8] != TRAILER_MAGIC {
            return None;
        }
        let paced = match b[32] {
            1 => Paced::Kernel,
            2 => Paced::Application,
            _ => Paced::No,
        };
        Some(Trailer { bytes: le64(&b[8..16]), hash: le64(&b[16..24]), elapsed_us: le64(&b[24..32]), paced })
    }
}

/// What the receiver counted, sent back to the sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// Bytes of data received (trailer excluded).
    pub bytes: u64,
    /// Checksum of the received data.
    pub hash: u64,
    /// Receiver's time from the hello to end of stream, microseconds.
    pub elapsed_us: u64,
    /// Whether count and checksum matched the sender's trailer.
    pub verified: bool,
    /// The receiver's MPTCP status (on the wire: 0 mptcp, 1 fallback, 2 tcp,
    /// 255 unknown).
    pub status: Status,
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
        b[33] = status_code(self.status);
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
            status: status_from_code(b[33]),
            subflows: b[34],
        })
    }

    /// Writes the outcome to `w`.
    pub fn write_to(&self, w: &mut impl Write) -> io::Result<()> {
        w.write_all(&self.encode())
    }
}

/// Up to 60 bytes as text for a message: printable ASCII kept, the rest
/// escaped, quoted.
///
/// # Examples
///
/// ```
/// assert_eq!(mptcp_transfer::proto::printable(b"HTTP/1.0 400\r\n"), "\"HTTP/1.0 400\\r\\n\"");
/// ```
pub fn printable(b: &[u8]) -> String {
    let mut s = String::from("\"");
    for &c in b.iter().take(60) {
        match c {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            0x20..=0x7e => s.push(c as char),
            _ => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    s.push('"');
    if b.len() > 60 {
        s.push_str("...");
    }
    s
}

fn status_code(s: Status) -> u8 {
    match s {
        Status::Mptcp => 0,
        Status::Fallback => 1,
        Status::Tcp => 2,
        Status::Unknown => 255,
    }
}

fn status_from_code(code: u8) -> Status {
    match code {
        0 => Status::Mptcp,
        1 => Status::Fallback,
        2 => Status::Tcp,
        _ => Status::Unknown,
    }
}

fn le64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

fn le32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_le_bytes(a)
}

fn le16(b: &[u8]) -> u16 {
    u16::from_le_bytes([b[0], b[1]])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello() -> Hello {
        Hello {
            kind: Kind::Rr,
            mode: Mode::Rr,
            direction: Direction::Download,
            bidir: true,
            index: 3,
            streams: 8,
            test_id: 0x1122_3344_5566_7788,
            seed: 9,
            bytes: 10,
            duration_ms: 11,
            rate_bps: 12,
            request_size: 13,
            response_size: 14,
            count: 15,
            stall_ms: 16,
        }
    }

    #[test]
    fn hello_round_trips_and_ends_like_a_request() {
        let h = hello();
        let b = h.encode();
        assert_eq!(Hello::decode(&b), Ok(h));
        assert!(b.starts_with(b"MPTCPBN2") && b.ends_with(b"\r\n\r\n"));
        let d = Hello::data(Direction::Upload, 1, 2, 3);
        assert_eq!(Hello::decode(&d.encode()), Ok(d));
    }

    #[test]
    fn hello_rejects_garbage_and_names_an_old_client() {
        let mut http = [0u8; HELLO_LEN];
        http[..16].copy_from_slice(b"GET / HTTP/1.1\r\n");
        let e = Hello::decode(&http).unwrap_err();
        assert!(e.contains("not an `mptcp bench client`") && e.contains("GET / HTTP/1.1\\r\\n"), "{e}");
        let mut v1 = hello().encode();
        v1[..8].copy_from_slice(b"MPTCPBN1");
        assert!(Hello::decode(&v1).unwrap_err().contains("older version"));
        let mut bad = hello().encode();
        bad[8] = 9;
        assert!(Hello::decode(&bad).unwrap_err().contains("kind 9"));
    }

    /// What `mptcp bench client` can send passes, at every edge of its
    /// options; one step past an edge is refused, naming the value.
    #[test]
    fn validate_takes_the_client_s_range_and_names_what_is_out_of_it() {
        let rr = Hello { rate_bps: 0, stall_ms: 0, ..hello() };
        let data = Hello::data(Direction::Download, 1, 0, 10_000);
        assert_eq!(rr.validate(), Ok(()));
        assert_eq!(data.validate(), Ok(()));
        let control = Hello { kind: Kind::Control, mode: Mode::Stream, streams: MAX_STREAMS, ..data };
        assert_eq!(control.validate(), Ok(()));
        let ok = [
            Hello { duration_ms: MAX_DURATION_MS, ..data },
            Hello { duration_ms: 1, ..data },
            Hello { duration_ms: 0, bytes: 1, ..data },
            Hello { rate_bps: MIN_RATE_BPS, ..data },
            Hello { rate_bps: MAX_RATE_BPS, ..data },
            Hello { stall_ms: MIN_STALL_MS, ..data },
            Hello { stall_ms: MAX_STALL_MS, ..data },
            Hello { count: MAX_COUNT, ..rr },
            Hello { request_size: MAX_MESSAGE, response_size: 1, ..rr },
            Hello { kind: Kind::Crr, mode: Mode::Crr, ..rr },
            Hello { kind: Kind::Control, mode: Mode::Crr, count: 1, duration_ms: 0, ..rr },
        ];
        for h in ok {
            assert_eq!(h.validate(), Ok(()), "{h:?}");
        }
        let refused = [
            (Hello { duration_ms: MAX_DURATION_MS + 1, ..data }, "time limit 86400001 ms"),
            (Hello { duration_ms: u64::MAX, ..data }, "time limit"),
            (Hello { duration_ms: 0, bytes: 0, ..data }, "no byte count and no time limit"),
            (Hello { rate_bps: 1, ..data }, "pacing rate 1 bit/s"),
            (Hello { rate_bps: MIN_RATE_BPS - 1, ..data }, "pacing rate 999 bit/s"),
            (Hello { rate_bps: MAX_RATE_BPS + 1, ..data }, "pacing rate 10000000000001 bit/s"),
            (Hello { stall_ms: 1, ..data }, "stall limit 1 ms"),
            (Hello { stall_ms: MAX_STALL_MS + 1, ..data }, "stall limit 3600001 ms"),
            (Hello { stall_ms: u32::MAX, ..data }, "stall limit"),
            (Hello { count: MAX_COUNT + 1, ..rr }, "1000000001 transactions"),
            (Hello { streams: 0, ..data }, "0 connections"),
            (Hello { streams: MAX_STREAMS + 1, ..control }, "257 connections"),
            (Hello { request_size: 0, ..rr }, "request size 0"),
            (Hello { response_size: MAX_MESSAGE + 1, ..rr }, "response size 16777217"),
            (Hello { kind: Kind::Data, ..rr }, "the kind and the mode disagree"),
            (Hello { mode: Mode::Rr, ..data }, "the kind and the mode disagree"),
        ];
        for (h, says) in refused {
            let e = h.validate().expect_err(says);
            assert!(e.contains(says), "{h:?}: {e:?} should say {says:?}");
            assert!(
                e.contains("expected") || e.contains("needs") || e.contains("disagree"),
                "says what is allowed: {e}"
            );
        }
    }

    #[test]
    fn replies_round_trip_and_others_are_handed_back() {
        let decode = |b: Vec<u8>| {
            let mut head = [0u8; REPLY_LEN];
            head.copy_from_slice(&b[..REPLY_LEN]);
            Reply::decode(&head, &mut &b[REPLY_LEN..]).unwrap()
        };
        assert_eq!(decode(Reply::Accept { test_id: 77 }.encode()), Ok(Reply::Accept { test_id: 77 }));
        let long = "x".repeat(40);
        assert_eq!(decode(Reply::Refuse(long.clone()).encode()), Ok(Reply::Refuse(long)));
        let mut short = Reply::Refuse("no".into()).encode();
        short.resize(REPLY_LEN, 0);
        assert_eq!(decode(short), Ok(Reply::Refuse("no".into())));
        let http = b"HTTP/1.0 400 Bad request\r\n".to_vec();
        assert_eq!(decode(http.clone()).unwrap_err()[..], http[..REPLY_LEN]);
        assert_eq!(RrDone::decode(&RrDone { served: 5 }.encode()), Some(RrDone { served: 5 }));
        assert_eq!(RrDone::decode(&[0u8; REPLY_LEN]), None);
    }

    #[test]
    fn printable_escapes_and_cuts() {
        assert_eq!(printable(b"HTTP/1.0 400\r\n\x00\""), "\"HTTP/1.0 400\\r\\n\\x00\\\"\"");
        assert!(printable(&[b'a'; 100]).ends_with("\"..."));
    }

    #[test]
    fn trailer_and_outcome_round_trip() {
        for status in [Status::Mptcp, Status::Fallback, Status::Tcp, Status::Unknown] {
            let o = Outcome { bytes: 1, hash: 2, elapsed_us: 3, verified: true, status, subflows: 2 };
            assert_eq!(Outcome::decode(&o.encode()), Some(o));
        }
        let mut odd =
            Outcome { bytes: 1, hash: 2, elapsed_us: 3, verified: false, status: Status::Tcp, subflows: 1 }.encode();
        odd[33] = 7;
        assert_eq!(Outcome::decode(&odd).map(|o| o.status), Some(Status::Unknown));
        let t = Trailer { bytes: 4, hash: 5, elapsed_us: 6, paced: Paced::Application };
        assert_eq!(Trailer::decode(&t.encode()), Some(t));
        assert_eq!(Trailer::decode(&[1u8; 5]), None);
    }

    #[test]
    fn statuses_print_as_the_library_names_them() {
        for s in [MptcpStatus::Mptcp, MptcpStatus::Fallback, MptcpStatus::Tcp] {
            assert_eq!(Status::from(Some(s)).to_string(), s.as_str());
        }
        assert_eq!(Status::from(None).to_string(), "unknown");
    }
}
