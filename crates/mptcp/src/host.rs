//! What this host's kernel can do, found by probing it, never by reading
//! its version string.

use std::fmt;
use std::io;
use std::sync::OnceLock;

use crate::status::Mechanism;

/// Whether MPTCP sockets can be created here, and if not, why.
///
/// `Display` gives a sentence for people (with what to do, where there is
/// something to do). Kernels and operating systems may give new reasons,
/// so the enum is `#[non_exhaustive]`.
///
/// With feature `serde`: `Serialize` as a kebab-case name
/// (`"available"`, `"disabled-by-sysctl"`, ..., `{"error": 13}`).
///
/// # Examples
///
/// ```
/// use mptcp::Availability;
///
/// match mptcp::host_support().availability {
///     Availability::Available => println!("MPTCP sockets work here"),
///     other => println!("no MPTCP: {other}"),
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
#[non_exhaustive]
pub enum Availability {
    /// `socket(..., IPPROTO_MPTCP)` works.
    Available,
    /// `ENOPROTOOPT`: MPTCP is built in but `net.mptcp.enabled=0` in this
    /// network namespace.
    DisabledBySysctl,
    /// `EPROTONOSUPPORT`: the kernel was built without MPTCP.
    NotBuilt,
    /// `EINVAL`: the kernel predates MPTCP (older than 5.6).
    KernelTooOld,
    /// Any other error (an LSM denying it, no descriptors left, ...).
    Error(i32),
    /// Not Linux: MPTCP does not exist here.
    Unsupported,
}

impl Availability {
    /// Classifies the error of `socket(..., IPPROTO_MPTCP)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Error;
    /// use mptcp::Availability;
    ///
    /// let e = Error::from_raw_os_error(libc::ENOPROTOOPT);
    /// assert_eq!(Availability::from_socket_error(&e), Availability::DisabledBySysctl);
    /// let e = Error::from_raw_os_error(libc::EMFILE);
    /// assert_eq!(Availability::from_socket_error(&e), Availability::Error(libc::EMFILE));
    /// ```
    pub fn from_socket_error(e: &io::Error) -> Availability {
        match e.raw_os_error() {
            Some(libc::ENOPROTOOPT) => Availability::DisabledBySysctl,
            Some(libc::EPROTONOSUPPORT) => Availability::NotBuilt,
            Some(libc::EINVAL) => Availability::KernelTooOld,
            Some(n) => Availability::Error(n),
            None => Availability::Error(0),
        }
    }

    /// Whether this error means "MPTCP is unavailable here", the only case
    /// where falling back to TCP is right.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Error;
    /// use mptcp::Availability;
    ///
    /// assert!(Availability::means_unavailable(&Error::from_raw_os_error(libc::EPROTONOSUPPORT)));
    /// // Out of descriptors is not "no MPTCP": no fallback to TCP.
    /// assert!(!Availability::means_unavailable(&Error::from_raw_os_error(libc::EMFILE)));
    /// ```
    pub fn means_unavailable(e: &io::Error) -> bool {
        matches!(e.raw_os_error(), Some(libc::ENOPROTOOPT) | Some(libc::EPROTONOSUPPORT) | Some(libc::EINVAL))
    }
}

impl fmt::Display for Availability {
    /// A sentence for people.
    ///
    /// ```
    /// use mptcp::Availability;
    ///
    /// assert_eq!(Availability::Available.to_string(), "available");
    /// assert!(Availability::DisabledBySysctl.to_string().contains("net.mptcp.enabled=1"));
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Availability::Available => f.write_str("available"),
            Availability::DisabledBySysctl => {
                f.write_str("disabled by sysctl net.mptcp.enabled=0 (enable: sysctl -w net.mptcp.enabled=1)")
            }
            Availability::NotBuilt => f.write_str("not built into this kernel (CONFIG_MPTCP is off)"),
            Availability::KernelTooOld => f.write_str("kernel too old (MPTCP needs Linux 5.6 or newer)"),
            Availability::Error(n) => write!(f, "socket creation failed: {}", io::Error::from_raw_os_error(*n)),
            Availability::Unsupported => f.write_str("not supported on this operating system"),
        }
    }
}

