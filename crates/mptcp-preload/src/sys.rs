//! Every `unsafe` block of the library, and its one home for kernel
//! constants: the exported C entry points, the lookup of the next
//! `socket`/`close`/`accept`/`accept4`/`connect`/`getsockopt` in the symbol
//! chain, and thin wrappers over the calls the safe logic in `lib.rs` needs.
//!
//! The library depends on nothing but `std` (the `mptcp` command compiles
//! this source on its own, with `rustc` alone, and embeds the result): the
//! few C functions are declared here, the constants are Linux's
//! (asm-generic values; MIPS and SPARC, whose numbers differ, are refused at
//! compile time).
//!
//! Rules for this module:
//! - never call `socket`, `close`, `accept`, `accept4`, `connect` or
//!   `getsockopt` by name: inside this library those names resolve to our
//!   own hooks; use the `real_*` wrappers (next symbol in the chain);
//! - no allocation and no lock: the hooks run before `main`, on any thread,
//!   and in children forked from multi-threaded parents.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::fs::File;
use std::io::Write;
use std::mem::ManuallyDrop;
use std::os::unix::fs::MetadataExt;
use std::os::unix::io::FromRawFd;
use std::sync::atomic::{AtomicUsize, Ordering};

#[cfg(not(target_os = "linux"))]
compile_error!("mptcp-preload is for Linux only");
#[cfg(any(
    target_arch = "mips",
    target_arch = "mips64",
    target_arch = "mips32r6",
    target_arch = "mips64r6",
    target_arch = "sparc",
    target_arch = "sparc64"
))]
compile_error!("mptcp-preload declares the asm-generic socket and errno numbers, which MIPS and SPARC do not use");

// Socket families, types and protocols.
pub(crate) const AF_INET: c_int = 2;
pub(crate) const AF_INET6: c_int = 10;
pub(crate) const SOCK_STREAM: c_int = 1;
pub(crate) const SOCK_NONBLOCK: c_int = 0o4000;
pub(crate) const SOCK_CLOEXEC: c_int = 0o2000000;
pub(crate) const IPPROTO_TCP: c_int = 6;
/// Protocol number of Multipath TCP.
pub(crate) const IPPROTO_MPTCP: c_int = 262;
#[cfg(test)]
pub(crate) const AF_UNIX: c_int = 1;
#[cfg(test)]
pub(crate) const SOCK_DGRAM: c_int = 2;
#[cfg(test)]
pub(crate) const SOCK_RAW: c_int = 3;
#[cfg(test)]
pub(crate) const SOCK_SEQPACKET: c_int = 5;
#[cfg(test)]
pub(crate) const IPPROTO_SCTP: c_int = 132;

// Socket options.
pub(crate) const SOL_SOCKET: c_int = 1;
pub(crate) const SO_TYPE: c_int = 3;
pub(crate) const SO_ERROR: c_int = 4;
pub(crate) const SO_ACCEPTCONN: c_int = 30;
pub(crate) const SO_PROTOCOL: c_int = 38;
pub(crate) const SO_DOMAIN: c_int = 39;
pub(crate) const SOL_TCP: c_int = 6;
pub(crate) const TCP_INFO: c_int = 11;
/// `TCP_IS_MPTCP` (Linux 6.10).
pub(crate) const TCP_IS_MPTCP: c_int = 43;
pub(crate) const SOL_MPTCP: c_int = 284;
pub(crate) const MPTCP_INFO: c_int = 1;

// errno values.
pub(crate) const EINVAL: c_int = 22;
pub(crate) const ENOSYS: c_int = 38;
pub(crate) const ENOPROTOOPT: c_int = 92;
pub(crate) const EPROTONOSUPPORT: c_int = 93;
pub(crate) const EINPROGRESS: c_int = 115;
#[cfg(test)]
pub(crate) const EACCES: c_int = 13;
#[cfg(test)]
pub(crate) const EMFILE: c_int = 24;

// open(2) flags. O_NONBLOCK is the asm-generic value on every target
// built here (it equals SOCK_NONBLOCK); O_NOFOLLOW is 0o100000 on arm,
// aarch64, powerpc and m68k and 0o400000 elsewhere (asm-generic).
pub(crate) const O_NONBLOCK: c_int = 0o4000;
#[cfg(any(
    target_arch = "arm",
    target_arch = "aarch64",
    target_arch = "arm64ec",
    target_arch = "powerpc",
    target_arch = "powerpc64",
    target_arch = "m68k"
))]
pub(crate) const O_NOFOLLOW: c_int = 0o100000;
#[cfg(not(any(
    target_arch = "arm",
    target_arch = "aarch64",
    target_arch = "arm64ec",
    target_arch = "powerpc",
    target_arch = "powerpc64",
    target_arch = "m68k"
)))]
pub(crate) const O_NOFOLLOW: c_int = 0o400000;

