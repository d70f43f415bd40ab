//! What the library writes: verbose log lines and report records.
//!
//! Log lines go to the stderr that `mptcp run` had, never to whatever fd 2
//! is later: `mptcp run -v` passes the device and inode of its own stderr in
//! `MPTCP_PRELOAD_VERBOSE=<dev>:<ino>`; at load time the library duplicates
//! fd 2 (close-on-exec, numbered 100 or above) only if fd 2 is that same
//! file, and before each line it checks that the duplicate still is (the
//! program may close it and get the number back for a socket). A program
//! that closed its stderr and got a socket as fd 2 therefore never receives
//! log text in its stream. The check and the write are two calls: a thread
//! that closes our duplicate and reuses its number between them could still
//! receive one line, which needs a program closing fds it never opened.
//!
//! Report records are appended, one `write` each (`O_APPEND`: lines of
//! concurrent processes never interleave), to the file named by
//! `MPTCP_PRELOAD_REPORT`, opened around each write so that no fd is kept.
//! `mptcp run` makes that file in its private directory, but the variable
//! outlives the run in the processes it leaves behind, and anything may be
//! at that path by then. So the file is opened with `O_NOFOLLOW` (never
//! through a symbolic link) and `O_NONBLOCK` (a FIFO without a reader fails
//! at once instead of blocking the program's `close`), and written only if
//! `fstat` says it is a regular file owned by this process's effective
//! user. Anything else turns reporting off for the rest of the process.

use std::ffi::c_int;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::OnceLock;

use crate::sys;

/// The duplicate of the verified stderr, -1 = no logging.
static LOG_FD: AtomicI32 = AtomicI32::new(-1);
/// Device and inode of the stderr of `mptcp run`.
static LOG_DEV: AtomicU64 = AtomicU64::new(0);
static LOG_INO: AtomicU64 = AtomicU64::new(0);
/// `MPTCP_PRELOAD_REPORT`, set once by the constructor.
static REPORT: OnceLock<PathBuf> = OnceLock::new();
/// Set when the report path was found to be anything but our regular file.
static REPORT_OFF: AtomicBool = AtomicBool::new(false);

/// Lowest number for the duplicate of stderr: out of the way of programs
/// that expect their next fd to be a low one.
const LOG_FD_MIN: c_int = 100;

/// Parses `<dev>:<ino>`.
pub(crate) fn parse_identity(v: &str) -> Option<(u64, u64)> {
    let (d, i) = v.split_once(':')?;
    Some((d.parse().ok()?, i.parse().ok()?))
}

/// Starts logging when fd 2 is the file `expected` names (from
/// `MPTCP_PRELOAD_VERBOSE`).
pub(crate) fn init_log(expected: Option<(u64, u64)>) {
    let Some((dev, ino)) = expected else { return };
    if sys::identity(2) != Some((dev, ino)) {
        return;
    }
    LOG_DEV.store(dev, Ordering::Relaxed);
    LOG_INO.store(ino, Ordering::Relaxed);
    let fd = sys::dup_cloexec(2, LOG_FD_MIN);
    LOG_FD.store(fd, Ordering::Release);
}

/// Whether log lines are written.
pub(crate) fn logging() -> bool {
    LOG_FD.load(Ordering::Relaxed) >= 0
}

/// Writes `line` to the verified stderr; stops logging for good when our
/// duplicate no longer is that file.
fn write_log(line: &[u8]) {
    let fd = LOG_FD.load(Ordering::Acquire);
    if fd < 0 {
        return;
    }
    let expected = (LOG_DEV.load(Ordering::Relaxed), LOG_INO.load(Ordering::Relaxed));
    if sys::identity(fd) != Some(expected) {
        // Closed behind our back, and perhaps reused: never write there.
        LOG_FD.store(-1, Ordering::Release);
        return;
    }
    sys::write_all(fd, line);
}

/// Sets the report file (from `MPTCP_PRELOAD_REPORT`).
pub(crate) fn init_report(path: PathBuf) {
    let _ = REPORT.set(path);
}

/// Whether records are written.
pub(crate) fn reporting() -> bool {
    REPORT.get().is_some() && !REPORT_OFF.load(Ordering::Relaxed)
}

