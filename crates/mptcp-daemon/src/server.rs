//! One thread answering the control socket (status as JSON) and the
//! metrics listener (HTTP/1.1, `GET /metrics`). It blocks in `poll` until a
//! client, a deadline or the stop byte arrives: no work while nobody asks.
//!
//! Every connection is non-blocking and served as far as it allows each
//! time `poll` says so, with an overall deadline ([`CLIENT_DEADLINE`]) from
//! its accept: a client that sends its request a byte at a time, or never
//! reads the answer, holds nobody up and is closed at its deadline. At most
//! [`MAX_CLIENTS`] connections are open; a new one closes the oldest.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::metrics::{self, DaemonView, CONTENT_TYPE};
use crate::status::Status;

/// What the daemon publishes for the servers.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub status: Status,
    pub view: DaemonView,
}

/// From accept to the last byte of the answer, at most.
const CLIENT_DEADLINE: Duration = Duration::from_secs(5);
/// Connections open at once, at most (both listeners together).
const MAX_CLIENTS: usize = 128;
/// An HTTP request head is at most this large.
const MAX_REQUEST: usize = 8192;

pub(crate) struct Servers {
    stop: UnixStream,
    thread: Option<JoinHandle<()>>,
}

impl Servers {
    /// Starts the thread (in the calling thread's network namespace).
    pub fn start(
        control: Option<UnixListener>,
        metrics: Option<TcpListener>,
        shared: Arc<Mutex<Shared>>,
    ) -> io::Result<Servers> {
        if let Some(l) = &control {
            l.set_nonblocking(true)?;
        }
        if let Some(l) = &metrics {
            l.set_nonblocking(true)?;
        }
        let (stop, stop_rx) = UnixStream::pair()?;
        let thread = std::thread::Builder::new()
            .name("mptcp-daemon-servers".into())
            .spawn(move || Server { control, metrics, shared, clients: Vec::new(), pm: None }.run(stop_rx))?;
        Ok(Servers { stop, thread: Some(thread) })
    }

    pub fn stop(mut self) {
        let _ = self.stop.write_all(b"x");
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A connection's socket.
enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Stream {
    fn fd(&self) -> BorrowedFd<'_> {
        match self {
            Stream::Unix(s) => s.as_fd(),
            Stream::Tcp(s) => s.as_fd(),
        }
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.read(buf),
            Stream::Tcp(s) => s.read(buf),
        }
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.write(buf),
            Stream::Tcp(s) => s.write(buf),
        }
    }
}

/// Where a connection is.
enum Phase {
    /// Reading an HTTP request head.
    Reading(Vec<u8>),
    /// Writing the answer from `.1` on; closed once written.
    Writing(Vec<u8>, usize),
}

struct Client {
    stream: Stream,
    deadline: Instant,
    phase: Phase,
}

/// What became of a connection after serving it.
enum Next {
    Keep,
    Close,
}

struct Server {
    control: Option<UnixListener>,
    metrics: Option<TcpListener>,
    shared: Arc<Mutex<Shared>>,
    clients: Vec<Client>,
    /// The path manager for the metrics (opened at the first scrape).
    pm: Option<mptcp::pm::PathManager>,
}

impl Server {
    fn run(mut self, stop: UnixStream) {
        loop {
            let now = Instant::now();
            self.clients.retain(|c| c.deadline > now);
            let timeout = match self.clients.iter().map(|c| c.deadline).min() {
                None => PollTimeout::NONE,
                Some(d) => {
                    let ms = d.saturating_duration_since(now).as_millis().clamp(1, 60_000) as u16;
                    PollTimeout::from(ms)
                }
            };
            let (stop_ready, control_ready, metrics_ready, ready) = {
                let mut fds = vec![PollFd::new(stop.as_fd(), PollFlags::POLLIN)];
                let control_at = self.control.as_ref().map(|l| {
                    fds.push(PollFd::new(l.as_fd(), PollFlags::POLLIN));
                    fds.len() - 1
                });
                let metrics_at = self.metrics.as_ref().map(|l| {
                    fds.push(PollFd::new(l.as_fd(), PollFlags::POLLIN));
                    fds.len() - 1
                });
                let first_client = fds.len();
                for c in &self.clients {
                    let want = match c.phase {
                        Phase::Reading(_) => PollFlags::POLLIN,
                        Phase::Writing(..) => PollFlags::POLLOUT,
                    };
                    fds.push(PollFd::new(c.stream.fd(), want));
                }
                match poll(&mut fds, timeout) {
                    Ok(_) => {}
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(e) => {
                        log::error!("status and metrics server stopped: poll: {e}");
                        return;
                    }
                }
                let is_ready = |f: &PollFd| f.revents().is_some_and(|r| !r.is_empty());
                let at = |i: Option<usize>| i.is_some_and(|i| is_ready(&fds[i]));
                let ready: Vec<bool> = fds[first_client..].iter().map(is_ready).collect();
                (is_ready(&fds[0]), at(control_at), at(metrics_at), ready)
            };
            if stop_ready {
                return;
            }
            // Serve the ready connections first (the indexes are those polled).
            let mut kept = Vec::with_capacity(self.clients.len());
            for (i, mut c) in std::mem::take(&mut self.clients).into_iter().enumerate() {
                let keep = !ready.get(i).copied().unwrap_or(false) || matches!(self.serve(&mut c), Next::Keep);
                if keep {
                    kept.push(c);
                }
            }
            self.clients = kept;
            if control_ready {
                self.accept_control();
            }
            if metrics_ready {
                self.accept_metrics();
            }
        }
    }

