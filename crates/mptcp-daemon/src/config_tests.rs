use super::*;

fn parse(t: &str) -> Result<Config, ConfigError> {
    Config::from_toml(t, "d.toml")
}

fn err(t: &str) -> (Option<usize>, Option<String>, String) {
    let e = parse(t).unwrap_err();
    assert_eq!(e.file, "d.toml");
    (e.line, e.key, e.message)
}

#[test]
fn empty_file_is_the_defaults() {
    assert_eq!(parse("").unwrap(), Config::default());
    assert_eq!(parse("# nothing\n\n").unwrap(), Config::default());
}

#[test]
fn the_example_shows_the_defaults_and_its_rules_parse() {
    assert_eq!(parse(EXAMPLE).unwrap(), Config::default());
    // Uncomment the example rules: they must parse as shown.
    let (head, rules) = EXAMPLE.split_once("# --- rules ---").unwrap();
    let uncommented: String = rules
        .lines()
        .filter_map(|l| l.strip_prefix("# ").or(if l == "#" { Some("") } else { None }))
        .filter(|l| !l.starts_with("Per-interface") && !l.starts_with("interface that"))
        .map(|l| format!("{l}\n"))
        .collect();
    let cfg = parse(&format!("{head}{uncommented}")).unwrap();
    assert_eq!(cfg.rules.len(), 3);
    assert_eq!(cfg.rule_for("wlan0").unwrap().flags, Some(EndpointFlags::SUBFLOW | EndpointFlags::BACKUP));
    assert_eq!(cfg.rule_for("eno1").unwrap().port, Some(10000));
    assert_eq!(cfg.rule_for("eno1").unwrap().ipv6, Some(false));
    assert!(cfg.rule_for("tun0").unwrap().ignore);
    assert!(cfg.rule_for("eth1").is_none());
}

#[test]
fn every_key() {
    let c = parse(
        r#"
manage = "all"
on_exit = "flush"
default_route = "interface"
wait_for_mptcp = true
runtime_dir = "/tmp/x"
metrics = "0.0.0.0:9477"
flags = ["subflow", "fullmesh"]
ipv4 = false
ipv6_temporary = true
ipv6_unique_local = true
ignore_interfaces = []
ignore_addresses = ["192.0.2.0/24", "2001:db8::1"]
[limits]
subflows = 8
add_addr_accepted = 0
[[interface]]
name = ["wlan*", "wwan?"]
flags = ["signal", "backup"]
port = 4242
ipv4 = true
"#,
    )
    .unwrap();
    assert_eq!((c.manage, c.on_exit, c.default_route), (Manage::All, OnExit::Flush, DefaultRoute::Interface));
    assert!(c.wait_for_mptcp && !c.ipv4 && c.ipv6 && c.ipv6_temporary && c.ipv6_unique_local);
    assert_eq!(c.runtime_dir.as_deref(), Some(Path::new("/tmp/x")));
    assert_eq!(c.metrics, Some("0.0.0.0:9477".parse().unwrap()));
    assert_eq!(c.flags, EndpointFlags::SUBFLOW | EndpointFlags::FULLMESH);
    assert!(c.ignore_interfaces.is_empty());
    assert!(c.address_ignored("192.0.2.9".parse().unwrap()) && !c.address_ignored("2001:db8::2".parse().unwrap()));
    assert_eq!((c.subflows, c.add_addr_accepted), (Limit::Set(8), Limit::Set(0)));
    let r = c.rule_for("wwan0").unwrap();
    assert_eq!((r.port, r.ipv4, r.ipv6, r.line), (Some(4242), Some(true), None, 17));
    assert!(c.rule_for("wwan10").is_none());
}

