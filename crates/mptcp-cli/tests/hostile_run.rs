//! `mptcp run` and `mptcp systemd` among other users (issue 21, items 2, 3,
//! 5 and 6): where the preload library and the `--report` records are put,
//! which libraries are loaded, what a drop-in says.
//!
//! The tests that play another user run `mptcp` as `nobody` (uid 65534)
//! through `setpriv --reuid=65534 --regid=65534 --clear-groups` (util-linux),
//! as tests/conventions.rs does, and make files owned by other users: they
//! need root and are `#[ignore]`d (run them with `-- --include-ignored` as
//! root, as scripts/test.sh does). Every file they make is under one scratch
//! directory, removed on drop (also on panic). No network traffic at all:
//! the programs only create sockets.

mod common;

use std::ffi::OsStr;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{outcome, Out, RemoveOnDrop, MPTCP};

const NOBODY: u32 = 65534;
/// Owner of the squatted names: uid 1 (`daemon` on Debian), neither root
/// nor `nobody`.
const SQUATTER: u32 = 1;
const PATH_ENV: &str = "/usr/local/bin:/usr/bin:/bin";

/// `/usr/bin/python3`: a python `nobody` can run (not a pyenv in root's home).
const PYTHON: &str = "/usr/bin/python3";

/// A scratch directory owned by root, mode 0755, removed on drop.
struct Scratch {
    dir: PathBuf,
    _cleanup: RemoveOnDrop,
}

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("mptcp-hostile-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let s = Scratch { dir: dir.clone(), _cleanup: RemoveOnDrop(dir) };
        s.mkdir("", 0o755, 0);
        s
    }

    /// Makes `rel` (no parents) with `mode`, owned by `uid`.
    fn mkdir(&self, rel: &str, mode: u32, uid: u32) -> PathBuf {
        let p = if rel.is_empty() { self.dir.clone() } else { self.dir.join(rel) };
        std::fs::create_dir(&p).unwrap_or_else(|e| panic!("mkdir {}: {e}", p.display()));
        own(&p, mode, uid);
        p
    }

    /// Writes `rel` with `content`, `mode`, owned by `uid`.
    fn file(&self, rel: &str, content: &[u8], mode: u32, uid: u32) -> PathBuf {
        let p = self.dir.join(rel);
        std::fs::write(&p, content).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
        own(&p, mode, uid);
        p
    }
}

