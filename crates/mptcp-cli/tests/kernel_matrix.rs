//! tests/kernels/run.sh, the qemu kernel matrix, without booting anything
//! (`--plan` prints what each kernel would run and stops before root,
//! apt, builds and qemu): which suites each kernel runs, and that with CI
//! set a reduced set of suites is refused (issue 21, items 17 and 18).
//! The matrix itself runs in scripts/test.sh.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::{output, text};

/// Every suite the matrix runs by default, in order.
const ALL: &str = "scenarios pm cli run run_bpf daemon bench listener";

fn run_sh() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/kernels/run.sh")
}

/// `bash tests/kernels/run.sh ARGS` with `CI` and `KERNEL_SUITES` as
/// given (unset when `None`); returns (exit code, stdout, stderr). Every
/// call passes `--plan`, so nothing is ever booted, even by a script that
/// failed to refuse.
fn plan(ci: Option<&str>, suites: Option<&str>, args: &[&str]) -> (Option<i32>, String, String) {
    let mut cmd = Command::new("bash");
    cmd.arg(run_sh()).arg("--plan").args(args);
    match ci {
        Some(v) => cmd.env("CI", v),
        None => cmd.env_remove("CI"),
    };
    match suites {
        Some(v) => cmd.env("KERNEL_SUITES", v),
        None => cmd.env_remove("KERNEL_SUITES"),
    };
    let (status, out, err) = output(&mut cmd, Duration::from_secs(60));
    (status.and_then(|s| s.code()), text(&out), text(&err))
}

/// The suites the plan lists for `kernel`.
fn suites_of(out: &str, kernel: &str) -> String {
    let prefix = format!("kernels:   {kernel}: suites ");
    let line = out.lines().find_map(|l| l.strip_prefix(&prefix)).unwrap_or_else(|| panic!("no {kernel} in: {out}"));
    line.split(';').next().unwrap().to_string()
}

#[test]
fn every_kernel_with_mptcp_runs_every_suite() {
    let (code, out, err) = plan(None, None, &[]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(out.contains(&format!("suites {ALL}\n")), "{out}");
    assert!(!out.contains("left out"), "{out}");
    for k in ["6.1", "6.12", "sid"] {
        assert_eq!(suites_of(&out, k), ALL, "{out}");
    }
    // Built without MPTCP: the suites that need it throughout are not run,
    // and the plan says so.
    assert_eq!(suites_of(&out, "5.10"), "scenarios pm cli run run_bpf", "{out}");
    assert!(
        out.contains("5.10: suites scenarios pm cli run run_bpf; not on this kernel: daemon bench listener"),
        "{out}"
    );
}

#[test]
fn with_ci_set_a_reduced_set_of_suites_is_refused() {
    for ci in ["true", "1", "yes"] {
        for (suites, args) in [
            (Some("none"), &[][..]),
            (Some("scenarios pm cli run"), &[]),
            (None, &["--suite", "pm"]),
            (None, &["--suite", "none", "6.1"]),
        ] {
            let what = format!("CI={ci} KERNEL_SUITES={suites:?} {args:?}");
            let (code, out, err) = plan(Some(ci), suites, args);
            assert_eq!(code, Some(2), "{what}: {out}\n{err}");
            assert!(err.contains(&format!("kernels: error: CI is set (CI={ci})")), "{what}: {err}");
            assert!(err.contains("under CI every suite runs"), "{what}: {err}");
            assert!(!out.contains("plan"), "{what}: refused before anything: {out}");
        }
        // The whole set, in any order and with more, is fine.
        let (code, out, err) = plan(Some(ci), Some("listener bench daemon run_bpf run cli pm scenarios netns"), &[]);
        assert_eq!(code, Some(0), "CI={ci}, every suite and netns: {out}\n{err}");
    }
}

#[test]
fn without_ci_a_reduced_set_runs_and_says_what_it_left_out() {
    let (code, out, err) = plan(None, Some("none"), &["6.1"]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(out.contains(&format!("suites none (only the probe and the environment check); left out: {ALL}")), "{out}");
    assert_eq!(suites_of(&out, "6.1"), "none (only the probe and the environment check)");
    let (code, out, _) = plan(None, None, &["--suite", "bench", "5.10", "sid"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("5.10: suites none (only the probe and the environment check); not on this kernel: bench"),
        "{out}"
    );
    assert_eq!(suites_of(&out, "sid"), "bench");
    let (code, _, err) = plan(None, None, &["--suite", "nosuch"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("unknown suite 'nosuch'"), "{err}");
}
