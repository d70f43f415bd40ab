//! `mptcp systemd enable|disable UNIT`: runs a systemd service with MPTCP
//! through a drop-in, `/etc/systemd/system/UNIT.d/mptcp.conf`.
//!
//! The drop-in sets `LD_PRELOAD` (the preload library appended) and
//! `GODEBUG` (`multipathtcp=1` added), merged with the values the unit and
//! its other drop-ins already give these variables, because a later
//! `Environment=` assignment replaces an earlier one. The unit file itself is
//! never edited; `disable` removes the drop-in and nothing else.
//!
//! The library is found as for `mptcp run`, but a service loads it at every
//! start, for good: the file and every directory above it must be owned by
//! root and writable by nobody else (checked by descriptor, see
//! `run::trust`); an installed library that is not is skipped with a
//! warning, one given with `--preload` is refused. The copy built into
//! `mptcp` is written to `/var/lib/mptcp/` (not `/run`, which is emptied at
//! boot), root-owned and readable by the service's user. `disable` leaves it
//! there: other drop-ins may name it.
//!
//! Values are written the way systemd reads them back: each
//! `Environment=` word is unquoted and C-unescaped, then its `%` specifiers
//! are expanded. The unit's own values are kept as words (their specifiers
//! still mean what they meant in the unit, a `%%` stays `%%`); only what
//! `mptcp` adds (the library's path) is escaped (`%` as `%%`), and each word
//! is quoted with `\` and `"` escaped.
//!
//! With `--root DIR` (images, tests) everything is read inside `DIR`: the
//! unit, its drop-ins, the `EnvironmentFile=` files it names and the
//! libraries named with `--preload`, which are paths as that system sees
//! them.
//!
//! `enable UNIT --via bpf` (cgroup v2 hosts) uses the kernel's
//! `update_socket_protocol` hook instead (see `bpf`): a BPF program scoped
//! to the service's cgroup, pinned in `/sys/fs/bpf/mptcp/UNIT` (dots as `%`) so that it
//! outlives the command, and a drop-in whose `ExecStartPre=-+mptcp systemd
//! refresh UNIT` points it at the cgroup systemd makes anew at each start
//! (and attaches it again after a reboot, which empties the BPF file
//! system). `disable` removes both; `status` lists what is attached where.

use std::ffi::OsStr;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

use super::run::{find_preload, Store};
use crate::util::usage;

mod bpf;

/// Name of the drop-in file.
const DROPIN: &str = "mptcp.conf";

/// Directories systemd loads system units from, highest priority first.
const UNIT_DIRS: &[&str] = &[
    "etc/systemd/system",
    "run/systemd/system",
    "usr/local/lib/systemd/system",
    "usr/lib/systemd/system",
    "lib/systemd/system",
];

/// Arguments of `mptcp systemd`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  mptcp systemd enable nginx                  # LD_PRELOAD and GODEBUG drop-in\n  \
mptcp systemd enable caddy --via bpf        # the kernel's hook on the unit's cgroup v2 (Linux >= 6.6)\n  \
mptcp systemd status --json                 # hooks attached, and where\n  \
mptcp systemd disable caddy")]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Write the drop-in that runs UNIT with MPTCP (then restart the unit).
    Enable(EnableArgs),
    /// Remove the drop-in written by `enable` and the BPF hook pinned for
    /// UNIT, if any (then restart the unit).
    Disable(DisableArgs),
    /// Point UNIT's BPF hook at the unit's current cgroup, attaching it if
    /// it is not (the `--via bpf` drop-in runs this before each start).
    Refresh(bpf::RefreshArgs),
    /// List the BPF hooks attached for services, and where.
    Status(bpf::StatusArgs),
}

/// How `enable` converts the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Via {
    /// LD_PRELOAD and GODEBUG in the service's environment.
    Preload,
    /// The kernel's BPF hook, scoped to the service's cgroup (cgroup v2,
    /// Linux >= 6.6): reaches static and Go programs.
    Bpf,
}