/// Appends the record `<kind> <pid>[ <inode>]` to the report file, if any.
pub(crate) fn record(kind: u8, inode: Option<u64>) {
    let Some(path) = REPORT.get() else { return };
    if REPORT_OFF.load(Ordering::Relaxed) {
        return;
    }
    let mut line = Buf::new();
    line.push(&[kind, b' ']).num(u64::from(std::process::id()));
    if let Some(ino) = inode {
        line.push(b" ").num(ino);
    }
    line.push(b"\n");
    // No O_CREAT: the file is made by `mptcp run`; one write per line.
    let Ok(mut f) = std::fs::OpenOptions::new().append(true).custom_flags(sys::O_NOFOLLOW | sys::O_NONBLOCK).open(path)
    else {
        return;
    };
    let ours = f.metadata().is_ok_and(|m| m.is_file() && m.uid() == sys::euid());
    if !ours {
        REPORT_OFF.store(true, Ordering::Relaxed);
        return;
    }
    use std::io::Write;
    let _ = f.write(line.as_bytes());
}

/// A fixed-size line buffer (no allocation); overflow is truncated.
pub(crate) struct Buf {
    bytes: [u8; 160],
    len: usize,
}

impl Buf {
    pub(crate) fn new() -> Buf {
        Buf { bytes: [0; 160], len: 0 }
    }

    pub(crate) fn push(&mut self, s: &[u8]) -> &mut Buf {
        for &b in s {
            if let Some(slot) = self.bytes.get_mut(self.len) {
                *slot = b;
                self.len += 1;
            }
        }
        self
    }

    pub(crate) fn num(&mut self, mut n: u64) -> &mut Buf {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            if let Some(d) = digits.get_mut(i) {
                *d = b'0' + (n % 10) as u8;
            }
            n /= 10;
            if n == 0 || i == 0 {
                break;
            }
        }
        self.push(digits.get(i..).unwrap_or(&[]))
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&[])
    }
}

/// A verbose log line: `mptcp-preload[<pid>]: ...\n`.
pub(crate) struct Msg(Buf);

impl Msg {
    pub(crate) fn new() -> Msg {
        let mut b = Buf::new();
        b.push(b"mptcp-preload[").num(u64::from(std::process::id())).push(b"]: ");
        Msg(b)
    }

    pub(crate) fn push(&mut self, s: &[u8]) -> &mut Msg {
        self.0.push(s);
        self
    }

    pub(crate) fn num(&mut self, n: u64) -> &mut Msg {
        self.0.num(n);
        self
    }

    pub(crate) fn emit(&mut self) {
        self.0.push(b"\n");
        write_log(self.0.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffer_formats_numbers_and_truncates() {
        let mut b = Buf::new();
        b.push(b"S ").num(0).push(b" ").num(4294967295).push(b" ").num(u64::MAX);
        assert_eq!(b.as_bytes(), b"S 0 4294967295 18446744073709551615");
        let mut b = Buf::new();
        for _ in 0..100 {
            b.push(b"xyz");
        }
        assert_eq!(b.as_bytes().len(), 160);
    }

    /// What is at the report path decides whether a record is written:
    /// only our regular file gets it; a FIFO without a reader neither
    /// blocks nor gets anything, a symbolic link is not followed.
    #[test]
    fn records_go_only_to_our_regular_file() {
        let dir = std::env::temp_dir().join(format!("mptcp-preload-out-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("report");
        init_report(path.clone());
        let record_within_10s = || {
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                record(b'S', Some(7));
                let _ = tx.send(());
            });
            rx.recv_timeout(std::time::Duration::from_secs(10)).is_ok()
        };

        // A FIFO nobody reads: open fails at once (O_NONBLOCK).
        let fifo = std::process::Command::new("mkfifo").arg(&path).status().expect("mkfifo (coreutils)");
        assert!(fifo.success());
        assert!(record_within_10s(), "record() blocked on a FIFO");
        REPORT_OFF.store(false, Ordering::Relaxed);
        std::fs::remove_file(&path).unwrap();

        // A symbolic link to a file of ours: not followed.
        let target = dir.join("target");
        std::fs::write(&target, b"").unwrap();
        std::os::unix::fs::symlink(&target, &path).unwrap();
        assert!(record_within_10s());
        assert_eq!(std::fs::read(&target).unwrap(), b"", "written through a symbolic link");
        std::fs::remove_file(&path).unwrap();

        // Our regular file: one line per record.
        std::fs::write(&path, b"").unwrap();
        assert!(record_within_10s());
        let want = format!("S {} 7\n", std::process::id());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), want);
        assert!(reporting());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn identities_parse() {
        assert_eq!(parse_identity("64769:1234"), Some((64769, 1234)));
        assert_eq!(parse_identity("1"), None);
        assert_eq!(parse_identity("a:1"), None);
        assert_eq!(parse_identity("1:"), None);
    }
}
