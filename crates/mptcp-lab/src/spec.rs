//! What each path of the lab emulates: the link in each direction (rate,
//! delay, jitter, loss, queue, trace), the kind of interface the client
//! reaches it through (which sets the default route's metric, as
//! NetworkManager does), and whether it is a backup path. Built from the
//! command line's flags ([`PathFlags`]) or a named [`crate::profiles::Profile`].
//!
//! Every per-path flag takes one value for all paths or one per path,
//! comma-separated; a value is `BOTH` or `DOWN/UP` (down: server to
//! client, up: client to server), e.g. `--rates 30mbit/10mbit,50mbit`.
//! Traces are files (whose paths may hold a `/`): `--traces` sets both
//! directions, `--up-traces` the uplink alone.

use std::sync::Arc;
use std::time::Duration;

use mptcp_linkem::{parse, LinkConfig, Loss, QueueLimit, Rate, Trace};

use crate::profiles::{self, Profile};
use crate::{Error, Result};

/// The most paths the path manager takes (endpoints and limits: 8).
pub const MAX_PATHS: usize = 8;

/// Paths when nothing says how many.
pub const DEFAULT_PATHS: usize = 2;

/// The rate of every path when nothing else says (each direction).
pub const DEFAULT_RATE: &str = "50mbit";

/// The queue of every link when nothing else says: the longest wait
/// before service, as `tc tbf ... latency 50ms` bounds it.
pub const DEFAULT_QUEUE: &str = "50ms";

pub use crate::kind::LinkKind;

/// The metrics of the client's default routes for interfaces of these
/// kinds, in order: each kind's metric, or the next free one when an
/// earlier interface holds it (NetworkManager's rule).
///
/// # Examples
///
/// ```
/// use mptcp_lab::spec::{metrics, LinkKind::*};
/// assert_eq!(metrics(&[Ethernet, Ethernet, Wifi, Wwan]), vec![100, 101, 600, 700]);
/// ```
pub fn metrics(kinds: &[LinkKind]) -> Vec<u32> {
    let mut taken: Vec<u32> = Vec::new();
    for k in kinds {
        let mut m = k.metric();
        while taken.contains(&m) {
            m += 1;
        }
        taken.push(m);
    }
    taken
}

/// One path: what its links do in each direction and how the client
/// reaches it.
///
/// # Examples
///
/// ```
/// use mptcp_lab::spec::{LinkKind, PathSpec};
/// let p = PathSpec::symmetric(LinkKind::Ethernet, "rate=50mbit queue=50ms".parse()?);
/// assert_eq!(p.up, p.down);
/// assert_eq!(p.up_rate_bps(), Some(50_000_000));
/// # Ok::<(), mptcp_linkem::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct PathSpec {
    /// The client's interface kind (its default route's metric).
    pub kind: LinkKind,
    /// Server to client.
    pub down: LinkConfig,
    /// Client to server.
    pub up: LinkConfig,
    /// The client's endpoint on this path is a backup (`subflow backup`):
    /// the kernel sends on it only when no other subflow can.
    pub backup: bool,
    /// What the path stands for, e.g. `Wi-Fi on cable broadband`.
    pub label: String,
}

impl PathSpec {
    /// A path whose two directions behave alike.
    pub fn symmetric(kind: LinkKind, link: LinkConfig) -> PathSpec {
        PathSpec { kind, down: link.clone(), up: link, backup: false, label: String::new() }
    }

    /// The uplink's fixed rate or a trace's mean rate, bits per second;
    /// `None` when unlimited.
    pub fn up_rate_bps(&self) -> Option<u64> {
        rate_bps(&self.up.rate)
    }

    /// The downlink's rate, as [`up_rate_bps`](Self::up_rate_bps).
    pub fn down_rate_bps(&self) -> Option<u64> {
        rate_bps(&self.down.rate)
    }
}

/// A link's fixed rate, or its trace's mean rate; `None` when unlimited.
pub fn rate_bps(r: &Rate) -> Option<u64> {
    match r {
        Rate::Unlimited => None,
        Rate::Fixed(b) => Some(*b),
        Rate::Trace(t) => Some(t.mean_rate_bps()),
    }
}

