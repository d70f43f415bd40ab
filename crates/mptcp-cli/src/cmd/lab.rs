//! `mptcp lab`: builds a client and a server joined by N shaped paths in
//! network namespaces and shows MPTCP at work: plain TCP on one path against
//! MPTCP over all of them, failover when a path dies mid-transfer, and
//! fallback to TCP when a middlebox strips the MPTCP option. Every namespace
//! it made is removed at the end, on error and on Ctrl-C.

pub mod topo;

use std::io::Read;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use mptcp::MptcpBuilder;
use serde::Serialize;

use super::bench::engine::{self, fmt_rate, ClientConfig, SessionReport, SocketOpts};
use super::bench::proto::Direction;
use super::bench::{live::Live, plot, socket_opts, SockArgs};
use crate::util::{print_json, usage};
use topo::{parse_rate, Rate, Topology, MPTCP_DSS_BYTES};

const PORT: u16 = 5201;
const IPERF_PORT: u16 = 5202;
const ALL_PHASES: [&str; 5] = ["tcp", "mptcp", "iperf3", "failover", "fallback"];
const DEFAULT_PHASES: &str = "tcp,mptcp,failover,fallback";

/// Arguments of `mptcp lab`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Number of paths between client and server (1-8).
    #[arg(long, default_value_t = 2)]
    paths: usize,
    /// Rate of every path (tbf), e.g. 50mbit, or `unshaped`.
    #[arg(long, default_value = "50mbit")]
    rate: String,
    /// One rate per path, e.g. 10mbit,40mbit (overrides --paths and --rate).
    #[arg(long, value_delimiter = ',', value_name = "RATE,...")]
    rates: Option<Vec<String>>,
    /// Seconds per transfer.
    #[arg(short = 't', long, default_value_t = 5.0)]
    duration: f64,
    /// Phases to run, in this order: tcp, mptcp, iperf3 (`mptcpize run
    /// iperf3` for comparison), failover, fallback.
    #[arg(long, default_value = DEFAULT_PHASES, value_name = "LIST")]
    phases: String,
    /// Path taken down in the failover phase (1 = the initial subflow's).
    #[arg(long, default_value_t = 1)]
    fail_path: usize,
    /// Where to write the SVG chart.
    #[arg(long, value_name = "FILE.svg", default_value = "mptcp-lab.svg")]
    plot: PathBuf,
    /// Do not write the chart.
    #[arg(long)]
    no_plot: bool,
    /// Print the results as one JSON object.
    #[arg(long)]
    json: bool,
    /// No live view.
    #[arg(short, long)]
    quiet: bool,
    #[command(flatten)]
    sock: SockArgs,
}

/// The result of one phase.
#[derive(Debug, Clone, Serialize, Default)]
pub struct PhaseReport {
    /// `tcp`, `mptcp`, `iperf3`, `failover` or `fallback`.
    pub name: String,
    /// Whether the phase showed what it should.
    pub ok: bool,
    /// What was checked, and anything odd.
    pub notes: Vec<String>,
    /// Receiver's goodput, bits per second.
    pub goodput_bps: f64,
    /// Bytes delivered.
    pub bytes: u64,
    /// Receiver's duration, seconds.
    pub duration_s: f64,
    /// Whether the receiver's checksum equalled the sender's.
    pub verified: Option<bool>,
    /// MPTCP status on the client.
    pub client_status: Option<String>,
    /// MPTCP status on the server.
    pub server_status: Option<String>,
    /// Most subflows at once.
    pub subflows: usize,
    /// Paths the transfer could use (1-based).
    pub paths_used: Vec<usize>,
    /// Sender MSS.
    pub mss: Option<u32>,
    /// Payload bytes per frame on the wire.
    pub payload_per_frame: Option<u32>,
    /// Frame size counted by tbf (MTU + 14).
    pub frame_bytes: Option<u32>,
    /// Physical goodput limit: sum of rates x payload / frame.
    pub limit_bps: Option<f64>,
    /// `goodput_bps / limit_bps`.
    pub fraction_of_limit: Option<f64>,
    /// Retransmitted segments (sender).
    pub retransmits: u64,
    /// Failover: the path taken down (1-based).
    pub failed_path: Option<usize>,
    /// Failover: seconds into the transfer when it went down.
    pub down_at_s: Option<f64>,
    /// Failover: time until the receiver got >= 90% of the remaining paths' limit.
    pub stall_ms: Option<f64>,
    /// Failover: the remaining paths' limit.
    pub remaining_limit_bps: Option<f64>,
    /// The client's full bench report.
    pub client: Option<SessionReport>,
    /// The server's full bench report.
    pub server: Option<SessionReport>,
}

