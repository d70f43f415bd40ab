//! Reloading (SIGHUP): the configuration is read without stopping the
//! event loop, and only from a regular file.

mod common;

use std::path::PathBuf;

use common::*;

/// Gives a FIFO a writer when dropped, so that a reader blocked on it (the
/// old behaviour) ends and the daemon can be stopped after a failure.
struct Unblock(PathBuf);

impl Drop for Unblock {
    fn drop(&mut self) {
        use std::os::unix::fs::OpenOptionsExt;
        let _ = std::fs::OpenOptions::new().write(true).custom_flags(libc::O_NONBLOCK).open(&self.0);
    }
}

#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn a_fifo_on_reload_is_refused_and_events_are_still_followed() {
    let lab = Lab::new(2);
    let dir = TempDir::new("fifo");
    std::fs::create_dir_all(&dir.0).unwrap();
    let path = dir.0.join("daemon.toml");
    std::fs::write(&path, "default_route = \"any\"\n").unwrap();
    let mut cfg = mptcp_daemon::Config::load(&path).unwrap();
    cfg.runtime_dir = None;
    let d = spawn(&lab, cfg);
    expect_endpoints(&lab, &["10.60.0.1 dev p0 subflow", "10.61.0.1 dev p1 subflow"]);

    // The file is replaced by a FIFO nobody writes into, then SIGHUP.
    std::fs::remove_file(&path).unwrap();
    nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let _unblock = Unblock(path.clone());
    d.reload();
    // The daemon goes on following the links.
    lab.ip("link set p1 down");
    expect_endpoints(&lab, &["10.60.0.1 dev p0 subflow"]);
    lab.ip("link set p1 up");
    expect_endpoints(&lab, &["10.60.0.1 dev p0 subflow", "10.61.0.1 dev p1 subflow"]);
    assert_eq!(d.status().state, "running");

    // A regular file again: the next reload applies it.
    std::fs::remove_file(&path).unwrap();
    std::fs::write(&path, "default_route = \"any\"\n[[interface]]\nname = \"p1\"\nflags = [\"subflow\", \"backup\"]\n")
        .unwrap();
    d.reload();
    expect_endpoints(&lab, &["10.60.0.1 dev p0 subflow", "10.61.0.1 dev p1 subflow backup"]);
    d.stop().unwrap();
}
