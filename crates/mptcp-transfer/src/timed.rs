//! Socket I/O with bounded time: every read and write returns within a
//! [`TICK`] (through `SO_RCVTIMEO`/`SO_SNDTIMEO`, which MPTCP sockets
//! honour), so a loop can give up when the peer stalls or a deadline passes,
//! and say which of the two happened. A sender also sees a peer that has
//! gone ([`wait_unless_gone`]) instead of writing on until its stall limit.
//! Errors name what the peer did.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use mptcp::MptcpExt;

use crate::sys;

/// How long one blocked read or write waits before its caller looks at the
/// clock again.
pub const TICK: Duration = Duration::from_millis(200);

/// Default time a connection may move no data before the transfer fails.
pub const DEFAULT_STALL: Duration = Duration::from_secs(5);

/// When to give up.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// No progress for this long: the peer stalled.
    pub stall: Duration,
    /// Give up at this instant whatever happens.
    pub deadline: Option<Instant>,
}

impl Limits {
    /// Only the stall limit.
    pub fn stall(stall: Duration) -> Limits {
        Limits { stall, deadline: None }
    }
}

/// Sets the socket's read and write timeouts to [`TICK`].
pub fn prepare(stream: &TcpStream) -> io::Result<()> {
    stream.set_read_timeout(Some(TICK))?;
    stream.set_write_timeout(Some(TICK))
}

/// Bytes the peer has acknowledged: MPTCP-level `bytes_acked` (6.5+), else
/// the subflows' TCP `bytes_acked`. `None` when the kernel says neither.
pub fn acked_bytes(stream: &TcpStream) -> Option<u64> {
    if let Some(a) = stream.mptcp_info().ok().flatten().and_then(|i| i.bytes_acked) {
        return Some(a);
    }
    let flows = stream.subflows().ok()?;
    let acked: Vec<u64> = flows.iter().filter_map(|f| f.tcp.bytes_acked).collect();
    (!acked.is_empty()).then(|| acked.iter().sum())
}

/// Waits until `until` unless the peer goes first: `Ok(())` when `until`
/// came (at once when it has passed) and the peer is still there, an error
/// as soon as the peer has closed its end (`POLLRDHUP`: it sent FIN, which a
/// bench receiver never does before the end of the data), or the connection
/// failed or was reset (`POLLERR`, `POLLHUP`). The wait is `poll(2)` on the
/// socket, woken by the peer; plain TCP and MPTCP sockets both report these
/// events.
///
/// # Examples
///
/// ```
/// use std::net::{TcpListener, TcpStream};
/// use std::time::{Duration, Instant};
/// use mptcp_transfer::timed::wait_unless_gone;
///
/// let l = TcpListener::bind("127.0.0.1:0")?;
/// let c = TcpStream::connect(l.local_addr()?)?;
/// let (s, _) = l.accept()?;
/// assert!(wait_unless_gone(&c, Instant::now() + Duration::from_millis(10)).is_ok());
/// drop(s);
/// let e = wait_unless_gone(&c, Instant::now() + Duration::from_secs(3600)).unwrap_err();
/// assert!(e.to_string().contains("closed its end"), "{e}");
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn wait_unless_gone(stream: &TcpStream, until: Instant) -> io::Result<()> {
    loop {
        let left = until.saturating_duration_since(Instant::now());
        let events = sys::poll_one(stream.as_fd(), libc::POLLRDHUP, left)?;
        if events != 0 {
            return Err(gone(stream, events));
        }
        if left.is_zero() || Instant::now() >= until {
            return Ok(());
        }
    }
}

/// What `poll` events on a connection say about its peer.
fn gone(stream: &TcpStream, events: libc::c_short) -> io::Error {
    if events & libc::POLLERR != 0 {
        if let Ok(Some(e)) = stream.take_error() {
            return e;
        }
    }
    let what = if events & libc::POLLRDHUP != 0 {
        "the peer closed its end of the connection before the end of the data (it has gone)"
    } else {
        "the connection is closed (the peer has gone)"
    };
    io::Error::other(what)
}

/// What a socket error means, for people: the peer's doing where we can
/// tell, else the error itself.
///
/// # Examples
///
/// ```
/// use std::io;
///
/// let e = io::Error::from(io::ErrorKind::ConnectionReset);
/// assert!(mptcp_transfer::timed::meaning(&e).starts_with("the peer reset the connection"));
/// ```
pub fn meaning(e: &io::Error) -> String {
    let what = match e.kind() {
        io::ErrorKind::BrokenPipe => "the peer closed the connection",
        io::ErrorKind::ConnectionReset => "the peer reset the connection (it closed with data unread, or died)",
        io::ErrorKind::ConnectionAborted => "the connection was aborted",
        io::ErrorKind::UnexpectedEof => "the peer closed the connection",
        io::ErrorKind::NotConnected => "the connection is no longer open (the peer closed or reset it)",
        _ => return e.to_string(),
    };
    if e.raw_os_error().is_some() {
        format!("{what} ({e})")
    } else {
        what.to_string()
    }
}