/// One path as the report shows it.
#[derive(Debug, Clone, Serialize)]
struct PathInfo {
    path: usize,
    client: String,
    server: String,
    rate: String,
    rate_bps: Option<u64>,
}

/// The whole lab report (`--json`).
#[derive(Debug, Serialize)]
struct LabReport {
    ok: bool,
    paths: Vec<PathInfo>,
    congestion: Option<String>,
    path_manager_via: &'static str,
    duration_s: f64,
    phases: Vec<PhaseReport>,
    plot: Option<String>,
    namespaces: Vec<String>,
    namespaces_removed: bool,
    elapsed_s: f64,
}

struct Plan {
    rates: Vec<Option<Rate>>,
    phases: Vec<&'static str>,
    duration: Duration,
    opts: SocketOpts,
    fail_path: usize,
}

fn validate(a: &Args) -> anyhow::Result<Plan> {
    let rate_strs: Vec<String> = match &a.rates {
        Some(r) => r.clone(),
        None => {
            if !(1..=8).contains(&a.paths) {
                return Err(usage(format!("--paths {}: expected 1 to 8 (the path manager's limit)", a.paths)));
            }
            vec![a.rate.clone(); a.paths]
        }
    };
    if !(1..=8).contains(&rate_strs.len()) {
        return Err(usage(format!("--rates: {} paths given, expected 1 to 8", rate_strs.len())));
    }
    let rates = rate_strs.iter().map(|r| parse_rate(r).map_err(usage)).collect::<anyhow::Result<Vec<_>>>()?;
    if !(a.duration >= 1.0 && a.duration <= 3600.0) {
        return Err(usage(format!("--duration {}: expected 1 to 3600 seconds", a.duration)));
    }
    let mut wanted = Vec::new();
    for p in a.phases.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match ALL_PHASES.iter().find(|k| **k == p) {
            Some(k) => wanted.push(*k),
            None => {
                return Err(usage(format!("--phases: unknown phase {p:?}; expected some of {}", ALL_PHASES.join(", "))))
            }
        }
    }
    if wanted.is_empty() {
        return Err(usage("--phases: no phase given"));
    }
    let phases: Vec<&'static str> = ALL_PHASES.iter().copied().filter(|k| wanted.contains(k)).collect();
    if phases.contains(&"failover") && rates.len() < 2 {
        return Err(usage("the failover phase needs at least 2 paths (use --paths 2 or drop it from --phases)"));
    }
    if a.fail_path == 0 || a.fail_path > rates.len() {
        return Err(usage(format!("--fail-path {}: expected 1 to {}", a.fail_path, rates.len())));
    }
    if !a.no_plot {
        if let Some(dir) = a.plot.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.is_dir() {
                return Err(usage(format!("--plot {}: directory {} does not exist", a.plot.display(), dir.display())));
            }
        }
    }
    let opts = socket_opts(&a.sock)?;
    Ok(Plan { rates, phases, duration: Duration::from_secs_f64(a.duration), opts, fail_path: a.fail_path - 1 })
}

