//! Naming an endpoint: by id or by address.

use std::fmt;
use std::net::IpAddr;

use super::nl::{addr_attrs, AddrAttr};

/// Selects an endpoint by id or by address.
///
/// # Examples
///
/// ```
/// use std::net::IpAddr;
/// use mptcp::pm::EndpointRef;
///
/// assert_eq!(EndpointRef::from(2), EndpointRef::Id(2));
/// let by_addr = EndpointRef::from("10.0.2.1".parse::<IpAddr>().unwrap());
/// assert_eq!(by_addr.to_string(), "10.0.2.1");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointRef {
    /// By endpoint id (1-255).
    Id(u8),
    /// By address.
    Addr(IpAddr),
}

impl From<u8> for EndpointRef {
    fn from(id: u8) -> Self {
        EndpointRef::Id(id)
    }
}

impl From<IpAddr> for EndpointRef {
    fn from(a: IpAddr) -> Self {
        EndpointRef::Addr(a)
    }
}

impl EndpointRef {
    pub(crate) fn to_attrs(self) -> Vec<AddrAttr> {
        match self {
            EndpointRef::Id(id) => vec![AddrAttr::Id(id)],
            EndpointRef::Addr(a) => addr_attrs(a),
        }
    }
}

impl fmt::Display for EndpointRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndpointRef::Id(id) => write!(f, "id {id}"),
            EndpointRef::Addr(a) => write!(f, "{a}"),
        }
    }
}
