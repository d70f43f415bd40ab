//! What kind of error ended a command, and the JSON form of an error that
//! `--json` asks for: `{"error": "...", "kind": "..."}` on stdout.
//!
//! The kinds are a stable vocabulary for scripts ([`Kind`]); the message
//! is for people and may change. The exit status does not depend on
//! `--json`: the human message still goes to stderr through
//! [`report_error`], which also picks the status.

use std::fmt;
use std::io::{self, Write};
use std::process::ExitCode;

use serde::Serialize;

use crate::util::{is_stdout_closed, UsageError};

/// The `kind` of a JSON error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Bad input: an unknown option, a value out of range, a missing
    /// argument (exit status 2, nothing was changed).
    Usage,
    /// Not allowed: not root, or without `CAP_NET_ADMIN`.
    Permission,
    /// This kernel or machine lacks what the command needs (MPTCP not
    /// built in, no path manager, a program or kernel feature missing).
    Unsupported,
    /// What the command names does not exist (an endpoint, a connection
    /// token, a file).
    NotFound,
    /// The system or the network failed the request (a refused or timed
    /// out connection, a netlink or socket error, a kernel refusal, a
    /// kernel reply that does not parse).
    Io,
    /// The work ran and did not succeed (a lab phase that failed).
    Failed,
}

