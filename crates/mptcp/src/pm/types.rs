//! Endpoints, flags and limits of the path manager.

use std::fmt;
use std::net::IpAddr;

use super::error::Error;
use super::nl::{addr_attrs, AddrAttr, PmAttr};

/// Largest value the kernel accepts for each limit (`MPTCP_PM_ADDR_MAX`).
pub const MAX_LIMIT: u32 = 8;

/// Flags of a path manager endpoint (`MPTCP_PM_ADDR_FLAG_*`).
///
/// # Examples
///
/// ```
/// use mptcp::pm::EndpointFlags;
///
/// let f = EndpointFlags::SUBFLOW | EndpointFlags::BACKUP;
/// assert!(f.contains(EndpointFlags::BACKUP));
/// assert_eq!(f.names(), vec!["subflow", "backup"]);
/// assert_eq!(EndpointFlags::from_name("fullmesh"), Some(EndpointFlags::FULLMESH));
/// ```
///
/// With feature `serde`: `Serialize` as the number.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct EndpointFlags(pub u32);

impl EndpointFlags {
    /// No flag.
    pub const EMPTY: EndpointFlags = EndpointFlags(0);
    /// Announce this address to peers (ADD_ADDR).
    pub const SIGNAL: EndpointFlags = EndpointFlags(1);
    /// Create subflows from this address.
    pub const SUBFLOW: EndpointFlags = EndpointFlags(2);
    /// Subflows over this address are backup paths.
    pub const BACKUP: EndpointFlags = EndpointFlags(4);
    /// One subflow from this address to every known peer address.
    pub const FULLMESH: EndpointFlags = EndpointFlags(8);
    /// Set by the kernel for addresses it created itself.
    pub const IMPLICIT: EndpointFlags = EndpointFlags(16);
    /// Subflows to every announced address, each from a different endpoint (6.18).
    pub const LAMINAR: EndpointFlags = EndpointFlags(32);

    const NAMES: [(&'static str, EndpointFlags); 6] = [
        ("signal", EndpointFlags::SIGNAL),
        ("subflow", EndpointFlags::SUBFLOW),
        ("backup", EndpointFlags::BACKUP),
        ("fullmesh", EndpointFlags::FULLMESH),
        ("implicit", EndpointFlags::IMPLICIT),
        ("laminar", EndpointFlags::LAMINAR),
    ];

    /// Whether every bit of `other` is set.
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp::pm::EndpointFlags;
    ///
    /// let f = EndpointFlags::SIGNAL | EndpointFlags::BACKUP;
    /// assert!(f.contains(EndpointFlags::SIGNAL));
    /// assert!(!f.contains(EndpointFlags::SIGNAL | EndpointFlags::SUBFLOW)); // every bit
    /// ```
    pub fn contains(self, other: EndpointFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// The flag named as `ip mptcp` names it (`signal`, `subflow`, `backup`,
    /// `fullmesh`, `implicit`, `laminar`).
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp::pm::EndpointFlags;
    ///
    /// assert_eq!(EndpointFlags::from_name("backup"), Some(EndpointFlags::BACKUP));
    /// assert_eq!(EndpointFlags::from_name("Backup"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<EndpointFlags> {
        Self::NAMES.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
    }

    /// Names of the set flags, in `ip mptcp` order; unknown bits are left out.
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp::pm::EndpointFlags;
    ///
    /// assert_eq!((EndpointFlags::BACKUP | EndpointFlags::SIGNAL).names(), ["signal", "backup"]);
    /// assert!(EndpointFlags(0x100).names().is_empty());
    /// ```
    pub fn names(self) -> Vec<&'static str> {
        Self::NAMES.iter().filter(|(_, f)| self.contains(*f)).map(|(n, _)| *n).collect()
    }

    /// Bits this crate has no name for.
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp::pm::EndpointFlags;
    ///
    /// let f = EndpointFlags(EndpointFlags::SUBFLOW.0 | 0x100);
    /// assert_eq!(f.unknown_bits(), 0x100);
    /// assert_eq!(f.to_string(), "subflow 0x100");
    /// ```
    pub fn unknown_bits(self) -> u32 {
        self.0 & !Self::NAMES.iter().fold(0, |a, (_, f)| a | f.0)
    }
}

impl std::ops::BitOr for EndpointFlags {
    type Output = EndpointFlags;
    fn bitor(self, rhs: EndpointFlags) -> EndpointFlags {
        EndpointFlags(self.0 | rhs.0)
    }
}

impl std::ops::BitOrAssign for EndpointFlags {
    fn bitor_assign(&mut self, rhs: EndpointFlags) {
        self.0 |= rhs.0;
    }
}

impl fmt::Debug for EndpointFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EndpointFlags({})", self)
    }
}