fn own(p: &Path, mode: u32, uid: u32) {
    nix::unistd::chown(p, Some(nix::unistd::Uid::from_raw(uid)), Some(nix::unistd::Gid::from_raw(uid)))
        .unwrap_or_else(|e| panic!("chown {}: {e}", p.display()));
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// `mptcp ARGS` as `nobody`, with only `PATH` and `extra` in its
/// environment (no `XDG_RUNTIME_DIR` unless given).
fn as_nobody(mptcp: &Path, args: &[&str], extra: &[(&str, &OsStr)]) -> Command {
    let mut c = Command::new("setpriv");
    c.args(["--reuid=65534", "--regid=65534", "--clear-groups"]).arg(mptcp).args(args);
    c.env_clear().env("PATH", PATH_ENV).current_dir("/");
    for (k, v) in extra {
        c.env(k, v);
    }
    c
}

/// A copy of the `mptcp` binary alone in a root-owned directory of
/// `scratch` (no preload library next to it), so that the built-in copy is
/// the library used.
fn alone(scratch: &Scratch) -> PathBuf {
    let bin = scratch.mkdir("bin", 0o755, 0);
    let mptcp = bin.join("mptcp");
    common::copy_mptcp(&mptcp);
    mptcp
}

/// The library `mptcp run -v` used, from its log line.
fn ld_preload_of(stderr: &str) -> PathBuf {
    let v = stderr
        .split("LD_PRELOAD=")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no LD_PRELOAD in the -v output: {stderr}"));
    PathBuf::from(v)
}

/// Only root and `uid` can change what `path` names: no symbolic link on
/// it, the file and every directory above it owned by one of them and
/// writable by nobody else, except sticky directories above the file's own.
fn assert_only_changeable_by(path: &Path, uid: u32) {
    let md = std::fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(md.is_file(), "{} is not a regular file", path.display());
    assert!([0, uid].contains(&md.uid()) && md.mode() & 0o022 == 0, "{}: {md:?}", path.display());
    let parent = path.parent().expect("a parent");
    for (i, dir) in parent.ancestors().enumerate() {
        let md = std::fs::symlink_metadata(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let mode = md.mode() & 0o7777;
        assert!(md.is_dir(), "{} is not a directory (a symbolic link?)", dir.display());
        assert!([0, uid].contains(&md.uid()), "{} is owned by uid {}", dir.display(), md.uid());
        let sticky_above = i > 0 && mode & 0o1000 != 0;
        assert!(mode & 0o022 == 0 || sticky_above, "{} has mode {mode:o}", dir.display());
    }
}

/// The shared temporary directory of the tests: root's, mode 1777, with
/// names squatted by uid 1: the predictable `mptcp-65534` of old (mode
/// 0777) and two names of the new pattern (a directory of uid 1, and a
/// symbolic link to a directory of root).
fn shared_tmp(s: &Scratch) -> PathBuf {
    let tmp = s.mkdir("tmp", 0o1777, 0);
    s.mkdir("tmp/mptcp-65534", 0o777, SQUATTER);
    s.mkdir("tmp/mptcp-65534-AAAAAA", 0o700, SQUATTER);
    let elsewhere = s.mkdir("elsewhere", 0o700, 0);
    std::os::unix::fs::symlink(&elsewhere, tmp.join("mptcp-65534-BBBBBB")).expect("symlink");
    nix::unistd::fchownat(
        nix::fcntl::AT_FDCWD,
        &tmp.join("mptcp-65534-BBBBBB"),
        Some(nix::unistd::Uid::from_raw(SQUATTER)),
        None,
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .expect("chown the symlink");
    tmp
}

/// Directories of `nobody` in `tmp`, by name.
fn nobodys_dirs(tmp: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(tmp)
        .expect("ls")
        .flatten()
        .filter(|e| e.metadata().is_ok_and(|m| m.is_dir() && m.uid() == NOBODY))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Item 2: without `XDG_RUNTIME_DIR`, the built-in library goes to a fresh
/// private directory in the temporary directory; names other users took
/// first are passed over; later runs reuse the directory.
#[test]
#[ignore = "needs root: acts as user nobody (setpriv) and makes files of other users"]
fn built_in_library_goes_to_a_private_directory_nobody_else_can_squat() {
    mptcp_netns::require_root();
    let s = Scratch::new("squat");
    let mptcp = alone(&s);
    let tmp = shared_tmp(&s);
    let run = || {
        let show = "echo \"$LD_PRELOAD\"; cat /proc/self/maps";
        let cmd = as_nobody(&mptcp, &["run", "-v", "--", "sh", "-c", show], &[("TMPDIR", tmp.as_os_str())]);
        outcome(cmd, Duration::from_secs(20))
    };
    let first = run();
    assert!(first.ok(), "mptcp run as nobody failed: {}\n{}", first.stdout, first.stderr);
    let lib = ld_preload_of(&first.stderr);
    assert!(first.stderr.contains("(preload library: built into mptcp)"), "{}", first.stderr);
    assert_eq!(first.stdout.lines().next(), Some(lib.to_string_lossy().as_ref()));
    assert!(first.stdout.contains(&*lib.to_string_lossy()), "the library is loaded: {}", first.stdout);
    let dir = lib.parent().expect("dir");
    let name = dir.file_name().expect("name").to_string_lossy().into_owned();
    assert!(dir.parent() == Some(tmp.as_path()) && name.starts_with("mptcp-65534-"), "{}", lib.display());
    assert!(!["mptcp-65534-AAAAAA", "mptcp-65534-BBBBBB"].contains(&name.as_str()), "squatted: {name}");
    let md = std::fs::symlink_metadata(dir).expect("stat");
    assert_eq!((md.uid(), md.mode() & 0o7777), (NOBODY, 0o700), "{name}");
    assert_only_changeable_by(&lib, NOBODY);

    // The next run finds that directory again: nothing new in /tmp.
    let second = run();
    assert!(second.ok(), "{}", second.stderr);
    assert_eq!(ld_preload_of(&second.stderr), lib);
    assert_eq!(nobodys_dirs(&tmp), vec![name]);
    // The squatted names are as their owner left them.
    for n in ["mptcp-65534", "mptcp-65534-AAAAAA", "mptcp-65534-BBBBBB"] {
        let md = std::fs::symlink_metadata(tmp.join(n)).expect("still there");
        assert_eq!(md.uid(), SQUATTER, "{n}");
    }
    assert_eq!(std::fs::read_dir(s.dir.join("elsewhere")).expect("ls").count(), 0);
}

/// Item 2: a temporary directory (or `XDG_RUNTIME_DIR`) that others can
/// write and that is not sticky could have the library swapped between the
/// check and the loader's open: never used, with a message saying what to
/// do; a proper `XDG_RUNTIME_DIR` is used.
#[test]
#[ignore = "needs root: acts as user nobody (setpriv) and makes files of other users"]
fn no_library_where_others_can_swap_it() {
    mptcp_netns::require_root();
    let s = Scratch::new("open");
    let mptcp = alone(&s);
    let open = s.mkdir("open", 0o777, 0);
    let tmp = shared_tmp(&s);
    let xdg = s.mkdir("xdg", 0o700, NOBODY);
    let show = ["run", "-v", "--", "sh", "-c", "echo \"$LD_PRELOAD\""];

    let out = outcome(as_nobody(&mptcp, &show, &[("TMPDIR", open.as_os_str())]), Duration::from_secs(20));
    assert!(!out.ok(), "used {}: {}", open.display(), out.stderr);
    assert!(
        out.stderr.contains(&*open.to_string_lossy())
            && out.stderr.contains("writable by other users")
            && out.stderr.contains("TMPDIR")
            && out.stderr.contains("--preload"),
        "{}",
        out.stderr
    );
    assert_eq!(std::fs::read_dir(&open).expect("ls").count(), 0, "nothing written there");

    // XDG_RUNTIME_DIR writable by others: passed over (and said so).
    let env = [("TMPDIR", tmp.as_os_str()), ("XDG_RUNTIME_DIR", open.as_os_str())];
    let out = outcome(as_nobody(&mptcp, &show, &env), Duration::from_secs(20));
    assert!(out.ok(), "{}", out.stderr);
    let lib = ld_preload_of(&out.stderr);
    assert!(lib.starts_with(&tmp), "{}", lib.display());
    assert!(out.stderr.contains("XDG_RUNTIME_DIR not used"), "{}", out.stderr);
    assert_eq!(std::fs::read_dir(&open).expect("ls").count(), 0);
    assert_only_changeable_by(&lib, NOBODY);

    // A proper one: <XDG_RUNTIME_DIR>/mptcp, 0700.
    let env = [("TMPDIR", open.as_os_str()), ("XDG_RUNTIME_DIR", xdg.as_os_str())];
    let out = outcome(as_nobody(&mptcp, &show, &env), Duration::from_secs(20));
    assert!(out.ok(), "{}", out.stderr);
    let lib = ld_preload_of(&out.stderr);
    assert_eq!(lib.parent(), Some(xdg.join("mptcp").as_path()));
    let md = std::fs::metadata(xdg.join("mptcp")).expect("stat");
    assert_eq!((md.uid(), md.mode() & 0o7777), (NOBODY, 0o700));
    assert_only_changeable_by(&lib, NOBODY);
}

/// Item 3: the `--report` records live in the private directory, never in
/// the shared temporary directory, and are gone after the run.
#[test]
#[ignore = "needs root: acts as user nobody (setpriv) and makes files of other users"]
fn report_records_stay_in_the_private_directory() {
    mptcp_netns::require_root();
    let s = Scratch::new("report");
    let mptcp = alone(&s);
    // Shared like /tmp (nobody squats here: that is the test above).
    let tmp = s.mkdir("tmp", 0o1777, 0);
    let script = format!("echo \"$MPTCP_PRELOAD_REPORT\"; {PYTHON} -c 'import socket; socket.socket().close()'");
    let cmd = as_nobody(&mptcp, &["run", "--report", "--", "sh", "-c", &script], &[("TMPDIR", tmp.as_os_str())]);
    let out = outcome(cmd, Duration::from_secs(20));
    assert!(out.ok(), "{}\n{}", out.stdout, out.stderr);
    let report = PathBuf::from(out.stdout.trim());
    let dir = report.parent().expect("dir");
    assert_ne!(dir, tmp.as_path(), "the records were in the shared temporary directory");
    let md = std::fs::symlink_metadata(dir).expect("the private directory stays");
    assert_eq!((md.uid(), md.mode() & 0o7777), (NOBODY, 0o700), "{}", dir.display());
    assert!(dir.starts_with(&tmp), "{}", dir.display());
    assert!(!report.exists(), "{} left behind", report.display());
    // The records were read: the one socket is counted.
    assert!(
        out.stderr.contains("1 socket(s) converted") || out.stderr.contains("1 socket(s) kept TCP"),
        "{}",
        out.stderr
    );
}

/// Item 3: processes that outlive `mptcp run --report` keep
/// `MPTCP_PRELOAD_REPORT`, and anything may be at that path by then: a
/// FIFO nobody reads must not block the program, a symbolic link is not
/// followed, a file of another user is not written; our own regular file
/// gets the records (so the others would have got them too).
#[test]
#[ignore = "needs root: makes files of other users"]
fn leftover_report_paths_never_block_or_get_written() {
    mptcp_netns::require_root();
    let s = Scratch::new("leftover");
    // The library built into this mptcp (not one a workspace build left
    // next to the binary).
    let mptcp = alone(&s);
    let prog = "import socket; s = socket.socket(); s.close(); print('done')";
    let run = |report: &Path| {
        let mut c = Command::new(&mptcp);
        // The preload is what these tests are about: no BPF hook even where it works.
        c.env("MPTCP_RUN_VIA", "preload");
        c.args(["run", "--", PYTHON, "-c", prog]).env("MPTCP_PRELOAD_REPORT", report);
        outcome(c, Duration::from_secs(20))
    };

    let fifo = s.dir.join("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o666)).expect("mkfifo");
    let out = run(&fifo);
    assert!(out.status.is_some(), "blocked on a FIFO at the report path (killed after 20 s)");
    assert!(out.ok() && out.stdout.trim() == "done", "{} {}", out.stdout, out.stderr);

    let target = s.file("target", b"", 0o644, 0);
    let link = s.dir.join("link");
    std::os::unix::fs::symlink(&target, &link).expect("symlink");
    let out = run(&link);
    assert!(out.ok(), "{}", out.stderr);
    assert_eq!(std::fs::read(&target).expect("read"), b"", "written through a symbolic link");

    let foreign = s.file("foreign", b"", 0o666, NOBODY);
    let out = run(&foreign);
    assert!(out.ok(), "{}", out.stderr);
    assert_eq!(std::fs::read(&foreign).expect("read"), b"", "written to a file of another user");

    let ours = s.file("ours", b"", 0o600, 0);
    let out = run(&ours);
    assert!(out.ok(), "{}", out.stderr);
    let records = std::fs::read_to_string(&ours).expect("read");
    assert!(records.starts_with("S ") || records.starts_with("U "), "no record in our own file: {records:?}");
}

/// A copy of the real preload library (the one `mptcp run` writes out).
fn real_library() -> Vec<u8> {
    let mut c = Command::new(MPTCP);
    // The preload is what these tests are about: no BPF hook even where it works.
    c.env("MPTCP_RUN_VIA", "preload");
    c.env_remove("MPTCP_PRELOAD_LIB").args(["run", "-v", "--", "true"]);
    let out = outcome(c, Duration::from_secs(10));
    assert!(out.ok(), "{}", out.stderr);
    std::fs::read(ld_preload_of(&out.stderr)).expect("read the library")
}

/// Item 5: libraries named with `--preload`, `MPTCP_PRELOAD_LIB` or found
/// next to the binary are used only when nobody but root (and, for
/// `mptcp run`, the user running it) can change them.
#[test]
#[ignore = "needs root: acts as user nobody (setpriv) and makes files of other users"]
fn libraries_others_can_change_are_not_loaded() {
    mptcp_netns::require_root();
    let s = Scratch::new("libs");
    let lib = real_library();
    s.mkdir("libs", 0o755, 0);
    let trusted = s.file("libs/root.so", &lib, 0o644, 0);
    let of_nobody = s.file("libs/nobody.so", &lib, 0o644, NOBODY);
    s.mkdir("libs/open", 0o777, 0);
    let in_open = s.file("libs/open/root.so", &lib, 0o644, 0);
    let link = s.dir.join("libs/link.so");
    std::os::unix::fs::symlink(&trusted, &link).expect("symlink");
    let show = |preload: &Path| {
        let mut c = Command::new(MPTCP);
        // The preload is what these tests are about: no BPF hook even where it works.
        c.env("MPTCP_RUN_VIA", "preload");
        c.arg("run").arg("-v").arg("--preload").arg(preload).args(["--", "true"]);
        outcome(c, Duration::from_secs(10))
    };

    // Root runs nothing that another user can change.
    let out = show(&of_nobody);
    assert_eq!(out.code(), Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("not safe to load") && out.stderr.contains("owned by uid 65534"), "{}", out.stderr);
    let mut c = Command::new(MPTCP);
    // The preload is what these tests are about: no BPF hook even where it works.
    c.env("MPTCP_RUN_VIA", "preload");
    c.args(["run", "--", "true"]).env("MPTCP_PRELOAD_LIB", &in_open);
    let out = outcome(c, Duration::from_secs(10));
    assert_eq!(out.code(), Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("MPTCP_PRELOAD_LIB") && out.stderr.contains("writable by other users"),
        "{}",
        out.stderr
    );
    // A link in a trusted place is resolved; the file it names is checked.
    let out = show(&link);
    assert!(out.ok(), "{}", out.stderr);
    assert_eq!(ld_preload_of(&out.stderr), trusted);
    // nobody may load its own library, also through a directory it may
    // only search (mode 0711, like some home directories).
    s.mkdir("libs/search-only", 0o711, 0);
    let hidden = s.file("libs/search-only/nobody.so", &lib, 0o644, NOBODY);
    for own_lib in [&of_nobody, &hidden] {
        let maps = ["run", "--preload", &*own_lib.to_string_lossy(), "--", "cat", "/proc/self/maps"];
        let out = outcome(as_nobody(Path::new(MPTCP), &maps, &[]), Duration::from_secs(10));
        assert!(out.ok() && out.stdout.contains(&*own_lib.to_string_lossy()), "{}", out.stderr);
    }

    // Next to the binary: a library others can write is skipped, and -v
    // says why.
    let mptcp = alone(&s);
    let next = s.file("bin/libmptcp_preload.so", &lib, 0o666, 0);
    let run_alone = || {
        let mut c = Command::new(&mptcp);
        // The preload is what these tests are about: no BPF hook even where it works.
        c.env("MPTCP_RUN_VIA", "preload");
        c.env_remove("MPTCP_PRELOAD_LIB").args(["run", "-v", "--", "true"]);
        outcome(c, Duration::from_secs(10))
    };
    let out = run_alone();
    assert!(out.ok(), "{}", out.stderr);
    assert!(out.stderr.contains("(preload library: built into mptcp)"), "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!("{} (next to the mptcp binary) skipped", next.display()))
            && out.stderr.contains("writable by other users"),
        "{}",
        out.stderr
    );
    own(&next, 0o644, 0);
    let out = run_alone();
    assert!(out.stderr.contains("(preload library: next to the mptcp binary)"), "{}", out.stderr);
}

/// Item 5: `mptcp systemd enable` names in a drop-in, for good, only a
/// library that root alone can change.
#[test]
#[ignore = "needs root: makes files of other users"]
fn dropins_name_only_libraries_root_alone_can_change() {
    mptcp_netns::require_root();
    let s = Scratch::new("dropin");
    let lib = real_library();
    // The system under --root: its own copy of the scratch path, so the
    // path names a file both inside it and on this host.
    let root = s.mkdir("root", 0o755, 0);
    let unit_dir = root.join("etc/systemd/system");
    std::fs::create_dir_all(&unit_dir).expect("mkdir");
    std::fs::write(unit_dir.join("web.service"), "[Service]\nExecStart=/usr/bin/web\n").expect("unit");
    s.mkdir("libs", 0o755, 0);
    let of_nobody = s.file("libs/nobody.so", &lib, 0o644, NOBODY);
    let trusted = s.file("libs/root.so", &lib, 0o644, 0);
    let inside = root.join(s.dir.join("libs").strip_prefix("/").expect("absolute"));
    std::fs::create_dir_all(&inside).expect("mkdir");
    for (name, uid) in [("nobody.so", NOBODY), ("root.so", 0)] {
        std::fs::write(inside.join(name), &lib).expect("write");
        own(&inside.join(name), 0o644, uid);
    }
    let dropin = unit_dir.join("web.service.d/mptcp.conf");
    let enable = |preload: &Path| {
        let mut c = Command::new(MPTCP);
        // The preload is what these tests are about: no BPF hook even where it works.
        c.env("MPTCP_RUN_VIA", "preload");
        c.args(["systemd", "enable", "web", "--root"]).arg(&root).arg("--preload").arg(preload);
        outcome(c, Duration::from_secs(10))
    };

    let out = enable(&of_nobody);
    assert_eq!(out.code(), Some(2), "{}\n{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("not safe to load") && out.stderr.contains("owned by uid 65534"), "{}", out.stderr);
    assert!(!dropin.exists(), "a drop-in names a library of nobody");

    let out = enable(&trusted);
    assert!(out.ok(), "{}", out.stderr);
    let text = std::fs::read_to_string(&dropin).expect("drop-in");
    assert!(text.contains(&format!("Environment=\"LD_PRELOAD={}\"", trusted.display())), "{text}");
}

/// A system under `--root` with the unit `web.service` (`unit` is its
/// `[Service]` section); removed on drop.
struct Image {
    dir: PathBuf,
    root: PathBuf,
    _cleanup: RemoveOnDrop,
}

impl Image {
    fn new(tag: &str, service: &str) -> Image {
        let dir = std::env::temp_dir().join(format!("mptcp-hostile-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let root = dir.join("root");
        let unit_dir = root.join("etc/systemd/system");
        std::fs::create_dir_all(&unit_dir).expect("mkdir");
        std::fs::write(unit_dir.join("web.service"), format!("[Service]\n{service}ExecStart=/usr/bin/web\n"))
            .expect("unit");
        Image { dir: dir.clone(), root, _cleanup: RemoveOnDrop(dir) }
    }

    /// `mptcp systemd enable web --dry-run --root <root> ARGS`.
    fn dry_run(&self, args: &[&str]) -> Out {
        let mut c = Command::new(MPTCP);
        // The preload is what these tests are about: no BPF hook even where it works.
        c.env("MPTCP_RUN_VIA", "preload");
        c.env_remove("MPTCP_PRELOAD_LIB").args(["systemd", "enable", "web", "--dry-run", "--root"]).arg(&self.root);
        c.args(args);
        outcome(c, Duration::from_secs(10))
    }
}

/// Item 6: values copied from the unit keep their meaning (`%%` stays
/// `%%`: systemd expands specifiers in each word after unquoting), and what
/// mptcp adds, the library's path, is escaped once.
#[test]
fn dropins_keep_the_units_percent_signs_and_escape_only_the_library_path() {
    let image = Image::new("percent", "Environment=\"LD_PRELOAD=/opt/100%%/a.so\" GODEBUG=x=5%%\n");
    let out = image.dry_run(&[]);
    assert!(out.ok(), "{}", out.stderr);
    assert!(out.stdout.contains("Environment=\"LD_PRELOAD=/opt/100%%/a.so:/"), "{}", out.stdout);
    assert!(out.stdout.contains("Environment=\"GODEBUG=x=5%%,multipathtcp=1\""), "{}", out.stdout);

    // A library whose path has a '%' (inside the root, as the drop-in
    // names it): escaped.
    let lib_dir = image.root.join("opt/50%");
    std::fs::create_dir_all(&lib_dir).expect("mkdir");
    for d in [&image.root, &image.root.join("opt"), &lib_dir] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let lib = lib_dir.join("libmptcp_preload.so");
    std::fs::write(&lib, b"\x7fELF").expect("write");
    std::fs::set_permissions(&lib, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let out = image.dry_run(&["--preload", "/opt/50%/libmptcp_preload.so"]);
    assert!(out.ok(), "{}", out.stderr);
    assert!(
        out.stdout.contains("Environment=\"LD_PRELOAD=/opt/100%%/a.so:/opt/50%%/libmptcp_preload.so\""),
        "{}",
        out.stdout
    );
}

/// Item 6: `EnvironmentFile=` is read inside `--root`, never on this host.
#[test]
fn dropins_read_environment_files_inside_the_root() {
    let probe = Image::new("envfile-host", "");
    // A file that exists on this host only, and one inside the root only.
    let host_only = probe.dir.join("host.env");
    std::fs::write(&host_only, "GODEBUG=from-the-host=1\n").expect("write");
    let image = Image::new(
        "envfile",
        &format!("EnvironmentFile=-/etc/web/web.env\nEnvironmentFile=-{}\n", host_only.display()),
    );
    std::fs::create_dir_all(image.root.join("etc/web")).expect("mkdir");
    std::fs::write(image.root.join("etc/web/web.env"), "LD_PRELOAD=/inside.so\n").expect("write");
    let out = image.dry_run(&[]);
    assert!(out.ok(), "{}", out.stderr);
    assert!(
        out.stderr.contains("EnvironmentFile=/etc/web/web.env sets LD_PRELOAD or GODEBUG"),
        "the file inside the root is read: {}",
        out.stderr
    );
    assert!(!out.stderr.contains("host.env"), "the host's file is not read: {}", out.stderr);
}
