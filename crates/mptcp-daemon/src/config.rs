//! The daemon's configuration: defaults modelled on NetworkManager's
//! `connection.mptcp-flags`, overridden by a TOML file.
//!
//! Every error names the file, the line and the key (`daemon.toml:12: key
//! `interface.flags`: unknown flag "bakup" ...`), and is found before the
//! daemon touches anything. The commented example, [`EXAMPLE`], lists every
//! key with its default.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::path::{Path, PathBuf};

use mptcp::pm::{EndpointFlags, MAX_LIMIT};
use serde::Deserialize;
use toml::Spanned;

use crate::pattern::{Glob, Prefix};

/// The commented example configuration (every key, with its default value
/// where it has one); `mptcp daemon example-config` prints it.
pub const EXAMPLE: &str = include_str!("../daemon.example.toml");

/// Where the daemon keeps its state file and control socket by default.
pub const DEFAULT_RUNTIME_DIR: &str = "/run/mptcp-daemon";

/// Where `mptcp daemon` looks for its configuration when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/mptcp/daemon.toml";

/// Interfaces ignored unless `ignore_interfaces` says otherwise: container
/// and virtual-machine bridges and the host ends of their veth pairs, whose
/// addresses never reach another network.
pub const DEFAULT_IGNORE_INTERFACES: &[&str] =
    &["docker*", "veth*", "br-*", "virbr*", "lxcbr*", "lxdbr*", "cni*", "flannel*", "cali*", "vnet*"];

/// Which endpoints the daemon manages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Manage {
    /// Only the endpoints it created (default); others are left alone.
    Own,
    /// Every endpoint: those the policy does not want are deleted, matching
    /// ones are adopted.
    All,
}

/// What happens to the daemon's endpoints when it stops (SIGTERM).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnExit {
    /// Leave them: connections keep their subflows (default).
    Keep,
    /// Delete the endpoints the daemon owns.
    Flush,
}

/// When an address family may be used, depending on default routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DefaultRoute {
    /// A family is used only while the main table has a default route of
    /// that family (NetworkManager's rule; default).
    Family,
    /// An address is used only while a default route of its family goes out
    /// through its interface, in any table (policy-routed multi-homing).
    Interface,
    /// Default routes do not matter.
    Any,
}

/// One path-manager limit as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Limit {
    /// Raised (never lowered) to cover the endpoints (`subflows` only).
    Auto,
    /// Left as it is.
    Keep,
    /// Set to this value at start-up and on reload.
    #[serde(untagged)]
    Set(u32),
}

/// A per-interface rule (`[[interface]]`): the first rule whose pattern
/// matches an interface's name applies to it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rule {
    /// Name patterns (`*` and `?` wildcards).
    pub names: Vec<Glob>,
    /// Endpoint flags (the global `flags` when `None`).
    pub flags: Option<EndpointFlags>,
    /// Port of `signal` endpoints.
    pub port: Option<u16>,
    /// Ignore the interface entirely.
    pub ignore: bool,
    /// Use its IPv4 addresses (the global `ipv4` when `None`).
    pub ipv4: Option<bool>,
    /// Use its IPv6 addresses (the global `ipv6` when `None`).
    pub ipv6: Option<bool>,
    /// Line of the rule in the file (0 when built in code).
    pub line: usize,
}

impl Rule {
    /// A rule for the interfaces matching `pattern`, with no overrides.
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp::pm::EndpointFlags;
    /// use mptcp_daemon::Rule;
    ///
    /// let mut r = Rule::new("wlan*");
    /// r.flags = Some(EndpointFlags::SUBFLOW | EndpointFlags::BACKUP);
    /// assert!(r.matches("wlan0") && !r.matches("eth0"));
    /// ```
    pub fn new(pattern: &str) -> Rule {
        Rule {
            names: vec![Glob::new(pattern)],
            flags: None,
            port: None,
            ignore: false,
            ipv4: None,
            ipv6: None,
            line: 0,
        }
    }

    /// Whether one of the rule's patterns matches `ifname`.
    pub fn matches(&self, ifname: &str) -> bool {
        self.names.iter().any(|g| g.matches(ifname))
    }
}