const F_DUPFD_CLOEXEC: c_int = 1030;
/// glibc's and musl's `RTLD_NEXT`: `(void *)-1`.
const RTLD_NEXT: *mut c_void = usize::MAX as *mut c_void;

/// `socklen_t`.
pub(crate) type SockLen = u32;

extern "C" {
    fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
    fn __errno_location() -> *mut c_int;
    fn fcntl(fd: c_int, cmd: c_int, ...) -> c_int;
    fn getpeername(fd: c_int, addr: *mut c_void, len: *mut SockLen) -> c_int;
    fn geteuid() -> u32;
}

type SocketFn = unsafe extern "C" fn(c_int, c_int, c_int) -> c_int;
type CloseFn = unsafe extern "C" fn(c_int) -> c_int;
type AcceptFn = unsafe extern "C" fn(c_int, *mut c_void, *mut SockLen) -> c_int;
type Accept4Fn = unsafe extern "C" fn(c_int, *mut c_void, *mut SockLen, c_int) -> c_int;
type ConnectFn = unsafe extern "C" fn(c_int, *const c_void, SockLen) -> c_int;
type GetsockoptFn = unsafe extern "C" fn(c_int, c_int, c_int, *mut c_void, *mut SockLen) -> c_int;

static NEXT_SOCKET: AtomicUsize = AtomicUsize::new(0);
static NEXT_CLOSE: AtomicUsize = AtomicUsize::new(0);
static NEXT_ACCEPT: AtomicUsize = AtomicUsize::new(0);
static NEXT_ACCEPT4: AtomicUsize = AtomicUsize::new(0);
static NEXT_CONNECT: AtomicUsize = AtomicUsize::new(0);
static NEXT_GETSOCKOPT: AtomicUsize = AtomicUsize::new(0);

/// Address of the next definition of `name` after this library (usually
/// libc's), cached in `cache`; 0 when there is none. Racing threads resolve
/// the same address, so the cache needs no lock.
fn next_symbol(cache: &AtomicUsize, name: &CStr) -> usize {
    let cached = cache.load(Ordering::Acquire);
    if cached != 0 {
        return cached;
    }
    // SAFETY: `name` is a NUL-terminated C string; RTLD_NEXT is a valid
    // pseudo-handle for a call made from a shared object. dlsym only reads.
    let addr = unsafe { dlsym(RTLD_NEXT, name.as_ptr()) } as usize;
    if addr != 0 {
        cache.store(addr, Ordering::Release);
    }
    addr
}

/// Resolves the next definitions now (called from the library constructor,
/// so that later hooks only load a pointer).
pub(crate) fn resolve_all() {
    next_symbol(&NEXT_SOCKET, c"socket");
    next_symbol(&NEXT_CLOSE, c"close");
    next_symbol(&NEXT_ACCEPT, c"accept");
    next_symbol(&NEXT_ACCEPT4, c"accept4");
    next_symbol(&NEXT_CONNECT, c"connect");
    next_symbol(&NEXT_GETSOCKOPT, c"getsockopt");
}

