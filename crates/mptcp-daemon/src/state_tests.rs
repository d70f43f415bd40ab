use super::*;

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