/// Runs `mptcp lab`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let plan = validate(&args)?;
    if !mptcp_netns::is_root() {
        bail!(
            "`mptcp lab` needs root: it creates network namespaces, veth pairs, tc qdiscs and iptables rules \
             (CAP_SYS_ADMIN and CAP_NET_ADMIN). Run it as root, e.g. `sudo mptcp lab`."
        );
    }
    if !mptcp::host_support().is_available() {
        bail!("this kernel cannot create MPTCP sockets ({:?}); `mptcp status` says why", mptcp::host_support());
    }
    mptcp_netns::install_signal_cleanup();
    mptcp_netns::sweep_stale();
    let started = Instant::now();
    let human = !args.json;
    let topo = Topology::build(&plan.rates)?;
    let names = vec![topo.client.name().to_string(), topo.server.name().to_string()];
    let path_info: Vec<PathInfo> = topo
        .paths
        .iter()
        .zip(&plan.rates)
        .enumerate()
        .map(|(i, (p, r))| PathInfo {
            path: i + 1,
            client: p.a_addr.clone(),
            server: p.b_addr.clone(),
            rate: r.as_ref().map(|r| fmt_rate(r.bps as f64)).unwrap_or_else(|| "unshaped".into()),
            rate_bps: r.as_ref().map(|r| r.bps),
        })
        .collect();
    if human {
        println!(
            "mptcp lab: client and server in namespaces {} and {}, joined by {} path{}: {}",
            names[0],
            names[1],
            path_info.len(),
            if path_info.len() == 1 { "" } else { "s" },
            path_info
                .iter()
                .map(|p| format!("{} <-> {} ({})", p.client, p.server, p.rate))
                .collect::<Vec<_>>()
                .join(", ")
        );
        println!(
            "  path manager: server announces {} address{}, limits subflows {} (via {}); congestion {}; {} s per transfer",
            path_info.len() - 1,
            if path_info.len() == 2 { "" } else { "es" },
            path_info.len() - 1,
            topo.pm_via,
            plan.opts.congestion.as_deref().unwrap_or("system default"),
            plan.duration.as_secs_f64()
        );
    }
    let server = Server::start(&topo, &plan.opts)?;
    let mut phases = Vec::new();
    let mut panels = Vec::new();
    let total = plan.phases.len();
    for (k, name) in plan.phases.iter().enumerate() {
        let title = format!("[{}/{total}] {name}", k + 1);
        let quiet = args.quiet || args.json;
        let (rep, panel) = match *name {
            "tcp" => phase_transfer(&topo, &server, &plan, "tcp", &title, quiet)?,
            "mptcp" => phase_transfer(&topo, &server, &plan, "mptcp", &title, quiet)?,
            "failover" => phase_failover(&topo, &server, &plan, &title, quiet)?,
            "fallback" => phase_fallback(&topo, &server, &plan, &title, quiet)?,
            _ => (phase_iperf3(&topo, &plan)?, None),
        };
        if human {
            println!("{}", phase_line(&rep));
        }
        phases.push(rep);
        panels.extend(panel);
    }
    server.stop();
    let plot_path = if args.no_plot || panels.is_empty() {
        None
    } else {
        plot::write(&args.plot, &panels).with_context(|| format!("writing {}", args.plot.display()))?;
        Some(args.plot.display().to_string())
    };
    let pm_via = topo.pm_via;
    drop(topo);
    let listed = mptcp_netns::cmd(&["ip", "netns", "list"])
        .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
        .unwrap_or_default();
    let removed = !names.iter().any(|n| listed.lines().any(|l| l.split_whitespace().next() == Some(n.as_str())));
    let ok = phases.iter().all(|p| p.ok) && removed;
    let report = LabReport {
        ok,
        paths: path_info,
        congestion: plan.opts.congestion.clone(),
        path_manager_via: pm_via,
        duration_s: plan.duration.as_secs_f64(),
        phases,
        plot: plot_path,
        namespaces: names,
        namespaces_removed: removed,
        elapsed_s: started.elapsed().as_secs_f64(),
    };
    if args.json {
        print_json(&report)?;
    } else {
        print!("{}", summary(&report));
    }
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// The in-process bench server, listening in the server namespace.
struct Server {
    stop: Arc<AtomicBool>,
    rx: mpsc::Receiver<anyhow::Result<SessionReport>>,
    /// Receiver samples of the current session: (when, bytes so far).
    marks: Arc<Mutex<Vec<(Instant, u64)>>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// A second handle on the listening socket, to wake its accept.
    wake: TcpListener,
}