/// One connection's reads and writes under [`Limits`].
#[derive(Debug)]
pub struct Timed<'a> {
    stream: &'a TcpStream,
    limits: Limits,
    last_progress: Instant,
    /// Watch the peer's acknowledgements as progress too (a sender whose
    /// buffer is full still sees its data drain).
    watch_acks: bool,
    acked: Option<u64>,
    /// A write that waits fails as soon as the peer has gone.
    watch_gone: bool,
}

impl<'a> Timed<'a> {
    /// Starts watching `stream` (whose timeouts [`prepare`] has set).
    pub fn new(stream: &'a TcpStream, limits: Limits) -> Timed<'a> {
        Timed { stream, limits, last_progress: Instant::now(), watch_acks: false, acked: None, watch_gone: false }
    }

    /// Counts the peer's acknowledgements as progress too.
    pub fn watch_acks(mut self) -> Self {
        self.watch_acks = true;
        self.acked = acked_bytes(self.stream);
        self
    }

    /// Ends a write that waits (a full send buffer) as soon as the peer has
    /// closed its end or reset the connection ([`wait_unless_gone`]), instead
    /// of at the stall limit: for the sender of a data stream, whose
    /// receiver sends nothing before the end.
    pub fn watch_gone(mut self) -> Self {
        self.watch_gone = true;
        self
    }

    fn progressed(&mut self) {
        self.last_progress = Instant::now();
    }

    /// Called when an operation timed out after a tick: fails when the
    /// deadline has passed or nothing moved for the stall limit. `waiting`
    /// says what we wait for, e.g. "sent no data".
    fn check(&mut self, waiting: &str) -> io::Result<()> {
        if self.watch_acks {
            let now = acked_bytes(self.stream);
            if now.is_some() && now != self.acked {
                self.acked = now;
                self.progressed();
            }
        }
        let now = Instant::now();
        if let Some(d) = self.limits.deadline {
            if now >= d {
                return Err(io::Error::new(io::ErrorKind::TimedOut, format!("timed out: the peer {waiting} in time")));
            }
        }
        let idle = now.duration_since(self.last_progress);
        if idle >= self.limits.stall {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("timed out: the peer {waiting} for {}", secs(idle)),
            ));
        }
        Ok(())
    }

    /// Writes some of `buf`: returns the bytes written (at least one), or
    /// `Ok(0)` when `soft_end` passed first.
    pub fn write_some(&mut self, buf: &[u8], soft_end: Option<Instant>) -> io::Result<usize> {
        loop {
            match (&mut &*self.stream).write(buf) {
                Ok(0) => return Err(io::Error::new(io::ErrorKind::WriteZero, "the connection accepts no more data")),
                Ok(n) => {
                    self.progressed();
                    return Ok(n);
                }
                Err(e) if is_tick(&e) => {
                    if soft_end.is_some_and(|t| Instant::now() >= t) {
                        return Ok(0);
                    }
                    if self.watch_gone {
                        wait_unless_gone(self.stream, Instant::now())?;
                    }
                    self.check("took no data (it stopped reading)")?;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Writes all of `buf`.
    pub fn write_all(&mut self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            let n = self.write_some(buf, None)?;
            buf = &buf[n..];
        }
        Ok(())
    }

    /// Reads some bytes; `Ok(0)` at end of stream.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match (&mut &*self.stream).read(buf) {
                Ok(n) => {
                    self.progressed();
                    return Ok(n);
                }
                Err(e) if is_tick(&e) => self.check("sent no data")?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Fills `buf`; an end of stream first is `UnexpectedEof` saying after
    /// how many of the bytes it came.
    pub fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        let mut got = 0;
        while got < buf.len() {
            match self.read(&mut buf[got..])? {
                0 => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("the peer closed the connection after {got} of {} bytes", buf.len()),
                    ))
                }
                n => got += n,
            }
        }
        Ok(())
    }

    /// Reads what the peer sends until it closes, the buffer is full or it
    /// pauses for a tick: how much was read.
    pub fn read_available(&mut self, buf: &mut [u8]) -> usize {
        let mut got = 0;
        while got < buf.len() {
            match (&mut &*self.stream).read(&mut buf[got..]) {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n,
            }
        }
        got
    }
}

/// Whether an error is a [`TICK`] passing without progress.
fn is_tick(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
}

