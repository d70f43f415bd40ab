//! MPTCP's kernel counters (the `MPTcpExt` MIB of a network namespace), and
//! what they tell a server that `accept()` cannot.
//!
//! The kernel counts MPTCP events (handshakes, fallbacks, joins, address
//! announcements, retransmissions) per network namespace, in two `MPTcpExt:`
//! lines of `/proc/net/netstat`. [`MptcpCounters`] is a snapshot of them, with
//! deltas ([`MptcpCounters::since`]) and [`CounterKind`] for monitoring.
//!
//! [`PassiveFallbackDetector`] uses them for the one case a server cannot see
//! on the socket: when a middlebox strips MPTCP from the SYN-ACK, `accept()`
//! returns a plain TCP socket, exactly as for a client that never asked for
//! MPTCP; only the counter `MPCapableFallbackACK` tells the two apart.
//!
//! # Examples
//!
//! ```no_run
//! use mptcp::counters::MptcpCounters;
//!
//! let before = MptcpCounters::read()?;
//! // ... serve for a while ...
//! let after = MptcpCounters::read()?;
//! let d = after.since(&before);
//! println!("MPTCP handshakes received: {:?}", d.mp_capable_syn_rx());
//! println!("clients that fell back to TCP: {:?}", d.mp_capable_fallback_ack());
//! # Ok::<(), mptcp::counters::CountersError>(())
//! ```

use std::io;
use std::path::{Path, PathBuf};

use crate::MptcpStatus;

/// The file [`MptcpCounters::read`] reads: the counters of the calling
/// thread's network namespace (`/proc/net/netstat` follows the process's,
/// which differs for a thread that entered another namespace with `setns`).
pub const NETSTAT_PATH: &str = "/proc/thread-self/net/netstat";

/// Prefix of the two `/proc/net/netstat` lines that hold the MPTCP counters.
const PREFIX: &str = "MPTcpExt:";

/// Why the counters could not be read or understood.
///
/// Converts into [`io::Error`] for callers that deal in those.
///
/// # Examples
///
/// ```
/// use mptcp::counters::{CountersError, MptcpCounters};
///
/// let err = MptcpCounters::parse("MPTcpExt: MPCurrEstab\nMPTcpExt: many\n").unwrap_err();
/// assert!(matches!(err, CountersError::Malformed { line: 2, .. }));
/// let io: std::io::Error = err.into();
/// assert_eq!(io.kind(), std::io::ErrorKind::InvalidData);
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CountersError {
    /// The counters file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the kernel said.
        #[source]
        source: io::Error,
    },
    /// The text is not in the `/proc/net/netstat` format.
    #[error("malformed MPTcpExt counters at line {line}: {reason}")]
    Malformed {
        /// 1-based line of the text.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// A counter this needs is absent: MPTCP is not built into the kernel,
    /// or the kernel predates the counter.
    #[error("the kernel has no MPTcpExt counter {name} (no MPTCP in this kernel, or one older than the counter)")]
    Missing {
        /// The counter's name.
        name: &'static str,
    },
    /// Not Linux: there are no MPTCP counters.
    #[error("MPTCP counters exist only on Linux")]
    Unsupported,
}

impl From<CountersError> for io::Error {
    fn from(e: CountersError) -> io::Error {
        let kind = match &e {
            CountersError::Read { source, .. } => source.kind(),
            CountersError::Malformed { .. } => io::ErrorKind::InvalidData,
            CountersError::Missing { .. } | CountersError::Unsupported => io::ErrorKind::Unsupported,
        };
        io::Error::new(kind, e)
    }
}

/// Whether a value only grows (a counter) or goes up and down (a gauge).
///
/// # Examples
///
/// ```
/// use mptcp::counters::CounterKind;
///
/// assert_eq!(CounterKind::of("MPCapableSYNRX"), CounterKind::Counter);
/// assert_eq!(CounterKind::of("MPCurrEstab"), CounterKind::Gauge);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CounterKind {
    /// Counts events since the namespace was created; never goes down.
    Counter,
    /// A current value: `MPCurrEstab`, the MPTCP connections established now.
    Gauge,
}

impl CounterKind {
    /// The kind of the `MPTcpExt` value `name` (every one is a counter
    /// except `MPCurrEstab`).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(mptcp::counters::CounterKind::of("Blackhole"), mptcp::counters::CounterKind::Counter);
    /// ```
    pub fn of(name: &str) -> CounterKind {
        if name == MptcpCounters::CURR_ESTAB {
            CounterKind::Gauge
        } else {
            CounterKind::Counter
        }
    }
}

