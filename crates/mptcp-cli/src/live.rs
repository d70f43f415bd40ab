//! The live view: aggregate rate and one line per subflow, redrawn on
//! stderr while a transfer runs; nothing at all when stderr is not a TTY.

use std::collections::BTreeMap;
use std::io::IsTerminal;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use mptcp_transfer::sampler::Sample;
use mptcp_transfer::units::{fmt_bytes, fmt_rate, fmt_rtt};

/// Rates are averaged over this window (seconds).
const WINDOW_S: f64 = 1.0;

/// A live view on stderr.
#[derive(Debug)]
pub struct Live {
    mp: MultiProgress,
    title: String,
    total: ProgressBar,
    flows: BTreeMap<String, ProgressBar>,
    last_draw: f64,
}

fn bar(mp: &MultiProgress) -> ProgressBar {
    let pb = mp.add(ProgressBar::new_spinner());
    pb.set_style(ProgressStyle::with_template("{msg}").unwrap_or_else(|_| ProgressStyle::default_spinner()));
    pb
}

impl Live {
    /// A live view titled `title`, or `None` when stderr is not a terminal
    /// or `quiet` is set.
    pub fn new(title: &str, quiet: bool) -> Option<Live> {
        if quiet || !std::io::stderr().is_terminal() {
            return None;
        }
        let mp = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(8));
        let total = bar(&mp);
        total.set_message(format!("{title}: connecting..."));
        Some(Live { mp, title: title.to_string(), total, flows: BTreeMap::new(), last_draw: f64::NEG_INFINITY })
    }

    /// Redraws from the sample history (at most 4 times a second).
    pub fn update(&mut self, samples: &[Sample]) {
        let Some(last) = samples.last() else { return };
        if last.t - self.last_draw < 0.25 {
            return;
        }
        self.last_draw = last.t;
        let base = samples.iter().rev().find(|s| last.t - s.t >= WINDOW_S).or_else(|| samples.first()).unwrap_or(last);
        let dt = (last.t - base.t).max(1e-3);
        let rate = last.total.saturating_sub(base.total) as f64 * 8.0 / dt;
        self.total.set_message(format!(
            "{}: {:>5.1}s  {:>12}  total {}  ({} subflow{})",
            self.title,
            last.t,
            fmt_rate(rate),
            fmt_bytes(last.total),
            last.flows.len(),
            if last.flows.len() == 1 { "" } else { "s" }
        ));
        for f in &last.flows {
            let prev = base.flows.iter().find(|p| p.key == f.key).map(|p| p.bytes).unwrap_or(0);
            let r = f.bytes.saturating_sub(prev) as f64 * 8.0 / dt;
            let rtt = f.rtt_us.map(|u| format!("rtt {}", fmt_rtt(u))).unwrap_or_default();
            let pb = self.flows.entry(f.key.clone()).or_insert_with(|| bar(&self.mp));
            pb.set_message(format!("    {:<44} {:>12}  {}", f.key, fmt_rate(r), rtt));
        }
        for (k, pb) in &self.flows {
            if !last.flows.iter().any(|f| &f.key == k) {
                pb.set_message(format!("    {k:<44} {:>12}", "closed"));
            }
        }
    }

    /// Removes the view from the terminal.
    pub fn finish(self) {
        for pb in self.flows.values() {
            pb.finish_and_clear();
        }
        self.total.finish_and_clear();
        let _ = self.mp.clear();
    }
}
