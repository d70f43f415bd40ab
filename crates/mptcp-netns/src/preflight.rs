//! [`preflight`]: can this machine run a lab, and if not, what is missing?

use std::fmt;
use std::path::PathBuf;

use crate::{is_root, Netns, Strip};

/// What the caller is about to use; [`preflight`] checks exactly that.
///
/// Always checked: root with CAP_SYS_ADMIN and CAP_NET_ADMIN, the `ip`
/// program, that a network namespace and a veth pair can be created.
///
/// # Examples
///
/// ```
/// use mptcp_netns::{Requirements, Tool};
/// let req = Requirements {
///     htb: true,
///     middlebox: true,
///     optional: vec![Tool::new("iperf3", "iperf3", "the iperf3 phase")],
///     ..Requirements::default()
/// };
/// assert!(req.mptcp && req.tbf);
/// ```
#[derive(Debug, Clone)]
pub struct Requirements {
    /// MPTCP sockets can be created in the calling thread's network
    /// namespace (the kernel has MPTCP and `net.mptcp.enabled` is 1).
    /// Default: true.
    pub mptcp: bool,
    /// The `tbf` qdisc, and the `tc` program (what [`Path::shape`](crate::Path::shape)
    /// uses). Default: true.
    pub tbf: bool,
    /// The `htb` qdisc (and `tc`). Default: false.
    pub htb: bool,
    /// The middlebox of [`Netns::strip_mptcp`] can be set up (nf_tables'
    /// TCP option reset, or xtables' `TCPOPTSTRIP`). Default: false.
    pub middlebox: bool,
    /// Programs used when present: their absence is reported, never fatal.
    pub optional: Vec<Tool>,
}

impl Default for Requirements {
    fn default() -> Self {
        Requirements { mptcp: true, tbf: true, htb: false, middlebox: false, optional: Vec::new() }
    }
}

/// An optional program: its name, the package that provides it, and what
/// is skipped without it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tool {
    /// The program, looked up in `PATH`.
    pub program: String,
    /// The Debian/Ubuntu package that provides it.
    pub package: String,
    /// What does not happen without it, e.g. "the iperf3 phase".
    pub purpose: String,
}

impl Tool {
    /// A program, its package and what needs it.
    ///
    /// # Examples
    ///
    /// ```
    /// let t = mptcp_netns::Tool::new("iperf3", "iperf3", "the iperf3 phase");
    /// assert_eq!(t.program, "iperf3");
    /// ```
    pub fn new(program: &str, package: &str, purpose: &str) -> Tool {
        Tool { program: program.into(), package: package.into(), purpose: purpose.into() }
    }
}

/// One thing [`preflight`] found missing. Its `Display` is one line: what is
/// missing, and which package or setting provides it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Missing {
    /// Not root (`root: false`), or root without the capabilities named.
    Privileges {
        /// Whether the effective uid is 0.
        root: bool,
        /// Capabilities lacking from the effective set.
        lacking: Vec<&'static str>,
    },
    /// A program is not in `PATH`.
    Program {
        /// The program.
        program: String,
        /// The package that provides it.
        package: String,
        /// `Some(what is skipped)` for an optional program.
        optional: Option<String>,
    },
    /// `ip netns add` failed.
    Namespaces {
        /// What `ip` said.
        error: String,
    },
    /// A veth pair could not be created.
    Veth {
        /// What `ip` said.
        error: String,
    },
    /// A qdisc could not be attached.
    Qdisc {
        /// `tbf` or `htb`.
        kind: &'static str,
        /// What `tc` said.
        error: String,
    },
    /// MPTCP is built in but disabled (`net.mptcp.enabled=0`).
    MptcpDisabled,
    /// The kernel has no MPTCP (`CONFIG_MPTCP` off, or older than 5.6).
    MptcpNotBuilt {
        /// What `socket(IPPROTO_MPTCP)` answered.
        error: String,
    },
    /// Creating an MPTCP socket failed for another reason (a security module?).
    MptcpRefused {
        /// What `socket(IPPROTO_MPTCP)` answered.
        error: String,
    },
    /// Neither nf_tables nor xtables can strip the MPTCP option.
    Middlebox {
        /// Why, and what to do.
        error: String,
    },
}

