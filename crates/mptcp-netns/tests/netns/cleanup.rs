//! Namespaces and the processes inside them go away: on drop, on SIGTERM,
//! and for a killed run's leftovers.

use std::os::unix::fs::MetadataExt;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use mptcp_netns::{cmd, require_root};

use super::*;

/// A network namespace's identity: the device and inode of its nsfs file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct NsId {
    dev: u64,
    ino: u64,
}

impl NsId {
    /// Of `/run/netns/NAME` or `/proc/PID/ns/net` (the link is followed).
    fn of(path: &std::path::Path) -> Option<NsId> {
        std::fs::metadata(path).ok().map(|m| NsId { dev: m.dev(), ino: m.ino() })
    }

    /// Of the namespace named `name`.
    fn named(name: &str) -> Option<NsId> {
        NsId::of(&PathBuf::from("/run/netns").join(name))
    }
}

/// Processes (other than this one) whose network namespace is `ns`. Zombies
/// have no namespace any more and are not listed.
fn processes_in(ns: NsId) -> Vec<i32> {
    let me = std::process::id() as i32;
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid != me && NsId::of(&PathBuf::from(format!("/proc/{pid}/ns/net"))) == Some(ns))
        .collect()
}

fn listed(name: &str) -> bool {
    let list = String::from_utf8_lossy(&cmd(&["ip", "netns", "list"]).unwrap().stdout).to_string();
    list.lines().any(|l| l.split_whitespace().next() == Some(name))
}

