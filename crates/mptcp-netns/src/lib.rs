//! Network namespaces for MPTCP labs and tests.
//!
//! Everything this crate creates (namespaces, and with them their veth ends,
//! qdiscs and iptables rules) is removed when the owning value is dropped,
//! also while a panic unwinds, and on SIGINT/SIGTERM once
//! [`install_signal_cleanup`] has been called. Names are unique per process
//! and per call (`mptcp-<pid>-<n>-<role>`), so parallel tests never collide,
//! and [`sweep_stale`] removes namespaces left behind by processes that no
//! longer exist (a `kill -9`).
//!
//! The work is done by iproute2 (`ip`, `tc`) and iptables, run as child
//! processes, so every step is the command an administrator would type.
//!
//! # Examples
//!
//! ```no_run
//! use mptcp_netns::{Netns, Path};
//!
//! # fn main() -> Result<(), mptcp_netns::Error> {
//! let client = Netns::new("client")?;
//! let server = Netns::new("server")?;
//! let path = Path::new(&client, "10.0.1.1/24", &server, "10.0.1.2/24")?;
//! path.shape("50mbit")?;
//! let out = client.run(&["ping", "-c1", "-W1", "10.0.1.2"])?;
//! assert!(out.status.success());
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs, missing_debug_implementations)]

use std::collections::BTreeSet;
use std::fs::File;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, Once};

/// Errors from namespace setup.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A command could not be started (not installed?).
    #[error("cannot run `{cmd}`: {source} (is it installed? try `apt-get install iproute2 iptables`)")]
    Spawn {
        /// The command line.
        cmd: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A command ran and failed.
    #[error("`{cmd}` failed ({status}): {stderr}")]
    Command {
        /// The command line.
        cmd: String,
        /// Its exit status.
        status: String,
        /// What it printed on stderr.
        stderr: String,
    },
    /// Entering a namespace failed.
    #[error("cannot enter network namespace {name}: {source}")]
    Enter {
        /// Namespace name.
        name: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The caller lacks the privileges to create namespaces.
    #[error("network namespaces need root (CAP_SYS_ADMIN and CAP_NET_ADMIN); run as root, e.g. with sudo")]
    NotRoot,
}

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

static LIVE: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
static COUNTER: AtomicU32 = AtomicU32::new(0);
const PREFIX: &str = "mptcp-";

/// Runs a command and returns its output, failing when it exits non-zero.
pub fn cmd(args: &[&str]) -> Result<Output> {
    let out = cmd_status(args)?;
    if !out.status.success() {
        return Err(Error::Command {
            cmd: args.join(" "),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(out)
}

/// Runs a command and returns its output whatever its exit status.
pub fn cmd_status(args: &[&str]) -> Result<Output> {
    Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .output()
        .map_err(|source| Error::Spawn { cmd: args.join(" "), source })
}

/// Whether this process may create network namespaces (effective uid 0).
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// For tests that build namespaces: panics with the reason when they cannot
/// run here (not root, or `ip` missing), and installs the signal clean-up.
///
/// Such tests are marked `#[ignore = "needs root: ..."]`, so a plain
/// `cargo test` lists them as *ignored* in its closing counts instead of
/// reporting a skipped test as "ok"; `scripts/test.sh` runs them as root
/// with `--include-ignored`, and there a test that cannot run fails.
///
/// # Examples
///
/// ```no_run
/// #[test]
/// #[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
/// fn two_paths() {
///     mptcp_netns::require_root();
///     let ns = mptcp_netns::Netns::new("client").unwrap();
///     // ...
/// }
/// ```
pub fn require_root() {
    if !is_root() {
        panic!("this test needs root to create network namespaces: run it as root (scripts/test.sh does)");
    }
    if cmd_status(&["ip", "-V"]).is_err() {
        panic!("this test needs iproute2 (`ip`): apt-get install iproute2");
    }
    install_signal_cleanup();
}

/// Installs a SIGINT/SIGTERM handler that deletes every namespace this
/// process created, then exits with status 130. Safe to call many times.
pub fn install_signal_cleanup() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = ctrlc::set_handler(|| {
            cleanup_all();
            std::process::exit(130);
        });
    });
}

/// Deletes every namespace this process created and still holds.
pub fn cleanup_all() {
    let names: Vec<String> = match LIVE.lock() {
        Ok(mut l) => std::mem::take(&mut *l).into_iter().collect(),
        Err(p) => std::mem::take(&mut *p.into_inner()).into_iter().collect(),
    };
    for n in names {
        let _ = cmd_status(&["ip", "netns", "del", &n]);
    }
}

/// Removes namespaces named `mptcp-<pid>-...` whose process no longer runs.
/// Returns the names removed.
pub fn sweep_stale() -> Vec<String> {
    let mut removed = Vec::new();
    let Ok(dir) = std::fs::read_dir("/run/netns") else { return removed };
    for e in dir.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let Some(rest) = name.strip_prefix(PREFIX) else { continue };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else { continue };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists()
            && cmd_status(&["ip", "netns", "del", &name]).map(|o| o.status.success()).unwrap_or(false)
        {
            removed.push(name);
        }
    }
    removed
}

