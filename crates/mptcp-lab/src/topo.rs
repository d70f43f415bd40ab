//! The lab's network, routed like real multi-homed hosts: per path N a
//! router namespace between the client and the server, where the link
//! emulator (`mptcp-linkem`) gives the path its rate, delay, jitter, loss
//! and queue in each direction.
//!
//! ```text
//!   client                       router N                      server
//!   10.(99+N).0.1/24  ---lan---  10.(99+N).0.254 | 10.(199+N).0.254  ---wan---  10.(199+N).0.2/24
//! ```
//!
//! - **Client**: one interface per path, each in its own subnet, with a
//!   default route through its router at the metric NetworkManager gives
//!   its kind of interface ([`LinkKind`](crate::spec::LinkKind)), and a route to the server's
//!   address on path N through router N with `src` = its address on N (so
//!   the server's address N is reached through path N). Policy routing: per
//!   path a table (99 + N) with a default route through router N, and a
//!   rule `from <client address N> lookup <that table>` (priority 999 + N):
//!   whatever the main table says, a packet from address N leaves through
//!   path N.
//! - **Router N**: forwarding on, strict reverse-path filtering on `lan`
//!   (source validation, as ISPs do: a packet from another path's address
//!   is dropped), a default route towards the server, and the emulator
//!   between `lan` and `wan`.
//! - **Server**: one interface per path behind router N, a route back to
//!   the client's subnet N through router N; no default route.
//! - **Path manager**: the client has one `subflow` endpoint per path,
//!   bound to its interface (what `mptcp daemon` makes), limits `subflows`
//!   N - 1: a connection gets one subflow per path. The server accepts N - 1
//!   joins and announces nothing.

use std::net::{IpAddr, Ipv4Addr};

use mptcp::pm::{Endpoint, EndpointFlags, PathManager};
use mptcp_linkem::{Emulator, EmulatorConfig};
use mptcp_netns::{Netns, Path, Route, RpFilter, SourceRule};

use crate::error::Context;
use crate::spec::{metrics, PathSpec};
use crate::Result;

/// Bytes of MPTCP options in a data segment on Linux (DSS with a 32-bit
/// data ACK and a 64-bit mapping, padded): what MPTCP takes from the MSS.
pub const MPTCP_DSS_BYTES: u32 = 24;

/// IPv4 and TCP headers with the timestamps option (20 + 20 + 12 bytes):
/// what a full segment carries besides its MSS of payload.
pub const IP_TCP_HEADERS: u32 = 20 + 20 + 12;

/// Payload and IP bytes of a full segment of `mss`: the emulator counts IP
/// packets (its rate is IP bytes per second), and MPTCP data segments give
/// [`MPTCP_DSS_BYTES`] of the MSS to options.
///
/// # Examples
///
/// ```
/// // MSS 1448 with timestamps: 1500-byte IP packets.
/// assert_eq!(mptcp_lab::topo::ip_budget(1448, false), (1448, 1500));
/// assert_eq!(mptcp_lab::topo::ip_budget(1448, true), (1424, 1500));
/// ```
pub fn ip_budget(mss: u32, mptcp: bool) -> (u32, u32) {
    let payload = if mptcp { mss.saturating_sub(MPTCP_DSS_BYTES) } else { mss };
    (payload, mss + IP_TCP_HEADERS)
}

/// The client's address on path `i` (0-based): 10.(100 + i).0.1.
pub fn client_addr(i: usize) -> IpAddr {
    Ipv4Addr::new(10, 100 + i as u8, 0, 1).into()
}

/// Router `i`'s address on the client's side (the client's gateway on
/// path `i`): 10.(100 + i).0.254.
pub fn gateway(i: usize) -> IpAddr {
    Ipv4Addr::new(10, 100 + i as u8, 0, 254).into()
}

/// Router `i`'s address on the server's side: 10.(200 + i).0.254.
pub fn router_wan(i: usize) -> IpAddr {
    Ipv4Addr::new(10, 200 + i as u8, 0, 254).into()
}

/// The server's address on path `i`: 10.(200 + i).0.2.
pub fn server_addr(i: usize) -> IpAddr {
    Ipv4Addr::new(10, 200 + i as u8, 0, 2).into()
}

/// The client's routing table for path `i`.
pub fn table(i: usize) -> u32 {
    100 + i as u32
}

/// The prefix length of every subnet.
pub const PREFIX_LEN: u8 = 24;

/// How the lab sets up the path manager, as its report says.
pub const PM_VIA: &str = "netlink";

