//! `mptcp endpoint`: path manager endpoints, with the arguments of
//! `ip mptcp endpoint`.
//!
//! ```text
//! mptcp endpoint [list|show] [id ID] [--json]
//! mptcp endpoint add ADDRESS [dev NAME] [id ID] [port NR] [signal|subflow|backup|fullmesh|laminar]...
//! mptcp endpoint del|delete (id ID | ADDRESS)
//! mptcp endpoint flush
//! mptcp endpoint set|change (id ID | ADDRESS) [backup|nobackup] [fullmesh|nofullmesh]
//! ```

use std::io::Write;
use std::net::IpAddr;
use std::process::ExitCode;

use anyhow::Context;
use mptcp::pm::{self, Endpoint, EndpointFlags, EndpointRef, PathManager};
use serde_json::{json, Map, Value};

use crate::util::{print_json, usage};

/// Arguments of `mptcp endpoint`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON (field names as `ip -j mptcp endpoint show`).
    #[arg(short = 'j', long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    action: Option<Action>,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// List endpoints: `[id ID]`.
    #[command(alias = "show", alias = "ls")]
    List {
        /// `id ID`
        words: Vec<String>,
    },
    /// Add an endpoint: `ADDRESS [dev NAME] [id ID] [port NR] [FLAG...]`,
    /// FLAG := signal | subflow | backup | fullmesh | laminar.
    #[command(allow_negative_numbers = true)]
    Add {
        /// ADDRESS and options, as `ip mptcp endpoint add` takes them.
        #[arg(required = true)]
        words: Vec<String>,
    },
    /// Delete an endpoint: `id ID` or `ADDRESS`.
    #[command(alias = "delete", alias = "remove")]
    Del {
        /// `id ID` or `ADDRESS`.
        #[arg(required = true)]
        words: Vec<String>,
    },
    /// Delete every endpoint.
    Flush,
    /// Change an endpoint's flags: `(id ID | ADDRESS) [backup|nobackup] [fullmesh|nofullmesh]`;
    /// flags not named keep their value.
    #[command(alias = "change")]
    Set {
        /// Selector and changes.
        #[arg(required = true)]
        words: Vec<String>,
    },
}

/// Parses an endpoint id (1-255).
pub fn parse_id(s: &str) -> anyhow::Result<u8> {
    match s.parse::<u32>() {
        Ok(v @ 1..=255) => Ok(v as u8),
        Ok(v) => Err(usage(format!("id {v} out of range (1-255)"))),
        Err(_) => Err(usage(format!("invalid id `{s}` (expected 1-255)"))),
    }
}

/// Parses an IP address (no port).
pub fn parse_addr(s: &str) -> anyhow::Result<IpAddr> {
    s.parse().map_err(|_| usage(format!("invalid address `{s}`")))
}

/// Parses a port (1-65535).
pub fn parse_port(s: &str) -> anyhow::Result<u16> {
    match s.parse::<u32>() {
        Ok(v @ 1..=65535) => Ok(v as u16),
        _ => Err(usage(format!("invalid port `{s}` (expected 1-65535)"))),
    }
}

/// Resolves an interface name in this network namespace.
pub fn parse_dev(s: &str) -> anyhow::Result<u32> {
    pm::interface_index(s).map_err(|_| usage(format!("unknown interface `{s}`")))
}

/// Turns a library error into an anyhow error; invalid arguments become
/// usage errors (exit status 2). A kernel without the path manager is
/// explained by the library's own message (`pm::Error::FamilyNotFound`).
pub fn pm_err(e: pm::Error) -> anyhow::Error {
    match e {
        pm::Error::InvalidArgument { reason } => usage(reason),
        e => anyhow::Error::new(e),
    }
}

/// Why this kernel has no `mptcp_pm` generic netlink family, for people:
/// found from what socket(IPPROTO_MPTCP) answered, never from the version.
pub fn no_path_manager() -> String {
    pm::why_no_path_manager(mptcp::host_support().availability)
}

/// Why MPTCP is missing here, in a few words ("built without MPTCP", ...).
pub fn no_mptcp_reason() -> String {
    use mptcp::Availability;
    match mptcp::host_support().availability {
        Availability::NotBuilt => "built without MPTCP".into(),
        Availability::KernelTooOld => "the kernel predates MPTCP, which needs Linux 5.6".into(),
        other => other.to_string(),
    }
}

