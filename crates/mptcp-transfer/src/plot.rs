//! Hand-written SVG 1.1 charts of throughput over time: one panel per
//! transfer, every panel on the same scale (time and Mbit/s). Each subflow's
//! rate is a band stacked on the previous ones (equal subflows cannot hide
//! each other), the total a black line, the physical limit a dashed line
//! with its value; marked instants (a path going down), a shaded interval
//! (the failover's stall) and the drain after the sender stopped, greyed.
//! Legends sit under their panel and wrap; text is measured with the
//! widest common sans-serif font (module `text`), so nothing runs off the canvas.

mod text;

use std::fmt::Write as _;
use std::path::Path;

use super::report::TimelinePoint;

/// One chart.
#[derive(Debug, Clone, Default)]
pub struct Panel {
    /// Chart title.
    pub title: String,
    /// Throughput over time.
    pub points: Vec<TimelinePoint>,
    /// Vertical markers, e.g. `(2.5, "path 1 down")`.
    pub markers: Vec<(f64, String)>,
    /// The physical limit, a step for each time it changes.
    pub limits: Vec<Limit>,
    /// A shaded interval, e.g. the stall after a failure.
    pub shade: Option<Shade>,
    /// When the sender stopped (s): what comes after is the drain.
    pub sent_until: Option<f64>,
}

/// The limit from `from` (s) on, until the next one.
#[derive(Debug, Clone, PartialEq)]
pub struct Limit {
    /// Seconds.
    pub from: f64,
    /// Bits per second.
    pub bps: f64,
    /// Written over the line, e.g. `limit 94.1 Mbit/s`.
    pub label: String,
}

/// A shaded interval.
#[derive(Debug, Clone, PartialEq)]
pub struct Shade {
    /// Start, seconds.
    pub from: f64,
    /// End, seconds.
    pub to: f64,
    /// Written in it, e.g. `stall 300 ms`.
    pub label: String,
    /// What it is, for the legend.
    pub legend: String,
}

/// Canvas width.
const W: f64 = 900.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 24.0;
const PW: f64 = W - LEFT - RIGHT;
const PLOT_H: f64 = 200.0;
const TITLE_PX: f64 = 14.0;
const TITLE_LINE: f64 = 18.0;
/// Under the plot: tick labels and the axis title.
const AXIS_H: f64 = 40.0;
const LEGEND_PX: f64 = 11.0;
const LEGEND_LINE: f64 = 15.0;
const SWATCH: f64 = 22.0;
/// Between a legend entry's swatch and its text, and between entries.
const PAD: f64 = 6.0;
const ENTRY_GAP: f64 = 18.0;
const PANEL_GAP: f64 = 22.0;
const TOP: f64 = 12.0;
const COLORS: [&str; 8] = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"];
const DASHES: [&str; 4] = ["none", "7,3", "2,2", "9,3,2,3"];
const STALL: &str = "#d62728";
const LIMIT: &str = "#333";

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A "nice" axis step (1, 2, 2.5 or 5 times a power of ten) for `ticks`
/// steps over `range`.
fn nice_step(range: f64, ticks: f64) -> f64 {
    let raw = (range / ticks).max(1e-9);
    let mag = 10f64.powf(raw.log10().floor());
    let n = [1.0, 2.0, 2.5, 5.0, 10.0].into_iter().find(|n| raw / mag <= n + 1e-9).unwrap_or(10.0);
    n * mag
}

/// The one scale of every panel.
#[derive(Debug, Clone, PartialEq)]
pub struct Scale {
    /// Right end of the time axis, seconds.
    pub tmax: f64,
    /// Between time ticks.
    pub tstep: f64,
    /// Top of the rate axis, Mbit/s.
    pub vmax: f64,
    /// Between rate ticks.
    pub vstep: f64,
}

impl Scale {
    /// Time up to the latest point of any panel; rates up to 10% above the
    /// highest limit or to the highest rate, whichever is more, but no
    /// more than 30% above the highest limit (peaks beyond are clipped and
    /// labelled with their value). Without a limit, up to the highest rate.
    pub fn of(panels: &[Panel]) -> Scale {
        let tmax = panels
            .iter()
            .flat_map(|p| {
                let pts = p.points.iter().map(|q| q.t);
                let marks = p.markers.iter().map(|m| m.0);
                pts.chain(marks).chain(p.shade.iter().map(|s| s.to))
            })
            .fold(1.0, f64::max);
        let top = panels.iter().flat_map(|p| p.points.iter().map(peak)).fold(0.0, f64::max) / 1e6;
        let limit = panels.iter().flat_map(|p| p.limits.iter().map(|l| l.bps)).fold(0.0, f64::max) / 1e6;
        let want = if limit > 0.0 { (limit * 1.1).max(top.min(limit * 1.3)) } else { top.max(1.0) };
        let vstep = nice_step(want, 5.0);
        Scale { tmax, tstep: nice_step(tmax, 10.0), vmax: (want / vstep - 1e-9).ceil() * vstep, vstep }
    }
}