    /// Makes room for one more connection: the oldest is closed.
    fn make_room(&mut self) {
        while self.clients.len() >= MAX_CLIENTS {
            let oldest = self.clients.iter().enumerate().min_by_key(|(_, c)| c.deadline).map(|(i, _)| i);
            match oldest {
                Some(i) => {
                    self.clients.swap_remove(i);
                }
                None => break,
            }
        }
    }

    /// Out of descriptors: the oldest connection gives its own.
    fn out_of_descriptors(&mut self, e: &io::Error) {
        log::debug!("accept: {e}");
        if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) {
            if let Some(i) = self.clients.iter().enumerate().min_by_key(|(_, c)| c.deadline).map(|(i, _)| i) {
                self.clients.swap_remove(i);
            }
        }
    }

    fn accept_control(&mut self) {
        let Some(l) = &self.control else { return };
        let (accepted, failed) = accept_all(|| l.accept().map(|(s, _)| s));
        if let Some(e) = failed {
            self.out_of_descriptors(&e);
        }
        for s in accepted {
            if s.set_nonblocking(true).is_err() {
                continue;
            }
            let json = serde_json::to_vec(&lock(&self.shared).status).unwrap_or_default();
            self.add(Stream::Unix(s), Phase::Writing(json, 0));
        }
    }

    fn accept_metrics(&mut self) {
        let Some(l) = &self.metrics else { return };
        let (accepted, failed) = accept_all(|| l.accept().map(|(s, _)| s));
        if let Some(e) = failed {
            self.out_of_descriptors(&e);
        }
        for s in accepted {
            if s.set_nonblocking(true).is_err() {
                continue;
            }
            self.add(Stream::Tcp(s), Phase::Reading(Vec::new()));
        }
    }

    /// Serves a new connection as far as it goes at once, then keeps it.
    fn add(&mut self, stream: Stream, phase: Phase) {
        let mut c = Client { stream, deadline: Instant::now() + CLIENT_DEADLINE, phase };
        if let Next::Keep = self.serve(&mut c) {
            self.make_room();
            self.clients.push(c);
        }
    }

    /// Reads and writes what the connection allows without blocking.
    fn serve(&mut self, c: &mut Client) -> Next {
        loop {
            match &mut c.phase {
                Phase::Reading(head) => {
                    let mut buf = [0u8; 1024];
                    match c.stream.read(&mut buf) {
                        Ok(0) => {
                            // The client finished sending: answer what came.
                            let head = std::mem::take(head);
                            c.phase = Phase::Writing(self.answer(&head), 0);
                        }
                        Ok(n) => {
                            head.extend_from_slice(&buf[..n]);
                            if head.windows(4).any(|w| w == b"\r\n\r\n") || head.len() > MAX_REQUEST {
                                let head = std::mem::take(head);
                                c.phase = Phase::Writing(self.answer(&head), 0);
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Next::Keep,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            log::debug!("metrics client: {e}");
                            return Next::Close;
                        }
                    }
                }
                Phase::Writing(out, pos) => {
                    if *pos >= out.len() {
                        return Next::Close;
                    }
                    match c.stream.write(&out[*pos..]) {
                        Ok(0) => return Next::Close,
                        Ok(n) => *pos += n,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Next::Keep,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            log::debug!("status or metrics client: {e}");
                            return Next::Close;
                        }
                    }
                }
            }
        }
    }

    /// The whole HTTP answer to a request head (the connection is closed
    /// after it).
    fn answer(&mut self, head: &[u8]) -> Vec<u8> {
        if head.len() > MAX_REQUEST {
            return respond("431 Request Header Fields Too Large", "text/plain", b"request too large\n", true);
        }
        let head = String::from_utf8_lossy(head);
        let mut parts = head.lines().next().unwrap_or("").split_whitespace();
        let (method, target, version) =
            (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        if !version.starts_with("HTTP/1.") {
            return respond("400 Bad Request", "text/plain", b"bad request\n", true);
        }
        let path = target.split('?').next().unwrap_or("");
        let body_wanted = method == "GET";
        if method != "GET" && method != "HEAD" {
            return respond("405 Method Not Allowed", "text/plain", b"only GET and HEAD\n", true);
        }
        match path {
            "/metrics" => {
                let view = lock(&self.shared).view.clone();
                if self.pm.is_none() {
                    self.pm = mptcp::pm::PathManager::new().ok();
                }
                let text = metrics::render(&view, self.pm.as_mut());
                respond("200 OK", CONTENT_TYPE, text.as_bytes(), body_wanted)
            }
            "/" => respond("200 OK", "text/plain; charset=utf-8", b"mptcp daemon: metrics at /metrics\n", body_wanted),
            _ => respond("404 Not Found", "text/plain", b"not found; metrics are at /metrics\n", body_wanted),
        }
    }
}

/// Accepts what is waiting; the error that stopped it, unless it was
/// only that nothing more waits.
fn accept_all<S>(mut accept: impl FnMut() -> io::Result<S>) -> (Vec<S>, Option<io::Error>) {
    let mut out = Vec::new();
    loop {
        match accept() {
            Ok(s) => out.push(s),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return (out, None),
            Err(e) => return (out, Some(e)),
        }
    }
}

fn lock(shared: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(|p| p.into_inner())
}

fn respond(status: &str, ctype: &str, body: &[u8], with_body: bool) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n{}\r\n",
        body.len(),
        if status.starts_with("405") { "Allow: GET, HEAD\r\n" } else { "" }
    )
    .into_bytes();
    if with_body {
        out.extend_from_slice(body);
    }
    out
}
