//! Paths that only trusted users can change, checked by file descriptor.
//!
//! The dynamic loader opens `LD_PRELOAD` entries by path, after we checked
//! them. That check is worth something only if nobody but root and the
//! user it is done for can change what the path names afterwards: the file
//! and every directory above it must be owned by a trusted user and not be
//! writable by anyone else. So a path is walked one component at a time
//! from `/` (or the `--root` of `mptcp systemd`), each directory opened with
//! `O_DIRECTORY | O_NOFOLLOW` relative to the one before (`openat`), each
//! checked with `fstat` on what was opened, and the file is opened the same
//! way and checked and read through that descriptor. A symbolic link
//! anywhere on the walked path is refused: callers resolve user input with
//! `canonicalize` first, so the path handed on is the one that was walked.
//!
//! The one exception is a sticky directory such as `/tmp` (mode 1777, owned
//! by root): crossing it is allowed for [`Trust::User`], since others can
//! neither rename nor remove the entries it holds that belong to root or
//! the user, and every entry walked is checked for exactly that. Nothing is
//! ever put directly in such a directory.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::{File, Metadata};
use std::io::{self, Read};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat, OFlag};
use nix::sys::stat::{fchmod, mkdirat, Mode};

/// `S_ISVTX`: the sticky bit.
const STICKY: u32 = 0o1000;

/// Whose files a path may go through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// `mptcp run`: owned by root or the effective user; sticky
    /// directories writable by all (`/tmp`) may be crossed.
    User,
    /// A drop-in for a service of the running system: owned by root, no
    /// directory writable by others, sticky or not (a file under `/tmp`
    /// disappears at boot and its name is anyone's to take afterwards).
    Root,
    /// A drop-in for the system under `mptcp systemd --root DIR` (an image
    /// being built): owned by root or the user running the command, no
    /// directory writable by others.
    Builder,
}

impl Trust {
    fn owner_ok(self, uid: u32) -> bool {
        uid == 0 || (self != Trust::Root && uid == euid())
    }

    /// Who may own the files, for messages.
    pub fn owners(self) -> String {
        match self {
            Trust::Root => "root".into(),
            _ if euid() == 0 => "root".into(),
            _ => format!("root or uid {} (you)", euid()),
        }
    }
}

fn euid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// Why a path is refused.
#[derive(Debug)]
pub struct Untrusted {
    /// The file or directory at fault.
    pub path: PathBuf,
    /// What is wrong with it.
    pub why: String,
    /// Nothing to load is there (missing, or not a regular file): a wrong
    /// path rather than a risk.
    pub absent: bool,
}

impl fmt::Display for Untrusted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.path.display(), self.why)
    }
}

impl std::error::Error for Untrusted {}

fn untrusted(path: &Path, why: impl Into<String>) -> Untrusted {
    Untrusted { path: path.to_path_buf(), why: why.into(), absent: false }
}

/// A missing file or directory, or a file that is not a regular one.
fn absent(path: &Path, why: &str) -> Untrusted {
    Untrusted { absent: true, ..untrusted(path, why) }
}

/// An open directory reached through trusted directories only.
#[derive(Debug)]
pub struct TrustedDir {
    /// Open with `O_PATH | O_DIRECTORY | O_NOFOLLOW`.
    pub fd: File,
    /// The path the directory was reached by, as the program sees it.
    pub path: PathBuf,
    /// Where it is on this host (under `--root`), for messages.
    host: PathBuf,
    /// Its ownership and mode, when it was opened.
    meta: Metadata,
}

/// Opens directory `name` in `dir` without following a symbolic link.
/// `O_PATH`: only search permission is needed (a directory of mode 0711 on
/// the way is fine), and `fstat` and the `*at` calls work on it.
fn open_dir_at(dir: &File, name: &OsStr) -> nix::Result<File> {
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    Ok(File::from(openat(dir.as_fd(), name, flags, Mode::empty())?))
}

/// Explains a failed `openat` of `path`: a symbolic link, not a directory,
/// or the errno.
fn open_failure(path: &Path, e: Errno) -> Untrusted {
    let is_link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    match e {
        _ if is_link => untrusted(path, "is a symbolic link (give the path it points to)"),
        Errno::ENOTDIR => untrusted(path, "is not a directory"),
        Errno::ENOENT => absent(path, "does not exist"),
        e => untrusted(path, format!("cannot be opened ({})", io::Error::from(e))),
    }
}

