//! One direction's thread: receive packet metadata, ask the model, send
//! verdicts at the release times.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use netlink_sys::Socket;
use nix::poll::{ppoll, PollFd, PollFlags};
use nix::sys::eventfd::EventFd;
use nix::sys::time::TimeSpec;
use nix::time::{clock_gettime, ClockId};

use super::nfq::{self, Incoming, ACCEPT, DROP};
use crate::model::{Cause, Decision, Link};
use crate::sys::{self, RecvBatch};

/// Counters shared with [`super::Emulator::stats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) packets_in: AtomicU64,
    pub(crate) bytes_in: AtomicU64,
    pub(crate) packets_out: AtomicU64,
    pub(crate) bytes_out: AtomicU64,
    pub(crate) dropped_loss: AtomicU64,
    pub(crate) dropped_queue: AtomicU64,
    pub(crate) dropped_outage: AtomicU64,
    pub(crate) loss_bursts: AtomicU64,
    pub(crate) queue_peak_bytes: AtomicU64,
    pub(crate) held_peak: AtomicU64,
    pub(crate) verdict_errors: AtomicU64,
    pub(crate) cpu_ns: AtomicU64,
}

/// CLOCK_MONOTONIC in ns.
pub(crate) fn now_ns() -> u64 {
    let t = clock_gettime(ClockId::CLOCK_MONOTONIC).map(Duration::from).unwrap_or_default();
    t.as_nanos() as u64
}

fn thread_cpu_ns() -> u64 {
    clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID).map(Duration::from).unwrap_or_default().as_nanos() as u64
}

/// Datagrams per `recvmmsg` and the size of each (a packet message with
/// 64 bytes of payload is about 150 bytes; errors quote our short requests).
const BATCH: usize = 64;
const DATAGRAM: usize = 2048;
/// How early a thread holding at most `SPIN_HELD` packets (sparse
/// traffic: pings, probes) wakes up, to spin until the release time.
const SPIN_NS: u64 = 60_000;
const SPIN_HELD: usize = 1;
/// How often the thread's CPU time is published.
const CPU_EVERY_NS: u64 = 50_000_000;

pub(crate) struct Worker {
    pub(crate) queue: u16,
    pub(crate) socket: Socket,
    pub(crate) link: Link,
    pub(crate) counters: Arc<Counters>,
    pub(crate) stop: Arc<EventFd>,
    /// MTU of the interface the packets leave by: GSO aggregates are
    /// counted as the segments they become.
    pub(crate) mtu: u32,
    /// CLOCK_MONOTONIC ns of the link's time 0.
    pub(crate) epoch: u64,
}

/// A packet held until its release: ordered by (time, arrival).
type Held = Reverse<(u64, u64, u32, u32)>;

