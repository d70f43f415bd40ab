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
//! The `mptcp` command carries this library inside its binary (it compiles
//! this source with `rustc` alone, which is why the library depends on
//! nothing but `std`); the `mptcp-preload` package builds the same source
//! as a standalone `.so` for distributions.
//!
//! Environment, read once when the library is loaded (`mptcp run` sets it):
//! - `MPTCP_PRELOAD_VERBOSE=<dev>:<ino>`: one line per converted socket and
//!   per connection outcome, written to the stderr of `mptcp run`, whose
//!   device and inode these are; never to anything else that fd 2 may be
//!   (see the `out` module);
//! - `MPTCP_PRELOAD_REPORT=/path`: one line appended to that (existing)
//!   file per event, if it is a regular file of the process's effective
//!   user, opened without following a symbolic link or blocking (see the
//!   `out` module): `S <pid> <inode>` socket converted, `U <pid>` MPTCP
//!   unavailable (socket kept TCP), `M <pid> <inode>` / `F <pid> <inode>`
//!   the connection on socket `<inode>` uses MPTCP / has fallen back to TCP.
//!   A connection's outcome is written as soon as it is known (connect
//!   returned, `SO_ERROR` read 0 after a non-blocking connect, accept
//!   returned) and again when it is closed or still open at exit; the last
//!   record of an inode is the final one. A process that leaves with
//!   `_exit` has thus recorded its connections already.
//!
//! Whether a connection uses MPTCP is asked the kernel at that moment:
//! `TCP_IS_MPTCP` (Linux 6.10), else `MPTCP_INFO`.
//!
//! The hooks never allocate, lock or use Rust std I/O on shared state, so
//! they are safe on any thread, before `main`, and in children forked from
//! threaded parents. All `unsafe` code and every kernel constant is in the
//! `sys` module.

use std::ffi::c_int;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

mod out;
mod sys;

use out::Msg;
use sys::{
    AF_INET, AF_INET6, EINPROGRESS, EINVAL, ENOPROTOOPT, EPROTONOSUPPORT, IPPROTO_MPTCP, IPPROTO_TCP, MPTCP_INFO,
    SOCK_CLOEXEC, SOCK_NONBLOCK, SOCK_STREAM, SOL_MPTCP, SOL_SOCKET, SOL_TCP, SO_ACCEPTCONN, SO_DOMAIN, SO_PROTOCOL,
    SO_TYPE, TCP_INFO, TCP_IS_MPTCP,
};

/// The protocol (environment and records) this library speaks, exported as
/// the `MPTCP_PRELOAD_PROTOCOL` symbol. `mptcp run` uses a library found on
/// disk only when the file contains these bytes.
pub const PROTOCOL: [u8; 25] = *b"mptcp-preload protocol 2\0";

/// Owner word: bit 31 marks a socket accepted on a converted listener, bit
/// 30 a non-blocking connect in progress, the other bits hold the owner's
/// pid (at most 2^22 on Linux).
const ACCEPTED: u32 = 1 << 31;
const CONNECTING: u32 = 1 << 30;
const PID_MASK: u32 = CONNECTING - 1;

/// Fds below this number are tracked for the report; conversion itself
/// works for every fd.
const TRACKED_FDS: usize = 1 << 16;

/// Owner (pid, plus flags) of each converted socket or accepted
/// connection, 0 = none.
/// The pid keeps a forked child from counting its copies of the parent's
/// connections.
static OWNER: [AtomicU32; TRACKED_FDS] = [const { AtomicU32::new(0) }; TRACKED_FDS];

/// Set once the kernel said MPTCP is not available.
static UNAVAILABLE: AtomicBool = AtomicBool::new(false);

/// Whether `socket(domain, ty, protocol)` asks for a TCP socket we convert.
fn is_tcp_request(domain: c_int, ty: c_int, protocol: c_int) -> bool {
    (domain == AF_INET || domain == AF_INET6)
        && (ty & !(SOCK_NONBLOCK | SOCK_CLOEXEC)) == SOCK_STREAM
        && (protocol == 0 || protocol == IPPROTO_TCP)
}

/// Errors of `socket(..., IPPROTO_MPTCP)` meaning "no MPTCP on this host".
fn means_unavailable(errno: c_int) -> bool {
    errno == EPROTONOSUPPORT || errno == EINVAL || errno == ENOPROTOOPT
}