impl Server {
    fn start(topo: &Topology, opts: &SocketOpts) -> anyhow::Result<Server> {
        let cc = opts.congestion.clone();
        let listener: TcpListener = topo
            .server
            .in_ns(move || {
                let mut b = MptcpBuilder::new();
                if let Some(cc) = &cc {
                    b = b.congestion(cc);
                }
                b.bind(("0.0.0.0", PORT))
            })?
            .context("starting the bench server in the server namespace")?;
        // Blocking accept, so the receiver's clock starts as the client
        // connects; `stop` wakes it with shutdown(2).
        let wake = listener.try_clone().context("duplicating the listener")?;
        let stop = Arc::new(AtomicBool::new(false));
        let marks = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let (stop2, marks2, opts) = (stop.clone(), marks.clone(), opts.clone());
        // The thread lives in the server namespace, where the kernel's
        // fallback counters are read.
        let thread = topo.server.spawn(move || {
            let mut fallback = engine::PassiveFallback::new();
            while !stop2.load(Ordering::Acquire) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let fell_back = fallback.check();
                        if let Ok(mut m) = marks2.lock() {
                            m.clear();
                        }
                        let marks3 = marks2.clone();
                        let r = engine::serve_connection(
                            conn,
                            &opts,
                            Duration::from_millis(100),
                            fell_back,
                            &mut move |s| {
                                if let (Some(last), Ok(mut m)) = (s.last(), marks3.lock()) {
                                    m.push((Instant::now(), last.total));
                                }
                            },
                        );
                        let _ = tx.send(r);
                    }
                    Err(_) if stop2.load(Ordering::Acquire) => break,
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Ok(Server { stop, rx, marks, thread: Some(thread?), wake })
    }

    /// The server's report of the session that just ended.
    fn report(&self) -> anyhow::Result<SessionReport> {
        self.rx.recv_timeout(Duration::from_secs(40)).context("the lab server did not report")?
    }

    fn stop(mut self) {
        self.stop.store(true, Ordering::Release);
        // shutdown(2) on the same socket only wakes the blocked accept(2).
        let _ = socket2::SockRef::from(&self.wake).shutdown(std::net::Shutdown::Both);
        if let Some(t) = self.thread.take() {
            let deadline = Instant::now() + Duration::from_secs(2);
            while !t.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if t.is_finished() {
                let _ = t.join();
            }
        }
    }
}

/// Runs one bench client session in the client namespace with a live view.
/// Returns the client's report and the estimated instant its clock started.
fn client_session(
    topo: &Topology,
    plan: &Plan,
    mptcp: bool,
    title: &str,
    quiet: bool,
) -> anyhow::Result<(SessionReport, Instant)> {
    let cfg = ClientConfig {
        target: format!("{}:{PORT}", topo::addr(0, 2)),
        direction: Direction::Upload,
        bytes: 0,
        duration: plan.duration,
        seed: 0x6d70_7463_705f_6c61 ^ plan.duration.as_millis() as u64,
        mptcp,
        opts: plan.opts.clone(),
        interval: Duration::from_millis(100),
        connect_timeout: Duration::from_secs(5),
    };
    let mut live = Live::new(title, quiet);
    let mut t0: Option<Instant> = None;
    let r = topo.client.in_ns(|| {
        let r = engine::run_client(&cfg, &mut |s| {
            if t0.is_none() {
                if let Some(first) = s.first() {
                    t0 = Instant::now().checked_sub(Duration::from_secs_f64(first.t));
                }
            }
            if let Some(l) = live.as_mut() {
                l.update(s);
            }
        });
        (r, t0)
    })?;
    if let Some(l) = live {
        l.finish();
    }
    let (rep, t0) = r;
    Ok((rep?, t0.unwrap_or_else(Instant::now)))
}

/// Fills the fields every transfer phase has.
fn fill(
    p: &mut PhaseReport,
    c: &SessionReport,
    s: Option<&SessionReport>,
    topo: &Topology,
    paths: Vec<usize>,
    mptcp: bool,
) {
    p.goodput_bps = c.goodput_bps;
    p.bytes = c.bytes;
    p.duration_s = c.duration_s;
    p.verified = Some(c.integrity.verified && s.map(|s| s.integrity.verified).unwrap_or(true));
    p.client_status = Some(c.status.clone());
    p.server_status = s.map(|s| s.status.clone());
    p.subflows = c.max_subflows;
    p.retransmits = c.retransmits;
    let mss = c.subflows.iter().filter_map(|f| f.mss).max();
    p.mss = mss;
    // tbf counts whole frames: MTU (MSS + 52 bytes of IP and TCP headers with
    // timestamps) plus 14 bytes of Ethernet header.
    if let Some(mss) = mss {
        let payload = if mptcp { mss.saturating_sub(MPTCP_DSS_BYTES) } else { mss };
        let frame = mss + 52 + 14;
        p.payload_per_frame = Some(payload);
        p.frame_bytes = Some(frame);
        if let Some(sum) = topo.rate_sum(paths.iter().copied()) {
            let limit = sum * payload as f64 / frame as f64;
            p.limit_bps = Some(limit);
            p.fraction_of_limit = Some(c.goodput_bps / limit);
        }
    }
    p.paths_used = paths.iter().map(|i| i + 1).collect();
}

fn phase_transfer(
    topo: &Topology,
    server: &Server,
    plan: &Plan,
    kind: &str,
    title: &str,
    quiet: bool,
) -> anyhow::Result<(PhaseReport, Option<plot::Panel>)> {
    let mptcp = kind == "mptcp";
    let label = if mptcp {
        format!("{title}: MPTCP over {} paths", topo.paths.len())
    } else {
        format!("{title}: plain TCP on path 1")
    };
    let (c, _) = client_session(topo, plan, mptcp, &label, quiet)?;
    let s = server.report()?;
    let paths: Vec<usize> = if mptcp { (0..topo.paths.len()).collect() } else { vec![0] };
    let mut p = PhaseReport { name: kind.to_string(), ..Default::default() };
    fill(&mut p, &c, Some(&s), topo, paths, mptcp);
    let verified = p.verified == Some(true);
    p.notes.push(if verified { "every byte verified (checksum)".into() } else { "DATA MISMATCH".into() });
    if mptcp {
        let want = topo.paths.len().min(2);
        let status_ok = c.status == "mptcp" && s.status == "mptcp";
        if !status_ok {
            p.notes.push(format!("expected MPTCP on both ends, got client {} server {}", c.status, s.status));
        }
        if c.max_subflows < want {
            p.notes.push(format!("only {} subflow(s) for {} paths", c.max_subflows, topo.paths.len()));
        } else if c.max_subflows < topo.paths.len() {
            p.notes.push(format!("{} subflows for {} paths", c.max_subflows, topo.paths.len()));
        }
        p.ok = verified && status_ok && c.max_subflows >= want;
    } else {
        let status_ok = c.status == "tcp";
        if !status_ok {
            p.notes.push(format!("expected plain TCP, client says {}", c.status));
        }
        p.ok = verified && status_ok;
    }
    let panel = plot::Panel {
        title: format!("{}: {}", kind, fmt_rate(c.goodput_bps)),
        points: c.timeline.clone(),
        markers: vec![],
    };
    p.client = Some(c);
    p.server = Some(s);
    Ok((p, Some(panel)))
}

fn phase_failover(
    topo: &Topology,
    server: &Server,
    plan: &Plan,
    title: &str,
    quiet: bool,
) -> anyhow::Result<(PhaseReport, Option<plot::Panel>)> {
    let fail = plan.fail_path;
    let path = topo.paths[fail].clone();
    let down_after = plan.duration / 2;
    let down_at: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
    let cancel = Arc::new(AtomicBool::new(false));
    let (d2, c2) = (down_at.clone(), cancel.clone());
    let started = Instant::now();
    let killer = std::thread::spawn(move || {
        // Wait for data to flow, then pull the link.
        while started.elapsed() < down_after + Duration::from_millis(100) {
            if c2.load(Ordering::Acquire) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let now = Instant::now();
        let r = path.down();
        if let Ok(mut d) = d2.lock() {
            *d = Some(now);
        }
        r
    });
    let label = format!("{title}: path {} goes down mid-transfer", fail + 1);
    let res = client_session(topo, plan, true, &label, quiet);
    cancel.store(true, Ordering::Release);
    let down_result = killer.join().map_err(|_| anyhow::anyhow!("the failover thread panicked"))?;
    // Bring it back for the phases that follow.
    let _ = topo.paths[fail].up();
    std::thread::sleep(Duration::from_millis(200));
    down_result.context("taking the path down")?;
    let (c, t0) = res?;
    let s = server.report()?;
    let marks = server.marks.lock().map(|m| m.clone()).unwrap_or_default();
    let remaining: Vec<usize> = (0..topo.paths.len()).filter(|i| *i != fail).collect();
    let mut p = PhaseReport { name: "failover".into(), failed_path: Some(fail + 1), ..Default::default() };
    fill(&mut p, &c, Some(&s), topo, (0..topo.paths.len()).collect(), true);
    // The limit that matters after the failure is that of the remaining paths.
    let remaining_limit = match (topo.rate_sum(remaining.iter().copied()), p.payload_per_frame, p.frame_bytes) {
        (Some(sum), Some(pl), Some(fr)) => Some(sum * pl as f64 / fr as f64),
        _ => None,
    };
    p.remaining_limit_bps = remaining_limit;
    p.limit_bps = None;
    p.fraction_of_limit = None;
    let down = down_at.lock().ok().and_then(|d| *d);
    let verified = p.verified == Some(true);
    p.notes.push(if verified { "every byte arrived intact (checksum)".into() } else { "DATA MISMATCH".into() });
    let mut markers = vec![];
    match down {
        Some(d) => {
            p.down_at_s = Some(d.saturating_duration_since(t0).as_secs_f64());
            markers.push((d.saturating_duration_since(t0).as_secs_f64(), format!("path {} down", fail + 1)));
            p.stall_ms = stall_ms(&marks, d, remaining_limit);
            if p.stall_ms.is_none() {
                p.notes.push("the remaining paths never reached 90% of their rate".into());
            }
        }
        None => p.notes.push("the transfer ended before the path went down".into()),
    }
    p.ok = verified && down.is_some();
    let panel = plot::Panel { title: format!("failover: path {} down", fail + 1), points: c.timeline.clone(), markers };
    p.client = Some(c);
    p.server = Some(s);
    Ok((p, Some(panel)))
}

/// Time from `down` until a 100 ms receiver interval carries >= 90% of
/// `limit` (or, unshaped, of the median rate after the failure).
pub fn stall_ms(marks: &[(Instant, u64)], down: Instant, limit: Option<f64>) -> Option<f64> {
    let rates: Vec<(Instant, Instant, f64)> = marks
        .windows(2)
        .filter(|w| w[0].0 >= down)
        .filter_map(|w| {
            let dt = w[1].0.saturating_duration_since(w[0].0).as_secs_f64();
            (dt > 0.02).then(|| (w[0].0, w[1].0, w[1].1.saturating_sub(w[0].1) as f64 * 8.0 / dt))
        })
        .collect();
    let target = match limit {
        Some(l) => 0.9 * l,
        None => {
            let mut v: Vec<f64> = rates.iter().map(|r| r.2).collect();
            v.sort_by(|a, b| a.total_cmp(b));
            0.9 * *v.get(v.len() / 2)?
        }
    };
    rates.iter().find(|r| r.2 >= target).map(|r| r.0.saturating_duration_since(down).as_secs_f64() * 1000.0)
}

fn phase_fallback(
    topo: &Topology,
    server: &Server,
    plan: &Plan,
    title: &str,
    quiet: bool,
) -> anyhow::Result<(PhaseReport, Option<plot::Panel>)> {
    topo.server
        .strip_mptcp(false, mptcp_netns::Strip::SynAck)
        .context("adding the middlebox rule (iptables TCPOPTSTRIP)")?;
    let label = format!("{title}: a middlebox strips the MPTCP option");
    let res = client_session(topo, plan, true, &label, quiet);
    let _ = topo.server.unstrip_mptcp(false, mptcp_netns::Strip::SynAck);
    let (c, _) = res?;
    let s = server.report()?;
    let mut p = PhaseReport { name: "fallback".into(), ..Default::default() };
    fill(&mut p, &c, Some(&s), topo, vec![0], false);
    let verified = p.verified == Some(true);
    p.notes.push(if verified { "every byte verified (checksum)".into() } else { "DATA MISMATCH".into() });
    let both = c.status == "fallback" && s.status == "fallback";
    p.notes.push(format!("client reports {}, server reports {}", c.status, s.status));
    p.ok = verified && both;
    let panel = plot::Panel {
        title: format!("fallback: {} / {}", c.status, s.status),
        points: c.timeline.clone(),
        markers: vec![],
    };
    p.client = Some(c);
    p.server = Some(s);
    Ok((p, Some(panel)))
}

fn phase_iperf3(topo: &Topology, plan: &Plan) -> anyhow::Result<PhaseReport> {
    let mut p =
        PhaseReport { name: "iperf3".into(), paths_used: (1..=topo.paths.len()).collect(), ..Default::default() };
    if mptcp_netns::cmd_status(&["mptcpize", "--help"]).is_err()
        || mptcp_netns::cmd_status(&["iperf3", "--version"]).is_err()
    {
        p.notes.push("skipped: needs iperf3 and mptcpize (apt-get install iperf3 mptcpize)".into());
        return Ok(p);
    }
    let port = IPERF_PORT.to_string();
    let mut srv = topo
        .server
        .command("mptcpize")
        .args(["run", "iperf3", "-s", "-1", "-p", &port])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting iperf3 -s")?;
    std::thread::sleep(Duration::from_millis(500));
    let secs = format!("{}", plan.duration.as_secs_f64().round().max(1.0));
    let mut cmd = topo.client.command("mptcpize");
    cmd.args(["run", "iperf3", "-c", &topo::addr(0, 2), "-p", &port, "-t", &secs, "--json"]);
    if let Some(cc) = &plan.opts.congestion {
        cmd.args(["-C", cc]);
    }
    let mut child =
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().context("starting iperf3 -c")?;
    let mut out = String::new();
    if let Some(mut so) = child.stdout.take() {
        let _ = so.read_to_string(&mut out);
    }
    let _ = child.wait();
    let _ = srv.kill();
    let _ = srv.wait();
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
    let recv = &v["end"]["sum_received"];
    match recv["bits_per_second"].as_f64() {
        Some(bps) => {
            p.goodput_bps = bps;
            p.bytes = recv["bytes"].as_u64().unwrap_or(0);
            p.duration_s = recv["seconds"].as_f64().unwrap_or(0.0);
            p.retransmits = v["end"]["sum_sent"]["retransmits"].as_u64().unwrap_or(0);
            p.notes.push("mptcpize run iperf3 (receiver's goodput)".into());
            p.ok = true;
        }
        None => {
            let err = v["error"].as_str().unwrap_or("no result").to_string();
            p.notes.push(format!("iperf3 failed: {err}"));
        }
    }
    Ok(p)
}

fn phase_line(p: &PhaseReport) -> String {
    let mark = if p.ok { "ok " } else { "FAIL" };
    format!("  {mark} {:<9} {}", p.name, p.notes.join("; "))
}

fn pct(v: Option<f64>) -> String {
    v.map(|f| format!("{:.1}%", f * 100.0)).unwrap_or_else(|| "-".into())
}

fn summary(r: &LabReport) -> String {
    let mut s = String::new();
    s.push_str("\nSummary\n");
    s.push_str(&format!(
        "  {:<9} {:>13} {:>13} {:>9} {:>8}  {:<20} {:<9} {}\n",
        "phase", "goodput", "limit", "of limit", "subflows", "status client/server", "integrity", "notes"
    ));
    for p in &r.phases {
        let status = match (&p.client_status, &p.server_status) {
            (Some(c), Some(sv)) => format!("{c}/{sv}"),
            (Some(c), None) => c.clone(),
            _ => "-".into(),
        };
        let integrity = match p.verified {
            Some(true) => "verified",
            Some(false) => "MISMATCH",
            None => "-",
        };
        let limit = p.limit_bps.or(p.remaining_limit_bps).map(fmt_rate).unwrap_or_else(|| "-".into());
        let notes = match p.name.as_str() {
            "failover" => match (p.down_at_s, p.stall_ms) {
                (Some(d), Some(st)) => format!(
                    "path {} down at {d:.1} s; stall {st:.0} ms (limit = remaining paths)",
                    p.failed_path.unwrap_or(0)
                ),
                (Some(d), None) => {
                    format!("path {} down at {d:.1} s; rate never recovered to 90%", p.failed_path.unwrap_or(0))
                }
                _ => p.notes.join("; "),
            },
            _ => p.notes.iter().filter(|n| !n.starts_with("every byte")).cloned().collect::<Vec<_>>().join("; "),
        };
        s.push_str(&format!(
            "  {:<9} {:>13} {:>13} {:>9} {:>8}  {:<20} {:<9} {}\n",
            p.name,
            if p.goodput_bps > 0.0 { fmt_rate(p.goodput_bps) } else { "-".into() },
            limit,
            pct(p.fraction_of_limit),
            if p.subflows > 0 { p.subflows.to_string() } else { "-".into() },
            status,
            integrity,
            notes
        ));
    }
    s.push_str(
        "  limit: sum of the path rates x payload per frame / frame size, from the MSS used; tbf lets a 32 KB burst \
         through at the start, so short runs can end slightly above it\n",
    );
    if let Some(pl) = &r.plot {
        s.push_str(&format!("  plot: {pl}\n"));
    }
    s.push_str(&format!(
        "  namespaces {}: {}; {:.1} s in all. {}\n",
        r.namespaces.join(", "),
        if r.namespaces_removed { "removed" } else { "NOT removed" },
        r.elapsed_s,
        if r.ok { "All checks passed." } else { "Some checks FAILED." }
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stall_is_measured_from_the_failure() {
        let t = Instant::now();
        let ms = |m: u64| t + Duration::from_millis(m);
        // 10 Mbit/s = 125,000 bytes per 100 ms; nothing moves from 1000 to 1300 ms.
        let mut marks = vec![(ms(0), 0u64)];
        let mut bytes = 0u64;
        for i in 1..=20u64 {
            let start = (i - 1) * 100;
            if !(1000..1300).contains(&start) {
                bytes += 125_000;
            }
            marks.push((ms(i * 100), bytes));
        }
        let s = stall_ms(&marks, ms(1000), Some(10e6)).unwrap();
        assert!((290.0..=310.0).contains(&s), "{s}");
        assert_eq!(stall_ms(&marks, ms(1000), Some(1e9)), None);
        assert!(stall_ms(&marks, ms(1000), None).is_some());
        assert_eq!(stall_ms(&[], ms(0), None), None);
    }
}