impl Kind {
    /// The word in JSON (`usage`, `permission`, `unsupported`, `not-found`,
    /// `io`, `failed`).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Usage => "usage",
            Kind::Permission => "permission",
            Kind::Unsupported => "unsupported",
            Kind::NotFound => "not-found",
            Kind::Io => "io",
            Kind::Failed => "failed",
        }
    }

    /// The kind of an errno.
    pub fn of_errno(errno: i32) -> Kind {
        match errno {
            libc::EPERM | libc::EACCES => Kind::Permission,
            libc::ENOENT | libc::ENODEV | libc::ESRCH | libc::ENXIO | libc::EADDRNOTAVAIL => Kind::NotFound,
            libc::EOPNOTSUPP | libc::EPROTONOSUPPORT | libc::ENOPROTOOPT | libc::EAFNOSUPPORT | libc::ENOSYS => {
                Kind::Unsupported
            }
            _ => Kind::Io,
        }
    }

    fn of_io(e: &io::Error) -> Kind {
        match (e.raw_os_error(), e.kind()) {
            (Some(n), _) => Kind::of_errno(n),
            (None, io::ErrorKind::PermissionDenied) => Kind::Permission,
            (None, io::ErrorKind::NotFound) => Kind::NotFound,
            (None, io::ErrorKind::Unsupported) => Kind::Unsupported,
            _ => Kind::Io,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An error whose kind the command knows when it raises it (the message
/// alone would not tell a script).
#[derive(Debug)]
pub struct Failure {
    /// What kind of error.
    pub kind: Kind,
    /// The message, for people.
    pub message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// Returns an `anyhow::Error` carrying a [`Failure`] of `kind`.
pub fn failure(kind: Kind, message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Failure { kind, message: message.into() })
}

/// The kind of `err`: the first cause, from the outermost, whose type
/// says it; [`Kind::Failed`] when none does.
pub fn kind_of(err: &anyhow::Error) -> Kind {
    err.chain().find_map(kind_of_cause).unwrap_or(Kind::Failed)
}

fn kind_of_cause(c: &(dyn std::error::Error + 'static)) -> Option<Kind> {
    if c.is::<UsageError>() || c.is::<clap::Error>() {
        return Some(Kind::Usage);
    }
    if let Some(f) = c.downcast_ref::<Failure>() {
        return Some(f.kind);
    }
    if let Some(e) = c.downcast_ref::<mptcp::pm::Error>() {
        use mptcp::pm::Error as E;
        return Some(match e {
            E::InvalidArgument { .. } => Kind::Usage,
            E::NoSuchEndpoint(_) => Kind::NotFound,
            // The kernel answers EINVAL for a token no connection has.
            E::Kernel { errno: libc::EINVAL, token: Some(_), .. } => Kind::NotFound,
            // No `mptcp_pm` family, or one without what was asked.
            E::FamilyNotFound { .. } | E::NotSupported { .. } => Kind::Unsupported,
            // A socket error by its errno; a reply that does not parse
            // (`InvalidData`, no errno) is `io`, not a missing feature.
            E::Io(io) => Kind::of_io(io),
            e => e.errno().map_or(Kind::Io, Kind::of_errno),
        });
    }
    if let Some(e) = c.downcast_ref::<mptcp_netns::Error>() {
        if matches!(e, mptcp_netns::Error::NotRoot) {
            return Some(Kind::Permission);
        }
    }
    c.downcast_ref::<io::Error>().map(Kind::of_io)
}

static REPORT_PRINTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// A command whose `--json` output already says it failed (its report
/// carries `"ok": false` and the error) calls this before returning the
/// error, so `main` prints no second JSON object: stdout stays one JSON
/// document.
pub fn mark_json_failure_printed() {
    REPORT_PRINTED.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Whether [`mark_json_failure_printed`] was called.
pub fn json_failure_printed() -> bool {
    REPORT_PRINTED.load(std::sync::atomic::Ordering::Relaxed)
}

/// A JSON error: what `--json` prints on stdout when a command fails.
#[derive(Debug, Serialize)]
pub struct JsonError {
    /// The message with its causes, as on stderr without `mptcp: error: `.
    pub error: String,
    /// See [`Kind`].
    pub kind: Kind,
}

/// The messages of `err` and its causes, outermost first, leaving out a
/// cause whose text its wrapper already says (errors such as `netlink: X`
/// over X would say it twice).
pub fn causes(err: &anyhow::Error) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if out.last().is_none_or(|said| !said.contains(&text)) {
            out.push(text);
        }
    }
    out
}

impl JsonError {
    /// The JSON error of `err`, on one line.
    pub fn of(err: &anyhow::Error) -> JsonError {
        let text = causes(err).join(": ");
        let error = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ");
        JsonError { error, kind: kind_of(err) }
    }

    /// The JSON error of a command line clap refused.
    pub fn of_clap(err: &clap::Error) -> JsonError {
        let text = err.render().to_string();
        let first = text.lines().next().unwrap_or_default();
        let message = first.strip_prefix("error: ").unwrap_or(first).trim().to_string();
        JsonError { error: message, kind: Kind::Usage }
    }

    /// Prints it as one line of JSON on stdout; a closed stdout is ignored
    /// (the error is also reported on stderr).
    pub fn print(&self) {
        if let Ok(mut line) = serde_json::to_vec(self) {
            line.push(b'\n');
            let mut out = crate::util::stdout();
            let _ = out.write_all(&line).and_then(|()| out.flush());
        }
    }
}

/// Whether a command line asks for JSON (`-j` or `--json` before any
/// `--`), for errors that happen before clap has parsed it.
pub fn wants_json<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> bool {
    args.iter()
        .skip(1)
        .map(|a| a.as_ref().to_str().unwrap_or(""))
        .take_while(|a| *a != "--")
        .any(|a| a == "--json" || a == "-j")
}

/// Prints `mptcp: error: ...` with the cause chain; returns the exit code
/// (2 for bad input, 1 otherwise; a closed standard output exits 0).
pub fn report_error(err: &anyhow::Error) -> ExitCode {
    if is_stdout_closed(err) {
        return ExitCode::SUCCESS;
    }
    let causes = causes(err);
    let mut msg = format!("mptcp: error: {}", causes.first().map(String::as_str).unwrap_or_default());
    for cause in causes.iter().skip(1) {
        msg.push_str(&format!("\n  caused by: {cause}"));
    }
    let _ = writeln!(io::stderr(), "{msg}");
    if err.chain().any(|c| c.downcast_ref::<UsageError>().is_some()) {
        ExitCode::from(2)
    } else {
        ExitCode::from(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_have_stable_names() {
        let all = [Kind::Usage, Kind::Permission, Kind::Unsupported, Kind::NotFound, Kind::Io, Kind::Failed];
        let names: Vec<&str> = all.iter().map(|k| k.name()).collect();
        assert_eq!(names, ["usage", "permission", "unsupported", "not-found", "io", "failed"]);
        for k in all {
            assert_eq!(serde_json::to_value(k).unwrap(), k.name());
        }
    }

    #[test]
    fn the_first_typed_cause_decides() {
        use anyhow::Context;
        let e = Err::<(), _>(crate::util::usage("bad")).context("outer").unwrap_err();
        assert_eq!(kind_of(&e), Kind::Usage);
        let refused = anyhow::Error::new(io::Error::from_raw_os_error(libc::ECONNREFUSED)).context("cannot connect");
        assert_eq!(kind_of(&refused), Kind::Io);
        let eperm = mptcp::pm::Error::Kernel { op: "flush endpoints", errno: libc::EPERM, token: None, detail: None };
        assert_eq!(kind_of(&anyhow::Error::new(eperm)), Kind::Permission);
        let token = mptcp::pm::Error::Kernel { op: "announce", errno: libc::EINVAL, token: Some(7), detail: None };
        assert_eq!(kind_of(&anyhow::Error::new(token)), Kind::NotFound);
        assert_eq!(kind_of(&failure(Kind::Unsupported, "no MPTCP")), Kind::Unsupported);
        let no_family = mptcp::pm::Error::FamilyNotFound { availability: mptcp::Availability::NotBuilt };
        assert_eq!(kind_of(&anyhow::Error::new(no_family)), Kind::Unsupported);
        let no_op = mptcp::pm::Error::NotSupported { what: "events group".into() };
        assert_eq!(kind_of(&anyhow::Error::new(no_op)), Kind::Unsupported);
        assert_eq!(kind_of(&anyhow::anyhow!("something")), Kind::Failed);
        let j = JsonError::of(&refused);
        assert!(j.error.starts_with("cannot connect: "), "{}", j.error);
        let listed = JsonError::of(&failure(Kind::Unsupported, "lacks:\n  - a\n  - b"));
        assert_eq!(listed.error, "lacks: - a - b");
    }

    /// A kernel reply that does not parse is `io`, whichever way it
    /// reaches the command: the library's netlink layer makes it an
    /// `InvalidData` error without an errno (`pm::Error::Io`), and a
    /// command may add context around it.
    #[test]
    fn a_malformed_kernel_reply_is_io_not_unsupported() {
        use anyhow::Context;
        let malformed = || io::Error::new(io::ErrorKind::InvalidData, "malformed netlink message: buffer too short");
        let pm = anyhow::Error::new(mptcp::pm::Error::Io(malformed()));
        assert_eq!(kind_of(&pm), Kind::Io);
        assert_eq!(JsonError::of(&pm).kind, Kind::Io);
        let wrapped = Err::<(), _>(mptcp::pm::Error::Io(malformed())).context("cannot list endpoints").unwrap_err();
        assert_eq!(kind_of(&wrapped), Kind::Io);
        let no_limits = mptcp::pm::Error::Io(io::Error::new(io::ErrorKind::InvalidData, "the kernel sent no limits"));
        assert_eq!(kind_of(&anyhow::Error::new(no_limits)), Kind::Io);
        // The same error straight from a socket call (inet_diag, counters).
        assert_eq!(kind_of(&anyhow::Error::new(malformed())), Kind::Io);
        // The errno still decides where there is one.
        let eperm = mptcp::pm::Error::Io(io::Error::from_raw_os_error(libc::EPERM));
        assert_eq!(kind_of(&anyhow::Error::new(eperm)), Kind::Permission);
        let lost = mptcp::pm::Error::EventsLost;
        assert_eq!(kind_of(&anyhow::Error::new(lost)), Kind::Io);
    }

    #[test]
    fn json_is_asked_before_the_separator_only() {
        assert!(wants_json(&["mptcp", "status", "-j"]));
        assert!(wants_json(&["mptcp", "endpoint", "--json", "add", "x"]));
        assert!(!wants_json(&["mptcp", "run", "--", "prog", "--json"]));
        assert!(!wants_json(&["--json"]), "the program name is not an argument");
    }

    #[test]
    fn a_cause_its_wrapper_already_says_is_not_repeated() {
        let io = std::io::Error::from_raw_os_error(libc::EACCES);
        let e = anyhow::Error::new(mptcp::pm::Error::Io(io)).context("adding endpoint 10.0.0.1");
        let c = causes(&e);
        assert_eq!(c.len(), 2, "{c:?}");
        assert_eq!(c[0], "adding endpoint 10.0.0.1");
        assert!(c[1].starts_with("netlink: ") && c[1].contains("ermission denied"), "{c:?}");
        let plain = anyhow::Error::new(std::io::Error::from_raw_os_error(libc::ENOENT)).context("reading x");
        assert_eq!(causes(&plain).len(), 2);
        assert!(JsonError::of(&e).error.matches("ermission denied").count() == 1);
    }
}
