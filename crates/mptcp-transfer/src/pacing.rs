//! Pacing a sender (`-b RATE`, bits per second per connection).
//!
//! Plain TCP sockets take `SO_MAX_PACING_RATE` and the kernel paces every
//! segment. MPTCP sockets refuse it: on Linux 6.18 `setsockopt` answers
//! `EOPNOTSUPP` on a connected MPTCP socket, on a listener and on one that
//! fell back to TCP (checked here; the subflows are out of reach from user
//! space). So an MPTCP sender paces in the application: a token bucket that
//! writes slices of about 10 ms of data.

use std::io;
use std::net::TcpStream;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::checksum::CHUNK;
use super::timed;
use crate::sys;

/// Who enforces the rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PacingMethod {
    /// The kernel, through `SO_MAX_PACING_RATE`.
    SoMaxPacingRate,
    /// The application's writes (the socket refused the option).
    Application,
}

/// The pacing of one sender, as reports give it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pacing {
    /// Rate asked for, bits per second.
    pub rate_bps: u64,
    /// Who enforces it.
    pub method: PacingMethod,
    /// `SO_MAX_PACING_RATE` read back from the socket, bits per second
    /// (`None` when the socket refused the option).
    pub socket_rate_bps: Option<u64>,
    /// Why the kernel does not pace, when it does not.
    pub note: Option<String>,
}

/// Paces `stream` at `rate_bps`: through the kernel where the socket takes
/// `SO_MAX_PACING_RATE`, else in the application (the returned [`Pacer`]).
pub fn apply(stream: &TcpStream, rate_bps: u64) -> (Pacing, Pacer) {
    let fd = stream.as_fd();
    match sys::set_max_pacing_rate(fd, rate_bps / 8) {
        Ok(()) => {
            let back = sys::max_pacing_rate(fd).ok().map(|b| b.saturating_mul(8));
            let pacing = Pacing { rate_bps, method: PacingMethod::SoMaxPacingRate, socket_rate_bps: back, note: None };
            (pacing, Pacer::none())
        }
        Err(e) => {
            let note = format!("the socket refused SO_MAX_PACING_RATE ({e}): paced by the application");
            let pacing =
                Pacing { rate_bps, method: PacingMethod::Application, socket_rate_bps: None, note: Some(note) };
            (pacing, Pacer::new(rate_bps))
        }
    }
}

/// An application-level token bucket; [`Pacer::none`] lets everything through.
#[derive(Debug, Clone)]
pub struct Pacer {
    bytes_per_s: f64,
    start: Instant,
    slice: usize,
}

impl Pacer {
    /// No pacing.
    pub fn none() -> Pacer {
        Pacer { bytes_per_s: 0.0, start: Instant::now(), slice: CHUNK }
    }

    /// `rate_bps` bits per second from now, in slices of about 10 ms of data
    /// (1 KiB to one chunk).
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp_transfer::pacing::Pacer;
    ///
    /// let p = Pacer::new(8_000_000); // 1 MB/s: 10 ms slices of 10 kB
    /// assert_eq!(p.slice(), 10_000);
    /// assert!(p.is_active() && !Pacer::none().is_active());
    /// ```
    pub fn new(rate_bps: u64) -> Pacer {
        let bytes_per_s = rate_bps as f64 / 8.0;
        let slice = ((bytes_per_s / 100.0) as usize).clamp(1024, CHUNK);
        Pacer { bytes_per_s, start: Instant::now(), slice }
    }

    /// Whether this pacer limits anything.
    pub fn is_active(&self) -> bool {
        self.bytes_per_s > 0.0
    }

    /// Largest write to make at once.
    pub fn slice(&self) -> usize {
        self.slice
    }

    /// When `sent` bytes may have been written (one slice of burst allowed).
    pub fn due(&self, sent: u64) -> Instant {
        if !self.is_active() {
            return self.start;
        }
        let ahead = sent.saturating_sub(self.slice as u64) as f64;
        self.start + Duration::from_secs_f64((ahead / self.bytes_per_s).min(1e9))
    }