/// The error inside the `io::Error` that [`FallbackPolicy::Fail`](crate::FallbackPolicy::Fail)
/// returns when MPTCP sockets cannot be created: why, as an [`Availability`].
///
/// The `io::Error` has kind `Unsupported`; reach this type with
/// `get_ref()` and `downcast_ref`. Its [`source`](std::error::Error::source)
/// is the error `socket(2)` gave, where there was one.
///
/// # Examples
///
/// ```
/// use mptcp::{Availability, FallbackPolicy, MptcpBuilder, Unavailable};
///
/// match MptcpBuilder::new().fallback(FallbackPolicy::Fail).socket(socket2::Domain::IPV4) {
///     Ok(_) => println!("an MPTCP socket"),
///     Err(e) => match e.get_ref().and_then(|inner| inner.downcast_ref::<Unavailable>()) {
///         Some(why) if why.availability() == Availability::DisabledBySysctl => {
///             eprintln!("turn MPTCP on: sysctl -w net.mptcp.enabled=1")
///         }
///         Some(why) => eprintln!("no MPTCP here: {}", why.availability()),
///         None => eprintln!("socket(2) failed: {e}"),
///     },
/// }
/// ```
#[derive(Debug)]
pub struct Unavailable {
    availability: Availability,
    os: Option<io::Error>,
}

impl Unavailable {
    /// The error for `socket(2)`'s answer `os`, as an `io::Error` of kind
    /// `Unsupported`.
    pub(crate) fn io_error(availability: Availability, os: Option<io::Error>) -> io::Error {
        io::Error::new(io::ErrorKind::Unsupported, Unavailable { availability, os })
    }

