//! What status and subflow checks cost, in the same run as their peers.
//!
//! Run with `cargo bench -p multipath-tcp --bench status` (as root for all
//! three groups).
//!
//! - `status`: a loopback MPTCP connection in this namespace; the peer is
//!   the syscall Go's `TCPConn.MultipathTCP()` makes
//!   (`getsockopt(SOL_MPTCP, MPTCP_INFO)` with an int-sized buffer).
//! - `subflows_2` (root: network namespaces): two subflows over two veth
//!   paths, the second bound to its endpoint's device (`ip mptcp endpoint
//!   add ADDR dev DEV subflow`, the usual setup). The peer
//!   `sockopts_plus_tcp_dump` is what the backup flag used to cost for such
//!   a subflow: the socket options plus a dump of every TCP socket.
//! - `inet_diag_status` (root): `Mechanism::InetDiag` on an MPTCP and on a
//!   fallen-back connection, with no other connection in the namespace and
//!   then with 10,000 other MPTCP connections (20,000 MPTCP sockets, both
//!   ends in the namespace). The peer `dump_and_find_cookie` is the former
//!   mechanism: dump every MPTCP socket and find ours by `SO_COOKIE`.
//!
//! Without root the two namespace groups are skipped, saying so on stderr.

use std::hint::black_box;
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;

use criterion::{criterion_group, Criterion};
use mptcp::{Mechanism, MptcpExt, MptcpListenerExt, MptcpStreamExt};

/// Go's check: one getsockopt(SOL_MPTCP, MPTCP_INFO) into an int.
fn go_style_check(s: &TcpStream) -> bool {
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `v` and `len` are valid for the call; the fd is open.
    let rc = unsafe { libc::getsockopt(s.as_raw_fd(), 284, 1, (&mut v as *mut libc::c_int).cast(), &mut len) };
    rc == 0
}

fn bench_status(c: &mut Criterion) {
    let listener = TcpListener::bind_mptcp("127.0.0.1:0").unwrap();
    let client = TcpStream::connect_mptcp(listener.local_addr().unwrap()).unwrap();
    let (_server, _) = listener.accept().unwrap();
    assert!(client.mptcp_status().unwrap().is_mptcp(), "the benchmark needs MPTCP on loopback");
    let mut g = c.benchmark_group("status");
    g.bench_function("go_equivalent_getsockopt_mptcp_info", |b| b.iter(|| black_box(go_style_check(&client))));
    g.bench_function("mptcp_status_auto", |b| b.iter(|| black_box(client.mptcp_status().unwrap())));
    for m in [Mechanism::TcpIsMptcp, Mechanism::MptcpInfo] {
        if mptcp::host_support().mechanisms().contains(&m) {
            g.bench_function(format!("mptcp_status_{m}"), |b| {
                b.iter(|| black_box(client.mptcp_status_with(m).unwrap()))
            });
        }
    }
    g.bench_function("mptcp_info", |b| b.iter(|| black_box(client.mptcp_info().unwrap())));
    g.bench_function("subflows_1", |b| b.iter(|| black_box(client.subflows().unwrap())));
    g.finish();
}

/// The groups that build network namespaces and read inet_diag (Linux,
/// feature `netlink`).
#[cfg(all(mptcp_linux, feature = "netlink"))]
mod namespaces {
    use std::fs::File;
    use std::io::Read;
    use std::net::SocketAddr;
    use std::time::{Duration, Instant};

    use criterion::BenchmarkId;
    use mptcp::diag::AddressFamily;

    use super::exchange::exchange;
    use super::*;
    use mptcp::info::SubflowDetail;

    /// How many other MPTCP connections the crowded case has.
    const CROWD: usize = 10_000;
    use mptcp::MptcpStatus;
    use mptcp_netns::{Netns, Path};

    /// The floor under `subflows()`: one `getsockopt(MPTCP_FULL_INFO)` into
    /// buffers allocated once, nothing parsed (8 subflow slots, 224 bytes of
    /// `tcp_info` each, as the library asks).
    fn raw_full_info(s: &TcpStream, head: &mut [u8; 296], sf: &mut [u8; 8 * 264], tcp: &mut [u8; 8 * 224]) -> i32 {
        head[..40].fill(0);
        head[4..8].copy_from_slice(&224u32.to_ne_bytes());
        head[12..16].copy_from_slice(&264u32.to_ne_bytes());
        head[20..24].copy_from_slice(&8u32.to_ne_bytes());
        head[24..32].copy_from_slice(&(sf.as_mut_ptr() as u64).to_ne_bytes());
        head[32..40].copy_from_slice(&(tcp.as_mut_ptr() as u64).to_ne_bytes());
        let mut len = head.len() as libc::socklen_t;
        // SAFETY: `head` is writable for `len` bytes; the kernel writes at most 8
        // elements of 264 and 224 bytes through the two pointers, which point to
        // arrays of that size, borrowed mutably for the call.
        unsafe { libc::getsockopt(s.as_raw_fd(), 284, 4, head.as_mut_ptr().cast(), &mut len) }
    }

