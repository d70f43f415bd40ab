//! What a status check costs, next to the syscall Go's
//! `TCPConn.MultipathTCP()` makes (`getsockopt(SOL_MPTCP, MPTCP_INFO)` with an
//! int-sized buffer), measured in the same run on a loopback MPTCP connection.
//!
//! Run with `cargo bench -p multipath-tcp --bench status`.

use std::hint::black_box;
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;

use criterion::{criterion_group, criterion_main, Criterion};
use mptcp::{Mechanism, MptcpExt, MptcpListenerExt, MptcpStreamExt};

/// Go's check: one getsockopt(SOL_MPTCP, MPTCP_INFO) into an int.
fn go_style_check(s: &TcpStream) -> bool {
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `v` and `len` are valid for the call; the fd is open.
    let rc = unsafe { libc::getsockopt(s.as_raw_fd(), 284, 1, (&mut v as *mut libc::c_int).cast(), &mut len) };
    rc == 0
}

fn bench(c: &mut Criterion) {
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
    g.bench_function("subflows", |b| b.iter(|| black_box(client.subflows().unwrap())));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
