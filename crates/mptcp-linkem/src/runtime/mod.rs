//! The runtime: threads in a router namespace that hold forwarded packets
//! in nfnetlink queues and release or drop them as the model says.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use netlink_sys::Socket;
use nix::sched::{setns, CloneFlags};
use nix::sys::eventfd::{EfdFlags, EventFd};

use crate::model::{Link, LinkConfig, Loss, QueueLimit, Rate};
use crate::Error;

mod nfq;
mod nft;
mod nl;
mod worker;

use worker::{Counters, Worker};

/// What an [`Emulator`] does, in which router.
///
/// # Examples
///
/// ```
/// use mptcp_linkem::EmulatorConfig;
/// let mut cfg = EmulatorConfig::new("lan", "wan", "delay=10ms".parse()?, "delay=10ms".parse()?);
/// cfg.gso = mptcp_linkem::Gso::Segment; // one decision per wire packet, always
/// # Ok::<(), mptcp_linkem::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// The router's interface towards the client: packets arriving on it go up.
    pub lan: String,
    /// The router's interface towards the server: packets arriving on it go down.
    pub wan: String,
    /// The link from client to server.
    pub up: LinkConfig,
    /// The link from server to client.
    pub down: LinkConfig,
    /// Whether GSO aggregates reach the model whole or segmented (see [`Gso`]).
    pub gso: Gso,
    /// The kernel's queue length, in packets, per direction: it must hold
    /// everything in flight inside the emulator (rate x delay plus the
    /// emulated queue); beyond it the kernel drops (counted in
    /// [`DirectionStats::kernel_dropped`]). Default 65536.
    pub kernel_queue: u32,
}

impl EmulatorConfig {
    /// A config with the defaults: [`Gso::Auto`], a kernel queue of 65536
    /// packets per direction.
    ///
    /// # Examples
    ///
    /// ```
    /// let cfg = mptcp_linkem::EmulatorConfig::new("lan", "wan", Default::default(), Default::default());
    /// assert_eq!(cfg.kernel_queue, 65536);
    /// ```
    pub fn new(lan: &str, wan: &str, up: LinkConfig, down: LinkConfig) -> EmulatorConfig {
        EmulatorConfig { lan: lan.to_string(), wan: wan.to_string(), up, down, gso: Gso::Auto, kernel_queue: 65536 }
    }
}

/// What the model sees of GSO aggregates (TCP's up-to-64 KB packets that
/// the kernel would segment only on the way out).
///
/// Rate and queue always count the bytes of the packets the aggregate
/// becomes (one set of headers per segment, segments of the outgoing
/// interface's MTU), so a rate means the same either way.
///
/// # Examples
///
/// ```
/// use mptcp_linkem::{EmulatorConfig, Gso};
/// let mut cfg = EmulatorConfig::new("lan", "wan", "delay=5ms".parse()?, "delay=5ms".parse()?);
/// assert_eq!(cfg.gso, Gso::Auto);
/// cfg.gso = Gso::Keep; // also with loss: less CPU, one decision per aggregate
/// # Ok::<(), mptcp_linkem::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Gso {
    /// [`Keep`](Gso::Keep) for a direction without random loss, without
    /// a queue bound and with no rate or a fixed rate of at least
    /// 500 Mbit/s (a 64 KB aggregate then takes at most 1 ms to send);
    /// [`Segment`](Gso::Segment) otherwise. Whole aggregates only where no
    /// decision is taken per packet and their burstiness does not show.
    #[default]
    Auto,
    /// Aggregates reach the model whole (`NFQA_CFG_F_GSO`): delay, jitter,
    /// rate and outages as for their segments, at a fraction of the CPU,
    /// but one loss or queue decision covers up to 45 segments.
    Keep,
    /// The kernel segments aggregates before queueing them: every decision
    /// is per wire packet, at more CPU per byte.
    Segment,
}