    /// This thread inside a network namespace until dropped: criterion measures
    /// on this thread, and the library keeps its inet_diag socket for the
    /// thread's own namespace, as an application running there would.
    struct Inside {
        home: File,
    }

    fn setns(ns: &File) {
        // SAFETY: setns only reads the descriptor; CLONE_NEWNET moves this thread.
        let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
    }

    impl Inside {
        fn enter(ns: &Netns) -> Inside {
            let home = File::open("/proc/thread-self/ns/net").expect("own netns");
            setns(&File::open(format!("/run/netns/{}", ns.name())).expect("netns file"));
            Inside { home }
        }
    }

    impl Drop for Inside {
        fn drop(&mut self) {
            setns(&self.home);
        }
    }

    fn skip_unless_root(group: &str) -> bool {
        if mptcp_netns::is_root() {
            return false;
        }
        eprintln!("SKIPPING benchmark group `{group}`: it needs root (it builds network namespaces); run as root");
        true
    }

    pub(super) fn bench_subflows(c: &mut Criterion) {
        if skip_unless_root("subflows_2") {
            return;
        }
        let cli = Netns::new("bcli").expect("client netns");
        let srv = Netns::new("bsrv").expect("server netns");
        let p1 = Path::new(&cli, "10.91.0.1".parse().unwrap(), &srv, "10.91.0.2".parse().unwrap(), 24).expect("path 1");
        let p2 = Path::new(&cli, "10.92.0.1".parse().unwrap(), &srv, "10.92.0.2".parse().unwrap(), 24).expect("path 2");
        cli.ip(&["mptcp", "endpoint", "add", &p2.a_addr.to_string(), "dev", &p2.a_dev, "subflow"]).unwrap();
        for ns in [&cli, &srv] {
            ns.ip(&["mptcp", "limits", "set", "subflows", "2", "add_addr_accepted", "2"]).unwrap();
        }
        let addr = SocketAddr::new(p1.b_addr, 7101);
        let listener = srv.in_ns(|| TcpListener::bind_mptcp(addr)).unwrap().unwrap();
        let mut client = cli.in_ns(|| TcpStream::connect_mptcp(addr)).unwrap().unwrap();
        let (mut server, _) = listener.accept().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while client.subflows().unwrap().len() < 2 {
            assert!(Instant::now() < deadline, "no second subflow: {:#?}", client.subflows());
            exchange(&mut client, &mut server, 64 * 1024);
            std::thread::sleep(Duration::from_millis(20));
        }
        let _inside = Inside::enter(&cli);
        let flows = client.subflows_with(SubflowDetail::Backup).unwrap();
        assert!(flows.iter().all(|f| f.backup == Some(false)), "{flows:#?}");
        let mut g = c.benchmark_group("subflows_2");
        g.bench_function("floor_one_getsockopt_full_info", |b| {
            let (mut head, mut sf, mut tcp) = ([0u8; 40 + 256], [0u8; 8 * 264], [0u8; 8 * 224]);
            b.iter(|| black_box(raw_full_info(&client, &mut head, &mut sf, &mut tcp)))
        });
        g.bench_function("subflows", |b| b.iter(|| black_box(client.subflows().unwrap())));
        g.bench_function("subflows_with_backup", |b| {
            b.iter(|| black_box(client.subflows_with(SubflowDetail::Backup).unwrap()))
        });
        g.bench_function("sockopts_plus_tcp_dump", |b| {
            b.iter(|| black_box((client.subflows().unwrap(), mptcp::diag::subflows().unwrap())))
        });
        g.bench_function("subflows_legacy", |b| b.iter(|| black_box(client.subflows_legacy().unwrap())));
        g.finish();
    }

    /// Environment variable that makes this binary hold a crowd of MPTCP
    /// connections instead of benchmarking (one process holds at most
    /// [`PER_PROCESS`] of them: both ends of each count against its descriptor
    /// limit).
    pub(super) const CROWD_ENV: &str = "MPTCP_BENCH_HOLD_CROWD";
    const PER_PROCESS: usize = 5_000;

    /// The crowd holder: `n` loopback MPTCP connections (both ends here), then
    /// "ready" on stdout, kept until stdin closes.
    pub(super) fn hold_crowd(n: usize) {
        let listener = TcpListener::bind_mptcp("127.0.0.1:0").unwrap();
        let to = listener.local_addr().unwrap();
        let crowd: Vec<(TcpStream, TcpStream)> =
            (0..n).map(|_| (TcpStream::connect_mptcp(to).unwrap(), listener.accept().unwrap().0)).collect();
        assert!(crowd.iter().all(|(c, _)| c.created_as_mptcp().unwrap()));
        println!("ready");
        let _ = std::io::stdin().read(&mut [0u8; 1]);
    }

