//! `libmptcp_preload.so`: an `LD_PRELOAD` library that turns the TCP sockets
//! of an unmodified program into Multipath TCP sockets.
//!
//! `socket(AF_INET or AF_INET6, SOCK_STREAM [| SOCK_NONBLOCK | SOCK_CLOEXEC],
//! 0 or IPPROTO_TCP)` becomes `socket(..., IPPROTO_MPTCP)`. When the kernel
//! answers that MPTCP is not available (`EPROTONOSUPPORT`, `EINVAL`,
//! `ENOPROTOOPT`) the TCP socket the program asked for is created instead
//! and later calls skip MPTCP. On any other error the program's own call is
//! made, so it sees exactly what it would have seen without this library.
//! Every other socket (UDP, Unix, raw, ...) is left alone.
//!
//! Environment, read once when the library is loaded:
//! - `MPTCP_PRELOAD_VERBOSE=1`: one line on stderr per converted socket and
//!   per connection closed (MPTCP or fallback to TCP);
//! - `MPTCP_PRELOAD_REPORT=/path`: one line appended to that (existing) file
//!   per event: `S <pid>` socket converted, `U <pid>` MPTCP unavailable
//!   (socket kept TCP), `M <pid>` / `F <pid>` a connection ended (closed, or
//!   still open at exit) using MPTCP / fallen back to TCP.
//!
//! A connection is a converted socket that has a peer when it is closed, or a
//! socket accepted on a converted listener. Whether it uses MPTCP is asked
//! the kernel at that moment: `TCP_IS_MPTCP` (Linux 6.10), else `MPTCP_INFO`.
//!
//! The hooks never allocate, lock or use Rust std I/O, so they are safe on
//! any thread, before `main`, and in children forked from threaded parents.
//! All `unsafe` code is in the `sys` module.

use std::ffi::{c_char, c_int};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, Ordering};

mod sys;

/// Protocol number of Multipath TCP.
const IPPROTO_MPTCP: c_int = 262;
/// `SOL_TCP`.
const SOL_TCP: c_int = 6;
/// `TCP_IS_MPTCP` (Linux 6.10).
const TCP_IS_MPTCP: c_int = 43;
/// `SOL_MPTCP`.
const SOL_MPTCP: c_int = 284;
/// `MPTCP_INFO`.
const MPTCP_INFO: c_int = 1;

/// `TCP_INFO`.
const TCP_INFO: c_int = 11;

/// Owner word: bit 31 marks a socket accepted on a converted listener, the
/// other bits hold the owner's pid (at most 2^22 on Linux).
const ACCEPTED: u32 = 1 << 31;

/// Fds below this number are tracked for the report; conversion itself
/// works for every fd.
const TRACKED_FDS: usize = 1 << 16;

/// Owner (pid, plus [`ACCEPTED`]) of each converted socket or accepted
/// connection, 0 = none.
/// The pid keeps a forked child from counting its copies of the parent's
/// connections.
static OWNER: [AtomicU32; TRACKED_FDS] = [const { AtomicU32::new(0) }; TRACKED_FDS];

/// Set once the kernel said MPTCP is not available.
static UNAVAILABLE: AtomicBool = AtomicBool::new(false);
/// `MPTCP_PRELOAD_VERBOSE` is set to something other than `0`.
static VERBOSE: AtomicBool = AtomicBool::new(false);
/// `MPTCP_PRELOAD_REPORT`, NUL-terminated, leaked on purpose (lives as long
/// as the process); null = no report.
static REPORT_PATH: AtomicPtr<c_char> = AtomicPtr::new(std::ptr::null_mut());

/// Whether `socket(domain, ty, protocol)` asks for a TCP socket we convert.
fn is_tcp_request(domain: c_int, ty: c_int, protocol: c_int) -> bool {
    let flags = libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    (domain == libc::AF_INET || domain == libc::AF_INET6)
        && (ty & !flags) == libc::SOCK_STREAM
        && (protocol == 0 || protocol == libc::IPPROTO_TCP)
}

/// Errors of `socket(..., IPPROTO_MPTCP)` meaning "no MPTCP on this host".
fn means_unavailable(errno: c_int) -> bool {
    errno == libc::EPROTONOSUPPORT || errno == libc::EINVAL || errno == libc::ENOPROTOOPT
}

