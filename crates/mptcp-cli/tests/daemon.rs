//! Tests of `mptcp daemon` (issue 13) as a process, in namespaces: bad
//! input and exit statuses, the systemd protocol (READY, RELOADING,
//! STOPPING), SIGHUP and SIGTERM, `mptcp daemon status`, the metrics
//! endpoint scraped and parsed strictly as Prometheus text, and a daemon
//! killed with SIGKILL and started again (reconcile). The policy itself is
//! tested in crates/mptcp-daemon/tests.
//!
//! Namespace tests need root: they are `#[ignore]`d, so a plain `cargo test`
//! counts them as ignored; run them with `-- --include-ignored` as root
//! (scripts/test.sh does). Needs iproute2 and util-linux (`setpriv`).
//! Addresses: 10.80.0.0/16, only inside namespaces created here.
//!
//! ```text
//! cargo test -p mptcp-cli --test daemon -- --include-ignored
//! ```

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use common::Proc;
use mptcp::{MptcpListenerExt, MptcpStreamExt};
use mptcp_netns::{Netns, Path};
use serde_json::Value;

const MPTCP: &str = env!("CARGO_BIN_EXE_mptcp");

#[path = "../../../tests/kernels/expect.rs"]
mod expect;

/// A host namespace with two paths to a peer and a default route.
struct Host {
    ns: Netns,
    peer: Netns,
    _paths: Vec<Path>,
    dir: PathBuf,
}