fn slot(fd: c_int) -> Option<&'static AtomicU32> {
    usize::try_from(fd).ok().and_then(|i| OWNER.get(i))
}

fn me() -> u32 {
    std::process::id() & PID_MASK
}

/// The inode of socket `fd`, the key of its records.
fn inode(fd: c_int) -> Option<u64> {
    sys::identity(fd).map(|(_, ino)| ino)
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
                s.store(me(), Ordering::Release);
            }
            log_converted(domain, fd);
            if out::reporting() {
                out::record(b'S', inode(fd));
            }
            sys::set_errno(saved);
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
        let saved = sys::errno();
        out::record(b'U', None);
        sys::set_errno(saved);
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

/// The `accept`/`accept4` hook, after the real call returned `new_fd`: the
/// handshake is done, so the outcome is known (recorded now).
pub(crate) fn after_accept(listener: c_int, new_fd: c_int) {
    if new_fd < 0 {
        return;
    }
    let ours = slot(listener).is_some_and(|s| s.load(Ordering::Acquire) != 0);
    if !ours {
        forget(new_fd);
        return;
    }
    if let Some(s) = slot(new_fd) {
        s.store(me() | ACCEPTED, Ordering::Release);
    }
    let saved = sys::errno();
    conclude(new_fd, true, b"accepted");
    sys::set_errno(saved);
}

/// The `connect` hook, after the real call returned `rc`: a blocking
/// connect that succeeded has its outcome now; a non-blocking one is marked
/// in progress (concluded when `SO_ERROR` reads 0, at close, or at exit).
pub(crate) fn after_connect(fd: c_int, rc: c_int) {
    let Some(s) = slot(fd) else { return };
    let owner = s.load(Ordering::Acquire);
    if owner == 0 || owner & ACCEPTED != 0 || owner & PID_MASK != me() {
        return;
    }
    let saved = sys::errno();
    if rc == 0 {
        conclude(fd, false, b"connected");
    } else if saved == EINPROGRESS {
        let _ = s.compare_exchange(owner, owner | CONNECTING, Ordering::AcqRel, Ordering::Relaxed);
    }
    sys::set_errno(saved);
}

/// The `getsockopt(SOL_SOCKET, SO_ERROR)` hook, after it read `so_error`.
pub(crate) fn after_so_error(fd: c_int, so_error: c_int) {
    let Some(s) = slot(fd) else { return };
    let owner = s.load(Ordering::Acquire);
    if owner & CONNECTING == 0 || owner & PID_MASK != me() {
        return;
    }
    if s.compare_exchange(owner, owner & !CONNECTING, Ordering::AcqRel, Ordering::Relaxed).is_ok() && so_error == 0 {
        let saved = sys::errno();
        conclude(fd, false, b"connected");
        sys::set_errno(saved);
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
    if owner & PID_MASK == me() {
        conclude(fd, owner & ACCEPTED != 0, b"closed");
    }
    sys::set_errno(saved);
}

/// How a connection is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// MPTCP on the wire.
    Mptcp,
    /// Fallen back to TCP (or a plain TCP client on a converted listener).
    Fallback,
}

/// Records the outcome of tracked `fd` if it is (still) a connection.
fn conclude(fd: c_int, accepted: bool, when: &[u8]) {
    if !out::reporting() && !out::logging() {
        return;
    }
    let Some(outcome) = outcome(fd, accepted) else {
        return;
    };
    let kind = match outcome {
        Outcome::Mptcp => b'M',
        Outcome::Fallback => b'F',
    };
    out::record(kind, inode(fd));
    if out::logging() {
        let mut m = Msg::new();
        m.push(b"fd ").num(fd as u64).push(b": ").push(when).push(match outcome {
            Outcome::Mptcp => b", MPTCP".as_slice(),
            Outcome::Fallback => b", fallback to TCP".as_slice(),
        });
        m.emit();
    }
}