#[derive(Debug, clap::Args)]
struct EnableArgs {
    /// The unit, e.g. `nginx` or `nginx.service`.
    unit: String,
    /// Print the drop-in instead of writing it (and write no library).
    #[arg(long)]
    dry_run: bool,
    /// Path of libmptcp_preload.so (default: as for `mptcp run`, with the
    /// built-in copy written to /var/lib/mptcp). The service loads it at
    /// every start: it and every directory above it must be owned by root
    /// and writable by nobody else.
    #[arg(long, value_name = "PATH")]
    preload: Option<PathBuf>,
    /// Write the drop-in even when the unit file cannot be found.
    #[arg(long)]
    force: bool,
    /// `preload` (LD_PRELOAD and GODEBUG) or `bpf` (the kernel's hook on the
    /// service's cgroup; cgroup v2, Linux >= 6.6).
    #[arg(long, value_enum, value_name = "HOW", default_value = "preload")]
    via: Via,
    /// Root directory of the system to change (for images and tests).
    #[arg(long, value_name = "DIR", default_value = "/", hide = true)]
    root: PathBuf,
    #[command(flatten)]
    places: bpf::Places,
}

#[derive(Debug, clap::Args)]
struct DisableArgs {
    /// The unit, e.g. `nginx` or `nginx.service`.
    unit: String,
    /// Print what would be removed instead of removing it.
    #[arg(long)]
    dry_run: bool,
    /// Root directory of the system to change (for images and tests).
    #[arg(long, value_name = "DIR", default_value = "/", hide = true)]
    root: PathBuf,
    #[command(flatten)]
    places: bpf::Places,
}

/// Runs `mptcp systemd`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.action {
        Action::Enable(a) => enable(a),
        Action::Disable(a) => disable(a),
        Action::Refresh(a) => bpf::refresh(a),
        Action::Status(a) => bpf::status(a),
    }
}

