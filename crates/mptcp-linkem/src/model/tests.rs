//! Statistical tests of the model: large samples, fixed seeds, tolerances
//! of several standard deviations (the seeds make them deterministic; the
//! tolerances make them honest).

use std::sync::Arc;
use std::time::Duration;

use super::*;

const MS: u64 = 1_000_000;

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

fn link(spec: &str) -> Link {
    Link::new(spec.parse().unwrap()).unwrap()
}

/// Offers `n` packets of `len` bytes, `gap` apart from time 0.
fn run(l: &mut Link, n: u64, gap: Duration, len: u32) -> Vec<Decision> {
    (0..n).map(|i| l.offer(gap * i as u32, len)).collect()
}

fn losses(d: &[Decision]) -> u64 {
    d.iter().filter(|d| **d == Decision::Drop(Cause::Loss)).count() as u64
}

/// Lengths of the runs of consecutive losses.
fn bursts(d: &[Decision]) -> Vec<u64> {
    let mut out = Vec::new();
    let mut run = 0;
    for x in d {
        if *x == Decision::Drop(Cause::Loss) {
            run += 1;
        } else if run > 0 {
            out.push(run);
            run = 0;
        }
    }
    if run > 0 {
        out.push(run);
    }
    out
}

fn releases(d: &[Decision]) -> Vec<u64> {
    d.iter()
        .filter_map(|d| match d {
            Decision::Release(t) => Some(t.as_nanos() as u64),
            Decision::Drop(_) => None,
        })
        .collect()
}

#[test]
fn bernoulli_rate_matches_the_probability() {
    for (p, seed) in [(0.001, 1u64), (0.01, 2), (0.05, 3)] {
        let n = 2_000_000u64;
        let mut l = link(&format!("loss={}% seed={seed}", p * 100.0));
        let d = run(&mut l, n, Duration::from_micros(10), 100);
        let got = losses(&d) as f64 / n as f64;
        let sigma = (p * (1.0 - p) / n as f64).sqrt();
        assert!((got - p).abs() < 5.0 * sigma, "p={p}: measured {got}, 5 sigma = {}", 5.0 * sigma);
        // Independent losses: mean burst length 1 / (1 - p).
        let b = bursts(&d);
        let mean_burst = b.iter().sum::<u64>() as f64 / b.len() as f64;
        assert!((mean_burst - 1.0 / (1.0 - p)).abs() < 0.02, "p={p}: mean burst {mean_burst}");
        assert_eq!(l.loss_bursts(), b.len() as u64);
    }
}

#[test]
fn gilbert_elliott_mean_loss_and_burst_length() {
    for (loss, burst, seed) in [(0.01, 4.0, 11u64), (0.05, 2.0, 12), (0.002, 10.0, 13)] {
        let n = 4_000_000u64;
        let mut l = link(&format!("loss=ge:{}%,{burst} seed={seed}", loss * 100.0));
        let d = run(&mut l, n, Duration::from_micros(10), 100);
        let got = losses(&d) as f64 / n as f64;
        let b = bursts(&d);
        let mean_burst = b.iter().sum::<u64>() as f64 / b.len() as f64;
        // Bursts are geometric (mean B, variance B(B-1)); about n*loss/B of them.
        let nb = n as f64 * loss / burst;
        let burst_sigma = (burst * (burst - 1.0) / nb).sqrt();
        assert!(
            (mean_burst - burst).abs() < 5.0 * burst_sigma + 0.01,
            "ge {loss},{burst}: mean burst {mean_burst}, 5 sigma {}",
            5.0 * burst_sigma
        );
        // Losses come in bursts: the relative sigma of the loss count is
        // about sqrt((2B^2 - B) / bursts) / B.
        let rel_sigma = ((2.0 * burst * burst - burst) / nb).sqrt() / burst;
        assert!((got - loss).abs() / loss < 5.0 * rel_sigma, "ge {loss},{burst}: measured loss {got}");
    }
}

#[test]
fn gilbert_elliott_raw_form_follows_its_stationary_rate() {
    // netem's gemodel with losses in both states.
    let ge = GilbertElliott::new(0.02, 0.2, 0.5, 0.01).unwrap();
    let mut l = Link::new(LinkConfig { loss: Loss::GilbertElliott(ge), seed: 5, ..Default::default() }).unwrap();
    let n = 2_000_000u64;
    let d = run(&mut l, n, Duration::from_micros(10), 100);
    let got = losses(&d) as f64 / n as f64;
    assert!((got - ge.mean_loss()).abs() / ge.mean_loss() < 0.05, "{got} vs {}", ge.mean_loss());
}