/// The daemon's configuration.
///
/// # Examples
///
/// ```
/// use mptcp_daemon::{Config, Manage};
///
/// let cfg = Config::from_toml("manage = \"all\"\n[limits]\nsubflows = 4\n", "inline.toml")?;
/// assert_eq!(cfg.manage, Manage::All);
/// let err = Config::from_toml("[limits]\nsubflows = 9\n", "inline.toml").unwrap_err();
/// assert_eq!(err.to_string(), "inline.toml:2: key `limits.subflows`: 9 is above the kernel's maximum of 8");
/// # Ok::<(), mptcp_daemon::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// The file it was read from, if any.
    pub source: Option<PathBuf>,
    /// Which endpoints to manage.
    pub manage: Manage,
    /// What to do with them on SIGTERM.
    pub on_exit: OnExit,
    /// Default-route requirement.
    pub default_route: DefaultRoute,
    /// Without MPTCP: wait for it (`true`) or exit 1.
    pub wait_for_mptcp: bool,
    /// Directory of the state file and the control socket; `None`: neither
    /// (the daemon then forgets its endpoints when it stops).
    pub runtime_dir: Option<PathBuf>,
    /// Address of the Prometheus metrics listener.
    pub metrics: Option<SocketAddr>,
    /// `subflows` limit.
    pub subflows: Limit,
    /// `add_addr_accepted` limit.
    pub add_addr_accepted: Limit,
    /// Flags of interfaces no rule matches.
    pub flags: EndpointFlags,
    /// Use IPv4 addresses.
    pub ipv4: bool,
    /// Use IPv6 addresses.
    pub ipv6: bool,
    /// Use IPv6 temporary (privacy) addresses.
    pub ipv6_temporary: bool,
    /// Use IPv6 unique local addresses (`fc00::/7`).
    pub ipv6_unique_local: bool,
    /// Interfaces never used.
    pub ignore_interfaces: Vec<Glob>,
    /// Addresses never used.
    pub ignore_addresses: Vec<Prefix>,
    /// Per-interface rules, first match wins.
    pub rules: Vec<Rule>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            source: None,
            manage: Manage::Own,
            on_exit: OnExit::Keep,
            default_route: DefaultRoute::Family,
            wait_for_mptcp: false,
            runtime_dir: Some(PathBuf::from(DEFAULT_RUNTIME_DIR)),
            metrics: None,
            subflows: Limit::Auto,
            add_addr_accepted: Limit::Keep,
            flags: EndpointFlags::SUBFLOW,
            ipv4: true,
            ipv6: true,
            ipv6_temporary: false,
            ipv6_unique_local: false,
            ignore_interfaces: DEFAULT_IGNORE_INTERFACES.iter().map(|p| Glob::new(p)).collect(),
            ignore_addresses: Vec::new(),
            rules: Vec::new(),
        }
    }
}

/// A configuration error: file, line, key and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// The file (or the name given to [`Config::from_toml`]).
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// Dotted key (`limits.subflows`, `interface.flags`), when known.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
        }
        if let Some(k) = &self.key {
            write!(f, ": key `{k}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    manage: Option<Spanned<String>>,
    on_exit: Option<Spanned<String>>,
    default_route: Option<Spanned<String>>,
    wait_for_mptcp: Option<bool>,
    runtime_dir: Option<Spanned<String>>,
    metrics: Option<Spanned<String>>,
    flags: Option<Spanned<Vec<Spanned<String>>>>,
    ipv4: Option<bool>,
    ipv6: Option<bool>,
    ipv6_temporary: Option<bool>,
    ipv6_unique_local: Option<bool>,
    ignore_interfaces: Option<Vec<Spanned<String>>>,
    ignore_addresses: Option<Vec<Spanned<String>>>,
    limits: Option<RawLimits>,
    interface: Option<Vec<Spanned<RawRule>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    subflows: Option<Spanned<toml::Value>>,
    add_addr_accepted: Option<Spanned<toml::Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: Spanned<toml::Value>,
    flags: Option<Spanned<Vec<Spanned<String>>>>,
    port: Option<Spanned<i64>>,
    ignore: Option<bool>,
    ipv4: Option<bool>,
    ipv6: Option<bool>,
}

/// Builds errors that point into one file's text.
struct Ctx<'a> {
    file: &'a str,
    text: &'a str,
}

impl Ctx<'_> {
    fn line_of(&self, offset: usize) -> usize {
        self.text.as_bytes()[..offset.min(self.text.len())].iter().filter(|&&b| b == b'\n').count() + 1
    }
    fn err(&self, span: Range<usize>, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.to_string(),
            line: Some(self.line_of(span.start)),
            key: Some(key.to_string()),
            message: message.into(),
        }
    }
}