fn slot(fd: c_int) -> Option<&'static AtomicU32> {
    usize::try_from(fd).ok().and_then(|i| OWNER.get(i))
}

/// The `socket` hook.
pub(crate) fn on_socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int {
    if !is_tcp_request(domain, ty, protocol) {
        let fd = sys::real_socket(domain, ty, protocol);
        forget(fd);
        return fd;
    }
    if !UNAVAILABLE.load(Ordering::Relaxed) {
        let saved = sys::errno();
        let fd = sys::real_socket(domain, ty, IPPROTO_MPTCP);
        if fd >= 0 {
            if let Some(s) = slot(fd) {
                s.store(sys::pid(), Ordering::Release);
            }
            log_converted(domain, fd);
            record(b'S');
            return fd;
        }
        let err = sys::errno();
        if means_unavailable(err) {
            UNAVAILABLE.store(true, Ordering::Relaxed);
            log_unavailable(err);
        }
        // Any other error (EMFILE, EACCES from an LSM, ...): make the call
        // the program made, so it gets exactly its own result.
        sys::set_errno(saved);
    }
    let fd = sys::real_socket(domain, ty, protocol);
    forget(fd);
    if fd >= 0 && UNAVAILABLE.load(Ordering::Relaxed) {
        record(b'U');
    }
    fd
}

/// A new fd that is not ours: drop a stale entry left by an fd closed
/// behind our back (dup2, close_range).
fn forget(fd: c_int) {
    if let Some(s) = slot(fd) {
        if s.load(Ordering::Relaxed) != 0 {
            s.store(0, Ordering::Relaxed);
        }
    }
}

/// The `accept`/`accept4` hook, after the real call returned `new_fd`.
pub(crate) fn after_accept(listener: c_int, new_fd: c_int) {
    if new_fd < 0 {
        return;
    }
    let ours = slot(listener).is_some_and(|s| s.load(Ordering::Acquire) != 0);
    if ours {
        if let Some(s) = slot(new_fd) {
            s.store(sys::pid() | ACCEPTED, Ordering::Release);
        }
    } else {
        forget(new_fd);
    }
}

/// The `close` hook, before the real close: note how a tracked connection
/// ended. Leaves `errno` as it found it.
pub(crate) fn before_close(fd: c_int) {
    let Some(s) = slot(fd) else { return };
    if s.load(Ordering::Relaxed) == 0 {
        return;
    }
    let owner = s.swap(0, Ordering::AcqRel);
    if owner == 0 {
        return;
    }
    let saved = sys::errno();
    if owner & !ACCEPTED == sys::pid() {
        conclude(fd, owner & ACCEPTED != 0, b"closed");
    }
    sys::set_errno(saved);
}

/// How a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// MPTCP on the wire.
    Mptcp,
    /// Fallen back to TCP (or a plain TCP client on a converted listener).
    Fallback,
}

/// Records the outcome of tracked `fd` if it is (still) a connection.
fn conclude(fd: c_int, accepted: bool, when: &[u8]) {
    let Some(outcome) = outcome(fd, accepted) else {
        return;
    };
    record(match outcome {
        Outcome::Mptcp => b'M',
        Outcome::Fallback => b'F',
    });
    if VERBOSE.load(Ordering::Relaxed) {
        let mut m = Msg::new();
        m.push(b"fd ").num(fd as u64).push(b": connection ").push(when).push(match outcome {
            Outcome::Mptcp => b", used MPTCP".as_slice(),
            Outcome::Fallback => b", fell back to TCP".as_slice(),
        });
        m.emit();
    }
}

