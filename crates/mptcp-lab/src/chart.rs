//! The lab's chart panels: each phase's throughput (the client's view:
//! data acknowledged per subflow and in all) with its physical limit, and
//! the drain after the sender stopped.

use mptcp_transfer::plot::{Limit, Panel};
use mptcp_transfer::report::TimelinePoint;
use mptcp_transfer::units::fmt_rate;

use crate::Plan;

/// A phase's panel: `points`, with `limit_bps` from the start (if known);
/// everything after the transfer's duration is the drain.
pub fn panel(title: String, points: Vec<TimelinePoint>, limit_bps: Option<f64>, plan: &Plan) -> Panel {
    Panel {
        title,
        points,
        limits: limit_bps.map(|l| vec![limit(0.0, l, "limit")]).unwrap_or_default(),
        sent_until: Some(plan.duration.as_secs_f64()),
        ..Panel::default()
    }
}

/// The limit `bps` from `from` seconds on, labelled `what` and its value.
pub fn limit(from: f64, bps: f64, what: &str) -> Limit {
    Limit { from, bps, label: format!("{what} {}", fmt_rate(bps)) }
}

/// `47.9 Mbit/s (100.1% of the limit)`, or just the rate without a limit.
pub fn rate_of_limit(bps: f64, limit: Option<f64>) -> String {
    match limit {
        Some(l) if l > 0.0 => format!("{} ({:.1}% of the limit)", fmt_rate(bps), bps / l * 100.0),
        _ => fmt_rate(bps),
    }
}