impl Gso {
    /// Whether aggregates stay whole for a direction with this link.
    fn keep(self, link: &LinkConfig) -> bool {
        match self {
            Gso::Keep => true,
            Gso::Segment => false,
            Gso::Auto => {
                let fast = match link.rate {
                    Rate::Unlimited => true,
                    Rate::Fixed(bps) => bps >= 500_000_000,
                    Rate::Trace(_) => false,
                };
                fast && link.loss == Loss::None && link.queue == QueueLimit::Unlimited
            }
        }
    }
}

/// Counters of one direction since the emulator started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DirectionStats {
    /// Packets the kernel queued to the emulator.
    pub packets_in: u64,
    /// Their IP bytes.
    pub bytes_in: u64,
    /// Packets released (accepted).
    pub packets_out: u64,
    /// Their IP bytes.
    pub bytes_out: u64,
    /// Packets dropped by random loss.
    pub dropped_loss: u64,
    /// Packets dropped because the emulated queue was full.
    pub dropped_queue: u64,
    /// Packets dropped during an outage.
    pub dropped_outage: u64,
    /// Bursts of random loss (runs of consecutive lost packets): the mean
    /// burst length is `dropped_loss / loss_bursts`.
    pub loss_bursts: u64,
    /// The emulated queue's peak, in IP bytes.
    pub queue_peak_bytes: u64,
    /// The most packets held at once (queue plus delay line).
    pub held_peak: u64,
    /// Packets the kernel dropped because its queue was full (`kernel_queue`).
    pub kernel_dropped: u64,
    /// Packets the kernel dropped because the emulator's socket buffer was full.
    pub kernel_user_dropped: u64,
    /// Verdicts the kernel refused (e.g. for a packet it no longer held
    /// because an interface went down).
    pub verdict_errors: u64,
    /// CPU time of this direction's thread.
    pub cpu: Duration,
}

/// Counters of both directions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Client to server (arriving on `lan`).
    pub up: DirectionStats,
    /// Server to client (arriving on `wan`).
    pub down: DirectionStats,
    /// Time since the emulator started.
    pub elapsed: Duration,
}

impl DirectionStats {
    /// The counters as a JSON object (CPU time as `cpu_s`, in seconds).
    ///
    /// # Examples
    ///
    /// ```
    /// let j = mptcp_linkem::DirectionStats::default().to_json();
    /// assert!(j.starts_with("{\"packets_in\":0,"));
    /// ```
    pub fn to_json(&self) -> String {
        format!(
            "{{\"packets_in\":{},\"bytes_in\":{},\"packets_out\":{},\"bytes_out\":{},\"dropped_loss\":{},\
             \"dropped_queue\":{},\"dropped_outage\":{},\"loss_bursts\":{},\"queue_peak_bytes\":{},\"held_peak\":{},\
             \"kernel_dropped\":{},\"kernel_user_dropped\":{},\"verdict_errors\":{},\"cpu_s\":{:.6}}}",
            self.packets_in,
            self.bytes_in,
            self.packets_out,
            self.bytes_out,
            self.dropped_loss,
            self.dropped_queue,
            self.dropped_outage,
            self.loss_bursts,
            self.queue_peak_bytes,
            self.held_peak,
            self.kernel_dropped,
            self.kernel_user_dropped,
            self.verdict_errors,
            self.cpu.as_secs_f64()
        )
    }
}

impl Stats {
    /// Both directions as a JSON object: `{"elapsed_s":..,"up":{..},"down":{..}}`.
    ///
    /// # Examples
    ///
    /// ```
    /// let j = mptcp_linkem::Stats::default().to_json();
    /// assert!(j.starts_with("{\"elapsed_s\":0.000000,\"up\":{"));
    /// ```
    pub fn to_json(&self) -> String {
        format!(
            "{{\"elapsed_s\":{:.6},\"up\":{},\"down\":{}}}",
            self.elapsed.as_secs_f64(),
            self.up.to_json(),
            self.down.to_json()
        )
    }
}