/// `None` when `fd` is no connection of ours: not an inet stream socket of
/// protocol TCP or MPTCP (a stale entry), a listener, or a client socket
/// that never got connected.
fn outcome(fd: c_int, accepted: bool) -> Option<Outcome> {
    let domain = sys::getsockopt_int(fd, SOL_SOCKET, SO_DOMAIN).ok()?;
    let proto = sys::getsockopt_int(fd, SOL_SOCKET, SO_PROTOCOL).ok()?;
    let ty = sys::getsockopt_int(fd, SOL_SOCKET, SO_TYPE).ok()?;
    if !(domain == AF_INET || domain == AF_INET6)
        || !(proto == IPPROTO_MPTCP || proto == IPPROTO_TCP)
        || ty != SOCK_STREAM
        || sys::getsockopt_int(fd, SOL_SOCKET, SO_ACCEPTCONN) == Ok(1)
    {
        return None;
    }
    if proto == IPPROTO_TCP {
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

fn log_converted(domain: c_int, fd: c_int) {
    if out::logging() {
        let family: &[u8] = if domain == AF_INET6 { b"AF_INET6" } else { b"AF_INET" };
        let mut m = Msg::new();
        m.push(b"fd ").num(fd as u64).push(b": ").push(family).push(b" stream socket -> MPTCP");
        m.emit();
    }
}

fn log_unavailable(errno: c_int) {
    if out::logging() {
        let name: &[u8] = match errno {
            EPROTONOSUPPORT => b"EPROTONOSUPPORT: kernel without MPTCP",
            EINVAL => b"EINVAL: kernel older than 5.6",
            _ => b"ENOPROTOOPT: net.mptcp.enabled=0",
        };
        let mut m = Msg::new();
        m.push(b"MPTCP unavailable (").push(name).push(b"), using TCP");
        m.emit();
    }
}

/// Library constructor: reads the environment once and resolves the real
/// functions. Runs before `main` (and again in every exec'd program).
pub(crate) extern "C" fn init() {
    sys::resolve_all();
    let saved = sys::errno();
    let verbose = std::env::var("MPTCP_PRELOAD_VERBOSE").ok();
    out::init_log(verbose.as_deref().and_then(out::parse_identity));
    if let Some(path) = std::env::var_os("MPTCP_PRELOAD_REPORT").filter(|p| !p.is_empty()) {
        out::init_report(path.into());
    }
    sys::set_errno(saved);
}

/// Library destructor (at `exit`, not `_exit`): records the connections
/// still open.
pub(crate) extern "C" fn fini() {
    if !out::reporting() && !out::logging() {
        return;
    }
    let saved = sys::errno();
    for (fd, s) in OWNER.iter().enumerate() {
        let owner = s.load(Ordering::Relaxed);
        if owner != 0 && owner & PID_MASK == me() && s.swap(0, Ordering::AcqRel) == owner {
            conclude(fd as c_int, owner & ACCEPTED != 0, b"open at exit");
        }
    }
    sys::set_errno(saved);
}

#[cfg(test)]
mod tests {
    use super::*;
    use sys::{AF_UNIX, EACCES, EMFILE, IPPROTO_SCTP, SOCK_DGRAM, SOCK_RAW, SOCK_SEQPACKET};

    #[test]
    fn classifies_requests() {
        assert!(is_tcp_request(AF_INET, SOCK_STREAM, 0));
        assert!(is_tcp_request(AF_INET6, SOCK_STREAM, IPPROTO_TCP));
        assert!(is_tcp_request(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        assert!(!is_tcp_request(AF_INET, SOCK_DGRAM, 0));
        assert!(!is_tcp_request(AF_UNIX, SOCK_STREAM, 0));
        assert!(!is_tcp_request(AF_INET, SOCK_RAW, IPPROTO_TCP));
        assert!(!is_tcp_request(AF_INET, SOCK_STREAM, IPPROTO_SCTP));
        assert!(!is_tcp_request(AF_INET, SOCK_STREAM, IPPROTO_MPTCP));
        assert!(!is_tcp_request(AF_INET, SOCK_SEQPACKET, 0));
    }

    #[test]
    fn unavailable_errors() {
        assert!(means_unavailable(EPROTONOSUPPORT));
        assert!(means_unavailable(EINVAL));
        assert!(means_unavailable(ENOPROTOOPT));
        assert!(!means_unavailable(EACCES));
        assert!(!means_unavailable(EMFILE));
    }

    #[test]
    fn open_flags_are_this_targets() {
        assert_eq!(sys::O_NOFOLLOW, libc::O_NOFOLLOW);
        assert_eq!(sys::O_NONBLOCK, libc::O_NONBLOCK);
    }

    #[test]
    fn protocol_marker_is_one_c_string() {
        assert_eq!(PROTOCOL.iter().filter(|b| **b == 0).count(), 1);
        assert_eq!(PROTOCOL.last(), Some(&0));
    }
}