/// The highest of a point's stacked subflows and its total, bits/s.
fn peak(q: &TimelinePoint) -> f64 {
    q.total_bps.max(q.flows.values().sum())
}

/// What a legend entry's swatch shows.
#[derive(Debug, Clone, PartialEq)]
enum Swatch {
    Band(&'static str, &'static str),
    Line(&'static str),
    Limit,
    Shade,
    Drain,
}

/// A legend entry placed on the canvas: its swatch at (`x`, `y`), its text
/// lines from `x + SWATCH + PAD`, the first baseline at `y + 4`.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    swatch: Swatch,
    lines: Vec<String>,
    x: f64,
    y: f64,
}

impl Entry {
    /// The box of its text: (left, top, right, bottom).
    fn text_box(&self) -> (f64, f64, f64, f64) {
        let w = self.lines.iter().map(|l| text::width(l, LEGEND_PX)).fold(0.0, f64::max);
        let left = self.x + SWATCH + PAD;
        (left, self.y - LEGEND_PX * 0.8, left + w, self.y + 4.0 + (self.lines.len() as f64 - 1.0) * LEGEND_LINE + 3.0)
    }
}

/// A panel placed on the canvas.
#[derive(Debug, Clone)]
struct Layout {
    title: Vec<String>,
    /// Top of the plot area.
    plot_top: f64,
    keys: Vec<String>,
    legend: Vec<Entry>,
    /// Bottom of the whole panel.
    bottom: f64,
}

/// The median of a subflow's smoothed RTTs over the panel's points, ms.
fn median_rtt_ms(p: &Panel, key: &str) -> Option<f64> {
    let mut v: Vec<u32> = p.points.iter().filter_map(|q| q.rtt_us.get(key).copied()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    Some(f64::from(v[v.len() / 2]) / 1000.0)
}

/// `0.42 ms`, `21.3 ms`, `121 ms`.
fn fmt_ms(ms: f64) -> String {
    if ms < 1.0 {
        format!("{ms:.2} ms")
    } else if ms < 100.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.0} ms")
    }
}

/// Subflow keys in order of appearance.
fn keys(p: &Panel) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    for q in &p.points {
        for k in q.flows.keys() {
            if !keys.contains(k) {
                keys.push(k.clone());
            }
        }
    }
    keys
}

fn layout(p: &Panel, top: f64) -> Layout {
    let title = text::wrap(&p.title, TITLE_PX, PW);
    let plot_top = top + title.len() as f64 * TITLE_LINE + 8.0;
    let keys = keys(p);
    let mut items: Vec<(Swatch, String)> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let swatch = Swatch::Band(COLORS[i % COLORS.len()], DASHES[i % DASHES.len()]);
            let rtt = median_rtt_ms(p, k).map(|ms| format!(", RTT {} (median)", fmt_ms(ms))).unwrap_or_default();
            (swatch, format!("subflow {k}{rtt}"))
        })
        .collect();
    items.push((Swatch::Line("#000"), "total".into()));
    if !p.limits.is_empty() {
        items.push((Swatch::Limit, "physical limit of the paths in use".into()));
    }
    if let Some(s) = &p.shade {
        items.push((Swatch::Shade, s.legend.clone()));
    }
    if let Some(t) = p.sent_until {
        items.push((Swatch::Drain, format!("after {t:.1} s: the sender has stopped, data in flight drains")));
    }
    let (left, right) = (LEFT, W - RIGHT);
    let text_max = right - left - SWATCH - PAD;
    let (mut x, mut y, mut row_lines) = (left, plot_top + PLOT_H + AXIS_H + 4.0, 1usize);
    let mut legend = Vec::new();
    for (swatch, label) in items {
        let lines = text::wrap(&label, LEGEND_PX, text_max);
        let w = SWATCH + PAD + lines.iter().map(|l| text::width(l, LEGEND_PX)).fold(0.0, f64::max);
        if x > left && x + w > right {
            (x, y) = (left, y + row_lines as f64 * LEGEND_LINE + 3.0);
            row_lines = 1;
        }
        row_lines = row_lines.max(lines.len());
        legend.push(Entry { swatch, lines, x, y });
        x += w + ENTRY_GAP;
    }
    let bottom = legend.iter().map(|e| e.text_box().3).fold(y + row_lines as f64 * LEGEND_LINE, f64::max);
    Layout { title, plot_top, keys, legend, bottom }
}