/// Names of the namespaces this process currently holds.
pub fn live_namespaces() -> Vec<String> {
    LIVE.lock().map(|l| l.iter().cloned().collect()).unwrap_or_default()
}

/// A network namespace, deleted on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates `mptcp-<pid>-<n>-<role>` with loopback up.
    pub fn new(role: &str) -> Result<Netns> {
        if !is_root() {
            return Err(Error::NotRoot);
        }
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let role: String = role.chars().filter(|c| c.is_ascii_alphanumeric()).take(8).collect();
        let name = format!("{PREFIX}{}-{n}-{role}", std::process::id());
        // Register before creating, so a signal arriving in between still cleans up.
        LIVE.lock().map(|mut l| l.insert(name.clone())).ok();
        let ns = Netns { name };
        cmd(&["ip", "netns", "add", &ns.name])?;
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// The namespace's name, as `ip netns` shows it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Builds a command that runs inside this namespace (`ip netns exec`).
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    /// Runs a command inside this namespace; fails when it exits non-zero.
    pub fn run(&self, args: &[&str]) -> Result<Output> {
        let mut v = vec!["ip", "netns", "exec", &self.name];
        v.extend_from_slice(args);
        cmd(&v)
    }

    /// Runs a command inside this namespace whatever its exit status.
    pub fn run_status(&self, args: &[&str]) -> Result<Output> {
        let mut v = vec!["ip", "netns", "exec", &self.name];
        v.extend_from_slice(args);
        cmd_status(&v)
    }

    /// Runs `ip -n <ns> ARGS...`.
    pub fn ip(&self, args: &[&str]) -> Result<Output> {
        let mut v = vec!["ip", "-n", &self.name];
        v.extend_from_slice(args);
        cmd(&v)
    }

    /// Sets a sysctl inside this namespace, e.g. `("net.mptcp.enabled", "0")`.
    pub fn sysctl(&self, key: &str, value: &str) -> Result<()> {
        self.run(&["sysctl", "-qw", &format!("{key}={value}")]).map(|_| ())
    }

    /// Reads a sysctl inside this namespace.
    pub fn sysctl_get(&self, key: &str) -> Result<String> {
        let o = self.run(&["sysctl", "-n", key])?;
        Ok(String::from_utf8_lossy(&o.stdout).trim().to_string())
    }

    /// Reads an `MPTcpExt` (or `TcpExt`) counter from `/proc/net/netstat`
    /// as seen inside this namespace.
    pub fn counter(&self, name: &str) -> Result<u64> {
        // /proc/net follows the process, /proc/thread-self/net this thread.
        let text = self
            .in_ns(|| std::fs::read_to_string("/proc/thread-self/net/netstat"))?
            .map_err(|source| Error::Enter { name: self.name.clone(), source })?;
        Ok(parse_netstat(&text, name).unwrap_or(0))
    }

    /// Runs `f` on a thread that has entered this namespace, and returns its
    /// result. Sockets created inside `f` belong to this namespace for their
    /// whole life, wherever they are used afterwards.
    pub fn in_ns<F, R>(&self, f: F) -> Result<R>
    where
        F: FnOnce() -> R + Send,
        R: Send,
    {
        let path = format!("/run/netns/{}", self.name);
        let file = File::open(&path).map_err(|source| Error::Enter { name: self.name.clone(), source })?;
        std::thread::scope(|s| {
            s.spawn(move || {
                nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
                    .map_err(|e| Error::Enter { name: self.name.clone(), source: e.into() })?;
                Ok(f())
            })
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    }

    /// Runs `f` on a new thread inside this namespace, in the background.
    pub fn spawn<F, R>(&self, f: F) -> Result<std::thread::JoinHandle<R>>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let path = format!("/run/netns/{}", self.name);
        let file = File::open(&path).map_err(|source| Error::Enter { name: self.name.clone(), source })?;
        let name = self.name.clone();
        Ok(std::thread::spawn(move || {
            if let Err(e) = nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET) {
                panic!("cannot enter network namespace {name}: {e}");
            }
            f()
        }))
    }

    /// Adds an iptables (or ip6tables, when `v6`) rule in this namespace.
    /// It goes away with the namespace.
    pub fn iptables(&self, v6: bool, args: &[&str]) -> Result<()> {
        let mut v = vec![if v6 { "ip6tables" } else { "iptables" }, "-w"];
        v.extend_from_slice(args);
        self.run(&v).map(|_| ())
    }
}

