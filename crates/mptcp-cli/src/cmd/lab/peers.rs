//! The two ends of every lab transfer: an in-process bench server in the
//! server namespace, and bench client sessions in the client namespace.

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;

use super::topo::{self, Topology};
use super::Plan;
use crate::transfer::live::Live;
use crate::transfer::opts::SocketOpts;
use crate::transfer::proto::Direction;
use crate::transfer::report::SessionReport;
use crate::transfer::session::{self, ClientConfig, FallbackWatch};

/// The bench port inside the lab.
pub const PORT: u16 = 5201;

/// Sampling interval of both ends.
const INTERVAL: Duration = Duration::from_millis(100);

/// Receiver progress of the current session: (when, bytes so far), one mark
/// per sample.
pub type Marks = Vec<(Instant, u64)>;

/// The in-process bench server, listening in the server namespace.
pub struct Server {
    stop: Arc<AtomicBool>,
    rx: mpsc::Receiver<anyhow::Result<SessionReport>>,
    marks: Arc<Mutex<Marks>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// A second handle on the listening socket, to wake its accept.
    wake: TcpListener,
}

impl Server {
    /// Listens on the server's every address, port [`PORT`], with `opts`
    /// (the listener passes them on to the connections it accepts).
    pub fn start(topo: &Topology, opts: &SocketOpts) -> anyhow::Result<Server> {
        let builder = opts.builder();
        let listener: TcpListener = topo
            .server
            .in_ns(move || builder.bind(("0.0.0.0", PORT)))?
            .context("starting the bench server in the server namespace")?;
        // Blocking accept, so the receiver's clock starts as the client
        // connects; `stop` wakes it with shutdown(2).
        let wake = listener.try_clone().context("duplicating the listener")?;
        let stop = Arc::new(AtomicBool::new(false));
        let marks = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let (stop2, marks2) = (stop.clone(), marks.clone());
        // The thread lives in the server namespace, whose fallback counters
        // the watch reads.
        let thread = topo.server.spawn(move || {
            let mut fallbacks = FallbackWatch::new();
            while !stop2.load(Ordering::Acquire) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let fell_back = fallbacks.check(&conn);
                        if let Ok(mut m) = marks2.lock() {
                            m.clear();
                        }
                        let marks3 = marks2.clone();
                        let r = session::serve_connection(conn, INTERVAL, fell_back, &mut move |s| {
                            if let (Some(last), Ok(mut m)) = (s.last(), marks3.lock()) {
                                m.push((Instant::now(), last.total));
                            }
                        });
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
    pub fn report(&self) -> anyhow::Result<SessionReport> {
        self.rx.recv_timeout(Duration::from_secs(40)).context("the lab server did not report")?
    }

    /// The receiver's progress marks of the last session.
    pub fn marks(&self) -> Marks {
        self.marks.lock().map(|m| m.clone()).unwrap_or_default()
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

/// Runs one upload from the client namespace to the lab server, with a
/// live view titled `title`. Returns the client's report and the estimated
/// instant its clock started.
pub fn client_session(
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
        interval: INTERVAL,
        connect_timeout: Duration::from_secs(5),
        rate_bps: 0,
        stall: crate::transfer::timed::DEFAULT_STALL,
        test: None,
    };
    let mut live = Live::new(title, quiet);
    let mut t0: Option<Instant> = None;
    let r = topo.client.in_ns(|| {
        let r = session::run_client(&cfg, &mut |s| {
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