impl Worker {
    pub(crate) fn run(mut self) {
        // Wake up as close to each release time as the kernel can.
        let _ = sys::set_timer_slack(1);
        let reorder = self.link.config().reorder;
        let mut held: BinaryHeap<Held> = BinaryHeap::new();
        let mut arrivals: u64 = 0;
        let mut batch = RecvBatch::new(BATCH, DATAGRAM);
        let mut out: Vec<u8> = Vec::with_capacity(64 * 1024);
        let mut last_cpu = 0u64;
        let c = Arc::clone(&self.counters);
        loop {
            // Release what is due.
            let now = now_ns();
            let mut last: Option<u32> = None;
            while let Some(Reverse((t, _, id, len))) = held.peek().copied() {
                if t > now {
                    break;
                }
                held.pop();
                c.packets_out.fetch_add(1, Ordering::Relaxed);
                c.bytes_out.fetch_add(u64::from(len), Ordering::Relaxed);
                if reorder {
                    nfq::put_verdict(&mut out, self.queue, id, ACCEPT);
                } else {
                    last = Some(id);
                }
            }
            if let Some(id) = last {
                nfq::put_verdict_batch(&mut out, self.queue, id, ACCEPT);
            }
            self.flush(&mut out);
            if now.saturating_sub(last_cpu) >= CPU_EVERY_NS {
                c.cpu_ns.store(thread_cpu_ns(), Ordering::Relaxed);
                last_cpu = now;
            }
            // Sleep until the next release, a packet, or the stop
            // (ppoll's timeout has ns precision: no timer to arm). Holding a
            // single packet (sparse traffic, where each packet's timing
            // shows), wake up a little early and spin to the release time:
            // a timer wake-up is often tens of microseconds late.
            let mut timeout = None;
            if let Some(&Reverse((t, ..))) = held.peek() {
                let wait = t.saturating_sub(now_ns());
                if held.len() <= SPIN_HELD {
                    if wait <= SPIN_NS {
                        while now_ns() < t {
                            std::hint::spin_loop();
                        }
                        continue;
                    }
                    timeout = Some(TimeSpec::from_duration(Duration::from_nanos(wait - SPIN_NS)));
                } else {
                    timeout = Some(TimeSpec::from_duration(Duration::from_nanos(wait)));
                }
            }
            let mut fds = [
                PollFd::new(self.socket.as_fd(), PollFlags::POLLIN),
                PollFd::new(self.stop.as_fd(), PollFlags::POLLIN),
            ];
            match ppoll(&mut fds, timeout, None) {
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => break,
            }
            let ready = |i: usize, fds: &[PollFd<'_>]| fds[i].revents().is_some_and(|r| !r.is_empty());
            let (packets, stop) = (ready(0, &fds), ready(1, &fds));
            if stop {
                break;
            }
            if packets {
                self.receive(&mut batch, &mut held, &mut arrivals, &mut out);
                self.flush(&mut out);
                let n = held.len() as u64;
                if n > c.held_peak.load(Ordering::Relaxed) {
                    c.held_peak.store(n, Ordering::Relaxed);
                }
            }
        }
        // Stopping: let everything still held through at once (the rules
        // are already gone), so stopping causes no loss.
        let mut last = None;
        while let Some(Reverse((_, _, id, len))) = held.pop() {
            c.packets_out.fetch_add(1, Ordering::Relaxed);
            c.bytes_out.fetch_add(u64::from(len), Ordering::Relaxed);
            if reorder {
                nfq::put_verdict(&mut out, self.queue, id, ACCEPT);
            } else {
                last = Some(id);
            }
        }
        if let Some(id) = last {
            nfq::put_verdict_batch(&mut out, self.queue, id, ACCEPT);
        }
        self.flush(&mut out);
        c.cpu_ns.store(thread_cpu_ns(), Ordering::Relaxed);
    }

    /// Reads every waiting message (a bounded number of rounds, so releases
    /// are not starved under load) and decides on each packet.
    fn receive(&mut self, batch: &mut RecvBatch, held: &mut BinaryHeap<Held>, arrivals: &mut u64, out: &mut Vec<u8>) {
        let c = Arc::clone(&self.counters);
        for _ in 0..16 {
            let fd: BorrowedFd<'_> = self.socket.as_fd();
            let n = match batch.recv(fd) {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let now = now_ns();
            let since = Duration::from_nanos(now.saturating_sub(self.epoch));
            for i in 0..n {
                let (data, _truncated) = batch.get(i);
                for m in nfq::parse(data) {
                    let (id, len) = match m {
                        Incoming::Packet { id, len, headers, .. } => (id, nfq::wire_len(len, headers, self.mtu)),
                        Incoming::Error(_) => {
                            c.verdict_errors.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                    };
                    c.packets_in.fetch_add(1, Ordering::Relaxed);
                    c.bytes_in.fetch_add(u64::from(len), Ordering::Relaxed);
                    let bursts = self.link.loss_bursts();
                    match self.link.offer(since, len) {
                        Decision::Drop(cause) => {
                            let counter = match cause {
                                Cause::Loss => &c.dropped_loss,
                                Cause::QueueFull => &c.dropped_queue,
                                Cause::Outage => &c.dropped_outage,
                            };
                            counter.fetch_add(1, Ordering::Relaxed);
                            if self.link.loss_bursts() != bursts {
                                c.loss_bursts.fetch_add(1, Ordering::Relaxed);
                            }
                            nfq::put_verdict(out, self.queue, id, DROP);
                        }
                        Decision::Release(at) => {
                            let t = self.epoch.saturating_add(at.as_nanos() as u64);
                            held.push(Reverse((t, *arrivals, id, len)));
                            *arrivals += 1;
                        }
                    }
                    let q = self.link.queue_bytes();
                    if q > c.queue_peak_bytes.load(Ordering::Relaxed) {
                        c.queue_peak_bytes.store(q, Ordering::Relaxed);
                    }
                }
            }
            if n < BATCH {
                return;
            }
        }
    }

    fn flush(&self, out: &mut Vec<u8>) {
        if out.is_empty() {
            return;
        }
        // Many verdicts per datagram; the kernel handles them in order.
        if self.socket.send(out, 0).is_err() {
            self.counters.verdict_errors.fetch_add(1, Ordering::Relaxed);
        }
        out.clear();
    }
}
