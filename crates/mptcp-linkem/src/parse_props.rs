//! Property tests of the parsers: any input parses or fails with an error
//! (never a panic); what is written parses back to the same value; trace
//! files give back their times, and a bad line is named.

use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::Config;

use super::*;

fn config() -> Config {
    Config { cases: 512, failure_persistence: None, ..Config::default() }
}

fn prob() -> impl Strategy<Value = f64> {
    prop_oneof![Just(0.0), Just(1.0), 0.0f64..=1.0]
}

fn dur() -> impl Strategy<Value = Duration> {
    prop_oneof![
        (0u64..10_000).prop_map(Duration::from_millis),
        (0u64..10_000_000).prop_map(Duration::from_micros),
        (0u64..1_000_000_000_000).prop_map(Duration::from_nanos),
    ]
}

fn loss_model() -> impl Strategy<Value = Loss> {
    prop_oneof![
        Just(Loss::None),
        (0.000001f64..=1.0).prop_map(Loss::Bernoulli),
        (prob(), 0.0001f64..=1.0, prob(), prob())
            .prop_map(|(p, r, b, g)| Loss::GilbertElliott(GilbertElliott::new(p, r, b, g).unwrap())),
    ]
}

fn outage_list() -> impl Strategy<Value = Outages> {
    prop_oneof![
        Just(Outages::default()),
        proptest::collection::vec((dur(), (1u64..5_000).prop_map(Duration::from_millis)), 1..4)
            .prop_map(|windows| Outages { windows, period: None }),
        proptest::collection::vec(((0u64..1000), (1u64..1000)), 1..4).prop_map(|w| Outages {
            windows: w.iter().map(|&(s, d)| (Duration::from_millis(s), Duration::from_millis(d))).collect(),
            period: Some(Duration::from_millis(2000)),
        }),
    ]
}

fn link_config() -> impl Strategy<Value = LinkConfig> {
    let rate = prop_oneof![Just(Rate::Unlimited), (1u64..100_000_000_000).prop_map(Rate::Fixed)];
    let queue = prop_oneof![
        Just(QueueLimit::Unlimited),
        (1u64..1 << 40).prop_map(QueueLimit::Bytes),
        (1u64..10_000_000_000).prop_map(|n| QueueLimit::Time(Duration::from_nanos(n))),
    ];
    (rate, dur(), dur(), any::<bool>(), loss_model(), queue, outage_list(), any::<u64>()).prop_map(
        |(rate, delay, jitter, reorder, loss, queue, outages, seed)| LinkConfig {
            rate,
            delay,
            jitter,
            reorder,
            loss,
            queue,
            outages,
            seed,
        },
    )
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1e-300)
}

