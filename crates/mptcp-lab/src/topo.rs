//! The lab's network: a client and a server namespace joined by N veth
//! paths, each optionally shaped with `tbf`, and the path manager set up so
//! that MPTCP opens one subflow per path.

use std::net::{IpAddr, Ipv4Addr};

use mptcp::pm::{Endpoint, EndpointFlags, PathManager};
use mptcp_netns::{Netns, Path};

use crate::error::Context;
use crate::Result;

/// Bytes of MPTCP options in a data segment on Linux (DSS with a 32-bit
/// data ACK and a 64-bit mapping, padded): what MPTCP takes from the MSS.
pub const MPTCP_DSS_BYTES: u32 = 24;

/// IPv4 and TCP headers with the timestamps option (20 + 20 + 12 bytes):
/// what a full segment carries besides its MSS of payload.
pub const IP_TCP_HEADERS: u32 = 20 + 20 + 12;

/// Payload and frame bytes of a full segment of `mss`: tbf counts whole
/// Ethernet frames (the MTU plus the Ethernet header), and MPTCP data
/// segments give [`MPTCP_DSS_BYTES`] of the MSS to options.
pub fn frame_budget(mss: u32, mptcp: bool) -> (u32, u32) {
    let payload = if mptcp { mss.saturating_sub(MPTCP_DSS_BYTES) } else { mss };
    (payload, mss + IP_TCP_HEADERS + libc::ETH_HLEN as u32)
}

/// A path's shaping: `None` is an unshaped veth.
#[derive(Debug, Clone, PartialEq)]
pub struct Rate {
    /// Rate in bits per second.
    pub bps: u64,
}

/// Parses a `tc`-style rate: `50mbit`, `1.5gbit`, `800kbit`, `64000bit`;
/// `unshaped` (or `none`) for no shaping.
pub fn parse_rate(s: &str) -> Result<Option<Rate>, String> {
    let t = s.trim().to_ascii_lowercase();
    if t == "unshaped" || t == "none" {
        return Ok(None);
    }
    let (num, mult) = if let Some(n) = t.strip_suffix("gbit") {
        (n, 1e9)
    } else if let Some(n) = t.strip_suffix("mbit") {
        (n, 1e6)
    } else if let Some(n) = t.strip_suffix("kbit") {
        (n, 1e3)
    } else if let Some(n) = t.strip_suffix("bit") {
        (n, 1.0)
    } else {
        return Err(format!("rate {s:?}: expected a number with kbit, mbit or gbit (e.g. 50mbit), or `unshaped`"));
    };
    match num.parse::<f64>() {
        Ok(v) if v.is_finite() && v * mult >= 100_000.0 && v * mult <= 100e9 => {
            Ok(Some(Rate { bps: (v * mult) as u64 }))
        }
        Ok(_) => Err(format!("rate {s:?}: expected between 100kbit and 100gbit")),
        Err(_) => Err(format!("rate {s:?}: {num:?} is not a number")),
    }
}

/// Address of the client (`end` 1) or server (`end` 2) on path `i` (0 to
/// 7), in 10.100.0.0/24 to 10.107.0.0/24.
pub fn addr(i: usize, end: u8) -> IpAddr {
    Ipv4Addr::new(10, 100 + i as u8, 0, end).into()
}

/// The prefix length of every path's subnet.
const PREFIX_LEN: u8 = 24;

/// How the lab sets up the path manager, as its report says.
pub const PM_VIA: &str = "netlink";

/// The lab network. Dropping it removes both namespaces and all in them.
#[derive(Debug)]
pub struct Topology {
    /// Client side.
    pub client: Netns,
    /// Server side.
    pub server: Netns,
    /// The paths, in order; path 0 carries the initial subflow.
    pub paths: Vec<Path>,
    /// Shaping of each path.
    pub rates: Vec<Option<Rate>>,
}

impl Topology {
    /// Builds the namespaces, the paths and the path manager configuration.
    pub fn build(rates: &[Option<Rate>]) -> Result<Topology> {
        let client = Netns::new("client").context("creating the client namespace")?;
        let server = Netns::new("server").context("creating the server namespace")?;
        let mut paths = Vec::new();
        for (i, r) in rates.iter().enumerate() {
            let p = Path::new(&client, addr(i, 1), &server, addr(i, 2), PREFIX_LEN)
                .with_context(|| format!("creating path {}", i + 1))?;
            if let Some(r) = r {
                p.shape(r.bps).with_context(|| format!("shaping path {} to {} bit/s", i + 1, r.bps))?;
            }
            paths.push(p);
        }
        let extra = rates.len().saturating_sub(1) as u32;
        // The server announces its other addresses; the client accepts them
        // and opens one subflow to each, routed over the matching path.
        let announce: Vec<(IpAddr, &str)> = paths.iter().skip(1).map(|p| (p.b_addr, p.b_dev.as_str())).collect();
        configure_pm(&server, &announce, EndpointFlags::SIGNAL, (extra, 0))?;
        let topo = Topology { client, server, paths, rates: rates.to_vec() };
        topo.reset_client_pm()?;
        Ok(topo)
    }

    /// The client's limits: one subflow per announced address.
    fn client_limits(&self) -> (u32, u32) {
        let extra = self.paths.len().saturating_sub(1) as u32;
        (extra, extra)
    }

