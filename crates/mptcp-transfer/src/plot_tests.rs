use std::collections::BTreeMap;

use super::*;

/// Points every 100 ms up to `secs`, each subflow of `flows` at its rate
/// (Mbit/s), the total their sum.
fn points(secs: f64, flows: &[(&str, f64)]) -> Vec<TimelinePoint> {
    (1..=(secs * 10.0) as usize)
        .map(|i| {
            let map: BTreeMap<String, f64> = flows.iter().map(|(k, v)| (k.to_string(), v * 1e6)).collect();
            TimelinePoint { t: i as f64 / 10.0, total_bps: map.values().sum(), flows: map, rtt_us: BTreeMap::new() }
        })
        .collect()
}

fn limit(mbps: f64) -> Vec<Limit> {
    vec![Limit { from: 0.0, bps: mbps * 1e6, label: format!("limit {mbps} Mbit/s") }]
}

/// The y-axis tick labels of each panel, in order.
fn y_ticks(svg: &str) -> Vec<Vec<String>> {
    let mut panels = Vec::new();
    for line in svg.lines() {
        if line.contains("<clipPath") {
            panels.push(Vec::new());
        }
        if let Some(rest) = line.strip_prefix(&format!(r#"<text x="{:.1}" "#, LEFT - 6.0)) {
            let v = rest.split('>').nth(1).unwrap().split('<').next().unwrap();
            panels.last_mut().unwrap().push(v.to_string());
        }
    }
    panels
}

#[test]
fn renders_bands_total_limit_markers_stall_and_drain() {
    let mut p = Panel {
        title: "a <b>".into(),
        points: points(2.0, &[("10.0.0.1:1 -> 10.0.0.2:2", 40.0), ("10.0.1.1:3 -> 10.0.1.2:2", 40.0)]),
        markers: vec![(1.0, "path 1 down".into())],
        limits: limit(94.1),
        ..Panel::default()
    };
    p.shade = Some(Shade { from: 1.0, to: 1.3, label: "stall 300 ms".into(), legend: "stall".into() });
    p.sent_until = Some(1.8);
    let svg = render(&[p]);
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\""));
    assert!(svg.trim_end().ends_with("</svg>"));
    // Two bands (filled and edged) and the total.
    assert_eq!(svg.matches("<polygon").count(), 2);
    assert_eq!(svg.matches("<polyline").count(), 3);
    assert!(svg.contains("a &lt;b&gt;"));
    assert!(svg.contains("subflow 10.0.0.1:1 -&gt; 10.0.0.2:2"));
    for text in [">path 1 down<", ">stall 300 ms<", ">limit 94.1 Mbit/s<", ">drain<", ">total<"] {
        assert!(svg.contains(text), "{text} missing");
    }
    assert!(svg.contains("after 1.8 s: the sender has stopped"));
    // The second band is stacked on the first: its top edge is at 80 Mbit/s.
    let sc = Scale::of(&[Panel { points: points(2.0, &[("a", 80.0)]), limits: limit(94.1), ..Panel::default() }]);
    assert_eq!(sc.vmax, 125.0);
}

#[test]
fn the_legend_gives_each_subflow_s_median_rtt() {
    let mut pts = points(1.0, &[("a", 10.0), ("b", 10.0)]);
    for (i, q) in pts.iter_mut().enumerate() {
        q.rtt_us.insert("a".into(), 20_000 + i as u32 * 100);
        if i > 0 {
            q.rtt_us.insert("b".into(), 121_400);
        }
    }
    let svg = render(&[Panel { points: pts, ..Panel::default() }]);
    assert!(svg.contains("subflow a, RTT 20.5 ms (median)"), "{svg}");
    assert!(svg.contains("subflow b, RTT 121 ms (median)"));
    let none = render(&[Panel { points: points(1.0, &[("c", 1.0)]), ..Panel::default() }]);
    assert!(none.contains("subflow c<") || none.contains(">subflow c"), "no RTT, no suffix");
    assert_eq!(fmt_ms(0.25), "0.25 ms");
}

#[test]
fn every_panel_has_the_same_scale() {
    let panels = vec![
        Panel { title: "tcp".into(), points: points(5.0, &[("a", 47.0)]), limits: limit(47.8), ..Panel::default() },
        Panel {
            title: "mptcp".into(),
            points: points(5.2, &[("a", 47.0), ("b", 47.0)]),
            limits: limit(94.1),
            ..Panel::default()
        },
        Panel { title: "slow".into(), points: points(3.0, &[("a", 5.0)]), ..Panel::default() },
    ];
    let sc = Scale::of(&panels);
    assert_eq!((sc.vmax, sc.vstep), (125.0, 25.0), "10% above the highest limit, on a nice step");
    assert_eq!(sc.tmax, 5.2);
    let ticks = y_ticks(&render(&panels));
    assert_eq!(ticks.len(), 3);
    assert_eq!(ticks[0], ["0", "25", "50", "75", "100", "125"]);
    assert!(ticks.iter().all(|t| *t == ticks[0]), "{ticks:?}");
    // The same time axis too: every panel ends at 5.2 s.
    let svg = render(&panels);
    assert_eq!(svg.matches(">5<").count(), 3);
}

#[test]
fn peaks_far_above_the_limit_are_clipped_and_labelled() {
    let mut pts = points(2.0, &[("a", 47.0)]);
    pts[12].total_bps = 141e6;
    let panels = [Panel { points: pts, limits: limit(47.0), ..Panel::default() }];
    let sc = Scale::of(&panels);
    // At most 30% above the limit (61.1), up to the next step of 20.
    assert_eq!(sc.vmax, 80.0);
    assert!(render(&panels).contains(">\u{2191} 141<"));
    // Without a limit the scale reaches the highest rate.
    let mut pts = points(2.0, &[("a", 47.0)]);
    pts[3].total_bps = 141e6;
    assert_eq!(Scale::of(&[Panel { points: pts, ..Panel::default() }]).vmax, 150.0);
}