impl fmt::Display for EndpointFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names = self.names().join(" ");
        if self.unknown_bits() != 0 {
            if !names.is_empty() {
                names.push(' ');
            }
            names.push_str(&format!("0x{:x}", self.unknown_bits()));
        }
        f.write_str(&names)
    }
}

/// A path manager endpoint: a local address the kernel may use for
/// subflows or announce to peers (`ip mptcp endpoint`).
///
/// With feature `serde`: `Serialize`, with `flags` as a number.
///
/// # Examples
///
/// ```
/// use mptcp::pm::{Endpoint, EndpointFlags};
///
/// let ep = Endpoint::new("10.0.2.1".parse().unwrap())
///     .with_flags(EndpointFlags::SUBFLOW)
///     .with_id(2);
/// assert_eq!(ep.id, 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Endpoint {
    /// Endpoint id, 1-255 (0 = let the kernel pick, when adding).
    pub id: u8,
    /// The local address.
    pub addr: IpAddr,
    /// Port (only for `signal` endpoints: the kernel listens on it).
    pub port: Option<u16>,
    /// Flags.
    pub flags: EndpointFlags,
    /// Interface index the endpoint is bound to.
    pub ifindex: Option<u32>,
}

impl Endpoint {
    /// An endpoint for `addr` with no flags, no id, no port, no interface.
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp::pm::{Endpoint, EndpointFlags};
    ///
    /// let ep = Endpoint::new("10.0.2.1".parse().unwrap());
    /// assert_eq!((ep.id, ep.port, ep.flags, ep.ifindex), (0, None, EndpointFlags::EMPTY, None));
    /// ```
    pub fn new(addr: IpAddr) -> Endpoint {
        Endpoint { id: 0, addr, port: None, flags: EndpointFlags::EMPTY, ifindex: None }
    }

    /// Sets the id (1-255; 0 lets the kernel choose).
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp::pm::Endpoint;
    ///
    /// assert_eq!(Endpoint::new("10.0.2.1".parse().unwrap()).with_id(3).id, 3);
    /// ```
    pub fn with_id(mut self, id: u8) -> Endpoint {
        self.id = id;
        self
    }

    /// Sets the port.
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp::pm::{Endpoint, EndpointFlags};
    ///
    /// // A `signal` endpoint the kernel listens on, port 10000.
    /// let ep = Endpoint::new("10.0.2.1".parse().unwrap()).with_flags(EndpointFlags::SIGNAL).with_port(10000);
    /// assert_eq!(ep.port, Some(10000));
    /// ```
    pub fn with_port(mut self, port: u16) -> Endpoint {
        self.port = Some(port);
        self
    }

    /// Sets the flags.
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp::pm::{Endpoint, EndpointFlags};
    ///
    /// let ep = Endpoint::new("10.0.2.1".parse().unwrap()).with_flags(EndpointFlags::SUBFLOW | EndpointFlags::BACKUP);
    /// assert_eq!(ep.flags.to_string(), "subflow backup");
    /// ```
    pub fn with_flags(mut self, flags: EndpointFlags) -> Endpoint {
        self.flags = flags;
        self
    }

    /// Binds the endpoint to an interface (see [`interface_index`](super::interface_index)).
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp::pm::{interface_index, Endpoint};
    ///
    /// let lo = interface_index("lo")?;
    /// let ep = Endpoint::new("127.0.0.1".parse().unwrap()).with_ifindex(lo);
    /// assert_eq!(ep.ifindex, Some(lo));
    /// # Ok::<(), mptcp::pm::Error>(())
    /// ```
    pub fn with_ifindex(mut self, ifindex: u32) -> Endpoint {
        self.ifindex = Some(ifindex);
        self
    }

    pub(crate) fn to_attrs(&self) -> Vec<AddrAttr> {
        let mut v = addr_attrs(self.addr);
        if self.id != 0 {
            v.push(AddrAttr::Id(self.id));
        }
        if let Some(p) = self.port {
            v.push(AddrAttr::Port(p));
        }
        if self.flags.0 != 0 {
            v.push(AddrAttr::Flags(self.flags.0));
        }
        if let Some(i) = self.ifindex {
            v.push(AddrAttr::IfIdx(i as i32));
        }
        v
    }

    pub(crate) fn from_attrs(attrs: &[AddrAttr]) -> Option<Endpoint> {
        let mut ep = Endpoint::new(IpAddr::from([0u8, 0, 0, 0]));
        let mut have_addr = false;
        for a in attrs {
            match a {
                AddrAttr::Id(i) => ep.id = *i,
                AddrAttr::Addr4(a) => {
                    ep.addr = IpAddr::V4(*a);
                    have_addr = true;
                }
                AddrAttr::Addr6(a) => {
                    ep.addr = IpAddr::V6(*a);
                    have_addr = true;
                }
                AddrAttr::Port(p) if *p != 0 => ep.port = Some(*p),
                AddrAttr::Flags(f) => ep.flags = EndpointFlags(*f),
                AddrAttr::IfIdx(i) if *i > 0 => ep.ifindex = Some(*i as u32),
                _ => {}
            }
        }
        have_addr.then_some(ep)
    }

