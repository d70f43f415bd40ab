//! The hook on this kernel, as root: which sockets it converts (read back
//! with SO_PROTOCOL from the processes that created them), which it leaves
//! alone, and that nothing stays attached once the hook is dropped
//! (counted with BPF_PROG_GET_NEXT_ID / BPF_LINK_GET_NEXT_ID).
//!
//! Needs root: `#[ignore]`d, run with `cargo test -p mptcp-bpf --
//! --include-ignored` as root. What the kernel offers is written down in
//! the kernel matrix (`bpf_hook=` in `MPTCP_EXPECT`, see
//! tests/kernels/expect.rs); elsewhere it is found without the code under
//! test: `yes` where the kernel attaches a do-nothing `fentry` program
//! (`mptcp_bpf::trampolines_allowed`), `refused` where it refuses that too
//! (the development machines' kernel refuses every trampoline program with
//! EPERM, as root, although it is built with CONFIG_FUNCTION_TRACER), which
//! this test then checks instead.

use std::process::Command;

use mptcp_bpf::{Error, Hook, Kernel, Scope};

#[path = "../../../tests/kernels/expect.rs"]
mod expect;

/// A python3 snippet printing SO_PROTOCOL of a socket made with `args`.
fn protocol_of(args: &str, depth: u32) -> String {
    let make =
        format!("import socket; s = socket.socket({args}); print(s.getsockopt(socket.SOL_SOCKET, socket.SO_PROTOCOL))");
    // Nest `depth` extra python3 processes: a grandchild for depth 1.
    let mut code = make;
    for _ in 0..depth {
        code = format!("import subprocess, sys; sys.stdout.write(subprocess.run([sys.executable, '-c', {code:?}], capture_output=True, text=True, check=True).stdout)");
    }
    let out = Command::new("python3").args(["-c", &code]).output().expect("run python3");
    assert!(out.status.success(), "python3: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn ours(name: &str) -> (usize, usize) {
    let progs: Vec<u32> =
        mptcp_bpf::programs().expect("list programs").into_iter().filter(|p| p.name == name).map(|p| p.id).collect();
    let links = mptcp_bpf::links().expect("list links").into_iter().filter(|l| progs.contains(&l.prog_id)).count();
    (progs.len(), links)
}

#[test]
#[ignore = "needs root and a kernel with update_socket_protocol (scripts/test.sh runs it)"]
fn descendants_are_converted_and_nothing_else() {
    assert!(mptcp::host_support().is_available(), "MPTCP is not available on this host");
    let kernel = Kernel::probe().expect("kernel BTF with the hook");
    let name = format!("mptcpt{}", std::process::id());
    let me = std::process::id();
    let expected = expect::get("bpf_hook").unwrap_or_else(|| {
        match mptcp_bpf::trampolines_allowed().expect("probing the kernel with an fentry program") {
            true => "yes".into(),
            false => "refused".into(),
        }
    });
    let hook = match expected.as_str() {
        "yes" => Hook::attach(&kernel, Scope::Descendants { tgid: me }, &name).expect("attach"),
        "refused" => {
            let e = Hook::attach(&kernel, Scope::Descendants { tgid: me }, &name).expect_err("the kernel refuses it");
            assert!(matches!(e, Error::Load { .. }) && e.is_permission(), "{e:?}");
            assert_eq!(ours(&name), (0, 0));
            assert_eq!(protocol_of("", 0), "6");
            return;
        }
        other => panic!("bpf_hook={other}: this test needs a kernel with the hook"),
    };
    assert_eq!(ours(&name), (1, 1), "the program and its link are listed");
    assert_eq!(hook.converted().unwrap(), 0);

    // Children and grandchildren: TCP streams become MPTCP (262), with
    // protocol 0 or IPPROTO_TCP, IPv4 or IPv6, flags on the type or not.
    assert_eq!(protocol_of("", 0), "262");
    assert_eq!(protocol_of("socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP", 0), "262");
    assert_eq!(
        protocol_of("socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC", 0),
        "262"
    );
    assert_eq!(protocol_of("socket.AF_INET, socket.SOCK_STREAM", 1), "262");
    assert_eq!(protocol_of("socket.AF_INET, socket.SOCK_STREAM", 3), "262");
    // Left alone: datagrams, raw-ish protocols, UNIX sockets.
    assert_eq!(protocol_of("socket.AF_INET, socket.SOCK_DGRAM", 0), "17");
    assert_eq!(protocol_of("socket.AF_INET, socket.SOCK_STREAM, 132", 0).as_str(), "132", "SCTP stays SCTP");
    assert_eq!(protocol_of("socket.AF_UNIX, socket.SOCK_STREAM", 0), "0");
    assert_eq!(hook.converted().unwrap(), 5);

    // This process is the root of the tree, not in it.
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    assert_eq!(s.protocol().unwrap(), Some(socket2::Protocol::TCP));
    assert_eq!(hook.converted().unwrap(), 5);

    drop(hook);
    // Freed after an RCU grace period: wait for it (bounded).
    for _ in 0..200 {
        if ours(&name) == (0, 0) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(ours(&name), (0, 0), "nothing stays attached");
    assert_eq!(protocol_of("", 0), "6", "TCP again once the hook is gone");
}