/// `None` when `fd` is no connection of ours: not an inet stream socket of
/// protocol TCP or MPTCP (a stale entry), a listener, or a client socket
/// that never got connected.
fn outcome(fd: c_int, accepted: bool) -> Option<Outcome> {
    let domain = sys::getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_DOMAIN).ok()?;
    let proto = sys::getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_PROTOCOL).ok()?;
    let ty = sys::getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_TYPE).ok()?;
    if !(domain == libc::AF_INET || domain == libc::AF_INET6)
        || !(proto == IPPROTO_MPTCP || proto == libc::IPPROTO_TCP)
        || ty != libc::SOCK_STREAM
        || sys::getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_ACCEPTCONN) == Ok(1)
    {
        return None;
    }
    if proto == libc::IPPROTO_TCP {
        // Accepted from a plain TCP client (our own sockets are all 262).
        return accepted.then_some(Outcome::Fallback);
    }
    // struct mptcp_info: flags (u32) at offset 8; bit 1 = remote key
    // received, i.e. the MPTCP handshake completed.
    let mut info = [0u8; 96];
    let info_len = sys::getsockopt_buf(fd, SOL_MPTCP, MPTCP_INFO, &mut info);
    let outcome = match sys::getsockopt_int(fd, SOL_TCP, TCP_IS_MPTCP) {
        Ok(v) if v != 0 => Outcome::Mptcp,
        Ok(_) => Outcome::Fallback,
        // Before 6.10: MPTCP_INFO works while MPTCP is in use.
        Err(_) if info_len.is_ok() => Outcome::Mptcp,
        Err(_) => Outcome::Fallback,
    };
    if accepted || sys::has_peer(fd) {
        return Some(outcome);
    }
    // Closed by the peer already (no peer address any more): was it ever
    // connected? MPTCP handshake done, or bytes acked/received (struct
    // tcp_info: tcpi_bytes_acked at 120, tcpi_bytes_received at 128; the
    // SYN counts as acked), so a socket that never connected is not counted.
    let remote_key = matches!(info_len, Ok(n) if n >= 12) && u32_at(&info, 8) & 2 != 0;
    let mut ti = [0u8; 136];
    let moved = matches!(sys::getsockopt_buf(fd, SOL_TCP, TCP_INFO, &mut ti), Ok(n) if n >= 136)
        && (u64_at(&ti, 120) != 0 || u64_at(&ti, 128) != 0);
    (remote_key || moved).then_some(outcome)
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    b.get(off..off + 4).and_then(|s| s.try_into().ok()).map(u32::from_ne_bytes).unwrap_or(0)
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    b.get(off..off + 8).and_then(|s| s.try_into().ok()).map(u64::from_ne_bytes).unwrap_or(0)
}

/// Appends `<kind> <pid>\n` to the report file, if any.
fn record(kind: u8) {
    let path = REPORT_PATH.load(Ordering::Acquire);
    if path.is_null() {
        return;
    }
    let mut line = Buf::new();
    line.push(&[kind, b' ']).num(u64::from(sys::pid())).push(b"\n");
    sys::append_line(path, line.as_bytes());
}

fn log_converted(domain: c_int, fd: c_int) {
    if VERBOSE.load(Ordering::Relaxed) {
        let family: &[u8] = if domain == libc::AF_INET6 { b"AF_INET6" } else { b"AF_INET" };
        let mut m = Msg::new();
        m.push(b"fd ").num(fd as u64).push(b": ").push(family).push(b" stream socket -> MPTCP");
        m.emit();
    }
}

fn log_unavailable(errno: c_int) {
    if VERBOSE.load(Ordering::Relaxed) {
        let name: &[u8] = match errno {
            libc::EPROTONOSUPPORT => b"EPROTONOSUPPORT: kernel without MPTCP",
            libc::EINVAL => b"EINVAL: kernel older than 5.6",
            _ => b"ENOPROTOOPT: net.mptcp.enabled=0",
        };
        let mut m = Msg::new();
        m.push(b"MPTCP unavailable (").push(name).push(b"), using TCP");
        m.emit();
    }
}

/// A fixed-size line buffer (no allocation); overflow is truncated.
struct Buf {
    bytes: [u8; 160],
    len: usize,
}

impl Buf {
    fn new() -> Buf {
        Buf { bytes: [0; 160], len: 0 }
    }

    fn push(&mut self, s: &[u8]) -> &mut Buf {
        for &b in s {
            if let Some(slot) = self.bytes.get_mut(self.len) {
                *slot = b;
                self.len += 1;
            }
        }
        self
    }

