//! What the lab will do: the paths, the phases and the transfers' settings,
//! checked before anything is created.

use std::path::PathBuf;
use std::time::Duration;

use mptcp_transfer::opts::SocketOpts;

use mptcp_linkem::QueueLimit;

use crate::phase::Phase;
use crate::spec::{PathSpec, MAX_PATHS};
use crate::{Error, Result};

/// What the lab will do, from valid arguments.
///
/// # Examples
///
/// ```
/// use mptcp_lab::spec::PathFlags;
/// use mptcp_lab::{Phase, Plan};
///
/// let mut plan = Plan::new(PathFlags::default().paths()?, vec![Phase::Tcp, Phase::Mptcp])?;
/// plan.fail_path = 5;
/// assert!(plan.check().unwrap_err().to_string().starts_with("--fail-path 6"));
/// # Ok::<(), mptcp_lab::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Plan {
    /// What each path emulates.
    pub paths: Vec<PathSpec>,
    /// The phases, in the order they run.
    pub phases: Vec<Phase>,
    /// Duration of each transfer.
    pub duration: Duration,
    /// Socket options of both ends.
    pub opts: SocketOpts,
    /// The path the failover phases take down (0-based).
    pub fail_path: usize,
    /// Where to write the chart (`None`: no chart).
    pub plot: Option<PathBuf>,
}

impl Plan {
    /// The `paths`, the `phases` (put in the order they run), 5 s
    /// transfers, the default socket options, path 1 failing, no chart;
    /// checked with [`Plan::check`].
    ///
    /// # Errors
    ///
    /// [`Error::Usage`] as [`Plan::check`] says.
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp_lab::spec::PathFlags;
    /// let three = PathFlags { paths: Some(3), ..PathFlags::default() }.paths()?;
    /// let plan = mptcp_lab::Plan::new(three, vec![mptcp_lab::Phase::Mptcp])?;
    /// assert_eq!(plan.paths.len(), 3);
    /// # Ok::<(), mptcp_lab::Error>(())
    /// ```
    pub fn new(paths: Vec<PathSpec>, phases: Vec<Phase>) -> Result<Plan> {
        let mut phases = phases;
        phases.sort();
        phases.dedup();
        let plan = Plan {
            paths,
            phases,
            duration: Duration::from_secs(5),
            opts: SocketOpts::default(),
            fail_path: 0,
            plot: None,
        };
        plan.check()?;
        Ok(plan)
    }

    /// The client's socket options: the plan's, with a send buffer bounded
    /// to what the paths can hold when they are slow (see
    /// [`send_buffer_bound`]) unless the plan sets one.
    pub fn client_opts(&self) -> SocketOpts {
        let mut o = self.opts.clone();
        if o.send_buffer.is_none() {
            o.send_buffer = send_buffer_bound(&self.paths, wmem_max());
        }
        o
    }

    /// Checks that the plan can run: 1 to 8 paths, a duration of 1 s to
    /// an hour, some phases, two paths or more for a failover phase, the
    /// failing path among the paths.
    ///
    /// # Errors
    ///
    /// [`Error::Usage`] naming the flag at fault.
    pub fn check(&self) -> Result<()> {
        let n = self.paths.len();
        if !(1..=MAX_PATHS).contains(&n) {
            return Err(Error::Usage(format!("{n} paths: expected 1 to {MAX_PATHS} (the path manager's limit)")));
        }
        let secs = self.duration.as_secs_f64();
        if !(1.0..=3600.0).contains(&secs) {
            return Err(Error::Usage(format!("--duration {secs}: expected 1 to 3600 seconds")));
        }
        if self.phases.is_empty() {
            return Err(Error::Usage("--phases: no phase given".into()));
        }
        if let Some(f) = self.phases.iter().find(|p| p.is_failover()).filter(|_| n < 2) {
            return Err(Error::Usage(format!(
                "--phases: the {f} phase needs at least 2 paths (use --paths 2 or drop it from --phases)"
            )));
        }
        if self.fail_path >= n {
            return Err(Error::Usage(format!("--fail-path {}: expected 1 to {n}", self.fail_path + 1)));
        }
        Ok(())
    }
}

/// The smallest send buffer the lab sets (the kernel doubles it).
const MIN_SEND_BUFFER: usize = 4 << 10;

/// A send buffer that holds what the paths carry in a round trip plus a
/// full queue plus 100 ms (sum of the uplink rates x (the longest RTT the
/// emulator adds + the longest queue wait + 100 ms)), at least 4 KiB; `None`
/// (the kernel's autotuning) when four times that reaches `wmem_max` or a
/// path is unlimited. Without it a slow path drains an autotuned buffer long after
/// the sender stopped: at 100 kbit/s a 2 s transfer took 11 s.
///
/// The value is what `SO_SNDBUF` is given; the kernel doubles it.
///
/// # Examples
///
/// ```
/// use mptcp_lab::plan::send_buffer_bound;
/// use mptcp_lab::spec::PathFlags;
///
/// // 100 kbit/s with a queue of 4 packets (0.48 s): 12.5 kB/s x 0.58 s.
/// let slow = PathFlags { paths: Some(1), rate: Some("100kbit".into()), ..PathFlags::default() }.paths()?;
/// let b = send_buffer_bound(&slow, Some(4 << 20)).unwrap();
/// assert!((7000..7500).contains(&b), "{b}");
/// let fast = PathFlags::default().paths()?;
/// assert_eq!(send_buffer_bound(&fast, Some(4 << 20)), None);
/// # Ok::<(), mptcp_lab::Error>(())
/// ```
pub fn send_buffer_bound(paths: &[PathSpec], wmem_max: Option<usize>) -> Option<usize> {
    let mut bps = 0.0;
    let mut longest = 0.0f64;
    for p in paths {
        let rate = p.up_rate_bps()? as f64;
        bps += rate;
        let rtt = (p.up.delay + p.down.delay + p.up.jitter * 3 + p.down.jitter * 3).as_secs_f64();
        let queue = match p.up.queue {
            QueueLimit::Time(t) => t.as_secs_f64(),
            QueueLimit::Bytes(b) => b as f64 * 8.0 / rate,
            QueueLimit::Unlimited => 0.5,
        };
        longest = longest.max(rtt + queue);
    }
    let bytes = ((bps / 8.0 * (longest + 0.1)) as usize).max(MIN_SEND_BUFFER);
    // Bounded only where the paths are slow enough for autotuning's
    // buffer (up to `wmem_max`) to drain long after the sender stopped.
    match wmem_max {
        Some(max) if bytes * 4 < max => Some(bytes),
        _ => None,
    }
}

/// The kernel's largest autotuned send buffer (`net.ipv4.tcp_wmem`'s
/// third value) on this host.
fn wmem_max() -> Option<usize> {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem").ok()?;
    text.split_whitespace().nth(2)?.parse().ok()
}
