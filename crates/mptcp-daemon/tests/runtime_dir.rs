//! The runtime directory of a daemon running as root: nobody else may own
//! it or a directory above it (they could swap it for one of theirs).
//! Links and modes are tested without root in src/state_tests.rs.

mod common;

use std::os::unix::fs::{chown, MetadataExt, PermissionsExt};

use common::*;

#[test]
#[ignore = "needs root: network namespaces and chown (scripts/test.sh runs it)"]
fn directories_of_other_users_are_refused() {
    let lab = Lab::new(1);
    let base = TempDir::new("owner");
    std::fs::create_dir_all(&base.0).unwrap();
    std::fs::set_permissions(&base.0, std::fs::Permissions::from_mode(0o755)).unwrap();
    let run = base.0.join("run");
    std::fs::create_dir(&run).unwrap();
    let toml = format!("runtime_dir = \"{}\"\ndefault_route = \"any\"\n", run.display());
    let start = |toml: String| lab.dut.in_ns(move || mptcp_daemon::spawn(config(&toml))).unwrap();

    // The runtime directory belongs to another user (65534, nobody).
    chown(&run, Some(65534), Some(65534)).unwrap();
    let err = start(toml.clone()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(&run.display().to_string()) && msg.contains("belongs to user 65534"), "{msg}");
    assert!(!run.join("daemon.lock").exists() && !run.join("state.json").exists(), "wrote into it");
    assert!(lab.endpoints().is_empty(), "nothing touched");

    // A directory above it does: that user could rename it away.
    chown(&run, Some(0), Some(0)).unwrap();
    chown(&base.0, Some(65534), Some(65534)).unwrap();
    let msg = start(toml.clone()).unwrap_err().to_string();
    assert!(msg.contains(&base.0.display().to_string()) && msg.contains("belongs to user 65534"), "{msg}");
    assert!(lab.endpoints().is_empty(), "nothing touched");

    // Both root's: it starts, and what it writes is root's, not writable by others.
    chown(&base.0, Some(0), Some(0)).unwrap();
    let d = start(toml).unwrap();
    expect_endpoints(&lab, &["10.60.0.1 dev p0 subflow"]);
    for f in ["daemon.lock", "state.json"] {
        let m = std::fs::symlink_metadata(run.join(f)).unwrap();
        assert!(m.file_type().is_file() && m.uid() == 0 && m.mode() & 0o022 == 0, "{f}: {m:?}");
    }
    d.stop().unwrap();
}
