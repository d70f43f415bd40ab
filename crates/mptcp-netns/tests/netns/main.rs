//! Tests of the public API in real network namespaces with real sockets
//! (root; `#[ignore]`d so that a plain `cargo test` lists them,
//! `scripts/test.sh` runs them).
//!
//! Some tests re-run themselves in a child process of this test binary (to
//! give it another `PATH`, or to kill it with a signal): the child sees
//! [`CHILD`] in its environment and plays the other part. What they check
//! (the processes in a namespace, MPTCP's state of a socket) they read from
//! `/proc` and the kernel themselves, not through the crate under test.

mod cleanup;
mod middlebox;
mod path;
mod preflight;
mod sys;

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

use mptcp_netns::{Netns, Path};
use sys::{getsockopt, getsockopt_int};

/// Set in the environment of a test that re-runs itself as a child.
const CHILD: &str = "MPTCP_NETNS_TEST_CHILD";

fn is_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

/// A command that runs test `module::name` of this binary alone, as a child
/// (`module` is the caller's `module_path!()`).
fn rerun(module: &str, name: &str) -> Command {
    let path = module.split_once("::").map_or(module, |(_, rest)| rest);
    let mut c = Command::new(std::env::current_exe().expect("the test binary"));
    c.args([&format!("{path}::{name}"), "--exact", "--include-ignored", "--nocapture", "--test-threads=1"]);
    c.env(CHILD, "1");
    c
}

/// A fresh directory holding symlinks to the named programs only (for `PATH`);
/// removed on drop.
struct ToolDir(PathBuf);

impl ToolDir {
    fn new(programs: &[&str]) -> ToolDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "mptcp-netns-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir(&dir).expect("temp dir");
        for p in programs {
            let target = find_program(p).unwrap_or_else(|| panic!("`{p}` must be installed"));
            std::os::unix::fs::symlink(target, dir.join(p)).expect("symlink");
        }
        ToolDir(dir)
    }
}

impl Drop for ToolDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The first executable file `name` in `PATH`.
fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| std::fs::metadata(p).map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false))
}

/// A client and a server namespace joined by one veth path, IPv4
/// (`10.<base>.0.1/2`) or IPv6 (`fd<base>::1/2`).
struct Pair {
    client: Netns,
    server: Netns,
    server_ip: IpAddr,
    _path: Path,
}

fn pair(base: u8, v6: bool) -> Pair {
    let client = Netns::new("cli").expect("client netns");
    let server = Netns::new("srv").expect("server netns");
    let (a, b, prefix) = if v6 {
        (format!("fd{base:02x}::1"), format!("fd{base:02x}::2"), 64)
    } else {
        (format!("10.{base}.0.1"), format!("10.{base}.0.2"), 24)
    };
    let path = Path::new(&client, a.parse().unwrap(), &server, b.parse().unwrap(), prefix).expect("veth path");
    Pair { server_ip: path.b_addr, client, server, _path: path }
}

impl Pair {
    fn addr(&self, port: u16) -> SocketAddr {
        SocketAddr::new(self.server_ip, port)
    }

    /// An MPTCP listener in the server namespace.
    fn listen(&self, port: u16) -> TcpListener {
        let addr = self.addr(port);
        self.server
            .in_ns(|| {
                let s =
                    Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::from(libc::IPPROTO_MPTCP)))?;
                s.set_reuse_address(true)?;
                s.bind(&addr.into())?;
                s.listen(8)?;
                Ok::<_, std::io::Error>(TcpListener::from(s))
            })
            .unwrap()
            .expect("MPTCP listener")
    }

    /// An MPTCP client in the client namespace, connected and accepted.
    fn connect(&self, listener: &TcpListener, port: u16) -> (TcpStream, TcpStream) {
        let addr = self.addr(port);
        let c = self
            .client
            .in_ns(|| {
                let s =
                    Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::from(libc::IPPROTO_MPTCP)))?;
                s.connect_timeout(&addr.into(), Duration::from_secs(10))?;
                Ok::<_, std::io::Error>(TcpStream::from(s))
            })
            .unwrap()
            .expect("MPTCP connect");
        let (s, _) = listener.accept().expect("accept");
        for x in [&c, &s] {
            x.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        }
        (c, s)
    }
}

/// `n` bytes each way, checked.
fn exchange(c: &TcpStream, s: &TcpStream, n: usize) {
    let data: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
    for (mut from, mut to) in [(c, s), (s, c)] {
        let mut got = vec![0u8; n];
        std::thread::scope(|sc| {
            sc.spawn(|| from.write_all(&data).expect("write"));
            to.read_exact(&mut got).expect("read");
        });
        assert!(got == data, "data corrupted on the way");
    }
}

/// `SO_PROTOCOL`: 262 for a socket created (or accepted) as MPTCP, 6 for TCP.
fn protocol(s: &TcpStream) -> i32 {
    getsockopt_int(s, libc::SOL_SOCKET, libc::SO_PROTOCOL).expect("SO_PROTOCOL")
}

const SOL_MPTCP: i32 = 284;
const MPTCP_INFO: i32 = 1;
const TCP_IS_MPTCP: i32 = 43;

/// The errno of `getsockopt(SOL_MPTCP, MPTCP_INFO)`, `None` when it works
/// (MPTCP in use). After a fallback: EOPNOTSUPP (IPv4) or ENOPROTOOPT (IPv6).
fn mptcp_info_errno(s: &TcpStream) -> Option<i32> {
    let mut buf = [0u8; 256];
    getsockopt(s, SOL_MPTCP, MPTCP_INFO, &mut buf).err().map(|e| e.raw_os_error().expect("an errno"))
}

/// Whether the connection uses MPTCP on the wire now: `TCP_IS_MPTCP`
/// (Linux 6.10+), else whether `MPTCP_INFO` answers.
fn on_mptcp(s: &TcpStream) -> bool {
    match getsockopt_int(s, libc::SOL_TCP, TCP_IS_MPTCP) {
        Ok(v) => v == 1,
        // Before 6.10: EOPNOTSUPP on an MPTCP socket, ENOPROTOOPT on a TCP one.
        Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => mptcp_info_errno(s).is_none(),
        Err(e) if e.raw_os_error() == Some(libc::ENOPROTOOPT) => false,
        Err(e) => panic!("TCP_IS_MPTCP: {e}"),
    }
}