fn next<'a>(it: &mut impl Iterator<Item = &'a String>, what: &str) -> anyhow::Result<&'a String> {
    it.next().ok_or_else(|| usage(format!("`{what}` needs a value")))
}

/// Parses `id ID` or `ADDRESS` (the first word), returning the rest.
fn parse_selector(words: &[String]) -> anyhow::Result<(EndpointRef, &[String])> {
    match words.first().map(String::as_str) {
        Some("id") => {
            let v = words.get(1).ok_or_else(|| usage("`id` needs a value"))?;
            Ok((EndpointRef::Id(parse_id(v)?), &words[2..]))
        }
        Some(a) => Ok((EndpointRef::Addr(parse_addr(a)?), &words[1..])),
        None => Err(usage("name the endpoint: `id ID` or an address")),
    }
}

/// Sets `slot` to `value` once: a key given twice is a usage error
/// (`ip` would keep the last, silently).
pub fn once<T>(slot: &mut Option<T>, key: &str, value: T) -> anyhow::Result<()> {
    if slot.is_some() {
        return Err(usage(format!("`{key}` given twice")));
    }
    *slot = Some(value);
    Ok(())
}

/// Parses the words of `endpoint add` (all checked before anything is sent).
pub fn parse_add(words: &[String]) -> anyhow::Result<Endpoint> {
    let mut addr = None;
    let mut ep_id = None;
    let mut port = None;
    let mut dev = None;
    let mut flags = EndpointFlags::EMPTY;
    let mut it = words.iter();
    while let Some(w) = it.next() {
        match w.as_str() {
            "id" => once(&mut ep_id, "id", parse_id(next(&mut it, "id")?)?)?,
            "port" => once(&mut port, "port", parse_port(next(&mut it, "port")?)?)?,
            "dev" => once(&mut dev, "dev", parse_dev(next(&mut it, "dev")?)?)?,
            "implicit" => return Err(usage("`implicit` is set by the kernel only")),
            f if EndpointFlags::from_name(f).is_some() => {
                let flag = EndpointFlags::from_name(f).unwrap_or_default();
                if flags.contains(flag) {
                    return Err(usage(format!("`{f}` given twice")));
                }
                flags |= flag;
            }
            a if addr.is_none() => addr = Some(parse_addr(a)?),
            other => return Err(usage(format!("unexpected `{other}`"))),
        }
    }
    let addr = addr.ok_or_else(|| usage("missing ADDRESS"))?;
    let mut ep = Endpoint::new(addr).with_id(ep_id.unwrap_or(0)).with_flags(flags);
    if let Some(p) = port {
        ep = ep.with_port(p);
    }
    if let Some(d) = dev {
        ep = ep.with_ifindex(d);
    }
    Ok(ep)
}

/// JSON object of an endpoint, with `ip -j mptcp endpoint show` names.
pub fn endpoint_json(ep: &Endpoint) -> Value {
    let mut m = Map::new();
    m.insert("address".into(), json!(ep.addr.to_string()));
    if let Some(p) = ep.port {
        m.insert("port".into(), json!(p));
    }
    m.insert("id".into(), json!(ep.id));
    for name in ep.flags.names() {
        m.insert(name.into(), json!(true));
    }
    if ep.flags.unknown_bits() != 0 {
        m.insert("unknown_flags".into(), json!(ep.flags.unknown_bits()));
    }
    if let Some(i) = ep.ifindex {
        match pm::interface_name(i) {
            Some(n) => m.insert("dev".into(), json!(n)),
            None => m.insert("ifindex".into(), json!(i)),
        };
    }
    Value::Object(m)
}

/// One line, as `ip mptcp endpoint show` prints it.
pub fn endpoint_line(ep: &Endpoint) -> String {
    let mut s = ep.addr.to_string();
    if let Some(p) = ep.port {
        s.push_str(&format!(" port {p}"));
    }
    s.push_str(&format!(" id {}", ep.id));
    let flags = ep.flags.to_string();
    if !flags.is_empty() {
        s.push(' ');
        s.push_str(&flags);
    }
    if let Some(i) = ep.ifindex {
        match pm::interface_name(i) {
            Some(n) => s.push_str(&format!(" dev {n}")),
            None => s.push_str(&format!(" ifindex {i}")),
        }
    }
    s
}

