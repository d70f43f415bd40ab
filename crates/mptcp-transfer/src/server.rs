//! The bench server: accepts MPTCP and plain-TCP connections, reads each
//! one's hello and serves it on its own thread. The connections of a test
//! gather under its control connection; when the client closes that, the
//! server reports the whole test. Standalone data connections (test id 0)
//! are reported one by one.

use std::collections::HashMap;
use std::io::{self, Read};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{mpsc, Condvar, Mutex};
use std::time::{Duration, Instant};

use mptcp::MptcpExt;
use serde::Serialize;

use super::aggregate::{StreamEntry, TestFacts, TestReport};
use super::proto::{Hello, Kind, Mode, Reply};
use super::report::{Role, SessionReport};
use super::rr::{self, Statuses};
use super::sampler::Progress;
use super::session::{self, read_raw_hello, stall_of, FallbackWatch, HELLO_TIMEOUT};
use super::timed::{meaning, Limits, Timed};
use crate::error::Context;
use crate::Result;

pub use super::proto::MAX_STREAMS;

/// How long a test whose client went quiet (no connection open, control
/// still open but silent) is kept before the server reports it.
const ABANDON_AFTER: Duration = Duration::from_secs(30);

/// The server's report of a request/response test.
#[derive(Debug, Clone, Serialize)]
pub struct ServerRrReport {
    /// No connection failed.
    pub ok: bool,
    /// The first failure.
    pub error: Option<String>,
    /// Always `server`.
    pub role: Role,
    /// `rr` or `crr`.
    pub mode: Mode,
    /// The client.
    pub peer: String,
    /// Connections served.
    pub connections: u64,
    /// Transactions answered.
    pub transactions: u64,
    /// Connections per MPTCP status.
    pub statuses: Statuses,
    /// Request size, bytes.
    pub request_size: u32,
    /// Response size, bytes.
    pub response_size: u32,
}

/// What the server reports.
#[derive(Debug)]
pub enum Event {
    /// A throughput test ended.
    Test(Box<TestReport>),
    /// A request/response test ended.
    Rr(ServerRrReport),
    /// A standalone data connection ended.
    Session(Box<SessionReport>),
    /// A standalone data connection failed.
    SessionFailed(String),
    /// A connection that was no test (or was refused) failed: not reported
    /// as a test, and `--once` keeps waiting for one.
    Error(String),
}

impl Event {
    /// Whether the event reports success.
    pub fn ok(&self) -> bool {
        match self {
            Event::Test(t) => t.ok,
            Event::Rr(r) => r.ok,
            Event::Session(s) => s.integrity.verified,
            Event::SessionFailed(_) | Event::Error(_) => false,
        }
    }
}

/// A test in progress.
#[derive(Debug)]
struct TestState {
    hello: Hello,
    peer: String,
    requested_mptcp: bool,
    entries: Vec<StreamEntry>,
    active: usize,
    started: usize,
    last_activity: Instant,
    rr: ServerRrReport,
}