/// Where a middlebox strips the MPTCP option (TCP option kind 30).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strip {
    /// From the SYN-ACKs this namespace sends: both ends fall back at once.
    SynAck,
    /// From every non-SYN packet this namespace sends: the handshake
    /// negotiates MPTCP, the connection falls back later, on data.
    NonSyn,
}

impl Netns {
    /// Adds an iptables `TCPOPTSTRIP --strip-options 30` rule on this
    /// namespace's OUTPUT (IPv4, or IPv6 with `v6`): a middlebox stripping
    /// MPTCP. It goes away with the namespace.
    pub fn strip_mptcp(&self, v6: bool, which: Strip) -> Result<()> {
        self.strip_rule("-A", v6, which)
    }

    /// Removes the rule [`strip_mptcp`](Netns::strip_mptcp) added.
    pub fn unstrip_mptcp(&self, v6: bool, which: Strip) -> Result<()> {
        self.strip_rule("-D", v6, which)
    }

    fn strip_rule(&self, action: &str, v6: bool, which: Strip) -> Result<()> {
        let select: &[&str] = match which {
            Strip::SynAck => &["--tcp-flags", "SYN,ACK", "SYN,ACK"],
            Strip::NonSyn => &["!", "--syn"],
        };
        let mut rule = vec!["-t", "mangle", action, "OUTPUT", "-p", "tcp"];
        rule.extend_from_slice(select);
        rule.extend_from_slice(&["-j", "TCPOPTSTRIP", "--strip-options", "30"]);
        self.iptables(v6, &rule)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Kill whatever still runs inside, then delete.
        let _ = cmd_status(&["ip", "netns", "pids", &self.name]).map(|o| {
            for pid in String::from_utf8_lossy(&o.stdout).split_whitespace() {
                let _ = cmd_status(&["kill", "-9", pid]);
            }
        });
        let _ = cmd_status(&["ip", "netns", "del", &self.name]);
        if let Ok(mut l) = LIVE.lock() {
            l.remove(&self.name);
        }
    }
}

/// Reads `name` from the text of `/proc/net/netstat` (header line, value line pairs).
pub fn parse_netstat(text: &str, name: &str) -> Option<u64> {
    let lines: Vec<&str> = text.lines().collect();
    for pair in lines.chunks(2) {
        if pair.len() < 2 {
            break;
        }
        let keys = pair[0].split_whitespace().skip(1);
        let vals = pair[1].split_whitespace().skip(1);
        for (k, v) in keys.zip(vals) {
            if k == name {
                return v.parse().ok();
            }
        }
    }
    None
}

/// One path: a veth pair between two namespaces, with an address on each end.
#[derive(Debug, Clone)]
pub struct Path {
    /// Namespace of end A.
    pub a_ns: String,
    /// Interface name of end A.
    pub a_dev: String,
    /// Address of end A, without prefix length.
    pub a_addr: String,
    /// Namespace of end B.
    pub b_ns: String,
    /// Interface name of end B.
    pub b_dev: String,
    /// Address of end B, without prefix length.
    pub b_addr: String,
}

