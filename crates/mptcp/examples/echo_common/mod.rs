//! What the scale examples share: the echo protocol's frames, the JSON
//! reports, and a few readings from `/proc` (resident memory, open-file
//! limit). Included with `#[path]` by `echo_server.rs`, `load_client.rs`,
//! `echo_std.rs` and `load_bench.rs`; the Go peers in `bench/scale/go`
//! speak the same protocol and print the same reports.
//!
//! # The protocol
//!
//! A client sends frames of a fixed size (at least [`HEADER`] bytes) and
//! waits for each to come back byte for byte before it sends the next.
//! Every frame starts with the connection's number (u32, little endian),
//! the frame's sequence number (u32, little endian) and one byte saying
//! what the client asked for (`m`: MPTCP, `t`: plain TCP); the rest is a
//! pattern of both numbers, so a frame echoed on the wrong connection or
//! out of order never matches. The server echoes every byte it reads; from
//! the first frame's header it learns what the client asked for and checks
//! the accepted connection's status against it.
#![allow(dead_code)] // each example uses its own part

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The header: connection number, sequence number, intent byte.
pub const HEADER: usize = 9;

/// Smallest frame the clients send: header plus some pattern.
pub const MIN_FRAME: usize = 16;

/// What a client asked for on one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    /// An MPTCP socket: the connection must be MPTCP on both ends.
    Mptcp,
    /// A plain TCP socket: the connection must be plain TCP on both ends.
    Tcp,
}

impl Intent {
    /// The byte in the header.
    pub fn byte(self) -> u8 {
        match self {
            Intent::Mptcp => b'm',
            Intent::Tcp => b't',
        }
    }

    /// The intent a header byte names, `None` for any other byte.
    pub fn from_byte(b: u8) -> Option<Intent> {
        match b {
            b'm' => Some(Intent::Mptcp),
            b't' => Some(Intent::Tcp),
            _ => None,
        }
    }

    /// The status both ends must report: `mptcp` for an MPTCP client
    /// (kernel with MPTCP on both sides, nothing stripping it), `tcp` for a
    /// plain TCP client (the server's `accept()` gives it a TCP socket).
    pub fn expected(self) -> &'static str {
        match self {
            Intent::Mptcp => "mptcp",
            Intent::Tcp => "tcp",
        }
    }
}

/// Which connections ask for MPTCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Every connection.
    Mptcp,
    /// None: plain TCP sockets.
    Tcp,
    /// Even-numbered connections MPTCP, odd-numbered plain TCP.
    Half,
}

impl Mode {
    /// The intent of connection number `conn`.
    pub fn intent(self, conn: u32) -> Intent {
        match self {
            Mode::Mptcp => Intent::Mptcp,
            Mode::Tcp => Intent::Tcp,
            Mode::Half if conn % 2 == 0 => Intent::Mptcp,
            Mode::Half => Intent::Tcp,
        }
    }

    /// The lower-case name, as on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Mptcp => "mptcp",
            Mode::Tcp => "tcp",
            Mode::Half => "half",
        }
    }
}

/// Writes frame `seq` of connection `conn` into `buf` (its whole length).
pub fn encode(conn: u32, seq: u32, intent: Intent, buf: &mut [u8]) {
    buf[0..4].copy_from_slice(&conn.to_le_bytes());
    buf[4..8].copy_from_slice(&seq.to_le_bytes());
    buf[8] = intent.byte();
    let seed = conn.wrapping_mul(31).wrapping_add(seq.wrapping_mul(7));
    for (i, b) in buf[HEADER..].iter_mut().enumerate() {
        *b = (seed.wrapping_add(i as u32) as u8) ^ 0x5a;
    }
}

/// Connections counted by the status one end reported for them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// MPTCP on the wire.
    pub mptcp: u64,
    /// Created as MPTCP, running as TCP.
    pub fallback: u64,
    /// A plain TCP socket.
    pub tcp: u64,
    /// The status could not be read (the error counts too).
    pub unknown: u64,
}

impl Counts {
    /// Counts one status by its lower-case name (`mptcp`, `fallback`,
    /// `tcp`), anything else as unknown.
    pub fn add(&mut self, status: &str) {
        match status {
            "mptcp" => self.mptcp += 1,
            "fallback" => self.fallback += 1,
            "tcp" => self.tcp += 1,
            _ => self.unknown += 1,
        }
    }

    /// Adds another set of counts.
    pub fn merge(&mut self, other: &Counts) {
        self.mptcp += other.mptcp;
        self.fallback += other.fallback;
        self.tcp += other.tcp;
        self.unknown += other.unknown;
    }

    /// How many connections these counts cover.
    pub fn total(&self) -> u64 {
        self.mptcp + self.fallback + self.tcp + self.unknown
    }
}

/// Statuses, by what the client asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ByIntent {
    /// Connections whose client asked for MPTCP.
    pub mptcp: Counts,
    /// Connections whose client asked for plain TCP.
    pub tcp: Counts,
}

impl ByIntent {
    /// Counts one connection; returns whether its status was the expected one.
    pub fn add(&mut self, intent: Intent, status: &str) -> bool {
        match intent {
            Intent::Mptcp => self.mptcp.add(status),
            Intent::Tcp => self.tcp.add(status),
        }
        status == intent.expected()
    }

