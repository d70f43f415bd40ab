//! What this process created, and how it all goes away: on drop, on
//! SIGINT/SIGTERM/SIGHUP, and for a killed run's leftovers.
//!
//! A namespace is removed by ending every process inside it first (found by
//! comparing `/proc/PID/ns/net` with the namespace's nsfs inode: SIGTERM, a
//! short grace, SIGKILL), then deleting it. Without the first step a server
//! started with `ip netns exec` (e.g. `iperf3 -s`) outlives the namespace's
//! name, reparented to PID 1, and keeps the namespace alive.

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::atomic::AtomicU32;
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::cmd_status;

pub(crate) static COUNTER: AtomicU32 = AtomicU32::new(0);
pub(crate) const PREFIX: &str = "mptcp-";
static LIVE: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// What runs after the clean-up of a signal, before the process exits.
type Hook = Box<dyn Fn(i32) + Send + Sync>;
static HOOKS: Mutex<Vec<Hook>> = Mutex::new(Vec::new());

/// How long processes get to exit after SIGTERM, and after SIGKILL.
const TERM_GRACE: Duration = Duration::from_millis(500);
const KILL_WAIT: Duration = Duration::from_secs(3);

pub(crate) fn ns_path(name: &str) -> PathBuf {
    PathBuf::from("/run/netns").join(name)
}

pub(crate) fn register(name: &str) {
    lock().insert(name.to_string());
}

pub(crate) fn unregister(name: &str) {
    lock().remove(name);
}

fn lock() -> std::sync::MutexGuard<'static, BTreeSet<String>> {
    LIVE.lock().unwrap_or_else(|p| p.into_inner())
}

/// Names of the namespaces this process currently holds.
///
/// # Examples
///
/// ```no_run
/// let ns = mptcp_netns::Netns::new("a")?;
/// assert!(mptcp_netns::live_namespaces().contains(&ns.name().to_string()));
/// # Ok::<(), mptcp_netns::Error>(())
/// ```
pub fn live_namespaces() -> Vec<String> {
    lock().iter().cloned().collect()
}

/// Installs a SIGINT/SIGTERM/SIGHUP handler that removes every namespace this
/// process created (and the processes inside them), then exits with status
/// 128 + the signal's number (130 for SIGINT, 143 for SIGTERM). Safe to call
/// many times.
///
/// The handler runs on a thread of its own (signal-hook's iterator), so the
/// clean-up may take locks and start `ip`.
///
/// # Examples
///
/// ```no_run
/// mptcp_netns::install_signal_cleanup();
/// let ns = mptcp_netns::Netns::new("lab")?;
/// // Ctrl-C from here on removes `ns` and exits with status 130.
/// # Ok::<(), mptcp_netns::Error>(())
/// ```
pub fn install_signal_cleanup() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let mut signals = match signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("mptcp-netns: cannot install the SIGINT/SIGTERM clean-up: {e}");
                return;
            }
        };
        let spawned = std::thread::Builder::new().name("mptcp-netns-signals".into()).spawn(move || {
            if let Some(sig) = signals.forever().next() {
                cleanup_all();
                for hook in HOOKS.lock().unwrap_or_else(|p| p.into_inner()).iter() {
                    hook(sig);
                }
                std::process::exit(128 + sig);
            }
        });
        if let Err(e) = spawned {
            eprintln!("mptcp-netns: cannot start the signal clean-up thread: {e}");
        }
    });
}

/// Registers `hook` to run when a signal ends the process through
/// [`install_signal_cleanup`]: after the namespaces are removed, before the
/// process exits, with the signal's number (e.g. to print a last report).
/// Hooks run in the order they were registered, on the clean-up thread.
///
/// # Examples
///
/// ```no_run
/// mptcp_netns::install_signal_cleanup();
/// mptcp_netns::on_signal(|sig| println!("{{\"error\": \"interrupted by signal {sig}\"}}"));
/// ```
pub fn on_signal(hook: impl Fn(i32) + Send + Sync + 'static) {
    HOOKS.lock().unwrap_or_else(|p| p.into_inner()).push(Box::new(hook));
}

