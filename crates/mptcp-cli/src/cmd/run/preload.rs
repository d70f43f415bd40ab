//! Where `mptcp run` and `mptcp systemd` find the preload library.
//!
//! Lookup order (the first that applies wins):
//! 1. `--preload PATH`;
//! 2. `$MPTCP_PRELOAD_LIB`;
//! 3. the path a packager set at build time (`MPTCP_PRELOAD_PATH`);
//! 4. `libmptcp_preload.so` next to the `mptcp` binary, then
//!    `../lib/mptcp/libmptcp_preload.so` relative to it;
//! 5. Debian's multiarch directory, `/usr/lib/<triplet>/mptcp/`;
//! 6. the copy built into the `mptcp` binary, written out as
//!    `libmptcp_preload-<hash>.so`: for `mptcp run` to its private directory
//!    ([`private_dir`]), for systemd drop-ins (which must survive reboots)
//!    to `/var/lib/mptcp`. An existing file there is used only after
//!    checking its owner, its mode (not group- or world-writable) and its
//!    content (byte for byte); otherwise it is written anew (temporary
//!    file, then rename).
//!
//! Every file of every step is checked through a file descriptor before
//! its path is handed to the dynamic loader ([`super::trust`]): the file and
//! each directory above it owned by root or the user running `mptcp run`
//! (root only for a drop-in of the running system, whose service would load
//! the file at every start), writable by nobody else, no symbolic link on
//! the way (user input is resolved first, and the resolved path is the one
//! checked and handed on). An explicit library that fails is an error; an
//! installed one (steps 3 to 5) is skipped, and why is told (`-v`, or a
//! warning of `mptcp systemd`). Installed files are also used only when they
//! speak this command's protocol (the `MPTCP_PRELOAD_PROTOCOL` marker), so
//! a stale library from another version is skipped.
//!
//! Why a path and not a sealed `memfd` (`LD_PRELOAD=/proc/self/fd/N`):
//! `LD_PRELOAD` is inherited by every process the program starts, and
//! `/proc/self/fd/N` names the library only in a process that still has it
//! open as fd `N`. Python's `subprocess` (which closes every other fd by
//! default), daemons that close all fds and `closefrom` callers would start
//! children without MPTCP (with a loader warning), or with whatever file
//! they hold as fd `N`; the program would also see an fd it never opened,
//! and a drop-in needs a path that outlives the process. A path under
//! directories that only root and the user can change cannot be swapped by
//! anyone else between the check and the loader's open.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;
use nix::fcntl::{openat, renameat, OFlag};
use nix::sys::stat::Mode;
use nix::unistd::{unlinkat, UnlinkatFlags};

use super::trust::{Trust, TrustedDir, TrustedFile, Untrusted};
use crate::util::usage;

/// File name of the preload library.
pub const PRELOAD_NAME: &str = "libmptcp_preload.so";
/// Environment variable naming the preload library.
pub const PRELOAD_ENV: &str = "MPTCP_PRELOAD_LIB";

/// The library built into this binary (empty on targets without one).
static EMBEDDED: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/libmptcp_preload.so"));
/// Names the embedded content: `libmptcp_preload-<hash>.so`.
const EMBEDDED_HASH: &str = env!("MPTCP_PRELOAD_HASH");
/// The protocol marker of the embedded library.
const PROTOCOL_MARK: &str = env!("MPTCP_PRELOAD_PROTOCOL_MARK");
/// Set by packagers at build time.
const PACKAGED: Option<&str> = option_env!("MPTCP_PRELOAD_PATH");
/// Debian's multiarch triplet of this build's target, or "".
const MULTIARCH: &str = env!("MPTCP_MULTIARCH");
/// Largest installed library read to look for the protocol marker.
const MAX_LIBRARY: u64 = 64 << 20;

