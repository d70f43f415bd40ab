//! The policy: which endpoints the current links, addresses and routes call
//! for, and why every other address is left out.

use std::collections::BTreeSet;
use std::net::IpAddr;

use mptcp::pm::EndpointFlags;

use crate::config::{Config, DefaultRoute};
use crate::net::{
    is_global_scope, Addr, Link, NetState, IFA_F_DADFAILED, IFA_F_DEPRECATED, IFA_F_TEMPORARY, IFA_F_TENTATIVE,
};

/// An endpoint the policy wants.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Want {
    /// The address.
    pub addr: IpAddr,
    /// Its interface.
    pub ifindex: u32,
    /// Its interface's name.
    pub ifname: String,
    /// Endpoint flags.
    pub flags: EndpointFlags,
    /// Port (`signal` endpoints only).
    pub port: Option<u16>,
    /// Why, in words.
    pub why: String,
}

/// An address the policy leaves out.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Skip {
    /// The address.
    pub addr: IpAddr,
    /// Its interface's name.
    pub ifname: String,
    /// Why, in words.
    pub why: String,
    /// The path through it cannot carry traffic (link down, no carrier):
    /// connections should leave it at once.
    pub dead: bool,
}

/// The policy's answer for one state of the network.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Plan {
    /// Wanted endpoints, most important first (rule order, interface
    /// index, IPv4 before IPv6).
    pub want: Vec<Want>,
    /// Addresses left out.
    pub skipped: Vec<Skip>,
}

impl Plan {
    /// The wanted endpoint for `addr`.
    pub fn get(&self, addr: IpAddr) -> Option<&Want> {
        self.want.iter().find(|w| w.addr == addr)
    }

    /// Whether connections should leave `addr` at once: its link is down or
    /// has no carrier, or it is no interface's address any more.
    pub fn is_dead(&self, addr: IpAddr) -> bool {
        match self.skipped.iter().find(|s| s.addr == addr) {
            Some(s) => s.dead,
            None => self.get(addr).is_none(),
        }
    }
}

/// Applies `cfg` to `net`.
///
/// # Examples
///
/// ```
/// use mptcp_daemon::{net::NetState, policy, Config};
///
/// let plan = policy::plan(&Config::default(), &NetState::default());
/// assert!(plan.want.is_empty() && plan.skipped.is_empty());
/// ```
pub fn plan(cfg: &Config, net: &NetState) -> Plan {
    let mut plan = Plan::default();
    let mut ordered: Vec<(usize, &Addr)> = net
        .addrs()
        .map(|a| {
            let rule = net.link(a.index).and_then(|l| cfg.rules.iter().position(|r| r.matches(&l.name)));
            (rule.unwrap_or(usize::MAX), a)
        })
        .collect();
    ordered.sort_by_key(|(rule, a)| (*rule, a.index, a.addr.is_ipv6(), a.addr));
    let mut seen = BTreeSet::new();
    for (_, a) in ordered {
        let ifname = net.name(a.index);
        match judge(cfg, net, a) {
            Ok((flags, port, why)) if seen.insert(a.addr) => {
                plan.want.push(Want { addr: a.addr, ifindex: a.index, ifname, flags, port, why })
            }
            Ok(_) => plan.skipped.push(Skip {
                addr: a.addr,
                ifname,
                why: "the same address on an earlier interface has the endpoint".into(),
                dead: false,
            }),
            Err((why, dead)) => plan.skipped.push(Skip { addr: a.addr, ifname, why, dead }),
        }
    }
    plan
}

type Verdict = Result<(EndpointFlags, Option<u16>, String), (String, bool)>;