/// The per-path flags of `mptcp lab` (and of `exec` and `shell`), as
/// given: each list holds one value for every path or one per path. What
/// is not given comes from the profile, if any, else from the defaults (2
/// paths of 50 Mbit/s each way, no delay, no loss, a 50 ms queue).
///
/// # Examples
///
/// ```
/// use mptcp_lab::spec::PathFlags;
///
/// let flags = PathFlags {
///     rates: Some(vec!["50mbit".into(), "20mbit/5mbit".into()]),
///     delays: Some(vec!["10ms".into(), "60ms".into()]),
///     losses: Some(vec!["0".into(), "0.5%".into()]),
///     ..PathFlags::default()
/// };
/// let paths = flags.paths()?;
/// assert_eq!(paths.len(), 2);
/// assert_eq!(paths[1].up_rate_bps(), Some(5_000_000));
/// assert_eq!(paths[1].down.delay, std::time::Duration::from_millis(60));
/// let bad = PathFlags { delays: Some(vec!["10".into()]), ..PathFlags::default() };
/// assert!(bad.paths().unwrap_err().to_string().starts_with("--delays \"10\": "));
/// # Ok::<(), mptcp_lab::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PathFlags {
    /// `--profile NAME`.
    pub profile: Option<String>,
    /// `--paths N` (without a profile or lists).
    pub paths: Option<usize>,
    /// `--rate R`: every path's rate (the older form of `--rates R`).
    pub rate: Option<String>,
    /// `--rates`.
    pub rates: Option<Vec<String>>,
    /// `--delays` (one way, applied in each direction).
    pub delays: Option<Vec<String>>,
    /// `--jitters`.
    pub jitters: Option<Vec<String>>,
    /// `--losses`.
    pub losses: Option<Vec<String>>,
    /// `--queues`.
    pub queues: Option<Vec<String>>,
    /// `--traces` (both directions).
    pub traces: Option<Vec<String>>,
    /// `--up-traces` (the uplink).
    pub up_traces: Option<Vec<String>>,
    /// `--seed`: of the random loss and jitter (each link its own stream).
    pub seed: Option<u64>,
}

/// A value for each direction: `(down, up)`.
type Both<T> = (T, T);

impl PathFlags {
    /// The paths these flags describe.
    ///
    /// # Errors
    ///
    /// [`Error::Usage`] naming the flag and the value at fault: an
    /// unknown profile, a malformed value, lists of different lengths, more
    /// than 8 paths, a trace that cannot be read.
    pub fn paths(&self) -> Result<Vec<PathSpec>> {
        let profile: Option<&Profile> = match &self.profile {
            Some(name) => Some(profiles::find(name).ok_or_else(|| {
                Error::Usage(format!("--profile {name:?}: no such profile; expected one of {}", profiles::names()))
            })?),
            None => None,
        };
        let lists: [(&str, &Option<Vec<String>>); 7] = [
            ("--rates", &self.rates),
            ("--delays", &self.delays),
            ("--jitters", &self.jitters),
            ("--losses", &self.losses),
            ("--queues", &self.queues),
            ("--traces", &self.traces),
            ("--up-traces", &self.up_traces),
        ];
        let n = self.count(profile, &lists)?;
        for (flag, list) in &lists {
            if let Some(l) = list {
                if l.len() != 1 && l.len() != n {
                    return Err(Error::Usage(format!(
                        "{flag}: {} values for {n} paths; give one (for every path) or one per path",
                        l.len()
                    )));
                }
            }
        }
        let pick = |list: &Option<Vec<String>>, i: usize| -> Option<String> {
            list.as_ref().map(|l| if l.len() == 1 { l[0].clone() } else { l[i].clone() })
        };
        let mut paths = Vec::with_capacity(n);
        for i in 0..n {
            let base = profile.map(|p| &p.paths[i]);
            let value = |list: &Option<Vec<String>>, from_profile: Option<&str>, default: &str| -> String {
                pick(list, i).or_else(|| from_profile.map(str::to_string)).unwrap_or_else(|| default.to_string())
            };
            let rate = pick(&self.rates, i).or_else(|| self.rate.clone());
            let rate = rate.unwrap_or_else(|| base.map(|b| b.rate.to_string()).unwrap_or_else(|| DEFAULT_RATE.into()));
            let (mut down_rate, mut up_rate) = both("--rates", &rate, link_rate)?;
            if let Some(t) = pick(&self.traces, i) {
                let tr = trace("--traces", &t)?;
                (down_rate, up_rate) = (tr.clone(), tr);
            }
            if let Some(t) = pick(&self.up_traces, i) {
                up_rate = trace("--up-traces", &t)?;
            }
            let delay = both("--delays", &value(&self.delays, base.map(|b| b.delay), "0"), time)?;
            let jitter = both("--jitters", &value(&self.jitters, base.map(|b| b.jitter), "0"), time)?;
            let loss = both("--losses", &value(&self.losses, base.map(|b| b.loss), "0"), loss)?;
            let queue_given = pick(&self.queues, i).is_some() || base.is_some();
            let mut queue = both("--queues", &value(&self.queues, base.map(|b| b.queue), DEFAULT_QUEUE), queue)?;
            if !queue_given {
                // The default 50 ms holds less than a packet below 240 kbit/s.
                queue = (at_least_packets(queue.0, &down_rate), at_least_packets(queue.1, &up_rate));
            }
            let seed = self.seed.unwrap_or(0);
            let link = |dir: u64, rate: Rate, delay: Duration, jitter: Duration, loss: Loss, queue: QueueLimit| {
                LinkConfig {
                    rate,
                    delay,
                    jitter,
                    loss,
                    queue,
                    // Each link its own stream of random choices.
                    seed: seed.wrapping_mul(0x9e37_79b9_7f4a_7c15).wrapping_add(2 * i as u64 + dir),
                    ..LinkConfig::default()
                }
            };
            let down = link(0, down_rate, delay.0, jitter.0, loss.0, queue.0);
            let up = link(1, up_rate, delay.1, jitter.1, loss.1, queue.1);
            for (what, l) in [("down", &down), ("up", &up)] {
                l.validate().map_err(|e| Error::Usage(format!("path {} ({what}): {e}", i + 1)))?;
            }
            paths.push(PathSpec {
                kind: base.map(|b| b.kind).unwrap_or(LinkKind::Ethernet),
                down,
                up,
                backup: base.is_some_and(|b| b.backup),
                label: base.map(|b| b.label.to_string()).unwrap_or_default(),
            });
        }
        Ok(paths)
    }