impl Missing {
    /// Whether this is only an optional program: reported, not blocking.
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp_netns::Missing;
    /// assert!(!Missing::MptcpDisabled.is_optional());
    /// ```
    pub fn is_optional(&self) -> bool {
        matches!(self, Missing::Program { optional: Some(_), .. })
    }
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Missing::Privileges { root: false, .. } => f.write_str(
                "not running as root (network namespaces need CAP_SYS_ADMIN and CAP_NET_ADMIN): run it as root, e.g. with sudo",
            ),
            Missing::Privileges { lacking, .. } => write!(
                f,
                "running as root without {} (a restricted container?): grant it, e.g. docker run --cap-add SYS_ADMIN --cap-add NET_ADMIN",
                lacking.join(" and ")
            ),
            Missing::Program { program, package, optional: None } => {
                write!(f, "`{program}` not found: apt-get install {package}")
            }
            Missing::Program { program, package, optional: Some(purpose) } => {
                write!(f, "`{program}` not found (optional; without it {purpose} is skipped): apt-get install {package}")
            }
            Missing::Namespaces { error } => write!(
                f,
                "cannot create a network namespace ({error}): the kernel needs CONFIG_NET_NS, and /run/netns must be writable"
            ),
            Missing::Veth { error } => {
                write!(f, "cannot create a veth pair ({error}): modprobe veth (kernel option CONFIG_VETH)")
            }
            Missing::Qdisc { kind, error } => write!(
                f,
                "the {kind} qdisc is unavailable ({error}): modprobe sch_{kind} (kernel option CONFIG_NET_SCH_{})",
                kind.to_uppercase()
            ),
            Missing::MptcpDisabled => f.write_str("MPTCP is disabled: sysctl -w net.mptcp.enabled=1"),
            Missing::MptcpNotBuilt { error } => write!(
                f,
                "this kernel was built without MPTCP (CONFIG_MPTCP; socket(IPPROTO_MPTCP): {error}): boot a kernel with MPTCP (Linux 5.6 or later, CONFIG_MPTCP=y)"
            ),
            Missing::MptcpRefused { error } => write!(
                f,
                "cannot create an MPTCP socket ({error}): a security module (SELinux, AppArmor, seccomp) may refuse IPPROTO_MPTCP"
            ),
            Missing::Middlebox { error } => write!(f, "cannot strip the MPTCP option: {error}"),
        }
    }
}

/// What [`preflight`] found when nothing required is missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ready {
    /// Optional programs that are absent (each [`Missing::is_optional`]).
    pub absent: Vec<Missing>,
}

/// Checks, before anything is created, that this machine can do what `req`
/// asks: root and capabilities, `ip` (and `tc`), a network namespace, a veth
/// pair and the qdiscs (in a throwaway namespace, deleted before returning),
/// MPTCP in the calling thread's namespace, the MPTCP-stripping middlebox,
/// and which optional programs are absent.
///
/// # Errors
///
/// Everything missing, required or optional (see [`Missing::is_optional`]),
/// when anything required is missing; each renders as one line saying what
/// to install or set.
///
/// # Examples
///
/// ```no_run
/// use mptcp_netns::{preflight, Requirements, Tool};
/// let req = Requirements {
///     optional: vec![Tool::new("iperf3", "iperf3", "the iperf3 phase")],
///     ..Requirements::default()
/// };
/// match preflight(&req) {
///     Ok(ready) => ready.absent.iter().for_each(|m| eprintln!("note: {m}")),
///     Err(missing) => {
///         missing.iter().for_each(|m| eprintln!("missing: {m}"));
///         std::process::exit(2);
///     }
/// }
/// ```
pub fn preflight(req: &Requirements) -> Result<Ready, Vec<Missing>> {
    let mut missing = Vec::new();
    let privileged = privileges(&mut missing);
    let ip = program(&mut missing, "ip", "iproute2", None);
    let tc = if req.tbf || req.htb { program(&mut missing, "tc", "iproute2", None) } else { false };
    for t in &req.optional {
        program(&mut missing, &t.program, &t.package, Some(&t.purpose));
    }
    if req.mptcp {
        missing.extend(mptcp());
    }
    if privileged && ip {
        kernel(req, tc, &mut missing);
    }
    if missing.iter().all(Missing::is_optional) {
        Ok(Ready { absent: missing })
    } else {
        Err(missing)
    }
}

/// Root, and CAP_SYS_ADMIN and CAP_NET_ADMIN in the effective set.
fn privileges(missing: &mut Vec<Missing>) -> bool {
    if !is_root() {
        missing.push(Missing::Privileges { root: false, lacking: vec!["CAP_SYS_ADMIN", "CAP_NET_ADMIN"] });
        return false;
    }
    let eff = std::fs::read_to_string("/proc/thread-self/status").ok().and_then(|s| cap_eff(&s));
    // No /proc status to read: trust uid 0, namespace creation will tell.
    let Some(eff) = eff else { return true };
    let lacking: Vec<&'static str> = [(21, "CAP_SYS_ADMIN"), (12, "CAP_NET_ADMIN")]
        .into_iter()
        .filter(|(bit, _)| eff & (1u64 << bit) == 0)
        .map(|(_, name)| name)
        .collect();
    if lacking.is_empty() {
        return true;
    }
    missing.push(Missing::Privileges { root: true, lacking });
    false
}

/// The `CapEff:` mask of a `/proc/*/status` text.
fn cap_eff(status: &str) -> Option<u64> {
    let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?.trim();
    u64::from_str_radix(hex, 16).ok()
}