impl Path {
    /// Creates a veth pair with one end in `a` (address `a_cidr`, e.g.
    /// `10.0.1.1/24` or `fd00:1::1/64`) and one in `b`, both up.
    /// Interface names are `p<n>` for the n-th path of a namespace.
    pub fn new(a: &Netns, a_cidr: &str, b: &Netns, b_cidr: &str) -> Result<Path> {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let tmp_a = format!("mv{}a{n}", std::process::id() % 100000);
        let tmp_b = format!("mv{}b{n}", std::process::id() % 100000);
        let a_dev = next_dev(a)?;
        let b_dev = next_dev(b)?;
        cmd(&[
            "ip",
            "link",
            "add",
            &tmp_a,
            "netns",
            a.name(),
            "type",
            "veth",
            "peer",
            "name",
            &tmp_b,
            "netns",
            b.name(),
        ])?;
        a.ip(&["link", "set", &tmp_a, "name", &a_dev])?;
        b.ip(&["link", "set", &tmp_b, "name", &b_dev])?;
        for (ns, dev, cidr) in [(a, &a_dev, a_cidr), (b, &b_dev, b_cidr)] {
            let v6 = cidr.contains(':');
            let mut args = vec!["addr", "add", cidr, "dev", dev.as_str()];
            if v6 {
                args.push("nodad");
            }
            ns.ip(&args)?;
            ns.ip(&["link", "set", dev, "up"])?;
        }
        let strip = |c: &str| c.split('/').next().unwrap_or(c).to_string();
        Ok(Path {
            a_ns: a.name().to_string(),
            a_dev,
            a_addr: strip(a_cidr),
            b_ns: b.name().to_string(),
            b_dev,
            b_addr: strip(b_cidr),
        })
    }

    /// Shapes both directions with `tbf` to `rate` (e.g. `50mbit`).
    pub fn shape(&self, rate: &str) -> Result<()> {
        for (ns, dev) in [(&self.a_ns, &self.a_dev), (&self.b_ns, &self.b_dev)] {
            cmd(&[
                "ip", "netns", "exec", ns, "tc", "qdisc", "replace", "dev", dev, "root", "tbf", "rate", rate, "burst",
                "32kb", "latency", "50ms",
            ])?;
        }
        Ok(())
    }

    /// Takes the path down (both ends), as a failing link would.
    pub fn down(&self) -> Result<()> {
        cmd(&["ip", "-n", &self.a_ns, "link", "set", &self.a_dev, "down"])?;
        cmd(&["ip", "-n", &self.b_ns, "link", "set", &self.b_dev, "down"]).map(|_| ())
    }

    /// Brings the path back up.
    pub fn up(&self) -> Result<()> {
        cmd(&["ip", "-n", &self.a_ns, "link", "set", &self.a_dev, "up"])?;
        cmd(&["ip", "-n", &self.b_ns, "link", "set", &self.b_dev, "up"]).map(|_| ())
    }
}

fn next_dev(ns: &Netns) -> Result<String> {
    let out = ns.ip(&["-o", "link", "show"])?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut i = 0;
    while text.contains(&format!(": p{i}:")) || text.contains(&format!(": p{i}@")) {
        i += 1;
    }
    Ok(format!("p{i}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netstat_parser_finds_counters() {
        let t = "TcpExt: A B\nTcpExt: 1 2\nMPTcpExt: MPCapableSYNTX MPCurrEstab\nMPTcpExt: 7 3\n";
        assert_eq!(parse_netstat(t, "MPCapableSYNTX"), Some(7));
        assert_eq!(parse_netstat(t, "MPCurrEstab"), Some(3));
        assert_eq!(parse_netstat(t, "B"), Some(2));
        assert_eq!(parse_netstat(t, "Nope"), None);
    }

    #[test]
    #[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
    fn namespaces_are_removed_on_drop() {
        require_root();
        let a = Netns::new("a").unwrap();
        let b = Netns::new("b").unwrap();
        let names = (a.name().to_string(), b.name().to_string());
        let p = Path::new(&a, "10.77.1.1/24", &b, "10.77.1.2/24").unwrap();
        p.shape("10mbit").unwrap();
        // The path carries traffic: ICMP gets an answer, and a TCP connect
        // to a closed port is refused by the peer (a RST came back), not
        // timed out.
        a.run(&["ping", "-c1", "-W2", "10.77.1.2"]).expect("ping over the new path");
        let refused = a
            .in_ns(|| {
                std::net::TcpStream::connect_timeout(&"10.77.1.2:9".parse().unwrap(), std::time::Duration::from_secs(2))
                    .map(|_| ())
                    .map_err(|e| e.kind())
            })
            .unwrap();
        assert_eq!(refused, Err(std::io::ErrorKind::ConnectionRefused));
        drop(a);
        drop(b);
        let list = String::from_utf8_lossy(&cmd(&["ip", "netns", "list"]).unwrap().stdout).to_string();
        assert!(!list.contains(&names.0) && !list.contains(&names.1), "left behind: {list}");
    }
}
