//! `mptcp systemd ... --via bpf`: the kernel's `update_socket_protocol`
//! hook for a service, scoped to its cgroup v2 (`mptcp_bpf::Scope::Cgroup`:
//! every process of the service, however it was started or linked) and
//! pinned in the BPF file system, `/sys/fs/bpf/mptcp/UNIT/` (`link`, the
//! maps `cgroups`, `cgroup_id`, `converted`).
//!
//! systemd removes a service's cgroup when it stops and makes a new one at
//! the next start; a reboot empties the BPF file system. So the drop-in runs
//! `mptcp systemd refresh UNIT` before each start (`ExecStartPre=-+`: with
//! full privileges, and a failure does not stop the service), which points
//! the pinned hook at the new cgroup, or attaches it again. The refresh
//! runs inside the new cgroup: that is how it finds it.
//!
//! Nothing is attached where MPTCP is unavailable (a converted `socket()`
//! would fail there): `enable` refuses, and `refresh` removes a hook it
//! finds, saying why. `net.mptcp.enabled` is per network namespace and read
//! in the one `mptcp` runs in; a service that sets `NetworkNamespacePath=`
//! to a namespace where MPTCP is disabled would get failing sockets: the
//! limit is documented in the README.
//!
//! Hidden options for images and tests: `--cgroup-root DIR` (the cgroup v2
//! mount, default /sys/fs/cgroup; the unit's cgroup is then
//! `DIR/system.slice/UNIT`) and `--bpffs DIR` (default /sys/fs/bpf, mounted
//! when it is not a BPF file system yet).

use std::fs;
use std::io::Write;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use mptcp_bpf::{Hook, Kernel, Pinned, Scope};

use crate::cmd::run::bpf::explain;
use crate::errors::{failure, Kind};

/// The default cgroup v2 mount.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";
/// The default BPF file system.
const BPFFS: &str = "/sys/fs/bpf";
/// Name of the pinned programs (15 bytes at most).
pub const PROGRAM_NAME: &str = "mptcp_svc";

/// Where the hook and the unit's cgroup are (hidden options).
#[derive(Debug, clap::Args)]
pub struct Places {
    /// The cgroup v2 hierarchy (for tests: a private cgroup2 mount).
    #[arg(long, value_name = "DIR", default_value = CGROUP_ROOT, hide = true)]
    pub cgroup_root: PathBuf,
    /// The BPF file system the hooks are pinned in.
    #[arg(long, value_name = "DIR", default_value = BPFFS, hide = true)]
    pub bpffs: PathBuf,
}

/// Arguments of `mptcp systemd refresh`.
#[derive(Debug, clap::Args)]
pub struct RefreshArgs {
    /// The unit, e.g. `nginx` or `nginx.service`.
    unit: String,
    #[command(flatten)]
    places: Places,
}

/// Arguments of `mptcp systemd status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// One JSON object per hook, in an array.
    #[arg(short = 'j', long)]
    json: bool,
    #[command(flatten)]
    places: Places,
}

/// `BPFFS/mptcp/UNIT`, each `.` of UNIT written `%`: the BPF file system
/// refuses names with dots (EPERM), and `%` is not allowed in unit names.
pub fn pin_dir(bpffs: &Path, unit: &str) -> PathBuf {
    bpffs.join("mptcp").join(unit.replace('.', "%"))
}

/// The unit a pin directory's name stands for ([`pin_dir`] backwards).
fn unit_of_pin(name: &str) -> String {
    name.replace('%', ".")
}

/// The unit's cgroup directory: this process's own cgroup when it is the
/// unit's (the drop-in's `ExecStartPre=` runs in it), else what systemd
/// says (`systemctl show -p ControlGroup`, with the default cgroup root),
/// else `system.slice/UNIT`.
fn unit_cgroup(places: &Places, unit: &str) -> PathBuf {
    if let Some(own) = own_cgroup() {
        if own.rsplit('/').next() == Some(unit) {
            return places.cgroup_root.join(own.trim_start_matches('/'));
        }
    }
    if places.cgroup_root == Path::new(CGROUP_ROOT) {
        let shown = std::process::Command::new("systemctl")
            .args(["show", "-p", "ControlGroup", "--value", unit])
            .stderr(std::process::Stdio::null())
            .output();
        if let Ok(o) = shown {
            let cg = String::from_utf8_lossy(&o.stdout).trim().to_string();
            if o.status.success() && cg.starts_with('/') {
                return places.cgroup_root.join(cg.trim_start_matches('/'));
            }
        }
    }
    places.cgroup_root.join("system.slice").join(unit)
}

/// This process's cgroup v2 path (`0::/...` in /proc/self/cgroup).
fn own_cgroup() -> Option<String> {
    let text = fs::read_to_string("/proc/self/cgroup").ok()?;
    text.lines().find_map(|l| l.strip_prefix("0::")).map(str::to_string)
}

