//! `mptcp run`: runs an unmodified program with its TCP sockets turned into
//! MPTCP sockets.
//!
//! The program gets `libmptcp_preload.so` appended to `LD_PRELOAD` (C, C++,
//! Rust, Python, ... programs calling libc's `socket`) and `multipathtcp=1`
//! added to `GODEBUG` (Go programs, which make system calls directly). Other
//! `LD_PRELOAD` libraries and `GODEBUG` settings are kept. Where the kernel
//! cannot do MPTCP, the library creates the TCP socket the program asked for.
//!
//! Without `--report` this process becomes the program (`exec`), so signals,
//! the exit status and the process id are the program's. With `--report` it
//! waits for the program while sampling the kernel's view of its sockets,
//! prints the counts (the library's records and the samples, see `report`),
//! and exits with the program's status (128 + N when killed by signal N).
//!
//! The preload library comes with this binary (see `preload` for the lookup
//! order and how the built-in copy is written out, and `trust` for the
//! checks every library passes before the loader gets its path). The
//! `--report` records go to the same private directory as the built-in
//! copy.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::os::fd::AsFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::Context;
use nix::fcntl::{openat, OFlag};
use nix::sys::stat::Mode;
use nix::unistd::{unlinkat, UnlinkatFlags};

use crate::errors::{failure, Kind};
use crate::util::usage;

pub mod bpf;
mod observe;
mod preload;
mod records;
mod report;
mod trust;

pub use preload::{find_preload, Store};

