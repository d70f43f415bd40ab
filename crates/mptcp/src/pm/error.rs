//! The path manager's error type and its messages.

use std::io;

use super::endpoint_ref::EndpointRef;
use crate::host::Availability;
use crate::netlink::RawError;

/// Errors of the path manager API.
///
/// # Examples
///
/// ```
/// use mptcp::pm::{Error, Limits};
///
/// let err = Limits::new(9, 0).validate().unwrap_err();
/// assert!(matches!(err, Error::InvalidArgument { .. })); // refused before sending
/// assert_eq!(err.errno(), None);
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The netlink socket failed (or the kernel sent something unparsable).
    #[error("netlink: {0}")]
    Io(#[from] io::Error),
    /// The kernel refused the request.
    #[error("{}", kernel_message(op, *errno, *token, detail.as_deref()))]
    Kernel {
        /// What was asked (`"add endpoint"`, ...).
        op: &'static str,
        /// The positive errno.
        errno: i32,
        /// The connection token the request named, if any.
        token: Option<u32>,
        /// The kernel's extended ACK message, if it sent one.
        detail: Option<String>,
    },
    /// An argument the kernel would refuse; nothing was sent.
    #[error("invalid argument: {reason}")]
    InvalidArgument {
        /// What is wrong.
        reason: String,
    },
    /// No endpoint matches.
    #[error("no endpoint with {0}")]
    NoSuchEndpoint(EndpointRef),
    /// The kernel has no `mptcp_pm` generic netlink family: no MPTCP path
    /// manager to talk to. The message says why, from whether MPTCP
    /// sockets can be created in this network namespace.
    #[error("{}", why_no_path_manager(*availability))]
    FamilyNotFound {
        /// Whether MPTCP sockets can be created here (probed when the
        /// family was not found). [`Availability::NotBuilt`]: the kernel
        /// was built without MPTCP. `net.mptcp.enabled=0` does not remove
        /// the family, so with [`Availability::Available`] or
        /// [`Availability::DisabledBySysctl`] the kernel predates the path
        /// manager API (Linux 5.7).
        availability: Availability,
    },
    /// The path manager exists but lacks what was asked for: an operation
    /// its generic netlink family does not list (e.g. the userspace path
    /// manager's commands before Linux 5.19) or its events group (before
    /// 5.12). Found by probing the family, never from the kernel version;
    /// nothing was sent.
    #[error("this kernel's MPTCP path manager has no {what}")]
    NotSupported {
        /// What is missing, e.g. "`create subflow` operation (MPTCP_PM_CMD_SUBFLOW_CREATE)".
        what: String,
    },
    /// The kernel dropped events for this subscription: they came faster
    /// than they were read and its receive buffer overflowed (`ENOBUFS`).
    /// How many were lost is not known (the kernel says only that some
    /// were); the subscription goes on with the next events, so reading
    /// may continue. The kernel reports the overflow at the next read,
    /// before the events that were queued when it happened.
    #[error("MPTCP events were lost: the receive buffer overflowed (the kernel does not say how many)")]
    EventsLost,
}

impl Error {
    pub(crate) fn invalid(reason: impl Into<String>) -> Error {
        Error::InvalidArgument { reason: reason.into() }
    }

    /// Names a failed request: what was asked, and the token it named.
    pub(crate) fn named(raw: RawError, op: &'static str, token: Option<u32>) -> Error {
        match raw {
            RawError::Io(e) => Error::Io(e),
            RawError::Kernel(errno, detail) => Error::Kernel { op, errno, token, detail },
        }
    }

    /// The errno behind this error, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp::pm::Error;
    ///
    /// let e = Error::Kernel { op: "add endpoint", errno: libc::EEXIST, token: None, detail: None };
    /// assert_eq!(e.errno(), Some(libc::EEXIST));
    /// let e = Error::FamilyNotFound { availability: mptcp::Availability::NotBuilt };
    /// assert_eq!(e.errno(), None);
    /// ```
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Kernel { errno, .. } => Some(*errno),
            Error::Io(e) => e.raw_os_error(),
            Error::EventsLost => Some(libc::ENOBUFS),
            _ => None,
        }
    }

    /// Whether the kernel refused for lack of `CAP_NET_ADMIN`.
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp::pm::Error;
    ///
    /// let e = Error::Kernel { op: "flush endpoints", errno: libc::EPERM, token: None, detail: None };
    /// assert!(e.is_permission_denied());
    /// assert!(e.to_string().contains("CAP_NET_ADMIN"));
    /// ```
    pub fn is_permission_denied(&self) -> bool {
        matches!(self.errno(), Some(libc::EPERM) | Some(libc::EACCES))
    }
}

/// Result type of the path manager.
pub type Result<T, E = Error> = std::result::Result<T, E>;

fn kernel_message(op: &str, errno: i32, token: Option<u32>, detail: Option<&str>) -> String {
    let os = io::Error::from_raw_os_error(errno);
    if errno == libc::EPERM || errno == libc::EACCES {
        return format!("{op}: needs CAP_NET_ADMIN in this network namespace ({os})");
    }
    if let (libc::EINVAL, Some(t)) = (errno, token) {
        match detail {
            Some(d) if d.contains("token") => return format!("{op}: no MPTCP connection with token {t} (0x{t:08x})"),
            None => {
                return format!(
                    "{op}: no MPTCP connection with token {t} (0x{t:08x}), or the request does not fit it ({os})"
                )
            }
            _ => {}
        }
    }
    match detail {
        Some(d) if !d.is_empty() => format!("{op}: {d} ({os})"),
        _ => format!("{op}: {os}"),
    }
}

/// Why a kernel has no MPTCP path manager (no `mptcp_pm` generic netlink
/// family), for people, given whether MPTCP sockets can be created there:
/// the message of [`Error::FamilyNotFound`], without making one.
///
/// `net.mptcp.enabled=0` does not remove the family, so a kernel that
/// lacks it while MPTCP sockets work (or are only disabled) predates the
/// path manager API (Linux 5.7). Found from the availability, never from
/// the kernel's version string.
///
/// # Examples
///
/// ```
/// use mptcp::{pm, Availability};
///
/// let why = pm::why_no_path_manager(Availability::NotBuilt);
/// assert_eq!(why, "this kernel has no MPTCP path manager (built without MPTCP)");
/// assert_eq!(why, pm::Error::FamilyNotFound { availability: Availability::NotBuilt }.to_string());
/// // This host's answer, where `PathManager::new()` failed:
/// println!("{}", pm::why_no_path_manager(mptcp::host_support().availability));
/// ```
pub fn why_no_path_manager(availability: Availability) -> String {
    match availability {
        Availability::NotBuilt => "this kernel has no MPTCP path manager (built without MPTCP)".into(),
        Availability::KernelTooOld => {
            "this kernel has no MPTCP path manager (it predates MPTCP: Linux 5.6 brought MPTCP, 5.7 its path manager)"
                .into()
        }
        Availability::Available => {
            "this kernel has MPTCP but no `mptcp_pm` generic netlink family (the path manager API needs Linux 5.7)"
                .into()
        }
        Availability::DisabledBySysctl => "this kernel has MPTCP (disabled by net.mptcp.enabled=0, which does not \
                                           remove the path manager) but no `mptcp_pm` generic netlink family (the \
                                           path manager API needs Linux 5.7)"
            .into(),
        other => format!("the kernel has no `mptcp_pm` generic netlink family (MPTCP sockets: {other})"),
    }
}

#[cfg(test)]
#[path = "error_tests.rs"]
mod tests;