/// A snapshot of the `MPTcpExt` counters of one network namespace, in the
/// kernel's order.
///
/// Empty when the kernel has no MPTCP (no `MPTcpExt` lines). Counters that
/// a kernel predates are absent: the accessors return `None` for them.
///
/// # Examples
///
/// ```
/// use mptcp::counters::MptcpCounters;
///
/// let text = "TcpExt: SyncookiesSent\nTcpExt: 0\n\
///             MPTcpExt: MPCapableSYNRX MPCapableFallbackACK MPCurrEstab\n\
///             MPTcpExt: 12 1 3\n";
/// let c = MptcpCounters::parse(text)?;
/// assert_eq!(c.mp_capable_syn_rx(), Some(12));
/// assert_eq!(c.get("MPCapableFallbackACK"), Some(1));
/// assert_eq!(c.get("NoSuchCounter"), None);
/// # Ok::<(), mptcp::counters::CountersError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MptcpCounters {
    entries: Vec<(String, u64)>,
}

impl MptcpCounters {
    /// Reads the counters of the calling thread's network namespace from
    /// [`NETSTAT_PATH`].
    ///
    /// # Errors
    ///
    /// [`CountersError::Read`] when the file cannot be read,
    /// [`CountersError::Malformed`] when its MPTCP lines make no sense,
    /// [`CountersError::Unsupported`] on other operating systems.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let c = mptcp::counters::MptcpCounters::read()?;
    /// println!("MPTCP connections established now: {:?}", c.curr_estab());
    /// # Ok::<(), mptcp::counters::CountersError>(())
    /// ```
    pub fn read() -> Result<MptcpCounters, CountersError> {
        if cfg!(mptcp_linux) {
            MptcpCounters::read_from(NETSTAT_PATH)
        } else {
            Err(CountersError::Unsupported)
        }
    }

    /// Reads the counters from a file in the `/proc/net/netstat` format,
    /// e.g. `/proc/<pid>/net/netstat` for the namespace of process `pid`.
    ///
    /// # Errors
    ///
    /// As [`read`](MptcpCounters::read), without `Unsupported`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// // The namespace of process 1.
    /// let c = mptcp::counters::MptcpCounters::read_from("/proc/1/net/netstat")?;
    /// # Ok::<(), mptcp::counters::CountersError>(())
    /// ```
    pub fn read_from(path: impl AsRef<Path>) -> Result<MptcpCounters, CountersError> {
        let path = path.as_ref();
        let text =
            std::fs::read_to_string(path).map_err(|source| CountersError::Read { path: path.to_path_buf(), source })?;
        MptcpCounters::parse(&text)
    }

    /// Parses the text of `/proc/net/netstat`: the first `MPTcpExt:` line
    /// holds the names, the next one the values. Other sections are ignored;
    /// text without `MPTcpExt` lines gives an empty snapshot.
    ///
    /// # Errors
    ///
    /// [`CountersError::Malformed`] (naming the line) when the names line has
    /// no values line after it, when the numbers of names and values differ,
    /// or when a value is not an unsigned integer.
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp::counters::MptcpCounters;
    ///
    /// assert!(MptcpCounters::parse("IpExt: InNoRoutes\nIpExt: 0\n")?.is_empty());
    /// assert!(MptcpCounters::parse("MPTcpExt: MPCurrEstab\n").is_err()); // no values line
    /// # Ok::<(), mptcp::counters::CountersError>(())
    /// ```
    pub fn parse(netstat: &str) -> Result<MptcpCounters, CountersError> {
        let malformed = |line: usize, reason: String| CountersError::Malformed { line, reason };
        // Lines with whether they were ended: a values line without its
        // newline is a cut copy, whose last number may be cut too.
        let mut lines = netstat.split_inclusive('\n').enumerate().map(|(i, l)| {
            let ended = l.ends_with('\n');
            let l = l.strip_suffix('\n').unwrap_or(l);
            (i + 1, l.strip_suffix('\r').unwrap_or(l), ended)
        });
        while let Some((at, line, _)) = lines.next() {
            let Some(names) = line.strip_prefix(PREFIX) else { continue };
            let names: Vec<&str> = names.split_whitespace().collect();
            if let Some(n) = names.iter().find(|n| !n.starts_with(|c: char| c.is_ascii_alphabetic())) {
                return Err(malformed(at, format!("{n:?} is not a counter name (values before names?)")));
            }
            let Some((vat, values, ended)) = lines.next() else {
                return Err(malformed(at, "the names line has no values line after it".into()));
            };
            if !ended {
                return Err(malformed(vat, "the values line is cut short (no newline at its end)".into()));
            }
            let Some(values) = values.strip_prefix(PREFIX) else {
                return Err(malformed(vat, format!("expected the {PREFIX} values line")));
            };
            let values: Vec<&str> = values.split_whitespace().collect();
            if values.len() != names.len() {
                return Err(malformed(vat, format!("{} values for {} names", values.len(), names.len())));
            }
            let mut entries = Vec::with_capacity(names.len());
            for (name, value) in names.iter().zip(&values) {
                let v = value.parse::<u64>().map_err(|_| malformed(vat, format!("{name} = {value:?}")))?;
                entries.push((name.to_string(), v));
            }
            return Ok(MptcpCounters { entries });
        }
        Ok(MptcpCounters::default())
    }

