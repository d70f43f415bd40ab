//! systemd readiness (`sd_notify`, a datagram to `$NOTIFY_SOCKET`; nothing
//! happens without it) and the log format: `<N>`-prefixed lines for the
//! journal when stderr is the journal's stream, timestamped lines in a
//! terminal.

use std::io::Write;

use log::{Level, LevelFilter, Log, Metadata, Record};
use sd_notify::NotifyState;

use crate::time::{rfc3339, unix_now};

pub(crate) fn ready(status: &str) {
    let _ = sd_notify::notify(false, &[NotifyState::Ready, NotifyState::Status(status)]);
}

pub(crate) fn reloading() {
    let mut states = vec![NotifyState::Reloading];
    if let Ok(m) = NotifyState::monotonic_usec_now() {
        states.push(m);
    }
    let _ = sd_notify::notify(false, &states);
}

pub(crate) fn stopping() {
    let _ = sd_notify::notify(false, &[NotifyState::Stopping]);
}

#[derive(Debug)]
struct StderrLogger {
    journal: bool,
    level: LevelFilter,
}

impl Log for StderrLogger {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        m.level() <= self.level && (m.target().starts_with("mptcp_daemon") || m.level() <= Level::Warn)
    }

    fn log(&self, r: &Record<'_>) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let line = if self.journal {
            // sd-daemon(3) priorities: 3 error, 4 warning, 6 info, 7 debug.
            let p = match r.level() {
                Level::Error => 3,
                Level::Warn => 4,
                Level::Info => 6,
                _ => 7,
            };
            format!("<{p}>{}\n", r.args())
        } else {
            let tag = match r.level() {
                Level::Error => "error: ",
                Level::Warn => "warning: ",
                _ => "",
            };
            format!("{} {tag}{}\n", rfc3339(unix_now()), r.args())
        };
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {}
}

/// Whether stderr is the journal's stream (`$JOURNAL_STREAM` names its
/// device and inode).
fn stderr_is_journal() -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(v) = std::env::var("JOURNAL_STREAM") else { return false };
    let Some((dev, ino)) = v.split_once(':') else { return false };
    let Ok(meta) = std::fs::metadata("/proc/self/fd/2") else { return false };
    dev.parse::<u64>().ok() == Some(meta.dev()) && ino.parse::<u64>().ok() == Some(meta.ino())
}

/// Sends the daemon's log to stderr: info and above, debug with `verbose`.
/// Does nothing when a logger is installed already.
///
/// # Examples
///
/// ```
/// mptcp_daemon::init_logging(false);
/// log::info!(target: "mptcp_daemon", "hello");
/// ```
pub fn init_logging(verbose: bool) {
    let level = if verbose { LevelFilter::Debug } else { LevelFilter::Info };
    let logger = Box::new(StderrLogger { journal: stderr_is_journal(), level });
    if log::set_boxed_logger(logger).is_ok() {
        log::set_max_level(level);
    }
}
