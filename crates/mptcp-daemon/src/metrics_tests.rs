use super::*;

#[test]
fn netstat_pairs() {
    let render = |t: &str| {
        let mut e = Exposition::default();
        netstat_metrics(&mut e, &MptcpCounters::parse(t).unwrap());
        e.finish()
    };
    let out = render("TcpExt: A B\nTcpExt: 1 2\nMPTcpExt: MPCapableSYNTX MPCurrEstab\nMPTcpExt: 7 3\n");
    let samples: Vec<&str> = out.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(samples, ["mptcp_netstat_total{counter=\"MPCapableSYNTX\"} 7", "mptcp_netstat_current_established 3"]);
    let out = render("TcpExt: A\nTcpExt: 1\n");
    assert!(out.lines().all(|l| l.starts_with('#')), "{out}");
}

#[test]
fn values() {
    assert_eq!(format_value(3.0), "3");
    assert_eq!(format_value(0.0025), "0.0025");
    assert_eq!(format_value(f64::INFINITY), "+Inf");
    assert_eq!(format_value(f64::NAN), "NaN");
    let mut h = crate::engine::Histogram::default();
    h.observe(0.003);
    h.observe(2.0);
    assert_eq!(h.counts[..3], [0, 0, 1]);
    assert_eq!((h.count, h.counts[8]), (2, 1));
}
