//! sock_diag sockets per network namespace: a request about a socket goes
//! to the namespace the socket lives in, and this thread keeps its socket
//! for its own namespace between calls (opening one costs far more than a
//! request).

use std::cell::RefCell;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::MetadataExt;

use netlink_sys::{protocols::NETLINK_SOCK_DIAG, Socket};

use crate::{netlink, sys};

/// A sock_diag socket in the calling thread's network namespace.
pub(crate) fn open() -> io::Result<Socket> {
    netlink::open(NETLINK_SOCK_DIAG)
}

/// Runs `f` in the network namespace `ns`, other than the calling
/// thread's: a short-lived thread enters it.
fn run_in<R: Send>(ns: &OwnedFd, f: impl FnOnce() -> io::Result<R> + Send) -> io::Result<R> {
    std::thread::scope(|s| {
        s.spawn(|| {
            sys::setns_net(ns.as_fd())?;
            f()
        })
        .join()
        .map_err(|_| io::Error::other("netns helper thread panicked"))?
    })
}

/// (dev, inode) of a namespace file: equal for the same namespace.
fn key_of(ns: &OwnedFd) -> io::Result<(u64, u64)> {
    let meta = std::fs::File::from(ns.try_clone()?).metadata()?;
    Ok((meta.dev(), meta.ino()))
}

/// (dev, inode) of the calling thread's network namespace.
fn own_key() -> io::Result<(u64, u64)> {
    let ours = std::fs::metadata("/proc/thread-self/ns/net")?;
    Ok((ours.dev(), ours.ino()))
}

/// Runs `f` in the network namespace of socket `fd`: right here when that
/// is the calling thread's (or cannot be told), else on a helper thread.
pub(crate) fn in_netns_of<R: Send>(fd: BorrowedFd<'_>, f: impl FnOnce() -> io::Result<R> + Send) -> io::Result<R> {
    match sys::socket_netns(fd) {
        Ok(ns) if key_of(&ns)? != own_key()? => run_in(&ns, f),
        _ => f(),
    }
}

thread_local! {
    /// This thread's sock_diag socket and the namespace (dev, inode) it
    /// lives in. Only a socket in the thread's own namespace is kept, so a
    /// cached socket never keeps a deleted namespace alive.
    static CACHED: RefCell<Option<((u64, u64), Socket)>> = const { RefCell::new(None) };
}

/// Runs `f` with a sock_diag socket in the network namespace of `fd`.
/// Reused by later calls from this thread when that is the thread's own
/// namespace; dropped after any error (it may hold unread replies).
pub(crate) fn with_socket_for<R>(fd: BorrowedFd<'_>, f: impl FnOnce(&Socket) -> io::Result<R>) -> io::Result<R> {
    let Ok(ns) = sys::socket_netns(fd) else {
        // No SIOCGSKNS: the calling thread's namespace, uncached.
        return f(&open()?);
    };
    let key = key_of(&ns)?;
    CACHED.with(|cell| {
        let mut slot = cell.borrow_mut();
        if let Some((k, sock)) = slot.take() {
            if k == key {
                let res = f(&sock);
                if res.is_ok() {
                    *slot = Some((k, sock));
                }
                return res;
            }
        }
        if own_key()? != key {
            return f(&run_in(&ns, open)?);
        }
        let sock = open()?;
        let res = f(&sock);
        if res.is_ok() {
            *slot = Some((key, sock));
        }
        res
    })
}