/// Arguments of `mptcp run`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  mptcp run -- curl http://example.com/\n  mptcp run --report -- iperf3 -s\n\n\
The preload library is looked up in this order:\n  \
1. --preload PATH\n  \
2. $MPTCP_PRELOAD_LIB\n  \
3. the path set when mptcp was built (MPTCP_PRELOAD_PATH, for distribution packages)\n  \
4. libmptcp_preload.so next to the mptcp binary, then ../lib/mptcp/ relative to it\n  \
5. /usr/lib/<multiarch triplet>/mptcp/libmptcp_preload.so\n  \
6. the copy built into mptcp, written to /run/mptcp as root, else $XDG_RUNTIME_DIR/mptcp (if it is\n     \
your private directory), else a 0700 directory mptcp-<uid>-XXXXXX of yours in the temporary directory;\n     \
checked before each use (owner, mode, content)\n\
Every library is checked through a file descriptor before use: it and each directory above it must be\n\
owned by root or you and writable by nobody else. Files of steps 3 to 5 that fail, or that do not speak\n\
this mptcp's library protocol, are skipped (-v says why); a --preload or MPTCP_PRELOAD_LIB that fails is\n\
refused.\n\n\
--report counts each connection once, from two sources: the library's records, written when a \
connection's outcome is known (also in processes that leave with _exit), and samples of the kernel's \
socket table every 50 ms (MPTCP sockets of the program's processes: this counts Go programs, which make \
system calls directly and never reach the library). A connection the library did not see and that \
lasted less than a sample is not counted.\n\n\
--via bpf (and auto, where it works) attaches a BPF program to the kernel's update_socket_protocol \
hook for the program and its descendants only (the process tree below mptcp run, which stays the \
parent: it waits, forwards SIGTERM/SIGHUP and exits with the program's status). Nothing is attached \
where MPTCP is not available (the program then runs over TCP, and the run says why), and the hook \
ends with mptcp run, even on SIGKILL. With --report the kernel counts the converted sockets.")]
pub struct Args {
    /// Log each converted socket and each connection's outcome on stderr
    /// (this stderr only, never into a file or socket the program later
    /// puts on fd 2).
    #[arg(short, long)]
    pub verbose: bool,
    /// When the program exits, print how many sockets were converted and how
    /// many connections used MPTCP or fell back to TCP, and who saw them.
    #[arg(long)]
    pub report: bool,
    /// With --report (implied): the report as one JSON object on stderr
    /// (the program keeps stdout); an error of `mptcp run` itself is a JSON
    /// object on stdout, as for every command.
    #[arg(short = 'j', long)]
    pub json: bool,
    /// Path of libmptcp_preload.so (default: see below).
    #[arg(long, value_name = "PATH")]
    pub preload: Option<PathBuf>,
    /// How sockets are converted: `bpf`, the kernel's hook (Linux >= 6.6,
    /// root; reaches static and Go programs; the program's environment is
    /// left alone), `preload` (LD_PRELOAD and GODEBUG), or `auto`: the hook
    /// where it can be attached, else the preload (-v and --report say
    /// which, and why); a library named with --preload or
    /// MPTCP_PRELOAD_LIB means the preload.
    #[arg(long, value_enum, value_name = "HOW", default_value = "auto", env = "MPTCP_RUN_VIA")]
    pub via: bpf::Via,
    /// The program to run and its arguments (after `--`).
    #[arg(value_name = "PROGRAM", required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<OsString>,
}

/// Runs `mptcp run`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let Some((program, rest)) = args.command.split_first() else {
        return Err(usage("missing PROGRAM: mptcp run [OPTIONS] -- PROGRAM [ARGS...]"));
    };
    let path = resolve_program(program)?;
    if args.via == bpf::Via::Bpf && args.preload.is_some() {
        return Err(usage("--preload has no use with --via bpf"));
    }
    let mut why_not_bpf = None;
    // A library named by the user is a choice of the preload.
    let named = args.preload.is_some() || std::env::var_os("MPTCP_PRELOAD_LIB").is_some_and(|v| !v.is_empty());
    if args.via == bpf::Via::Auto && named {
        why_not_bpf = Some("a preload library is named (--preload or MPTCP_PRELOAD_LIB)".to_string());
    } else if args.via != bpf::Via::Preload {
        match bpf::attach() {
            Ok(attached) => return run_with_hook(&args, &path, program, rest, Some(attached), None),
            // Nothing may be converted: run the program as it is.
            Err(why @ bpf::WhyNot::NoMptcp(_)) if args.via == bpf::Via::Bpf => {
                return run_with_hook(&args, &path, program, rest, None, Some(why.to_string()))
            }
            Err(why) if args.via == bpf::Via::Bpf => {
                return Err(failure(Kind::Unsupported, format!("cannot use the BPF hook: {why}")))
            }
            Err(why) => why_not_bpf = Some(why.to_string()),
        }
    }
    refuse_setid(&path)?;
    let lib = find_preload(args.preload.as_deref(), &Store::Run)?;

    let ld_preload = preload_value(std::env::var_os("LD_PRELOAD").as_deref(), &lib.path);
    let godebug = godebug_value(std::env::var_os("GODEBUG").as_deref());
    let mut cmd = Command::new(&path);
    cmd.arg0(program).args(rest).env("LD_PRELOAD", &ld_preload).env("GODEBUG", &godebug);
    if args.verbose {
        if let Some(id) = stderr_identity() {
            cmd.env("MPTCP_PRELOAD_VERBOSE", id);
        }
        if let Some(why) = &why_not_bpf {
            eprintln!("mptcp run: via the preload library, not the BPF hook: {why}");
        }
        for note in &lib.skipped {
            eprintln!("mptcp run: {note}");
        }
        eprintln!(
            "mptcp run: {} with LD_PRELOAD={} GODEBUG={} (preload library: {})",
            path.display(),
            ld_preload.to_string_lossy(),
            godebug.to_string_lossy(),
            lib.source
        );
    }
    if !args.report && !args.json {
        let err = cmd.exec();
        return Err(anyhow::Error::new(err).context(format!("cannot run {}", path.display())));
    }

    let mut report = ReportFile::create()?;
    cmd.env("MPTCP_PRELOAD_REPORT", &report.path);
    let mut child = cmd.spawn().with_context(|| format!("cannot run {}", path.display()))?;
    let mut marker = OsString::from("MPTCP_PRELOAD_REPORT=");
    marker.push(&report.path);
    let observer = observe::Observer::start(child.id(), Some(marker));
    forward_signals(child.id());
    let status = child.wait().context("waiting for the program")?;
    let observed = observer.finish();
    let text = report.read().unwrap_or_default();
    let mut merged = report::Report::merge(&records::Records::parse(&text), &observed);
    merged.via = report::Via::Preload;
    merged.why_not_bpf = why_not_bpf;
    print_report(&args, &merged)?;
    Ok(exit_code(status))
}

fn print_report(args: &Args, r: &report::Report) -> anyhow::Result<()> {
    if args.json {
        eprintln!("{}", serde_json::to_string(r)?);
    } else {
        eprintln!("{}", r.summary());
    }
    Ok(())
}

/// The program's status as ours (128 + N when killed by signal N).
fn exit_code(status: std::process::ExitStatus) -> ExitCode {
    match (status.code(), status.signal()) {
        (Some(code), _) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        (None, Some(sig)) => ExitCode::from(u8::try_from(128 + sig).unwrap_or(255)),
        (None, None) => ExitCode::from(1),
    }
}