/// Renders the panels as one SVG 1.1 document.
///
/// # Examples
///
/// ```
/// use std::collections::BTreeMap;
/// use mptcp_transfer::plot::{self, Panel};
/// use mptcp_transfer::report::TimelinePoint;
///
/// let points = (1..=20)
///     .map(|i| TimelinePoint { t: f64::from(i) / 10.0, total_bps: 40e6, flows: BTreeMap::new(), rtt_us: BTreeMap::new() })
///     .collect();
/// let svg = plot::render(&[Panel { title: "upload".into(), points, ..Panel::default() }]);
/// assert!(svg.starts_with("<svg") && svg.contains(">upload</text>"));
/// ```
pub fn render(panels: &[Panel]) -> String {
    let scale = Scale::of(panels);
    let mut layouts = Vec::new();
    let mut top = TOP;
    for p in panels {
        let l = layout(p, top);
        top = l.bottom + PANEL_GAP;
        layouts.push(l);
    }
    let h = top.ceil();
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{W}" height="{h}" viewBox="0 0 {W} {h}" font-family="DejaVu Sans, Verdana, sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect x="0" y="0" width="{W}" height="{h}" fill="white"/>"#);
    for (i, (p, l)) in panels.iter().zip(&layouts).enumerate() {
        panel(&mut s, p, l, &scale, i);
    }
    s.push_str("</svg>\n");
    s
}