/// Runs `mptcp endpoint`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let action = args.action.unwrap_or(Action::List { words: vec![] });
    match action {
        Action::List { words } => {
            let id = match words.as_slice() {
                [] => None,
                [k, v] if k == "id" => Some(parse_id(v)?),
                _ => return Err(usage("usage: mptcp endpoint list [id ID]")),
            };
            let mut pm = PathManager::new().map_err(pm_err)?;
            let eps = match id {
                Some(id) => vec![pm.endpoint(id).map_err(pm_err)?],
                None => pm.endpoints().map_err(pm_err)?,
            };
            if args.json {
                print_json(&eps.iter().map(endpoint_json).collect::<Vec<_>>())?;
            } else {
                let mut out = crate::util::stdout();
                for ep in &eps {
                    writeln!(out, "{}", endpoint_line(ep))?;
                }
                out.flush()?;
            }
        }
        Action::Add { words } => {
            let ep = parse_add(&words)?;
            let mut pm = PathManager::new().map_err(pm_err)?;
            pm.add_endpoint(&ep).map_err(pm_err).with_context(|| format!("cannot add endpoint {}", ep.addr))?;
        }
        Action::Del { words } => {
            let (target, rest) = parse_selector(&words)?;
            if let Some(w) = rest.first() {
                return Err(usage(format!("unexpected `{w}`")));
            }
            PathManager::new().and_then(|mut pm| pm.delete_endpoint(target)).map_err(pm_err)?;
        }
        Action::Flush => PathManager::new().and_then(|mut pm| pm.flush_endpoints()).map_err(pm_err)?,
        Action::Set { words } => {
            let (target, rest) = parse_selector(&words)?;
            let (mut backup, mut fullmesh) = (None, None);
            for w in rest {
                match w.as_str() {
                    "backup" | "nobackup" => once(&mut backup, "backup/nobackup", w == "backup")?,
                    "fullmesh" | "nofullmesh" => once(&mut fullmesh, "fullmesh/nofullmesh", w == "fullmesh")?,
                    other => {
                        return Err(usage(format!(
                            "unexpected `{other}` (expected backup, nobackup, fullmesh, nofullmesh)"
                        )))
                    }
                }
            }
            if backup.is_none() && fullmesh.is_none() {
                return Err(usage("nothing to change: give backup, nobackup, fullmesh or nofullmesh"));
            }
            let mut pm = PathManager::new().map_err(pm_err)?;
            // The kernel replaces both flags: keep the ones not named.
            let current = pm
                .endpoints()
                .map_err(pm_err)?
                .into_iter()
                .find(|e| match target {
                    EndpointRef::Id(id) => e.id == id,
                    EndpointRef::Addr(a) => e.addr == a,
                })
                .ok_or_else(|| anyhow::Error::new(pm::Error::NoSuchEndpoint(target)))?;
            let mut flags = EndpointFlags::EMPTY;
            if backup.unwrap_or(current.flags.contains(EndpointFlags::BACKUP)) {
                flags |= EndpointFlags::BACKUP;
            }
            if fullmesh.unwrap_or(current.flags.contains(EndpointFlags::FULLMESH)) {
                flags |= EndpointFlags::FULLMESH;
            }
            pm.set_endpoint_flags(target, flags).map_err(pm_err)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn add_words() {
        let ep = parse_add(&w("10.0.0.1 id 3 port 8080 signal backup")).unwrap();
        assert_eq!(ep.id, 3);
        assert_eq!(ep.port, Some(8080));
        assert_eq!(ep.flags, EndpointFlags::SIGNAL | EndpointFlags::BACKUP);
        assert!(parse_add(&w("10.0.0.1 id 300")).is_err());
        assert!(parse_add(&w("10.0.0.300")).is_err());
        assert!(parse_add(&w("10.0.0.1 dev nosuchdev0")).is_err());
        assert!(parse_add(&w("id 2 subflow")).is_err());
        assert!(parse_add(&w("10.0.0.1 10.0.0.2")).is_err());
        for twice in
            ["10.0.0.1 id 1 id 2", "10.0.0.1 port 1 port 1", "10.0.0.1 signal signal", "10.0.0.1 dev lo dev lo"]
        {
            let e = parse_add(&w(twice)).unwrap_err().to_string();
            assert!(e.ends_with("given twice"), "{twice}: {e}");
        }
    }
}
