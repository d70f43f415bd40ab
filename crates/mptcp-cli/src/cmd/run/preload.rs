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
//!    `libmptcp_preload-<hash>.so` to a directory only its owner (or root)
//!    can write: `/run/mptcp` as root (`/var/lib/mptcp` for systemd
//!    drop-ins, which must survive reboots), else `$XDG_RUNTIME_DIR/mptcp`,
//!    else `<tmp>/mptcp-<uid>` (created 0700). An existing file there is
//!    used only after checking its owner, its mode (not group- or
//!    world-writable) and its content (byte for byte); otherwise it is
//!    written anew (temporary file, then rename).
//!
//! Files found in steps 3 to 5 are used only when they speak this command's
//! protocol (the `MPTCP_PRELOAD_PROTOCOL` marker), so a stale library from
//! another version is skipped.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;

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

/// Where the built-in copy is written out.
#[derive(Debug, Clone)]
pub enum Store {
    /// For `mptcp run`: `/run/mptcp` as root, else a per-user runtime directory.
    Run,
    /// For systemd drop-ins: `<root>/var/lib/mptcp`, named in the drop-in
    /// as `/var/lib/mptcp/...`.
    Persistent {
        /// Root of the system the drop-in is written to.
        root: PathBuf,
        /// `false` for a dry run: name the file, write nothing.
        write: bool,
    },
}

/// The library chosen, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Absolute path for `LD_PRELOAD`, as the program sees it.
    pub path: PathBuf,
    /// Which step of the lookup gave it (for `-v`).
    pub source: &'static str,
}

/// Finds the preload library (see the module documentation for the order).
pub fn find_preload(explicit: Option<&Path>, store: &Store) -> anyhow::Result<Found> {
    let chosen = match explicit {
        Some(p) => Some((p.to_path_buf(), "--preload")),
        None => std::env::var_os(PRELOAD_ENV).filter(|v| !v.is_empty()).map(|v| (PathBuf::from(v), PRELOAD_ENV)),
    };
    if let Some((p, source)) = chosen {
        if !p.is_file() {
            return Err(usage(format!(
                "preload library {} (from {source}) does not exist or is not a file",
                p.display()
            )));
        }
        return Ok(Found { path: usable(&p)?, source });
    }
    for (candidate, source) in installed_candidates() {
        if candidate.is_file() && speaks_our_protocol(&candidate) {
            return Ok(Found { path: usable(&candidate)?, source });
        }
    }
    let path = built_in(store)?;
    carriable(&path)?;
    Ok(Found { path, source: "built into mptcp" })
}