/// Text with a white halo, legible over the lines it crosses.
fn label(s: &mut String, x: f64, y: f64, anchor: &str, fill: &str, extra: &str, text: &str) {
    let t = esc(text);
    let _ = writeln!(
        s,
        r#"<text x="{x:.1}" y="{y:.1}" text-anchor="{anchor}" {extra} fill="white" stroke="white" stroke-width="3" stroke-linejoin="round">{t}</text>"#
    );
    let _ = writeln!(s, r#"<text x="{x:.1}" y="{y:.1}" text-anchor="{anchor}" {extra} fill="{fill}">{t}</text>"#);
}

fn panel(s: &mut String, p: &Panel, l: &Layout, sc: &Scale, idx: usize) {
    let y0 = l.plot_top;
    let x = |t: f64| LEFT + (t / sc.tmax).clamp(0.0, 1.0) * PW;
    let y = |bps: f64| y0 + PLOT_H - (bps / 1e6 / sc.vmax).clamp(0.0, 1.0) * PLOT_H;
    for (k, line) in l.title.iter().enumerate() {
        let ty = y0 - 8.0 - (l.title.len() - 1 - k) as f64 * TITLE_LINE - 6.0;
        let _ = writeln!(
            s,
            r#"<text x="{LEFT}" y="{ty:.1}" font-size="{TITLE_PX}" font-weight="bold">{}</text>"#,
            esc(line)
        );
    }
    let _ = writeln!(
        s,
        r#"<defs><clipPath id="plot{idx}"><rect x="{LEFT}" y="{y0:.1}" width="{PW}" height="{PLOT_H}"/></clipPath></defs>"#
    );
    // Grid, ticks and axis titles.
    let mut v = 0.0;
    while v <= sc.vmax + 1e-9 {
        let yy = y(v * 1e6);
        let _ =
            writeln!(s, r##"<line x1="{LEFT}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#e4e4e4"/>"##, LEFT + PW);
        let _ =
            writeln!(s, r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#, LEFT - 6.0, yy + 4.0, trim_num(v));
        v += sc.vstep;
    }
    let mut t = 0.0;
    while t <= sc.tmax + 1e-9 {
        let xx = x(t);
        let yb = y0 + PLOT_H;
        let _ = writeln!(s, r##"<line x1="{xx:.1}" y1="{yb:.1}" x2="{xx:.1}" y2="{:.1}" stroke="#888"/>"##, yb + 5.0);
        let _ = writeln!(s, r#"<text x="{xx:.1}" y="{:.1}" text-anchor="middle">{}</text>"#, yb + 18.0, trim_num(t));
        t += sc.tstep;
    }
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">time (s)</text>"#,
        LEFT + PW / 2.0,
        y0 + PLOT_H + 33.0
    );
    let _ = writeln!(
        s,
        r#"<text transform="translate({:.1},{:.1}) rotate(-90)" text-anchor="middle">Mbit/s</text>"#,
        LEFT - 44.0,
        y0 + PLOT_H / 2.0
    );
    if let Some(sh) = &p.shade {
        let (a, b) = (x(sh.from), x(sh.to).max(x(sh.from) + 1.0));
        let _ = writeln!(
            s,
            r#"<rect x="{a:.1}" y="{y0:.1}" width="{:.1}" height="{PLOT_H}" fill="{STALL}" fill-opacity="0.14"/>"#,
            b - a
        );
    }
    series(s, p, l, sc, (&x, &y), idx);
    limits(s, p, sc, &x, &y);
    if let Some(t) = p.sent_until.filter(|t| *t < sc.tmax) {
        let a = x(t);
        let _ = writeln!(
            s,
            r#"<rect x="{a:.1}" y="{y0:.1}" width="{:.1}" height="{PLOT_H}" fill="white" fill-opacity="0.72"/>"#,
            LEFT + PW - a
        );
        let _ = writeln!(
            s,
            r##"<line x1="{a:.1}" y1="{y0:.1}" x2="{a:.1}" y2="{:.1}" stroke="#999" stroke-dasharray="2,3"/>"##,
            y0 + PLOT_H
        );
        if text::width("drain", LEGEND_PX) + 6.0 < LEFT + PW - a {
            label(s, a + 3.0, y0 + PLOT_H - 6.0, "start", "#777", r#"font-size="11""#, "drain");
        }
    }
    for (mt, text) in &p.markers {
        let xx = x(*mt);
        let _ = writeln!(
            s,
            r##"<line x1="{xx:.1}" y1="{y0:.1}" x2="{xx:.1}" y2="{:.1}" stroke="{STALL}" stroke-width="1.5"/>"##,
            y0 + PLOT_H
        );
        let w = text::width(text, 12.0);
        let (tx, anchor) = if xx - 4.0 - w >= LEFT { (xx - 4.0, "end") } else { (xx + 4.0, "start") };
        label(s, tx, y0 + 15.0, anchor, STALL, "", text);
    }
    if let Some(sh) = &p.shade {
        let a = x(sh.from) + 4.0;
        let ax = if a + text::width(&sh.label, 12.0) > LEFT + PW { LEFT + PW - 4.0 } else { a };
        let anchor = if ax < a { "end" } else { "start" };
        label(s, ax, y0 + 15.0, anchor, STALL, r#"font-weight="bold""#, &sh.label);
    }
    let _ = writeln!(s, r##"<rect x="{LEFT}" y="{y0:.1}" width="{PW}" height="{PLOT_H}" fill="none" stroke="#444"/>"##);
    legend(s, l);
}

/// Start and end (s) of each point's interval: from the previous point
/// (the first: back by the next interval's length).
fn intervals(points: &[TimelinePoint]) -> Vec<(f64, f64)> {
    (0..points.len())
        .map(|j| {
            let b = points[j].t;
            let a = match j {
                0 => {
                    let dt = points.get(1).map(|q| q.t - b).filter(|d| *d > 0.0).unwrap_or(b);
                    (b - dt).max(0.0)
                }
                _ => points[j - 1].t,
            };
            (a, b)
        })
        .collect()
}

/// The subflows as stacked bands (steps: each interval at its rate), the
/// total as a black step line, clipped to the plot area; the highest
/// clipped peak written at the top.
fn series(
    s: &mut String,
    p: &Panel,
    l: &Layout,
    sc: &Scale,
    (x, y): (&dyn Fn(f64) -> f64, &dyn Fn(f64) -> f64),
    idx: usize,
) {
    let iv = intervals(&p.points);
    let _ = writeln!(s, r#"<g clip-path="url(#plot{idx})">"#);
    let mut below = vec![0.0; p.points.len()];
    for (i, k) in l.keys.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let dash = DASHES[i % DASHES.len()];
        let above: Vec<f64> =
            p.points.iter().zip(&below).map(|(q, b)| b + q.flows.get(k).copied().unwrap_or(0.0)).collect();
        let mut top = String::new();
        let mut bottom = Vec::new();
        for (j, (a, b)) in iv.iter().enumerate() {
            let _ = write!(top, "{:.1},{:.1} {:.1},{:.1} ", x(*a), y(above[j]), x(*b), y(above[j]));
            bottom.push(format!("{:.1},{:.1} {:.1},{:.1}", x(*b), y(below[j]), x(*a), y(below[j])));
        }
        bottom.reverse();
        let _ = writeln!(
            s,
            r#"<polygon points="{top}{}" fill="{color}" fill-opacity="0.3" stroke="none"/>"#,
            bottom.join(" ")
        );
        let _ = writeln!(
            s,
            r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="1.6" stroke-dasharray="{dash}"/>"#,
            top.trim_end()
        );
        below = above;
    }
    let total: Vec<String> = iv
        .iter()
        .zip(&p.points)
        .map(|((a, b), q)| format!("{:.1},{:.1} {:.1},{:.1}", x(*a), y(q.total_bps), x(*b), y(q.total_bps)))
        .collect();
    if !total.is_empty() {
        let _ =
            writeln!(s, r##"<polyline points="{}" fill="none" stroke="#000" stroke-width="1.8"/>"##, total.join(" "));
    }
    s.push_str("</g>\n");
    let clipped = p.points.iter().zip(&iv).filter(|(q, _)| peak(q) / 1e6 > sc.vmax);
    if let Some((q, (a, b))) = clipped.max_by(|m, n| peak(m.0).total_cmp(&peak(n.0))) {
        let text = format!("\u{2191} {:.0}", peak(q) / 1e6);
        let xx = ((x(*a) + x(*b)) / 2.0).clamp(LEFT + 20.0, LEFT + PW - 20.0);
        label(s, xx, y(f64::MAX) + 12.0, "middle", "#000", r#"font-size="11""#, &text);
    }
}

/// The limit's steps as dashed lines, each with its value.
fn limits(s: &mut String, p: &Panel, sc: &Scale, x: &dyn Fn(f64) -> f64, y: &dyn Fn(f64) -> f64) {
    for (i, lim) in p.limits.iter().enumerate() {
        let end = p.limits.get(i + 1).map(|n| n.from).unwrap_or(sc.tmax);
        let (a, b, yy) = (x(lim.from), x(end), y(lim.bps));
        let _ = writeln!(
            s,
            r#"<line x1="{a:.1}" y1="{yy:.1}" x2="{b:.1}" y2="{yy:.1}" stroke="{LIMIT}" stroke-width="1.5" stroke-dasharray="9,4"/>"#
        );
        label(s, a + 6.0, yy - 5.0, "start", LIMIT, r#"font-size="11""#, &lim.label);
    }
}

fn legend(s: &mut String, l: &Layout) {
    for e in &l.legend {
        let (sx, sy) = (e.x, e.y);
        match &e.swatch {
            Swatch::Band(color, dash) => {
                let _ = writeln!(
                    s,
                    r#"<rect x="{sx:.1}" y="{:.1}" width="{SWATCH}" height="8" fill="{color}" fill-opacity="0.3"/>"#,
                    sy - 4.0
                );
                let _ = writeln!(
                    s,
                    r#"<line x1="{sx:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{color}" stroke-width="1.6" stroke-dasharray="{dash}"/>"#,
                    sy - 4.0,
                    sx + SWATCH,
                    sy - 4.0
                );
            }
            Swatch::Line(color) => {
                let _ = writeln!(
                    s,
                    r#"<line x1="{sx:.1}" y1="{sy:.1}" x2="{:.1}" y2="{sy:.1}" stroke="{color}" stroke-width="1.8"/>"#,
                    sx + SWATCH
                );
            }
            Swatch::Limit => {
                let _ = writeln!(
                    s,
                    r#"<line x1="{sx:.1}" y1="{sy:.1}" x2="{:.1}" y2="{sy:.1}" stroke="{LIMIT}" stroke-width="1.5" stroke-dasharray="9,4"/>"#,
                    sx + SWATCH
                );
            }
            Swatch::Shade => {
                let _ = writeln!(
                    s,
                    r#"<rect x="{sx:.1}" y="{:.1}" width="{SWATCH}" height="10" fill="{STALL}" fill-opacity="0.14" stroke="{STALL}" stroke-width="0.5"/>"#,
                    sy - 5.0
                );
            }
            Swatch::Drain => {
                let _ = writeln!(
                    s,
                    r##"<rect x="{sx:.1}" y="{:.1}" width="{SWATCH}" height="10" fill="#f2f2f2" stroke="#999" stroke-width="0.5"/>"##,
                    sy - 5.0
                );
            }
        }
        for (k, line) in e.lines.iter().enumerate() {
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{:.1}" font-size="{LEGEND_PX}">{}</text>"#,
                sx + SWATCH + PAD,
                sy + 4.0 + k as f64 * LEGEND_LINE,
                esc(line)
            );
        }
    }
}

fn trim_num(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Writes the panels as an SVG file.
pub fn write(path: &Path, panels: &[Panel]) -> std::io::Result<()> {
    std::fs::write(path, render(panels))
}

#[cfg(test)]
#[path = "plot_tests.rs"]
mod tests;
