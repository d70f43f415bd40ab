//! A bench client's test: the control connection (which proves the peer is
//! an `mptcp bench server` before any data moves), then `-P` data
//! connections per direction at once, watched by the [`ticker`],
//! summed into a [`TestReport`].

use std::net::{Shutdown, TcpStream};
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::aggregate::{StreamEntry, TestFacts, TestReport};
use super::checksum::random_seed;
use super::proto::{printable, Direction, Hello, Kind, Mode, Reply, REPLY_LEN};
use super::report::Role;
use super::sampler::{Progress, Sample};
use super::session::{self, ClientConfig, OnSample, TestRef};
use super::ticker::{self, Interval, Probe, Probes};
use super::timed::{meaning, secs, Limits, Timed};
use crate::error::{bail, Context};
use crate::{Error, Result};

/// A throughput test.
#[derive(Debug, Clone)]
pub struct TestConfig {
    /// Everything one connection needs; `bytes` is the whole test's per
    /// direction, `direction` the direction when not `bidir`.
    pub base: ClientConfig,
    /// Connections per direction (`-P`).
    pub parallel: u16,
    /// Both directions at once.
    pub bidir: bool,
    /// Interval of the interval report.
    pub report_interval: Option<Duration>,
}

/// A random, non-zero test id.
pub fn new_test_id() -> u64 {
    random_seed() | 1
}

/// The control hello of a test.
pub fn control_hello(base: &ClientConfig, mode: Mode, test_id: u64, streams: u16) -> Hello {
    let mut h = base.hello();
    h.kind = Kind::Control;
    h.mode = mode;
    h.test_id = test_id;
    h.streams = streams;
    h.index = 0;
    h
}

/// Checks the hello ([`Hello::validate`]), opens the control connection and
/// waits for the server's consent. The errors say what the peer did
/// instead: answered something else (shown), closed the connection, or said
/// nothing for the stall limit.
pub fn open_control(base: &ClientConfig, hello: &Hello) -> Result<TcpStream> {
    let target = &base.target;
    hello.validate().map_err(|reason| Error::Protocol(format!("cannot ask {target} for this test: {reason}")))?;
    let stream = session::connect(base)?;
    let mut timed = Timed::new(&stream, Limits::stall(base.stall));
    timed
        .write_all(&hello.encode())
        .map_err(|e| Error::Protocol(format!("sending the bench request to {target}: {}", meaning(&e))))?;
    let mut head = [0u8; REPLY_LEN];
    let mut got = 0;
    while got < REPLY_LEN {
        match timed.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => bail!(
                "timed out: {target} accepted the connection but sent no answer to the bench request for {}: it is \
                 not an `mptcp bench server`, or it is stuck",
                secs(base.stall)
            ),
            Err(e) if got == 0 => bail!(
                "{target} closed the connection without answering the bench request ({}): it is not an `mptcp \
                 bench server`, or one of another version",
                meaning(&e)
            ),
            Err(_) => break,
        }
    }
    if got < REPLY_LEN {
        if got == 0 {
            bail!(
                "{target} closed the connection without answering the bench request: it is not an `mptcp bench \
                 server` (or one of an older version)"
            );
        }
        bail!("{target} is not an `mptcp bench server`: it answered {}", printable(&head[..got]));
    }
    match Reply::decode(&head, &mut &stream).context("reading the server's answer")? {
        Ok(Reply::Accept { test_id }) if test_id == hello.test_id => Ok(stream),
        Ok(Reply::Accept { .. }) => bail!("{target} accepted another test than ours"),
        Ok(Reply::Refuse(reason)) => bail!("{target} refused the test: {reason}"),
        Err(head) => {
            let mut more = vec![0u8; 200];
            let n = timed.read_available(&mut more);
            let answer = [&head[..], &more[..n]].concat();
            bail!("{target} is not an `mptcp bench server`: it answered {}", printable(&answer))
        }
    }
}

/// Ends a test on the control connection: our half closes, which tells the
/// server to report the test.
pub fn close_control(control: &TcpStream) {
    let _ = control.shutdown(Shutdown::Write);
}

/// Callbacks of a running test.
pub struct Observer<'a> {
    /// Each finished interval (`-i`).
    pub on_interval: &'a mut (dyn FnMut(&Interval) + Send),
    /// The sample history: per subflow with one connection, per connection
    /// with several (the live view).
    pub on_sample: &'a mut (dyn FnMut(&[Sample]) + Send),
}

impl std::fmt::Debug for Observer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observer").finish_non_exhaustive()
    }
}