    /// Why MPTCP sockets cannot be created.
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp::{Availability, FallbackPolicy, Unavailable};
    ///
    /// if let Err(e) = mptcp::new_socket(socket2::Domain::IPV4, FallbackPolicy::Fail) {
    ///     let why = e.get_ref().and_then(|i| i.downcast_ref::<Unavailable>()).map(Unavailable::availability);
    ///     assert_ne!(why, Some(Availability::Available));
    /// }
    /// ```
    pub fn availability(&self) -> Availability {
        self.availability
    }
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MPTCP is unavailable: {}", self.availability)?;
        if let Some(os) = &self.os {
            write!(f, " ({os})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Unavailable {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.os.as_ref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// What this host can do, found by probing the kernel once.
///
/// Kernels gain features, so the struct is `#[non_exhaustive]`.
///
/// With feature `serde`: `Serialize`, one field per probed feature.
///
/// # Examples
///
/// ```
/// let host = mptcp::host_support();
/// println!("MPTCP: {}", host.availability);
/// if let Some(m) = host.best_mechanism() {
///     println!("status checks use {m}");
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct HostSupport {
    /// Whether MPTCP sockets can be created (in the network namespace of the
    /// thread that probed).
    pub availability: Availability,
    /// `TCP_IS_MPTCP` works (6.10+).
    pub tcp_is_mptcp: bool,
    /// `SOL_MPTCP` / `MPTCP_INFO` works, proven on a live MPTCP socket (5.16+).
    pub mptcp_info: bool,
    /// Length of `struct mptcp_info` the kernel returns (48 on 6.1, 96 on 6.18).
    pub mptcp_info_len: Option<usize>,
    /// `MPTCP_TCPINFO` works (5.16+).
    pub mptcp_tcpinfo: bool,
    /// `MPTCP_SUBFLOW_ADDRS` works (5.16+).
    pub mptcp_subflow_addrs: bool,
    /// `MPTCP_FULL_INFO` works (6.5+).
    pub mptcp_full_info: bool,
    /// inet_diag lists MPTCP sockets (`mptcp_diag`).
    pub inet_diag: bool,
}

static HOST: OnceLock<HostSupport> = OnceLock::new();

/// What this host can do: probed on first use, then cached for the process.
///
/// Which options exist is a property of the kernel. Whether MPTCP is enabled
/// is a property of the network namespace (`net.mptcp.enabled`), and of the
/// moment: the cached value is the one seen by the first caller; use
/// [`HostSupport::probe`] for a fresh answer. Socket creation never relies
/// on this cache: it asks the kernel every time.
///
/// # Examples
///
/// ```
/// let host = mptcp::host_support();
/// assert!(std::ptr::eq(host, mptcp::host_support())); // probed once
/// ```
pub fn host_support() -> &'static HostSupport {
    HOST.get_or_init(HostSupport::probe)
}

impl HostSupport {
    /// Probes the kernel now (a handful of syscalls on fresh sockets).
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp::HostSupport;
    ///
    /// // A fresh answer, e.g. after `sysctl net.mptcp.enabled` changed.
    /// let now = HostSupport::probe();
    /// println!("MPTCP: {}", now.availability);
    /// ```
    pub fn probe() -> HostSupport {
        #[cfg(mptcp_linux)]
        return probe_linux();
        #[cfg(not(mptcp_linux))]
        HostSupport {
            availability: Availability::Unsupported,
            tcp_is_mptcp: false,
            mptcp_info: false,
            mptcp_info_len: None,
            mptcp_tcpinfo: false,
            mptcp_subflow_addrs: false,
            mptcp_full_info: false,
            inet_diag: false,
        }
    }
    /// Whether MPTCP sockets can be created.
    ///
    /// # Examples
    ///
    /// ```
    /// let host = mptcp::host_support();
    /// assert_eq!(host.is_available(), host.availability == mptcp::Availability::Available);
    /// ```
    pub fn is_available(&self) -> bool {
        self.availability == Availability::Available
    }

    /// Detection mechanisms this kernel offers, best first.
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp::Mechanism;
    ///
    /// let mechanisms = mptcp::host_support().mechanisms();
    /// // `SO_PROTOCOL` always works, and comes last.
    /// assert_eq!(mechanisms.last(), Some(&Mechanism::SoProtocol));
    /// ```
    pub fn mechanisms(&self) -> Vec<Mechanism> {
        let mut v = Vec::new();
        if self.tcp_is_mptcp {
            v.push(Mechanism::TcpIsMptcp);
        }
        if self.mptcp_info {
            v.push(Mechanism::MptcpInfo);
        }
        if self.inet_diag {
            v.push(Mechanism::InetDiag);
        }
        v.push(Mechanism::SoProtocol);
        v
    }

    /// The mechanism [`MptcpExt::mptcp_status`](crate::MptcpExt::mptcp_status)
    /// relies on, or `None` when the probe proved none. (`mptcp_status` still
    /// takes a successful `MPTCP_INFO` on the socket itself as proof, so it
    /// can confirm MPTCP on a socket from another network namespace even then.)
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp::Mechanism;
    ///
    /// match mptcp::host_support().best_mechanism() {
    ///     Some(m) => assert_ne!(m, Mechanism::SoProtocol), // it cannot confirm MPTCP
    ///     None => println!("this kernel cannot confirm MPTCP on a connection"),
    /// }
    /// ```
    pub fn best_mechanism(&self) -> Option<Mechanism> {
        self.mechanisms().into_iter().find(|m| *m != Mechanism::SoProtocol)
    }

    /// How per-subflow details are read on this kernel.
    ///
    /// # Examples
    ///
    /// ```
    /// match mptcp::host_support().subflow_source() {
    ///     Some(source) => println!("subflows read through {source}"),
    ///     None => println!("no per-subflow details on this kernel"),
    /// }
    /// ```
    pub fn subflow_source(&self) -> Option<&'static str> {
        if self.mptcp_full_info {
            Some("MPTCP_FULL_INFO")
        } else if self.mptcp_tcpinfo && self.mptcp_subflow_addrs {
            Some("MPTCP_TCPINFO+MPTCP_SUBFLOW_ADDRS")
        } else {
            None
        }
    }
}

#[cfg(all(feature = "netlink", mptcp_linux))]
fn probe_inet_diag() -> bool {
    crate::diag::probe().unwrap_or(false)
}

#[cfg(all(not(feature = "netlink"), mptcp_linux))]
fn probe_inet_diag() -> bool {
    false
}

/// The `net.mptcp.*` sysctls of the calling thread's network namespace, as
/// (name, value) pairs sorted by name; empty when MPTCP is not built in.
///
/// # Examples
///
/// ```
/// for (name, value) in mptcp::sysctls() {
///     println!("net.mptcp.{name} = {value}");
/// }
/// ```
pub fn sysctls() -> Vec<(String, String)> {
    let mut v = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc/sys/net/mptcp") {
        for e in dir.flatten() {
            if let Ok(val) = std::fs::read_to_string(e.path()) {
                v.push((e.file_name().to_string_lossy().into_owned(), val.trim().to_string()));
            }
        }
    }
    v.sort();
    v
}