    /// How many paths: the profile's, else the longest list's, else
    /// `--paths`, else 2.
    fn count(&self, profile: Option<&Profile>, lists: &[(&str, &Option<Vec<String>>)]) -> Result<usize> {
        let longest = lists.iter().filter_map(|(f, l)| l.as_ref().map(|l| (*f, l.len()))).max_by_key(|(_, n)| *n);
        let n = match (profile, self.paths) {
            (Some(p), Some(n)) if n != p.paths.len() => {
                return Err(Error::Usage(format!(
                    "--paths {n}: the profile {} has {} paths (drop --paths)",
                    p.name,
                    p.paths.len()
                )))
            }
            (Some(p), _) => {
                if let Some((flag, k)) = longest.filter(|(_, k)| *k > 1 && *k != p.paths.len()) {
                    return Err(Error::Usage(format!(
                        "{flag}: {k} values, but the profile {} has {} paths",
                        p.name,
                        p.paths.len()
                    )));
                }
                p.paths.len()
            }
            (None, paths) => match longest.filter(|(_, k)| *k > 1) {
                Some((flag, k)) => {
                    if let Some(n) = paths.filter(|n| *n != k && self.rates.is_none()) {
                        return Err(Error::Usage(format!("--paths {n}: {flag} gives {k} values")));
                    }
                    k
                }
                None => paths.unwrap_or(DEFAULT_PATHS),
            },
        };
        if !(1..=MAX_PATHS).contains(&n) {
            let what = longest.filter(|(_, k)| *k == n).map(|(f, _)| f).unwrap_or("--paths");
            return Err(Error::Usage(format!(
                "{what}: {n} paths; expected 1 to {MAX_PATHS} (the path manager's limit)"
            )));
        }
        Ok(n)
    }
}

/// `value` as one value for both directions, or `DOWN/UP`, each parsed
/// by `one`; errors name `flag` and `value`.
fn both<T: Clone>(flag: &str, value: &str, one: fn(&str) -> std::result::Result<T, String>) -> Result<Both<T>> {
    let bad = |e: String| Error::Usage(format!("{flag} {value:?}: {e}"));
    match value.split_once('/') {
        Some((d, u)) => Ok((one(d.trim()).map_err(bad)?, one(u.trim()).map_err(bad)?)),
        None => {
            let v = one(value.trim()).map_err(bad)?;
            Ok((v.clone(), v))
        }
    }
}

/// Full packets the default queue holds at least: a time bound that holds
/// fewer at a link's rate becomes this many bytes (tbf's 32 KB burst did
/// the same for the old lab's slow paths).
pub const MIN_QUEUE_PACKETS: u64 = 4;

