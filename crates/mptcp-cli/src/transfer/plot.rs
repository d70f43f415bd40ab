//! Hand-written SVG charts of per-subflow and total throughput over time.

use std::fmt::Write as _;
use std::path::Path;

use super::report::TimelinePoint;

/// One chart: a title, the timeline and vertical markers (time, label).
#[derive(Debug, Clone)]
pub struct Panel {
    /// Chart title.
    pub title: String,
    /// Throughput over time.
    pub points: Vec<TimelinePoint>,
    /// Vertical markers, e.g. `(2.5, "path 1 down")`.
    pub markers: Vec<(f64, String)>,
}

const W: f64 = 860.0;
const PANEL_H: f64 = 300.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 230.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 40.0;
const COLORS: [&str; 8] = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A "nice" axis step for a range.
fn nice_step(range: f64, ticks: f64) -> f64 {
    let raw = (range / ticks).max(1e-9);
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    let n = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    n * mag
}

/// Renders the panels as one SVG document.
pub fn render(panels: &[Panel]) -> String {
    let h = TOP + panels.len().max(1) as f64 * (PANEL_H + TOP + BOTTOM);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{h}" viewBox="0 0 {W} {h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    for (i, p) in panels.iter().enumerate() {
        let y0 = TOP + i as f64 * (PANEL_H + TOP + BOTTOM);
        panel(&mut s, p, y0);
    }
    s.push_str("</svg>\n");
    s
}

fn panel(s: &mut String, p: &Panel, y0: f64) {
    let pw = W - LEFT - RIGHT;
    let ph = PANEL_H;
    let tmax = p
        .points
        .iter()
        .map(|q| q.t)
        .fold(0.0, f64::max)
        .max(p.markers.iter().map(|m| m.0).fold(0.0, f64::max))
        .max(1.0);
    let vmax_raw =
        p.points.iter().map(|q| q.total_bps.max(q.flows.values().cloned().fold(0.0, f64::max))).fold(0.0, f64::max)
            / 1e6;
    let ystep = nice_step(vmax_raw.max(1.0), 5.0);
    let vmax = (vmax_raw / ystep).ceil().max(1.0) * ystep;
    let xstep = nice_step(tmax, 8.0);
    let x = |t: f64| LEFT + t / tmax * pw;
    let y = |v: f64| y0 + ph - (v / vmax).min(1.05) * ph;
    let _ = writeln!(
        s,
        r#"<text x="{LEFT}" y="{:.1}" font-size="14" font-weight="bold">{}</text>"#,
        y0 - 12.0,
        esc(&p.title)
    );
    // Grid and axes.
    let mut v = 0.0;
    while v <= vmax + 1e-9 {
        let yy = y(v);
        let _ = writeln!(s, r##"<line x1="{LEFT}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#ddd"/>"##, LEFT + pw);
        let _ =
            writeln!(s, r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#, LEFT - 6.0, yy + 4.0, trim_num(v));
        v += ystep;
    }
    let mut t = 0.0;
    while t <= tmax + 1e-9 {
        let xx = x(t);
        let _ = writeln!(
            s,
            r##"<line x1="{xx:.1}" y1="{:.1}" x2="{xx:.1}" y2="{:.1}" stroke="#888"/>"##,
            y0 + ph,
            y0 + ph + 5.0
        );
        let _ =
            writeln!(s, r#"<text x="{xx:.1}" y="{:.1}" text-anchor="middle">{}</text>"#, y0 + ph + 18.0, trim_num(t));
        t += xstep;
    }
    let _ =
        writeln!(s, r##"<rect x="{LEFT}" y="{y0:.1}" width="{pw:.1}" height="{ph:.1}" fill="none" stroke="#444"/>"##);
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">time (s)</text>"#,
        LEFT + pw / 2.0,
        y0 + ph + 34.0
    );
    let _ = writeln!(
        s,
        r#"<text transform="translate({:.1},{:.1}) rotate(-90)" text-anchor="middle">Mbit/s</text>"#,
        LEFT - 48.0,
        y0 + ph / 2.0
    );
    // Markers.
    for (mt, label) in &p.markers {
        let xx = x(*mt);
        let _ = writeln!(
            s,
            r##"<line x1="{xx:.1}" y1="{y0:.1}" x2="{xx:.1}" y2="{:.1}" stroke="#c00" stroke-dasharray="5,4"/>"##,
            y0 + ph
        );
        let _ = writeln!(s, r##"<text x="{:.1}" y="{:.1}" fill="#c00">{}</text>"##, xx + 4.0, y0 + 14.0, esc(label));
    }
    // Series: every subflow in order of appearance, then the total.
    let mut keys: Vec<&String> = Vec::new();
    for q in &p.points {
        for k in q.flows.keys() {
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
    }
    let mut legend = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        // A subflow that disappears ends its line; one that appears starts one.
        let mut seg = String::new();
        let mut segs = Vec::new();
        for q in &p.points {
            match q.flows.get(*k) {
                Some(v) => {
                    let _ = write!(seg, "{:.1},{:.1} ", x(q.t), y(v / 1e6));
                }
                None if !seg.is_empty() => segs.push(std::mem::take(&mut seg)),
                None => {}
            }
        }
        if !seg.is_empty() {
            segs.push(seg);
        }
        for sg in segs {
            let _ = writeln!(
                s,
                r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="1.5"/>"#,
                sg.trim_end()
            );
        }
        legend.push((color, k.to_string(), 1.5));
    }
    // The total (MPTCP-level data acked, or bytes read) comes in bursts:
    // draw it as a centred 3-point moving average.
    let n = p.points.len();
    let total: String = (0..n)
        .map(|i| {
            let lo = i.saturating_sub(1);
            let hi = (i + 1).min(n - 1);
            let avg = p.points[lo..=hi].iter().map(|q| q.total_bps).sum::<f64>() / (hi - lo + 1) as f64;
            format!("{:.1},{:.1}", x(p.points[i].t), y(avg / 1e6))
        })
        .collect::<Vec<_>>()
        .join(" ");
    if !total.is_empty() {
        let _ = writeln!(s, r##"<polyline points="{total}" fill="none" stroke="#000" stroke-width="2.5"/>"##);
    }
    legend.push(("#000", "total".to_string(), 2.5));
    for (i, (color, label, wdt)) in legend.iter().enumerate() {
        let ly = y0 + 10.0 + i as f64 * 18.0;
        let lx = LEFT + pw + 12.0;
        let _ = writeln!(
            s,
            r#"<line x1="{lx:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{color}" stroke-width="{wdt}"/>"#,
            lx + 20.0
        );
        let _ = writeln!(s, r#"<text x="{:.1}" y="{:.1}" font-size="10">{}</text>"#, lx + 25.0, ly + 4.0, esc(label));
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
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn renders_series_legend_and_markers() {
        let mut flows = BTreeMap::new();
        flows.insert("10.0.0.1:1 -> 10.0.0.2:2".to_string(), 40e6);
        let pts = vec![
            TimelinePoint { t: 0.1, total_bps: 40e6, flows: flows.clone() },
            TimelinePoint { t: 0.2, total_bps: 45e6, flows },
        ];
        let svg = render(&[Panel { title: "a <b>".into(), points: pts, markers: vec![(0.15, "down".into())] }]);
        assert!(svg.starts_with("<svg"));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains("a &lt;b&gt;"));
        assert!(svg.contains("10.0.0.1:1 -&gt; 10.0.0.2:2"));
        assert!(svg.contains(">down<"));
    }

    #[test]
    fn empty_panel_is_still_valid() {
        let svg = render(&[Panel { title: "empty".into(), points: vec![], markers: vec![] }]);
        assert!(svg.contains("total"));
    }

    #[test]
    fn nice_steps() {
        assert_eq!(nice_step(100.0, 5.0), 20.0);
        assert_eq!(nice_step(7.0, 8.0), 1.0);
    }
}