#[derive(Debug, Default)]
struct Registry {
    tests: Mutex<HashMap<u64, TestState>>,
    changed: Condvar,
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, TestState>> {
        self.tests.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts a connection into its test; `false` for an unknown test.
    fn join(&self, id: u64) -> bool {
        let mut t = self.lock();
        let Some(st) = t.get_mut(&id) else { return false };
        st.active += 1;
        st.started += 1;
        st.last_activity = Instant::now();
        true
    }

    /// Counts a connection out, recording what it did.
    fn leave(&self, id: u64, f: impl FnOnce(&mut TestState)) {
        let mut t = self.lock();
        if let Some(st) = t.get_mut(&id) {
            st.active = st.active.saturating_sub(1);
            st.last_activity = Instant::now();
            f(st);
        }
        drop(t);
        self.changed.notify_all();
    }
}

/// Serves until an accept fails, or with `once` until the first test (or
/// standalone connection) has been reported; then returns whether it went
/// well. `on_event` runs on the connections' threads.
///
/// # Examples
///
/// ```no_run
/// use mptcp_transfer::opts::SocketOpts;
/// use mptcp_transfer::server::{self, Event};
///
/// let listener = SocketOpts::default().builder().bind("[::]:5201")?;
/// let ok = server::serve(&listener, true, std::time::Duration::from_millis(100), &|e: &Event| {
///     if let Event::Test(t) = e {
///         println!("{:?} from {}: verified {}", t.direction, t.peer, t.integrity.verified);
///     }
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn serve(
    listener: &TcpListener,
    once: bool,
    interval: Duration,
    on_event: &(dyn Fn(&Event) + Sync),
) -> Result<bool> {
    let registry = Registry::default();
    let (done_tx, done_rx) = mpsc::channel::<bool>();
    // A second handle on the listener: shutdown(2) on it wakes the accept.
    let wake = listener.try_clone().context("duplicating the listener")?;
    // Read the kernel's counters only for connections whose status is
    // reported one by one: a crr test opens thousands, and reading them for
    // each plain-TCP one would slow TCP down next to MPTCP.
    let fallbacks = Mutex::new(FallbackWatch::new());
    std::thread::scope(|s| loop {
        if once {
            if let Ok(ok) = done_rx.try_recv() {
                return Ok(ok);
            }
        }
        let (conn, peer) = match listener.accept() {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => match done_rx.try_recv() {
                Ok(ok) => return Ok(ok),
                Err(_) => return Err(e).context("accept failed"),
            },
        };
        let (registry, done_tx, wake, fallbacks) = (&registry, done_tx.clone(), &wake, &fallbacks);
        s.spawn(move || {
            let peer = peer.to_string();
            if let Some(event) = handle(conn, &peer, fallbacks, interval, registry) {
                on_event(&event);
                if once && !matches!(event, Event::Error(_)) {
                    let _ = done_tx.send(event.ok());
                    let _ = socket2::SockRef::from(wake).shutdown(Shutdown::Both);
                }
            }
        });
    })
}

/// Serves one connection; returns what to report (tests report when their
/// control connection ends).
fn handle(
    conn: TcpStream,
    peer: &str,
    fallbacks: &Mutex<FallbackWatch>,
    interval: Duration,
    reg: &Registry,
) -> Option<Event> {
    let hello = match read_raw_hello(&conn) {
        Ok(h) => h,
        Err(e) => return Some(Event::Error(format!("{peer}: {}", e.chain()))),
    };
    // Out of range: refused before anything else, with a reason on a
    // control connection (the client prints it); other kinds have no reply
    // and are closed.
    if let Err(reason) = hello.validate() {
        if hello.kind == Kind::Control {
            let _ = Timed::new(&conn, Limits::stall(HELLO_TIMEOUT)).write_all(&Reply::Refuse(reason.clone()).encode());
        }
        let _ = conn.shutdown(Shutdown::Both);
        let what = match hello.kind {
            Kind::Control => "test".to_string(),
            kind => format!("{kind} connection"),
        };
        return Some(Event::Error(format!("{peer}: refused a {what}: {reason}")));
    }
    let passive_fallback = hello.kind != Kind::Crr && fallbacks.lock().is_ok_and(|mut f| f.check(&conn));
    let requested = conn.created_as_mptcp().unwrap_or(false) || passive_fallback;
    let progress = Progress::default();
    match hello.kind {
        Kind::Control => control(&conn, &hello, peer, requested, reg),
        Kind::Data if hello.test_id == 0 => {
            Some(match session::serve_data(&conn, &hello, interval, passive_fallback, &progress, &mut |_| {}) {
                Ok(r) => Event::Session(Box::new(r)),
                Err(e) => Event::SessionFailed(e.chain()),
            })
        }
        kind => {
            if !reg.join(hello.test_id) {
                return Some(Event::Error(format!(
                    "{peer}: a {kind:?} connection of a test this server does not know"
                )));
            }
            match kind {
                Kind::Data => {
                    let r = session::serve_data(&conn, &hello, interval, passive_fallback, &progress, &mut |_| {});
                    let moved = progress.app_bytes.load(std::sync::atomic::Ordering::Relaxed);
                    let entry = StreamEntry::new(hello.index, hello.direction, r, moved);
                    reg.leave(hello.test_id, |st| st.entries.push(entry));
                }
                Kind::Rr => {
                    let r = rr::serve_rr(&conn, &hello);
                    let status = conn.mptcp_status().ok().into();
                    reg.leave(hello.test_id, |st| {
                        st.rr.connections += 1;
                        st.rr.statuses.add(status);
                        match r {
                            Ok(n) => st.rr.transactions += n,
                            Err(e) => st.rr.error = st.rr.error.take().or(Some(format!("{peer}: {}", e.chain()))),
                        }
                    });
                }
                _ => {
                    let r = rr::serve_crr(&conn, &hello);
                    let status = conn.mptcp_status().ok().into();
                    let _ = conn.shutdown(Shutdown::Write);
                    reg.leave(hello.test_id, |st| {
                        st.rr.connections += 1;
                        st.rr.statuses.add(status);
                        match r {
                            Ok(()) => st.rr.transactions += 1,
                            Err(e) => st.rr.error = st.rr.error.take().or(Some(format!("{peer}: {}", e.chain()))),
                        }
                    });
                }
            }
            None
        }
    }
}

/// A test's control connection: registers the test, consents, waits for the
/// client's end, then for the test's connections, and reports the test.
fn control(conn: &TcpStream, hello: &Hello, peer: &str, requested: bool, reg: &Registry) -> Option<Event> {
    let stall = stall_of(hello);
    let mut timed = Timed::new(conn, Limits::stall(stall));
    let id = hello.test_id;
    // The hello's values were checked (`Hello::validate`) before this.
    let refuse = reg.lock().contains_key(&id).then(|| "a test with this id is running".to_string());
    if let Some(reason) = refuse {
        let _ = timed.write_all(&Reply::Refuse(reason.clone()).encode());
        return Some(Event::Error(format!("{peer}: refused a test: {reason}")));
    }
    let rr = ServerRrReport {
        ok: true,
        error: None,
        role: Role::Server,
        mode: hello.mode,
        peer: peer.to_string(),
        connections: 0,
        transactions: 0,
        statuses: Statuses::default(),
        request_size: hello.request_size,
        response_size: hello.response_size,
    };
    let state = TestState {
        hello: *hello,
        peer: peer.to_string(),
        requested_mptcp: requested,
        entries: Vec::new(),
        active: 0,
        started: 0,
        last_activity: Instant::now(),
        rr,
    };
    reg.lock().insert(id, state);
    if let Err(e) = timed.write_all(&Reply::Accept { test_id: id }.encode()) {
        reg.lock().remove(&id);
        return Some(Event::Error(format!("{peer}: answering the bench request: {}", meaning(&e))));
    }
    let abandoned = wait_for_end(conn, reg, id);
    // The client has ended the test: its last connections are finishing.
    let expected = if hello.mode == Mode::Crr { 0 } else { usize::from(hello.streams) };
    let grace = Instant::now() + Duration::from_secs(2);
    let cap = Instant::now() + stall * 4 + Duration::from_secs(10);
    let mut tests = reg.lock();
    loop {
        let st = tests.get(&id)?;
        let now = Instant::now();
        let settled = st.active == 0 && (st.started >= expected || now >= grace);
        if settled || now >= cap {
            break;
        }
        tests = reg
            .changed
            .wait_timeout(tests, Duration::from_millis(100))
            .map(|r| r.0)
            .unwrap_or_else(|p| p.into_inner().0);
    }
    let st = tests.remove(&id)?;
    drop(tests);
    let _ = conn.shutdown(Shutdown::Both);
    let error = abandoned.then(|| "the client went quiet without ending the test".to_string());
    Some(match st.hello.mode {
        Mode::Stream => {
            let facts = TestFacts {
                role: Role::Server,
                peer: st.peer,
                connections: usize::from(st.hello.streams),
                requested_mptcp: st.requested_mptcp,
                error,
            };
            Event::Test(Box::new(TestReport::assemble(facts, st.entries, (None, vec![]), None)))
        }
        _ => {
            let mut r = st.rr;
            r.error = error.or(r.error);
            r.ok = r.error.is_none();
            Event::Rr(r)
        }
    })
}

/// Waits until the client closes the control connection (or it fails);
/// `true` when instead the test went quiet for [`ABANDON_AFTER`].
fn wait_for_end(conn: &TcpStream, reg: &Registry, id: u64) -> bool {
    let mut buf = [0u8; 64];
    loop {
        match (&mut &*conn).read(&mut buf) {
            Ok(0) => return false,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                let quiet =
                    reg.lock().get(&id).is_none_or(|st| st.active == 0 && st.last_activity.elapsed() >= ABANDON_AFTER);
                if quiet {
                    return true;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
}