/// What must hold before anything is written or attached.
fn preflight(places: &Places) -> anyhow::Result<Kernel> {
    match mptcp_bpf::is_cgroup2(&places.cgroup_root) {
        Ok(true) => {}
        Ok(false) => {
            return Err(failure(
                Kind::Unsupported,
                format!(
                    "{} is not a cgroup v2 hierarchy (this host has cgroup v1 only?): --via bpf scopes the hook to \
                     the service's cgroup v2; use --via preload",
                    places.cgroup_root.display()
                ),
            ))
        }
        Err(e) => {
            return Err(failure(Kind::Unsupported, format!("cannot inspect {}: {e}", places.cgroup_root.display())))
        }
    }
    let support = mptcp::host_support();
    if !support.is_available() {
        return Err(failure(
            Kind::Unsupported,
            format!(
                "MPTCP is not available here ({}): the hook would make the service's sockets fail, so nothing is \
                 attached",
                support.availability
            ),
        ));
    }
    Kernel::probe().map_err(|e| failure(Kind::Unsupported, format!("cannot use the BPF hook: {e}")))
}

/// Points the pinned hook at the unit's cgroup, or attaches and pins one.
/// Returns what was done, for people.
fn attach_or_point(unit: &str, kernel: &Kernel, places: &Places) -> anyhow::Result<String> {
    let cgroup = unit_cgroup(places, unit);
    if !cgroup.is_dir() {
        return Ok(format!(
            "{unit} is not running ({} does not exist): the hook is attached when it starts",
            cgroup.display()
        ));
    }
    let dir = fs::File::open(&cgroup).with_context(|| format!("cannot open {}", cgroup.display()))?;
    mptcp_bpf::ensure_bpffs(&places.bpffs)
        .with_context(|| format!("cannot mount a BPF file system on {}", places.bpffs.display()))?;
    let parent = places.bpffs.join("mptcp");
    fs::create_dir_all(&parent).with_context(|| format!("cannot create {}", parent.display()))?;
    let pins = pin_dir(&places.bpffs, unit);
    if pins.exists() {
        let pinned = Pinned::open(&pins)?;
        pinned.set_cgroup(dir.as_fd())?;
        return Ok(format!("the hook pinned in {} now converts {}", pins.display(), cgroup.display()));
    }
    let hook = Hook::attach(kernel, Scope::Cgroup(dir.as_fd()), PROGRAM_NAME)
        .map_err(|e| failure(Kind::Unsupported, format!("cannot attach the BPF hook: {}", explain(&e))))?;
    hook.pin(&pins)?;
    Ok(format!(
        "attached the BPF hook (program id {}) to {}, pinned in {}",
        hook.prog_id().map(|i| i.to_string()).unwrap_or_else(|_| "?".into()),
        cgroup.display(),
        pins.display()
    ))
}

/// Loads and attaches the program once, scoped to the descendants of this
/// process (it has none: nothing is converted), and detaches it: whether
/// the kernel accepts the hook at all, before a drop-in names it.
fn trial_load(kernel: &Kernel) -> anyhow::Result<()> {
    match Hook::attach(kernel, Scope::Descendants { tgid: std::process::id() }, PROGRAM_NAME) {
        Ok(hook) => {
            drop(hook);
            Ok(())
        }
        // Process ids of a container: the cgroup program may still load.
        Err(mptcp_bpf::Error::PidNamespace) => Ok(()),
        Err(e) => Err(failure(Kind::Unsupported, format!("cannot attach the BPF hook: {}", explain(&e)))),
    }
}

/// The path of this `mptcp` binary, as a word of an `ExecStartPre=` line.
fn self_word() -> anyhow::Result<String> {
    let exe = std::env::current_exe().context("cannot find the mptcp binary's path")?;
    let s = super::specifier_literal(&exe.to_string_lossy());
    if s.chars().any(|c| c.is_whitespace() || c == '"' || c == '\\') {
        return Err(failure(
            Kind::Unsupported,
            format!("the mptcp binary's path {s:?} has blanks, quotes or backslashes: install it elsewhere"),
        ));
    }
    Ok(s)
}

/// The `--via bpf` drop-in.
fn dropin_text(unit: &str, mptcp: &str, places: &Places) -> String {
    let mut extra = String::new();
    if places.cgroup_root != Path::new(CGROUP_ROOT) {
        extra.push_str(&format!(" --cgroup-root {}", super::specifier_literal(&places.cgroup_root.to_string_lossy())));
    }
    if places.bpffs != Path::new(BPFFS) {
        extra.push_str(&format!(" --bpffs {}", super::specifier_literal(&places.bpffs.to_string_lossy())));
    }
    format!(
        "# Written by `mptcp systemd enable {unit} --via bpf`; remove with `mptcp systemd disable {unit}`.\n\
         # Before each start, points the kernel's BPF hook (pinned in {}) at the service's new\n\
         # cgroup, or attaches it again (after a reboot). \"+\": with full privileges; \"-\": the\n\
         # service starts (without MPTCP) when this fails.\n\
         [Service]\nExecStartPre=-+{mptcp} systemd refresh {unit}{extra}\n",
        pin_dir(&places.bpffs, unit).display()
    )
}