/// Waits until `pid` is a process inside `ns` (`ip netns exec` enters, then execs).
fn wait_inside(ns: NsId, pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !processes_in(ns).contains(&(pid as i32)) {
        assert!(Instant::now() < deadline, "process {pid} never entered the namespace");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn spawn_in(ns: &Netns, program: &str, args: &[&str]) -> Child {
    ns.command(program).args(args).stdin(Stdio::null()).stdout(Stdio::null()).spawn().expect("spawn in namespace")
}

/// The exit status of `child`, which must have ended by now (give it a
/// moment to be reaped); killed and reported otherwise.
fn ended(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("process {} still ran after its namespace was dropped", child.id());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether `pid` still runs (a zombie waiting for its parent does not).
fn running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // "pid (comm) S ...": the state follows the last ')'.
        Ok(s) => s.rsplit_once(')').and_then(|(_, r)| r.split_whitespace().next()) != Some("Z"),
        Err(_) => false,
    }
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn namespaces_are_removed_on_drop() {
    require_root();
    let a = Netns::new("a").unwrap();
    let b = Netns::new("b").unwrap();
    let names = (a.name().to_string(), b.name().to_string());
    let p = Path::new(&a, "10.77.1.1".parse().unwrap(), &b, "10.77.1.2".parse().unwrap(), 24).unwrap();
    assert_eq!(
        (p.a_addr.to_string(), p.b_addr.to_string(), p.prefix_len),
        ("10.77.1.1".into(), "10.77.1.2".into(), 24)
    );
    p.shape(10_000_000).unwrap();
    let qdisc = a.run(&["tc", "qdisc", "show", "dev", &p.a_dev]).unwrap();
    assert!(String::from_utf8_lossy(&qdisc.stdout).contains("rate 10Mbit"), "{qdisc:?}");
    // The path carries traffic: ICMP gets an answer, and a TCP connect
    // to a closed port is refused by the peer (a RST came back), not
    // timed out.
    a.run(&["ping", "-c1", "-W2", "10.77.1.2"]).expect("ping over the new path");
    let refused = a
        .in_ns(|| {
            TcpStream::connect_timeout(&"10.77.1.2:9".parse().unwrap(), Duration::from_secs(2))
                .map(|_| ())
                .map_err(|e| e.kind())
        })
        .unwrap();
    assert_eq!(refused, Err(std::io::ErrorKind::ConnectionRefused));
    drop(a);
    drop(b);
    assert!(!listed(&names.0) && !listed(&names.1), "left behind");
    assert!(!mptcp_netns::live_namespaces().contains(&names.0));
}

/// A process started inside is ended by the drop (SIGTERM), and one that
/// ignores SIGTERM is killed (SIGKILL).
#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn drop_ends_the_processes_inside() {
    require_root();
    let ns = Netns::new("procs").unwrap();
    let id = NsId::named(ns.name()).unwrap();
    let mut sleeper = spawn_in(&ns, "sleep", &["1000"]);
    // SIG_IGN survives exec: the shell and its sleep both ignore SIGTERM.
    // It says "ready" once the trap is set (before that, SIGTERM would end it).
    let mut stubborn = ns
        .command("sh")
        .args(["-c", "trap '' TERM; echo ready; while :; do sleep 1; done"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn in namespace");
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stubborn.stdout.take().unwrap()), &mut line).unwrap();
    assert_eq!(line, "ready\n");
    wait_inside(id, sleeper.id());
    let name = ns.name().to_string();
    drop(ns);
    assert_eq!(ended(&mut sleeper).signal(), Some(libc::SIGTERM));
    assert_eq!(ended(&mut stubborn).signal(), Some(libc::SIGKILL));
    assert!(processes_in(id).is_empty(), "nothing runs in the deleted namespace");
    assert!(!listed(&name));
}

/// Parent: starts this test as a child process, which creates a namespace
/// with a sleeper inside and reports both; SIGTERMs it mid-test; then checks
/// that the child exited with 143 and left neither namespace nor process.
/// With `kill_hard`, SIGKILL instead: both are left, and the sweep of stale
/// namespaces must end the process and delete the namespace.
fn killed_child(test: &str, kill_hard: bool) {
    let report = std::env::temp_dir().join(format!("mptcp-netns-test-{}-{test}", std::process::id()));
    let _ = std::fs::remove_file(&report);
    let mut child = rerun(module_path!(), test)
        .env("MPTCP_NETNS_TEST_REPORT", &report)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let text = loop {
        if let Ok(t) = std::fs::read_to_string(&report) {
            if t.ends_with('\n') {
                break t;
            }
        }
        assert!(Instant::now() < deadline, "the child never reported");
        assert!(child.try_wait().unwrap().is_none(), "the child exited early");
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = std::fs::remove_file(&report);
    let (name, pid) = text.trim().split_once(' ').unwrap();
    let pid: u32 = pid.parse().unwrap();
    let id = NsId::named(name).expect("the child's namespace exists");
    assert!(processes_in(id).contains(&(pid as i32)));

    use nix::sys::signal::{kill, Signal};
    let sig = if kill_hard { Signal::SIGKILL } else { Signal::SIGTERM };
    kill(nix::unistd::Pid::from_raw(child.id() as i32), sig).unwrap();
    let status = child.wait().unwrap();
    if kill_hard {
        assert_eq!(status.signal(), Some(libc::SIGKILL));
        assert!(listed(name) && running(pid), "a SIGKILLed run leaves its namespace and processes");
        let swept = mptcp_netns::sweep_stale();
        assert!(swept.iter().any(|n| n == name), "the sweep removes the namespace of a dead run: {swept:?}");
    } else {
        assert_eq!(status.code(), Some(128 + libc::SIGTERM), "exit status after SIGTERM");
    }
    assert!(!listed(name), "namespace {name} left behind");
    assert!(processes_in(id).is_empty(), "a process still runs in the deleted namespace");
    // The sleeper was the child's child: now dead, or a zombie about to be reaped by PID 1.
    assert!(!running(pid), "sleeper {pid} still runs");
}

/// Child part of the two tests below: a namespace, a sleeper inside, a
/// report, then wait to be killed.
fn hold_until_killed() {
    let ns = Netns::new("victim").unwrap();
    let mut sleeper = spawn_in(&ns, "sleep", &["1000"]);
    wait_inside(NsId::named(ns.name()).unwrap(), sleeper.id());
    let report = std::env::var_os("MPTCP_NETNS_TEST_REPORT").expect("report file");
    std::fs::write(report, format!("{} {}\n", ns.name(), sleeper.id())).unwrap();
    std::thread::sleep(Duration::from_secs(120));
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    panic!("not killed within 120 s");
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn sigterm_mid_test_leaves_nothing() {
    require_root();
    if is_child() {
        hold_until_killed();
    }
    killed_child("sigterm_mid_test_leaves_nothing", false);
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn sweep_ends_processes_of_a_killed_run() {
    require_root();
    if is_child() {
        hold_until_killed();
    }
    killed_child("sweep_ends_processes_of_a_killed_run", true);
}

/// `Netns::sysctl` writes the namespace's own value, not the host's.
#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn sysctl_is_per_namespace() {
    require_root();
    let host = std::fs::read_to_string("/proc/sys/net/mptcp/enabled").unwrap();
    let ns = Netns::new("sysctl").unwrap();
    assert_eq!(ns.sysctl_get("net.mptcp.enabled").unwrap(), "1", "a new namespace starts enabled");
    ns.sysctl("net.mptcp.enabled", "0").unwrap();
    assert_eq!(ns.sysctl_get("net.mptcp.enabled").unwrap(), "0");
    assert_eq!(std::fs::read_to_string("/proc/sys/net/mptcp/enabled").unwrap(), host);
    let e = ns.sysctl("net.mptcp.no_such_key", "1").unwrap_err();
    assert!(e.to_string().contains("net.mptcp.no_such_key"), "{e}");
}