/// Removes every namespace this process created and still holds, ending the
/// processes inside them first.
///
/// # Examples
///
/// ```no_run
/// let ns = mptcp_netns::Netns::new("a")?;
/// std::mem::forget(ns);
/// mptcp_netns::cleanup_all();
/// assert!(mptcp_netns::live_namespaces().is_empty());
/// # Ok::<(), mptcp_netns::Error>(())
/// ```
pub fn cleanup_all() {
    let names = std::mem::take(&mut *lock());
    for n in names {
        remove_namespace(&n);
    }
}

/// Removes namespaces named `mptcp-<pid>-...` whose process no longer runs,
/// with whatever still runs inside them. Returns the names removed.
///
/// # Examples
///
/// ```no_run
/// for name in mptcp_netns::sweep_stale() {
///     eprintln!("removed {name}, left behind by a killed run");
/// }
/// ```
pub fn sweep_stale() -> Vec<String> {
    let mut removed = Vec::new();
    let Ok(dir) = std::fs::read_dir("/run/netns") else { return removed };
    for e in dir.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if sweep_one(&name) {
            removed.push(name);
        }
    }
    removed
}

/// Removes namespace `name` if it is ours (`mptcp-<pid>-...`) and its
/// process no longer runs; returns whether it did.
pub(crate) fn sweep_one(name: &str) -> bool {
    let Some(rest) = name.strip_prefix(PREFIX) else { return false };
    let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else { return false };
    !std::path::Path::new(&format!("/proc/{pid}")).exists() && remove_namespace(name)
}

/// Ends the processes inside namespace `name`, deletes it, and ends any that
/// slipped in meanwhile. Returns whether `ip netns del` succeeded.
pub(crate) fn remove_namespace(name: &str) -> bool {
    let id = NsId::of(&ns_path(name));
    if let Some(id) = id {
        end_processes_in(id);
    }
    let deleted = cmd_status(&["ip", "netns", "del", name]).map(|o| o.status.success()).unwrap_or(false);
    if let Some(id) = id {
        end_processes_in(id);
    }
    deleted
}

/// A network namespace's identity: the device and inode of its nsfs file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NsId {
    dev: u64,
    ino: u64,
}

impl NsId {
    /// Of `/run/netns/NAME` or `/proc/PID/ns/net` (the link is followed).
    pub(crate) fn of(path: &std::path::Path) -> Option<NsId> {
        std::fs::metadata(path).ok().map(|m| NsId { dev: m.dev(), ino: m.ino() })
    }
}

/// Processes (other than this one) whose network namespace is `ns`. Zombies
/// have no namespace any more and are not listed.
pub(crate) fn processes_in(ns: NsId) -> Vec<i32> {
    let me = std::process::id() as i32;
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid != me && NsId::of(&PathBuf::from(format!("/proc/{pid}/ns/net"))) == Some(ns))
        .collect()
}

/// SIGTERM to every process in `ns`, up to [`TERM_GRACE`] to exit, then
/// SIGKILL to the rest and up to [`KILL_WAIT`] until none is left. Returns
/// how many processes there were.
pub(crate) fn end_processes_in(ns: NsId) -> usize {
    let first = processes_in(ns);
    if first.is_empty() {
        return 0;
    }
    for (signal, wait) in [(Signal::SIGTERM, TERM_GRACE), (Signal::SIGKILL, KILL_WAIT)] {
        let pids = processes_in(ns);
        if pids.is_empty() {
            break;
        }
        for pid in pids {
            // ESRCH: it exited meanwhile.
            let _ = kill(Pid::from_raw(pid), signal);
        }
        let deadline = Instant::now() + wait;
        while !processes_in(ns).is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    first.len()
}
