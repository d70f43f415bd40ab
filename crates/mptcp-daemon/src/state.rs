//! The daemon's memory across restarts: which endpoints it created (their
//! ids), in `RUNTIME_DIR/state.json`, and a lock so that two daemons never
//! share one directory.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

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
    /// The id each address had last; not given to another address while
    /// remembered.
    #[serde(default)]
    pub ids: BTreeMap<IpAddr, u8>,
}

/// The runtime directory, locked for this daemon.
#[derive(Debug)]
pub(crate) struct Store {
    dir: PathBuf,
    _lock: Flock<File>,
}

impl Store {
    /// Creates and locks `dir`, and reads the state left there, if any.
    /// A state file that does not parse is set aside (`state.json.bad`)
    /// and reported: the daemon then owns nothing.
    pub fn open(dir: &Path) -> io::Result<(Store, StateFile, Option<String>)> {
        fs::create_dir_all(dir)?;
        let lock_path = dir.join("daemon.lock");
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&lock_path)?;
        let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(l) => l,
            Err((_, errno)) if errno == nix::errno::Errno::EWOULDBLOCK => {
                let pid = fs::read_to_string(&lock_path).unwrap_or_default();
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!(
                        "another mptcp daemon (pid {}) uses {}; stop it or give this one another runtime_dir",
                        pid.trim(),
                        dir.display()
                    ),
                ));
            }
            Err((_, errno)) => return Err(errno.into()),
        };
        lock.set_len(0)?;
        write!(lock, "{}", std::process::id())?;
        let store = Store { dir: dir.to_path_buf(), _lock: lock };
        let path = store.state_path();
        let (state, warning) = match fs::read_to_string(&path) {
            Ok(text) => match serde_json::from_str::<StateFile>(&text) {
                Ok(s) => (s, None),
                Err(e) => {
                    let bad = path.with_extension("json.bad");
                    let _ = fs::rename(&path, &bad);
                    let w = format!(
                        "{} did not parse ({e}); moved to {}; owning no endpoint",
                        path.display(),
                        bad.display()
                    );
                    (StateFile::default(), Some(w))
                }
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => (StateFile::default(), None),
            Err(e) => return Err(e),
        };
        Ok((store, state, warning))
    }

    fn state_path(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    /// Path of the control socket.
    pub fn socket_path(&self) -> PathBuf {
        self.dir.join("control.sock")
    }

    /// Writes the state atomically (temporary file, then rename).
    pub fn save(&self, state: &StateFile) -> io::Result<()> {
        let tmp = self.dir.join(".state.json.tmp");
        let mut f = File::create(&tmp)?;
        serde_json::to_writer_pretty(&mut f, state)?;
        f.write_all(b"\n")?;
        f.sync_data()?;
        fs::rename(&tmp, self.state_path())
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
