//! The command-line conventions a Linux user expects, checked on the built
//! binary: a closed stdout is a silent exit 0, `-j/--json` on every command
//! that prints data and JSON errors of a stable kind, one token format that
//! every token-taking command reads back (also iproute2's), `conns` flags
//! that mean what they mean to `ss`, numeric arguments out of range refused
//! with their range, keys given twice refused, shell completions and man
//! pages. Addresses: 10.67.0.0/16 and loopback, only inside namespaces
//! created here.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Output, Stdio};

use common::text;
use mptcp::MptcpListenerExt;
use mptcp::{MptcpExt, MptcpStreamExt};
use mptcp_netns::{Netns, Path};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_mptcp");

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", text(&o.stdout), text(&o.stderr)))
}

/// Runs `cmd` with a stdout whose reader is already gone: every write
/// fails with EPIPE, as in `mptcp ... | head -c0`.
fn with_stdout_closed(mut cmd: Command) -> Output {
    spawn_with_stdout_closed(&mut cmd).wait_with_output().unwrap()
}

fn spawn_with_stdout_closed(cmd: &mut Command) -> std::process::Child {
    let (reader, writer) = nix::unistd::pipe().unwrap();
    drop(reader);
    cmd.stdin(Stdio::null()).stdout(Stdio::from(writer)).stderr(Stdio::piped()).spawn().unwrap()
}

fn assert_silent_success(what: &str, o: &Output) {
    assert_eq!(o.status.code(), Some(0), "{what}: {}", text(&o.stderr));
    assert!(o.stderr.is_empty(), "{what}: nothing on stderr, got {}", text(&o.stderr));
}

#[test]
fn a_closed_stdout_is_a_silent_exit_0() {
    for args in [
        &["status"][..],
        &["status", "--json"],
        &["endpoint", "list", "--json"],
        &["limits", "-j"],
        &["conns", "--json"],
        &["completions", "bash"],
        &["man"],
        &["--help"],
    ] {
        let mut cmd = Command::new(BIN);
        cmd.args(args);
        let o = with_stdout_closed(cmd);
        // `--help` is clap's own printing: its status only must be right.
        if args == ["--help"] {
            assert_eq!(o.status.code(), Some(0), "--help: {}", text(&o.stderr));
            continue;
        }
        assert_silent_success(&format!("{args:?}"), &o);
    }
    // A systemd drop-in printed for a unit under a scratch root.
    let root = std::env::temp_dir().join(format!("mptcp-conv-root-{}", std::process::id()));
    std::fs::create_dir_all(root.join("etc/systemd/system")).unwrap();
    std::fs::write(root.join("etc/systemd/system/demo.service"), "[Service]\nExecStart=/bin/true\n").unwrap();
    let mut cmd = Command::new(BIN);
    cmd.args(["systemd", "enable", "demo", "--dry-run", "--root"]).arg(&root);
    let o = with_stdout_closed(cmd);
    let _ = std::fs::remove_dir_all(&root);
    assert_silent_success("systemd enable --dry-run", &o);
}

#[test]
fn real_pipelines_that_stop_reading_end_well() {
    // head closes its end after one line (or byte); `true` never reads.
    for pipeline in [
        "status | head -1",
        "status --json | head -c1",
        "conns | true",
        "conns --all --json | true",
        "endpoint list --json | head -c1",
        "man | head -1",
        "completions zsh | head -1",
    ] {
        let (mptcp, rest) = pipeline.split_once(" | ").unwrap();
        let script = format!("set -o pipefail; {BIN} {mptcp} | {rest} >/dev/null");
        let o = Command::new("bash").args(["-c", &script]).output().unwrap();
        assert_silent_success(pipeline, &o);
    }
}