    /// Checks what the kernel would refuse, before anything is sent.
    pub(crate) fn validate_for_add(&self) -> Result<(), Error> {
        if self.addr.is_unspecified() || self.addr.is_multicast() {
            return Err(Error::invalid(format!("{} is not a usable local address", self.addr)));
        }
        if self.port.is_some() && !self.flags.contains(EndpointFlags::SIGNAL) {
            return Err(Error::invalid("a port needs the `signal` flag (the kernel listens on it)"));
        }
        if self.flags.contains(EndpointFlags::SIGNAL) && self.flags.contains(EndpointFlags::FULLMESH) {
            return Err(Error::invalid("`signal` and `fullmesh` cannot be combined"));
        }
        if self.flags.contains(EndpointFlags::IMPLICIT) {
            return Err(Error::invalid("`implicit` is set by the kernel only"));
        }
        Ok(())
    }
}

pub use crate::limits::Limits;

impl Limits {
    /// Checks both values against the kernel's maximum ([`MAX_LIMIT`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp::pm::{Limits, MAX_LIMIT};
    ///
    /// assert!(Limits::new(MAX_LIMIT, MAX_LIMIT).validate().is_ok());
    /// let err = Limits::new(0, MAX_LIMIT + 1).validate().unwrap_err();
    /// assert!(err.to_string().contains("add_addr_accepted"));
    /// ```
    pub fn validate(&self) -> Result<(), Error> {
        for (name, v) in [("subflows", self.subflows), ("add_addr_accepted", self.add_addr_accepted)] {
            if v > MAX_LIMIT {
                return Err(Error::invalid(format!("{name} {v} is above the kernel's maximum of {MAX_LIMIT}")));
            }
        }
        Ok(())
    }

    pub(crate) fn from_attrs(attrs: &[PmAttr]) -> Limits {
        let mut l = Limits::default();
        for a in attrs {
            match a {
                PmAttr::Subflows(v) => l.subflows = *v,
                PmAttr::RcvAddAddrs(v) => l.add_addr_accepted = *v,
                _ => {}
            }
        }
        l
    }
}

/// A local address for a subflow created by the userspace path manager.
///
/// # Examples
///
/// ```
/// use mptcp::pm::LocalAddr;
///
/// let l = LocalAddr::new("10.0.2.1".parse().unwrap()).with_id(5);
/// assert_eq!(l.id, 5);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct LocalAddr {
    /// Address.
    pub addr: IpAddr,
    /// Local port (0 = any).
    pub port: u16,
    /// Address id (0 = let the kernel pick one).
    pub id: u8,
    /// Interface index to bind the subflow to.
    pub ifindex: Option<u32>,
}

impl LocalAddr {
    /// `addr`, any port, id chosen by the kernel, no interface.
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp::pm::LocalAddr;
    ///
    /// let l = LocalAddr::new("10.0.2.1".parse().unwrap());
    /// assert_eq!((l.port, l.id, l.ifindex), (0, 0, None)); // any port, kernel-chosen id
    /// ```
    pub fn new(addr: IpAddr) -> LocalAddr {
        LocalAddr { addr, port: 0, id: 0, ifindex: None }
    }
    /// Sets the id.
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp::pm::LocalAddr;
    ///
    /// assert_eq!(LocalAddr::new("10.0.2.1".parse().unwrap()).with_id(5).id, 5);
    /// ```
    pub fn with_id(mut self, id: u8) -> LocalAddr {
        self.id = id;
        self
    }
    /// Sets the local port.
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp::pm::LocalAddr;
    ///
    /// assert_eq!(LocalAddr::new("10.0.2.1".parse().unwrap()).with_port(40000).port, 40000);
    /// ```
    pub fn with_port(mut self, port: u16) -> LocalAddr {
        self.port = port;
        self
    }
    /// Binds the subflow to an interface.
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp::pm::{interface_index, LocalAddr};
    ///
    /// let lo = interface_index("lo")?;
    /// assert_eq!(LocalAddr::new("127.0.0.1".parse().unwrap()).with_ifindex(lo).ifindex, Some(lo));
    /// # Ok::<(), mptcp::pm::Error>(())
    /// ```
    pub fn with_ifindex(mut self, ifindex: u32) -> LocalAddr {
        self.ifindex = Some(ifindex);
        self
    }

    pub(crate) fn to_attrs(self) -> Vec<AddrAttr> {
        let mut v = addr_attrs(self.addr);
        if self.id != 0 {
            v.push(AddrAttr::Id(self.id));
        }
        if self.port != 0 {
            v.push(AddrAttr::Port(self.port));
        }
        if let Some(i) = self.ifindex {
            v.push(AddrAttr::IfIdx(i as i32));
        }
        v
    }
}
