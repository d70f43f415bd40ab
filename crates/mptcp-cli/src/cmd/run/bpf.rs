//! `mptcp run --via bpf|auto`: the kernel's `update_socket_protocol` hook
//! through a BPF program ([`mptcp_bpf`]) instead of the preload library.
//!
//! The program converts the TCP sockets of this process's descendants (the
//! process tree below `mptcp run`, followed through `task_struct.real_parent`;
//! `mptcp run` becomes a child subreaper so that daemons started from the
//! tree stay in it). So `mptcp run` cannot `exec` the program: it forks,
//! waits, forwards SIGTERM/SIGHUP and exits with the program's status. The
//! program's descriptors are close-on-exec (the kernel makes every BPF
//! descriptor so): the program never holds them, and when `mptcp run` ends,
//! even by SIGKILL, the kernel detaches the hook.
//!
//! The hook is attached only when every check passes, and `auto` says why
//! when one does not (then the preload runs the program): MPTCP available
//! in this network namespace (a converted `socket()` fails where it is not:
//! the hook must never make a program fail), this process in the initial
//! pid namespace (the program compares the kernel's process ids), the
//! kernel's BTF with the hook (Linux >= 6.6), and the kernel accepting the
//! program (root, or CAP_BPF + CAP_PERFMON; BPF trampolines, which kernels
//! without ftrace lack).
//!
//! Limit: `net.mptcp.enabled` is checked once, before the program starts.
//! Set to 0 during the run (or a process of the tree moving to a network
//! namespace where it is 0), converted `socket()` calls fail with
//! ENOPROTOOPT until the run ends.

use std::fmt;

use mptcp::Availability;
use mptcp_bpf::{Hook, Kernel, Scope};

/// How `mptcp run` converts the program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Via {
    /// The BPF hook where it works, the preload library otherwise.
    Auto,
    /// The kernel's BPF hook (Linux >= 6.6, root).
    Bpf,
    /// The preload library (LD_PRELOAD) and GODEBUG for Go.
    Preload,
}

/// Why the hook is not used.
#[derive(Debug)]
pub enum WhyNot {
    /// MPTCP sockets cannot be created here: nothing may be converted.
    NoMptcp(Availability),
    /// The kernel or this process cannot run the hook.
    Unsupported(String),
}

impl fmt::Display for WhyNot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WhyNot::NoMptcp(a) => write!(f, "MPTCP is not available here ({a}), so no socket may be converted"),
            WhyNot::Unsupported(s) => f.write_str(s),
        }
    }
}

/// Linux's internal ENOTSUPP, which bpf(2) can return.
const ENOTSUPP: i32 = 524;

/// A successful attach, with what -v says about it.
#[derive(Debug)]
pub struct Attached {
    /// The hook; dropping it detaches it.
    pub hook: Hook,
    /// `program id N, link id M`.
    pub ids: String,
}

/// The name of the program for the run of process `pid` (what
/// `BPF_PROG_GET_NEXT_ID` lists; 15 bytes at most).
pub fn program_name(pid: u32) -> String {
    format!("mptcprun{pid}")
}

/// Attaches the hook for this process's descendants, or says why not.
pub fn attach() -> Result<Attached, WhyNot> {
    let support = mptcp::host_support();
    if !support.is_available() {
        return Err(WhyNot::NoMptcp(support.availability));
    }
    match mptcp_bpf::in_initial_pid_namespace() {
        Ok(true) => {}
        Ok(false) => {
            return Err(WhyNot::Unsupported(
                "mptcp run is not in the initial pid namespace (a container?): the hook's process tree needs the \
                 kernel's own process ids"
                    .into(),
            ))
        }
        Err(e) => return Err(WhyNot::Unsupported(format!("cannot read /proc/self/ns/pid: {e}"))),
    }
    let kernel = Kernel::probe().map_err(|e| WhyNot::Unsupported(e.to_string()))?;
    let me = std::process::id();
    let hook = Hook::attach(&kernel, Scope::Descendants { tgid: me }, &program_name(me))
        .map_err(|e| WhyNot::Unsupported(explain(&e)))?;
    let ids = format!(
        "program id {}, link id {}",
        hook.prog_id().map(|i| i.to_string()).unwrap_or_else(|_| "?".into()),
        hook.link_id().map(|i| i.to_string()).unwrap_or_else(|_| "?".into())
    );
    Ok(Attached { hook, ids })
}

/// The error of attaching the hook, with what it means when the kernel
/// says EPERM (no privileges, or a kernel that refuses fmod_ret programs).
pub fn explain(e: &mptcp_bpf::Error) -> String {
    let hint = match e.errno() {
        Some(libc::EPERM | libc::EACCES) if may_load_tracing() => {
            "; this process may load tracing programs, so the kernel refuses fmod_ret programs themselves (no \
             BPF trampolines here: a kernel without CONFIG_FUNCTION_TRACER, or a security policy or sandbox)"
        }
        Some(libc::EPERM | libc::EACCES) => "; loading it needs root, or CAP_BPF and CAP_PERFMON",
        Some(ENOTSUPP) => "; this kernel cannot attach fmod_ret programs",
        _ => "",
    };
    format!("{e}{hint}")
}

/// Whether this process has CAP_SYS_ADMIN, or CAP_BPF and CAP_PERFMON,
/// in its effective set (`CapEff` of /proc/self/status).
fn may_load_tracing() -> bool {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else { return false };
    let Some(eff) = status.lines().find_map(|l| l.strip_prefix("CapEff:")) else { return false };
    let Ok(bits) = u64::from_str_radix(eff.trim(), 16) else { return false };
    let has = |cap: u32| bits & (1u64 << cap) != 0;
    // CAP_SYS_ADMIN 21, CAP_PERFMON 38, CAP_BPF 39.
    has(21) || (has(38) && has(39))
}