    /// The value of the counter `name` (e.g. `MPJoinSynAckRx`), `None` when
    /// this kernel has no such counter.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = mptcp::counters::MptcpCounters::parse("MPTcpExt: MPJoinSynAckRx\nMPTcpExt: 4\n")?;
    /// assert_eq!(c.get("MPJoinSynAckRx"), Some(4));
    /// # Ok::<(), mptcp::counters::CountersError>(())
    /// ```
    pub fn get(&self, name: &str) -> Option<u64> {
        self.entries.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
    }

    /// Every counter as `(name, value)`, in the kernel's order.
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp::counters::{CounterKind, MptcpCounters};
    ///
    /// let c = MptcpCounters::parse("MPTcpExt: MPTCPRetrans MPCurrEstab\nMPTcpExt: 5 2\n")?;
    /// // What a metrics exporter would write.
    /// for (name, value) in c.iter() {
    ///     let kind = if CounterKind::of(name) == CounterKind::Gauge { "gauge" } else { "counter" };
    ///     println!("# TYPE mptcp_{name} {kind}\nmptcp_{name} {value}");
    /// }
    /// assert_eq!(c.iter().collect::<Vec<_>>(), [("MPTCPRetrans", 5), ("MPCurrEstab", 2)]);
    /// # Ok::<(), mptcp::counters::CountersError>(())
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> + '_ {
        self.entries.iter().map(|(n, v)| (n.as_str(), *v))
    }

    /// `true` when the kernel showed no MPTCP counters (no MPTCP built in).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(mptcp::counters::MptcpCounters::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// What happened between `earlier` and this snapshot: for each counter
    /// here, its increase (0 if it went down, which happens only between
    /// snapshots of different namespaces; the whole value if `earlier` lacks
    /// it); gauges keep this snapshot's value.
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp::counters::MptcpCounters;
    ///
    /// let a = MptcpCounters::parse("MPTcpExt: MPCapableSYNRX MPCurrEstab\nMPTcpExt: 10 4\n")?;
    /// let b = MptcpCounters::parse("MPTcpExt: MPCapableSYNRX MPCurrEstab\nMPTcpExt: 13 2\n")?;
    /// let d = b.since(&a);
    /// assert_eq!(d.mp_capable_syn_rx(), Some(3));
    /// assert_eq!(d.curr_estab(), Some(2)); // a gauge: the current value
    /// # Ok::<(), mptcp::counters::CountersError>(())
    /// ```
    pub fn since(&self, earlier: &MptcpCounters) -> MptcpCounters {
        let entries = self
            .entries
            .iter()
            .map(|(name, now)| {
                let v = match (CounterKind::of(name), earlier.get(name)) {
                    (CounterKind::Counter, Some(before)) => now.saturating_sub(before),
                    _ => *now,
                };
                (name.clone(), v)
            })
            .collect();
        MptcpCounters { entries }
    }
}

