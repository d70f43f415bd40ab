//! The daemon's memory across restarts: which endpoints it created (their
//! ids), in `RUNTIME_DIR/state.json`, and a lock so that two daemons never
//! share one directory.
//!
//! The daemon runs as root (or with `CAP_NET_ADMIN`), so nobody else may be
//! able to put a link or another directory where it writes: the runtime
//! directory is opened one component at a time from `/` with
//! `O_DIRECTORY|O_NOFOLLOW`, each directory checked by descriptor (`fstat`):
//! those above it belong to root or to the daemon's user and are not
//! writable by others (unless sticky, as `/tmp`), the runtime directory
//! itself belongs to the daemon's user and is writable by it alone. Its files
//! are opened with `openat` and `O_NOFOLLOW`, and must be regular files of
//! the daemon's user with one link.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::net::IpAddr;
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat, renameat, AtFlags, Flock, FlockArg, OFlag};
use nix::sys::stat::{fchmod, fstat, fstatat, mkdirat, FileStat, Mode, SFlag};
use nix::unistd::{fsync, geteuid, unlinkat, UnlinkatFlags};

/// An endpoint the daemon created.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Owned {
    /// Endpoint id.
    pub id: u8,
    /// Address.
    pub addr: IpAddr,
    /// Interface index it is bound to.
    pub ifindex: Option<u32>,
    /// Interface name when it was created.
    pub ifname: String,
    /// Flags it was created with (`MPTCP_PM_ADDR_FLAG_*`).
    pub flags: u32,
    /// Port.
    pub port: Option<u16>,
    /// When (RFC 3339).
    pub since: String,
}

/// What `state.json` holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StateFile {
    /// Format version (1).
    pub version: u32,
    /// The endpoints the daemon owns.
    pub owned: Vec<Owned>,
    /// Endpoints being added when the file was written (recorded before
    /// the kernel is asked): the daemon's if the kernel has them, with the
    /// same id and address, when it starts again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub adding: Vec<Owned>,
    /// The id each address had last; not given to another address while
    /// remembered.
    #[serde(default)]
    pub ids: BTreeMap<IpAddr, u8>,
}

const LOCK: &str = "daemon.lock";
const STATE: &str = "state.json";
const STATE_BAD: &str = "state.json.bad";
const STATE_TMP: &str = ".state.json.tmp";
const SOCKET: &str = "control.sock";

/// A state file is at most this large.
const MAX_STATE: u64 = 1 << 20;

/// The runtime directory, checked and locked for this daemon.
#[derive(Debug)]
pub(crate) struct Store {
    path: PathBuf,
    dir: OwnedFd,
    _lock: Flock<File>,
}

