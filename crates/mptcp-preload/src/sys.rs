//! Every `unsafe` block of the library lives here: the exported C entry
//! points, the lookup of the next `socket`/`close`/`accept`/`accept4` in the
//! symbol chain, and thin wrappers over the system calls the safe logic in
//! `lib.rs` needs.
//!
//! Rules for this module:
//! - never call `libc::socket`, `libc::close`, `libc::accept` or
//!   `libc::accept4`: inside this library those names resolve to our own
//!   hooks; use the `real_*` wrappers (next symbol in the chain) or raw
//!   `syscall(2)` instead;
//! - no allocation and no lock: the hooks run before `main`, on any thread,
//!   and in children forked from multi-threaded parents.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::atomic::{AtomicUsize, Ordering};

use libc::{sockaddr, socklen_t};

type SocketFn = unsafe extern "C" fn(c_int, c_int, c_int) -> c_int;
type CloseFn = unsafe extern "C" fn(c_int) -> c_int;
type AcceptFn = unsafe extern "C" fn(c_int, *mut sockaddr, *mut socklen_t) -> c_int;
type Accept4Fn = unsafe extern "C" fn(c_int, *mut sockaddr, *mut socklen_t, c_int) -> c_int;

static NEXT_SOCKET: AtomicUsize = AtomicUsize::new(0);
static NEXT_CLOSE: AtomicUsize = AtomicUsize::new(0);
static NEXT_ACCEPT: AtomicUsize = AtomicUsize::new(0);
static NEXT_ACCEPT4: AtomicUsize = AtomicUsize::new(0);

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
    let addr = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr()) } as usize;
    if addr != 0 {
        cache.store(addr, Ordering::Release);
    }
    addr
}

/// Resolves the next `socket`, `close`, `accept` and `accept4` now (called
/// from the library constructor, so that later hooks only load a pointer).
pub(crate) fn resolve_all() {
    next_symbol(&NEXT_SOCKET, c"socket");
    next_symbol(&NEXT_CLOSE, c"close");
    next_symbol(&NEXT_ACCEPT, c"accept");
    next_symbol(&NEXT_ACCEPT4, c"accept4");
}

/// The thread's `errno`.
pub(crate) fn errno() -> c_int {
    // SAFETY: __errno_location always returns a valid pointer to this
    // thread's errno.
    unsafe { *libc::__errno_location() }
}

/// Sets the thread's `errno`.
pub(crate) fn set_errno(value: c_int) {
    // SAFETY: as in `errno`; writing an int there is what libc does.
    unsafe { *libc::__errno_location() = value }
}

/// The real `socket(2)`: the next `socket` in the chain, or the system call.
/// Returns the fd or -1 with `errno` set, exactly like `socket`.
pub(crate) fn real_socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int {
    match next_symbol(&NEXT_SOCKET, c"socket") {
        0 => {
            // SAFETY: socket(2) takes three integers; no memory is passed.
            unsafe { libc::syscall(libc::SYS_socket, domain, ty, protocol) as c_int }
        }
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
        0 => {
            // SAFETY: close(2) takes one integer.
            unsafe { libc::syscall(libc::SYS_close, fd) as c_int }
        }
        addr => {
            // SAFETY: `addr` is libc's `int close(int)` (found by dlsym).
            let f: CloseFn = unsafe { std::mem::transmute::<usize, CloseFn>(addr) };
            // SAFETY: integer argument only.
            unsafe { f(fd) }
        }
    }
}

/// Calls the real `accept(fd, addr, len)`.
///
/// # Safety
/// `addr` and `len` must be what the caller of `accept` passed (null, or
/// valid for the lengths `accept(2)` documents).
unsafe fn real_accept(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    match next_symbol(&NEXT_ACCEPT, c"accept") {
        // SAFETY: the caller vouches for `addr`/`len`; accept4 with flags 0
        // is accept.
        0 => unsafe { libc::syscall(libc::SYS_accept4, fd, addr, len, 0) as c_int },
        a => {
            // SAFETY: `a` is libc's `accept` (found by dlsym).
            let f: AcceptFn = unsafe { std::mem::transmute::<usize, AcceptFn>(a) };
            // SAFETY: the caller vouches for `addr`/`len`.
            unsafe { f(fd, addr, len) }
        }
    }
}

/// Calls the real `accept4(fd, addr, len, flags)`.
///
/// # Safety
/// As for [`real_accept`].
unsafe fn real_accept4(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t, flags: c_int) -> c_int {
    match next_symbol(&NEXT_ACCEPT4, c"accept4") {
        // SAFETY: the caller vouches for `addr`/`len`.
        0 => unsafe { libc::syscall(libc::SYS_accept4, fd, addr, len, flags) as c_int },
        a => {
            // SAFETY: `a` is libc's `accept4` (found by dlsym).
            let f: Accept4Fn = unsafe { std::mem::transmute::<usize, Accept4Fn>(a) };
            // SAFETY: the caller vouches for `addr`/`len`.
            unsafe { f(fd, addr, len, flags) }
        }
    }
}

