//! What the HTTP and listener suites share: two namespaces joined by two
//! paths with a subflow endpoint, the example binaries, and processes that
//! end with the test.

#![allow(dead_code)] // each suite uses part of it

use std::io::{BufRead, BufReader, Read};
use std::path::{Path as FsPath, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use mptcp_netns::{Netns, Path};

/// A client and a server namespace joined by two paths: 10.`base`.0.1/.2
/// and 10.`base+1`.0.1/.2 (client .1, server .2), with fd`base`::1/2 on the
/// first. The client's second address is a `subflow` endpoint and both ends
/// allow two extra subflows, so an MPTCP connection to the server's first
/// address gets a second subflow over the second path.
pub struct TwoPaths {
    pub client: Netns,
    pub server: Netns,
    pub paths: Vec<Path>,
    base: u8,
}

impl TwoPaths {
    pub fn new(base: u8) -> TwoPaths {
        let client = Netns::new("cli").expect("client namespace");
        let server = Netns::new("srv").expect("server namespace");
        let mut paths = Vec::new();
        for i in 0..2u8 {
            let n = base + i;
            let p = Path::new(
                &client,
                format!("10.{n}.0.1").parse().unwrap(),
                &server,
                format!("10.{n}.0.2").parse().unwrap(),
                24,
            )
            .expect("veth");
            paths.push(p);
        }
        for (ns, dev, host) in [(&client, &paths[0].a_dev, 1), (&server, &paths[0].b_dev, 2)] {
            ns.ip(&["addr", "add", &format!("fd{base:02x}::{host}/64"), "dev", dev, "nodad"]).expect("IPv6 address");
        }
        let second = format!("10.{}.0.1", base + 1);
        client.ip(&["mptcp", "endpoint", "add", &second, "dev", &paths[1].a_dev, "subflow"]).expect("endpoint");
        for ns in [&client, &server] {
            ns.ip(&["mptcp", "limits", "set", "subflows", "2", "add_addr_accepted", "2"]).expect("limits");
        }
        TwoPaths { client, server, paths, base }
    }

    /// The server's IPv4 address on the first path.
    pub fn server_v4(&self) -> String {
        format!("10.{}.0.2", self.base)
    }

    /// The server's IPv6 address on the first path.
    pub fn server_v6(&self) -> String {
        format!("fd{:02x}::2", self.base)
    }
}

/// The path of example `name`, built by `cargo test` (which builds the
/// examples) or here when it is missing or older than the sources.
pub fn example(name: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<()>> = OnceLock::new();
    let _one_at_a_time = BUILT.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe.parent().and_then(FsPath::parent).expect("target/<profile>/deps/..");
    let bin = profile_dir.join("examples").join(name);
    let crate_dir = FsPath::new(env!("CARGO_MANIFEST_DIR"));
    let newest_source = ["src", "examples"].iter().map(|d| newest(&crate_dir.join(d))).max().flatten();
    let built = std::fs::metadata(&bin).and_then(|m| m.modified()).ok();
    if built.is_none() || newest_source > built {
        // The features this test was built with, so that the library is
        // not rebuilt with others.
        let features: Vec<&str> = [
            ("hyper", cfg!(feature = "hyper")),
            ("tokio", cfg!(feature = "tokio")),
            ("netlink", cfg!(feature = "netlink")),
            ("serde", cfg!(feature = "serde")),
        ]
        .iter()
        .filter_map(|&(f, on)| on.then_some(f))
        .collect();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", "multipath-tcp", "--no-default-features", "--features", &features.join(",")])
            .args(["--example", name])
            .current_dir(crate_dir)
            .env("CARGO_TARGET_DIR", profile_dir.parent().expect("target dir"))
            .status()
            .expect("run cargo build");
        assert!(status.success(), "building example {name} failed");
    }
    assert!(bin.exists(), "example {name} is not at {}", bin.display());
    bin
}

/// The newest modification time of the files under `dir`.
fn newest(dir: &FsPath) -> Option<SystemTime> {
    let mut best = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let t = if entry.path().is_dir() { newest(&entry.path()) } else { entry.metadata().ok()?.modified().ok() };
        best = best.max(t);
    }
    best
}

/// A server process in a namespace, killed when dropped (also on panic;
/// the namespace's removal ends it on a signal).
pub struct Server {
    child: Child,
    /// Where it listens, from its `listening on ADDR` line.
    pub addr: String,
    stderr: Arc<Mutex<String>>,
}

impl Server {
    /// Starts `bin ARGS...` in `ns` and waits for its `listening on` line.
    pub fn start(ns: &Netns, bin: &FsPath, args: &[&str]) -> Server {
        let mut child = ns
            .command(bin.to_str().expect("UTF-8 path"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the server");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (mut err, log) = (child.stderr.take().expect("stderr"), Arc::clone(&stderr));
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = err.read(&mut buf) {
                log.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let (tx, rx) = mpsc::channel();
        let out = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("listening on ") {
                    let _ = tx.send(addr.to_string());
                }
            }
        });
        let mut server = Server { child, addr: String::new(), stderr };
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(addr) => server.addr = addr,
            Err(_) => panic!("{} did not start listening; stderr:\n{}", bin.display(), server.stderr()),
        }
        server
    }

    /// What it wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `bin ARGS...` in `ns` to the end; panics with its output when it fails.
pub fn run(ns: &Netns, bin: &FsPath, args: &[&str]) -> String {
    let out: Output = ns.command(bin.to_str().expect("UTF-8 path")).args(args).output().expect("run the client");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{} {args:?} failed ({}):\nstdout:\n{stdout}\nstderr:\n{}",
        bin.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The last line of `output` that starts with `prefix`, without it.
pub fn last_line<'a>(output: &'a str, prefix: &str) -> &'a str {
    output
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?} in:\n{output}"))
}

/// A directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(what: &str) -> TempDir {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("mptcp-{what}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create a temporary directory");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