/// Runs the program as a child with the hook attached (`attached`), or
/// with nothing (`None`: MPTCP unavailable, `why` says so), waits for it and
/// exits with its status. The environment is the program's own.
fn run_with_hook(
    args: &Args,
    path: &Path,
    program: &OsStr,
    rest: &[OsString],
    attached: Option<bpf::Attached>,
    why: Option<String>,
) -> anyhow::Result<ExitCode> {
    // Orphans of the tree are re-parented to us, so they stay in scope.
    if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
        eprintln!("mptcp run: warning: cannot become a child subreaper ({e}): daemons the program starts leave the hook's scope");
    }
    if args.verbose {
        match (&attached, &why) {
            (Some(a), _) => eprintln!(
                "mptcp run: {} via the kernel's BPF hook ({}, {}): TCP sockets of it and its descendants become MPTCP",
                path.display(),
                mptcp_bpf::HOOK,
                a.ids
            ),
            (None, Some(w)) => eprintln!("mptcp run: {} with nothing attached: {w}; it runs over TCP", path.display()),
            (None, None) => {}
        }
    } else if let (None, Some(w)) = (&attached, &why) {
        eprintln!("mptcp run: nothing attached: {w}; the program runs over TCP");
    }
    let mut cmd = Command::new(path);
    cmd.arg0(program).args(rest);
    let mut child = cmd.spawn().with_context(|| format!("cannot run {}", path.display()))?;
    let observer = (args.report || args.json).then(|| observe::Observer::start(child.id(), None));
    forward_signals(child.id());
    let status = child.wait().context("waiting for the program")?;
    let converted = attached.as_ref().map(|a| a.hook.converted().unwrap_or(0)).unwrap_or(0);
    if args.verbose && attached.is_some() {
        eprintln!("mptcp run: the hook converted {converted} socket(s)");
    }
    if let Some(observer) = observer {
        let observed = observer.finish();
        let mut r = report::Report::merge(&records::Records::default(), &observed);
        r.converted = converted;
        r.via = if attached.is_some() { report::Via::Bpf } else { report::Via::None };
        r.why_not_bpf = why;
        print_report(args, &r)?;
    }
    drop(attached);
    Ok(exit_code(status))
}

/// `<dev>:<ino>` of this process's stderr, for `MPTCP_PRELOAD_VERBOSE`: the
/// library logs only to that file. `None` when stderr is closed.
fn stderr_identity() -> Option<String> {
    let stderr = std::io::stderr();
    let dup = stderr.as_fd().try_clone_to_owned().ok()?;
    let md = fs::File::from(dup).metadata().ok()?;
    Some(format!("{}:{}", md.dev(), md.ino()))
}

/// `LD_PRELOAD` for the program: the existing value with `lib` appended
/// (unless already listed).
pub fn preload_value(existing: Option<&OsStr>, lib: &Path) -> OsString {
    let lib = lib.as_os_str().as_bytes();
    let old = existing.map(OsStr::as_bytes).unwrap_or_default();
    let listed = old.split(|b| *b == b':' || b.is_ascii_whitespace()).any(|e| e == lib);
    let trimmed = old.trim_ascii();
    let mut v = Vec::with_capacity(trimmed.len() + lib.len() + 1);
    if listed {
        v.extend_from_slice(old);
    } else {
        v.extend_from_slice(trimmed);
        if !v.is_empty() {
            v.push(b':');
        }
        v.extend_from_slice(lib);
    }
    OsString::from_vec(v)
}

/// `GODEBUG` for the program: the existing settings with `multipathtcp=1`
/// (replacing any other `multipathtcp` value).
pub fn godebug_value(existing: Option<&OsStr>) -> OsString {
    let old = existing.map(OsStr::as_bytes).unwrap_or_default();
    let mut v: Vec<u8> = Vec::with_capacity(old.len() + 16);
    for item in old.split(|b| *b == b',') {
        let item = item.trim_ascii();
        if item.is_empty() || item.starts_with(b"multipathtcp=") {
            continue;
        }
        v.extend_from_slice(item);
        v.push(b',');
    }
    v.extend_from_slice(b"multipathtcp=1");
    OsString::from_vec(v)
}

/// Resolves `program` the way `execvp` would (a name with a `/` is a path,
/// otherwise the first executable file in `$PATH`).
fn resolve_program(program: &OsStr) -> anyhow::Result<PathBuf> {
    if program.is_empty() {
        return Err(usage("PROGRAM is empty"));
    }
    let p = Path::new(program);
    if program.as_bytes().contains(&b'/') {
        if !p.exists() {
            return Err(usage(format!("{}: no such file", p.display())));
        }
        return Ok(p.to_path_buf());
    }
    let search = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    for dir in std::env::split_paths(&search) {
        let dir = if dir.as_os_str().is_empty() { PathBuf::from(".") } else { dir };
        let candidate = dir.join(p);
        if let Ok(md) = fs::metadata(&candidate) {
            if md.is_file() && md.permissions().mode() & 0o111 != 0 {
                return Ok(candidate);
            }
        }
    }
    Err(usage(format!("{}: command not found in PATH", p.display())))
}