/// Step 6: the built-in copy, written out for `store`; the path as the
/// program sees it.
fn built_in(store: &Store) -> anyhow::Result<PathBuf> {
    if EMBEDDED.is_empty() {
        anyhow::bail!(
            "this mptcp was built without its preload library (target not supported); \
             give its path with --preload PATH or {PRELOAD_ENV}=PATH"
        );
    }
    match store {
        Store::Run => write_out(&runtime_dir()?, EMBEDDED),
        Store::Persistent { root, write } => {
            if *write {
                let dir = root.join("var/lib/mptcp");
                create_private_dir(&dir, 0o755)?;
                write_out(&dir, EMBEDDED)?;
            }
            Ok(Path::new("/var/lib/mptcp").join(built_in_name()))
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

/// Whether the file carries this command's protocol marker.
fn speaks_our_protocol(p: &Path) -> bool {
    let mark = PROTOCOL_MARK.as_bytes();
    !mark.is_empty() && fs::read(p).is_ok_and(|b| b.windows(mark.len()).any(|w| w == mark))
}

/// Canonical absolute path of the library, refused when `LD_PRELOAD` cannot
/// carry it.
fn usable(p: &Path) -> anyhow::Result<PathBuf> {
    let abs = fs::canonicalize(p).with_context(|| format!("cannot resolve {}", p.display()))?;
    carriable(&abs)?;
    Ok(abs)
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

/// The directory for `mptcp run`'s copy.
fn runtime_dir() -> anyhow::Result<PathBuf> {
    if nix::unistd::geteuid().is_root() {
        let dir = PathBuf::from("/run/mptcp");
        create_private_dir(&dir, 0o755)?;
        return Ok(dir);
    }
    if let Some(xdg) = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from).filter(|p| p.is_absolute()) {
        if xdg.is_dir() {
            let dir = xdg.join("mptcp");
            create_private_dir(&dir, 0o700)?;
            return Ok(dir);
        }
    }
    let dir = std::env::temp_dir().join(format!("mptcp-{}", nix::unistd::geteuid()));
    create_private_dir(&dir, 0o700)?;
    Ok(dir)
}

/// Creates `dir` with `mode` if missing, then checks that only its owner
/// (us or root) can write it: a real directory, not a symlink, owned by us
/// or root, not group- or world-writable.
fn create_private_dir(dir: &Path, mode: u32) -> anyhow::Result<()> {
    if let Some(parent) = dir.parent() {
        fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    }
    match fs::DirBuilder::new().mode(mode).create(dir) {
        // The umask may have taken bits away.
        Ok(()) => fs::set_permissions(dir, fs::Permissions::from_mode(mode))
            .with_context(|| format!("cannot set the mode of {}", dir.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(anyhow::Error::new(e).context(format!("cannot create {}", dir.display()))),
    }
    let md = fs::symlink_metadata(dir).with_context(|| format!("cannot inspect {}", dir.display()))?;
    let me = nix::unistd::geteuid().as_raw();
    if !md.is_dir() || !(md.uid() == me || md.uid() == 0) || md.mode() & 0o022 != 0 {
        anyhow::bail!(
            "{} is not a directory that only its owner can write (owner uid {}, mode {:o}); the preload \
             library is not written there. Remove it, or give the library with --preload PATH",
            dir.display(),
            md.uid(),
            md.mode() & 0o7777
        );
    }
    Ok(())
}

/// Whether `file` is a regular file owned by us or root, not group- or
/// world-writable, with exactly `content`.
fn verified(file: &Path, content: &[u8]) -> bool {
    let Ok(md) = fs::symlink_metadata(file) else { return false };
    let me = nix::unistd::geteuid().as_raw();
    md.is_file()
        && (md.uid() == me || md.uid() == 0)
        && md.mode() & 0o022 == 0
        && md.len() == content.len() as u64
        && fs::read(file).is_ok_and(|b| b == content)
}

/// Writes `content` as `libmptcp_preload-<hash>.so` in `dir` unless a
/// verified copy is there already; returns its path.
fn write_out(dir: &Path, content: &[u8]) -> anyhow::Result<PathBuf> {
    let file = dir.join(built_in_name());
    if verified(&file, content) {
        return Ok(file);
    }
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    let tmp = dir.join(format!(".libmptcp_preload-{EMBEDDED_HASH}.{}.{nanos}.tmp", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = OpenOptions::new().write(true).create_new(true).mode(0o644).open(&tmp)?;
        f.write_all(content)?;
        // The umask may have taken bits away: programs of other users
        // (services that drop privileges) must be able to read it.
        f.set_permissions(fs::Permissions::from_mode(0o644))?;
        f.sync_all()?;
        fs::rename(&tmp, &file)
    };
    if let Err(e) = write() {
        let _ = fs::remove_file(&tmp);
        return Err(anyhow::Error::new(e).context(format!("cannot write the preload library to {}", file.display())));
    }
    if !verified(&file, content) {
        anyhow::bail!("{} changed right after it was written; not using it", file.display());
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        create_private_dir(&dir, 0o700).unwrap();
        let content = b"\x7fELF not really a library";
        let f = write_out(&dir, content).unwrap();
        assert_eq!(fs::read(&f).unwrap(), content);
        assert_eq!(fs::metadata(&f).unwrap().mode() & 0o777, 0o644);
        let ino = fs::metadata(&f).unwrap().ino();
        // Verified copy: reused as is.
        assert_eq!(write_out(&dir, content).unwrap(), f);
        assert_eq!(fs::metadata(&f).unwrap().ino(), ino);
        // Changed content: replaced by a new file.
        fs::write(&f, b"evil").unwrap();
        write_out(&dir, content).unwrap();
        assert_eq!(fs::read(&f).unwrap(), content);
        // World-writable: replaced too.
        fs::set_permissions(&f, fs::Permissions::from_mode(0o666)).unwrap();
        write_out(&dir, content).unwrap();
        assert_eq!(fs::metadata(&f).unwrap().mode() & 0o777, 0o644);
        // A symlink in its place is not followed.
        fs::remove_file(&f).unwrap();
        let target = dir.join("elsewhere");
        fs::write(&target, content).unwrap();
        std::os::unix::fs::symlink(&target, &f).unwrap();
        assert!(!verified(&f, content));
        write_out(&dir, content).unwrap();
        assert!(fs::symlink_metadata(&f).unwrap().is_file());
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 2, "no temporary file left");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn writable_directories_are_refused() {
        let dir = scratch("open");
        fs::create_dir_all(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
        let err = create_private_dir(&dir, 0o700).unwrap_err().to_string();
        assert!(err.contains("only its owner can write") && err.contains("777"), "{err}");
        fs::remove_dir_all(&dir).unwrap();
        let link = scratch("link");
        std::os::unix::fs::symlink("/", &link).unwrap();
        assert!(create_private_dir(&link, 0o700).is_err(), "a symlink is not our directory");
        fs::remove_file(&link).unwrap();
    }

    #[test]
    fn persistent_store_names_the_path_inside_the_root() {
        let root = scratch("root");
        let dry = built_in(&Store::Persistent { root: root.clone(), write: false }).unwrap();
        assert!(!root.exists(), "a dry run writes nothing");
        let path = built_in(&Store::Persistent { root: root.clone(), write: true }).unwrap();
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
        let lib = dir.join("x.so");
        fs::write(&lib, b"anything").unwrap();
        let f = find_preload(Some(&lib), &Store::Run).unwrap();
        assert_eq!((f.path, f.source), (fs::canonicalize(&lib).unwrap(), "--preload"));
        let err = find_preload(Some(&dir.join("missing.so")), &Store::Run).unwrap_err().to_string();
        assert!(err.contains("missing.so") && err.contains("--preload"), "{err}");
        let spaced = dir.join("a b.so");
        fs::write(&spaced, b"x").unwrap();
        assert!(find_preload(Some(&spaced), &Store::Run).unwrap_err().to_string().contains("white space"));
        fs::remove_dir_all(&dir).unwrap();
    }
}