/// A running emulator: two threads (one per direction) serving the router
/// namespace's queues. Dropping it removes the rules, releases every packet
/// still held, and stops the threads.
#[derive(Debug)]
pub struct Emulator {
    netns: PathBuf,
    netns_file: File,
    table: String,
    /// The socket that owns the nf_tables tables (they die with it).
    nft: Socket,
    families: Vec<nft::Family>,
    queues: (u16, u16),
    stop: Arc<EventFd>,
    threads: Vec<JoinHandle<()>>,
    counters: (Arc<Counters>, Arc<Counters>),
    epoch: u64,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

impl Emulator {
    /// Starts emulating in the network namespace at `netns` (e.g.
    /// `/run/netns/NAME`, or `/proc/PID/ns/net`), which must forward between
    /// `config.lan` and `config.wan`.
    ///
    /// # Errors
    ///
    /// - [`Error::Config`] for an invalid link config;
    /// - [`Error::Netns`] when the namespace cannot be opened or entered;
    /// - [`Error::Router`] when an interface is missing or forwarding is off;
    /// - [`Error::Kernel`] when nf_tables or nfnetlink_queue refuse (no
    ///   privileges, missing kernel features).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use mptcp_linkem::{Emulator, EmulatorConfig};
    /// let cfg = EmulatorConfig::new("lan", "wan", "rate=10mbit delay=25ms".parse()?, "rate=10mbit delay=25ms".parse()?);
    /// let emu = Emulator::start("/run/netns/router", cfg)?;
    /// # Ok::<(), mptcp_linkem::Error>(())
    /// ```
    pub fn start(netns: impl AsRef<Path>, config: EmulatorConfig) -> Result<Emulator, Error> {
        let path = netns.as_ref().to_path_buf();
        let shown = path.display().to_string();
        config.up.validate()?;
        config.down.validate()?;
        if config.lan == config.wan {
            return Err(Error::Config(format!("lan and wan are both `{}`: name two interfaces", config.lan)));
        }
        if config.kernel_queue == 0 {
            return Err(Error::Config("kernel_queue must be at least 1 packet".into()));
        }
        let netns_file = File::open(&path).map_err(|source| Error::Netns { path: shown.clone(), source })?;
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let table = format!("linkem_{}_{n}", std::process::id());
        let setup = std::thread::scope(|s| {
            s.spawn(|| {
                setns(&netns_file, CloneFlags::CLONE_NEWNET)
                    .map_err(|e| Error::Netns { path: shown.clone(), source: e.into() })?;
                setup_in_ns(&shown, &config, &table)
            })
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })?;
        let Setup { nft, families, up, down, mtu } = setup;
        let queues = (up.1, down.1);
        let stop = Arc::new(
            EventFd::from_flags(EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK)
                .map_err(|e| Error::Kernel { what: "creating the stop eventfd".into(), source: e.into() })?,
        );
        let epoch = worker::now_ns();
        let counters = (Arc::new(Counters::default()), Arc::new(Counters::default()));
        let mut emu = Emulator {
            netns: path,
            netns_file,
            table,
            nft,
            families,
            queues,
            stop: Arc::clone(&stop),
            threads: Vec::new(),
            counters: counters.clone(),
            epoch,
        };
        for ((socket, queue), cfg, counters, mtu, name) in
            [(up, config.up, counters.0, mtu.1, "linkem-up"), (down, config.down, counters.1, mtu.0, "linkem-down")]
        {
            let link = Link::new(cfg)?;
            let w = Worker { queue, socket, link, counters, stop: Arc::clone(&stop), mtu, epoch };
            let ns = emu.netns_file.try_clone().map_err(|source| Error::Netns { path: emu.shown(), source })?;
            let handle = std::thread::Builder::new()
                .name(name.into())
                .spawn(move || {
                    // The sockets already belong to the router's namespace;
                    // entering it too keeps the thread's view consistent.
                    let _ = setns(&ns, CloneFlags::CLONE_NEWNET);
                    w.run()
                })
                .map_err(|source| Error::Kernel { what: "starting an emulator thread".into(), source })?;
            emu.threads.push(handle);
        }
        Ok(emu)
    }

