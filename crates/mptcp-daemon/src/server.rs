//! One thread answering the control socket (status as JSON) and the
//! metrics listener (HTTP/1.1, `GET /metrics`). It blocks in `poll` until a
//! client or the stop byte arrives: no work while nobody asks.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::metrics::{self, DaemonView, CONTENT_TYPE};
use crate::status::Status;

/// What the daemon publishes for the servers.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub status: Status,
    pub view: DaemonView,
}

const CLIENT_TIMEOUT: Duration = Duration::from_secs(2);
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
        let (stop, stop_rx) = UnixStream::pair()?;
        let thread = std::thread::Builder::new()
            .name("mptcp-daemon-servers".into())
            .spawn(move || serve(stop_rx, control, metrics, shared))?;
        Ok(Servers { stop, thread: Some(thread) })
    }

    pub fn stop(mut self) {
        let _ = self.stop.write_all(b"x");
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(stop: UnixStream, control: Option<UnixListener>, metrics: Option<TcpListener>, shared: Arc<Mutex<Shared>>) {
    let mut pm = None;
    loop {
        let (c_ready, m_ready) = {
            let mut fds = vec![PollFd::new(stop.as_fd(), PollFlags::POLLIN)];
            if let Some(c) = &control {
                fds.push(PollFd::new(c.as_fd(), PollFlags::POLLIN));
            }
            if let Some(m) = &metrics {
                fds.push(PollFd::new(m.as_fd(), PollFlags::POLLIN));
            }
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => {
                    log::error!("status and metrics server stopped: poll: {e}");
                    return;
                }
            }
            let ready = |i: usize| fds.get(i).and_then(|f| f.revents()).is_some_and(|r| !r.is_empty());
            if ready(0) {
                return;
            }
            let c = control.is_some() && ready(1);
            let m = metrics.is_some() && ready(if control.is_some() { 2 } else { 1 });
            (c, m)
        };
        if c_ready {
            if let Some(Ok((mut s, _))) = control.as_ref().map(|l| l.accept()) {
                let json = serde_json::to_vec(&lock(&shared).status).unwrap_or_default();
                let _ = s.set_write_timeout(Some(CLIENT_TIMEOUT));
                let _ = s.write_all(&json);
            }
        }
        if m_ready {
            if let Some(Ok((s, _))) = metrics.as_ref().map(|l| l.accept()) {
                if pm.is_none() {
                    pm = mptcp::pm::PathManager::new().ok();
                }
                if let Err(e) = answer_http(s, &shared, &mut pm) {
                    log::debug!("metrics client: {e}");
                }
            }
        }
    }
}

fn lock(shared: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(|p| p.into_inner())
}

/// Reads one request head and answers it; the connection is closed after.
fn answer_http(mut s: TcpStream, shared: &Mutex<Shared>, pm: &mut Option<mptcp::pm::PathManager>) -> io::Result<()> {
    s.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    s.set_write_timeout(Some(CLIENT_TIMEOUT))?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
        if head.len() > MAX_REQUEST {
            return respond(&mut s, "431 Request Header Fields Too Large", "text/plain", b"request too large\n", true);
        }
    }
    let head = String::from_utf8_lossy(&head);
    let mut parts = head.lines().next().unwrap_or("").split_whitespace();
    let (method, target, version) =
        (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if !version.starts_with("HTTP/1.") {
        return respond(&mut s, "400 Bad Request", "text/plain", b"bad request\n", true);
    }
    let path = target.split('?').next().unwrap_or("");
    let body_wanted = method == "GET";
    if method != "GET" && method != "HEAD" {
        return respond(&mut s, "405 Method Not Allowed", "text/plain", b"only GET and HEAD\n", true);
    }
    match path {
        "/metrics" => {
            let view = lock(shared).view.clone();
            let text = metrics::render(&view, pm.as_mut());
            respond(&mut s, "200 OK", CONTENT_TYPE, text.as_bytes(), body_wanted)
        }
        "/" => {
            respond(&mut s, "200 OK", "text/plain; charset=utf-8", b"mptcp daemon: metrics at /metrics\n", body_wanted)
        }
        _ => respond(&mut s, "404 Not Found", "text/plain", b"not found; metrics are at /metrics\n", body_wanted),
    }
}

fn respond(s: &mut TcpStream, status: &str, ctype: &str, body: &[u8], with_body: bool) -> io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n{}\r\n",
        body.len(),
        if status.starts_with("405") { "Allow: GET, HEAD\r\n" } else { "" }
    );
    s.write_all(head.as_bytes())?;
    if with_body {
        s.write_all(body)?;
    }
    s.flush()
}