impl Config {
    /// Reads `path`; every error names the file, line and key.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let cfg = mptcp_daemon::Config::load("/etc/mptcp/daemon.toml".as_ref())?;
    /// # Ok::<(), mptcp_daemon::ConfigError>(())
    /// ```
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let name = path.display().to_string();
        let text =
            read_regular(path).map_err(|message| ConfigError { file: name.clone(), line: None, key: None, message })?;
        let mut cfg = Config::from_toml(&text, &name)?;
        cfg.source = Some(path.to_path_buf());
        Ok(cfg)
    }

    /// Parses TOML `text`; `name` is used in error messages.
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp::pm::EndpointFlags;
    /// use mptcp_daemon::Config;
    ///
    /// let cfg = Config::from_toml("[[interface]]\nname = \"wlan*\"\nflags = [\"subflow\", \"backup\"]\n", "t.toml")?;
    /// assert_eq!(cfg.rules[0].flags, Some(EndpointFlags::SUBFLOW | EndpointFlags::BACKUP));
    /// let e = Config::from_toml("[[interface]]\nname = \"wlan*\"\nflgs = []\n", "t.toml").unwrap_err();
    /// assert_eq!((e.line, e.key.as_deref()), (Some(3), Some("interface.flgs")));
    /// # Ok::<(), mptcp_daemon::ConfigError>(())
    /// ```
    pub fn from_toml(text: &str, name: &str) -> Result<Config, ConfigError> {
        let ctx = Ctx { file: name, text };
        let raw: RawConfig = toml::from_str(text).map_err(|e| toml_error(&ctx, &e))?;
        build(&ctx, raw)
    }
}

/// A configuration file is at most this large.
const MAX_CONFIG: u64 = 1 << 20;

/// Reads a configuration file: a regular file only (a symbolic link to one
/// is followed), opened without blocking (a FIFO would wait for a writer,
/// a device never end), at most [`MAX_CONFIG`] bytes.
fn read_regular(path: &Path) -> Result<String, String> {
    use std::io::Read;
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};

    let cannot = |e: std::io::Error| format!("cannot read the configuration: {e}");
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY)
        .open(path)
        .map_err(cannot)?;
    let meta = f.metadata().map_err(cannot)?;
    let t = meta.file_type();
    if !t.is_file() {
        let kind = if t.is_dir() {
            "a directory"
        } else if t.is_fifo() {
            "a FIFO"
        } else if t.is_socket() {
            "a socket"
        } else if t.is_char_device() || t.is_block_device() {
            "a device"
        } else {
            "not a file"
        };
        return Err(format!("not a regular file ({kind}): give the path of the configuration file"));
    }
    if meta.len() > MAX_CONFIG {
        return Err(format!("{} bytes: a configuration file is at most {MAX_CONFIG} bytes", meta.len()));
    }
    let mut text = String::new();
    f.take(MAX_CONFIG).read_to_string(&mut text).map_err(cannot)?;
    Ok(text)
}

/// Turns a `toml` error into one naming the line and, found through the
/// document's spans, the key.
fn toml_error(ctx: &Ctx<'_>, e: &toml::de::Error) -> ConfigError {
    let span = e.span();
    let mut key = span.as_ref().and_then(|s| key_at(ctx.text, s.start));
    let mut message = e.message().trim().replace('\n', " ");
    if let (Some(s), true) = (&span, message == "duplicate key") {
        // The document does not parse, so `key_at` cannot name the key:
        // find it, and its first definition, in the text.
        let (path, first) = duplicate_key(ctx.text, s.clone());
        message = match first {
            Some(l) => format!("given twice (first on line {l}); keep one"),
            None => "given twice; keep one".into(),
        };
        key = Some(path);
    }
    ConfigError { file: ctx.file.to_string(), line: span.map(|s| ctx.line_of(s.start)), key, message }
}