    fn shown(&self) -> String {
        self.netns.display().to_string()
    }

    /// The nfnetlink queue numbers in use, `(up, down)`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # let emu: mptcp_linkem::Emulator = unimplemented!();
    /// let (up, down) = emu.queues();
    /// println!("cat /proc/net/netfilter/nfnetlink_queue  # queues {up} and {down}");
    /// ```
    pub fn queues(&self) -> (u16, u16) {
        self.queues
    }

    /// The name of the emulator's nf_tables tables (one `ip`, one `ip6`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # let emu: mptcp_linkem::Emulator = unimplemented!();
    /// println!("nft list table ip {}", emu.table());
    /// ```
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The counters so far (the kernel's drop counters are read from the
    /// namespace's `/proc/net/netfilter/nfnetlink_queue`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # let emu: mptcp_linkem::Emulator = unimplemented!();
    /// let s = emu.stats();
    /// let gbit = s.up.bytes_out as f64 * 8.0 / 1e9;
    /// println!("{:.2} s CPU per Gbit", s.up.cpu.as_secs_f64() / gbit);
    /// ```
    pub fn stats(&self) -> Stats {
        let text = std::thread::scope(|s| {
            s.spawn(|| {
                setns(&self.netns_file, CloneFlags::CLONE_NEWNET).ok()?;
                std::fs::read_to_string("/proc/thread-self/net/netfilter/nfnetlink_queue").ok()
            })
            .join()
            .ok()
            .flatten()
        })
        .unwrap_or_default();
        let one = |c: &Counters, queue: u16| {
            let (kernel_dropped, kernel_user_dropped) = nfq::kernel_drops(&text, queue).unwrap_or_default();
            let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
            DirectionStats {
                packets_in: l(&c.packets_in),
                bytes_in: l(&c.bytes_in),
                packets_out: l(&c.packets_out),
                bytes_out: l(&c.bytes_out),
                dropped_loss: l(&c.dropped_loss),
                dropped_queue: l(&c.dropped_queue),
                dropped_outage: l(&c.dropped_outage),
                loss_bursts: l(&c.loss_bursts),
                queue_peak_bytes: l(&c.queue_peak_bytes),
                held_peak: l(&c.held_peak),
                kernel_dropped,
                kernel_user_dropped,
                verdict_errors: l(&c.verdict_errors),
                cpu: Duration::from_nanos(l(&c.cpu_ns)),
            }
        };
        Stats {
            up: one(&self.counters.0, self.queues.0),
            down: one(&self.counters.1, self.queues.1),
            elapsed: Duration::from_nanos(worker::now_ns().saturating_sub(self.epoch)),
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        // Rules first, so that nothing new is queued; then the threads let
        // what they hold through and exit (closing their queues).
        for &f in &self.families {
            let _ = nft::remove(&self.nft, f, &self.table);
        }
        let _ = self.stop.write(1);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

struct Setup {
    nft: Socket,
    families: Vec<nft::Family>,
    up: (Socket, u16),
    down: (Socket, u16),
    /// MTUs of (lan, wan).
    mtu: (u32, u32),
}

/// Receive buffer of each queue's socket: room for a long burst of metadata.
const RCVBUF: i32 = 32 * 1024 * 1024;

fn setup_in_ns(path: &str, config: &EmulatorConfig, table: &str) -> Result<Setup, Error> {
    let router = |reason: String| Error::Router { path: path.to_string(), reason };
    for ifname in [&config.lan, &config.wan] {
        if nix::net::if_::if_nametoindex(ifname.as_str()).is_err() {
            return Err(router(format!("it has no interface `{ifname}`")));
        }
    }
    let mtu = |ifname: &str| {
        crate::sys::if_mtu(ifname)
            .map_err(|source| Error::Kernel { what: format!("reading the MTU of {ifname}"), source })
    };
    let mtu = (mtu(&config.lan)?, mtu(&config.wan)?);
    let read = |p: &str| std::fs::read_to_string(p).map(|s| s.trim() == "1").unwrap_or(false);
    let v4 = read("/proc/sys/net/ipv4/conf/all/forwarding");
    let v6 = read("/proc/sys/net/ipv6/conf/all/forwarding");
    if !v4 && !v6 {
        return Err(router(
            "forwarding is off: it would not route between lan and wan (set net.ipv4.ip_forward=1 and/or \
             net.ipv6.conf.all.forwarding=1 in it, e.g. `ip netns exec NS sysctl -w net.ipv4.ip_forward=1`)"
                .into(),
        ));
    }
    let kernel = |what: String| move |source: io::Error| Error::Kernel { what: what.clone(), source };
    let up = bind_queue(config, config.gso.keep(&config.up), 0)?;
    let down = bind_queue(config, config.gso.keep(&config.down), up.1.wrapping_add(1))?;
    let nft = nfq::socket().map_err(kernel("opening a NETLINK_NETFILTER socket".into()))?;
    let rules = [(config.lan.as_str(), up.1), (config.wan.as_str(), down.1)];
    let mut families = Vec::new();
    for (family, on) in [(nft::Family::Ip, v4), (nft::Family::Ip6, v6)] {
        if !on {
            continue;
        }
        // A table owned by this socket (Linux 5.12); older kernels refuse
        // the flag, and then the table is removed on drop only.
        let r = nft::install(&nft, family, table, true, &rules).or_else(|e| {
            if matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP | libc::EINVAL)) {
                nft::install(&nft, family, table, false, &rules)
            } else {
                Err(e)
            }
        });
        if let Err(e) = r {
            for &f in &families {
                let _ = nft::remove(&nft, f, table);
            }
            return Err(Error::Kernel {
                what: format!(
                    "adding the nf_tables rule `iifname {} queue num {}` ({:?} table {table})",
                    config.lan, up.1, family
                ),
                source: e,
            });
        }
        families.push(family);
    }
    Ok(Setup { nft, families, up, down, mtu })
}

/// Binds the first free queue number from a per-process start (another
/// process's queue answers EPERM, one of ours EBUSY).
fn bind_queue(config: &EmulatorConfig, gso: bool, after: u16) -> Result<(Socket, u16), Error> {
    let start = if after == 0 { 1000 + (std::process::id() % 500) as u16 * 64 } else { after };
    let mut last = None;
    for k in 0..1024u16 {
        let queue = start.wrapping_add(k);
        let socket = nfq::socket()
            .map_err(|source| Error::Kernel { what: "opening an nfnetlink_queue socket".into(), source })?;
        match nfq::bind(&socket, queue, config.kernel_queue, gso, RCVBUF) {
            Ok(()) => return Ok((socket, queue)),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EPERM | libc::EBUSY)) && is_taken(queue) => last = Some(e),
            Err(e) => {
                return Err(Error::Kernel { what: format!("binding nfnetlink queue {queue}"), source: e });
            }
        }
    }
    Err(Error::Kernel {
        what: "finding a free nfnetlink queue number".into(),
        source: last.unwrap_or_else(|| io::Error::other("none free")),
    })
}

/// Whether `queue` is bound by someone (so EPERM meant "taken", not "no privilege").
fn is_taken(queue: u16) -> bool {
    std::fs::read_to_string("/proc/thread-self/net/netfilter/nfnetlink_queue")
        .map(|t| nfq::kernel_drops(&t, queue).is_some())
        .unwrap_or(false)
}