    /// Makes the client open the subflows itself, as a multi-homed host
    /// does: one `subflow` endpoint per path, bound to its interface (what
    /// `mptcp daemon`'s default policy makes of them), and the server's
    /// announcements ignored (`add_addr_accepted 0`). Each join goes out
    /// through its endpoint's interface to the server's first address (the
    /// interface has no route there, so the kernel takes it as on-link and
    /// the server answers on that path): one subflow per path again.
    pub fn add_client_endpoints(&self) -> Result<()> {
        let eps: Vec<(IpAddr, &str)> = self.paths.iter().map(|p| (p.a_addr, p.a_dev.as_str())).collect();
        let (subflows, _) = self.client_limits();
        configure_pm(&self.client, &eps, EndpointFlags::SUBFLOW, (subflows, 0))
    }

    /// The client's path manager as the topology made it: no endpoints,
    /// its limits.
    pub fn reset_client_pm(&self) -> Result<()> {
        configure_pm(&self.client, &[], EndpointFlags::SUBFLOW, self.client_limits())
    }

    /// Sum of the rates of the paths in `which`; `None` if one is unshaped.
    pub fn rate_sum(&self, which: impl Iterator<Item = usize>) -> Option<f64> {
        let mut sum = 0.0;
        for i in which {
            sum += self.rates.get(i)?.as_ref()?.bps as f64;
        }
        Some(sum)
    }
}

/// Path manager setup of one namespace, through the library's path
/// manager (`mptcp::pm`, generic netlink) inside it: exactly the endpoints
/// `endpoints` (address, device), each bound to its device, with `flags`,
/// and the limits (`subflows`, `add_addr_accepted`). An interface that
/// cannot be found is an error naming it, never an endpoint without its
/// device.
pub fn configure_pm(
    ns: &Netns,
    endpoints: &[(IpAddr, &str)],
    flags: EndpointFlags,
    (subflows, add_addr_accepted): (u32, u32),
) -> Result<()> {
    let name = ns.name();
    ns.in_ns(|| -> Result<()> {
        let mut pm = PathManager::new().with_context(|| format!("the path manager of namespace {name}"))?;
        // Every interface first: nothing changes when one is missing.
        let eps = bound_endpoints(endpoints, flags).with_context(|| format!("in namespace {name}"))?;
        pm.flush_endpoints().with_context(|| format!("removing the endpoints of namespace {name}"))?;
        for ep in &eps {
            pm.add_endpoint(ep).with_context(|| format!("adding endpoint {} in namespace {name}", ep.addr))?;
        }
        pm.set_limits(Some(subflows), Some(add_addr_accepted))
            .with_context(|| format!("setting the limits of namespace {name}"))
    })?
}

/// The endpoints `endpoints` (address, device) with `flags`, each bound to
/// its device as the calling thread's namespace numbers it; an error naming
/// the first device that cannot be found.
fn bound_endpoints(endpoints: &[(IpAddr, &str)], flags: EndpointFlags) -> Result<Vec<Endpoint>> {
    endpoints
        .iter()
        .map(|&(addr, dev)| {
            let index = mptcp::pm::interface_index(dev)
                .with_context(|| format!("the endpoint {addr} needs interface {dev}, which cannot be found"))?;
            Ok(Endpoint::new(addr).with_flags(flags).with_ifindex(index))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        assert_eq!(parse_rate("50mbit"), Ok(Some(Rate { bps: 50_000_000 })));
        assert_eq!(parse_rate("1.5Gbit"), Ok(Some(Rate { bps: 1_500_000_000 })));
        assert_eq!(parse_rate("800kbit"), Ok(Some(Rate { bps: 800_000 })));
        assert_eq!(parse_rate("unshaped"), Ok(None));
        assert!(parse_rate("50mbps").is_err());
        assert!(parse_rate("mbit").is_err());
        assert!(parse_rate("1kbit").is_err());
        assert!(parse_rate("-5mbit").is_err());
    }

    #[test]
    fn frames_on_a_1500_byte_mtu() {
        // MSS 1448 with timestamps: 1500-byte packets, 1514-byte frames.
        assert_eq!(frame_budget(1448, false), (1448, 1514));
        assert_eq!(frame_budget(1448, true), (1424, 1514));
        let (p, f) = frame_budget(1448, true);
        assert!((f64::from(p) / f64::from(f) - 0.9406).abs() < 1e-4);
        assert_eq!(frame_budget(10, true).0, 0);
    }

    #[test]
    fn addresses_stay_inside_the_lab() {
        assert_eq!(addr(0, 1).to_string(), "10.100.0.1");
        assert_eq!(addr(7, 2).to_string(), "10.107.0.2");
    }

    /// In this process's namespace (no root needed): `lo` is found and
    /// bound; an interface that does not exist is an error naming it.
    #[test]
    fn endpoints_are_bound_to_their_device_or_refused() {
        let lo = mptcp::pm::interface_index("lo").unwrap();
        let eps = bound_endpoints(&[(addr(0, 1), "lo")], EndpointFlags::SUBFLOW).unwrap();
        assert_eq!((eps[0].addr, eps[0].flags, eps[0].ifindex), (addr(0, 1), EndpointFlags::SUBFLOW, Some(lo)));
        let e =
            bound_endpoints(&[(addr(0, 1), "lo"), (addr(1, 1), "mptcp-nosuch0")], EndpointFlags::SIGNAL).unwrap_err();
        assert_eq!(
            e.chain(),
            "the endpoint 10.101.0.1 needs interface mptcp-nosuch0, which cannot be found: unknown interface `mptcp-nosuch0`"
        );
    }
}