impl Store {
    /// Opens (creating what is missing) and locks `dir`, and reads the
    /// state left there, if any. A state file that does not parse is set
    /// aside (`state.json.bad`) and reported: the daemon then owns nothing.
    ///
    /// # Errors
    ///
    /// A relative path; a link, or a directory others can write to, on the
    /// way; files there that are links, not regular or not the daemon's user's;
    /// another daemon holding the lock.
    pub fn open(path: &Path) -> io::Result<(Store, StateFile, Option<String>)> {
        let dir = open_private_dir(path)?;
        let file = open_at(&dir, path, LOCK, OFlag::O_RDWR | OFlag::O_CREAT)?;
        let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(l) => l,
            Err((mut file, Errno::EWOULDBLOCK)) => {
                let mut pid = String::new();
                let _ = file.rewind().and_then(|_| (&mut file).take(32).read_to_string(&mut pid));
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!(
                        "another mptcp daemon (pid {}) uses {}; stop it or give this one another runtime_dir",
                        pid.trim(),
                        path.display()
                    ),
                ));
            }
            Err((_, errno)) => return Err(errno.into()),
        };
        lock.set_len(0)?;
        lock.rewind()?;
        write!(lock, "{}", std::process::id())?;
        let store = Store { path: path.to_path_buf(), dir, _lock: lock };
        let (state, warning) = store.read_state()?;
        Ok((store, state, warning))
    }

    fn read_state(&self) -> io::Result<(StateFile, Option<String>)> {
        let file = match open_at(&self.dir, &self.path, STATE, OFlag::O_RDONLY) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((StateFile::default(), None)),
            Err(e) => return Err(e),
        };
        let mut text = String::new();
        let read = file.take(MAX_STATE).read_to_string(&mut text);
        let parsed = read
            .map_err(|e| e.to_string())
            .and_then(|_| serde_json::from_str::<StateFile>(&text).map_err(|e| e.to_string()));
        match parsed {
            Ok(s) => Ok((s, None)),
            Err(e) => {
                let _ = renameat(&self.dir, STATE, &self.dir, STATE_BAD);
                let w = format!(
                    "{} did not parse ({e}); moved to {}; owning no endpoint",
                    self.path.join(STATE).display(),
                    self.path.join(STATE_BAD).display()
                );
                Ok((StateFile::default(), Some(w)))
            }
        }
    }

    /// Path of the control socket.
    pub fn socket_path(&self) -> PathBuf {
        self.path.join(SOCKET)
    }

    /// Removes the control socket (left by a daemon that died, or ours on exit).
    pub fn remove_socket(&self) {
        let _ = unlinkat(&self.dir, SOCKET, UnlinkatFlags::NoRemoveDir);
    }

    /// Writes the state durably: a new temporary file written in one go and
    /// `fsync`ed, renamed over `state.json`, then the directory `fsync`ed.
    pub fn save(&self, state: &StateFile) -> io::Result<()> {
        let mut text = serde_json::to_vec_pretty(state)?;
        text.push(b'\n');
        match unlinkat(&self.dir, STATE_TMP, UnlinkatFlags::NoRemoveDir) {
            Ok(()) | Err(Errno::ENOENT) => {}
            Err(e) => return Err(e.into()),
        }
        let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let mut f = File::from(openat(&self.dir, STATE_TMP, flags, Mode::from_bits_truncate(0o644))?);
        f.write_all(&text)?;
        f.sync_all()?;
        renameat(&self.dir, STATE_TMP, &self.dir, STATE)?;
        fsync(&self.dir)?;
        Ok(())
    }
}

/// `what` about `path`, as an error.
fn refused(path: &Path, what: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::PermissionDenied, format!("{}: {what}", path.display()))
}

/// The error of opening `name` in `dir` (at `path`): a link is named as such.
fn open_error(dir: &OwnedFd, path: &Path, name: &OsStr, e: Errno) -> io::Error {
    let is_link = fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW)
        .is_ok_and(|st| SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFLNK);
    if is_link && matches!(e, Errno::ELOOP | Errno::ENOTDIR) {
        let target = nix::fcntl::readlinkat(dir, name).map(|t| t.to_string_lossy().into_owned()).unwrap_or_default();
        return refused(path, format!("is a symbolic link (to {target}); give the real path, never a link"));
    }
    if e == Errno::ENOTDIR {
        return refused(path, "is not a directory");
    }
    io::Error::new(io::Error::from(e).kind(), format!("{}: {}", path.display(), e.desc()))
}

fn kind(st: &FileStat) -> SFlag {
    SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT
}

fn mode_bits(st: &FileStat) -> u32 {
    st.st_mode & 0o7777
}