/// Named accessors, each with the name as an associated constant.
macro_rules! named_counters {
    ($($(#[$doc:meta])* $konst:ident = $name:literal, $get:ident;)*) => {
        impl MptcpCounters {
            $(
                #[doc = concat!("`", $name, "`: the name [`", stringify!($get), "`](MptcpCounters::", stringify!($get), ") reads.")]
                pub const $konst: &'static str = $name;

                #[doc = concat!("`", $name, "`: ")]
                $(#[$doc])*
                ///
                /// # Examples
                ///
                /// ```
                #[doc = concat!("let c = mptcp::counters::MptcpCounters::parse(\"MPTcpExt: ", $name, "\\nMPTcpExt: 7\\n\")?;")]
                #[doc = concat!("assert_eq!(c.", stringify!($get), "(), Some(7));")]
                /// # Ok::<(), mptcp::counters::CountersError>(())
                /// ```
                pub fn $get(&self) -> Option<u64> {
                    self.get(Self::$konst)
                }
            )*
        }
    };
}

named_counters! {
    /// SYNs received with MP_CAPABLE (server side: a client asked for MPTCP).
    MP_CAPABLE_SYN_RX = "MPCapableSYNRX", mp_capable_syn_rx;
    /// SYNs sent with MP_CAPABLE (client side).
    MP_CAPABLE_SYN_TX = "MPCapableSYNTX", mp_capable_syn_tx;
    /// SYN-ACKs received with MP_CAPABLE (client side: the server agreed).
    MP_CAPABLE_SYN_ACK_RX = "MPCapableSYNACKRX", mp_capable_syn_ack_rx;
    /// MPTCP connections a server accepted (the third ACK carried
    /// MP_CAPABLE; Linux 6.18 counts it when `accept()` returns them).
    MP_CAPABLE_ACK_RX = "MPCapableACKRX", mp_capable_ack_rx;
    /// server-side fallbacks to TCP in the handshake (the client sent
    /// MP_CAPABLE, the connection became TCP); see [`PassiveFallbackDetector`]
    /// for its history.
    MP_CAPABLE_FALLBACK_ACK = "MPCapableFallbackACK", mp_capable_fallback_ack;
    /// client-side fallbacks in the handshake (the SYN-ACK came back without
    /// MP_CAPABLE).
    MP_CAPABLE_FALLBACK_SYN_ACK = "MPCapableFallbackSYNACK", mp_capable_fallback_syn_ack;
    /// MPTCP connections established now (the one gauge; a client whose
    /// handshake fell back counts too).
    CURR_ESTAB = "MPCurrEstab", curr_estab;
}

/// Tells an MPTCP server which of the plain-TCP connections it accepts had
/// asked for MPTCP (a *passive fallback*), from the kernel's counters.
///
/// When a middlebox strips MP_CAPABLE from the server's SYN-ACK, both ends
/// fall back to TCP during the handshake and `accept()` returns a plain TCP
/// socket (`SO_PROTOCOL` 6), the same as for a client that never asked for
/// MPTCP: the socket's own status says [`MptcpStatus::Tcp`]. The namespace's
/// `MPCapableFallbackACK` counter is the only trace of the difference.
/// Call [`classify`](PassiveFallbackDetector::classify) right after each
/// `accept()`, on the thread that accepts (it reads the counters of the
/// calling thread's network namespace, which must be the listener's).
///
/// # Limits
///
/// - The counters belong to the network namespace, not to a listener: every
///   MPTCP listener of the namespace (other processes' too) adds to them.
/// - The count is exact, its attribution is exact only when connections
///   arrive one at a time (each accepted before the next handshake ends).
///   With handshakes overlapping, the right number of accepted plain-TCP
///   sockets is marked, but a fallback may be credited to the plain-TCP
///   client accepted just before it.
/// - Kernels before Linux 6.9 (commit 7a1b3490f47e, also in the stable
///   trees that took it) counted every plain-TCP client accepted by an MPTCP
///   listener as `MPCapableFallbackACK`. The detector therefore credits at
///   most as many fallbacks as MP_CAPABLE SYNs were received
///   (`MPCapableSYNRX`) and not accepted as MPTCP (`MPCapableACKRX`), which
///   keeps plain-TCP clients apart on those kernels too when connections
///   arrive one at a time. A handshake that never completes (a client that
///   gave up) leaves one SYN of slack behind on such kernels.
/// - A fallback after the handshake (late, on data) is not this: the
///   accepted socket is an MPTCP one and its own status reports it.
///
/// # Examples
///
/// ```no_run
/// use std::net::TcpListener;
/// use mptcp::counters::PassiveFallbackDetector;
/// use mptcp::{MptcpExt, MptcpListenerExt};
///
/// let listener = TcpListener::bind_mptcp("[::]:8080")?;
/// let mut detector = PassiveFallbackDetector::new()?;
/// loop {
///     let (conn, peer) = listener.accept()?;
///     let status = detector.classify(conn.mptcp_status()?)?;
///     println!("{peer}: {status}"); // `fallback` for a client whose MPTCP was stripped
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct PassiveFallbackDetector {
    /// `MPCapableFallbackACK`, `MPCapableSYNRX`, `MPCapableACKRX` at the
    /// last observation.
    last: [u64; 3],
    /// MP_CAPABLE SYNs received, neither accepted as MPTCP nor matched with
    /// a fallback yet.
    open_syns: u64,
    /// Fallbacks counted and not yet credited to an accepted socket.
    unclaimed: u64,
}

impl PassiveFallbackDetector {
    /// Starts from the counters of the calling thread's network namespace
    /// now. Create it before the first `accept()`, on the accepting thread.
    ///
    /// # Errors
    ///
    /// As [`MptcpCounters::read`], and [`CountersError::Missing`] when the
    /// kernel lacks a counter it needs (no MPTCP in this kernel).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let detector = mptcp::counters::PassiveFallbackDetector::new()?;
    /// # Ok::<(), mptcp::counters::CountersError>(())
    /// ```
    pub fn new() -> Result<PassiveFallbackDetector, CountersError> {
        PassiveFallbackDetector::starting_at(&MptcpCounters::read()?)
    }

    /// Starts from a snapshot the caller already has (e.g. one a metrics
    /// exporter took in the same namespace).
    ///
    /// # Errors
    ///
    /// [`CountersError::Missing`] when the snapshot lacks a counter it needs.
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp::counters::{MptcpCounters, PassiveFallbackDetector};
    ///
    /// let empty = MptcpCounters::default(); // a kernel without MPTCP
    /// assert!(PassiveFallbackDetector::starting_at(&empty).is_err());
    /// ```
    pub fn starting_at(now: &MptcpCounters) -> Result<PassiveFallbackDetector, CountersError> {
        Ok(PassiveFallbackDetector { last: PassiveFallbackDetector::marks(now)?, open_syns: 0, unclaimed: 0 })
    }

    fn marks(now: &MptcpCounters) -> Result<[u64; 3], CountersError> {
        let names = [
            MptcpCounters::MP_CAPABLE_FALLBACK_ACK,
            MptcpCounters::MP_CAPABLE_SYN_RX,
            MptcpCounters::MP_CAPABLE_ACK_RX,
        ];
        let [a, b, c] = names.map(|n| now.get(n).ok_or(CountersError::Missing { name: n }));
        Ok([a?, b?, c?])
    }

    /// Takes in a newer snapshot of the same namespace; returns how many
    /// passive fallbacks happened since the previous one. They wait to be
    /// credited to accepted plain-TCP sockets by
    /// [`classify_at`](PassiveFallbackDetector::classify_at).
    ///
    /// # Errors
    ///
    /// [`CountersError::Missing`] when the snapshot lacks a counter it needs.
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp::counters::{MptcpCounters, PassiveFallbackDetector};
    ///
    /// let names = "MPTcpExt: MPCapableSYNRX MPCapableACKRX MPCapableFallbackACK\n";
    /// let start = MptcpCounters::parse(&format!("{names}MPTcpExt: 4 4 0\n"))?;
    /// let mut d = PassiveFallbackDetector::starting_at(&start)?;
    /// // One MP_CAPABLE SYN more, not accepted as MPTCP, and a fallback.
    /// let now = MptcpCounters::parse(&format!("{names}MPTcpExt: 5 4 1\n"))?;
    /// assert_eq!(d.observe(&now)?, 1);
    /// # Ok::<(), mptcp::counters::CountersError>(())
    /// ```
    pub fn observe(&mut self, now: &MptcpCounters) -> Result<u64, CountersError> {
        let marks = PassiveFallbackDetector::marks(now)?;
        if marks.iter().zip(&self.last).any(|(now, last)| now < last) {
            // Counters never go down within a namespace: this snapshot comes
            // from another one. Start over from it.
            self.last = marks;
            self.open_syns = 0;
            return Ok(0);
        }
        let [fallbacks, syns, mptcp_accepts] = [0, 1, 2].map(|i| marks[i] - self.last[i]);
        self.open_syns = (self.open_syns + syns).saturating_sub(mptcp_accepts);
        let credited = fallbacks.min(self.open_syns);
        self.open_syns -= credited;
        self.unclaimed += credited;
        self.last = marks;
        Ok(credited)
    }

    /// The status to report for a connection just accepted, given its own
    /// (`conn.mptcp_status()`): [`MptcpStatus::Tcp`] becomes
    /// [`MptcpStatus::Fallback`] when the namespace counted a passive
    /// fallback not yet credited to another socket; any other status is
    /// returned as it is, without reading the counters.
    ///
    /// # Errors
    ///
    /// As [`MptcpCounters::read`] and [`observe`](PassiveFallbackDetector::observe).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use mptcp::{counters::PassiveFallbackDetector, MptcpExt, MptcpListenerExt, MptcpStatus};
    ///
    /// let listener = std::net::TcpListener::bind_mptcp("127.0.0.1:8080")?;
    /// let mut detector = PassiveFallbackDetector::new()?;
    /// let (conn, _) = listener.accept()?;
    /// if detector.classify(conn.mptcp_status()?)? == MptcpStatus::Fallback {
    ///     eprintln!("this client asked for MPTCP; something on the path removed it");
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn classify(&mut self, accepted: MptcpStatus) -> Result<MptcpStatus, CountersError> {
        if accepted != MptcpStatus::Tcp {
            return Ok(accepted);
        }
        self.classify_at(accepted, &MptcpCounters::read()?)
    }

    /// As [`classify`](PassiveFallbackDetector::classify), with a snapshot
    /// the caller took after the `accept()`.
    ///
    /// # Errors
    ///
    /// As [`observe`](PassiveFallbackDetector::observe).
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp::counters::{MptcpCounters, PassiveFallbackDetector};
    /// use mptcp::MptcpStatus;
    ///
    /// let names = "MPTcpExt: MPCapableSYNRX MPCapableACKRX MPCapableFallbackACK\n";
    /// let mut d = PassiveFallbackDetector::starting_at(&MptcpCounters::parse(&format!("{names}MPTcpExt: 0 0 0\n"))?)?;
    /// // A plain-TCP client: no counter moved.
    /// let now = MptcpCounters::parse(&format!("{names}MPTcpExt: 0 0 0\n"))?;
    /// assert_eq!(d.classify_at(MptcpStatus::Tcp, &now)?, MptcpStatus::Tcp);
    /// // A client whose MP_CAPABLE SYN-ACK was stripped.
    /// let now = MptcpCounters::parse(&format!("{names}MPTcpExt: 1 0 1\n"))?;
    /// assert_eq!(d.classify_at(MptcpStatus::Tcp, &now)?, MptcpStatus::Fallback);
    /// # Ok::<(), mptcp::counters::CountersError>(())
    /// ```
    pub fn classify_at(&mut self, accepted: MptcpStatus, now: &MptcpCounters) -> Result<MptcpStatus, CountersError> {
        self.observe(now)?;
        if accepted == MptcpStatus::Tcp && self.unclaimed > 0 {
            self.unclaimed -= 1;
            return Ok(MptcpStatus::Fallback);
        }
        Ok(accepted)
    }

    /// Passive fallbacks counted and not yet credited to an accepted
    /// socket: connections whose MP_CAPABLE was stripped that still wait
    /// to be accepted (or that the listener will never accept). 0 once
    /// every such connection was classified.
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp::counters::{MptcpCounters, PassiveFallbackDetector};
    /// use mptcp::MptcpStatus;
    ///
    /// let names = "MPTcpExt: MPCapableSYNRX MPCapableACKRX MPCapableFallbackACK\n";
    /// let mut d = PassiveFallbackDetector::starting_at(&MptcpCounters::parse(&format!("{names}MPTcpExt: 0 0 0\n"))?)?;
    /// // Two stripped handshakes counted before either is accepted.
    /// d.observe(&MptcpCounters::parse(&format!("{names}MPTcpExt: 2 0 2\n"))?)?;
    /// assert_eq!(d.unclaimed(), 2);
    /// let now = MptcpCounters::parse(&format!("{names}MPTcpExt: 2 0 2\n"))?;
    /// assert_eq!(d.classify_at(MptcpStatus::Tcp, &now)?, MptcpStatus::Fallback);
    /// assert_eq!(d.unclaimed(), 1);
    /// # Ok::<(), mptcp::counters::CountersError>(())
    /// ```
    pub fn unclaimed(&self) -> u64 {
        self.unclaimed
    }
}

#[cfg(test)]
#[path = "counters_tests.rs"]
mod tests;