    /// Starts processes in `ns` holding `n` MPTCP connections in all; they end
    /// when the returned children are dropped (stdin closed), and with the
    /// namespace in any case.
    fn start_crowd(ns: &Netns, n: usize) -> Vec<std::process::Child> {
        use std::io::BufRead;
        let exe = std::env::current_exe().unwrap();
        let mut children = Vec::new();
        let mut left = n;
        while left > 0 {
            let k = left.min(PER_PROCESS);
            left -= k;
            let mut child = ns
                .command(exe.to_str().unwrap())
                .env(CROWD_ENV, k.to_string())
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("crowd process");
            let mut line = String::new();
            std::io::BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
            assert_eq!(line.trim(), "ready", "crowd process failed");
            children.push(child);
        }
        children
    }

    /// The former inet-diag mechanism: dump every MPTCP socket, find ours.
    fn dump_and_find_cookie(s: &TcpStream) -> bool {
        let cookie = socket2::SockRef::from(s).cookie().unwrap();
        let all = mptcp::diag::mptcp_sockets(AddressFamily::Ipv4).unwrap();
        all.iter().find(|d| d.cookie == cookie).and_then(|d| d.info.as_ref()?.is_fallback()) == Some(false)
    }

    pub(super) fn bench_inet_diag(c: &mut Criterion) {
        if skip_unless_root("inet_diag_status") {
            return;
        }
        let ns = Netns::new("bcrowd").expect("netns");
        let _inside = Inside::enter(&ns);
        let listener = TcpListener::bind_mptcp("127.0.0.1:0").unwrap();
        let tcp_listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mptcp = TcpStream::connect_mptcp(listener.local_addr().unwrap()).unwrap();
        let (_mptcp_peer, _) = listener.accept().unwrap();
        let fallback = TcpStream::connect_mptcp(tcp_listener.local_addr().unwrap()).unwrap();
        let (_fallback_peer, _) = tcp_listener.accept().unwrap();
        assert_eq!(mptcp.mptcp_status_with(Mechanism::InetDiag).unwrap(), MptcpStatus::Mptcp);
        assert_eq!(fallback.mptcp_status_with(Mechanism::InetDiag).unwrap(), MptcpStatus::Fallback);
        let mut crowd = Vec::new();
        let mut g = c.benchmark_group("inet_diag_status");
        g.sample_size(20);
        for others in [0, CROWD] {
            if others > 0 {
                crowd = start_crowd(&ns, others);
                let listed = mptcp::diag::mptcp_sockets(AddressFamily::Ipv4).unwrap().len();
                assert!(listed > 2 * others, "{listed} MPTCP sockets listed, expected over {}", 2 * others);
            }
            g.bench_with_input(BenchmarkId::new("mptcp", others), &others, |b, _| {
                b.iter(|| black_box(mptcp.mptcp_status_with(Mechanism::InetDiag).unwrap()))
            });
            g.bench_with_input(BenchmarkId::new("fallback", others), &others, |b, _| {
                b.iter(|| black_box(fallback.mptcp_status_with(Mechanism::InetDiag).unwrap()))
            });
            g.bench_with_input(BenchmarkId::new("dump_and_find_cookie", others), &others, |b, _| {
                b.iter(|| black_box(dump_and_find_cookie(&mptcp)))
            });
        }
        g.finish();
        for mut child in crowd {
            drop(child.stdin.take());
            let _ = child.wait();
        }
    }
}

#[cfg(all(mptcp_linux, feature = "netlink"))]
#[path = "../tests/support/exchange.rs"]
mod exchange;

#[cfg(all(mptcp_linux, feature = "netlink"))]
use namespaces::{bench_inet_diag, bench_subflows, hold_crowd, CROWD_ENV};

#[cfg(not(all(mptcp_linux, feature = "netlink")))]
fn bench_subflows(_: &mut Criterion) {
    eprintln!("SKIPPING benchmark groups `subflows_2` and `inet_diag_status`: they need Linux and feature `netlink`");
}

#[cfg(not(all(mptcp_linux, feature = "netlink")))]
fn bench_inet_diag(_: &mut Criterion) {}

criterion_group!(benches, bench_status, bench_subflows, bench_inet_diag);

fn main() {
    #[cfg(all(mptcp_linux, feature = "netlink"))]
    if let Ok(n) = std::env::var(CROWD_ENV) {
        return hold_crowd(n.parse().expect("a number of connections"));
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
