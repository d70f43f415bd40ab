//! The two ends of every lab transfer: an in-process bench server in the
//! server namespace, and bench client sessions in the client namespace.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use mptcp_transfer::opts::SocketOpts;
use mptcp_transfer::proto::Direction;
use mptcp_transfer::report::SessionReport;
use mptcp_transfer::sampler::Progress;
use mptcp_transfer::session::{self, ClientConfig, FallbackWatch};
use mptcp_transfer::timed::DEFAULT_STALL;

use crate::error::Context;
use crate::topo::Topology;
use crate::{Observer, Plan};

/// The bench port inside the lab.
pub const PORT: u16 = 5201;

/// Sampling interval of both ends.
const INTERVAL: Duration = Duration::from_millis(100);

/// How often the server notes what its application has read: fine enough
/// for the stall's 50 ms samples (about 2% each).
const WATCH: Duration = Duration::from_millis(1);

/// What the receiving application got in the current session: (when, bytes
/// read since the previous entry), every millisecond while data arrives.
pub type Deliveries = Vec<(Instant, u64)>;

/// The in-process bench server, listening in the server namespace.
pub struct Server {
    stop: Arc<AtomicBool>,
    rx: mpsc::Receiver<crate::Result<SessionReport>>,
    deliveries: Arc<Mutex<Deliveries>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// A second handle on the listening socket, to wake its accept.
    wake: TcpListener,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("listening", &self.wake.local_addr().ok()).finish_non_exhaustive()
    }
}

impl Server {
    /// Listens on the server's every address, port [`PORT`], with `opts`
    /// (the listener passes them on to the connections it accepts).
    pub fn start(topo: &Topology, opts: &SocketOpts) -> crate::Result<Server> {
        let builder = opts.builder();
        let listener: TcpListener = topo
            .server
            .in_ns(move || builder.bind(("0.0.0.0", PORT)))?
            .context("starting the bench server in the server namespace")?;
        // Blocking accept, so the receiver's clock starts as the client
        // connects; `stop` wakes it with shutdown(2).
        let wake = listener.try_clone().context("duplicating the listener")?;
        let stop = Arc::new(AtomicBool::new(false));
        let deliveries = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let (stop2, deliveries2) = (stop.clone(), deliveries.clone());
        // The thread lives in the server namespace, whose fallback counters
        // the watch reads.
        let thread = topo.server.spawn(move || {
            let mut fallbacks = FallbackWatch::new();
            while !stop2.load(Ordering::Acquire) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let fell_back = fallbacks.check(&conn);
                        let _ = tx.send(serve_watched(conn, fell_back, &deliveries2));
                    }
                    Err(_) if stop2.load(Ordering::Acquire) => break,
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Ok(Server { stop, rx, deliveries, thread: Some(thread?), wake })
    }

    /// The server's report of the session that just ended.
    pub fn report(&self) -> crate::Result<SessionReport> {
        self.rx.recv_timeout(Duration::from_secs(40)).context("the lab server did not report")?
    }

    /// What the receiving application got in the last session.
    pub fn deliveries(&self) -> Deliveries {
        self.deliveries.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// Stops accepting and waits (briefly) for the thread.
    pub fn stop(mut self) {
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

/// Serves one data connection, noting into `log` (emptied first) what the
/// application reads, every [`WATCH`].
fn serve_watched(conn: TcpStream, fell_back: bool, log: &Mutex<Deliveries>) -> crate::Result<SessionReport> {
    if let Ok(mut l) = log.lock() {
        l.clear();
    }
    let progress = Progress::default();
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut seen = 0;
            while !progress.finished.load(Ordering::Acquire) {
                let now = progress.app_bytes.load(Ordering::Relaxed);
                if now > seen {
                    if let Ok(mut l) = log.lock() {
                        l.push((Instant::now(), now - seen));
                    }
                    seen = now;
                }
                std::thread::sleep(WATCH);
            }
        });
        let r = session::serve_connection(conn, INTERVAL, fell_back, &progress, &mut |_| {});
        // A hello that failed never starts the data: end the watch here.
        progress.finished.store(true, Ordering::Release);
        Ok(r?)
    })
}

/// What a charted phase runs against: the network, the lab's server, the
/// plan, the head of its live view and who watches.
pub struct Stage<'a> {
    /// The network.
    pub topo: &'a Topology,
    /// The lab's server.
    pub server: &'a Server,
    /// The plan.
    pub plan: &'a Plan,
    /// `[k/n] phase`: the start of the live view's label.
    pub title: String,
    /// Who is shown the transfers.
    pub observer: &'a mut dyn Observer,
}

impl std::fmt::Debug for Stage<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stage").field("title", &self.title).finish_non_exhaustive()
    }
}

impl Stage<'_> {
    /// Runs one upload to the lab server's address on path `path`
    /// (0-based; [`upload_to_lab_server`]), its live view labelled `title:
    /// what`.
    pub fn client(&mut self, path: usize, mptcp: bool, what: &str) -> crate::Result<(SessionReport, Instant)> {
        let title = format!("{}: {what}", self.title);
        upload_to_lab_server(self.topo, self.plan, path, mptcp, &title, &mut *self.observer)
    }
}

/// Runs one upload from the client namespace to the lab server's address
/// on path `path` (0-based: the connection's first subflow takes that
/// path), shown to `observer` as `title`. Returns the client's report and
/// the estimated instant its clock started.
pub fn upload_to_lab_server(
    topo: &Topology,
    plan: &Plan,
    path: usize,
    mptcp: bool,
    title: &str,
    observer: &mut dyn Observer,
) -> crate::Result<(SessionReport, Instant)> {
    let cfg = ClientConfig {
        target: SocketAddr::new(topo.paths[path].server_addr(), PORT).to_string(),
        direction: Direction::Upload,
        bytes: 0,
        duration: plan.duration,
        seed: 0x6d70_7463_705f_6c61 ^ plan.duration.as_millis() as u64,
        mptcp,
        opts: plan.client_opts(),
        interval: INTERVAL,
        connect_timeout: Duration::from_secs(5),
        rate_bps: 0,
        stall: DEFAULT_STALL,
        test: None,
    };
    observer.transfer_started(title);
    let mut t0: Option<Instant> = None;
    let r = topo.client.in_ns(|| {
        let r = session::run_client(&cfg, &mut |s| {
            if t0.is_none() {
                if let Some(first) = s.first() {
                    t0 = Instant::now().checked_sub(Duration::from_secs_f64(first.t));
                }
            }
            observer.transfer_sample(s);
        });
        (r, t0)
    })?;
    observer.transfer_ended();
    let (rep, t0) = r;
    Ok((rep?, t0.unwrap_or_else(Instant::now)))
}