/// The thread's `errno`.
pub(crate) fn errno() -> c_int {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Sets the thread's `errno`.
pub(crate) fn set_errno(value: c_int) {
    // SAFETY: __errno_location (glibc and musl) always returns a valid
    // pointer to this thread's errno; writing an int there is what libc does.
    unsafe { *__errno_location() = value }
}

/// Turns the `-1` a call returns on failure into `Err(errno)` (what
/// socket2's `syscall!` does, without allocating); any other value is the
/// call's result.
pub(crate) fn cvt(rc: c_int) -> Result<c_int, c_int> {
    if rc == -1 {
        Err(errno())
    } else {
        Ok(rc)
    }
}

/// -1 with `errno` = ENOSYS: what a hook returns when libc has no next
/// definition (a program that does not link libc cannot reach the hook).
fn no_next() -> c_int {
    set_errno(ENOSYS);
    -1
}

/// The real `socket(2)`. Returns the fd or -1 with `errno` set.
pub(crate) fn real_socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int {
    match next_symbol(&NEXT_SOCKET, c"socket") {
        0 => no_next(),
        addr => {
            // SAFETY: `addr` was returned by dlsym for "socket", whose C
            // prototype is `int socket(int, int, int)`.
            let f: SocketFn = unsafe { std::mem::transmute::<usize, SocketFn>(addr) };
            // SAFETY: integer arguments only.
            unsafe { f(domain, ty, protocol) }
        }
    }
}

/// The real `close(2)`.
pub(crate) fn real_close(fd: c_int) -> c_int {
    match next_symbol(&NEXT_CLOSE, c"close") {
        0 => no_next(),
        addr => {
            // SAFETY: `addr` is libc's `int close(int)` (found by dlsym).
            let f: CloseFn = unsafe { std::mem::transmute::<usize, CloseFn>(addr) };
            // SAFETY: integer argument only.
            unsafe { f(fd) }
        }
    }
}

/// `getsockopt(fd, level, name)` into `buf` through the real `getsockopt`:
/// the length the kernel returned, or the errno.
pub(crate) fn getsockopt_buf(fd: c_int, level: c_int, name: c_int, buf: &mut [u8]) -> Result<usize, c_int> {
    let mut len = SockLen::try_from(buf.len()).unwrap_or(SockLen::MAX);
    // SAFETY: `buf` is writable for `len` bytes; the kernel writes at most that.
    cvt(unsafe { real_getsockopt(fd, level, name, buf.as_mut_ptr().cast::<c_void>(), &mut len) })?;
    Ok((len as usize).min(buf.len()))
}

/// `getsockopt(fd, level, name)` for an `int` option: the value, or the errno.
pub(crate) fn getsockopt_int(fd: c_int, level: c_int, name: c_int) -> Result<c_int, c_int> {
    let mut b = [0u8; 4];
    getsockopt_buf(fd, level, name, &mut b).map(|_| c_int::from_ne_bytes(b))
}

/// Calls the real `getsockopt`.
///
/// # Safety
/// `value` and `len` as for `getsockopt(2)`: null, or valid for `*len` bytes.
unsafe fn real_getsockopt(fd: c_int, level: c_int, name: c_int, value: *mut c_void, len: *mut SockLen) -> c_int {
    match next_symbol(&NEXT_GETSOCKOPT, c"getsockopt") {
        0 => no_next(),
        a => {
            // SAFETY: `a` is libc's `getsockopt` (found by dlsym).
            let f: GetsockoptFn = unsafe { std::mem::transmute::<usize, GetsockoptFn>(a) };
            // SAFETY: the caller vouches for `value`/`len`.
            unsafe { f(fd, level, name, value, len) }
        }
    }
}

/// The process's effective user id.
pub(crate) fn euid() -> u32 {
    // SAFETY: geteuid(2) takes nothing, touches no memory and cannot fail.
    unsafe { geteuid() }
}

/// Whether the socket has a peer (`getpeername` succeeds).
pub(crate) fn has_peer(fd: c_int) -> bool {
    // Large enough for any sockaddr (sockaddr_storage is 128 bytes).
    let mut ss = [0u64; 16];
    let mut len = std::mem::size_of_val(&ss) as SockLen;
    // SAFETY: `ss` is writable for `len` bytes.
    cvt(unsafe { getpeername(fd, ss.as_mut_ptr().cast::<c_void>(), &mut len) }).is_ok()
}

/// Borrows `fd` as a `File` without taking ownership (never closed here).
fn borrowed_file(fd: c_int) -> Option<ManuallyDrop<File>> {
    if fd < 0 {
        return None;
    }
    // SAFETY: the `File` is never dropped (ManuallyDrop), so `fd` is not
    // closed; it is only used for fstat and write, which fail cleanly (EBADF)
    // when `fd` is not open.
    Some(ManuallyDrop::new(unsafe { File::from_raw_fd(fd) }))
}

/// Device and inode of what `fd` refers to (`fstat`); `None` when `fd` is
/// not open.
pub(crate) fn identity(fd: c_int) -> Option<(u64, u64)> {
    let f = borrowed_file(fd)?;
    f.metadata().ok().map(|m| (m.dev(), m.ino()))
}

/// A close-on-exec duplicate of `fd` numbered `min` or above (`min` is
/// retried as 3 when the limit on open files is lower), or -1.
pub(crate) fn dup_cloexec(fd: c_int, min: c_int) -> c_int {
    // SAFETY: fcntl(F_DUPFD_CLOEXEC) takes an int argument and no memory.
    match cvt(unsafe { fcntl(fd, F_DUPFD_CLOEXEC, min) }) {
        Ok(new) => new,
        // SAFETY: as above.
        Err(_) if min > 3 => unsafe { fcntl(fd, F_DUPFD_CLOEXEC, 3 as c_int) },
        Err(_) => -1,
    }
}

/// Writes all of `bytes` to `fd` (retrying on EINTR); errors are ignored.
pub(crate) fn write_all(fd: c_int, bytes: &[u8]) {
    if let Some(mut f) = borrowed_file(fd) {
        let _ = f.write_all(bytes);
    }
}

// ---------------------------------------------------------------------------
// Exported entry points. They hand over to the safe logic in lib.rs.

/// Marks this file as the preload library speaking the protocol (environment
/// variables and report records) of the `mptcp` command that carries the
/// same text; `mptcp run` looks for these bytes before using a library it
/// found on disk.
#[no_mangle]
pub static MPTCP_PRELOAD_PROTOCOL: [u8; crate::PROTOCOL.len()] = crate::PROTOCOL;

/// `socket(2)`, turning TCP stream sockets into MPTCP sockets.
///
/// # Safety
/// Same contract as libc's `socket` (integers only: always safe).
#[no_mangle]
pub unsafe extern "C" fn socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int {
    crate::on_socket(domain, ty, protocol)
}

/// `close(2)`, noting how converted connections ended before closing.
///
/// # Safety
/// Same contract as libc's `close` (integer only: always safe).
#[no_mangle]
pub unsafe extern "C" fn close(fd: c_int) -> c_int {
    crate::before_close(fd);
    real_close(fd)
}

/// `accept(2)`, tracking connections accepted on converted listeners.
///
/// # Safety
/// Same contract as libc's `accept`: `addr`/`len` null or valid.
#[no_mangle]
pub unsafe extern "C" fn accept(fd: c_int, addr: *mut c_void, len: *mut SockLen) -> c_int {
    let new_fd = match next_symbol(&NEXT_ACCEPT, c"accept") {
        0 => no_next(),
        a => {
            // SAFETY: `a` is libc's `accept` (found by dlsym).
            let f: AcceptFn = unsafe { std::mem::transmute::<usize, AcceptFn>(a) };
            // SAFETY: the caller's pointers are passed through unchanged.
            unsafe { f(fd, addr, len) }
        }
    };
    crate::after_accept(fd, new_fd);
    new_fd
}

/// `accept4(2)`, tracking connections accepted on converted listeners.
///
/// # Safety
/// Same contract as libc's `accept4`: `addr`/`len` null or valid.
#[no_mangle]
pub unsafe extern "C" fn accept4(fd: c_int, addr: *mut c_void, len: *mut SockLen, flags: c_int) -> c_int {
    let new_fd = match next_symbol(&NEXT_ACCEPT4, c"accept4") {
        0 => no_next(),
        a => {
            // SAFETY: `a` is libc's `accept4` (found by dlsym).
            let f: Accept4Fn = unsafe { std::mem::transmute::<usize, Accept4Fn>(a) };
            // SAFETY: the caller's pointers are passed through unchanged.
            unsafe { f(fd, addr, len, flags) }
        }
    };
    crate::after_accept(fd, new_fd);
    new_fd
}

/// `connect(2)`, noting the outcome of a converted socket's connection as
/// soon as it is known.
///
/// # Safety
/// Same contract as libc's `connect`: `addr` valid for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn connect(fd: c_int, addr: *const c_void, len: SockLen) -> c_int {
    let rc = match next_symbol(&NEXT_CONNECT, c"connect") {
        0 => no_next(),
        a => {
            // SAFETY: `a` is libc's `connect` (found by dlsym).
            let f: ConnectFn = unsafe { std::mem::transmute::<usize, ConnectFn>(a) };
            // SAFETY: the caller's pointer is passed through unchanged.
            unsafe { f(fd, addr, len) }
        }
    };
    crate::after_connect(fd, rc);
    rc
}

/// `getsockopt(2)`; `SO_ERROR` = 0 on a converted socket whose
/// non-blocking connect was pending means it is connected now.
///
/// # Safety
/// Same contract as libc's `getsockopt`: `value`/`len` null or valid.
#[no_mangle]
pub unsafe extern "C" fn getsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    value: *mut c_void,
    len: *mut SockLen,
) -> c_int {
    // SAFETY: the caller's pointers are passed through unchanged.
    let rc = unsafe { real_getsockopt(fd, level, name, value, len) };
    if cvt(rc).is_ok() && level == SOL_SOCKET && name == SO_ERROR && !value.is_null() && !len.is_null() {
        // SAFETY: the call succeeded, so `*len` holds the length written
        // into `value`, which the caller made valid for at least that.
        let so_error = unsafe { (*len as usize >= 4).then(|| value.cast::<c_int>().read_unaligned()) };
        if let Some(e) = so_error {
            crate::after_so_error(fd, e);
        }
    }
    rc
}

/// Library constructor and destructor, run by the dynamic loader.
#[used]
#[link_section = ".init_array"]
static INIT: extern "C" fn() = crate::init;

#[used]
#[link_section = ".fini_array"]
static FINI: extern "C" fn() = crate::fini;