/// `q`, or [`MIN_QUEUE_PACKETS`] of 1500 bytes when `q` is a time in which
/// `rate` sends fewer.
fn at_least_packets(q: QueueLimit, rate: &Rate) -> QueueLimit {
    let min = MIN_QUEUE_PACKETS * 1500;
    match (q, rate_bps(rate)) {
        (QueueLimit::Time(t), Some(bps)) if (t.as_secs_f64() * bps as f64 / 8.0) < min as f64 => QueueLimit::Bytes(min),
        _ => q,
    }
}

fn link_rate(s: &str) -> std::result::Result<Rate, String> {
    if ["unshaped", "unlimited", "none"].contains(&s.to_ascii_lowercase().as_str()) {
        return Ok(Rate::Unlimited);
    }
    let bps = parse::rate_bps(s).map_err(|e| e.to_string())?;
    if bps < 100_000 {
        return Err("expected at least 100kbit (or `unshaped`)".into());
    }
    Ok(Rate::Fixed(bps))
}

fn trace(flag: &str, file: &str) -> Result<Rate> {
    let t = Trace::from_file(file).map_err(|e| Error::Usage(format!("{flag} {file:?}: {e}")))?;
    Ok(Rate::Trace(Arc::new(t)))
}

fn time(s: &str) -> std::result::Result<Duration, String> {
    let d = parse::duration(s).map_err(|e| e.to_string())?;
    if d > Duration::from_secs(10) {
        return Err("expected at most 10s".into());
    }
    Ok(d)
}

fn loss(s: &str) -> std::result::Result<Loss, String> {
    if s == "0" {
        return Ok(Loss::None);
    }
    parse::loss(s).map_err(|e| e.to_string())
}