#[test]
fn jitter_standard_deviation_and_mean() {
    for (delay, jitter) in [(50u64, 5u64), (10, 2), (200, 20)] {
        let mut l = link(&format!("delay={delay}ms jitter={jitter}ms seed=9"));
        // Packets far apart: the no-reordering rule never holds one back.
        let gap = ms(10 * jitter + delay);
        let n = 100_000u64;
        let d = run(&mut l, n, gap, 100);
        let extra: Vec<f64> = releases(&d)
            .iter()
            .enumerate()
            .map(|(i, t)| (*t as f64 - (gap.as_nanos() as f64 * i as f64)) / MS as f64 - delay as f64)
            .collect();
        let mean = extra.iter().sum::<f64>() / n as f64;
        let sd = (extra.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
        assert!(mean.abs() < 5.0 * jitter as f64 / (n as f64).sqrt(), "{delay}/{jitter}: mean extra {mean} ms");
        assert!((sd - jitter as f64).abs() / (jitter as f64) < 0.02, "{delay}/{jitter}: sd {sd} ms");
    }
}

#[test]
fn delay_without_jitter_is_exact() {
    let mut l = link("delay=37ms");
    for i in 0..1000 {
        assert_eq!(l.offer(ms(i), 1500), Decision::Release(ms(i + 37)));
    }
}

#[test]
fn no_reordering_unless_asked() {
    // Jitter much larger than the spacing: without the rule, order would break.
    let mut l = link("delay=20ms jitter=10ms seed=4");
    let r = releases(&run(&mut l, 50_000, Duration::from_micros(100), 100));
    assert!(r.windows(2).all(|w| w[0] <= w[1]), "a packet left before the one ahead of it");
    let mut l = link("delay=20ms jitter=10ms seed=4 reorder");
    let r = releases(&run(&mut l, 50_000, Duration::from_micros(100), 100));
    let inversions = r.windows(2).filter(|w| w[0] > w[1]).count();
    assert!(inversions > 10_000, "reorder asked, only {inversions} inversions");
}

#[test]
fn fixed_rate_releases_bytes_at_the_rate() {
    for (rate, spec) in [(10_000_000u64, "10mbit"), (100_000_000, "100mbit"), (1_000_000_000, "1gbit")] {
        let mut l = link(&format!("rate={spec}"));
        // Offered at twice the rate for 2 s worth of arrivals.
        let len = 1500u32;
        let gap = Duration::from_nanos(u64::from(len) * 8 * 1_000_000_000 / rate / 2);
        let n = 2 * 2 * rate / 8 / u64::from(len);
        let r = releases(&run(&mut l, n, gap, len));
        assert_eq!(r.len() as u64, n, "unlimited queue: nothing dropped");
        // Bytes released per second over the busy period.
        let secs = *r.last().unwrap() as f64 / 1e9;
        let bps = (n * u64::from(len) * 8) as f64 / secs;
        assert!((bps / rate as f64 - 1.0).abs() < 1e-3, "{spec}: {bps} bit/s");
        // Each packet leaves exactly one serialization time after the one before.
        let tx = u64::from(len) * 8 * 1_000_000_000 / rate;
        assert!(r.windows(2).all(|w| w[1] - w[0] == tx));
    }
}

#[test]
fn unlimited_rate_adds_nothing() {
    let mut l = link("rate=unlimited");
    let d = run(&mut l, 1000, Duration::ZERO, 65_000);
    assert!(d.iter().all(|d| *d == Decision::Release(Duration::ZERO)));
    assert_eq!(l.queue_bytes(), 0);
}

fn constant_trace(per_ms: usize, ms_count: u64) -> Trace {
    let mut s = String::new();
    for t in 1..=ms_count {
        for _ in 0..per_ms {
            s.push_str(&format!("{t}\n"));
        }
    }
    Trace::parse(&s, "test").unwrap()
}

#[test]
fn constant_trace_delivers_its_rate() {
    // One opportunity per ms: 12 Mbit/s.
    let trace = Arc::new(constant_trace(1, 1000));
    assert_eq!(trace.mean_rate_bps(), 12_000_000);
    let cfg = LinkConfig { rate: Rate::Trace(trace), ..Default::default() };
    let mut l = Link::new(cfg).unwrap();
    // Saturate it for 5 s (two packets offered per ms), over several loops of the trace.
    let r = releases(&run(&mut l, 10_000, Duration::from_micros(500), 1500));
    let five_s = 5_000 * MS;
    let delivered = r.iter().filter(|&&t| t <= five_s).count() as f64 * 1500.0 * 8.0 / 5.0;
    assert!((delivered / 12e6 - 1.0).abs() < 0.01, "{delivered} bit/s");
    // Releases fall on opportunities: whole milliseconds.
    assert!(r.iter().all(|t| t % MS == 0));
}

#[test]
fn small_packets_share_an_opportunity() {
    let trace = Arc::new(constant_trace(1, 10));
    let mut l = Link::new(LinkConfig { rate: Rate::Trace(trace), ..Default::default() }).unwrap();
    // Three 500-byte packets fit in the first opportunity (1 ms), the fourth takes the next.
    let r = releases(&run(&mut l, 4, Duration::ZERO, 500));
    assert_eq!(r, vec![MS, MS, MS, 2 * MS]);
    // A 3000-byte packet needs two opportunities.
    let mut l =
        Link::new(LinkConfig { rate: Rate::Trace(Arc::new(constant_trace(1, 10))), ..Default::default() }).unwrap();
    assert_eq!(releases(&run(&mut l, 1, Duration::ZERO, 3000)), vec![2 * MS]);
}

#[test]
fn varying_trace_is_followed() {
    // 1 opportunity per ms for 500 ms, then 4 per ms for 500 ms: 12 then 48 Mbit/s.
    let mut s = String::new();
    for t in 1..=1000u64 {
        for _ in 0..(if t <= 500 { 1 } else { 4 }) {
            s.push_str(&format!("{t}\n"));
        }
    }
    let trace = Arc::new(Trace::parse(&s, "varying").unwrap());
    let mut l = Link::new(LinkConfig { rate: Rate::Trace(trace), ..Default::default() }).unwrap();
    // Offer 64 Mbit/s (more than either) for 4 loops of the trace, queue unlimited.
    let gap = Duration::from_nanos(1500 * 8 * 1000 / 64);
    let r = releases(&run(&mut l, 4 * 1000 * 64 / 12, gap, 1500));
    // Delivered per 100 ms bin: 12 Mbit/s = 100 packets, 48 Mbit/s = 400 packets.
    let mut bins = vec![0u32; 40];
    for t in r {
        if let Some(b) = bins.get_mut((t / (100 * MS)) as usize) {
            *b += 1;
        }
    }
    for (i, &n) in bins.iter().enumerate().take(20).skip(1) {
        let want = if (i % 10) < 5 { 100 } else { 400 };
        // The bin holding the 500 ms switch counts opportunities of both.
        if i % 10 == 5 || i % 10 == 0 {
            continue;
        }
        assert_eq!(n, want, "bin {i}: {bins:?}");
    }
}

#[test]
fn byte_queue_limit_drops_the_tail() {
    let mut l = link("rate=12mbit queue=15000b");
    let d = run(&mut l, 100, Duration::ZERO, 1500);
    let ok = d.iter().filter(|d| matches!(d, Decision::Release(_))).count();
    assert_eq!(ok, 10);
    assert!(d[10..].iter().all(|d| *d == Decision::Drop(Cause::QueueFull)));
    assert_eq!(l.queue_bytes(), 15000);
    // Once the server has sent some, there is room again: 1 ms per packet at 12 Mbit/s.
    assert!(matches!(l.offer(ms(1), 1500), Decision::Release(_)));
    assert!(matches!(l.offer(ms(1), 1500), Decision::Drop(Cause::QueueFull)));
}

#[test]
fn time_queue_limit_bounds_the_wait() {
    // 1 ms per 1500-byte packet; a packet may wait at most 10 ms.
    let mut l = link("rate=12mbit queue=10ms");
    let d = run(&mut l, 100, Duration::ZERO, 1500);
    let ok = d.iter().filter(|d| matches!(d, Decision::Release(_))).count();
    assert_eq!(ok, 11, "waits of 0..=10 ms are taken");
    let worst = releases(&d).into_iter().max().unwrap();
    assert_eq!(worst, 11 * MS);
    // An empty queue always takes a packet, even one larger than the limit.
    let mut l = link("rate=12mbit queue=100b");
    assert!(matches!(l.offer(Duration::ZERO, 1500), Decision::Release(_)));
    assert_eq!(l.offer(Duration::ZERO, 1500), Decision::Drop(Cause::QueueFull));
}

#[test]
fn outages_drop_everything_inside_and_nothing_outside() {
    let mut l = link("delay=5ms outage=100ms+50ms,300ms+10ms/1s");
    for t in 0..3000u64 {
        let d = l.offer(ms(t), 100);
        let inside = matches!(t % 1000, 100..=149 | 300..=309);
        if inside {
            assert_eq!(d, Decision::Drop(Cause::Outage), "t={t}");
        } else {
            assert_eq!(d, Decision::Release(ms(t + 5)), "t={t}");
        }
    }
    // Without a period, only once.
    let mut l = link("outage=100ms+50ms");
    assert_eq!(l.offer(ms(120), 1), Decision::Drop(Cause::Outage));
    assert!(matches!(l.offer(ms(1120), 1), Decision::Release(_)));
}

#[test]
fn the_same_seed_gives_the_same_decisions() {
    let spec = "rate=50mbit delay=10ms jitter=3ms loss=ge:2%,3 queue=20ms";
    let a = run(&mut link(&format!("{spec} seed=42")), 100_000, Duration::from_micros(150), 1200);
    let b = run(&mut link(&format!("{spec} seed=42")), 100_000, Duration::from_micros(150), 1200);
    let c = run(&mut link(&format!("{spec} seed=43")), 100_000, Duration::from_micros(150), 1200);
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn ge_constructor_checks_its_input() {
    assert!(GilbertElliott::from_mean(1.0, 4.0).is_err());
    assert!(GilbertElliott::from_mean(0.01, 0.5).is_err());
    assert!(GilbertElliott::from_mean(0.9, 1.0).is_err(), "p would exceed 1");
    assert!(GilbertElliott::new(0.0, 0.0, 1.0, 0.0).is_err());
    assert!(GilbertElliott::new(1.5, 0.1, 1.0, 0.0).is_err());
    assert!(GilbertElliott::new(f64::NAN, 0.1, 1.0, 0.0).is_err());
}