/// Where the built-in copy is written out.
#[derive(Debug, Clone)]
pub enum Store {
    /// For `mptcp run`: its private directory ([`private_dir`]).
    Run,
    /// For systemd drop-ins: `<root>/var/lib/mptcp`, named in the drop-in
    /// as `/var/lib/mptcp/...`. Paths given with `--preload` or
    /// `MPTCP_PRELOAD_LIB`, and the installed ones, are looked up inside
    /// `root` too: the drop-in names them as that system sees them.
    Persistent {
        /// Root of the system the drop-in is written to.
        root: PathBuf,
        /// `false` for a dry run: name the file, write nothing.
        write: bool,
    },
}

impl Store {
    /// Whose files the library may come from.
    fn trust(&self) -> Trust {
        match self {
            Store::Run => Trust::User,
            Store::Persistent { root, .. } if root == Path::new("/") => Trust::Root,
            Store::Persistent { .. } => Trust::Builder,
        }
    }

    /// The directory paths are seen from.
    fn base(&self) -> &Path {
        match self {
            Store::Run => Path::new("/"),
            Store::Persistent { root, .. } => root,
        }
    }
}

/// The library chosen, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Absolute path for `LD_PRELOAD`, as the program sees it.
    pub path: PathBuf,
    /// Which step of the lookup gave it (for `-v`).
    pub source: &'static str,
    /// Installed libraries passed over, and why (for `-v` and warnings).
    pub skipped: Vec<String>,
}

/// Finds the preload library (see the module documentation for the order).
pub fn find_preload(explicit: Option<&Path>, store: &Store) -> anyhow::Result<Found> {
    let chosen = match explicit {
        Some(p) => Some((p.to_path_buf(), "--preload")),
        None => std::env::var_os(PRELOAD_ENV).filter(|v| !v.is_empty()).map(|v| (PathBuf::from(v), PRELOAD_ENV)),
    };
    if let Some((p, source)) = chosen {
        if store.base() != Path::new("/") && !p.is_absolute() {
            return Err(usage(format!(
                "preload library {} (from {source}): with --root, give its absolute path as that system sees it",
                p.display()
            )));
        }
        let missing =
            || usage(format!("preload library {} (from {source}) does not exist or is not a file", p.display()));
        let resolved = resolve(&p, store).ok_or_else(missing)?;
        let file = TrustedFile::open(store.base(), &resolved, store.trust()).map_err(|e| {
            if e.absent {
                missing()
            } else {
                refused(&p, source, &e, store)
            }
        })?;
        carriable(&file.path)?;
        return Ok(Found { path: file.path, source, skipped: Vec::new() });
    }
    let mut skipped = Vec::new();
    for (candidate, source) in installed_candidates() {
        let why = match installed(&candidate, store) {
            Ok(None) => continue,
            Ok(Some(path)) => match carriable(&path) {
                Ok(()) => return Ok(Found { path, source, skipped }),
                Err(e) => e.to_string(),
            },
            Err(why) => why,
        };
        skipped.push(format!("{} ({source}) skipped: {why}", candidate.display()));
    }
    let (path, notes) = built_in(store)?;
    carriable(&path)?;
    skipped.extend(notes);
    Ok(Found { path, source: "built into mptcp", skipped })
}

/// The error for an explicit library that fails the checks.
fn refused(p: &Path, source: &str, e: &Untrusted, store: &Store) -> anyhow::Error {
    let trust = store.trust();
    let (who, fix) = match store {
        Store::Run => ("the programs run with it", format!("or leave out {source} to use the copy built into mptcp")),
        Store::Persistent { .. } => (
            "the service, at every start,",
            format!("or leave out {source} to install the copy built into mptcp in /var/lib/mptcp"),
        ),
    };
    usage(format!(
        "preload library {} (from {source}) is not safe to load: {e}, so {who} would load whatever someone \
         else puts there. The file and every directory above it must be owned by {} and writable only by \
         their owner: move it to such a place, {fix}",
        p.display(),
        trust.owners(),
    ))
}

