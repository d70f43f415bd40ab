//! Watching the program's sockets from outside, for `mptcp run --report`.
//!
//! Programs that make system calls directly (Go, with MPTCP through
//! `GODEBUG=multipathtcp=1`) never reach the preload library, and a process
//! whose report file is out of reach (it changed its user) records nothing.
//! So while the program runs, and once more after it exits, a thread
//! samples the kernel's view: the processes of the run (the program, and
//! every process whose environment carries this run's
//! `MPTCP_PRELOAD_REPORT=<file>`, which children inherit even when they
//! leave the process tree), the socket inodes in their `/proc/PID/fd`, and
//! the MPTCP sockets inet_diag lists in this network namespace
//! (`mptcp::diag`). An MPTCP socket of the run counts as what its
//! `mptcp_info.flags` say (`mptcp::info::MptcpInfoFlags::status`): a
//! fallback, or MPTCP once the peer's key arrived; listeners and sockets
//! still in their handshake do not count.
//! Connections that open and close between two samples are not seen.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::ffi::OsString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use mptcp::MptcpStatus;

use super::records::Outcome;

/// How often the kernel's view is sampled.
pub const INTERVAL: Duration = Duration::from_millis(50);

/// `TCP_LISTEN`.
const LISTEN: u8 = 10;

/// What the samples saw.
#[derive(Debug, Default)]
pub struct Observed {
    /// Outcome per socket inode (the last sample's).
    pub outcomes: HashMap<u64, Outcome>,
    /// Processes that held one of those sockets.
    pub pids: BTreeSet<u32>,
    /// Why the kernel's socket table could not be read, if it could not.
    pub error: Option<String>,
}

/// The sampling thread.
#[derive(Debug)]
pub struct Observer {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Observed>,
}

impl Observer {
    /// Starts sampling the run of process `child`: its processes are the
    /// descendants of this process (`mptcp run`, a child subreaper with
    /// `--via bpf`) and those that carry `marker` (`NAME=value`) in their
    /// environment.
    pub fn start(child: u32, marker: Option<OsString>) -> Observer {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = std::thread::spawn(move || {
            let mut state = Sampler {
                child,
                root: std::process::id(),
                marker: marker.map(|m| m.as_bytes().to_vec()).unwrap_or_default(),
                ..Sampler::default()
            };
            loop {
                let last = flag.load(Ordering::Acquire);
                state.sample();
                if last || state.seen.error.is_some() {
                    return state.seen;
                }
                std::thread::sleep(INTERVAL);
            }
        });
        Observer { stop, handle }
    }

    /// Takes a last sample (the program has exited; processes it left behind
    /// may still run) and returns what all samples saw.
    pub fn finish(self) -> Observed {
        self.stop.store(true, Ordering::Release);
        self.handle
            .join()
            .unwrap_or_else(|_| Observed { error: Some("the sampling thread failed".into()), ..Observed::default() })
    }
}

#[derive(Debug, Default)]
struct Sampler {
    child: u32,
    /// The process whose descendants belong to the run (0: none).
    root: u32,
    /// `MPTCP_PRELOAD_REPORT=<file>`.
    marker: Vec<u8>,
    /// Whether each pid seen belongs to the run (decided once per process).
    members: HashMap<u32, bool>,
    seen: Observed,
}

impl Sampler {
    fn sample(&mut self) {
        let sockets = self.socket_inodes();
        if sockets.is_empty() {
            return;
        }
        let mut listed = Vec::new();
        for family in mptcp::diag::AddressFamily::ALL {
            match mptcp::diag::mptcp_sockets(family) {
                Ok(v) => listed.extend(v),
                Err(e) => {
                    self.seen.error = Some(format!("inet_diag: {e}"));
                    return;
                }
            }
        }
        for s in listed {
            let Some(&pid) = sockets.get(&u64::from(s.inode)) else { continue };
            if s.state == LISTEN {
                continue;
            }
            // What the kernel's flags say; nothing yet while the handshake runs.
            let outcome = match s.info.as_ref().and_then(|i| i.flags).and_then(|f| f.status()) {
                Some(MptcpStatus::Fallback) => Outcome::Fallback,
                Some(MptcpStatus::Mptcp) => Outcome::Mptcp,
                _ => continue,
            };
            self.seen.outcomes.insert(u64::from(s.inode), outcome);
            self.seen.pids.insert(pid);
        }
    }