/// The dotted path of the key or table header at `span` (the duplicate
/// one of a "duplicate key" error), and the line where it was first given.
/// The text is read line by line: table headers (`[t]`, `[[t]]`) and
/// `key = value` lines, as this configuration is written.
fn duplicate_key(text: &str, span: Range<usize>) -> (String, Option<usize>) {
    let line_start = text[..span.start].rfind('\n').map_or(0, |i| i + 1);
    let this_line = text[..span.start].matches('\n').count() + 1;
    // The key path on the duplicate's line, up to and including the span.
    let segments = |s: &str| -> Vec<String> {
        s.split('.').map(|p| p.trim().trim_matches(|c| c == '"' || c == '\'').to_string()).collect()
    };
    let head = &text[line_start..span.end];
    let header = |l: &str| -> Option<(bool, String)> {
        let l = l.split('#').next().unwrap_or("").trim();
        let array = l.starts_with("[[");
        let inner = l.strip_prefix('[')?.trim_start_matches('[');
        let inner = inner.split(']').next()?;
        Some((array, segments(inner).join(".")))
    };
    let lines: Vec<&str> = text.lines().collect();
    if let Some((_, path)) = header(&format!("{head}]")).filter(|_| head.trim_start().starts_with('[')) {
        // A table given twice: its first header.
        let first = lines[..this_line - 1]
            .iter()
            .position(|l| header(l).is_some_and(|(array, p)| !array && p == path))
            .map(|i| i + 1);
        return (path, first);
    }
    let local = segments(head).join(".");
    // The table the line is in: the last header above it.
    let (table_line, table) = lines[..this_line - 1]
        .iter()
        .enumerate()
        .rev()
        .find_map(|(i, l)| header(l).map(|(_, p)| (i + 1, p)))
        .unwrap_or((0, String::new()));
    let path = if table.is_empty() { local.clone() } else { format!("{table}.{local}") };
    let first = lines[table_line..this_line - 1]
        .iter()
        .position(|l| l.split_once('=').is_some_and(|(k, _)| segments(k).join(".") == local))
        .map(|i| table_line + i + 1);
    (path, first)
}

/// The dotted path of the innermost key whose name or value covers `offset`.
fn key_at(text: &str, offset: usize) -> Option<String> {
    fn walk(table: &toml::de::DeTable<'_>, offset: usize, path: &mut Vec<String>) -> bool {
        for (k, v) in table {
            let (ks, vs) = (k.span(), v.span());
            let covers = (ks.start <= offset && offset < ks.end.max(ks.start + 1))
                || (vs.start <= offset && offset < vs.end.max(vs.start + 1));
            let inside = |t: &toml::de::DeTable<'_>, path: &mut Vec<String>| walk(t, offset, path);
            path.push(k.get_ref().to_string());
            match v.get_ref() {
                toml::de::DeValue::Table(t) if inside(t, path) => return true,
                toml::de::DeValue::Array(a) => {
                    for item in a.iter() {
                        if let toml::de::DeValue::Table(t) = item.get_ref() {
                            if inside(t, path) {
                                return true;
                            }
                        }
                    }
                }
                _ => {}
            }
            if covers {
                return true;
            }
            path.pop();
        }
        false
    }
    let doc = toml::de::DeTable::parse(text).ok()?;
    let mut path = Vec::new();
    walk(doc.get_ref(), offset, &mut path).then(|| path.join("."))
}

