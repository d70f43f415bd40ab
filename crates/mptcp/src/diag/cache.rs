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

/// Opens a sock_diag socket in the network namespace `ns`, other than the
/// calling thread's: a short-lived thread enters it.
fn open_in(ns: &OwnedFd) -> io::Result<Socket> {
    std::thread::scope(|s| {
        s.spawn(|| {
            sys::setns_net(ns.as_fd())?;
            open()
        })
        .join()
        .map_err(|_| io::Error::other("netns helper thread panicked"))?
    })
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
    let meta = std::fs::File::from(ns.try_clone()?).metadata()?;
    let key = (meta.dev(), meta.ino());
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
        let ours = std::fs::metadata("/proc/thread-self/ns/net")?;
        if (ours.dev(), ours.ino()) != key {
            return f(&open_in(&ns)?);
        }
        let sock = open()?;
        let res = f(&sock);
        if res.is_ok() {
            *slot = Some((key, sock));
        }
        res
    })
}