    /// Socket inodes held by the run's processes, with a pid holding each.
    fn socket_inodes(&mut self) -> HashMap<u64, u32> {
        let mut out = HashMap::new();
        let Ok(dir) = fs::read_dir("/proc") else { return out };
        let mut alive = HashSet::new();
        for entry in dir.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
            alive.insert(pid);
            let member = match self.members.get(&pid) {
                Some(m) => *m,
                None => {
                    let m = pid == self.child || self.descends_from_root(pid) || self.carries_marker(pid);
                    self.members.insert(pid, m);
                    m
                }
            };
            if member {
                collect_sockets(pid, &mut out);
            }
        }
        // Forget exited processes, so that a reused pid is looked at anew.
        self.members.retain(|pid, _| alive.contains(pid));
        out
    }

    /// Whether `root` is among the first 64 ancestors of `pid`.
    fn descends_from_root(&self, pid: u32) -> bool {
        if self.root == 0 {
            return false;
        }
        let mut p = pid;
        for _ in 0..64 {
            match parent_of(p) {
                Some(pp) if pp == self.root => return true,
                Some(pp) if pp > 1 => p = pp,
                _ => return false,
            }
        }
        false
    }

    fn carries_marker(&self, pid: u32) -> bool {
        if self.marker.is_empty() {
            return false;
        }
        let Ok(env) = fs::read(format!("/proc/{pid}/environ")) else { return false };
        env.split(|b| *b == 0).any(|var| var == self.marker.as_slice())
    }
}

/// Adds the socket inodes in `/proc/<pid>/fd` (`socket:[N]`) to `out`.
fn collect_sockets(pid: u32, out: &mut HashMap<u64, u32>) {
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else { return };
    for fd in fds.flatten() {
        if let Some(ino) = fs::read_link(fd.path()).ok().and_then(|t| socket_inode(t.as_os_str().as_bytes())) {
            out.entry(ino).or_insert(pid);
        }
    }
}

/// The parent of `pid` (field 4 of `/proc/PID/stat`, after the command
/// name in parentheses, which may itself hold spaces and parentheses).
fn parent_of(pid: u32) -> Option<u32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// `socket:[12345]` -> 12345.
fn socket_inode(link: &[u8]) -> Option<u64> {
    let digits = link.strip_prefix(b"socket:[")?.strip_suffix(b"]")?;
    std::str::from_utf8(digits).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_links() {
        assert_eq!(socket_inode(b"socket:[12345]"), Some(12345));
        assert_eq!(socket_inode(b"pipe:[12345]"), None);
        assert_eq!(socket_inode(b"/dev/null"), None);
        assert_eq!(socket_inode(b"socket:[x]"), None);
    }

    #[test]
    fn own_sockets_are_found_by_pid_and_marker() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let ino = std::os::unix::fs::MetadataExt::ino(
            &fs::metadata(format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&listener))).unwrap(),
        );
        let me = std::process::id();
        let mut by_pid = Sampler { child: me, marker: b"NO_SUCH_MARKER=1".to_vec(), ..Sampler::default() };
        assert_eq!(parent_of(me), Some(std::os::unix::process::parent_id()));
        // A child of ours is found as a descendant.
        let mut sleeper = std::process::Command::new("sleep").arg("5").spawn().unwrap();
        let by_tree = Sampler { root: me, ..Sampler::default() };
        assert!(by_tree.descends_from_root(sleeper.id()));
        assert!(!by_tree.descends_from_root(me));
        let _ = sleeper.kill();
        let _ = sleeper.wait();
        assert_eq!(by_pid.socket_inodes().get(&ino), Some(&me));
        let (k, v) = std::env::vars_os().next().expect("the test process has an environment");
        let mut var = k;
        var.push("=");
        var.push(v);
        // Our own environment carries its first variable.
        let mut by_env = Sampler { child: 0, marker: var.as_bytes().to_vec(), ..Sampler::default() };
        assert_eq!(by_env.socket_inodes().get(&ino), Some(&me));
    }
}