/// `p` as the path to check: for `mptcp run` (and drop-ins of this
/// system) resolved to its canonical absolute form (symbolic links
/// followed), for another root an absolute path inside it, as given.
/// `None` when it does not exist.
fn resolve(p: &Path, store: &Store) -> Option<PathBuf> {
    if store.base() == Path::new("/") {
        return fs::canonicalize(p).ok();
    }
    let inside = store.base().join(p.strip_prefix("/").ok()?);
    fs::symlink_metadata(inside).is_ok().then(|| p.to_path_buf())
}

/// Steps 3 to 5: `Ok(Some(path))` for a library that passes the checks and
/// speaks our protocol; `Ok(None)` when there is none; `Err(why)` for one
/// that is there and is passed over.
fn installed(candidate: &Path, store: &Store) -> Result<Option<PathBuf>, String> {
    let Some(resolved) = resolve(candidate, store) else { return Ok(None) };
    let mut file = TrustedFile::open(store.base(), &resolved, store.trust()).map_err(|e| e.to_string())?;
    let content = file.read(MAX_LIBRARY).map_err(|e| format!("cannot be read ({e})"))?;
    if !content.is_some_and(|b| speaks_our_protocol(&b)) {
        return Err(format!("does not speak this mptcp's protocol ({PROTOCOL_MARK})"));
    }
    Ok(Some(file.path))
}

/// Step 6: the built-in copy, written out for `store`; the path as the
/// program sees it, and notes on directories passed over.
fn built_in(store: &Store) -> anyhow::Result<(PathBuf, Vec<String>)> {
    if EMBEDDED.is_empty() {
        anyhow::bail!(
            "this mptcp was built without its preload library (target not supported); \
             give its path with --preload PATH or {PRELOAD_ENV}=PATH"
        );
    }
    match store {
        Store::Run => {
            let (dir, notes) = private_dir()?;
            Ok((write_out(&dir, EMBEDDED, Trust::User)?, notes))
        }
        Store::Persistent { root, write } => {
            let named = Path::new("/var/lib/mptcp").join(built_in_name());
            if *write {
                if !root.exists() {
                    fs::DirBuilder::new()
                        .recursive(true)
                        .mode(0o755)
                        .create(root)
                        .with_context(|| format!("cannot create {}", root.display()))?;
                    fs::set_permissions(root, fs::Permissions::from_mode(0o755))
                        .with_context(|| format!("cannot set the mode of {}", root.display()))?;
                }
                let dir =
                    TrustedDir::open(root, Path::new("/var/lib/mptcp"), store.trust(), Some(0o755)).map_err(|e| {
                        anyhow::anyhow!(
                            "cannot install the preload library: {e}. A service would load it at every start, so \
                             /var/lib/mptcp and every directory above it must be owned by {} and writable only by \
                             their owner; fix that, or give a library with --preload PATH",
                            store.trust().owners()
                        )
                    })?;
                write_out(&dir, EMBEDDED, store.trust())?;
            }
            Ok((named, Vec::new()))
        }
    }
}

/// File name of the built-in copy: `libmptcp_preload-<hash>.so`.
fn built_in_name() -> String {
    format!("libmptcp_preload-{EMBEDDED_HASH}.so")
}

/// Steps 3 to 5 of the lookup.
fn installed_candidates() -> Vec<(PathBuf, &'static str)> {
    let mut out = Vec::new();
    if let Some(p) = PACKAGED.filter(|p| !p.is_empty()) {
        out.push((PathBuf::from(p), "MPTCP_PRELOAD_PATH (set when mptcp was built)"));
    }
    if let Some(dir) = std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_path_buf)) {
        out.push((dir.join(PRELOAD_NAME), "next to the mptcp binary"));
        out.push((dir.join("../lib/mptcp").join(PRELOAD_NAME), "../lib/mptcp next to the mptcp binary"));
    }
    if !MULTIARCH.is_empty() {
        out.push((Path::new("/usr/lib").join(MULTIARCH).join("mptcp").join(PRELOAD_NAME), "multiarch directory"));
    }
    out
}

