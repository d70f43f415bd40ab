//! packaging/deb.sh: the Debian package is built from the test's binary,
//! installed with dpkg, used from /usr/bin, checked for the files Debian's
//! tools look for (man pages, completions, copyright, the daemon's unit),
//! then removed and purged, leaving nothing behind.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{text, RemoveOnDrop};

const BIN: &str = env!("CARGO_BIN_EXE_mptcp");

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program).args(args).output().unwrap_or_else(|e| panic!("{program}: {e}"))
}

/// dpkg, retried while another dpkg or apt holds its lock (bounded).
fn dpkg(args: &[&str]) -> Output {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let o = run("dpkg", args);
        let err = text(&o.stderr);
        if o.status.success() || !err.contains("lock") || Instant::now() > deadline {
            return o;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn installed() -> bool {
    text(&run("dpkg-query", &["-W", "-f=${db:Status-Status}", "mptcp"]).stdout) == "installed"
}

/// Purges the package however the test ends.
struct Purge;

impl Drop for Purge {
    fn drop(&mut self) {
        let _ = dpkg(&["--purge", "mptcp"]);
    }
}

/// Builds the package into `out` with `dist` as the tree's `dist/`.
fn build(out: &Path, dist: &Path) -> PathBuf {
    let script = workspace().join("packaging/deb.sh");
    let o = Command::new(&script)
        .args(["--binary", BIN, "--out"])
        .arg(out)
        .arg("--dist")
        .arg(dist)
        .output()
        .expect("run packaging/deb.sh");
    assert!(o.status.success(), "deb.sh: {}", text(&o.stderr));
    let deb = PathBuf::from(text(&o.stdout).trim());
    assert!(deb.is_file(), "deb.sh printed {deb:?}");
    deb
}

/// The files (not directories) of a package, as absolute paths.
fn files_of(deb: &Path) -> Vec<String> {
    let o = run("dpkg-deb", &["-c", deb.to_str().unwrap()]);
    assert!(o.status.success());
    text(&o.stdout)
        .lines()
        .filter(|l| l.starts_with('-'))
        .filter_map(|l| l.split_whitespace().last())
        .map(|p| p.trim_start_matches('.').to_string())
        .collect()
}

#[test]
#[ignore = "needs root: installs a package with dpkg (scripts/test.sh runs it)"]
fn the_deb_installs_works_from_usr_bin_and_purges_without_a_trace() {
    mptcp_netns::require_root();
    assert!(
        !installed(),
        "a package named mptcp is installed already: remove it before this test (dpkg --purge mptcp)"
    );
    let scratch = RemoveOnDrop(std::env::temp_dir().join(format!("mptcp-deb-{}", std::process::id())));
    let tmp = &scratch.0;
    let (out, empty) = (tmp.join("out"), tmp.join("empty"));
    for d in [&out, &empty] {
        std::fs::create_dir_all(d).unwrap();
    }
    // The daemon's unit is part of the tree, and the package is built from
    // the tree's dist/: without the unit this test fails (no stand-in).
    let dist = workspace().join("dist");
    let unit = dist.join("systemd/mptcp-daemon.service");
    let unit_text = std::fs::read_to_string(&unit).unwrap_or_else(|e| {
        panic!("{}: {e}: the daemon's unit is missing from the tree, and the package must ship it", unit.display())
    });

    // deb.sh also builds from a dist/ without the unit (a tree without the
    // daemon): that package has none.
    let bare = build(&out, &empty);
    assert!(!files_of(&bare).iter().any(|f| f.starts_with("/usr/lib/systemd")), "{:?}", files_of(&bare));
    std::fs::remove_file(&bare).unwrap();

    let deb = build(&out, &dist);
    assert!(files_of(&deb).iter().any(|f| f == "/usr/lib/systemd/system/mptcp-daemon.service"), "{:?}", files_of(&deb));
    let files = files_of(&deb);
    let _purge = Purge;
    let o = dpkg(&["-i", deb.to_str().unwrap()]);
    assert!(o.status.success(), "dpkg -i: {}{}", text(&o.stdout), text(&o.stderr));
    assert!(installed());

    // The command, from /usr/bin.
    let o = run("/usr/bin/mptcp", &["status"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).starts_with("MPTCP:"), "{}", text(&o.stdout));
    let o = run("/usr/bin/mptcp", &["--version"]);
    assert_eq!(text(&o.stdout).trim(), format!("mptcp {}", env!("CARGO_PKG_VERSION")));

    // Man pages where man(1) looks, gzipped roff.
    for page in ["mptcp", "mptcp-status", "mptcp-lab", "mptcp-endpoint-add", "mptcp-completions"] {
        let path = format!("/usr/share/man/man1/{page}.1.gz");
        let o = run("gzip", &["-dc", &path]);
        assert!(o.status.success(), "{path}: {}", text(&o.stderr));
        assert!(text(&o.stdout).contains(&format!(".TH {page} 1")), "{path}");
    }
    // Completions where bash-completion, zsh and fish load them from; bash
    // accepts the script and binds it to `mptcp`.
    for f in [
        "/usr/share/bash-completion/completions/mptcp",
        "/usr/share/zsh/vendor-completions/_mptcp",
        "/usr/share/fish/vendor_completions.d/mptcp.fish",
        "/usr/share/doc/mptcp/copyright",
    ] {
        assert!(Path::new(f).is_file(), "{f} missing");
    }
    let o = run("bash", &["-c", "source /usr/share/bash-completion/completions/mptcp && complete -p mptcp"]);
    assert!(text(&o.stdout).contains("-F _mptcp") && text(&o.stdout).trim_end().ends_with(" mptcp"), "{o:?}");
    let copyright = std::fs::read_to_string("/usr/share/doc/mptcp/copyright").unwrap();
    assert!(copyright.contains("License: MIT or Apache-2.0") && copyright.contains("Permission is hereby granted"));
    // The daemon's unit: the tree's, pointing at the installed binary and
    // without its manual-install comments, nothing else changed.
    let unit = std::fs::read_to_string("/usr/lib/systemd/system/mptcp-daemon.service").expect("unit installed");
    assert!(unit.contains("ExecStart=/usr/bin/mptcp daemon") && !unit.contains("/usr/local/bin"), "{unit}");
    let manual_install = |l: &str| l.strip_prefix('#').is_some_and(|r| r.trim_start().starts_with("install "));
    let expected: String = unit_text
        .lines()
        .filter(|l| !manual_install(l))
        .map(|l| l.replace("/usr/local/bin/mptcp", "/usr/bin/mptcp") + "\n")
        .collect();
    assert_eq!(unit, expected, "the installed unit is not the tree's");

    // Remove, then purge: every file goes, and dpkg forgets the package.
    let o = dpkg(&["-r", "mptcp"]);
    assert!(o.status.success(), "dpkg -r: {}", text(&o.stderr));
    assert!(!Path::new("/usr/bin/mptcp").exists());
    let o = dpkg(&["--purge", "mptcp"]);
    assert!(o.status.success(), "dpkg --purge: {}", text(&o.stderr));
    let left: Vec<&String> = files.iter().filter(|f| Path::new(f).exists()).collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    assert!(!Path::new("/usr/share/doc/mptcp").exists(), "/usr/share/doc/mptcp left behind");
    let info: Vec<_> = std::fs::read_dir("/var/lib/dpkg/info")
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("mptcp."))
        .map(|e| e.path())
        .collect();
    assert!(info.is_empty(), "dpkg still knows: {info:?}");
    assert!(!installed());
}