/// `mptcp systemd enable UNIT --via bpf`.
pub fn enable(unit: &str, dropin: &Path, dry_run: bool, places: &Places) -> anyhow::Result<ExitCode> {
    let kernel = preflight(places)?;
    let text = dropin_text(unit, &self_word()?, places);
    let mut out = crate::util::stdout();
    if dry_run {
        writeln!(out, "# {}", dropin.display())?;
        write!(out, "{text}")?;
        writeln!(out, "# would attach the hook to {}", unit_cgroup(places, unit).display())?;
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    // Attach first: a kernel that refuses the program gets no drop-in.
    if !unit_cgroup(places, unit).is_dir() {
        trial_load(&kernel)?;
    }
    let done = attach_or_point(unit, &kernel, places)?;
    if let Err(e) = super::write_dropin(dropin, &text) {
        let _ = Pinned::remove(&pin_dir(&places.bpffs, unit));
        return Err(e);
    }
    writeln!(out, "wrote {}", dropin.display())?;
    writeln!(out, "{done}")?;
    writeln!(out, "apply with: systemctl daemon-reload (the hook follows the unit's restarts)")?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// `mptcp systemd refresh UNIT`.
pub fn refresh(a: RefreshArgs) -> anyhow::Result<ExitCode> {
    let unit = super::unit_name(&a.unit)?;
    let mut out = crate::util::stdout();
    let support = mptcp::host_support();
    if !support.is_available() {
        // A hook left from before would make the service's sockets fail.
        let pins = pin_dir(&a.places.bpffs, &unit);
        if pins.exists() {
            Pinned::remove(&pins)?;
            writeln!(out, "MPTCP is not available here ({}): detached the hook of {unit}", support.availability)?;
        } else {
            writeln!(out, "MPTCP is not available here ({}): nothing attached for {unit}", support.availability)?;
        }
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    let kernel = preflight(&a.places)?;
    let done = attach_or_point(&unit, &kernel, &a.places)?;
    writeln!(out, "{done}")?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// One line of `mptcp systemd status`.
#[derive(Debug, serde::Serialize)]
struct Attached {
    unit: String,
    pinned: PathBuf,
    link_id: u32,
    prog_id: u32,
    cgroup_id: u64,
    /// The unit's cgroup, when the hook points at it.
    cgroup: Option<PathBuf>,
    converted: u64,
}

/// `mptcp systemd status`.
pub fn status(a: StatusArgs) -> anyhow::Result<ExitCode> {
    let root = a.places.bpffs.join("mptcp");
    let mut rows = Vec::new();
    for (name, path) in mptcp_bpf::pinned_under(&root).with_context(|| format!("cannot read {}", root.display()))? {
        let unit = unit_of_pin(&name);
        let pinned = Pinned::open(&path)?;
        let link = pinned.link()?;
        let cgroup_id = pinned.cgroup_id()?;
        let cg = unit_cgroup(&a.places, &unit);
        let cgroup = fs::metadata(&cg).ok().filter(|m| std::os::unix::fs::MetadataExt::ino(m) == cgroup_id).map(|_| cg);
        rows.push(Attached {
            unit,
            pinned: path,
            link_id: link.id,
            prog_id: link.prog_id,
            cgroup_id,
            cgroup,
            converted: pinned.converted()?,
        });
    }
    let mut out = crate::util::stdout();
    if a.json {
        writeln!(out, "{}", serde_json::to_string(&rows)?)?;
    } else if rows.is_empty() {
        writeln!(out, "no BPF hook attached for a service (nothing pinned in {})", root.display())?;
    } else {
        for r in &rows {
            let wher = match &r.cgroup {
                Some(p) => p.display().to_string(),
                None => format!(
                    "cgroup id {} (not the unit's cgroup now: stopped, or restarted without refresh)",
                    r.cgroup_id
                ),
            };
            writeln!(
                out,
                "{}: {} -> {} (link {}, program {}), {} socket(s) converted",
                r.unit,
                r.pinned.display(),
                wher,
                r.link_id,
                r.prog_id,
                r.converted
            )?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropin_runs_refresh_with_the_places_given() {
        let default = Places { cgroup_root: CGROUP_ROOT.into(), bpffs: BPFFS.into() };
        let t = dropin_text("web.service", "/usr/bin/mptcp", &default);
        assert!(t.contains("\n[Service]\nExecStartPre=-+/usr/bin/mptcp systemd refresh web.service\n"), "{t}");
        assert!(t.contains("/sys/fs/bpf/mptcp/web%service"), "{t}");
        assert_eq!(unit_of_pin("a%b@c%service"), "a.b@c.service");
        assert_eq!(pin_dir(Path::new("/b"), "a.b@c.service"), Path::new("/b/mptcp/a%b@c%service"));
        let test = Places { cgroup_root: "/tmp/cg".into(), bpffs: "/tmp/b%f".into() };
        let t = dropin_text("web.service", "/x/mptcp", &test);
        assert!(
            t.contains("ExecStartPre=-+/x/mptcp systemd refresh web.service --cgroup-root /tmp/cg --bpffs /tmp/b%%f\n"),
            "{t}"
        );
    }
}