/// Runs `mptcp ARGS` with and without `--json` (added after ARGS[0]'s
/// subcommand words): the same exit status, and with it one JSON error
/// object of `kind` on stdout.
fn json_error(ns: Option<&Netns>, args: &[&str], kind: &str, code: i32) -> Value {
    let run = |json: bool| {
        let mut cmd = match ns {
            Some(ns) => ns.command(BIN),
            None => Command::new(BIN),
        };
        cmd.args(args);
        if json {
            cmd.arg("--json");
        }
        cmd.stdin(Stdio::null()).output().unwrap()
    };
    let plain = run(false);
    let o = run(true);
    assert_eq!(plain.status.code(), Some(code), "{args:?}: {}", text(&plain.stderr));
    assert_eq!(o.status.code(), Some(code), "{args:?} --json: {}", text(&o.stderr));
    assert!(!text(&plain.stdout).contains("\"kind\""), "{args:?}: JSON only with --json");
    let v = json(&o);
    assert_eq!(v["kind"], kind, "{args:?}: {v}");
    let msg = v["error"].as_str().expect("error is a string");
    assert!(!msg.is_empty() && !msg.contains('\n'), "{args:?}: {v}");
    // The human message stays on stderr.
    assert!(text(&o.stderr).contains("error"), "{args:?}: {}", text(&o.stderr));
    v
}

