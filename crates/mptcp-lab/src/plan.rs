//! What the lab will do: the paths, the phases and the transfers' settings,
//! checked before anything is created.

use std::path::PathBuf;
use std::time::Duration;

use mptcp_transfer::opts::SocketOpts;

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
