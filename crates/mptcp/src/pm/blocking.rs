//! The blocking path manager handle.

use netlink_packet_generic::GenlMessage;
use netlink_sys::Socket;

use super::api::path_manager_api;
use super::error::{Error, Result};
use super::family::{self, Family};
use super::nl::{self, PmMessage};
use super::requests::{Call, Next, Op};
use crate::netlink::{self, RECV_BUF};

/// A blocking handle on the path manager of the calling thread's network
/// namespace: one netlink socket, requests numbered and acknowledged.
///
/// The namespace is fixed when the handle is created; moving the handle to
/// a thread in another namespace keeps talking to the first one.
///
/// # Examples
///
/// ```no_run
/// let mut pm = mptcp::pm::PathManager::new()?;
/// let limits = pm.limits()?;
/// println!("subflows {} add_addr_accepted {}", limits.subflows, limits.add_addr_accepted);
/// # Ok::<(), mptcp::pm::Error>(())
/// ```
#[derive(Debug)]
pub struct PathManager {
    sock: Socket,
    seq: u32,
    family: Family,
    buf: Vec<u8>,
}

impl PathManager {
    /// Opens a netlink socket and resolves the `mptcp_pm` family.
    ///
    /// # Errors
    ///
    /// [`Error::FamilyNotFound`] when the kernel has no MPTCP path manager;
    /// its message says why.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use mptcp::pm::{Error, PathManager};
    ///
    /// let mut pm = match PathManager::new() {
    ///     Err(e @ Error::FamilyNotFound { .. }) => {
    ///         eprintln!("{e}"); // e.g. "this kernel has no MPTCP path manager (built without MPTCP)"
    ///         return Ok(());
    ///     }
    ///     r => r?,
    /// };
    /// println!("{:?}", pm.limits()?);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn new() -> Result<PathManager> {
        let mut buf = vec![0u8; RECV_BUF];
        let (sock, family) = family::open_blocking(&mut buf)?;
        Ok(PathManager { sock, seq: family::FAMILY_SEQ, family, buf })
    }

    /// Sends `op` and collects the kernel's replies.
    fn run(&mut self, op: &Op) -> Result<Vec<PmMessage>> {
        self.family.check(op.msg.cmd, op.name)?;
        self.seq = self.seq.wrapping_add(1).max(1);
        let req = nl::encode(op.msg.clone(), self.family.id, op.expect.flags(), self.seq);
        netlink::transact::<GenlMessage<PmMessage>>(&self.sock, &mut self.buf, &req, self.seq, op.expect)
            .map(|replies| replies.into_iter().map(|m| m.payload).collect())
            .map_err(|e| Error::named(e, op.name, op.token))
    }

    /// Drives a call to its answer.
    fn call<T: 'static>(&mut self, call: Result<Call<T>>) -> Result<T> {
        let mut call = call?;
        loop {
            let replies = self.run(&call.op);
            match call.answer(replies)? {
                Next::Done(v) => return Ok(v),
                Next::Then(next) => call = next,
            }
        }
    }
}

path_manager_api!(PathManager, "", "mptcp::pm::PathManager::new()?", "# Ok::<(), mptcp::pm::Error>(())\n", "", [], []);