#[test]
fn json_errors_have_a_kind_and_the_same_exit_status() {
    let v = json_error(None, &["status", "--bogus"], "usage", 2);
    assert!(v["error"].as_str().unwrap().contains("--bogus"), "{v}");
    let v = json_error(None, &["limits", "set", "subflows", "8", "subflows", "2"], "usage", 2);
    assert_eq!(v["error"], "`subflows` given twice");
    let v = json_error(None, &["check", "127.0.0.1:1", "--timeout", "1e300"], "usage", 2);
    assert!(v["error"].as_str().unwrap().contains("expected 0.001 to 3600 seconds"), "{v}");
    json_error(None, &["endpoint", "add", "10.67.0.1", "id", "1", "id", "2"], "usage", 2);
    json_error(None, &["endpoint", "del", "id", "300"], "usage", 2);
    json_error(None, &["pm", "remove", "--token", "zz", "--id", "1"], "usage", 2);
    json_error(None, &["monitor", "--count", "0"], "usage", 2);
    json_error(None, &["conns", "--port", "0"], "usage", 2);
    json_error(None, &["lab", "--paths", "9"], "usage", 2);
    json_error(None, &["check", "no-port"], "usage", 2);
    json_error(None, &["doctor", "no-port"], "usage", 2);
    // Nothing listens on port 1 of loopback: refused, an I/O error.
    let v = json_error(None, &["check", "127.0.0.1:1"], "io", 1);
    assert!(v["error"].as_str().unwrap().contains("Connection refused"), "{v}");
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn json_errors_for_permission_and_not_found() {
    mptcp_netns::require_root();
    let ns = Netns::new("jerr").unwrap();
    json_error(Some(&ns), &["endpoint", "del", "id", "77"], "not-found", 1);
    // No connection has this token: the kernel says EINVAL for it.
    json_error(Some(&ns), &["pm", "remove", "--token", "0x1", "--id", "1"], "not-found", 1);
    // Without CAP_NET_ADMIN (user nobody), the path manager refuses.
    let mut cmd = ns.command("setpriv");
    cmd.args(["--reuid", "65534", "--regid", "65534", "--clear-groups", BIN, "endpoint", "flush", "--json"]);
    let o = cmd.output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let v = json(&o);
    assert_eq!(v["kind"], "permission", "{v}");
    assert!(v["error"].as_str().unwrap().contains("CAP_NET_ADMIN"), "{v}");
}

#[test]
fn every_data_command_takes_j() {
    for args in [
        &["status", "-j"][..],
        &["endpoint", "list", "-j"],
        &["endpoint", "-j"],
        &["limits", "-j"],
        &["conns", "-j"],
        &["conns", "-a", "-j"],
    ] {
        let o = Command::new(BIN).args(args).output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", text(&o.stderr));
        json(&o);
    }
    // The others accept it (their runs are in other tests).
    for args in [
        &["check", "-j", "--help"][..],
        &["doctor", "-j", "--help"],
        &["monitor", "-j", "--help"],
        &["pm", "-j", "--help"],
        &["lab", "-j", "--help"],
    ] {
        let o = Command::new(BIN).args(args).output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", text(&o.stderr));
        assert!(text(&o.stdout).contains("-j, --json"), "{args:?}");
    }
}

#[test]
fn numbers_out_of_range_exit_2_naming_the_range() {
    for (args, range) in [
        (&["check", "127.0.0.1:1", "--timeout", "1e300"][..], "0.001 to 3600"),
        (&["check", "127.0.0.1:1", "--timeout", "-5"], "0.001 to 3600"),
        (&["monitor", "--timeout", "1e300"], "0.001 to 31536000"),
        (&["monitor", "--count", "0"], "1.."),
        (&["monitor", "--rcvbuf", "2G"], "1 to 1G"),
        (&["lab", "--duration", "1e300"], "1 to 3600"),
        (&["lab", "--paths", "18446744073709551616"], "--paths"),
        (&["lab", "--paths", "0"], "1 to 8"),
        (&["limits", "set", "subflows", "99999999999"], "0-8"),
        (&["limits", "set", "add_addr_accepted", "9"], "maximum of 8"),
        (&["endpoint", "add", "10.67.0.1", "id", "256"], "1-255"),
        (&["endpoint", "add", "10.67.0.1", "port", "65536"], "1-65535"),
        (&["pm", "announce", "--token", "1", "--id", "0", "10.67.0.1"], "1-255"),
        (&["pm", "remove", "--token", "1", "--id", "256"], "0-255"),
        (&["pm", "remove", "--token", "0x1ffffffff", "--id", "1"], "8 hex digits"),
        (&["conns", "--port", "70000"], "1-65535"),
    ] {
        let o = Command::new(BIN).args(args).output().unwrap();
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(range), "{args:?}: the range `{range}` in: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn keys_given_twice_are_refused() {
    for (args, key) in [
        (&["limits", "set", "subflows", "8", "subflows", "2"][..], "`subflows` given twice"),
        (
            &["limits", "set", "add_addr_accepted", "1", "subflows", "2", "add_addr_accepted", "2"],
            "`add_addr_accepted`",
        ),
        (&["endpoint", "add", "10.67.0.1", "port", "1", "port", "2"], "`port` given twice"),
        (&["endpoint", "add", "10.67.0.1", "signal", "signal"], "`signal` given twice"),
        (&["endpoint", "set", "id", "1", "backup", "nobackup"], "`backup/nobackup` given twice"),
    ] {
        let o = Command::new(BIN).args(args).output().unwrap();
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(key), "{args:?}: {err}");
    }
}

#[test]
fn completions_for_each_shell_and_man_pages() {
    for (shell, needle, json) in [
        ("bash", "complete -F _mptcp", "--json"),
        ("zsh", "#compdef mptcp", "--json"),
        ("fish", "complete -c mptcp", "-l json"),
    ] {
        let o = Command::new(BIN).args(["completions", shell]).output().unwrap();
        assert!(o.status.success(), "{shell}");
        let s = text(&o.stdout);
        assert!(s.contains(needle), "{shell}: {needle} missing");
        // Subcommands and their options complete.
        assert!(s.contains("endpoint") && s.contains(json), "{shell}");
    }
    let o = Command::new(BIN).args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));

    let page = text(&Command::new(BIN).arg("man").output().unwrap().stdout);
    assert!(page.contains(".TH mptcp 1"), "{page}");
    assert!(page.contains("mptcp\\-status(1)") && page.contains("not\\-found"), "subcommands and conventions");
    let dir = std::env::temp_dir().join(format!("mptcp-man-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let o = Command::new(BIN).args(["man", "--dir"]).arg(&dir).output().unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    let mut files: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    files.sort();
    let listed: Vec<String> = text(&o.stdout)
        .lines()
        .map(|l| std::path::Path::new(l).file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    for page in ["mptcp.1", "mptcp-status.1", "mptcp-lab.1", "mptcp-endpoint.1", "mptcp-endpoint-add.1", "mptcp-man.1"]
    {
        assert!(files.iter().any(|f| f == page), "{page} not in {files:?}");
    }
    assert!(!files.iter().any(|f| f.contains("help")), "no page for `help`: {files:?}");
    assert_eq!(listed.len(), files.len(), "each page written is printed");
    let o = Command::new(BIN).args(["man", "--dir", "/nonexistent/dir"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
}

/// A client and a server namespace on one path, the client's path manager
/// in userspace mode; an MPTCP connection between them, held open.
struct Conn {
    client: Netns,
    _server: Netns,
    _path: Path,
    _stream: TcpStream,
    _peer: std::thread::JoinHandle<()>,
    _listener: TcpListener,
}

fn connection(tag: &str, net: u8) -> Conn {
    let client = Netns::new(&format!("{tag}c")).unwrap();
    let server = Netns::new(&format!("{tag}s")).unwrap();
    let (ca, sa) = (format!("10.67.{net}.1"), format!("10.67.{net}.2"));
    let path = Path::new(&client, ca.parse().unwrap(), &server, sa.parse().unwrap(), 24).unwrap();
    if client.sysctl("net.mptcp.path_manager", "userspace").is_err() {
        client.sysctl("net.mptcp.pm_type", "1").unwrap();
    }
    let addr = format!("{sa}:5003");
    let listener = server.in_ns(|| TcpListener::bind_mptcp(addr.as_str())).unwrap().unwrap();
    let l2 = listener.try_clone().unwrap();
    let peer = std::thread::spawn(move || {
        if let Ok((mut s, _)) = l2.accept() {
            let mut b = [0u8; 4];
            let _ = s.read_exact(&mut b).and_then(|()| s.write_all(&b));
            let _ = s.read(&mut b);
        }
    });
    let mut stream = client.in_ns(|| TcpStream::connect_mptcp(addr.as_str())).unwrap().unwrap();
    stream.write_all(b"ping").unwrap();
    let mut b = [0u8; 4];
    stream.read_exact(&mut b).unwrap();
    assert!(stream.mptcp_status().unwrap().is_mptcp());
    Conn { client, _server: server, _path: path, _stream: stream, _peer: peer, _listener: listener }
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn every_printed_token_form_is_accepted() {
    mptcp_netns::require_root();
    let c = connection("tok", 1);
    let ns = &c.client;
    let run = |args: &[&str]| ns.command(BIN).args(args).output().unwrap();
    let conns = json(&run(&["conns", "--json"]));
    let conn = &conns[0];
    let token = conn["token"].as_u64().unwrap() as u32;
    assert_eq!(conn["token_hex"], format!("0x{token:08x}"));
    // Text prints the same form.
    let listing = text(&run(&["conns"]).stdout);
    assert!(listing.contains(&format!("token 0x{token:08x}")), "{listing}");
    // iproute2's: `ss -M` (`token:%x`) and `ip mptcp monitor` (`token=%08x`).
    let ss = text(&ns.run(&["ss", "-MniH"]).unwrap().stdout);
    let ss_token =
        ss.split_whitespace().find_map(|w| w.strip_prefix("token:")).expect("ss -M prints a token").to_string();
    assert_eq!(u32::from_str_radix(&ss_token, 16).unwrap(), token, "{ss}");
    for form in [format!("0x{token:08x}"), token.to_string(), ss_token, format!("{token:08x}"), format!("0X{token:X}")]
    {
        // ANNOUNCE then REMOVE through the userspace PM succeed only for the
        // connection's own token.
        let o = run(&["pm", "announce", "--token", &form, "--id", "9", "10.67.1.1"]);
        assert!(o.status.success(), "announce --token {form}: {}", text(&o.stderr));
        let o = run(&["pm", "remove", "--token", &form, "--id", "9"]);
        assert!(o.status.success(), "remove --token {form}: {}", text(&o.stderr));
    }
    // A token no connection has is named, in both readings when ambiguous.
    let wrong = if token == 12345678 { 12345679u32 } else { 12345678 };
    let o = run(&["pm", "remove", "--token", &wrong.to_string(), "--id", "9", "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let v = json(&o);
    assert_eq!(v["kind"], "not-found", "{v}");
    let as_hex = u32::from_str_radix(&wrong.to_string(), 16).unwrap();
    let msg = v["error"].as_str().unwrap();
    assert!(msg.contains(&format!("({wrong})")) && msg.contains(&format!("(0x{as_hex:08x})")), "{v}");
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn conns_flags_mean_what_they_mean_to_ss() {
    mptcp_netns::require_root();
    let c = connection("cfl", 2);
    let ns = &c.client;
    let run = |args: &[&str]| ns.command(BIN).args(args).output().unwrap();
    // A listener on the client side too.
    let _l = ns.in_ns(|| TcpListener::bind_mptcp("0.0.0.0:5004")).unwrap().unwrap();

    let default = text(&run(&["conns"]).stdout);
    assert_eq!(default.lines().filter(|l| !l.starts_with(' ')).count(), 1, "connections only: {default}");
    assert!(!default.contains("LISTEN"), "{default}");

    let listening = text(&run(&["conns", "-l"]).stdout);
    assert_eq!(listening.trim(), "LISTEN     0.0.0.0:5004", "listening only, without a remote: {listening}");
    let all = text(&run(&["conns", "--all"]).stdout);
    assert!(all.contains("LISTEN     0.0.0.0:5004") && all.contains("ESTAB"), "{all}");
    assert!(!all.contains("[::]:0") && !all.contains("0.0.0.0:0"), "{all}");
    let j = json(&run(&["conns", "-l", "-j"]));
    assert_eq!(j.as_array().unwrap().len(), 1, "{j}");
    assert_eq!((j[0]["state"].as_str(), j[0]["local"].as_str()), (Some("LISTEN"), Some("0.0.0.0:5004")));
    assert!(j[0].get("remote").is_none() && j[0].get("subflows").is_none(), "{j}");

    // `-p` is processes in ss: not taken here.
    let o = run(&["conns", "-p", "5003"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    let o = run(&["conns", "-l", "-a"]);
    assert_eq!(o.status.code(), Some(2), "-l and -a conflict");
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn an_empty_listing_says_so_on_a_terminal_only() {
    mptcp_netns::require_root();
    let ns = Netns::new("empty").unwrap();
    let piped = ns.command(BIN).arg("conns").output().unwrap();
    assert!(piped.status.success());
    assert!(piped.stdout.is_empty(), "nothing on a pipe: {}", text(&piped.stdout));
    // `script` gives the command a terminal.
    let cmd = format!("ip netns exec {} {BIN} conns", ns.name());
    let tty = Command::new("script").args(["-qec", &cmd, "/dev/null"]).output().expect("script (util-linux)");
    assert!(tty.status.success(), "{}", text(&tty.stderr));
    assert_eq!(text(&tty.stdout).trim(), "no MPTCP connections");
    let cmd = format!("ip netns exec {} {BIN} conns -l --port 80", ns.name());
    let tty = Command::new("script").args(["-qec", &cmd, "/dev/null"]).output().unwrap();
    assert_eq!(text(&tty.stdout).trim(), "no MPTCP listening sockets match");
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn the_lab_with_stdout_closed_stops_and_removes_what_it_made() {
    mptcp_netns::require_root();
    let child = spawn_with_stdout_closed(Command::new(BIN).args(["lab", "-t", "1", "--no-plot"]));
    let pid = child.id();
    let o = child.wait_with_output().unwrap();
    assert_silent_success("lab", &o);
    let list = text(&mptcp_netns::cmd(&["ip", "netns", "list"]).unwrap().stdout);
    assert!(!list.lines().any(|l| l.starts_with(&format!("mptcp-{pid}-"))), "left behind: {list}");
}
