//! Arguments shared by the subcommands: values out of range are refused
//! (exit status 2) with the range that is allowed.

use mptcp_transfer::opts::SocketOpts;

use crate::util::from_transfer;

/// Socket options of `mptcp bench` and `mptcp lab`, checked by
/// [`SocketOpts::parse`].
#[derive(Debug, Clone, clap::Args)]
pub struct SockArgs {
    /// Congestion control (TCP_CONGESTION), e.g. cubic, bbr, reno, or
    /// `system` for the host's default. Default: cubic, which aggregates
    /// paths of unequal capacity well.
    #[arg(long, value_name = "NAME")]
    pub congestion: Option<String>,
    /// Send buffer (SO_SNDBUF), e.g. 4M. Default: kernel autotuning.
    #[arg(long, value_name = "SIZE")]
    pub sndbuf: Option<String>,
    /// Receive buffer (SO_RCVBUF), e.g. 4M. Default: kernel autotuning.
    #[arg(long, value_name = "SIZE")]
    pub rcvbuf: Option<String>,
}

impl SockArgs {
    /// The options, validated (bad input: exit status 2).
    pub fn opts(&self) -> anyhow::Result<SocketOpts> {
        SocketOpts::parse(self.congestion.as_deref(), self.sndbuf.as_deref(), self.rcvbuf.as_deref())
            .map_err(from_transfer)
    }
}

/// Parses seconds in `[min, max]` (`min` > 0): finite, and small enough
/// for a `Duration`.
pub fn seconds_in(s: &str, min: f64, max: f64) -> Result<f64, String> {
    let range = || format!("expected {min} to {max} seconds");
    let v: f64 = s.trim().parse().map_err(|_| format!("not a number of seconds ({})", range()))?;
    if v.is_finite() && v >= min && v <= max {
        Ok(v)
    } else {
        Err(range())
    }
}

/// `mptcp check --timeout`: 1 ms to one hour.
pub fn connect_timeout(s: &str) -> Result<f64, String> {
    seconds_in(s, 0.001, 3600.0)
}

/// `mptcp monitor --timeout`: 1 ms to a year.
pub fn monitor_timeout(s: &str) -> Result<f64, String> {
    seconds_in(s, 0.001, 365.0 * 86400.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_names_the_range() {
        assert_eq!(connect_timeout("2.5"), Ok(2.5));
        assert_eq!(connect_timeout("3600"), Ok(3600.0));
        for bad in ["0", "-1", "1e300", "inf", "NaN", "3600.5"] {
            assert_eq!(connect_timeout(bad), Err("expected 0.001 to 3600 seconds".into()), "{bad}");
        }
        assert_eq!(connect_timeout("soon"), Err("not a number of seconds (expected 0.001 to 3600 seconds)".into()));
        assert!(monitor_timeout("86400").is_ok());
        assert!(monitor_timeout("1e9").is_err());
        // Every accepted value fits a Duration.
        let _ = std::time::Duration::from_secs_f64(monitor_timeout("31536000").unwrap());
    }

    #[test]
    fn bad_socket_options_are_usage_errors() {
        let a = SockArgs { congestion: Some("no such".into()), sndbuf: None, rcvbuf: None };
        let e = a.opts().unwrap_err();
        assert_eq!(e.to_string(), "--congestion \"no such\": not a congestion control name");
        assert_eq!(crate::errors::kind_of(&e), crate::errors::Kind::Usage);
    }
}