fn enable(a: EnableArgs) -> anyhow::Result<ExitCode> {
    let unit = unit_name(&a.unit)?;
    if a.via == Via::Bpf {
        if a.preload.is_some() {
            return Err(usage("--preload has no use with --via bpf"));
        }
        let files = unit_files(&a.root, &unit);
        if files.first().map(|(_, main)| !main).unwrap_or(true) && !a.force {
            return Err(usage(format!(
                "unit {unit} not found under {} (in {}); check the name, or use --force",
                a.root.display(),
                UNIT_DIRS.join(", ")
            )));
        }
        return bpf::enable(&unit, &dropin_path(&a.root, &unit), a.dry_run, &a.places);
    }
    let store = Store::Persistent { root: a.root.clone(), write: !a.dry_run };
    let found = find_preload(a.preload.as_deref(), &store)?;
    for note in &found.skipped {
        eprintln!("mptcp: warning: {note}");
    }
    // What mptcp adds is a literal: its `%` must not read as a specifier.
    let lib = PathBuf::from(specifier_literal(&found.path.to_string_lossy()));
    let files = unit_files(&a.root, &unit);
    if files.first().map(|(_, main)| !main).unwrap_or(true) && !a.force {
        return Err(usage(format!(
            "unit {unit} not found under {} (in {}); check the name, or use --force",
            a.root.display(),
            UNIT_DIRS.join(", ")
        )));
    }
    let env = unit_environment(&files);
    let ld_preload = super::run::preload_value(env.get("LD_PRELOAD").map(OsStr::new), &lib);
    let godebug = super::run::godebug_value(env.get("GODEBUG").map(OsStr::new));
    let text = dropin_text(&unit, &ld_preload.to_string_lossy(), &godebug.to_string_lossy());
    let path = dropin_path(&a.root, &unit);
    for w in warnings(&a.root, &files) {
        eprintln!("mptcp: warning: {w}");
    }
    let mut out = crate::util::stdout();
    if a.dry_run {
        writeln!(out, "# {}", path.display())?;
        write!(out, "{text}")?;
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    write_dropin(&path, &text)?;
    writeln!(out, "wrote {}", path.display())?;
    writeln!(out, "apply with: systemctl daemon-reload && systemctl restart {unit}")?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Writes `text` to the drop-in `path` (a temporary file renamed over it).
pub(crate) fn write_dropin(path: &Path, text: &str) -> anyhow::Result<()> {
    let dir = path.parent().context("drop-in path has no directory")?;
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let tmp = dir.join(format!(".{DROPIN}.tmp{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    };
    if let Err(e) = write() {
        let _ = fs::remove_file(&tmp);
        return Err(anyhow::Error::new(e).context(format!("cannot write {}", path.display())));
    }
    Ok(())
}

fn disable(a: DisableArgs) -> anyhow::Result<ExitCode> {
    let unit = unit_name(&a.unit)?;
    let path = dropin_path(&a.root, &unit);
    let mut out = crate::util::stdout();
    let pinned = bpf::pin_dir(&a.places.bpffs, &unit);
    if pinned.exists() {
        if a.dry_run {
            writeln!(out, "would detach the BPF hook pinned in {}", pinned.display())?;
        } else {
            mptcp_bpf::Pinned::remove(&pinned)
                .with_context(|| format!("cannot remove the BPF hook pinned in {}", pinned.display()))?;
            writeln!(out, "detached the BPF hook pinned in {}", pinned.display())?;
        }
    }
    if !path.exists() {
        writeln!(out, "{unit}: MPTCP is not enabled ({} does not exist)", path.display())?;
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    if a.dry_run {
        writeln!(out, "would remove {}", path.display())?;
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
    if let Some(dir) = path.parent() {
        // Only succeeds when the directory is now empty.
        let _ = fs::remove_dir(dir);
    }
    writeln!(out, "removed {}", path.display())?;
    writeln!(out, "apply with: systemctl daemon-reload && systemctl restart {unit}")?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Validates a unit name; `foo` means `foo.service`. Only services.
pub(crate) fn unit_name(raw: &str) -> anyhow::Result<String> {
    let name = if raw.contains('.') { raw.to_string() } else { format!("{raw}.service") };
    let valid_chars = name.chars().all(|c| c.is_ascii_alphanumeric() || ":-_.\\@".contains(c));
    if name.len() > 255 || !valid_chars || name.starts_with('.') || name.contains("..") {
        return Err(usage(format!("invalid unit name {raw:?}")));
    }
    if !name.ends_with(".service") {
        return Err(usage(format!("{name}: only .service units run programs that LD_PRELOAD can reach")));
    }
    if name.ends_with("@.service") {
        return Err(usage(format!("{name} is a template: give an instance (name@instance.service)")));
    }
    Ok(name)
}

fn dropin_path(root: &Path, unit: &str) -> PathBuf {
    root.join("etc/systemd/system").join(format!("{unit}.d")).join(DROPIN)
}

/// `s` as a word whose specifier expansion gives `s` back (`%` -> `%%`).
pub(crate) fn specifier_literal(s: &str) -> String {
    s.replace('%', "%%")
}

/// `Environment="K=V"`, quoted so that systemd's unquoting and
/// C-unescaping give `K=V` back. `V` is in specifier syntax already (a word
/// of the unit, or [`specifier_literal`]): its `%` are left alone.
pub(crate) fn environment_line(k: &str, v: &str) -> String {
    let mut s = String::from("Environment=\"");
    for c in format!("{k}={v}").chars() {
        match c {
            '"' | '\\' => {
                s.push('\\');
                s.push(c);
            }
            c if c.is_control() => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    s.push_str(&format!("\\x{b:02x}"));
                }
            }
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

/// The drop-in's text, from the two values in specifier syntax.
fn dropin_text(unit: &str, ld_preload: &str, godebug: &str) -> String {
    format!(
        "# Written by `mptcp systemd enable {unit}`; remove with `mptcp systemd disable {unit}`.\n\
         # Runs the service with its TCP sockets turned into MPTCP sockets (LD_PRELOAD) and Go\n\
         # programs with MPTCP (GODEBUG). The unit's own values of these variables are kept.\n\
         [Service]\n{}\n{}\n",
        environment_line("LD_PRELOAD", ld_preload),
        environment_line("GODEBUG", godebug)
    )
}

/// The unit file (flag `true`) then its drop-ins in the order systemd
/// applies them (by file name; a name in a higher-priority directory hides
/// the same name below), without our own drop-in. For an instance
/// `a@b.service` the template `a@.service` and its drop-ins count too.
fn unit_files(root: &Path, unit: &str) -> Vec<(PathBuf, bool)> {
    let mut names = vec![unit.to_string()];
    if let (Some(at), Some(dot)) = (unit.find('@'), unit.rfind('.')) {
        if at < dot {
            names.push(format!("{}{}", &unit[..=at], &unit[dot..]));
        }
    }
    let mut out = Vec::new();
    // Main file: the instance's, else the template's, first directory wins.
    'main: for n in &names {
        for d in UNIT_DIRS {
            let p = root.join(d).join(n);
            if p.is_file() {
                out.push((p, true));
                break 'main;
            }
        }
    }
    let mut dropins: std::collections::BTreeMap<String, PathBuf> = std::collections::BTreeMap::new();
    for n in names.iter().rev() {
        for d in UNIT_DIRS.iter().rev() {
            let dir = root.join(d).join(format!("{n}.d"));
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            for e in entries.flatten() {
                let fname = e.file_name().to_string_lossy().to_string();
                if fname.ends_with(".conf") && !(fname == DROPIN && d.starts_with("etc/")) {
                    dropins.insert(fname, e.path());
                }
            }
        }
    }
    out.extend(dropins.into_values().map(|p| (p, false)));
    out
}

/// The environment the unit's files give through `Environment=` (last
/// assignment wins; an empty `Environment=` resets), each value unquoted
/// and unescaped but in specifier syntax (as systemd holds it before
/// expanding specifiers).
fn unit_environment(files: &[(PathBuf, bool)]) -> std::collections::BTreeMap<String, String> {
    let mut env = std::collections::BTreeMap::new();
    for (path, _) in files {
        let Ok(text) = fs::read_to_string(path) else {
            continue;
        };
        for (key, value) in service_settings(&text) {
            if key != "Environment" {
                continue;
            }
            if value.trim().is_empty() {
                env.clear();
                continue;
            }
            for word in split_words(&value) {
                if let Some((k, v)) = word.split_once('=') {
                    env.insert(k.to_string(), v.to_string());
                }
            }
        }
    }
    env
}

/// Things that would keep the drop-in from working. `EnvironmentFile=`
/// paths are read inside `root`.
fn warnings(root: &Path, files: &[(PathBuf, bool)]) -> Vec<String> {
    let mut out = Vec::new();
    for (path, _) in files {
        let Ok(text) = fs::read_to_string(path) else {
            continue;
        };
        let later = path.file_name().is_some_and(|n| n.to_string_lossy().as_ref() > DROPIN)
            && path.parent().is_some_and(|p| p.extension().is_some_and(|e| e == "d"));
        for (key, value) in service_settings(&text) {
            if key == "EnvironmentFile" {
                let file = value.trim().trim_start_matches('-');
                let in_root = root.join(file.trim_start_matches('/'));
                let sets = fs::read_to_string(in_root).map(|t| {
                    t.lines().any(|l| {
                        let l = l.trim_start().trim_start_matches("export ");
                        l.starts_with("LD_PRELOAD=") || l.starts_with("GODEBUG=")
                    })
                });
                if sets.unwrap_or(false) {
                    out.push(format!(
                        "{}: EnvironmentFile={file} sets LD_PRELOAD or GODEBUG, which overrides the drop-in",
                        path.display()
                    ));
                }
            } else if key == "Environment"
                && later
                && split_words(&value).iter().any(|w| w.starts_with("LD_PRELOAD=") || w.starts_with("GODEBUG="))
            {
                out.push(format!(
                    "{} is applied after {DROPIN} and sets LD_PRELOAD or GODEBUG: the service may run without MPTCP",
                    path.display()
                ));
            }
        }
    }
    out
}

/// `(key, value)` pairs of the `[Service]` section, continuation lines joined.
fn service_settings(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut in_service = false;
    let mut pending = String::new();
    for raw in text.lines() {
        let line = raw.trim();
        if pending.is_empty() && (line.starts_with('#') || line.starts_with(';')) {
            continue;
        }
        if let Some(stripped) = line.strip_suffix('\\') {
            pending.push_str(stripped);
            pending.push(' ');
            continue;
        }
        pending.push_str(line);
        let full = std::mem::take(&mut pending);
        let full = full.trim();
        if full.starts_with('[') {
            in_service = full == "[Service]";
            continue;
        }
        if in_service {
            if let Some((k, v)) = full.split_once('=') {
                out.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
    }
    out
}

/// Splits an `Environment=` value into words as systemd does
/// (`extract_first_word` with `EXTRACT_UNQUOTE | EXTRACT_CUNESCAPE`): white
/// space separates, double or single quotes group (and may start anywhere
/// in a word), a backslash starts a C escape inside and outside quotes. An
/// escape systemd does not know is kept as written (systemd warns and does
/// the same). Specifiers (`%`) are left for the caller.
fn split_words(value: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut has = false;
    let mut quote: Option<char> = None;
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (_, '\\') => {
                has = true;
                match unescape_one(&mut chars) {
                    Some(u) => cur.push(u),
                    None => {
                        cur.push('\\');
                        if let Some(n) = chars.next() {
                            cur.push(n);
                        }
                    }
                }
            }
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                has = true;
            }
            (None, c) if c.is_whitespace() => {
                if has {
                    words.push(std::mem::take(&mut cur));
                    has = false;
                }
            }
            (None, c) => {
                cur.push(c);
                has = true;
            }
        }
    }
    if has {
        words.push(cur);
    }
    words
}

/// The C escape after a backslash (systemd's `cunescape_one`): `\a \b \f
/// \n \r \t \v \\ \" \' \s`, `\xNN`, `\NNN` (octal), `\uNNNN`,
/// `\UNNNNNNNN`. Consumes it and returns the character, or consumes
/// nothing and returns `None` when it is none of these.
fn unescape_one(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<char> {
    let simple = match chars.peek()? {
        'a' => Some('\x07'),
        'b' => Some('\x08'),
        'f' => Some('\x0c'),
        'n' => Some('\n'),
        'r' => Some('\r'),
        't' => Some('\t'),
        'v' => Some('\x0b'),
        '\\' => Some('\\'),
        '"' => Some('"'),
        '\'' => Some('\''),
        's' => Some(' '),
        _ => None,
    };
    if let Some(c) = simple {
        chars.next();
        return Some(c);
    }
    let (radix, len) = match chars.peek()? {
        'x' => (16, 2),
        'u' => (16, 4),
        'U' => (16, 8),
        '0'..='7' => (8, 3),
        _ => return None,
    };
    let mut probe = chars.clone();
    if radix == 16 {
        probe.next();
    }
    let digits: String = probe.by_ref().take(len).collect();
    if digits.chars().count() != len || !digits.chars().all(|d| d.is_digit(radix)) {
        return None;
    }
    let v = u32::from_str_radix(&digits, radix).ok()?;
    // systemd refuses NUL, and octal escapes above one byte.
    if v == 0 || (radix == 8 && v > 0o377) {
        return None;
    }
    let c = char::from_u32(v)?;
    *chars = probe;
    Some(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_names() {
        assert_eq!(unit_name("nginx").unwrap(), "nginx.service");
        assert_eq!(unit_name("getty@tty1.service").unwrap(), "getty@tty1.service");
        assert!(unit_name("../etc/passwd").is_err());
        assert!(unit_name("a/b").is_err());
        assert!(unit_name("x.socket").is_err());
        assert!(unit_name("getty@.service").is_err());
        assert!(unit_name("").is_err());
    }

    #[test]
    fn words_and_settings() {
        assert_eq!(
            split_words(r#"A=1 "B=two words" 'C=x"y' "D=q\"z""#),
            vec!["A=1", "B=two words", "C=x\"y", "D=q\"z"]
        );
        let text = "[Unit]\nEnvironment=NO=1\n[Service]\n# c\nEnvironment=A=1 \\\n  B=2\nExecStart=/bin/x\n";
        assert_eq!(
            service_settings(text),
            vec![("Environment".into(), "A=1  B=2".into()), ("ExecStart".into(), "/bin/x".into())]
        );
    }

    #[test]
    fn words_are_unescaped_as_systemd_does() {
        assert_eq!(
            split_words(r#"A=a\x41\102\u00e9 'B=\t\'q' C=x\ y "D=\z" E=tail\"#),
            vec!["A=aAB\u{e9}", "B=\t'q", "C=x\\ y", "D=\\z", "E=tail\\"]
        );
        assert_eq!(split_words(r#"A=\777 B=\000 C="a"b'c'"#), vec!["A=\\777", "B=\\000", "C=abc"]);
        // What the drop-in writes reads back as the same word.
        for word in ["LD_PRELOAD=/a b/\"q\"\\x.so", "GODEBUG=x=%%,y=%i", "K=tab\there\nline"] {
            let (k, v) = word.split_once('=').unwrap();
            let line = environment_line(k, v);
            let value = line.strip_prefix("Environment=").unwrap();
            assert_eq!(split_words(value), vec![word.to_string()], "{line}");
            assert!(!line.contains('\n') && !line.contains('\t'), "{line}");
        }
    }

    /// systemd's last step for an `Environment=` word, for the specifiers
    /// these tests use: `%%` and the instance name `%i` (= "inst").
    fn expand_specifiers(word: &str) -> String {
        let mut out = String::new();
        let mut chars = word.chars();
        while let Some(c) = chars.next() {
            match (c, c == '%') {
                (_, false) => out.push(c),
                (_, true) => match chars.next() {
                    Some('%') => out.push('%'),
                    Some('i') => out.push_str("inst"),
                    other => panic!("specifier {other:?} in {word}"),
                },
            }
        }
        out
    }

    #[test]
    fn percent_signs_mean_what_they_meant() {
        let root = std::env::temp_dir().join(format!("mptcp-systemd-pct-{}", std::process::id()));
        let unitdir = root.join("etc/systemd/system");
        fs::create_dir_all(&unitdir).unwrap();
        // The service sees LD_PRELOAD=/opt/100%/a.so and GODEBUG=x=5%,y=inst.
        fs::write(
            unitdir.join("app@inst.service"),
            "[Service]\nEnvironment=\"LD_PRELOAD=/opt/100%%/a.so\" GODEBUG=x=5%%,y=%i\nExecStart=/bin/true\n",
        )
        .unwrap();
        let env = unit_environment(&unit_files(&root, "app@inst.service"));
        let lib = PathBuf::from(specifier_literal("/lib/50%/libmptcp_preload.so"));
        let ld = super::super::run::preload_value(env.get("LD_PRELOAD").map(OsStr::new), &lib);
        let go = super::super::run::godebug_value(env.get("GODEBUG").map(OsStr::new));
        let text = dropin_text("app@inst.service", &ld.to_string_lossy(), &go.to_string_lossy());
        let seen: Vec<String> = service_settings(&text)
            .into_iter()
            .filter(|(k, _)| k == "Environment")
            .flat_map(|(_, v)| split_words(&v))
            .map(|w| expand_specifiers(&w))
            .collect();
        assert_eq!(
            seen,
            vec!["LD_PRELOAD=/opt/100%/a.so:/lib/50%/libmptcp_preload.so", "GODEBUG=x=5%,y=inst,multipathtcp=1"],
            "{text}"
        );
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn unit_environment_is_merged() {
        let root = std::env::temp_dir().join(format!("mptcp-systemd-test-{}", std::process::id()));
        let unitdir = root.join("usr/lib/systemd/system");
        fs::create_dir_all(unitdir.join("web.service.d")).unwrap();
        fs::write(
            unitdir.join("web.service"),
            "[Service]\nEnvironment=\"LD_PRELOAD=/x/a.so\" GODEBUG=gctrace=1\nExecStart=/bin/true\n",
        )
        .unwrap();
        fs::write(unitdir.join("web.service.d/10-x.conf"), "[Service]\nEnvironment=KEEP=1\n").unwrap();
        let files = unit_files(&root, "web.service");
        assert_eq!(files.len(), 2);
        let env = unit_environment(&files);
        assert_eq!(env.get("LD_PRELOAD").map(String::as_str), Some("/x/a.so"));
        assert_eq!(env.get("GODEBUG").map(String::as_str), Some("gctrace=1"));
        let text = dropin_text("web.service", "/x/a.so:/l/libmptcp_preload.so", "gctrace=1,multipathtcp=1");
        assert!(text.contains("[Service]\nEnvironment=\"LD_PRELOAD=/x/a.so:/l/libmptcp_preload.so\"\n"));
        assert!(text.contains("Environment=\"GODEBUG=gctrace=1,multipathtcp=1\"\n"));
        fs::remove_dir_all(&root).unwrap();
    }
}