fn same_loss(a: &Loss, b: &Loss) -> bool {
    match (a, b) {
        (Loss::None, Loss::None) => true,
        (Loss::Bernoulli(x), Loss::Bernoulli(y)) => close(*x, *y),
        (Loss::GilbertElliott(x), Loss::GilbertElliott(y)) => {
            close(x.p, y.p) && close(x.r, y.r) && close(x.loss_bad, y.loss_bad) && close(x.loss_good, y.loss_good)
        }
        _ => false,
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn link_specs_round_trip(c in link_config()) {
        let text = c.to_string();
        let back: LinkConfig = text.parse().map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        prop_assert!(same_loss(&back.loss, &c.loss), "{text}: {:?} vs {:?}", back.loss, c.loss);
        prop_assert_eq!(LinkConfig { loss: c.loss.clone(), ..back }, c);
    }

    #[test]
    fn keys_given_twice_are_refused(c in link_config(), key in 0usize..5) {
        let extra = ["rate=1mbit", "delay=1ms", "loss=1%", "seed=1", "jitter=1ms"][key];
        let text = format!("{c} {extra}");
        let e = text.parse::<LinkConfig>().unwrap_err().to_string();
        prop_assert!(e.contains("is given twice"), "{text}: {e}");
    }

    #[test]
    fn arbitrary_specs_never_panic(s in "((rate|delay|jitter|loss|queue|outage|seed|reorder|x)(=)?([0-9.]{0,6}(mbit|kbit|ms|s|us|%|kb|b|bps)?|ge:|gemodel:|trace:|,|\\+|/|none|unlimited)*[ ;]?){0,6}") {
        let _ = s.parse::<LinkConfig>();
    }

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,40}") {
        let _ = rate_bps(&s);
        let _ = duration(&s);
        let _ = percent(&s);
        let _ = size_bytes(&s);
        let _ = loss(&s);
        let _ = queue(&s);
        let _ = outages(&s);
        let _ = s.parse::<LinkConfig>();
    }

    #[test]
    fn rates_scale_by_their_unit(n in 1u64..1_000_000, unit in 0usize..4) {
        let (name, scale) = [("bit", 1), ("kbit", 1_000), ("mbit", 1_000_000), ("gbit", 1_000_000_000)][unit];
        prop_assert_eq!(rate_bps(&format!("{n}{name}")).unwrap(), n * scale);
        prop_assert_eq!(rate_bps(&format!("{n}{}", name.to_uppercase())).unwrap(), n * scale);
        let bytes = format!("{n}{}ps", &name[..name.len() - 3]);
        prop_assert!(rate_bps(&bytes).is_err(), "{bytes} is ambiguous and refused");
    }

    #[test]
    fn times_scale_by_their_unit(n in 1u64..1_000_000, unit in 0usize..4) {
        let (name, ns) = [("s", 1_000_000_000), ("ms", 1_000_000), ("us", 1_000), ("ns", 1)][unit];
        prop_assert_eq!(duration(&format!("{n}{name}")).unwrap(), Duration::from_nanos(n * ns));
        prop_assert!(duration(&n.to_string()).is_err(), "a bare number is refused");
    }

    #[test]
    fn sizes_use_tc_units(n in 0u64..1_000_000) {
        prop_assert_eq!(size_bytes(&format!("{n}kb")).unwrap(), n * 1024);
        prop_assert_eq!(size_bytes(&format!("{n}b")).unwrap(), n);
        prop_assert_eq!(size_bytes(&format!("{n}mb")).unwrap(), n * 1024 * 1024);
    }

    #[test]
    fn ge_mean_form_gives_its_mean(loss_pct in 0.01f64..20.0, burst in 1.0f64..20.0) {
        let p = loss_pct / 100.0;
        match loss(&format!("ge:{loss_pct}%,{burst}")) {
            Ok(Loss::GilbertElliott(ge)) => {
                prop_assert!((ge.mean_loss() - p).abs() < 1e-9);
                prop_assert!((ge.mean_burst() - burst).abs() < 1e-9);
            }
            Ok(other) => prop_assert!(false, "{other:?}"),
            // Only when p would exceed 1: high loss with short bursts.
            Err(e) => prop_assert!(p / burst / (1.0 - p) > 1.0, "{e}"),
        }
    }

    #[test]
    fn traces_give_back_their_times(mut times in proptest::collection::vec(0u64..100_000, 1..200), last in 1u64..100_000) {
        times.sort_unstable();
        let last = last.max(*times.last().unwrap()).max(1);
        times.push(last);
        let text: String = times.iter().map(|t| format!("{t}\n")).collect();
        let t = Trace::parse(&text, "p.trace").unwrap();
        prop_assert_eq!(t.times_ms(), &times[..]);
        prop_assert_eq!(t.period_ms(), last);
        // Opportunities never go back in time, across loops.
        let n = times.len() as u64;
        let mut prev = 0;
        for k in 0..3 * n {
            let at = t.opportunity(k);
            prop_assert!(at >= prev);
            prev = at;
            let first = t.first_at_or_after(at);
            prop_assert!(t.opportunity(first) == at && first <= k, "k={} first={}", k, first);
        }
    }

    #[test]
    fn a_bad_trace_line_is_named(good in proptest::collection::vec(1u64..1000, 0..20), bad in "[a-z\\-][a-z0-9 .]{0,5}") {
        let mut good = good;
        good.sort_unstable();
        let mut text: String = good.iter().map(|t| format!("{t}\n")).collect();
        text.push_str(&bad);
        text.push('\n');
        let e = Trace::parse(&text, "bad.trace").unwrap_err().to_string();
        let want = format!("trace bad.trace, line {}:", good.len() + 1);
        prop_assert!(e.starts_with(&want), "{e}");
    }

    #[test]
    fn a_decreasing_trace_is_refused(a in 2u64..1000, b in 1u64..1000) {
        prop_assume!(b < a);
        let e = Trace::parse(&format!("{a}\n{b}\n"), "d.trace").unwrap_err().to_string();
        prop_assert!(e.contains("line 2") && e.contains("must not decrease"), "{e}");
    }

    #[test]
    fn arbitrary_trace_text_never_panics(s in "([0-9]{0,6}|#.*| |-|x)(\n([0-9]{0,6}|#.*| |-|x)){0,30}") {
        if let Ok(t) = Trace::parse(&s, "a.trace") {
            prop_assert!(t.period_ms() > 0);
            let _ = t.mean_rate_bps();
        }
    }
}