#[test]
fn errors_name_line_and_key() {
    assert_eq!(err("manage = \"mine\"\n").0, Some(1));
    assert_eq!(err("manage = \"mine\"\n").1.as_deref(), Some("manage"));
    let (l, k, m) = err("\n\nflags = [\"subflow\", \"bakup\"]\n");
    assert_eq!((l, k.as_deref()), (Some(3), Some("flags")));
    assert!(m.contains("unknown flag \"bakup\""), "{m}");
    let (l, k, m) = err("[limits]\nsubflows = \"lots\"\n");
    assert_eq!((l, k.as_deref()), (Some(2), Some("limits.subflows")));
    assert!(m.contains("\"auto\", \"keep\" or a number 0-8"), "{m}");
    let (l, k, _) = err("[limits]\nadd_addr_accepted = \"auto\"\n");
    assert_eq!((l, k.as_deref()), (Some(2), Some("limits.add_addr_accepted")));
    // Unknown keys, at the top and inside a table, found through the spans.
    let (l, k, m) = err("manage = \"own\"\nmanaged = \"own\"\n");
    assert_eq!((l, k.as_deref()), (Some(2), Some("managed")));
    assert!(m.contains("unknown field"), "{m}");
    let (l, k, _) = err("[limits]\nsubflow = 2\n");
    assert_eq!((l, k.as_deref()), (Some(2), Some("limits.subflow")));
    let (l, k, _) = err("[[interface]]\nname = \"a\"\n[[interface]]\nname = \"b\"\nprot = 1\n");
    assert_eq!((l, k.as_deref()), (Some(5), Some("interface.prot")));
    // Wrong types.
    let (l, k, _) = err("ipv4 = \"yes\"\n");
    assert_eq!((l, k.as_deref()), (Some(1), Some("ipv4")));
    let (l, k, _) = err("[[interface]]\nname = \"a\"\nignore = 1\n");
    assert_eq!((l, k.as_deref()), (Some(3), Some("interface.ignore")));
    // A rule without a name.
    let (l, _, m) = err("[[interface]]\nflags = [\"subflow\"]\n");
    assert_eq!(l, Some(1));
    assert!(m.contains("name"), "{m}");
    // TOML syntax errors still give the line.
    assert_eq!(err("manage = \n").0, Some(1));
    assert_eq!(err("a = 1\n[limits\n").0, Some(2));
}

#[test]
fn semantic_checks() {
    let (l, k, m) = err("[[interface]]\nname = \"e*\"\nflags = [\"subflow\"]\nport = 80\n");
    assert_eq!((l, k.as_deref()), (Some(4), Some("interface.port")));
    assert!(m.contains("signal"), "{m}");
    let (_, k, m) = err("flags = [\"signal\", \"fullmesh\"]\n");
    assert_eq!(k.as_deref(), Some("flags"));
    assert!(m.contains("cannot be combined"), "{m}");
    assert!(err("flags = []\n").2.contains("no flag"));
    assert!(err("flags = [\"implicit\"]\n").2.contains("unknown flag"));
    assert_eq!(
        err("[[interface]]\nname = \"x\"\nport = 70000\nflags=[\"signal\"]\n").1.as_deref(),
        Some("interface.port")
    );
    assert_eq!(err("[[interface]]\nname = []\n").1.as_deref(), Some("interface.name"));
    assert_eq!(err("[[interface]]\nname = \"a b\"\n").1.as_deref(), Some("interface.name"));
    assert_eq!(err("runtime_dir = \"run\"\n").1.as_deref(), Some("runtime_dir"));
    assert_eq!(err("metrics = \"localhost\"\n").1.as_deref(), Some("metrics"));
    // `:PORT` would listen on every interface: the address must be written.
    let (l, k, m) = err("\nmetrics = \":9477\"\n");
    assert_eq!((l, k.as_deref()), (Some(2), Some("metrics")));
    assert!(m.contains("127.0.0.1:9477") && m.contains("0.0.0.0:9477"), "{m}");
    assert_eq!(parse("metrics = \"[::1]:9477\"\n").unwrap().metrics, Some("[::1]:9477".parse().unwrap()));
    assert_eq!(err("ignore_addresses = [\"10.0.0.0/40\"]\n").1.as_deref(), Some("ignore_addresses"));
    // An interface that does not exist (yet) is fine.
    assert!(parse("[[interface]]\nname = \"nosuchif0\"\n").is_ok());
    // A port on a signal rule is fine, also with signal as the global flag.
    assert!(parse("flags = [\"signal\"]\n[[interface]]\nname = \"e*\"\nport = 80\n").is_ok());
}

#[test]
fn load_names_the_file() {
    let e = Config::load(Path::new("/nonexistent/daemon.toml")).unwrap_err();
    assert_eq!(e.file, "/nonexistent/daemon.toml");
    assert!(e.to_string().contains("cannot read"), "{e}");
}