/// Refuses setuid/setgid programs: the dynamic loader ignores `LD_PRELOAD`
/// for them, so they would silently run without MPTCP.
fn refuse_setid(path: &Path) -> anyhow::Result<()> {
    let mode = fs::metadata(path).with_context(|| format!("cannot inspect {}", path.display()))?.permissions().mode();
    let what = match (mode & 0o4000 != 0, mode & 0o2000 != 0) {
        (true, true) => "setuid and setgid",
        (true, false) => "setuid",
        (false, true) => "setgid",
        (false, false) => return Ok(()),
    };
    Err(usage(format!(
        "refusing to run {}: it is {what}, and the dynamic loader ignores LD_PRELOAD for such programs, \
         so it would run without MPTCP",
        path.display()
    )))
}

/// The file the preload library appends its records to, in the private
/// directory of `mptcp run` (`preload::private_dir`: nobody else can
/// create, replace or remove anything there, so the path the library opens
/// stays this file even after the run, for processes it left behind);
/// read through the descriptor it was created with; removed on drop.
struct ReportFile {
    dir: trust::TrustedDir,
    name: String,
    file: fs::File,
    path: PathBuf,
}

impl ReportFile {
    fn create() -> anyhow::Result<ReportFile> {
        let (dir, _) = preload::private_dir()?;
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let name = format!("report-{}-{nanos}", std::process::id());
        let path = dir.path.join(&name);
        let flags = OFlag::O_RDWR | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = openat(dir.fd.as_fd(), name.as_str(), flags, Mode::from_bits_truncate(0o600))
            .with_context(|| format!("cannot create the report file {}", path.display()))?;
        Ok(ReportFile { dir, name, file: fs::File::from(fd), path })
    }

    /// The records written so far.
    fn read(&mut self) -> std::io::Result<String> {
        self.file.seek(SeekFrom::Start(0))?;
        let mut s = String::new();
        self.file.read_to_string(&mut s)?;
        Ok(s)
    }
}

impl Drop for ReportFile {
    fn drop(&mut self) {
        let _ = unlinkat(self.dir.fd.as_fd(), self.name.as_str(), UnlinkatFlags::NoRemoveDir);
    }
}

/// While waiting for the child: SIGINT/SIGQUIT from the terminal already
/// reach it (same process group), so ignore them here; forward SIGTERM and
/// SIGHUP sent to us alone. Set after spawning, so the child keeps its own
/// dispositions.
fn forward_signals(child: u32) {
    // The program runs already: without forwarding it still runs and is
    // waited for, so say so rather than stop here.
    if let Err(e) = crate::sys::forward_signals_to(i32::try_from(child).unwrap_or(0)) {
        eprintln!("mptcp run: warning: SIGTERM and SIGHUP will not reach the program: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ld_preload_is_appended_once() {
        let lib = Path::new("/opt/lib/libmptcp_preload.so");
        assert_eq!(preload_value(None, lib), "/opt/lib/libmptcp_preload.so");
        assert_eq!(preload_value(Some(OsStr::new("  ")), lib), "/opt/lib/libmptcp_preload.so");
        assert_eq!(preload_value(Some(OsStr::new("/x/a.so")), lib), "/x/a.so:/opt/lib/libmptcp_preload.so");
        assert_eq!(preload_value(Some(OsStr::new("a.so b.so")), lib), "a.so b.so:/opt/lib/libmptcp_preload.so");
        let already = "/opt/lib/libmptcp_preload.so /x/a.so";
        assert_eq!(preload_value(Some(OsStr::new(already)), lib), already);
    }

    #[test]
    fn godebug_keeps_other_settings() {
        assert_eq!(godebug_value(None), "multipathtcp=1");
        assert_eq!(godebug_value(Some(OsStr::new(""))), "multipathtcp=1");
        assert_eq!(godebug_value(Some(OsStr::new("http2client=0"))), "http2client=0,multipathtcp=1");
        assert_eq!(godebug_value(Some(OsStr::new("multipathtcp=0,gctrace=1,"))), "gctrace=1,multipathtcp=1");
    }

    #[test]
    fn setid_programs_are_refused() {
        let dir = std::env::temp_dir().join(format!("mptcp-run-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let f = dir.join("prog");
        fs::write(&f, "#!/bin/sh\n").unwrap();
        fs::set_permissions(&f, fs::Permissions::from_mode(0o755)).unwrap();
        assert!(refuse_setid(&f).is_ok());
        fs::set_permissions(&f, fs::Permissions::from_mode(0o4755)).unwrap();
        assert!(refuse_setid(&f).unwrap_err().to_string().contains("setuid"));
        fs::set_permissions(&f, fs::Permissions::from_mode(0o2755)).unwrap();
        assert!(refuse_setid(&f).unwrap_err().to_string().contains("setgid"));
        fs::remove_dir_all(&dir).unwrap();
    }
}