/// Runs a throughput test.
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use mptcp_transfer::client::{self, Observer, TestConfig};
/// use mptcp_transfer::proto::Direction;
/// use mptcp_transfer::session::ClientConfig;
///
/// let base = ClientConfig::new("10.0.0.2:5201", Direction::Download, Duration::from_secs(5));
/// let cfg = TestConfig { base, parallel: 4, bidir: false, report_interval: Some(Duration::from_secs(1)) };
/// let report = client::run_test(
///     &cfg,
///     Observer { on_interval: &mut |i| println!("{:.1} Mbit/s", i.download_bps / 1e6), on_sample: &mut |_| {} },
/// )?;
/// println!("{:?} Mbit/s over {} connections", report.goodput_bps.map(|b| b / 1e6), report.connections);
/// # Ok::<(), mptcp_transfer::Error>(())
/// ```
pub fn run_test(cfg: &TestConfig, obs: Observer<'_>) -> Result<TestReport> {
    let base = &cfg.base;
    let plan = streams_of(cfg);
    let total = plan.len() as u16;
    let test_id = new_test_id();
    let control = open_control(base, &control_hello(base, Mode::Stream, test_id, total))?;
    let peer = control.peer_addr().map(|a| a.to_string()).unwrap_or_else(|_| base.target.clone());
    let t0 = Instant::now();
    let probes = Probes::default();
    let stop = AtomicBool::new(false);
    let Observer { on_interval, on_sample } = obs;
    let single = plan.len() == 1;
    let (mut stream_live, mut ticker_live): (Option<OnSample<'_>>, _) =
        if single { (Some(on_sample), None) } else { (None, Some(on_sample)) };
    let (entries, ticks) = std::thread::scope(|s| {
        let ticker = s.spawn(|| {
            let mut none = |_: &[Sample]| {};
            let live: &mut (dyn FnMut(&[Sample]) + Send) = match ticker_live.take() {
                Some(l) => l,
                None => &mut none,
            };
            ticker::run(&probes, t0, base.interval, cfg.report_interval, &stop, on_interval, live)
        });
        let handles: Vec<_> = plan
            .iter()
            .map(|&(index, direction, bytes)| {
                let live = stream_live.take();
                let probes = &probes;
                let cfg_i = ClientConfig {
                    direction,
                    bytes,
                    seed: base.seed ^ u64::from(index).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                    test: Some(TestRef { id: test_id, index, streams: total }),
                    ..base.clone()
                };
                s.spawn(move || {
                    let progress = Arc::new(Progress::default());
                    let mut on_connect = |st: &TcpStream| {
                        let stream = st.try_clone().ok();
                        probes.add(Probe { index, direction, stream, progress: progress.clone() });
                    };
                    let mut none = |_: &[Sample]| {};
                    let live: &mut (dyn FnMut(&[Sample]) + Send) = match live {
                        Some(l) => l,
                        None => &mut none,
                    };
                    let r = session::run_client_with(&cfg_i, &progress, &mut on_connect, live);
                    StreamEntry::new(index, direction, r, progress.app_bytes.load(Ordering::Relaxed))
                })
            })
            .collect();
        let entries: Vec<StreamEntry> = handles
            .into_iter()
            .zip(&plan)
            .map(|(h, &(index, direction, _))| {
                h.join().unwrap_or_else(|_| {
                    StreamEntry::new(index, direction, Err(Error::Panicked("the connection's thread")), 0)
                })
            })
            .collect();
        stop.store(true, Ordering::Release);
        (entries, ticker.join().unwrap_or_default())
    });
    close_control(&control);
    let facts =
        TestFacts { role: Role::Client, peer, connections: plan.len(), requested_mptcp: base.mptcp, error: None };
    let interval_s = cfg.report_interval.map(|d| d.as_secs_f64());
    Ok(TestReport::assemble(facts, entries, (interval_s, ticks.intervals), Some(ticks.timeline)))
}

/// The connections of a test: (index, direction, byte limit). A byte limit
/// is shared out among the connections of its direction.
fn streams_of(cfg: &TestConfig) -> Vec<(u16, Direction, u64)> {
    let p = cfg.parallel.max(1);
    let dirs: &[Direction] =
        if cfg.bidir { &[Direction::Upload, Direction::Download] } else { std::slice::from_ref(&cfg.base.direction) };
    let mut v = Vec::new();
    for (k, &d) in dirs.iter().enumerate() {
        for i in 0..p {
            let bytes = match cfg.base.bytes {
                0 => 0,
                b => b / u64::from(p) + u64::from(u64::from(i) < b % u64::from(p)),
            };
            v.push((k as u16 * p + i, d, bytes));
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::opts::SocketOpts;

    fn cfg(parallel: u16, bidir: bool, bytes: u64) -> TestConfig {
        TestConfig {
            base: ClientConfig {
                target: "127.0.0.1:9".into(),
                direction: Direction::Download,
                bytes,
                duration: Duration::ZERO,
                seed: 1,
                mptcp: true,
                opts: SocketOpts::default(),
                interval: Duration::from_millis(100),
                connect_timeout: Duration::from_secs(1),
                rate_bps: 0,
                stall: Duration::from_secs(5),
                test: None,
            },
            parallel,
            bidir,
            report_interval: None,
        }
    }

    #[test]
    fn bytes_are_shared_out_and_bidir_doubles_the_connections() {
        let v = streams_of(&cfg(3, false, 10));
        assert_eq!(v, vec![(0, Direction::Download, 4), (1, Direction::Download, 3), (2, Direction::Download, 3)]);
        let v = streams_of(&cfg(2, true, 0));
        let dirs: Vec<_> = v.iter().map(|s| (s.0, s.1)).collect();
        assert_eq!(
            dirs,
            vec![(0, Direction::Upload), (1, Direction::Upload), (2, Direction::Download), (3, Direction::Download)]
        );
        assert_ne!(new_test_id(), 0);
    }
}