    /// Adds another set of counts.
    pub fn merge(&mut self, other: &ByIntent) {
        self.mptcp.merge(&other.mptcp);
        self.tcp.merge(&other.tcp);
    }

    /// Connections whose status was not the expected one.
    pub fn wrong(&self) -> u64 {
        self.mptcp.total() - self.mptcp.mptcp + self.tcp.total() - self.tcp.tcp
    }
}

/// Latency percentiles, in microseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Slowest request.
    pub max: u64,
}

impl Latency {
    /// Percentiles of `samples` (nearest rank; sorts them).
    pub fn of(samples: &mut [u32]) -> Latency {
        if samples.is_empty() {
            return Latency::default();
        }
        samples.sort_unstable();
        let at = |q: f64| {
            let rank = ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
            u64::from(samples[rank - 1])
        };
        Latency { p50: at(0.50), p90: at(0.90), p99: at(0.99), max: at(1.0) }
    }
}

/// What the load client prints (one JSON object on stdout).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ClientReport {
    /// Which implementation: `rust-tokio`, `rust-std`, `go`.
    #[serde(rename = "impl")]
    pub implementation: String,
    /// Which connections asked for MPTCP.
    pub mode: String,
    /// Connections asked for.
    pub connections: u64,
    /// Timed requests per connection (after the setup exchange).
    pub requests: u64,
    /// Frame size in bytes.
    pub size: u64,
    /// Connections that completed their setup (connect and first echo).
    pub established: u64,
    /// Connections that failed: connect, I/O or an echo that did not match.
    pub errors: u64,
    /// The first error, for the reader.
    pub first_error: Option<String>,
    /// Time until every connection was set up.
    pub setup_secs: f64,
    /// Connections set up per second.
    pub cps: f64,
    /// Time of the request phase.
    pub request_secs: f64,
    /// Requests verified in the request phase.
    pub verified: u64,
    /// Verified requests per second in the request phase.
    pub rps: f64,
    /// Request latency (write to echo fully read).
    pub latency_us: Latency,
    /// The client's own view of each connection's status, by intent.
    pub status: ByIntent,
    /// Connections whose status was not the expected one.
    pub wrong_status: u64,
}

/// What the echo server prints when it is done (one JSON object on stdout).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ServerReport {
    /// Which implementation: `rust-tokio`, `rust-std`, `go`.
    #[serde(rename = "impl")]
    pub implementation: String,
    /// Connections served to their end.
    pub connections: u64,
    /// Connections that ended with an error (I/O, or a header naming no intent).
    pub errors: u64,
    /// The first error, for the reader.
    pub first_error: Option<String>,
    /// Most connections open at once.
    pub peak_live: u64,
    /// Resident memory before the first connection, KiB.
    pub rss_base_kib: u64,
    /// Highest resident memory seen, KiB.
    pub rss_peak_kib: u64,
    /// (peak - base) / peak_live.
    pub bytes_per_conn: f64,
    /// Each accepted connection's status, by what its client asked for.
    pub status: ByIntent,
    /// Connections whose status was not the expected one.
    pub wrong_status: u64,
    /// Whether the server stopped at its deadline instead of after all connections.
    pub timed_out: bool,
}

impl ServerReport {
    /// Fills in `bytes_per_conn` from the memory readings.
    pub fn finish_memory(&mut self) {
        let delta = self.rss_peak_kib.saturating_sub(self.rss_base_kib) as f64 * 1024.0;
        self.bytes_per_conn = if self.peak_live > 0 { delta / self.peak_live as f64 } else { 0.0 };
    }
}

/// This process's resident memory (`VmRSS` in `/proc/self/status`), KiB.
pub fn rss_kib() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = text.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Raises this process's soft limit on open files to its hard limit (as
/// Go's runtime does at start), and fails with what to do when even that
/// is too low for `connections` sockets.
pub fn raise_open_files(connections: u64) -> std::io::Result<()> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let needed = connections + 64;
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(std::io::Error::from)?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard).map_err(std::io::Error::from)?;
    }
    if hard < needed {
        return Err(std::io::Error::other(format!(
            "{connections} connections need about {needed} open files, but the hard limit is {hard}: \
             raise it first (as root, e.g. `ulimit -Hn {}`) or open fewer connections",
            needed.next_power_of_two()
        )));
    }
    Ok(())
}

/// Worker threads: the number given, or one per CPU.
pub fn threads(given: Option<usize>) -> usize {
    given.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).max(1)
}

/// Samples resident memory every 10 ms on a thread of its own while
/// `running` is true, keeping the highest reading.
pub fn sample_rss(
    running: std::sync::Arc<std::sync::atomic::AtomicBool>,
    peak: std::sync::Arc<std::sync::atomic::AtomicU64>,
) -> std::thread::JoinHandle<()> {
    use std::sync::atomic::Ordering;
    std::thread::spawn(move || {
        while running.load(Ordering::Relaxed) {
            if let Some(kib) = rss_kib() {
                peak.fetch_max(kib, Ordering::Relaxed);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    })
}