/// Opens the runtime directory `path` one component at a time, creating
/// what is missing (mode 0755), and checks each by descriptor.
fn open_private_dir(path: &Path) -> io::Result<OwnedFd> {
    if !path.is_absolute() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}: the runtime directory must be an absolute path", path.display()),
        ));
    }
    let euid = geteuid().as_raw();
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let mut walked = PathBuf::from("/");
    let mut fd = nix::fcntl::open("/", flags, Mode::empty()).map_err(|e| refused(&walked, e.desc()))?;
    let names: Vec<&OsStr> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(Ok(n)),
            Component::ParentDir => Some(Err(())),
            _ => None,
        })
        .collect::<Result<_, _>>()
        .map_err(|()| refused(path, "\"..\" in the runtime directory; give it without"))?;
    check_above(&fstat(&fd)?, &walked, euid)?;
    for (i, name) in names.iter().enumerate() {
        walked.push(name);
        let last = i + 1 == names.len();
        let next = match openat(&fd, *name, flags, Mode::empty()) {
            Ok(f) => f,
            Err(Errno::ENOENT) => {
                match mkdirat(&fd, *name, Mode::from_bits_truncate(0o755)) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(e) => return Err(refused(&walked, format!("cannot create it: {}", e.desc()))),
                }
                let f = openat(&fd, *name, flags, Mode::empty()).map_err(|e| open_error(&fd, &walked, name, e))?;
                // Whatever the umask: the status socket is for every user.
                let st = fstat(&f)?;
                if st.st_uid == euid {
                    fchmod(&f, Mode::from_bits_truncate(0o755))?;
                }
                f
            }
            Err(e) => return Err(open_error(&fd, &walked, name, e)),
        };
        let st = fstat(&next)?;
        if last {
            check_runtime_dir(&st, &walked, euid)?;
        } else {
            check_above(&st, &walked, euid)?;
        }
        fd = next;
    }
    Ok(fd)
}

/// A directory above the runtime directory: nobody but root and the
/// daemon's user can replace what is in it.
fn check_above(st: &FileStat, path: &Path, euid: u32) -> io::Result<()> {
    if st.st_uid != 0 && st.st_uid != euid {
        return Err(refused(
            path,
            format!(
                "belongs to user {}: the directories above the runtime directory must belong to root or to the \
                 daemon's user ({euid}); use another runtime_dir",
                st.st_uid
            ),
        ));
    }
    let sticky = st.st_mode & libc::S_ISVTX != 0;
    if mode_bits(st) & 0o022 != 0 && !sticky {
        return Err(refused(
            path,
            format!(
                "is writable by others (mode {:o}): they could put another directory in place of the runtime \
                 directory; chmod go-w {}, or use another runtime_dir",
                mode_bits(st),
                path.display()
            ),
        ));
    }
    Ok(())
}

/// The runtime directory: the daemon's user's, writable by it alone.
fn check_runtime_dir(st: &FileStat, path: &Path, euid: u32) -> io::Result<()> {
    if st.st_uid != euid {
        return Err(refused(
            path,
            format!(
                "belongs to user {}, not to the daemon's user ({euid}): chown it, or use another runtime_dir",
                st.st_uid
            ),
        ));
    }
    if mode_bits(st) & 0o022 != 0 {
        return Err(refused(
            path,
            format!("is writable by others (mode {:o}): chmod go-w {}", mode_bits(st), path.display()),
        ));
    }
    Ok(())
}

/// Opens file `name` of the runtime directory without following a link:
/// a regular file of the daemon's user with one link (a FIFO or a device
/// is refused without blocking).
fn open_at(dir: &OwnedFd, dir_path: &Path, name: &str, flags: OFlag) -> io::Result<File> {
    let path = dir_path.join(name);
    let flags = flags | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK | OFlag::O_NOCTTY;
    let fd = openat(dir, name, flags, Mode::from_bits_truncate(0o644))
        .map_err(|e| open_error(dir, &path, name.as_ref(), e))?;
    let st = fstat(&fd)?;
    if kind(&st) != SFlag::S_IFREG {
        return Err(refused(&path, "not a regular file; remove it"));
    }
    let euid = geteuid().as_raw();
    if st.st_uid != euid {
        return Err(refused(
            &path,
            format!("belongs to user {}, not to the daemon's user ({euid}); remove it", st.st_uid),
        ));
    }
    if st.st_nlink != 1 {
        return Err(refused(&path, format!("has {} hard links; remove it", st.st_nlink)));
    }
    Ok(File::from(fd))
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