/// Whether `name` is in `PATH`; records it as missing when not.
fn program(missing: &mut Vec<Missing>, name: &str, package: &str, optional: Option<&str>) -> bool {
    if find_program(name).is_some() {
        return true;
    }
    missing.push(Missing::Program {
        program: name.to_string(),
        package: package.to_string(),
        optional: optional.map(str::to_string),
    });
    false
}

/// The first executable file `name` in `PATH`.
pub(crate) fn find_program(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| std::fs::metadata(p).map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false))
}

/// Can an MPTCP socket be created in the calling thread's namespace?
fn mptcp() -> Option<Missing> {
    use socket2::{Domain, Protocol, Socket, Type};
    let e = match Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::from(libc::IPPROTO_MPTCP))) {
        Ok(_) => return None,
        Err(e) => e,
    };
    // /proc/sys/net answers for the namespace of the thread that opens it.
    let enabled = std::fs::read_to_string("/proc/sys/net/mptcp/enabled").ok();
    Some(match (e.raw_os_error(), enabled.as_deref().map(str::trim)) {
        (_, Some("0")) | (Some(libc::ENOPROTOOPT), _) => Missing::MptcpDisabled,
        (Some(libc::EPROTONOSUPPORT | libc::EINVAL), _) => Missing::MptcpNotBuilt { error: e.to_string() },
        _ => Missing::MptcpRefused { error: e.to_string() },
    })
}

/// Namespace, veth, qdiscs and middlebox, tried in a throwaway namespace.
fn kernel(req: &Requirements, tc: bool, missing: &mut Vec<Missing>) {
    let ns = match Netns::new("preflight") {
        Ok(ns) => ns,
        Err(e) => {
            missing.push(Missing::Namespaces { error: e.to_string() });
            return;
        }
    };
    if let Err(e) = ns.ip(&["link", "add", "pf0", "type", "veth", "peer", "name", "pf1"]) {
        missing.push(Missing::Veth { error: short(&e) });
    }
    let qdiscs: [(&'static str, bool, &[&str]); 2] = [
        ("tbf", req.tbf, &["tbf", "rate", "10mbit", "burst", "32kb", "latency", "50ms"]),
        ("htb", req.htb, &["htb", "default", "1"]),
    ];
    for (kind, wanted, args) in qdiscs {
        if !(wanted && tc) {
            continue;
        }
        // On loopback, so that a missing veth does not hide a missing qdisc.
        let mut cmd = vec!["tc", "-n", ns.name(), "qdisc", "replace", "dev", "lo", "root"];
        cmd.extend_from_slice(args);
        if let Err(e) = crate::cmd(&cmd) {
            missing.push(Missing::Qdisc { kind, error: short(&e) });
        }
    }
    if req.middlebox {
        if let Err(e) = ns.strip_mptcp(false, Strip::SynAck).and_then(|()| ns.unstrip_mptcp(false, Strip::SynAck)) {
            missing.push(Missing::Middlebox { error: short(&e) });
        }
    }
}

/// A command's complaint without the command line, or the error itself.
fn short(e: &crate::Error) -> String {
    match e {
        crate::Error::Command { stderr, .. } if !stderr.is_empty() => stderr.clone(),
        crate::Error::Middlebox { detail, .. } => detail.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn capabilities_are_read_from_status() {
        let s = "Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\nCapBnd:\t0\n";
        assert_eq!(cap_eff(s), Some(0x1ff_ffff_ffff));
        assert_eq!(cap_eff("CapEff:\tzz\n"), None);
        assert_eq!(cap_eff("Name: x\n"), None);
    }

    #[test]
    fn each_missing_thing_is_one_line_naming_the_fix() {
        let cases = [
            (
                Missing::Program { program: "tc".into(), package: "iproute2".into(), optional: None },
                "`tc` not found: apt-get install iproute2",
            ),
            (Missing::MptcpDisabled, "MPTCP is disabled: sysctl -w net.mptcp.enabled=1"),
            (
                Missing::Qdisc { kind: "htb", error: "Error: Specified qdisc kind is unknown.".into() },
                "the htb qdisc is unavailable (Error: Specified qdisc kind is unknown.): modprobe sch_htb (kernel option CONFIG_NET_SCH_HTB)",
            ),
        ];
        for (m, want) in cases {
            assert_eq!(m.to_string(), want);
            assert!(!m.is_optional());
        }
        let opt = Missing::Program {
            program: "iperf3".into(),
            package: "iperf3".into(),
            optional: Some("the iperf3 phase".into()),
        };
        assert!(opt.is_optional());
        assert_eq!(
            opt.to_string(),
            "`iperf3` not found (optional; without it the iperf3 phase is skipped): apt-get install iperf3"
        );
        let not_built = Missing::MptcpNotBuilt { error: "Protocol not supported (os error 93)".into() };
        assert!(not_built.to_string().starts_with("this kernel was built without MPTCP (CONFIG_MPTCP"));
        for m in [not_built, Missing::Privileges { root: true, lacking: vec!["CAP_NET_ADMIN"] }] {
            assert_eq!(m.to_string().lines().count(), 1);
        }
    }
}