/// The check of one directory on the path: owned by a trusted user, and
/// writable only by its owner (or sticky, where `trust` allows crossing it).
fn check_dir(path: &Path, meta: &Metadata, trust: Trust, crossing: bool) -> Result<(), Untrusted> {
    if !meta.is_dir() {
        return Err(untrusted(path, "is not a directory"));
    }
    if !trust.owner_ok(meta.uid()) {
        return Err(untrusted(path, format!("is owned by uid {}, not by {}", meta.uid(), trust.owners())));
    }
    let mode = meta.mode();
    if mode & 0o022 != 0 {
        let sticky_crossing = crossing && trust == Trust::User && mode & STICKY != 0;
        if !sticky_crossing {
            return Err(untrusted(
                path,
                format!(
                    "is writable by other users (mode {:o}): only its owner can write a directory the preload \
                     library or its records go through",
                    mode & 0o7777
                ),
            ));
        }
    }
    Ok(())
}

impl TrustedDir {
    /// Opens `base` (a directory trusted as it is, e.g. `/`), then walks
    /// `path` (absolute, as seen from `base`) one component at a time.
    /// Missing components are created with mode `create` when given.
    /// Every directory is checked as [`check_dir`] says; the last one
    /// must not be writable by others at all.
    pub fn open(base: &Path, path: &Path, trust: Trust, create: Option<u32>) -> Result<TrustedDir, Untrusted> {
        TrustedDir::walk(base, path, trust, create, false)
    }

    /// [`TrustedDir::open`] for a directory that is only crossed: it may be
    /// a sticky one (`/tmp`), whose entries are checked when opened.
    pub fn open_sticky(base: &Path, path: &Path, trust: Trust) -> Result<TrustedDir, Untrusted> {
        TrustedDir::walk(base, path, trust, None, true)
    }