fn build(ctx: &Ctx<'_>, raw: RawConfig) -> Result<Config, ConfigError> {
    let mut c = Config::default();
    if let Some(v) = raw.manage {
        c.manage = match v.get_ref().as_str() {
            "own" => Manage::Own,
            "all" => Manage::All,
            other => return Err(ctx.err(v.span(), "manage", format!("\"{other}\": expected \"own\" or \"all\""))),
        };
    }
    if let Some(v) = raw.on_exit {
        c.on_exit = match v.get_ref().as_str() {
            "keep" => OnExit::Keep,
            "flush" => OnExit::Flush,
            other => return Err(ctx.err(v.span(), "on_exit", format!("\"{other}\": expected \"keep\" or \"flush\""))),
        };
    }
    if let Some(v) = raw.default_route {
        c.default_route = match v.get_ref().as_str() {
            "family" => DefaultRoute::Family,
            "interface" => DefaultRoute::Interface,
            "any" => DefaultRoute::Any,
            other => {
                let msg = format!("\"{other}\": expected \"family\", \"interface\" or \"any\"");
                return Err(ctx.err(v.span(), "default_route", msg));
            }
        };
    }
    c.wait_for_mptcp = raw.wait_for_mptcp.unwrap_or(c.wait_for_mptcp);
    if let Some(v) = raw.runtime_dir {
        let p = PathBuf::from(v.get_ref());
        if !p.is_absolute() {
            return Err(ctx.err(v.span(), "runtime_dir", "expected an absolute path"));
        }
        c.runtime_dir = Some(p);
    }
    if let Some(v) = raw.metrics {
        c.metrics = Some(parse_metrics_address(v.get_ref()).map_err(|m| ctx.err(v.span(), "metrics", m))?);
    }
    if let Some(v) = raw.flags {
        c.flags = parse_flags(ctx, &v, "flags")?;
        check_flags(ctx, c.flags, None, v.span(), "flags")?;
    }
    c.ipv4 = raw.ipv4.unwrap_or(c.ipv4);
    c.ipv6 = raw.ipv6.unwrap_or(c.ipv6);
    c.ipv6_temporary = raw.ipv6_temporary.unwrap_or(c.ipv6_temporary);
    c.ipv6_unique_local = raw.ipv6_unique_local.unwrap_or(c.ipv6_unique_local);
    if let Some(list) = raw.ignore_interfaces {
        c.ignore_interfaces = list.iter().map(|p| glob(ctx, p, "ignore_interfaces")).collect::<Result<_, _>>()?;
    }
    if let Some(list) = raw.ignore_addresses {
        c.ignore_addresses = list
            .iter()
            .map(|p| Prefix::parse(p.get_ref()).map_err(|m| ctx.err(p.span(), "ignore_addresses", m)))
            .collect::<Result<_, _>>()?;
    }
    if let Some(l) = raw.limits {
        if let Some(v) = l.subflows {
            c.subflows = parse_limit(ctx, &v, "limits.subflows", true)?;
        }
        if let Some(v) = l.add_addr_accepted {
            c.add_addr_accepted = parse_limit(ctx, &v, "limits.add_addr_accepted", false)?;
        }
    }
    for r in raw.interface.unwrap_or_default() {
        let line = ctx.line_of(r.span().start);
        let r = r.into_inner();
        let names = match r.name.get_ref() {
            toml::Value::String(s) => vec![glob_str(ctx, s, r.name.span(), "interface.name")?],
            toml::Value::Array(a) if !a.is_empty() => a
                .iter()
                .map(|v| match v {
                    toml::Value::String(s) => glob_str(ctx, s, r.name.span(), "interface.name"),
                    _ => Err(ctx.err(r.name.span(), "interface.name", "expected interface names (strings)")),
                })
                .collect::<Result<_, _>>()?,
            _ => return Err(ctx.err(r.name.span(), "interface.name", "expected a name pattern or a list of them")),
        };
        let flags = r.flags.as_ref().map(|f| parse_flags(ctx, f, "interface.flags")).transpose()?;
        let port = match r.port {
            Some(p) => match u16::try_from(*p.get_ref()) {
                Ok(n) if n > 0 => Some((n, p.span())),
                _ => return Err(ctx.err(p.span(), "interface.port", "expected a port, 1-65535")),
            },
            None => None,
        };
        let effective = flags.unwrap_or(c.flags);
        let fspan = r.flags.as_ref().map(|f| f.span()).unwrap_or(r.name.span());
        check_flags(ctx, effective, port.clone(), fspan, "interface.flags")?;
        c.rules.push(Rule {
            names,
            flags,
            port: port.map(|p| p.0),
            ignore: r.ignore.unwrap_or(false),
            ipv4: r.ipv4,
            ipv6: r.ipv6,
            line,
        });
    }
    Ok(c)
}

/// Parses the address of the metrics listener: an IP address and a port
/// (`127.0.0.1:9477`, `[::1]:9477`, `0.0.0.0:9477`). A bare `:PORT` is
/// refused: it would listen on every interface, which must be asked for by
/// writing `0.0.0.0:PORT` (or `[::]:PORT`).
///
/// # Errors
///
/// What is wrong, with examples of what to write.
///
/// # Examples
///
/// ```
/// use mptcp_daemon::parse_metrics_address;
///
/// assert_eq!(parse_metrics_address("127.0.0.1:9477").unwrap().port(), 9477);
/// let e = parse_metrics_address(":9477").unwrap_err();
/// assert!(e.contains("127.0.0.1:9477") && e.contains("0.0.0.0:9477"), "{e}");
/// assert!(parse_metrics_address("localhost:9477").is_err());
/// ```
pub fn parse_metrics_address(s: &str) -> Result<SocketAddr, String> {
    let t = s.trim();
    if let Some(port) = t.strip_prefix(':') {
        return Err(format!(
            "\"{s}\": give the address to listen on too: 127.0.0.1:{port} (this host only) or, to serve \
             every interface, 0.0.0.0:{port} or [::]:{port}"
        ));
    }
    t.parse().map_err(|_| format!("\"{s}\": expected an IP address and port, e.g. 127.0.0.1:9477 or [::1]:9477"))
}