/// Whether the content carries this command's protocol marker.
fn speaks_our_protocol(content: &[u8]) -> bool {
    let mark = PROTOCOL_MARK.as_bytes();
    !mark.is_empty() && content.windows(mark.len()).any(|w| w == mark)
}

/// Refuses a path with `:` or white space, the separators of `LD_PRELOAD`.
fn carriable(p: &Path) -> anyhow::Result<()> {
    if p.as_os_str().as_bytes().iter().any(|b| *b == b':' || b.is_ascii_whitespace()) {
        return Err(usage(format!(
            "preload library path {} contains ':' or white space, which LD_PRELOAD cannot express; move it",
            p.display()
        )));
    }
    Ok(())
}

/// The private directory of `mptcp run`, for the written-out library and
/// the `--report` records, and notes on places passed over:
/// - as root, `/run/mptcp` (mode 0755: services that drop privileges
///   must still load the library);
/// - else `$XDG_RUNTIME_DIR/mptcp` (0700) when `XDG_RUNTIME_DIR` is a
///   directory of this user that nobody else can write;
/// - else a directory `mptcp-<uid>-XXXXXX` (0700) in the temporary
///   directory: one of this user's that is there already (owned by the
///   user, mode 0700: nobody else can have made it), else a fresh one
///   (`mkdtemp`). A name taken by someone else is passed over, so no
///   other user can squat it.
///
/// Every directory on the way is checked by descriptor ([`super::trust`]).
pub fn private_dir() -> anyhow::Result<(TrustedDir, Vec<String>)> {
    let root = Path::new("/");
    if nix::unistd::geteuid().is_root() {
        let dir = TrustedDir::open(root, Path::new("/run/mptcp"), Trust::User, Some(0o755))
            .map_err(|e| anyhow::anyhow!("cannot use /run/mptcp for the preload library and its records: {e}"))?;
        return Ok((dir, Vec::new()));
    }
    let me = nix::unistd::geteuid().as_raw();
    let mut notes = Vec::new();
    if let Some(xdg) = std::env::var_os("XDG_RUNTIME_DIR").filter(|x| !x.is_empty()) {
        let xdg_dir = fs::canonicalize(&xdg)
            .map_err(|e| format!("{}: {e}", Path::new(&xdg).display()))
            .and_then(|x| TrustedDir::open(root, &x, Trust::User, None).map_err(|e| e.to_string()))
            .and_then(|d| {
                if d.owner() == me {
                    Ok(d)
                } else {
                    Err(format!("{} is owned by uid {}, not by you", d.path.display(), d.owner()))
                }
            })
            .and_then(|d| d.subdir(OsStr::new("mptcp"), Trust::User, Some(0o700)).map_err(|e| e.to_string()));
        match xdg_dir {
            Ok(d) if d.owner() == me && d.is_private() => return Ok((d, notes)),
            Ok(d) => {
                notes.push(format!("XDG_RUNTIME_DIR not used: {} is not a 0700 directory of yours", d.path.display()))
            }
            Err(why) => notes.push(format!("XDG_RUNTIME_DIR not used: {why}")),
        }
    }
    let tmp = fs::canonicalize(std::env::temp_dir())
        .with_context(|| format!("cannot resolve the temporary directory {}", std::env::temp_dir().display()))?;
    let tmp_dir = TrustedDir::open_sticky(root, &tmp, Trust::User).map_err(|e| {
        anyhow::anyhow!(
            "no private directory for the preload library: {e}. Set XDG_RUNTIME_DIR or TMPDIR to a directory only \
             you (or root) can write, or give the library with --preload PATH"
        )
    })?;
    let prefix = format!("mptcp-{me}-");
    let mut names: Vec<_> = fs::read_dir(&tmp)
        .with_context(|| format!("cannot list {}", tmp.display()))?
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| n.as_bytes().starts_with(prefix.as_bytes()))
        .collect();
    names.sort();
    for name in names {
        if let Ok(d) = tmp_dir.subdir(&name, Trust::User, None) {
            if d.owner() == me && d.is_private() {
                return Ok((d, notes));
            }
        }
    }
    let made = nix::unistd::mkdtemp(&tmp.join(format!("{prefix}XXXXXX")))
        .with_context(|| format!("cannot create a private directory in {}", tmp.display()))?;
    let name = made.file_name().context("mkdtemp returned no name")?;
    let d = tmp_dir.subdir(name, Trust::User, None).map_err(|e| anyhow::anyhow!("{e}"))?;
    if d.owner() != me || !d.is_private() {
        anyhow::bail!("{} changed right after it was created; not using it", made.display());
    }
    Ok((d, notes))
}