    /// [`TrustedDir::open`], where the last directory may be a sticky one
    /// when `sticky_last`.
    fn walk(
        base: &Path,
        path: &Path,
        trust: Trust,
        create: Option<u32>,
        sticky_last: bool,
    ) -> Result<TrustedDir, Untrusted> {
        let fd = nix::fcntl::open(base, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
            .map(File::from)
            .map_err(|e| untrusted(base, format!("cannot be opened ({})", io::Error::from(e))))?;
        let meta = fd.metadata().map_err(|e| untrusted(base, format!("cannot be inspected ({e})")))?;
        let mut dir = TrustedDir { fd, path: PathBuf::from("/"), host: base.to_path_buf(), meta };
        let names = components(path).map_err(|why| untrusted(path, why))?;
        check_dir(base, &dir.meta, trust, sticky_last || !names.is_empty())?;
        let last = names.len();
        for (i, name) in names.iter().enumerate() {
            dir = dir.child(name, trust, create, sticky_last || i + 1 < last)?;
        }
        Ok(dir)
    }

    /// Opens (or creates with mode `create`) the directory `name` in this
    /// one; it must not be writable by others.
    pub fn subdir(&self, name: &OsStr, trust: Trust, create: Option<u32>) -> Result<TrustedDir, Untrusted> {
        self.child(name, trust, create, false)
    }

    fn child(&self, name: &OsStr, trust: Trust, create: Option<u32>, crossing: bool) -> Result<TrustedDir, Untrusted> {
        let host = self.host.join(name);
        let shown = host.as_path();
        let mut made = false;
        let fd = match open_dir_at(&self.fd, name) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) if create.is_some() => {
                let mode = create.unwrap_or(0o700);
                match mkdirat(self.fd.as_fd(), name, Mode::from_bits_truncate(mode)) {
                    Ok(()) => made = true,
                    // Made by a concurrent run: checked below like any other.
                    Err(Errno::EEXIST) => {}
                    Err(e) => return Err(untrusted(shown, format!("cannot be created ({})", io::Error::from(e)))),
                }
                open_dir_at(&self.fd, name).map_err(|e| open_failure(shown, e))?
            }
            Err(e) => return Err(open_failure(shown, e)),
        };
        if made {
            // The umask may have taken bits away (or left group bits on).
            // fchmod needs a descriptor that is not O_PATH: the directory
            // is ours, so it can be opened for reading.
            let mode = create.unwrap_or(0o700);
            let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
            openat(self.fd.as_fd(), name, flags, Mode::empty())
                .and_then(|rd| fchmod(rd.as_fd(), Mode::from_bits_truncate(mode)))
                .map_err(|e| untrusted(shown, format!("cannot get mode {mode:o} ({})", io::Error::from(e))))?;
        }
        let meta = fd.metadata().map_err(|e| untrusted(shown, format!("cannot be inspected ({e})")))?;
        check_dir(shown, &meta, trust, crossing)?;
        Ok(TrustedDir { fd, path: self.path.join(name), host, meta })
    }

    /// Whether only the directory's owner can enter it (mode `0700` or less).
    pub fn is_private(&self) -> bool {
        self.meta.mode() & 0o077 == 0
    }

    /// Uid of the directory's owner.
    pub fn owner(&self) -> u32 {
        self.meta.uid()
    }

    /// Opens the file `name` here without following a symbolic link or
    /// blocking (a FIFO in its place), and checks it: a regular file owned
    /// by a trusted user, writable only by its owner. `Ok(None)` when there
    /// is no such file.
    pub fn open_file(&self, name: &OsStr, trust: Trust) -> Result<Option<TrustedFile>, Untrusted> {
        let shown = self.host.join(name);
        let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
        let fd = match openat(self.fd.as_fd(), name, flags, Mode::empty()) {
            Ok(fd) => File::from(fd),
            Err(Errno::ENOENT) => return Ok(None),
            Err(Errno::ELOOP) => return Err(untrusted(&shown, "is a symbolic link")),
            Err(e) => return Err(untrusted(&shown, format!("cannot be opened ({})", io::Error::from(e)))),
        };
        let meta = fd.metadata().map_err(|e| untrusted(&shown, format!("cannot be inspected ({e})")))?;
        if !meta.is_file() {
            return Err(absent(&shown, "is not a regular file"));
        }
        if !trust.owner_ok(meta.uid()) {
            return Err(untrusted(&shown, format!("is owned by uid {}, not by {}", meta.uid(), trust.owners())));
        }
        if meta.mode() & 0o022 != 0 {
            return Err(untrusted(&shown, format!("is writable by other users (mode {:o})", meta.mode() & 0o7777)));
        }
        Ok(Some(TrustedFile { file: fd, path: self.path.join(name), len: meta.len() }))
    }
}

/// A checked file, open for reading.
#[derive(Debug)]
pub struct TrustedFile {
    file: File,
    /// Its path, as the program sees it.
    pub path: PathBuf,
    /// Its size when it was checked.
    pub len: u64,
}

impl TrustedFile {
    /// Opens and checks the file at `path` (absolute, as seen from
    /// `base`): see [`TrustedDir::open`] and [`TrustedDir::open_file`].
    pub fn open(base: &Path, path: &Path, trust: Trust) -> Result<TrustedFile, Untrusted> {
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(untrusted(path, "names no file"));
        };
        let dir = TrustedDir::walk(base, parent, trust, None, true)?;
        dir.open_file(name, trust)?.ok_or_else(|| absent(path, "does not exist"))
    }

    /// The whole content, read through the checked descriptor (at most
    /// `limit` bytes: `None` when the file is larger).
    pub fn read(&mut self, limit: u64) -> io::Result<Option<Vec<u8>>> {
        if self.len > limit {
            return Ok(None);
        }
        let mut v = Vec::with_capacity(usize::try_from(self.len).unwrap_or(0));
        (&mut self.file).take(limit + 1).read_to_end(&mut v)?;
        Ok((v.len() as u64 <= limit).then_some(v))
    }
}