/// `getsockopt(fd, level, name)` for an `int` option: the value, or the errno.
pub(crate) fn getsockopt_int(fd: c_int, level: c_int, name: c_int) -> Result<c_int, c_int> {
    let mut value: c_int = 0;
    let mut len = std::mem::size_of::<c_int>() as socklen_t;
    // SAFETY: `value` and `len` are valid, writable and sized as declared.
    let rc = unsafe { libc::getsockopt(fd, level, name, (&mut value as *mut c_int).cast::<c_void>(), &mut len) };
    if rc == 0 {
        Ok(value)
    } else {
        Err(errno())
    }
}

/// `getsockopt(fd, level, name)` into `buf`: the length the kernel
/// returned, or the errno.
pub(crate) fn getsockopt_buf(fd: c_int, level: c_int, name: c_int, buf: &mut [u8]) -> Result<usize, c_int> {
    let mut len = socklen_t::try_from(buf.len()).unwrap_or(socklen_t::MAX);
    // SAFETY: `buf` is writable for `len` bytes; the kernel writes at most that.
    let rc = unsafe { libc::getsockopt(fd, level, name, buf.as_mut_ptr().cast::<c_void>(), &mut len) };
    if rc == 0 {
        Ok((len as usize).min(buf.len()))
    } else {
        Err(errno())
    }
}

/// Whether the socket has a peer (`getpeername` succeeds).
pub(crate) fn has_peer(fd: c_int) -> bool {
    // SAFETY: sockaddr_storage is plain data; all-zero is a valid value.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as socklen_t;
    // SAFETY: `ss` is writable for `len` bytes.
    unsafe { libc::getpeername(fd, (&mut ss as *mut libc::sockaddr_storage).cast::<sockaddr>(), &mut len) == 0 }
}

/// This process's id.
pub(crate) fn pid() -> u32 {
    // SAFETY: getpid has no preconditions and cannot fail.
    unsafe { libc::getpid() as u32 }
}

/// Writes `bytes` to fd 2 with raw write(2) calls (no Rust std I/O, no lock).
pub(crate) fn write_stderr(bytes: &[u8]) {
    write_all(2, bytes);
}

fn write_all(fd: c_int, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: `bytes` is valid for reading `bytes.len()` bytes.
        let n = unsafe { libc::syscall(libc::SYS_write, fd, bytes.as_ptr(), bytes.len()) };
        if n > 0 {
            bytes = bytes.get(n as usize..).unwrap_or(&[]);
        } else if n < 0 && errno() == libc::EINTR {
            continue;
        } else {
            return;
        }
    }
}

/// Appends `line` to the file at `path` (a NUL-terminated string that lives
/// forever) with one O_APPEND write, so lines from concurrent processes never
/// interleave. The file is opened and closed around the write: the program
/// may close or reuse any fd, so none is kept open. Errors are ignored.
pub(crate) fn append_line(path: *const c_char, line: &[u8]) {
    if path.is_null() {
        return;
    }
    // SAFETY: `path` is a NUL-terminated string owned by the library for the
    // life of the process (see `lib.rs`, REPORT_PATH); O_CLOEXEC keeps the
    // fd out of exec'd programs; no O_CREAT, so no mode argument is read.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat,
            libc::AT_FDCWD,
            path,
            libc::O_WRONLY | libc::O_APPEND | libc::O_CLOEXEC | libc::O_NOCTTY,
        )
    } as c_int;
    if fd < 0 {
        return;
    }
    // One write(2) of a short line: O_APPEND makes it atomic.
    // SAFETY: `line` is valid for reading `line.len()` bytes.
    let _ = unsafe { libc::syscall(libc::SYS_write, fd, line.as_ptr(), line.len()) };
    // SAFETY: `fd` was opened just above and is closed once (raw syscall,
    // so our own `close` hook is not involved).
    let _ = unsafe { libc::syscall(libc::SYS_close, fd) };
}

// ---------------------------------------------------------------------------
// Exported entry points. They only save errno where needed and hand over to
// the safe logic in lib.rs.

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
pub unsafe extern "C" fn accept(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    // SAFETY: the caller's pointers are passed through unchanged.
    let new_fd = unsafe { real_accept(fd, addr, len) };
    crate::after_accept(fd, new_fd);
    new_fd
}

/// `accept4(2)`, tracking connections accepted on converted listeners.
///
/// # Safety
/// Same contract as libc's `accept4`: `addr`/`len` null or valid.
#[no_mangle]
pub unsafe extern "C" fn accept4(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t, flags: c_int) -> c_int {
    // SAFETY: the caller's pointers are passed through unchanged.
    let new_fd = unsafe { real_accept4(fd, addr, len, flags) };
    crate::after_accept(fd, new_fd);
    new_fd
}

/// Library constructor and destructor, run by the dynamic loader.
#[used]
#[link_section = ".init_array"]
static INIT: extern "C" fn() = crate::init;

#[used]
#[link_section = ".fini_array"]
static FINI: extern "C" fn() = crate::fini;