fn judge(cfg: &Config, net: &NetState, a: &Addr) -> Verdict {
    let Some(link) = net.link(a.index) else { return Err(("interface unknown".into(), true)) };
    if link.loopback {
        return Err(("loopback interface".into(), false));
    }
    if let Some(g) = cfg.ignore_interfaces.iter().find(|g| g.matches(&link.name)) {
        return Err((format!("interface ignored (ignore_interfaces \"{g}\")"), false));
    }
    let rule = cfg.rule_for(&link.name);
    if let Some(r) = rule.filter(|r| r.ignore) {
        return Err((format!("interface ignored by the rule at line {}", r.line), false));
    }
    if !link.up {
        return Err(("interface down".into(), true));
    }
    if !link.carrier {
        return Err(("no carrier".into(), true));
    }
    let v4 = a.addr.is_ipv4();
    let family_on =
        if v4 { rule.and_then(|r| r.ipv4).unwrap_or(cfg.ipv4) } else { rule.and_then(|r| r.ipv6).unwrap_or(cfg.ipv6) };
    if !family_on {
        return Err((format!("IPv{} not used on this interface", if v4 { 4 } else { 6 }), false));
    }
    if let Some(why) = address_kind(a) {
        return Err((why.into(), false));
    }
    if !v4 && is_unique_local(a.addr) && !cfg.ipv6_unique_local {
        return Err(("IPv6 unique local address (fc00::/7; ipv6_unique_local = false)".into(), false));
    }
    if !v4 && a.flags & IFA_F_TEMPORARY != 0 && !cfg.ipv6_temporary {
        return Err(("IPv6 temporary (privacy) address".into(), false));
    }
    if a.flags & IFA_F_DADFAILED != 0 {
        return Err(("duplicate address (DAD failed)".into(), false));
    }
    if a.flags & IFA_F_TENTATIVE != 0 {
        return Err(("tentative (duplicate address detection running)".into(), false));
    }
    if a.flags & IFA_F_DEPRECATED != 0 {
        return Err(("deprecated (preferred lifetime over)".into(), false));
    }
    if let Some(p) = cfg.ignore_addresses.iter().find(|p| p.contains(a.addr)) {
        return Err((format!("address ignored (ignore_addresses \"{p}\")"), false));
    }
    let fam = if v4 { 4 } else { 6 };
    match cfg.default_route {
        DefaultRoute::Family if !net.has_default_route(fam, None) => {
            return Err((format!("no IPv{fam} default route in the main table"), false));
        }
        DefaultRoute::Interface if !net.has_default_route(fam, Some(a.index)) => {
            return Err((format!("no IPv{fam} default route through {}", link.name), false));
        }
        _ => {}
    }
    let flags = rule.and_then(|r| r.flags).unwrap_or(cfg.flags);
    let port = rule.and_then(|r| r.port).filter(|_| flags.contains(EndpointFlags::SIGNAL));
    Ok((flags, port, why_wanted(link, rule.map(|r| (r.names.first().map(|g| g.to_string()), r.line)))))
}

fn why_wanted(link: &Link, rule: Option<(Option<String>, usize)>) -> String {
    let base = format!("global address of {} (up, carrier)", link.name);
    match rule {
        Some((Some(name), line)) if line > 0 => format!("{base}; rule \"{name}\" at line {line}"),
        Some((Some(name), _)) => format!("{base}; rule \"{name}\""),
        _ => format!("{base}; default flags"),
    }
}

/// Addresses no endpoint is made for, whatever the configuration.
fn address_kind(a: &Addr) -> Option<&'static str> {
    match a.addr {
        IpAddr::V4(x) if x.is_loopback() => Some("loopback address"),
        IpAddr::V4(x) if x.is_link_local() => Some("link-local address"),
        IpAddr::V4(x) if x.is_unspecified() || x.is_broadcast() || x.is_multicast() => Some("not a unicast address"),
        IpAddr::V6(x) if x.is_loopback() => Some("loopback address"),
        IpAddr::V6(x) if (x.segments()[0] & 0xffc0) == 0xfe80 => Some("link-local address"),
        IpAddr::V6(x) if x.is_unspecified() || x.is_multicast() => Some("not a unicast address"),
        _ if !is_global_scope(a.scope) => Some("not of global scope"),
        _ => None,
    }
}

fn is_unique_local(a: IpAddr) -> bool {
    matches!(a, IpAddr::V6(x) if (x.segments()[0] & 0xfe00) == 0xfc00)
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