/// Whether `name` in `dir` is a file that passes the checks for `trust`
/// with exactly `content`, read through its descriptor.
fn verified(dir: &TrustedDir, name: &OsStr, content: &[u8], trust: Trust) -> bool {
    let Ok(Some(mut f)) = dir.open_file(name, trust) else { return false };
    f.len == content.len() as u64 && f.read(f.len).is_ok_and(|b| b.as_deref() == Some(content))
}

/// Writes `content` as `libmptcp_preload-<hash>.so` in `dir` unless a
/// verified copy is there already; returns its path as the program sees it.
fn write_out(dir: &TrustedDir, content: &[u8], trust: Trust) -> anyhow::Result<PathBuf> {
    let name = built_in_name();
    let path = dir.path.join(&name);
    if verified(dir, OsStr::new(&name), content, trust) {
        return Ok(path);
    }
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    let tmp = format!(".libmptcp_preload-{EMBEDDED_HASH}.{}.{nanos}.tmp", std::process::id());
    let write = || -> std::io::Result<()> {
        let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let mut f = File::from(openat(dir.fd.as_fd(), tmp.as_str(), flags, Mode::from_bits_truncate(0o644))?);
        f.write_all(content)?;
        // The umask may have taken bits away: programs of other users
        // (services that drop privileges) must be able to read it.
        f.set_permissions(fs::Permissions::from_mode(0o644))?;
        f.sync_all()?;
        renameat(dir.fd.as_fd(), tmp.as_str(), dir.fd.as_fd(), name.as_str())?;
        Ok(())
    };
    if let Err(e) = write() {
        let _ = unlinkat(dir.fd.as_fd(), tmp.as_str(), UnlinkatFlags::NoRemoveDir);
        return Err(anyhow::Error::new(e).context(format!("cannot write the preload library to {}", path.display())));
    }
    if !verified(dir, OsStr::new(&name), content, trust) {
        anyhow::bail!("{} changed right after it was written; not using it", path.display());
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;

    /// `create_private_dir` of old: `dir` made (or found) by descriptor.
    fn private(dir: &Path, mode: u32) -> anyhow::Result<TrustedDir> {
        TrustedDir::open(Path::new("/"), dir, Trust::User, Some(mode)).map_err(anyhow::Error::new)
    }

    fn scratch(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("mptcp-preload-test-{}-{tag}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn embedded_library_carries_the_marker() {
        assert!(!EMBEDDED.is_empty(), "built for Linux: the library is embedded");
        assert!(EMBEDDED.starts_with(b"\x7fELF"));
        assert!(PROTOCOL_MARK.starts_with("mptcp-preload protocol "));
        let mark = PROTOCOL_MARK.as_bytes();
        assert!(EMBEDDED.windows(mark.len()).any(|w| w == mark));
    }

    #[test]
    fn written_out_once_and_replaced_when_tampered_with() {
        let dir = scratch("write");
        let d = private(&dir, 0o700).unwrap();
        let content = b"\x7fELF not really a library";
        let f = write_out(&d, content, Trust::User).unwrap();
        assert_eq!(fs::read(&f).unwrap(), content);
        assert_eq!(fs::metadata(&f).unwrap().mode() & 0o777, 0o644);
        let ino = fs::metadata(&f).unwrap().ino();
        // Verified copy: reused as is.
        assert_eq!(write_out(&d, content, Trust::User).unwrap(), f);
        assert_eq!(fs::metadata(&f).unwrap().ino(), ino);
        // Changed content: replaced by a new file.
        fs::write(&f, b"evil").unwrap();
        write_out(&d, content, Trust::User).unwrap();
        assert_eq!(fs::read(&f).unwrap(), content);
        // World-writable: replaced too.
        fs::set_permissions(&f, fs::Permissions::from_mode(0o666)).unwrap();
        write_out(&d, content, Trust::User).unwrap();
        assert_eq!(fs::metadata(&f).unwrap().mode() & 0o777, 0o644);
        // A symlink in its place is not followed.
        fs::remove_file(&f).unwrap();
        let target = dir.join("elsewhere");
        fs::write(&target, content).unwrap();
        std::os::unix::fs::symlink(&target, &f).unwrap();
        assert!(!verified(&d, f.file_name().unwrap(), content, Trust::User));
        write_out(&d, content, Trust::User).unwrap();
        assert!(fs::symlink_metadata(&f).unwrap().is_file());
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 2, "no temporary file left");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn writable_directories_are_refused() {
        let dir = scratch("open");
        fs::create_dir_all(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
        let err = private(&dir, 0o700).unwrap_err().to_string();
        assert!(err.contains("only its owner can write") && err.contains("777"), "{err}");
        fs::remove_dir_all(&dir).unwrap();
        let link = scratch("link");
        std::os::unix::fs::symlink("/", &link).unwrap();
        assert!(private(&link, 0o700).is_err(), "a symlink is not our directory");
        fs::remove_file(&link).unwrap();
    }

    #[test]
    fn persistent_store_names_the_path_inside_the_root() {
        let root = scratch("root");
        let dry = built_in(&Store::Persistent { root: root.clone(), write: false }).unwrap().0;
        assert!(!root.exists(), "a dry run writes nothing");
        let path = built_in(&Store::Persistent { root: root.clone(), write: true }).unwrap().0;
        assert_eq!(dry, path);
        assert!(path.starts_with("/var/lib/mptcp/"), "{}", path.display());
        let on_disk = root.join(path.strip_prefix("/").unwrap());
        assert_eq!(fs::read(on_disk).unwrap(), EMBEDDED);
        assert_eq!(fs::metadata(root.join("var/lib/mptcp")).unwrap().mode() & 0o777, 0o755);
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn lookup_order_starts_with_the_explicit_path() {
        let dir = scratch("explicit");
        fs::create_dir_all(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        let lib = dir.join("x.so");
        fs::write(&lib, b"anything").unwrap();
        fs::set_permissions(&lib, fs::Permissions::from_mode(0o644)).unwrap();
        let f = find_preload(Some(&lib), &Store::Run).unwrap();
        assert_eq!((f.path, f.source), (fs::canonicalize(&lib).unwrap(), "--preload"));
        // Writable by others: refused, saying what to do.
        fs::set_permissions(&lib, fs::Permissions::from_mode(0o646)).unwrap();
        let err = find_preload(Some(&lib), &Store::Run).unwrap_err().to_string();
        assert!(
            err.contains("not safe to load") && err.contains("mode 646") && err.contains("leave out --preload"),
            "{err}"
        );
        fs::set_permissions(&lib, fs::Permissions::from_mode(0o644)).unwrap();
        let err = find_preload(Some(&dir.join("missing.so")), &Store::Run).unwrap_err().to_string();
        assert!(err.contains("missing.so") && err.contains("--preload"), "{err}");
        let spaced = dir.join("a b.so");
        fs::write(&spaced, b"x").unwrap();
        assert!(find_preload(Some(&spaced), &Store::Run).unwrap_err().to_string().contains("white space"));
        fs::remove_dir_all(&dir).unwrap();
    }
}