/// `5 s`, `1.5 s`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use mptcp_transfer::timed::secs;
///
/// assert_eq!((secs(Duration::from_secs(5)).as_str(), secs(Duration::from_millis(1500)).as_str()), ("5 s", "1.5 s"));
/// ```
pub fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if (s - s.round()).abs() < 0.05 {
        format!("{} s", s.round())
    } else {
        format!("{s:.1} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().unwrap();
        prepare(&c).unwrap();
        prepare(&s).unwrap();
        (c, s)
    }

    /// Loopback TCP, no root needed: a silent peer is reported as a stall
    /// after the limit (not before: nothing else can end the wait), and not
    /// after the kernel's timeouts.
    #[test]
    fn a_silent_peer_is_a_stall() {
        let (c, _s) = pair();
        let stall = Duration::from_millis(600);
        let t0 = Instant::now();
        let mut t = Timed::new(&c, Limits::stall(stall));
        let e = t.read(&mut [0u8; 10]).unwrap_err();
        let waited = t0.elapsed();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert!(e.to_string().contains("sent no data for"), "{e}");
        assert!(waited >= stall, "a stall of {stall:?} was reported after {waited:?}");
        assert!(waited < Duration::from_secs(30), "returned before a generous bound");
    }

    #[test]
    fn a_peer_that_stops_reading_is_a_stall_and_a_deadline_ends_it_too() {
        let (c, _s) = pair();
        let stall = Duration::from_millis(600);
        let mut t = Timed::new(&c, Limits::stall(stall)).watch_acks();
        let buf = vec![0u8; 1 << 20];
        // The last write that went through: no stall can be reported sooner
        // than the limit after it.
        let mut last_write = Instant::now();
        let e = loop {
            match t.write_some(&buf, None) {
                Ok(_) => last_write = Instant::now(),
                Err(e) => break e,
            }
        };
        let waited = last_write.elapsed();
        assert!(e.to_string().contains("took no data (it stopped reading)"), "{e}");
        assert!(waited >= stall, "a stall of {stall:?} was reported {waited:?} after the last write");
        let mut t = Timed::new(&c, Limits { stall: Duration::from_secs(3600), deadline: Some(Instant::now()) });
        let e = t.write_all(&buf).unwrap_err();
        assert!(e.to_string().contains("in time"), "{e}");
        // A soft end stops the writer quietly.
        let mut t = Timed::new(&c, Limits::stall(Duration::from_secs(3600)));
        assert_eq!(t.write_some(&buf, Some(Instant::now())).unwrap(), 0);
    }

    #[test]
    fn an_early_end_says_after_how_many_bytes() {
        let (c, s) = pair();
        (&s).write_all(b"abc").unwrap();
        drop(s);
        let mut t = Timed::new(&c, Limits::stall(Duration::from_secs(5)));
        let e = t.read_exact(&mut [0u8; 10]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        assert!(e.to_string().contains("after 3 of 10 bytes"), "{e}");
        assert!(meaning(&io::Error::from_raw_os_error(libc::EPIPE)).starts_with("the peer closed the connection ("));
    }

    /// A waiting sender learns at once that its peer has gone, whether the
    /// peer closed (FIN) or reset the connection; a peer that stays lets the
    /// wait run to its end, and not shorter.
    #[test]
    fn a_peer_that_leaves_ends_the_wait_and_one_that_stays_does_not() {
        let (c, s) = pair();
        let t0 = Instant::now();
        let until = t0 + Duration::from_millis(300);
        wait_unless_gone(&c, until).unwrap();
        assert!(Instant::now() >= until, "returned {:?} before its time", until - Instant::now());

        let closer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            drop(s);
        });
        let e = wait_unless_gone(&c, Instant::now() + Duration::from_secs(3600)).unwrap_err();
        assert!(e.to_string().contains("closed its end of the connection"), "{e}");
        closer.join().unwrap();

        // A reset (the peer closes with data unread).
        let (c, s) = pair();
        (&c).write_all(b"unread").unwrap();
        std::thread::sleep(Duration::from_millis(50));
        drop(s);
        let e = wait_unless_gone(&c, Instant::now() + Duration::from_secs(3600)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}");
    }

    /// A writer whose send buffer is full ends when its peer leaves, long
    /// before its (hour-long) stall limit.
    #[test]
    fn a_blocked_writer_ends_when_the_peer_leaves() {
        let (c, s) = pair();
        let mut t = Timed::new(&c, Limits::stall(Duration::from_secs(3600))).watch_acks().watch_gone();
        let (done, wait_done) = std::sync::mpsc::channel::<()>();
        let closer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(500));
            // The peer's FIN, its socket still open (closing it with the
            // data unread would be a reset, the other test's case).
            let _ = s.shutdown(std::net::Shutdown::Write);
            let _ = wait_done.recv();
        });
        let buf = vec![0u8; 1 << 20];
        let t0 = Instant::now();
        let e = loop {
            if let Err(e) = t.write_some(&buf, None) {
                break e;
            }
            assert!(t0.elapsed() < Duration::from_secs(60), "still writing after a generous bound");
        };
        assert!(e.to_string().contains("closed its end of the connection"), "{e}");
        drop(done);
        closer.join().unwrap();
    }
}