/// Whether MPTCP sockets can be created in the calling thread's network
/// namespace now (one `socket(2)`, not cached).
#[cfg(all(mptcp_linux, feature = "netlink"))]
pub(crate) fn availability_now() -> Availability {
    match crate::sys::mptcp_socket(socket2::Domain::IPV4) {
        Ok(_) => Availability::Available,
        Err(e) => Availability::from_socket_error(&e),
    }
}

#[cfg(mptcp_linux)]
fn probe_linux() -> HostSupport {
    use socket2::{Domain, Socket, Type};
    use std::os::fd::AsFd;

    use crate::sockopt::{subflow_data_request, SUBFLOW_ADDRS_SIZE, SUBFLOW_DATA_SIZE};
    use crate::sys;

    let inet_diag = probe_inet_diag();
    match sys::mptcp_socket(Domain::IPV4) {
        Ok(s) => {
            let fd = s.as_fd();
            let tcp_is_mptcp = sys::getsockopt_int(fd, libc::SOL_TCP, sys::TCP_IS_MPTCP).is_ok();
            let mut buf = [0u8; 256];
            let info_len = sys::getsockopt_buf(fd, sys::SOL_MPTCP, sys::MPTCP_INFO, &mut buf).ok();
            let mut sfd = [0u8; SUBFLOW_DATA_SIZE + SUBFLOW_ADDRS_SIZE];
            subflow_data_request(&mut sfd, SUBFLOW_ADDRS_SIZE as u32);
            let tcpinfo = sys::getsockopt_buf(fd, sys::SOL_MPTCP, sys::MPTCP_TCPINFO, &mut sfd).is_ok();
            subflow_data_request(&mut sfd, SUBFLOW_ADDRS_SIZE as u32);
            let addrs = sys::getsockopt_buf(fd, sys::SOL_MPTCP, sys::MPTCP_SUBFLOW_ADDRS, &mut sfd).is_ok();
            let mut head = [0u8; 256];
            let full = sys::getsockopt_full_info(fd, &mut head, &mut [], 0, &mut [], 0, 0).is_ok();
            HostSupport {
                availability: Availability::Available,
                tcp_is_mptcp,
                mptcp_info: info_len.is_some(),
                mptcp_info_len: info_len,
                mptcp_tcpinfo: tcpinfo,
                mptcp_subflow_addrs: addrs,
                mptcp_full_info: full,
                inet_diag,
            }
        }
        Err(e) => {
            // MPTCP sockets cannot be made here; TCP_IS_MPTCP can still be
            // probed on a TCP socket (0 on kernels that know it).
            let tcp_is_mptcp = Socket::new(Domain::IPV4, Type::STREAM, None)
                .map(|t| sys::getsockopt_int(t.as_fd(), libc::SOL_TCP, sys::TCP_IS_MPTCP).is_ok())
                .unwrap_or(false);
            HostSupport {
                availability: Availability::from_socket_error(&e),
                tcp_is_mptcp,
                mptcp_info: false,
                mptcp_info_len: None,
                mptcp_tcpinfo: false,
                mptcp_subflow_addrs: false,
                mptcp_full_info: false,
                inet_diag,
            }
        }
    }
}