#[test]
fn legends_fit_the_canvas_with_long_ipv6_addresses() {
    let keys: Vec<String> = (0..6)
        .map(|i| {
            format!(
                "[2001:db8:aaaa:bbbb:cccc:dddd:eeee:{i:04x}]:65535 -> [2001:db8:1111:2222:3333:4444:5555:6666]:5201"
            )
        })
        .collect();
    let flows: Vec<(&str, f64)> = keys.iter().map(|k| (k.as_str(), 10.0)).collect();
    let mut p = Panel {
        title: format!("failover-daemon: path 1 down, {}", "a very long title ".repeat(8)),
        points: points(3.0, &flows),
        limits: limit(60.0),
        sent_until: Some(2.5),
        ..Panel::default()
    };
    p.shade = Some(Shade { from: 1.0, to: 1.2, label: "stall 200 ms".into(), legend: "stall: ".repeat(30) });
    let panels = vec![p.clone(), p];
    let svg = render(&panels);
    let height: f64 = svg.split("height=\"").nth(1).unwrap().split('"').next().unwrap().parse().unwrap();
    let mut top = TOP;
    for p in &panels {
        let l = layout(p, top);
        assert!(l.title.len() > 1, "the long title wraps");
        assert!(l.title.iter().all(|t| LEFT + text::width(t, TITLE_PX) <= W));
        assert_eq!(l.legend.len(), 6 + 4);
        for e in &l.legend {
            let (x0, y0, x1, y1) = e.text_box();
            assert!(e.x >= 0.0 && x0 >= 0.0 && x1 <= W - RIGHT, "{e:?} runs off: {x0}..{x1}");
            assert!(y0 > l.plot_top + PLOT_H && y1 <= l.bottom + 1.0 && y1 < height, "{e:?}: {y0}..{y1}");
        }
        // Entries do not overlap.
        for (i, a) in l.legend.iter().enumerate() {
            for b in &l.legend[i + 1..] {
                let (a0, a1, b0, b1) = (a.text_box(), a.text_box(), b.text_box(), b.text_box());
                let apart = a1.2 <= b0.0 - SWATCH || b1.2 <= a0.0 - SWATCH || a1.3 <= b0.1 || b1.3 <= a0.1;
                assert!(apart, "{a:?} overlaps {b:?}");
            }
        }
        top = l.bottom + PANEL_GAP;
    }
    assert!(svg.contains("[2001:db8:aaaa:bbbb:cccc:dddd:eeee:0000]:65535"));
}

#[test]
fn intervals_start_where_the_previous_point_ended() {
    let pts = points(0.3, &[("a", 1.0)]);
    let iv = intervals(&pts);
    let near = |a: f64, b: f64| (a - b).abs() < 1e-9;
    assert!(near(iv[0].0, 0.0) && near(iv[0].1, 0.1));
    assert!(near(iv[2].0, 0.2) && near(iv[2].1, 0.3));
    assert!(intervals(&[]).is_empty());
}

#[test]
fn empty_panel_is_still_valid() {
    let svg = render(&[Panel { title: "empty".into(), ..Panel::default() }]);
    assert!(svg.contains(">total<") && svg.trim_end().ends_with("</svg>"));
    assert!(!svg.contains("NaN") && !svg.contains("inf"));
}

#[test]
fn nice_steps() {
    assert_eq!(nice_step(100.0, 5.0), 20.0);
    assert_eq!(nice_step(7.0, 8.0), 1.0);
    assert_eq!(nice_step(122.0, 5.0), 25.0);
    assert_eq!(nice_step(5.2, 10.0), 1.0);
}

#[test]
fn only_svg_1_1_elements_and_attributes() {
    let mut p = Panel {
        title: "all features".into(),
        points: points(2.0, &[("a", 40.0), ("b", 40.0)]),
        markers: vec![(1.0, "down".into())],
        limits: limit(47.0),
        sent_until: Some(1.5),
        ..Panel::default()
    };
    p.points[4].total_bps = 500e6;
    p.shade = Some(Shade { from: 1.0, to: 1.2, label: "stall".into(), legend: "stall".into() });
    let svg = render(&[p]);
    let elements = ["svg", "rect", "line", "text", "defs", "clipPath", "g", "polygon", "polyline"];
    let attributes = [
        "xmlns",
        "version",
        "width",
        "height",
        "viewBox",
        "font-family",
        "font-size",
        "font-weight",
        "x",
        "y",
        "x1",
        "y1",
        "x2",
        "y2",
        "fill",
        "fill-opacity",
        "stroke",
        "stroke-width",
        "stroke-dasharray",
        "stroke-linejoin",
        "text-anchor",
        "transform",
        "id",
        "clip-path",
        "points",
    ];
    for tag in svg.split('<').skip(1).filter(|t| !t.starts_with('/')) {
        let name = tag.split([' ', '>', '/']).next().unwrap();
        assert!(elements.contains(&name), "element {name}");
        let head = tag.split('>').next().unwrap();
        for attr in head.split('"').step_by(2).filter_map(|a| a.trim().strip_suffix('=')) {
            let attr = attr.split_whitespace().last().unwrap();
            assert!(attributes.contains(&attr), "attribute {attr} of {name}");
        }
    }
    assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count());
    assert_eq!(svg.matches("<g ").count(), svg.matches("</g>").count());
}
