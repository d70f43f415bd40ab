use super::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mptcp-daemon-state-{}-{tag}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    d
}

#[test]
fn round_trip_lock_and_bad_file() {
    let dir = tmpdir("rt");
    let (store, state, warn) = Store::open(&dir).unwrap();
    assert_eq!((state, warn), (StateFile::default(), None));
    let s = StateFile {
        version: 1,
        owned: vec![Owned {
            id: 3,
            addr: "10.0.1.1".parse().unwrap(),
            ifindex: Some(4),
            ifname: "p0".into(),
            flags: 2,
            port: None,
            since: "x".into(),
        }],
        adding: vec![Owned {
            id: 4,
            addr: "10.0.2.1".parse().unwrap(),
            ifindex: Some(5),
            ifname: "p1".into(),
            flags: 2,
            port: None,
            since: "y".into(),
        }],
        ids: [("10.0.1.1".parse().unwrap(), 3)].into_iter().collect(),
    };
    store.save(&s).unwrap();
    // A second daemon on the same directory is refused, naming the first.
    let e = Store::open(&dir).unwrap_err();
    assert!(e.to_string().contains(&format!("pid {}", std::process::id())), "{e}");
    drop(store);
    let (_store, back, _) = Store::open(&dir).unwrap();
    assert_eq!(back, s);
    drop(_store);
    fs::write(dir.join("state.json"), "{not json").unwrap();
    let (_store, back, warn) = Store::open(&dir).unwrap();
    assert_eq!(back, StateFile::default());
    assert!(warn.unwrap().contains("did not parse"));
    assert!(dir.join("state.json.bad").exists());
    let _ = fs::remove_dir_all(&dir);
}

/// A directory removed on drop (also when a test fails).
struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let d = tmpdir(tag);
        fs::create_dir_all(&d).unwrap();
        fs::set_permissions(&d, fs::Permissions::from_mode(0o755)).unwrap();
        Dir(d)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// `Store::open` on another thread, failing instead of hanging when it blocks.
fn open_within(dir: &Path) -> io::Result<(Store, StateFile, Option<String>)> {
    let (tx, rx) = std::sync::mpsc::channel();
    let d = dir.to_path_buf();
    std::thread::spawn(move || {
        let _ = tx.send(Store::open(&d));
    });
    rx.recv_timeout(std::time::Duration::from_secs(5)).expect("Store::open blocked")
}

#[test]
fn links_in_the_runtime_directory_are_never_followed() {
    let base = Dir::new("links");
    let victim = base.0.join("victim");
    fs::write(&victim, "precious\n").unwrap();
    let run = base.0.join("run");
    fs::create_dir(&run).unwrap();

    // The lock file: opening it would truncate the file it points to.
    std::os::unix::fs::symlink(&victim, run.join("daemon.lock")).unwrap();
    let e = open_within(&run).unwrap_err();
    assert!(e.to_string().contains("daemon.lock") && e.to_string().contains("symbolic link"), "{e}");
    fs::remove_file(run.join("daemon.lock")).unwrap();

    // The state file is read only if it is a regular file of ours.
    std::os::unix::fs::symlink(&victim, run.join("state.json")).unwrap();
    let e = open_within(&run).unwrap_err();
    assert!(e.to_string().contains("state.json") && e.to_string().contains("symbolic link"), "{e}");
    fs::remove_file(run.join("state.json")).unwrap();
    nix::unistd::mkfifo(&run.join("state.json"), nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let e = open_within(&run).unwrap_err();
    assert!(e.to_string().contains("not a regular file"), "{e}");
    fs::remove_file(run.join("state.json")).unwrap();

    // The temporary file of a save: created afresh, never through a link.
    std::os::unix::fs::symlink(&victim, run.join(".state.json.tmp")).unwrap();
    let (store, _, _) = open_within(&run).unwrap();
    store.save(&StateFile { version: 1, ..StateFile::default() }).unwrap();
    assert!(fs::symlink_metadata(run.join("state.json")).unwrap().file_type().is_file());
    drop(store);

    // The runtime directory itself, or one above it, a link.
    std::os::unix::fs::symlink(&run, base.0.join("run-link")).unwrap();
    let e = open_within(&base.0.join("run-link")).unwrap_err();
    assert!(e.to_string().contains("run-link") && e.to_string().contains("symbolic link"), "{e}");
    let e = open_within(&base.0.join("run-link").join("sub")).unwrap_err();
    assert!(e.to_string().contains("symbolic link"), "{e}");
    assert!(!run.join("sub").exists(), "created through the link");
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious\n");
}

#[test]
fn the_runtime_directory_and_those_above_are_not_writable_by_others() {
    let base = Dir::new("modes");
    let run = base.0.join("run");
    fs::create_dir(&run).unwrap();
    for mode in [0o777, 0o775, 0o757] {
        fs::set_permissions(&run, fs::Permissions::from_mode(mode)).unwrap();
        let e = open_within(&run).unwrap_err();
        assert!(e.to_string().contains(&format!("{mode:o}")) && e.to_string().contains("chmod go-w"), "{e}");
    }
    fs::set_permissions(&run, fs::Permissions::from_mode(0o755)).unwrap();
    drop(open_within(&run).unwrap());
    // A directory above writable by others: they could put another in its place.
    fs::set_permissions(&base.0, fs::Permissions::from_mode(0o777)).unwrap();
    let e = open_within(&run).unwrap_err();
    assert!(e.to_string().contains(&base.0.display().to_string()) && e.to_string().contains("777"), "{e}");
    // ... unless it is sticky (as /tmp is): others cannot rename what is not theirs.
    fs::set_permissions(&base.0, fs::Permissions::from_mode(0o1777)).unwrap();
    drop(open_within(&run).unwrap());
    // A new runtime directory (and those above) is made private.
    let fresh = base.0.join("a").join("b");
    drop(open_within(&fresh).unwrap());
    for d in [base.0.join("a"), fresh] {
        assert_eq!(fs::metadata(&d).unwrap().permissions().mode() & 0o7777, 0o755, "{}", d.display());
    }
    assert!(open_within(Path::new("relative/run")).unwrap_err().to_string().contains("absolute"));
}
