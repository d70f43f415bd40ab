//! Routers and routes: forwarding, reverse-path filtering, routes and
//! source-based policy rules inside a namespace, as `ip route`, `ip rule`
//! and sysctls make them.

use std::fmt;
use std::net::IpAddr;

use crate::{Error, Netns, Result};

/// A route, as `ip route` takes it.
///
/// Its `Display` is the `ip route` syntax (without the command), e.g.
/// `default via 10.100.0.254 dev p0 metric 600`.
///
/// # Examples
///
/// ```
/// use std::net::Ipv4Addr;
/// use mptcp_netns::Route;
///
/// let gw = Ipv4Addr::new(10, 100, 0, 254).into();
/// let r = Route::default_via(gw, "p0").metric(600);
/// assert_eq!(r.to_string(), "default via 10.100.0.254 dev p0 metric 600");
/// let r = Route::to(Ipv4Addr::new(10, 200, 0, 0).into(), 24, gw, "p0")
///     .src(Ipv4Addr::new(10, 100, 0, 1).into());
/// assert_eq!(r.to_string(), "10.200.0.0/24 via 10.100.0.254 dev p0 src 10.100.0.1");
/// assert_eq!(Route::default_via(gw, "p0").table(101).to_string(), "default via 10.100.0.254 dev p0 table 101");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Destination prefix; `None` is the default route.
    pub dst: Option<(IpAddr, u8)>,
    /// The gateway.
    pub via: IpAddr,
    /// The interface the route goes out of.
    pub dev: String,
    /// Preferred source address.
    pub src: Option<IpAddr>,
    /// Metric (priority): the lowest wins among routes to the same prefix.
    pub metric: Option<u32>,
    /// Routing table; `None` is the main table.
    pub table: Option<u32>,
}

impl Route {
    /// The default route through gateway `via` on `dev`.
    pub fn default_via(via: IpAddr, dev: &str) -> Route {
        Route { dst: None, via, dev: dev.to_string(), src: None, metric: None, table: None }
    }

    /// A route to `dst`/`prefix_len` through gateway `via` on `dev`.
    pub fn to(dst: IpAddr, prefix_len: u8, via: IpAddr, dev: &str) -> Route {
        Route { dst: Some((dst, prefix_len)), ..Route::default_via(via, dev) }
    }

    /// With a preferred source address.
    pub fn src(mut self, src: IpAddr) -> Route {
        self.src = Some(src);
        self
    }

    /// With a metric.
    pub fn metric(mut self, metric: u32) -> Route {
        self.metric = Some(metric);
        self
    }

    /// In a table other than main.
    pub fn table(mut self, table: u32) -> Route {
        self.table = Some(table);
        self
    }

    /// The words after `ip route replace`.
    fn args(&self) -> Vec<String> {
        self.to_string().split(' ').map(str::to_string).collect()
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.dst {
            None => f.write_str("default")?,
            Some((a, len)) => write!(f, "{a}/{len}")?,
        }
        write!(f, " via {} dev {}", self.via, self.dev)?;
        if let Some(s) = self.src {
            write!(f, " src {s}")?;
        }
        if let Some(m) = self.metric {
            write!(f, " metric {m}")?;
        }
        if let Some(t) = self.table {
            write!(f, " table {t}")?;
        }
        Ok(())
    }
}

/// A source-based policy rule: packets from `from` look up `table`.
///
/// # Examples
///
/// ```
/// use std::net::Ipv4Addr;
/// let r = mptcp_netns::SourceRule { from: Ipv4Addr::new(10, 101, 0, 1).into(), table: 101, priority: 1001 };
/// assert_eq!(r.to_string(), "from 10.101.0.1 lookup 101 priority 1001");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceRule {
    /// The source address the rule matches.
    pub from: IpAddr,
    /// The table it sends the lookup to.
    pub table: u32,
    /// Its priority (lower first; the main table's rule is 32766).
    pub priority: u32,
}

impl fmt::Display for SourceRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "from {} lookup {} priority {}", self.from, self.table, self.priority)
    }
}

/// Reverse-path filtering of an interface (`net.ipv4.conf.DEV.rp_filter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RpFilter {
    /// No source validation.
    Off,
    /// Strict (RFC 3704): a packet is dropped unless the route back to its
    /// source goes out of the interface it came in on.
    Strict,
    /// Loose: dropped only when its source is not reachable at all.
    Loose,
}

impl RpFilter {
    fn value(self) -> &'static str {
        match self {
            RpFilter::Off => "0",
            RpFilter::Strict => "1",
            RpFilter::Loose => "2",
        }
    }
}