/// How the client routes, beyond the main table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Routing {
    /// Per-path tables and `from ADDR` rules (the lab's default); without
    /// them only sockets bound to an interface leave through their path.
    pub source_rules: bool,
    /// Client endpoints bound to their interface (`dev`), as `mptcp
    /// daemon` makes them (the lab's default).
    pub endpoints_bound: bool,
}

impl Default for Routing {
    fn default() -> Routing {
        Routing { source_rules: true, endpoints_bound: true }
    }
}

/// One path of the built network.
#[derive(Debug)]
pub struct LabPath {
    /// 0-based.
    pub index: usize,
    /// What it emulates.
    pub spec: PathSpec,
    /// The router's namespace.
    pub router: Netns,
    /// Client to router (`a` is the client's end, `b` the router's `lan`).
    pub lan: Path,
    /// Router to server (`a` is the router's `wan`, `b` the server's end).
    pub wan: Path,
    /// The metric of the client's default route through it.
    pub metric: u32,
    /// The emulator in the router (`None` only while being built).
    emulator: Option<Emulator>,
}

impl LabPath {
    /// The client's address on it.
    pub fn client_addr(&self) -> IpAddr {
        self.lan.a_addr
    }

    /// The client's interface on it.
    pub fn client_dev(&self) -> &str {
        &self.lan.a_dev
    }

    /// The server's address on it.
    pub fn server_addr(&self) -> IpAddr {
        self.wan.b_addr
    }

    /// The client's gateway on it.
    pub fn gateway(&self) -> IpAddr {
        self.lan.b_addr
    }

    /// The emulator's counters so far.
    pub fn emulator_stats(&self) -> Option<mptcp_linkem::Stats> {
        self.emulator.as_ref().map(Emulator::stats)
    }

    /// The client's routes through this path: its default route, the route
    /// to the server's subnet on it, and the default route of its table
    /// (when `rules`).
    pub fn client_routes(&self, rules: bool) -> Vec<Route> {
        let (gw, dev) = (self.gateway(), self.client_dev());
        let subnet = subnet(self.server_addr());
        let mut v = vec![
            Route::default_via(gw, dev).metric(self.metric),
            Route::to(subnet, PREFIX_LEN, gw, dev).src(self.client_addr()),
        ];
        if rules {
            v.push(Route::default_via(gw, dev).table(table(self.index)));
        }
        v
    }

    /// The client's policy rule for this path.
    pub fn client_rule(&self) -> SourceRule {
        SourceRule { from: self.client_addr(), table: table(self.index), priority: 1000 + self.index as u32 }
    }
}

/// The first address of `a`'s /24.
fn subnet(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V4(v) => {
            let o = v.octets();
            Ipv4Addr::new(o[0], o[1], o[2], 0).into()
        }
        v6 => v6,
    }
}

/// The lab network. Dropping it stops the emulators and removes every
/// namespace and all in them.
#[derive(Debug)]
pub struct Topology {
    /// Client side.
    pub client: Netns,
    /// Server side.
    pub server: Netns,
    /// The paths, in order; path 0 carries the initial subflow of a
    /// connection to the server's first address.
    pub paths: Vec<LabPath>,
    /// How the client routes.
    pub routing: Routing,
}