#[test]
fn the_readme_example_parses() {
    let readme = include_str!("../../../README.md");
    let start = readme.find("# /etc/mptcp/daemon.toml (all keys").expect("the README's example configuration");
    let block = &readme[start..];
    let block = &block[..block.find("```").unwrap()];
    let c = parse(block).unwrap();
    assert_eq!(c.rules.len(), 3);
    assert_eq!(c.add_addr_accepted, Limit::Set(2));
    assert_eq!(c.rule_for("eno1").unwrap().port, Some(10000));
}

#[test]
fn a_key_given_twice_is_named() {
    let (l, k, m) = err("manage = \"own\"\nmanage = \"all\"\n");
    assert_eq!((l, k.as_deref()), (Some(2), Some("manage")), "{m}");
    assert!(m.contains("given twice") && m.contains("line 1"), "{m}");
    let (l, k, m) = err("[limits]\nsubflows = 2\n\nsubflows = 3\n");
    assert_eq!((l, k.as_deref()), (Some(4), Some("limits.subflows")), "{m}");
    assert!(m.contains("line 2"), "{m}");
    let (l, k, _) = err("[[interface]]\nname = \"a\"\n[[interface]]\nname = \"b\"\nname = \"c\"\n");
    assert_eq!((l, k.as_deref()), (Some(5), Some("interface.name")));
    // A table given twice is named too.
    let (l, k, _) = err("[limits]\nsubflows = 2\n[limits]\nadd_addr_accepted = 1\n");
    assert_eq!((l, k.as_deref()), (Some(3), Some("limits")));
}

#[test]
fn flags_need_one_that_makes_the_endpoint_used() {
    // One rule for the global list and the rules' lists: at least one of
    // signal, subflow, fullmesh, laminar; backup only modifies them.
    for text in ["flags = []\n", "flags = [\"backup\"]\n", "[[interface]]\nname = \"e*\"\nflags = [\"backup\"]\n"] {
        let (_, k, m) = err(text);
        assert!(k.as_deref().is_some_and(|k| k.ends_with("flags")), "{text}: {k:?}");
        assert!(m.contains("signal, subflow, fullmesh or laminar"), "{text}: {m}");
    }
    for ok in
        [["subflow", "backup"].as_slice(), &["signal", "backup"], &["fullmesh"], &["laminar"], &["laminar", "backup"]]
    {
        let list: Vec<String> = ok.iter().map(|f| format!("\"{f}\"")).collect();
        let text = format!("flags = [{}]\n", list.join(", "));
        assert!(parse(&text).is_ok(), "{text}: {:?}", parse(&text));
    }
}

#[test]
fn only_a_regular_file_is_read_and_never_blocks() {
    let dir = std::env::temp_dir().join(format!("mptcp-daemon-config-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("daemon.toml");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    // Read on another thread: a FIFO nobody writes into would block here.
    let (tx, rx) = std::sync::mpsc::channel();
    let p = fifo.clone();
    std::thread::spawn(move || {
        let _ = tx.send(Config::load(&p));
    });
    let got = rx.recv_timeout(std::time::Duration::from_secs(5));
    if got.is_err() {
        // Unblock the reader before failing (the FIFO gets a writer).
        let _ = std::fs::OpenOptions::new().write(true).open(&fifo);
    }
    let e = got.expect("Config::load blocked on a FIFO").unwrap_err();
    assert_eq!(e.file, fifo.display().to_string());
    assert!(e.message.contains("not a regular file") && e.message.contains("FIFO"), "{e}");
    let e = Config::load(&dir).unwrap_err();
    assert!(e.message.contains("not a regular file") && e.message.contains("directory"), "{e}");
    // A symbolic link to a regular file is fine (configuration management does that).
    std::fs::write(dir.join("real.toml"), "manage = \"all\"\n").unwrap();
    std::os::unix::fs::symlink(dir.join("real.toml"), dir.join("link.toml")).unwrap();
    assert_eq!(Config::load(&dir.join("link.toml")).unwrap().manage, Manage::All);
    let _ = std::fs::remove_dir_all(&dir);
}