fn queue(s: &str) -> std::result::Result<QueueLimit, String> {
    parse::queue(s).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags() -> PathFlags {
        PathFlags::default()
    }

    #[test]
    fn the_defaults_are_two_symmetric_50_mbit_paths() {
        let p = flags().paths().unwrap();
        assert_eq!(p.len(), 2);
        for (i, path) in p.iter().enumerate() {
            assert_eq!(path.up.rate, Rate::Fixed(50_000_000));
            assert_eq!(path.down.rate, Rate::Fixed(50_000_000));
            assert_eq!((path.up.delay, path.up.loss.clone()), (Duration::ZERO, Loss::None));
            assert_eq!(path.up.queue, QueueLimit::Time(Duration::from_millis(50)));
            assert_eq!(path.kind, LinkKind::Ethernet);
            assert_ne!(path.up.seed, path.down.seed, "path {i}: one stream per link");
        }
        assert_ne!(p[0].up.seed, p[1].up.seed);
        let four = PathFlags { paths: Some(4), rate: Some("25mbit".into()), ..flags() }.paths().unwrap();
        assert_eq!(four.len(), 4);
        assert_eq!(four[3].up_rate_bps(), Some(25_000_000));
        // 50 ms at 100 kbit/s is less than a packet: the default queue
        // holds 4 packets there; a queue given is kept as it is.
        let slow = PathFlags { rate: Some("100kbit".into()), ..flags() }.paths().unwrap();
        assert_eq!(slow[0].up.queue, QueueLimit::Bytes(6000));
        let given = PathFlags { rate: Some("100kbit".into()), queues: Some(vec!["50ms".into()]), ..flags() };
        assert_eq!(given.paths().unwrap()[0].up.queue, QueueLimit::Time(Duration::from_millis(50)));
    }

    #[test]
    fn a_value_is_for_all_paths_or_per_path_and_down_up() {
        let f = PathFlags {
            rates: Some(vec!["30mbit/10mbit".into(), "unshaped".into()]),
            delays: Some(vec!["5ms/15ms".into()]),
            losses: Some(vec!["0".into(), "ge:1%,4".into()]),
            jitters: Some(vec!["1ms".into()]),
            ..flags()
        };
        let p = f.paths().unwrap();
        assert_eq!((p[0].down_rate_bps(), p[0].up_rate_bps()), (Some(30_000_000), Some(10_000_000)));
        assert_eq!((p[1].down.rate.clone(), p[1].up_rate_bps()), (Rate::Unlimited, None));
        for path in &p {
            assert_eq!((path.down.delay, path.up.delay), (Duration::from_millis(5), Duration::from_millis(15)));
            assert_eq!(path.up.jitter, Duration::from_millis(1));
        }
        assert_eq!(p[0].up.loss, Loss::None);
        assert!(matches!(p[1].up.loss, Loss::GilbertElliott(_)));
    }

    #[test]
    fn bad_values_name_the_flag_and_the_value() {
        let cases: Vec<(PathFlags, &str)> = vec![
            (PathFlags { rates: Some(vec!["10mbps".into()]), ..flags() }, "--rates \"10mbps\": bad rate `10mbps`"),
            (PathFlags { rates: Some(vec!["1kbit".into()]), ..flags() }, "--rates \"1kbit\": expected at least"),
            (PathFlags { delays: Some(vec!["10".into()]), ..flags() }, "--delays \"10\": "),
            (PathFlags { delays: Some(vec!["11s".into()]), ..flags() }, "--delays \"11s\": expected at most 10s"),
            (PathFlags { losses: Some(vec!["1".into()]), ..flags() }, "--losses \"1\": "),
            (PathFlags { losses: Some(vec!["200%".into()]), ..flags() }, "--losses \"200%\": "),
            (PathFlags { queues: Some(vec!["0ms".into()]), ..flags() }, "--queues \"0ms\": "),
            (PathFlags { jitters: Some(vec!["1ms/x".into()]), ..flags() }, "--jitters \"1ms/x\": "),
            (
                PathFlags { traces: Some(vec!["/nonexistent/mptcp.trace".into()]), ..flags() },
                "--traces \"/nonexistent/mptcp.trace\": trace /nonexistent/mptcp.trace",
            ),
            (
                PathFlags { rates: Some(vec!["1mbit".into(); 3]), delays: Some(vec!["1ms".into(); 2]), ..flags() },
                "--delays: 2 values for 3 paths",
            ),
            (PathFlags { rates: Some(vec!["1mbit".into(); 9]), ..flags() }, "--rates: 9 paths; expected 1 to 8"),
            (PathFlags { paths: Some(0), ..flags() }, "--paths: 0 paths"),
            (PathFlags { profile: Some("moon".into()), ..flags() }, "--profile \"moon\": no such profile"),
            (
                PathFlags { profile: Some("wifi-lte".into()), paths: Some(3), ..flags() },
                "--paths 3: the profile wifi-lte has 2 paths",
            ),
            (
                PathFlags { profile: Some("wifi-lte".into()), delays: Some(vec!["1ms".into(); 3]), ..flags() },
                "--delays: 3 values, but the profile wifi-lte has 2 paths",
            ),
        ];
        for (f, want) in cases {
            let e = f.paths().unwrap_err();
            assert!(e.is_usage(), "{f:?}");
            assert!(e.to_string().starts_with(want), "{f:?}: {e}");
        }
    }

    #[test]
    fn a_profile_sets_everything_and_flags_override_it() {
        let p = PathFlags { profile: Some("wifi-lte".into()), ..flags() }.paths().unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!((p[0].kind, p[1].kind), (LinkKind::Wifi, LinkKind::Wwan));
        assert!(p[1].up.delay > p[0].up.delay);
        let q = PathFlags { profile: Some("wifi-lte".into()), delays: Some(vec!["1ms".into()]), ..flags() };
        let q = q.paths().unwrap();
        assert_eq!(q[1].up.delay, Duration::from_millis(1));
        assert_eq!(q[1].up.rate, p[1].up.rate, "what the flags do not say stays the profile's");
    }

    #[test]
    fn traces_set_both_directions_or_the_uplink() {
        let dir = std::env::temp_dir().join(format!("mptcp-lab-spec-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("12mbit.trace");
        std::fs::write(&file, (1..=1000).map(|i| format!("{i}\n")).collect::<String>()).unwrap();
        let f = file.to_str().unwrap().to_string();
        let p = PathFlags { traces: Some(vec![f.clone()]), ..flags() }.paths().unwrap();
        assert_eq!((p[0].down_rate_bps(), p[1].up_rate_bps()), (Some(12_000_000), Some(12_000_000)));
        let p = PathFlags { up_traces: Some(vec![f]), ..flags() }.paths().unwrap();
        assert_eq!((p[0].down_rate_bps(), p[0].up_rate_bps()), (Some(50_000_000), Some(12_000_000)));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn metrics_follow_network_manager() {
        use LinkKind::*;
        assert_eq!(metrics(&[Wifi, Wwan]), vec![600, 700]);
        assert_eq!(metrics(&[Ethernet, Ethernet, Ethernet]), vec![100, 101, 102]);
        assert_eq!(metrics(&[Wifi, Wifi, Ethernet]), vec![600, 601, 100]);
        assert_eq!("LTE".parse::<LinkKind>(), Ok(Wwan));
        assert!("tokenring".parse::<LinkKind>().is_err());
    }
}