impl Netns {
    /// Adds `route` (or replaces the one to the same prefix with the same
    /// metric in the same table): `ip route replace ...`.
    ///
    /// # Errors
    ///
    /// `ip`'s error when it fails (no such device, gateway unreachable).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use mptcp_netns::{Netns, Route};
    /// let ns = Netns::new("client")?;
    /// ns.add_route(&Route::default_via("10.100.0.254".parse().unwrap(), "p0").metric(600))?;
    /// # Ok::<(), mptcp_netns::Error>(())
    /// ```
    pub fn add_route(&self, route: &Route) -> Result<()> {
        let args = route.args();
        let mut v = vec!["route", "replace"];
        v.extend(args.iter().map(String::as_str));
        self.ip(&v).map(|_| ())
    }

    /// Adds the policy rule `rule`: `ip rule add from ADDR lookup TABLE
    /// priority N`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use mptcp_netns::{Netns, SourceRule};
    /// let ns = Netns::new("client")?;
    /// ns.add_source_rule(&SourceRule { from: "10.101.0.1".parse().unwrap(), table: 101, priority: 1001 })?;
    /// # Ok::<(), mptcp_netns::Error>(())
    /// ```
    pub fn add_source_rule(&self, rule: &SourceRule) -> Result<()> {
        let (from, table, prio) = (rule.from.to_string(), rule.table.to_string(), rule.priority.to_string());
        let family = if rule.from.is_ipv4() { "-4" } else { "-6" };
        self.ip(&[family, "rule", "add", "from", &from, "lookup", &table, "priority", &prio]).map(|_| ())
    }

    /// Removes the policy rule `rule`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use mptcp_netns::{Netns, SourceRule};
    /// let ns = Netns::new("client")?;
    /// let rule = SourceRule { from: "10.101.0.1".parse().unwrap(), table: 101, priority: 1001 };
    /// ns.add_source_rule(&rule)?;
    /// ns.delete_source_rule(&rule)?;
    /// # Ok::<(), mptcp_netns::Error>(())
    /// ```
    pub fn delete_source_rule(&self, rule: &SourceRule) -> Result<()> {
        let (from, table, prio) = (rule.from.to_string(), rule.table.to_string(), rule.priority.to_string());
        let family = if rule.from.is_ipv4() { "-4" } else { "-6" };
        self.ip(&[family, "rule", "del", "from", &from, "lookup", &table, "priority", &prio]).map(|_| ())
    }

    /// Turns IPv4 and IPv6 forwarding on or off: the namespace becomes a
    /// router.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let router = mptcp_netns::Netns::new("router")?;
    /// router.set_forwarding(true)?;
    /// # Ok::<(), mptcp_netns::Error>(())
    /// ```
    pub fn set_forwarding(&self, on: bool) -> Result<()> {
        let v = if on { "1" } else { "0" };
        self.sysctl("net.ipv4.ip_forward", v)?;
        self.sysctl("net.ipv6.conf.all.forwarding", v)
    }

    /// Sets the reverse-path filter of interface `dev` (IPv4). The kernel
    /// applies the larger of this and `net.ipv4.conf.all.rp_filter`.
    ///
    /// # Errors
    ///
    /// [`Error::Sysctl`] when the interface does not exist.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use mptcp_netns::{Netns, RpFilter};
    /// let router = Netns::new("router")?;
    /// router.set_rp_filter("p0", RpFilter::Strict)?;
    /// # Ok::<(), mptcp_netns::Error>(())
    /// ```
    pub fn set_rp_filter(&self, dev: &str, mode: RpFilter) -> Result<()> {
        if dev.contains(['/', '.']) || dev.is_empty() {
            return Err(Error::Address(format!("`{dev}` is not an interface name")));
        }
        let path = format!("/proc/sys/net/ipv4/conf/{dev}/rp_filter");
        self.in_ns(|| std::fs::write(&path, mode.value()))?.map_err(|source| Error::Sysctl {
            key: format!("net.ipv4.conf.{dev}.rp_filter"),
            ns: self.name().to_string(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_print_as_ip_takes_them() {
        let gw: IpAddr = "10.101.0.254".parse().unwrap();
        let r = Route::to("10.201.0.0".parse().unwrap(), 24, gw, "p1").src("10.101.0.1".parse().unwrap()).metric(5);
        assert_eq!(r.to_string(), "10.201.0.0/24 via 10.101.0.254 dev p1 src 10.101.0.1 metric 5");
        assert_eq!(r.args()[0], "10.201.0.0/24");
        assert_eq!(r.args().len(), 9);
        let d = Route::default_via("fd00::1".parse().unwrap(), "p0").table(7);
        assert_eq!(d.to_string(), "default via fd00::1 dev p0 table 7");
    }
}
