//! Argument parsers shared by the subcommands: values out of range are
//! refused by clap (exit status 2) with the range that is allowed.

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
}
