//! scripts/test.sh refuses what would otherwise pass without a word
//! (issue 21, items 15 and 16): a kernel matrix whose runner is missing or
//! not executable, and a CI run that is not root (CI set to anything, not
//! only `true` or `1`). Each refusal comes before anything runs, so the
//! script is run for real: a copy of it in a temporary tree that has
//! everything the refusal looks at and nothing else, so a script that
//! failed to refuse would stop at the first thing it then tried, with
//! other words on stderr.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{output, text, RemoveOnDrop};

/// scripts/test.sh of this workspace.
fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/test.sh")
}

/// A tree `T/scripts/test.sh` (a copy of the real one) with
/// `T/tests/kernels/run.sh` as `runner` says: `None` missing, else a stub
/// with that mode which leaves `T/ran` when it is run.
fn tree(runner: Option<u32>) -> RemoveOnDrop {
    static N: AtomicUsize = AtomicUsize::new(0);
    let root = std::env::temp_dir().join(format!(
        "mptcp-test-script-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let guard = RemoveOnDrop(root.clone());
    std::fs::create_dir_all(root.join("scripts")).unwrap();
    std::fs::create_dir_all(root.join("tests/kernels")).unwrap();
    std::fs::copy(script(), root.join("scripts/test.sh")).unwrap();
    if let Some(mode) = runner {
        let run = root.join("tests/kernels/run.sh");
        std::fs::write(&run, format!("#!/bin/sh\ntouch '{}'\n", root.join("ran").display())).unwrap();
        std::fs::set_permissions(&run, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    for d in [&root, &root.join("scripts"), &root.join("tests"), &root.join("tests/kernels")] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    guard
}

/// Runs `bash T/scripts/test.sh ARGS` (through `prefix`, e.g. setpriv)
/// with `CI` as given; returns (exit code, stdout, stderr).
fn run(tree: &Path, prefix: &[&str], ci: Option<&str>, args: &[&str]) -> (Option<i32>, String, String) {
    let mut cmd = Command::new(prefix.first().copied().unwrap_or("bash"));
    if !prefix.is_empty() {
        cmd.args(&prefix[1..]).arg("bash");
    }
    cmd.arg(tree.join("scripts/test.sh")).args(args).current_dir(tree);
    match ci {
        Some(v) => cmd.env("CI", v),
        None => cmd.env_remove("CI"),
    };
    let (status, out, err) = output(&mut cmd, std::time::Duration::from_secs(60));
    (status.and_then(|s| s.code()), text(&out), text(&err))
}

/// Nothing of the suite ran: no `== step` line, no "all tests passed".
fn assert_nothing_ran(what: &str, out: &str, err: &str) {
    assert!(!out.contains("=="), "{what}: the suite started: {out}\n{err}");
    assert!(!out.contains("all tests passed"), "{what}: {out}");
}

#[test]
fn a_missing_or_non_executable_kernel_runner_fails() {
    for (runner, why) in [(None, "is missing"), (Some(0o644), "is not executable (chmod +x tests/kernels/run.sh)")] {
        let t = tree(runner);
        let (code, out, err) = run(&t.0, &[], None, &[]);
        let what = format!("run.sh {why}");
        assert_eq!(code, Some(1), "{what}: stdout {out}\nstderr {err}");
        assert!(err.contains(&format!("FAIL: the kernel matrix's tests/kernels/run.sh {why}")), "{what}: {err}");
        assert!(err.contains("--no-kernels"), "{what}: says how to leave the matrix out: {err}");
        assert_nothing_ran(&what, &out, &err);
        assert!(!t.0.join("ran").exists(), "{what}: the runner was run");
    }
}

#[test]
fn bad_arguments_exit_2_before_anything() {
    let t = tree(Some(0o755));
    let (code, out, err) = run(&t.0, &[], None, &["--kernels-off"]);
    assert_eq!(code, Some(2), "{out}\n{err}");
    assert!(err.contains("usage:"), "{err}");
    assert_nothing_ran("bad argument", &out, &err);
}

#[test]
#[ignore = "needs root: runs the script as nobody (setpriv) (scripts/test.sh runs it)"]
fn ci_set_to_anything_refuses_a_non_root_run() {
    mptcp_netns::require_root();
    // An executable runner: the refusal is about root alone.
    let t = tree(Some(0o755));
    let nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"];
    for ci in ["true", "1", "yes", "woodpecker", "false"] {
        let (code, out, err) = run(&t.0, &nobody, Some(ci), &[]);
        let what = format!("CI={ci} as nobody");
        assert_eq!(code, Some(1), "{what}: stdout {out}\nstderr {err}");
        assert!(err.contains(&format!("FAIL: CI is set (CI={ci}) but not root")), "{what}: {err}");
        assert_nothing_ran(&what, &out, &err);
        // Also with the matrix left out: the namespace tests still need root.
        let (code, _, err) = run(&t.0, &nobody, Some(ci), &["--no-kernels"]);
        assert_eq!(code, Some(1), "{what} --no-kernels: {err}");
        assert!(err.contains("but not root"), "{what} --no-kernels: {err}");
    }
}