/// The names of an absolute, normalized path (`/a/b` -> `a`, `b`).
fn components(path: &Path) -> Result<Vec<OsString>, &'static str> {
    if !path.is_absolute() {
        return Err("is not an absolute path");
    }
    let mut out = Vec::new();
    for c in path.components() {
        match c {
            Component::RootDir => {}
            Component::Normal(n) => out.push(n.to_os_string()),
            Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => return Err("contains '..' (give a normalized path)"),
        }
    }
    if out.iter().any(|n| n.as_bytes().is_empty()) {
        return Err("has an empty component");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn scratch(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("mptcp-trust-test-{}-{tag}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        fs::set_permissions(&d, fs::Permissions::from_mode(0o755)).unwrap();
        fs::canonicalize(d).unwrap()
    }

    #[test]
    fn paths_are_walked_without_links_or_writable_directories() {
        let d = scratch("walk");
        let f = d.join("lib.so");
        fs::write(&f, b"content").unwrap();
        fs::set_permissions(&f, fs::Permissions::from_mode(0o644)).unwrap();
        let mut t = TrustedFile::open(Path::new("/"), &f, Trust::User).unwrap();
        assert_eq!(t.read(100).unwrap().as_deref(), Some(&b"content"[..]));
        assert_eq!(t.read(3).unwrap(), None, "larger than the limit");

        // A symbolic link to it, as the last component or in the middle.
        std::os::unix::fs::symlink(&f, d.join("link.so")).unwrap();
        let e = TrustedFile::open(Path::new("/"), &d.join("link.so"), Trust::User).unwrap_err();
        assert!(e.why.contains("symbolic link"), "{e}");
        std::os::unix::fs::symlink(&d, d.join("dirlink")).unwrap();
        let e = TrustedFile::open(Path::new("/"), &d.join("dirlink/lib.so"), Trust::User).unwrap_err();
        assert!(e.why.contains("symbolic link") && e.path.ends_with("dirlink"), "{e}");

        // The file, then its directory, writable by others.
        fs::set_permissions(&f, fs::Permissions::from_mode(0o666)).unwrap();
        let e = TrustedFile::open(Path::new("/"), &f, Trust::User).unwrap_err();
        assert!(e.why.contains("writable by other users") && e.why.contains("666"), "{e}");
        fs::set_permissions(&f, fs::Permissions::from_mode(0o644)).unwrap();
        fs::set_permissions(&d, fs::Permissions::from_mode(0o777)).unwrap();
        let e = TrustedFile::open(Path::new("/"), &f, Trust::User).unwrap_err();
        assert!(e.path == d && e.why.contains("777"), "{e}");
        // Sticky: crossed by `mptcp run` (others can neither rename nor
        // remove our file there), never by a drop-in.
        fs::set_permissions(&d, fs::Permissions::from_mode(0o1777)).unwrap();
        assert!(TrustedFile::open(Path::new("/"), &f, Trust::User).is_ok());
        assert!(TrustedFile::open(Path::new("/"), &f, Trust::Builder).is_err());
        // Never as the directory things are put in.
        assert!(TrustedDir::open(Path::new("/"), &d, Trust::User, None).is_err());
        fs::set_permissions(&d, fs::Permissions::from_mode(0o755)).unwrap();

        assert!(TrustedFile::open(Path::new("/"), &d.join("missing.so"), Trust::User)
            .unwrap_err()
            .why
            .contains("does not exist"));
        assert!(TrustedFile::open(Path::new("/"), &d.join("../x"), Trust::User).unwrap_err().why.contains(".."));
        assert!(TrustedFile::open(Path::new("/"), Path::new("rel/x"), Trust::User).is_err());
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn directories_are_created_with_their_mode() {
        let d = scratch("create");
        let inner = d.join("a/b");
        let t = TrustedDir::open(Path::new("/"), &inner, Trust::User, Some(0o700)).unwrap();
        assert_eq!(t.path, inner);
        assert!(t.is_private());
        assert_eq!(fs::metadata(&inner).unwrap().mode() & 0o7777, 0o700);
        let sub = t.subdir(OsStr::new("c"), Trust::User, Some(0o755)).unwrap();
        assert_eq!(sub.path, inner.join("c"));
        assert!(!sub.is_private());
        assert_eq!(sub.owner(), euid());
        // Relative to another base (a system image).
        let t = TrustedDir::open(&d, Path::new("/a/b"), Trust::Builder, None).unwrap();
        assert_eq!(t.path, Path::new("/a/b"));
        assert!(t.open_file(OsStr::new("nothing"), Trust::Builder).unwrap().is_none());
        fs::remove_dir_all(&d).unwrap();
    }
}