fn glob(ctx: &Ctx<'_>, p: &Spanned<String>, key: &str) -> Result<Glob, ConfigError> {
    glob_str(ctx, p.get_ref(), p.span(), key)
}

fn glob_str(ctx: &Ctx<'_>, s: &str, span: Range<usize>, key: &str) -> Result<Glob, ConfigError> {
    // Interface names are at most 15 bytes with no '/' or whitespace; an
    // unknown name is fine (the interface may appear later).
    if s.is_empty() || s.len() > 64 || s.chars().any(|c| c == '/' || c.is_whitespace()) {
        return Err(ctx.err(span, key, format!("\"{s}\" is not an interface name or pattern")));
    }
    Ok(Glob::new(s))
}

fn parse_flags(ctx: &Ctx<'_>, v: &Spanned<Vec<Spanned<String>>>, key: &str) -> Result<EndpointFlags, ConfigError> {
    let mut f = EndpointFlags::EMPTY;
    for name in v.get_ref() {
        match EndpointFlags::from_name(name.get_ref()) {
            Some(EndpointFlags::IMPLICIT) | None => {
                let msg = format!(
                    "unknown flag \"{}\" (expected signal, subflow, backup, fullmesh or laminar)",
                    name.get_ref()
                );
                return Err(ctx.err(name.span(), key, msg));
            }
            Some(x) => f |= x,
        }
    }
    // One rule for every list: the endpoint must be used for something;
    // `backup` only marks it as a backup path.
    let uses = EndpointFlags::SIGNAL | EndpointFlags::SUBFLOW | EndpointFlags::FULLMESH | EndpointFlags::LAMINAR;
    if f.0 & uses.0 == 0 {
        let what = if f == EndpointFlags::EMPTY { "no flag".to_string() } else { format!("only \"{f}\"") };
        let msg = format!(
            "{what}: an endpoint needs signal, subflow, fullmesh or laminar to be used (backup only marks it as a backup path)"
        );
        return Err(ctx.err(v.span(), key, msg));
    }
    Ok(f)
}

/// The combinations the kernel refuses, refused here with a line number.
fn check_flags(
    ctx: &Ctx<'_>,
    f: EndpointFlags,
    port: Option<(u16, Range<usize>)>,
    span: Range<usize>,
    key: &str,
) -> Result<(), ConfigError> {
    if f.contains(EndpointFlags::SIGNAL) && f.contains(EndpointFlags::FULLMESH) {
        return Err(ctx.err(span, key, "`signal` and `fullmesh` cannot be combined"));
    }
    if let Some((_, pspan)) = port {
        if !f.contains(EndpointFlags::SIGNAL) {
            return Err(ctx.err(pspan, "interface.port", "a port needs the `signal` flag (the kernel listens on it)"));
        }
    }
    Ok(())
}

fn parse_limit(ctx: &Ctx<'_>, v: &Spanned<toml::Value>, key: &str, auto_ok: bool) -> Result<Limit, ConfigError> {
    let expected = if auto_ok { "\"auto\", \"keep\" or a number 0-8" } else { "\"keep\" or a number 0-8" };
    match v.get_ref() {
        toml::Value::String(s) if s == "auto" && auto_ok => Ok(Limit::Auto),
        toml::Value::String(s) if s == "keep" => Ok(Limit::Keep),
        toml::Value::Integer(n) if (0..=i64::from(MAX_LIMIT)).contains(n) => Ok(Limit::Set(*n as u32)),
        toml::Value::Integer(n) if *n > i64::from(MAX_LIMIT) => {
            Err(ctx.err(v.span(), key, format!("{n} is above the kernel's maximum of {MAX_LIMIT}")))
        }
        other => Err(ctx.err(v.span(), key, format!("{}: expected {expected}", show_value(other)))),
    }
}

/// A value in words for error messages.
fn show_value(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => format!("\"{s}\""),
        toml::Value::Integer(n) => n.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Array(_) => "a list".into(),
        toml::Value::Table(_) => "a table".into(),
        toml::Value::Datetime(_) => "a date".into(),
    }
}

impl Config {
    /// The rule that applies to `ifname`, if any.
    pub fn rule_for(&self, ifname: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.matches(ifname))
    }

    /// Whether `addr` is in `ignore_addresses`.
    pub fn address_ignored(&self, addr: IpAddr) -> bool {
        self.ignore_addresses.iter().any(|p| p.contains(addr))
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