    /// Waits until `sent + next` bytes are due: `Ok(true)`, or `Ok(false)`
    /// when `until` comes first. The wait ends early with an error when the
    /// peer on `stream` has gone ([`timed::wait_unless_gone`]): a sender
    /// paced at a slow rate does not sleep on for hours after its receiver
    /// left.
    ///
    /// # Errors
    ///
    /// What the peer did: closed its end, reset the connection.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::{TcpListener, TcpStream};
    /// use std::time::{Duration, Instant};
    /// use mptcp_transfer::pacing::Pacer;
    ///
    /// let l = TcpListener::bind("127.0.0.1:0")?;
    /// let c = TcpStream::connect(l.local_addr()?)?;
    /// let (s, _) = l.accept()?;
    /// let p = Pacer::new(8_000); // 1 kB/s: 1 KiB slices
    /// assert!(p.wait(&c, 0, 1024, None)?, "the first slice is due at once");
    /// let soon = Instant::now() + Duration::from_millis(10);
    /// assert!(!p.wait(&c, 1024, 1024, Some(soon))?, "the next one is due after `soon`");
    /// drop(s); // the receiver leaves: the wait for a slice an hour away ends now
    /// assert!(p.wait(&c, 3_600_000, 1024, None).is_err());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn wait(&self, stream: &TcpStream, sent: u64, next: usize, until: Option<Instant>) -> io::Result<bool> {
        let due = self.due(sent + next as u64);
        if due <= Instant::now() {
            return Ok(true);
        }
        match until {
            Some(u) if u <= due => {
                timed::wait_unless_gone(stream, u)?;
                Ok(false)
            }
            _ => {
                timed::wait_unless_gone(stream, due)?;
                Ok(true)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::io::Write;

    #[test]
    fn the_bucket_allows_one_slice_then_the_rate() {
        let p = Pacer::new(8_000_000); // 1 MB/s: 10 KB slices
        assert_eq!(p.slice(), 10_000);
        assert_eq!(p.due(10_000), p.start);
        assert_eq!(p.due(1_010_000), p.start + Duration::from_secs(1));
        assert_eq!(Pacer::new(8).slice(), 1024, "tiny rates still write a KiB at a time");
        assert_eq!(Pacer::new(u64::MAX).slice(), CHUNK);
        assert!(!Pacer::none().is_active());
        let (c, _s) = pair();
        // Waiting stops at `until`, not before.
        let until = Instant::now() + Duration::from_millis(20);
        assert!(!p.wait(&c, 100_000_000, 1, Some(until)).unwrap());
        assert!(Instant::now() >= until);
        // Else it lasts until the bytes are due, not less.
        let p = Pacer::new(8_000_000);
        assert!(p.wait(&c, 290_000, 10_000, None).unwrap());
        assert!(Instant::now() >= p.due(300_000), "woke before the slice was due");
    }

    fn pair() -> (TcpStream, TcpStream) {
        pair_of(false)
    }

    fn pair_of(mptcp: bool) -> (TcpStream, TcpStream) {
        let l = mptcp::MptcpBuilder::new().mptcp(mptcp).bind("127.0.0.1:0").unwrap();
        let c = mptcp::MptcpBuilder::new().mptcp(mptcp).connect(l.local_addr().unwrap()).unwrap();
        (c, l.accept().unwrap().0)
    }

    /// A sender paced at 1 kbit/s waits 8 s per KiB: when its receiver
    /// leaves (FIN or reset), the wait ends then, not at the next slice.
    fn slow_pacer_wakes_when_the_peer_leaves(mptcp: bool) {
        for reset in [false, true] {
            let (c, s) = pair_of(mptcp);
            let p = Pacer::new(1000);
            assert!(p.wait(&c, 0, p.slice(), None).unwrap(), "the first slice is due at once");
            if reset {
                (&c).write_all(b"unread").unwrap();
                std::thread::sleep(Duration::from_millis(50));
            }
            let closer = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(300));
                drop(s);
            });
            let t0 = Instant::now();
            // The bytes of an hour at this rate: due an hour from now.
            let r = p.wait(&c, 450_000, p.slice(), None);
            assert!(t0.elapsed() < Duration::from_secs(60), "mptcp {mptcp}: woke only after {:?}", t0.elapsed());
            closer.join().unwrap();
            let e = r.expect_err("the peer left: the wait is an error");
            if reset {
                assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "mptcp {mptcp}: {e}");
            } else {
                assert!(e.to_string().contains("closed its end"), "mptcp {mptcp}: {e}");
            }
        }
    }

    #[test]
    fn a_slow_pacer_wakes_when_its_tcp_peer_leaves() {
        slow_pacer_wakes_when_the_peer_leaves(false);
    }

    /// MPTCP sockets report the peer's DATA_FIN and reset to `poll` too.
    #[test]
    #[ignore = "needs a kernel with MPTCP (scripts/test.sh runs it)"]
    fn a_slow_pacer_wakes_when_its_mptcp_peer_leaves() {
        assert!(mptcp::host_support().is_available(), "this test needs a kernel with MPTCP");
        slow_pacer_wakes_when_the_peer_leaves(true);
    }

    /// Plain TCP takes the kernel's pacing cap and reads it back; an MPTCP
    /// socket refuses it (Linux 6.18) and the application paces.
    #[test]
    #[ignore = "needs a kernel with MPTCP (scripts/test.sh runs it)"]
    fn tcp_is_paced_by_the_kernel_and_mptcp_by_the_application() {
        assert!(mptcp::host_support().is_available(), "this test needs a kernel with MPTCP");
        for mptcp in [false, true] {
            let l = mptcp::MptcpBuilder::new().mptcp(mptcp).bind("127.0.0.1:0").unwrap();
            let c = mptcp::MptcpBuilder::new().mptcp(mptcp).connect(l.local_addr().unwrap()).unwrap();
            let (pacing, pacer) = apply(&c, 80_000_000);
            match pacing.method {
                PacingMethod::SoMaxPacingRate => {
                    assert!(!mptcp, "6.18 refuses the option on MPTCP sockets; a kernel that takes it: {pacing:?}");
                    assert_eq!(pacing.socket_rate_bps, Some(80_000_000));
                    assert!(!pacer.is_active());
                }
                PacingMethod::Application => {
                    assert!(mptcp, "plain TCP must take SO_MAX_PACING_RATE: {pacing:?}");
                    assert!(pacer.is_active() && pacing.note.is_some());
                }
            }
        }
    }
}