impl Host {
    fn new(tag: &str) -> Host {
        mptcp_netns::require_root();
        let ns = Netns::new("dhost").unwrap();
        let peer = Netns::new("dpeer").unwrap();
        let paths = (0..2)
            .map(|i| {
                Path::new(
                    &ns,
                    format!("10.{}.0.1", 80 + i).parse().unwrap(),
                    &peer,
                    format!("10.{}.0.2", 80 + i).parse().unwrap(),
                    24,
                )
                .unwrap()
            })
            .collect();
        ns.ip(&["route", "add", "default", "via", "10.80.0.2"]).unwrap();
        let dir = std::env::temp_dir().join(format!("mptcp-cli-daemon-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Host { ns, peer, _paths: paths, dir }
    }

    fn runtime(&self) -> String {
        self.dir.join("run").display().to_string()
    }

    fn write_config(&self, text: &str) -> String {
        let p = self.dir.join("daemon.toml");
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    }

    fn run(&self, args: &[&str]) -> Output {
        self.ns.command(MPTCP).args(args).stdin(Stdio::null()).output().expect("run mptcp")
    }

    /// Starts `mptcp daemon ARGS` in the namespace.
    fn start(&self, args: &[&str], env: &[(&str, &str)]) -> Daemon {
        let mut c = self.ns.command(MPTCP);
        c.arg("daemon").args(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        for (k, v) in env {
            c.env(k, v);
        }
        Daemon(Proc::spawn(&mut c))
    }

    /// `ip -j mptcp endpoint show` as "ADDR dev DEV FLAGS..." strings.
    fn endpoints(&self) -> BTreeSet<String> {
        let o = self.ns.run(&["ip", "-j", "mptcp", "endpoint", "show"]).unwrap();
        let text = String::from_utf8_lossy(&o.stdout);
        let v: Vec<Value> = if text.trim().is_empty() { vec![] } else { serde_json::from_str(&text).unwrap() };
        v.iter()
            .map(|e| {
                // iproute2 prints each flag as a boolean key.
                let flags: Vec<&str> = ["signal", "subflow", "backup", "fullmesh", "laminar"]
                    .into_iter()
                    .filter(|f| e[*f] == true)
                    .collect();
                format!(
                    "{} dev {} {}",
                    e["address"].as_str().unwrap(),
                    e["dev"].as_str().unwrap_or(""),
                    flags.join(" ")
                )
            })
            .collect()
    }

    fn expect_endpoints(&self, want: &[&str]) {
        let want: BTreeSet<String> = want.iter().map(|s| s.to_string()).collect();
        let end = Instant::now() + Duration::from_secs(10);
        while self.endpoints() != want {
            assert!(Instant::now() < end, "endpoints: want {want:?}, got {:?}", self.endpoints());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The status once a daemon answers (a new one may still be starting,
    /// behind the socket file of one that was killed).
    fn wait_status(&self) -> Value {
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            let o = self.run(&["daemon", "status", "--json", "--runtime-dir", &self.runtime()]);
            if o.status.success() {
                return serde_json::from_slice(&o.stdout).unwrap();
            }
            assert!(Instant::now() < end, "status: {}", String::from_utf8_lossy(&o.stderr));
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn status_json(&self) -> Value {
        let o = self.run(&["daemon", "status", "--json", "--runtime-dir", &self.runtime()]);
        assert!(o.status.success(), "status: {}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice(&o.stdout).unwrap()
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A daemon process, killed if the test ends first.
struct Daemon(Proc);

impl Daemon {
    fn signal(&self, sig: &str) {
        assert!(self.0.signal(sig), "kill -{sig} {}", self.0.pid());
    }

    /// Waits for the exit; returns the status code and stderr.
    fn wait(self) -> (Option<i32>, String) {
        let (status, _, err) = self.0.wait(Duration::from_secs(10));
        let status = status.unwrap_or_else(|| panic!("mptcp daemon did not exit: {err}"));
        (status.code(), err)
    }
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn bad_input_exits_before_touching_anything() {
    let h = Host::new("bad");
    let run = h.runtime();
    let cfg = h.write_config("manage = \"own\"\n\n[limits]\nsubflows = 12\n");
    let o = h.run(&["daemon", "--config", &cfg, "--runtime-dir", &run]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains(&format!("{cfg}:4: key `limits.subflows`: 12 is above the kernel's maximum of 8")), "{err}");
    assert!(!std::path::Path::new(&run).exists(), "the runtime directory was created");
    assert!(h.endpoints().is_empty());
    let cfg = h.write_config("[[interface]]\nname = \"eth*\"\nflags = [\"subflow\", \"bakup\"]\n");
    let o = h.run(&["daemon", "--config", &cfg, "--runtime-dir", &run]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains(":3: key `interface.flags`: unknown flag \"bakup\""), "{err}");
    for args in [
        vec!["daemon", "--config", "/nonexistent/daemon.toml"],
        vec!["daemon", "--metrics", "localhost", "--runtime-dir", &run],
        // A bare port would listen on every interface: the address is asked for.
        vec!["daemon", "--metrics", ":9477", "--runtime-dir", &run],
        vec!["daemon", "--runtime-dir", "relative/dir"],
        vec!["daemon", "--bogus"],
    ] {
        let o = h.run(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    }
    let o = h.run(&["daemon", "--metrics", ":9477", "--runtime-dir", &run]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("127.0.0.1:9477") && err.contains("0.0.0.0:9477"), "{err}");
    assert!(!std::path::Path::new(&run).exists());
    assert!(h.endpoints().is_empty());

    // An interface that does not exist (yet) is fine; `check` shows the plan.
    let cfg = h.write_config("[[interface]]\nname = \"wwan*\"\nflags = [\"subflow\", \"backup\"]\n");
    let o = h.run(&["daemon", "check", "--config", &cfg]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.contains("10.80.0.1 dev p0 subflow") && out.contains("10.81.0.1 dev p1 subflow"), "{out}");
    assert!(out.contains("link-local address"), "{out}");
    // Without CAP_NET_ADMIN: exit 1, saying so.
    let mut v = vec!["setpriv", "--inh-caps=-net_admin", "--bounding-set=-net_admin", MPTCP];
    v.extend(["daemon", "--config", &cfg, "--runtime-dir", &run]);
    let o = h.ns.run_status(&v).unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("CAP_NET_ADMIN"), "{err}");
    // MPTCP disabled: exit 1 naming the sysctl.
    h.ns.sysctl("net.mptcp.enabled", "0").unwrap();
    let o = h.run(&["daemon", "--config", &cfg, "--runtime-dir", &run]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("net.mptcp.enabled=0") && err.contains("wait_for_mptcp"), "{err}");
    assert!(h.endpoints().is_empty());
    // No daemon: status says where it looked.
    let o = h.run(&["daemon", "status", "--runtime-dir", &run]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no mptcp daemon answers on"));
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn systemd_protocol_reload_status_and_stop() {
    let h = Host::new("sd");
    let run = h.runtime();
    let cfg = h.write_config("on_exit = \"flush\"\n");
    let notify_path = h.dir.join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let recv = || {
        let mut buf = [0u8; 512];
        let n = notify.recv(&mut buf).expect("a message on NOTIFY_SOCKET");
        String::from_utf8_lossy(&buf[..n]).to_string()
    };
    let d = h.start(&["--config", &cfg, "--runtime-dir", &run], &[("NOTIFY_SOCKET", notify_path.to_str().unwrap())]);
    let ready = recv();
    assert!(ready.contains("READY=1"), "{ready}");
    // Ready means reconciled: the endpoints are there.
    assert_eq!(h.endpoints(), ["10.80.0.1 dev p0 subflow", "10.81.0.1 dev p1 subflow"].map(String::from).into());

    let st = h.status_json();
    assert_eq!(st["state"], "running");
    assert_eq!(st["config"], cfg.as_str());
    let p0 = st["interfaces"].as_array().unwrap().iter().find(|i| i["name"] == "p0").unwrap();
    assert!(p0["addresses"].as_array().unwrap().iter().any(|a| a["addr"] == "10.80.0.1/24" && a["endpoint"] == true));
    assert!(st["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["owner"] == "daemon" && e["why"].as_str().unwrap().contains("up, carrier")));
    let o = h.run(&["daemon", "status", "--runtime-dir", &run]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("state: running") && text.contains("add endpoint id"), "{text}");

    // SIGHUP with a new configuration: p1's endpoint becomes a backup one.
    h.write_config("on_exit = \"flush\"\n[[interface]]\nname = \"p1\"\nflags = [\"subflow\", \"backup\"]\n");
    d.signal("HUP");
    assert!(recv().contains("RELOADING=1"));
    assert!(recv().contains("READY=1"));
    assert_eq!(h.endpoints(), ["10.80.0.1 dev p0 subflow", "10.81.0.1 dev p1 subflow backup"].map(String::from).into());
    // A broken file on SIGHUP is refused; the daemon keeps running.
    h.write_config("manage = \"nobody's\"\n");
    d.signal("HUP");
    assert!(recv().contains("RELOADING=1"));
    assert!(recv().contains("READY=1"));
    h.ns.ip(&["link", "set", "p1", "down"]).unwrap();
    h.expect_endpoints(&["10.80.0.1 dev p0 subflow"]);

    d.signal("TERM");
    assert!(recv().contains("STOPPING=1"));
    let (code, err) = d.wait();
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("reload refused") && err.contains("key `manage`"), "{err}");
    assert!(h.endpoints().is_empty(), "on_exit = \"flush\" leaves nothing: {:?}", h.endpoints());
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn killed_and_restarted_it_reconciles() {
    let h = Host::new("kill");
    let run = h.runtime();
    let d = h.start(&["--runtime-dir", &run], &[]);
    h.expect_endpoints(&["10.80.0.1 dev p0 subflow", "10.81.0.1 dev p1 subflow"]);
    d.signal("KILL");
    let _ = d.wait();
    // Meanwhile: p1 goes down, p0 gets another address, someone adds an
    // endpoint of their own.
    h.ns.ip(&["link", "set", "p1", "down"]).unwrap();
    h.ns.ip(&["addr", "add", "10.80.0.9/24", "dev", "p0"]).unwrap();
    h.ns.ip(&["mptcp", "endpoint", "add", "192.0.2.1", "signal"]).unwrap();
    let d = h.start(&["--runtime-dir", &run], &[]);
    // Its endpoint on the dead link is gone (the state file said it was
    // its own); the new address has one; the other endpoint stays.
    h.expect_endpoints(&["10.80.0.1 dev p0 subflow", "10.80.0.9 dev p0 subflow", "192.0.2.1 dev  signal"]);
    let st = h.status_json();
    let others: Vec<&Value> = st["endpoints"].as_array().unwrap().iter().filter(|e| e["owner"] == "other").collect();
    assert_eq!(others.len(), 1, "{st:#}");
    d.signal("TERM");
    let (code, err) = d.wait();
    assert_eq!(code, Some(0), "{err}");
    // on_exit = "keep" (default).
    assert_eq!(h.endpoints().len(), 3);
}

/// Waits until every thread of `pid` is traced (strace attached to all).
fn wait_traced(pid: u32) {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let traced = std::fs::read_dir(format!("/proc/{pid}/task")).is_ok_and(|tasks| {
            tasks.flatten().all(|t| {
                std::fs::read_to_string(t.path().join("status")).is_ok_and(|st| {
                    st.lines().any(|l| l.starts_with("TracerPid:") && l.split_whitespace().nth(1) != Some("0"))
                })
            })
        });
        if traced {
            return;
        }
        assert!(Instant::now() < end, "strace did not attach to {pid}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// kill -9 between adding an endpoint and saving the state (issue 21, item
/// 8), reproduced as reported: strace kills the daemon at its Nth rename
/// (`state.json`'s) while an address's endpoint is being added. Wherever it
/// died, the restarted daemon (manage = "own") counts that endpoint as its
/// own and deletes it when the address goes: no orphan is left.
#[test]
#[ignore = "needs root: network namespaces and strace (scripts/test.sh runs it)"]
fn killed_while_adding_an_endpoint_it_still_owns_it() {
    use std::os::unix::process::ExitStatusExt;
    let h = Host::new("intent");
    let run = h.runtime();
    let mut killed_after_the_add = false;
    for when in 1..=2 {
        let d = h.start(&["--runtime-dir", &run], &[]);
        h.expect_endpoints(&["10.80.0.1 dev p0 subflow", "10.81.0.1 dev p1 subflow"]);
        let _ = h.wait_status(); // answered once the start-up state is saved
        let inject = format!("inject=rename,renameat,renameat2:signal=SIGKILL:when={when}");
        let pid = d.0.pid().to_string();
        let mut strace = std::process::Command::new("strace");
        strace.args(["-f", "-qq", "-o", "/dev/null", "-e", "trace=rename,renameat,renameat2", "-e", &inject]);
        strace.args(["-p", &pid]).stdout(Stdio::null()).stderr(Stdio::null());
        let tracer = Proc::spawn(&mut strace); // strace missing: this test fails, it does not pass
        wait_traced(d.0.pid());
        h.ns.ip(&["addr", "add", "10.80.0.9/24", "dev", "p0"]).unwrap();
        let (status, _, err) = d.0.wait(Duration::from_secs(10));
        assert_eq!(status.and_then(|s| s.signal()), Some(libc::SIGKILL), "rename {when} did not kill it: {err}");
        drop(tracer);
        killed_after_the_add |= h.endpoints().contains("10.80.0.9 dev p0 subflow");

        let d = h.start(&["--runtime-dir", &run], &[]);
        h.expect_endpoints(&["10.80.0.1 dev p0 subflow", "10.80.0.9 dev p0 subflow", "10.81.0.1 dev p1 subflow"]);
        let st = h.wait_status();
        let endpoints = st["endpoints"].as_array().unwrap();
        assert!(endpoints.iter().all(|e| e["owner"] == "daemon"), "killed at rename {when}: {st:#}");
        h.ns.ip(&["addr", "del", "10.80.0.9/24", "dev", "p0"]).unwrap();
        h.expect_endpoints(&["10.80.0.1 dev p0 subflow", "10.81.0.1 dev p1 subflow"]);
        d.signal("TERM");
        assert_eq!(d.wait().0, Some(0));
    }
    assert!(killed_after_the_add, "no kill fell between the add and the state's save: the test missed its case");
}

/// `mptcp daemon status` during the start-up reconcile: it waits for the
/// daemon's first status instead of answering an empty one. strace slows
/// every rename (the state file's saves) by 700 ms, so the endpoints exist
/// well before the start-up is over.
#[test]
#[ignore = "needs root: network namespaces and strace (scripts/test.sh runs it)"]
fn status_during_start_up_waits_for_it() {
    let h = Host::new("early");
    let run = h.runtime();
    let mut c = h.ns.command("strace");
    c.args(["-f", "-qq", "-o", "/dev/null", "-e", "trace=rename,renameat,renameat2"]);
    c.args(["-e", "inject=rename,renameat,renameat2:delay_enter=700000", MPTCP, "daemon", "--runtime-dir", &run]);
    c.stdout(Stdio::null()).stderr(Stdio::null());
    let tracer = Proc::spawn(&mut c); // strace missing: this test fails, it does not pass
    h.expect_endpoints(&["10.80.0.1 dev p0 subflow", "10.81.0.1 dev p1 subflow"]);
    let st = h.status_json();
    assert!(st["pid"].as_u64().unwrap_or(0) != 0 && st["state"] == "running", "{st:#}");
    assert_eq!(st["endpoints"].as_array().map(Vec::len), Some(2), "{st:#}");
    // Stop the daemon (strace's child) with SIGTERM; strace ends with it.
    let children = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", tracer.pid())).unwrap();
    let daemon = children.split_whitespace().next().expect("strace's child, the daemon");
    assert!(std::process::Command::new("kill").args(["-TERM", daemon]).status().unwrap().success());
    let (status, _, _) = tracer.wait(Duration::from_secs(10));
    assert!(status.is_some(), "strace and the daemon did not stop");
}

/// One parsed sample.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A strict parser of the Prometheus text exposition format (0.0.4):
/// HELP and TYPE at most once per family and before its samples, valid
/// names, escaped label values, numeric values, no duplicate series,
/// counters named `_total`, histograms with cumulative buckets ending in
/// `+Inf` equal to `_count`.
fn parse_exposition(text: &str) -> Vec<Sample> {
    fn is_name(s: &str, colon: bool) -> bool {
        let mut c = s.chars();
        matches!(c.next(), Some(x) if x.is_ascii_alphabetic() || x == '_' || (colon && x == ':'))
            && c.all(|x| x.is_ascii_alphanumeric() || x == '_' || (colon && x == ':'))
    }
    assert!(text.ends_with('\n'), "exposition must end with a newline");
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut helps = BTreeSet::new();
    let mut seen_samples_of = BTreeSet::new();
    let mut series = BTreeSet::new();
    let mut out = Vec::new();
    for line in text.lines() {
        assert!(!line.is_empty(), "empty line");
        if let Some(rest) = line.strip_prefix("# ") {
            let mut it = rest.splitn(3, ' ');
            let (kw, name, arg) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap_or(""));
            assert!(is_name(name, true), "bad name in {line}");
            assert!(!seen_samples_of.contains(name), "{kw} after samples of {name}");
            match kw {
                "HELP" => assert!(helps.insert(name.to_string()), "HELP twice for {name}"),
                "TYPE" => {
                    assert!(["counter", "gauge", "histogram", "summary", "untyped"].contains(&arg), "{line}");
                    assert!(types.insert(name.to_string(), arg.to_string()).is_none(), "TYPE twice for {name}");
                }
                _ => panic!("unknown comment {line}"),
            }
            continue;
        }
        let (name, rest) = match line.find(['{', ' ']) {
            Some(i) => line.split_at(i),
            None => panic!("no value: {line}"),
        };
        assert!(is_name(name, true), "bad metric name {name}");
        let mut labels = BTreeMap::new();
        let value_part = if let Some(body) = rest.strip_prefix('{') {
            let b = body.as_bytes();
            let mut i = 0;
            loop {
                assert!(i < b.len(), "unterminated labels: {line}");
                if b[i] == b'}' {
                    break;
                }
                let eq = body[i..].find('=').unwrap_or_else(|| panic!("label without =: {line}")) + i;
                let lname = &body[i..eq];
                assert!(is_name(lname, false), "bad label name {lname} in {line}");
                assert_eq!(b.get(eq + 1), Some(&b'"'), "label value not quoted: {line}");
                let mut val = String::new();
                i = eq + 2;
                loop {
                    match b.get(i) {
                        Some(b'\\') => {
                            val.push(match b.get(i + 1) {
                                Some(b'\\') => '\\',
                                Some(b'"') => '"',
                                Some(b'n') => '\n',
                                _ => panic!("bad escape in {line}"),
                            });
                            i += 2;
                        }
                        Some(b'"') => break,
                        Some(_) => {
                            let ch = body[i..].chars().next().unwrap();
                            val.push(ch);
                            i += ch.len_utf8();
                        }
                        None => panic!("unterminated label value: {line}"),
                    }
                }
                assert!(labels.insert(lname.to_string(), val).is_none(), "label twice: {line}");
                i += 1;
                match b.get(i) {
                    Some(b',') => i += 1,
                    Some(b'}') => {}
                    _ => panic!("expected , or }} after a label: {line}"),
                }
            }
            &body[i + 1..]
        } else {
            rest
        };
        let mut parts = value_part.trim_start_matches(' ').split(' ');
        let v = parts.next().unwrap();
        let value = match v {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            _ => v.parse().unwrap_or_else(|_| panic!("bad value {v} in {line}")),
        };
        if let Some(ts) = parts.next() {
            ts.parse::<i64>().unwrap_or_else(|_| panic!("bad timestamp in {line}"));
        }
        assert!(parts.next().is_none(), "trailing text: {line}");
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|f| types.get(*f).map(String::as_str) == Some("histogram")))
            .unwrap_or(name);
        let kind = types.get(family).unwrap_or_else(|| panic!("sample before its TYPE: {line}"));
        if kind == "counter" {
            assert!(name.ends_with("_total"), "counter not named _total: {name}");
            assert!(value >= 0.0, "negative counter {line}");
        }
        seen_samples_of.insert(family.to_string());
        assert!(series.insert(format!("{name}{labels:?}")), "duplicate series {line}");
        out.push(Sample { name: name.to_string(), labels, value });
    }
    // Histograms: cumulative buckets, +Inf equals _count.
    for (family, kind) in &types {
        if kind != "histogram" {
            continue;
        }
        let mut by_series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
        for s in out.iter().filter(|s| s.name == format!("{family}_bucket")) {
            let mut l = s.labels.clone();
            let le = l.remove("le").expect("bucket without le");
            let le = if le == "+Inf" { f64::INFINITY } else { le.parse().unwrap() };
            by_series.entry(format!("{l:?}")).or_default().push((le, s.value));
        }
        for (key, buckets) in by_series {
            assert!(buckets.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1), "{family}{key}: {buckets:?}");
            assert_eq!(buckets.last().unwrap().0, f64::INFINITY);
            let count =
                out.iter().find(|s| s.name == format!("{family}_count") && format!("{:?}", s.labels) == key).unwrap();
            assert_eq!(buckets.last().unwrap().1, count.value);
        }
    }
    out
}

fn http_get(ns: &Netns, method: &str, path: &str) -> (String, String) {
    let req = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nAccept: text/plain\r\n\r\n");
    ns.in_ns(move || {
        let mut s = TcpStream::connect("127.0.0.1:9477").unwrap();
        s.write_all(req.as_bytes()).unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).unwrap();
        let (head, body) = resp.split_once("\r\n\r\n").unwrap();
        (head.to_string(), body.to_string())
    })
    .unwrap()
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| s.name == name && labels.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v)))
        .map(|s| s.value)
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn metrics_are_prometheus_text() {
    let h = Host::new("metrics");
    let run = h.runtime();
    let d = h.start(&["--runtime-dir", &run, "--metrics", "127.0.0.1:9477"], &[]);
    h.expect_endpoints(&["10.80.0.1 dev p0 subflow", "10.81.0.1 dev p1 subflow"]);
    // An MPTCP connection inside the namespace, so that counters move.
    let listener = h.ns.in_ns(|| TcpListener::bind_mptcp("127.0.0.1:7000").unwrap()).unwrap();
    let mut c = h.ns.in_ns(|| TcpStream::connect_mptcp("127.0.0.1:7000").unwrap()).unwrap();
    let (mut s, _) = listener.accept().unwrap();
    c.write_all(b"ping").unwrap();
    let mut b = [0u8; 4];
    s.read_exact(&mut b).unwrap();
    h.ns.ip(&["link", "set", "p1", "down"]).unwrap();
    h.expect_endpoints(&["10.80.0.1 dev p0 subflow"]);

    // The daemon publishes its counters once its pass is over (the delete
    // of id 0 and the state file come after the endpoint's delete).
    let end = Instant::now() + Duration::from_secs(10);
    let (head, body) = loop {
        let (head, body) = http_get(&h.ns, "GET", "/metrics");
        if body.contains("mptcp_daemon_actions_total{op=\"delete id 0\",result=\"ok\"} 1") || Instant::now() > end {
            break (head, body);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8"), "{head}");
    assert!(head.contains(&format!("Content-Length: {}", body.len())), "{head}");
    let m = parse_exposition(&body);
    assert!(value(&m, "mptcp_netstat_total", &[("counter", "MPCapableSYNTX")]).unwrap() >= 1.0);
    assert!(value(&m, "mptcp_netstat_total", &[("counter", "MPCapableSYNRX")]).unwrap() >= 1.0);
    assert!(value(&m, "mptcp_netstat_total", &[("counter", "MPCapableFallbackACK")]).is_some());
    // MPCurrEstab is not in every kernel's MPTcpExt (not in 6.1: the kernel
    // matrix's MPTCP_EXPECT curr_estab=no, checked by its probe): the
    // gauge is left out there, not made up.
    let established = value(&m, "mptcp_netstat_current_established", &[]);
    if expect::get("curr_estab").as_deref() == Some("no") {
        assert_eq!(established, None, "MPCurrEstab is not in this kernel");
    } else {
        assert!(established.unwrap() >= 1.0, "MPCurrEstab {established:?}");
    }
    assert!(value(&m, "mptcp_sockets", &[("state", "listen")]).unwrap() >= 1.0);
    assert!(value(&m, "mptcp_sockets", &[("state", "established")]).unwrap() >= 2.0);
    assert_eq!(value(&m, "mptcp_sockets_fallback", &[]), Some(0.0));
    assert!(value(&m, "mptcp_subflows", &[("interface", "lo")]).unwrap() >= 2.0);
    assert_eq!(value(&m, "mptcp_endpoints", &[("interface", "p0"), ("owner", "daemon")]), Some(1.0));
    assert_eq!(value(&m, "mptcp_endpoints", &[("interface", "p1"), ("owner", "daemon")]), None);
    assert_eq!(value(&m, "mptcp_limit", &[("limit", "subflows")]), Some(2.0));
    assert_eq!(value(&m, "mptcp_enabled", &[]), Some(1.0));
    assert_eq!(value(&m, "mptcp_daemon_actions_total", &[("op", "add"), ("result", "ok")]), Some(2.0));
    assert_eq!(value(&m, "mptcp_daemon_actions_total", &[("op", "delete"), ("result", "ok")]), Some(1.0));
    assert_eq!(value(&m, "mptcp_daemon_actions_total", &[("op", "delete id 0"), ("result", "ok")]), Some(1.0));
    assert_eq!(value(&m, "mptcp_daemon_errors_total", &[("kind", "action")]), Some(0.0));
    assert_eq!(value(&m, "mptcp_daemon_reaction_seconds_count", &[("op", "delete")]), Some(1.0));
    assert!(value(&m, "mptcp_daemon_events_total", &[("kind", "link")]).unwrap() >= 1.0);
    assert_eq!(value(&m, "mptcp_daemon_interface_up", &[("interface", "p1")]), Some(0.0));
    assert_eq!(value(&m, "mptcp_daemon_interface_carrier", &[("interface", "p0")]), Some(1.0));
    assert_eq!(value(&m, "mptcp_daemon_waiting_for_mptcp", &[]), Some(0.0));
    assert!(value(&m, "mptcp_daemon_start_time_seconds", &[]).unwrap() > 1.6e9);

    let (head, body) = http_get(&h.ns, "HEAD", "/metrics");
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(body.is_empty());
    assert!(http_get(&h.ns, "GET", "/nope").0.starts_with("HTTP/1.1 404"));
    assert!(http_get(&h.ns, "POST", "/metrics").0.starts_with("HTTP/1.1 405"));
    drop((c, s, listener));
    d.signal("TERM");
    assert_eq!(d.wait().0, Some(0));
    let _ = &h.peer;
}

#[test]
fn exposition_parser_rejects_what_prometheus_rejects() {
    let ok = "# HELP a_total x\n# TYPE a_total counter\na_total{l=\"q\\\"\\\\\\n\"} 1\n";
    assert_eq!(parse_exposition(ok)[0].labels["l"], "q\"\\\n");
    for bad in [
        "a 1\n",                                                                          // no TYPE
        "# TYPE a gauge\na{l=\"x\"} one\n",                                               // bad value
        "# TYPE a gauge\na{1l=\"x\"} 1\n",                                                // bad label name
        "# TYPE a gauge\na 1\na 2\n",                                                     // duplicate series
        "# TYPE a counter\na 1\n",                                                        // counter without _total
        "# TYPE a gauge\na{l=\"\\x\"} 1\n",                                               // bad escape
        "# TYPE a gauge\n# TYPE a gauge\na 1\n",                                          // TYPE twice
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n", // not cumulative
    ] {
        assert!(std::panic::catch_unwind(|| parse_exposition(bad)).is_err(), "accepted: {bad:?}");
    }
}

#[test]
fn help_documents_the_defaults_and_example_config_parses() {
    let o = std::process::Command::new(MPTCP).args(["daemon", "--help"]).output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    for needle in [
        "global unicast",
        "link-local",
        "temporary",
        "default route",
        "state.json",
        "--metrics",
        "mptcp-daemon.service",
    ] {
        assert!(text.contains(needle), "--help lacks {needle}: {text}");
    }
    let o = std::process::Command::new(MPTCP).args(["daemon", "example-config"]).output().unwrap();
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(mptcp_daemon::Config::from_toml(&text, "example").is_ok());
}