    fn num(&mut self, mut n: u64) -> &mut Buf {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            if let Some(d) = digits.get_mut(i) {
                *d = b'0' + (n % 10) as u8;
            }
            n /= 10;
            if n == 0 || i == 0 {
                break;
            }
        }
        self.push(digits.get(i..).unwrap_or(&[]))
    }

    fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&[])
    }
}

/// A verbose log line: `mptcp-preload[<pid>]: ...\n` on stderr.
struct Msg(Buf);

impl Msg {
    fn new() -> Msg {
        let mut b = Buf::new();
        b.push(b"mptcp-preload[").num(u64::from(sys::pid())).push(b"]: ");
        Msg(b)
    }

    fn push(&mut self, s: &[u8]) -> &mut Msg {
        self.0.push(s);
        self
    }

    fn num(&mut self, n: u64) -> &mut Msg {
        self.0.num(n);
        self
    }

    fn emit(&mut self) {
        self.0.push(b"\n");
        sys::write_stderr(self.0.as_bytes());
    }
}

/// Library constructor: reads the environment once and resolves the real
/// functions. Runs before `main` (and again in every exec'd program).
pub(crate) extern "C" fn init() {
    sys::resolve_all();
    let verbose = std::env::var_os("MPTCP_PRELOAD_VERBOSE").is_some_and(|v| !v.is_empty() && v != "0");
    VERBOSE.store(verbose, Ordering::Relaxed);
    if let Some(path) = std::env::var_os("MPTCP_PRELOAD_REPORT") {
        use std::os::unix::ffi::OsStringExt;
        if let Ok(c) = std::ffi::CString::new(path.into_vec()) {
            if !c.as_bytes().is_empty() {
                // Leaked on purpose: hooks read it until the process ends.
                REPORT_PATH.store(c.into_raw(), Ordering::Release);
            }
        }
    }
}

/// Library destructor (at `exit`): records the connections still open.
pub(crate) extern "C" fn fini() {
    if REPORT_PATH.load(Ordering::Acquire).is_null() && !VERBOSE.load(Ordering::Relaxed) {
        return;
    }
    let me = sys::pid();
    let saved = sys::errno();
    for (fd, s) in OWNER.iter().enumerate() {
        let owner = s.load(Ordering::Relaxed);
        if owner != 0 && owner & !ACCEPTED == me && s.swap(0, Ordering::AcqRel) == owner {
            conclude(fd as c_int, owner & ACCEPTED != 0, b"open at exit");
        }
    }
    sys::set_errno(saved);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_requests() {
        assert!(is_tcp_request(libc::AF_INET, libc::SOCK_STREAM, 0));
        assert!(is_tcp_request(libc::AF_INET6, libc::SOCK_STREAM, libc::IPPROTO_TCP));
        assert!(is_tcp_request(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0));
        assert!(!is_tcp_request(libc::AF_INET, libc::SOCK_DGRAM, 0));
        assert!(!is_tcp_request(libc::AF_UNIX, libc::SOCK_STREAM, 0));
        assert!(!is_tcp_request(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_TCP));
        assert!(!is_tcp_request(libc::AF_INET, libc::SOCK_STREAM, libc::IPPROTO_SCTP));
        assert!(!is_tcp_request(libc::AF_INET, libc::SOCK_STREAM, IPPROTO_MPTCP));
        assert!(!is_tcp_request(libc::AF_INET, libc::SOCK_SEQPACKET, 0));
    }

    #[test]
    fn unavailable_errors() {
        assert!(means_unavailable(libc::EPROTONOSUPPORT));
        assert!(means_unavailable(libc::EINVAL));
        assert!(means_unavailable(libc::ENOPROTOOPT));
        assert!(!means_unavailable(libc::EACCES));
        assert!(!means_unavailable(libc::EMFILE));
    }

    #[test]
    fn buffer_formats_numbers_and_truncates() {
        let mut b = Buf::new();
        b.push(b"S ").num(0).push(b" ").num(4294967295).push(b" ").num(u64::MAX);
        assert_eq!(b.as_bytes(), b"S 0 4294967295 18446744073709551615");
        let mut b = Buf::new();
        for _ in 0..100 {
            b.push(b"xyz");
        }
        assert_eq!(b.as_bytes().len(), 160);
    }
}