impl Topology {
    /// Builds the namespaces, the paths, the routes, the emulators and the
    /// path manager configuration, with the default [`Routing`].
    ///
    /// # Errors
    ///
    /// The step that failed (a namespace, an interface, a route, the
    /// emulator, the path manager), with its cause.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use mptcp_lab::spec::PathFlags;
    /// use mptcp_lab::topo::Topology;
    ///
    /// let topo = Topology::build(&PathFlags::default().paths()?)?;
    /// let out = topo.client.run(&["ping", "-c1", &topo.paths[1].server_addr().to_string()])?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn build(specs: &[PathSpec]) -> Result<Topology> {
        Topology::build_with(specs, Routing::default())
    }

    /// As [`build`](Self::build), routing as `routing` says.
    pub fn build_with(specs: &[PathSpec], routing: Routing) -> Result<Topology> {
        let client = Netns::new("client").context("creating the client namespace")?;
        let server = Netns::new("server").context("creating the server namespace")?;
        let metrics = metrics(&specs.iter().map(|s| s.kind).collect::<Vec<_>>());
        let mut paths = Vec::new();
        for (i, spec) in specs.iter().enumerate() {
            let p = build_path(&client, &server, i, spec, metrics[i])
                .with_context(|| format!("building path {}", i + 1))?;
            paths.push(p);
        }
        let mut topo = Topology { client, server, paths, routing };
        for i in 0..topo.paths.len() {
            topo.route_client(i).with_context(|| format!("routing the client through path {}", i + 1))?;
            if routing.source_rules {
                let rule = topo.paths[i].client_rule();
                topo.client.add_source_rule(&rule).with_context(|| format!("adding the client's rule {rule}"))?;
            }
        }
        for p in &mut topo.paths {
            let cfg = EmulatorConfig::new(&p.lan.b_dev, &p.wan.a_dev, p.spec.up.clone(), p.spec.down.clone());
            let emu = Emulator::start(format!("/run/netns/{}", p.router.name()), cfg)
                .with_context(|| format!("starting the link emulator of path {}", p.index + 1))?;
            p.emulator = Some(emu);
        }
        let extra = topo.paths.len().saturating_sub(1) as u32;
        configure_pm(&topo.server, &[], EndpointFlags::SIGNAL, (extra, 0))?;
        topo.reset_client_pm()?;
        Ok(topo)
    }

    /// Namespaces in the order they were made: client, server, routers.
    pub fn namespaces(&self) -> Vec<String> {
        let mut v = vec![self.client.name().to_string(), self.server.name().to_string()];
        v.extend(self.paths.iter().map(|p| p.router.name().to_string()));
        v
    }

    /// Adds the client's routes through path `i` (again, after its link came
    /// back: the kernel removes routes through a gateway when their
    /// interface goes down and does not restore them).
    pub fn route_client(&self, i: usize) -> Result<()> {
        for r in self.paths[i].client_routes(self.routing.source_rules) {
            self.client.add_route(&r).with_context(|| format!("adding the client's route {r}"))?;
        }
        Ok(())
    }

    /// Takes path `i`'s link between the client and its router down (both
    /// ends), as a failing Wi-Fi or modem would.
    pub fn down(&self, i: usize) -> Result<()> {
        Ok(self.paths[i].lan.down()?)
    }

    /// Brings path `i`'s link back up and restores the client's routes
    /// through it.
    pub fn up(&self, i: usize) -> Result<()> {
        self.paths[i].lan.up()?;
        self.route_client(i)
    }

    /// The client's limits: one subflow per extra path, no announced
    /// address accepted.
    fn client_limits(&self) -> (u32, u32) {
        (self.paths.len().saturating_sub(1) as u32, 0)
    }

    /// The client's endpoints: one `subflow` endpoint per path (`backup`
    /// where the path is a backup), bound to its interface unless the
    /// routing says otherwise.
    pub fn client_endpoints(&self) -> Vec<(IpAddr, Option<String>, EndpointFlags)> {
        self.paths
            .iter()
            .map(|p| {
                let mut flags = EndpointFlags::SUBFLOW;
                if p.spec.backup {
                    flags |= EndpointFlags::BACKUP;
                }
                let dev = self.routing.endpoints_bound.then(|| p.client_dev().to_string());
                (p.client_addr(), dev, flags)
            })
            .collect()
    }

    /// The client's path manager as the topology makes it: its endpoints
    /// and limits (also after `mptcp daemon` flushed them).
    pub fn reset_client_pm(&self) -> Result<()> {
        let eps = self.client_endpoints();
        let name = self.client.name().to_string();
        let limits = self.client_limits();
        self.client.in_ns(move || -> Result<()> {
            let mut pm = PathManager::new().with_context(|| format!("the path manager of namespace {name}"))?;
            let mut list = Vec::new();
            for (addr, dev, flags) in &eps {
                let mut ep = Endpoint::new(*addr).with_flags(*flags);
                if let Some(dev) = dev {
                    let index = mptcp::pm::interface_index(dev)
                        .with_context(|| format!("the endpoint {addr} needs interface {dev}, which cannot be found"))?;
                    ep = ep.with_ifindex(index);
                }
                list.push(ep);
            }
            apply(&mut pm, &list, limits, &name)
        })?
    }

    /// The path (1-based) of a subflow named `local -> remote`, from its
    /// local address (the client's).
    pub fn path_of(&self, subflow: &str) -> Option<usize> {
        let local: std::net::SocketAddr = subflow.split(" -> ").next()?.trim().parse().ok()?;
        self.paths.iter().position(|p| p.client_addr() == local.ip()).map(|i| i + 1)
    }

    /// Sum of the uplink rates of the paths in `which`; `None` if one is
    /// unlimited.
    pub fn up_rate_sum(&self, which: impl Iterator<Item = usize>) -> Option<f64> {
        let mut sum = 0.0;
        for i in which {
            sum += self.paths.get(i)?.spec.up_rate_bps()? as f64;
        }
        Some(sum)
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        // Stop the emulators first: they release what they hold.
        for p in &mut self.paths {
            p.emulator.take();
        }
    }
}

