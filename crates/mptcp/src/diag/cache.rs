//! sock_diag sockets per network namespace: a request about a socket goes
//! to the namespace the socket lives in, and this thread keeps its socket
//! for its own namespace between calls (opening one costs far more than a
//! request).
//!
//! The namespace is told by `SO_NETNS_COOKIE` (5.14: one `getsockopt`),
//! else by the inode of the namespace file `SIOCGSKNS` opens.

use std::cell::RefCell;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::MetadataExt;

use netlink_sys::{protocols::NETLINK_SOCK_DIAG, Socket};

use crate::{netlink, sys};

/// A sock_diag socket in the calling thread's network namespace.
pub(crate) fn open() -> io::Result<Socket> {
    netlink::open(NETLINK_SOCK_DIAG)
}

/// Which network namespace a socket lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NsKey {
    /// `SO_NETNS_COOKIE`.
    Cookie(u64),
    /// (dev, inode) of the namespace file.
    Inode(u64, u64),
}

/// The namespace of socket `fd`: its cookie where the kernel has
/// `SO_NETNS_COOKIE`, else its namespace file (kept open, to enter it).
fn key_of(fd: BorrowedFd<'_>) -> io::Result<(NsKey, Option<File>)> {
    if let Ok(c) = sys::netns_cookie(fd) {
        return Ok((NsKey::Cookie(c), None));
    }
    let ns = File::from(sys::socket_netns(fd)?);
    let meta = ns.metadata()?;
    Ok((NsKey::Inode(meta.dev(), meta.ino()), Some(ns)))
}

/// Whether `sock`, opened in this thread's namespace, lives in `key`.
fn same_namespace(sock: &Socket, key: NsKey) -> io::Result<bool> {
    Ok(match key {
        NsKey::Cookie(c) => sys::netns_cookie(sock.as_fd())? == c,
        NsKey::Inode(dev, ino) => {
            let ours = std::fs::metadata("/proc/thread-self/ns/net")?;
            (ours.dev(), ours.ino()) == (dev, ino)
        }
    })
}

/// Runs `f` in the network namespace `ns`, other than the calling
/// thread's: a short-lived thread enters it.
fn run_in<R: Send>(ns: &File, f: impl FnOnce() -> io::Result<R> + Send) -> io::Result<R> {
    std::thread::scope(|s| {
        s.spawn(|| {
            sys::setns_net(ns.as_fd())?;
            f()
        })
        .join()
        .map_err(|_| io::Error::other("netns helper thread panicked"))?
    })
}

/// The namespace file of socket `fd`, when it is not the calling thread's.
fn foreign_netns(fd: BorrowedFd<'_>) -> io::Result<Option<File>> {
    let ns = File::from(sys::socket_netns(fd)?);
    let theirs = ns.metadata()?;
    let ours = std::fs::metadata("/proc/thread-self/ns/net")?;
    Ok(((theirs.dev(), theirs.ino()) != (ours.dev(), ours.ino())).then_some(ns))
}

/// Runs `f` in the network namespace of socket `fd`: right here when that
/// is the calling thread's (or cannot be told), else on a helper thread.
pub(crate) fn in_netns_of<R: Send>(fd: BorrowedFd<'_>, f: impl FnOnce() -> io::Result<R> + Send) -> io::Result<R> {
    match foreign_netns(fd) {
        Ok(Some(ns)) => run_in(&ns, f),
        _ => f(),
    }
}

thread_local! {
    /// This thread's sock_diag socket and the namespace it lives in. Only
    /// a socket in the thread's own namespace is kept, so a cached socket
    /// never keeps a deleted namespace alive.
    static CACHED: RefCell<Option<(NsKey, Socket)>> = const { RefCell::new(None) };
}

/// Runs `f` with a sock_diag socket in the network namespace of `fd`.
/// Reused by later calls from this thread when that is the thread's own
/// namespace; dropped after any error (it may hold unread replies).
pub(crate) fn with_socket_for<R>(fd: BorrowedFd<'_>, f: impl FnOnce(&Socket) -> io::Result<R>) -> io::Result<R> {
    let Ok((key, ns)) = key_of(fd) else {
        // No way to tell the namespace: the calling thread's, uncached.
        return f(&open()?);
    };
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
        let sock = open()?;
        if !same_namespace(&sock, key)? {
            let ns = match ns {
                Some(ns) => ns,
                None => File::from(sys::socket_netns(fd)?),
            };
            return f(&run_in(&ns, open)?);
        }
        let res = f(&sock);
        if res.is_ok() {
            *slot = Some((key, sock));
        }
        res
    })
}