/// Builds path `i`: its router, the two links, their addresses, the
/// router's forwarding, filter and default route, the server's route back.
fn build_path(client: &Netns, server: &Netns, i: usize, spec: &PathSpec, metric: u32) -> Result<LabPath> {
    let router = Netns::new(&format!("router{}", i + 1)).context("creating the router namespace")?;
    let lan =
        Path::new(client, client_addr(i), &router, gateway(i), PREFIX_LEN).context("linking client and router")?;
    let wan =
        Path::new(&router, router_wan(i), server, server_addr(i), PREFIX_LEN).context("linking router and server")?;
    router.set_forwarding(true).context("turning forwarding on")?;
    router.set_rp_filter(&lan.b_dev, RpFilter::Strict).context("filtering sources on the router's lan")?;
    router
        .add_route(&Route::default_via(server_addr(i), &wan.a_dev))
        .context("routing the router towards the server")?;
    server
        .add_route(&Route::to(subnet(client_addr(i)), PREFIX_LEN, router_wan(i), &wan.b_dev))
        .context("routing the server back to the client")?;
    Ok(LabPath { index: i, spec: spec.clone(), router, lan, wan, metric, emulator: None })
}

/// Path manager setup of one namespace, through the library's path
/// manager (`mptcp::pm`, generic netlink) inside it: exactly the endpoints
/// `endpoints` (address, device), each bound to its device, with `flags`,
/// and the limits (`subflows`, `add_addr_accepted`). An interface that
/// cannot be found is an error naming it, never an endpoint without its
/// device.
pub fn configure_pm(ns: &Netns, endpoints: &[(IpAddr, &str)], flags: EndpointFlags, limits: (u32, u32)) -> Result<()> {
    let name = ns.name();
    ns.in_ns(|| -> Result<()> {
        let mut pm = PathManager::new().with_context(|| format!("the path manager of namespace {name}"))?;
        // Every interface first: nothing changes when one is missing.
        let eps = bound_endpoints(endpoints, flags).with_context(|| format!("in namespace {name}"))?;
        apply(&mut pm, &eps, limits, name)
    })?
}

/// Replaces the endpoints of `pm` with `eps` and sets the limits.
fn apply(pm: &mut PathManager, eps: &[Endpoint], (subflows, accepted): (u32, u32), name: &str) -> Result<()> {
    pm.flush_endpoints().with_context(|| format!("removing the endpoints of namespace {name}"))?;
    for ep in eps {
        pm.add_endpoint(ep).with_context(|| format!("adding endpoint {} in namespace {name}", ep.addr))?;
    }
    pm.set_limits(Some(subflows), Some(accepted)).with_context(|| format!("setting the limits of namespace {name}"))
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
    fn ip_packets_on_a_1500_byte_mtu() {
        // MSS 1448 with timestamps: 1500-byte IP packets.
        assert_eq!(ip_budget(1448, false), (1448, 1500));
        assert_eq!(ip_budget(1448, true), (1424, 1500));
        let (p, f) = ip_budget(1448, true);
        assert!((f64::from(p) / f64::from(f) - 0.94933).abs() < 1e-4);
        assert_eq!(ip_budget(10, true).0, 0);
    }

    #[test]
    fn addresses_stay_inside_the_lab() {
        assert_eq!(client_addr(0).to_string(), "10.100.0.1");
        assert_eq!(gateway(1).to_string(), "10.101.0.254");
        assert_eq!(router_wan(7).to_string(), "10.207.0.254");
        assert_eq!(server_addr(7).to_string(), "10.207.0.2");
        assert_eq!(subnet(server_addr(3)).to_string(), "10.203.0.0");
        assert_eq!(table(2), 102);
    }

    /// In this process's namespace (no root needed): `lo` is found and
    /// bound; an interface that does not exist is an error naming it.
    #[test]
    fn endpoints_are_bound_to_their_device_or_refused() {
        let lo = mptcp::pm::interface_index("lo").unwrap();
        let eps = bound_endpoints(&[(client_addr(0), "lo")], EndpointFlags::SUBFLOW).unwrap();
        assert_eq!((eps[0].addr, eps[0].flags, eps[0].ifindex), (client_addr(0), EndpointFlags::SUBFLOW, Some(lo)));
        let e = bound_endpoints(&[(client_addr(0), "lo"), (client_addr(1), "mptcp-nosuch0")], EndpointFlags::SIGNAL)
            .unwrap_err();
        assert_eq!(
            e.chain(),
            "the endpoint 10.101.0.1 needs interface mptcp-nosuch0, which cannot be found: unknown interface `mptcp-nosuch0`"
        );
    }
}
