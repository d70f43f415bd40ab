//! What the kernel tells about a connection: `struct mptcp_info`
//! ([`MptcpInfo`]), `struct tcp_info` ([`TcpInfo`]) and each subflow
//! ([`SubflowInfo`]), read with [`MptcpExt`](crate::MptcpExt) or inet_diag.
//!
//! The kernel copies `min(optlen, its size)` bytes and returns that length;
//! a field that lies past the returned length is reported as `None`, never
//! as a made-up zero.

use std::fmt;
use std::net::SocketAddr;

use crate::status::MptcpStatus;

/// Little helper reading native-endian integers at an offset, `None` past the end.
pub(crate) struct Bytes<'a>(pub(crate) &'a [u8]);

impl Bytes<'_> {
    pub(crate) fn u8(&self, off: usize) -> Option<u8> {
        self.0.get(off).copied()
    }
    pub(crate) fn u32(&self, off: usize) -> Option<u32> {
        Some(u32::from_ne_bytes(self.0.get(off..off + 4)?.try_into().ok()?))
    }
    pub(crate) fn u64(&self, off: usize) -> Option<u64> {
        Some(u64::from_ne_bytes(self.0.get(off..off + 8)?.try_into().ok()?))
    }
}

/// The `flags` of `struct mptcp_info` (`MPTCP_INFO_FLAG_*`, Linux 5.9):
/// whether the connection fell back to TCP, and whether the peer's key
/// arrived (the MPTCP handshake completed). [`status`](Self::status)
/// decodes them.
///
/// inet_diag reports them for every MPTCP socket of a namespace
/// (`mptcp::diag`, feature `netlink`); `getsockopt(MPTCP_INFO)` answers only
/// while MPTCP is in use, so there they never say fallback.
///
/// With feature `serde`: `Serialize` as the number.
///
/// # Examples
///
/// ```
/// use mptcp::info::MptcpInfoFlags;
/// use mptcp::MptcpStatus;
///
/// let f = MptcpInfoFlags(2); // as the kernel reports them
/// assert!(f.contains(MptcpInfoFlags::REMOTE_KEY_RECEIVED));
/// assert_eq!(f.status(), Some(MptcpStatus::Mptcp));
/// assert_eq!(f.to_string(), "remote_key_received");
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct MptcpInfoFlags(pub u32);

impl MptcpInfoFlags {
    /// No flag: the handshake has not completed (a listener, a connect
    /// not yet answered).
    pub const EMPTY: MptcpInfoFlags = MptcpInfoFlags(0);
    /// `MPTCP_INFO_FLAG_FALLBACK`: the connection fell back to TCP.
    pub const FALLBACK: MptcpInfoFlags = MptcpInfoFlags(1);
    /// `MPTCP_INFO_FLAG_REMOTE_KEY_RECEIVED`: the peer's key was received,
    /// so the MPTCP handshake completed.
    pub const REMOTE_KEY_RECEIVED: MptcpInfoFlags = MptcpInfoFlags(2);

    const NAMES: [(&'static str, MptcpInfoFlags); 2] =
        [("fallback", MptcpInfoFlags::FALLBACK), ("remote_key_received", MptcpInfoFlags::REMOTE_KEY_RECEIVED)];

    /// Whether every bit of `other` is set.
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp::info::MptcpInfoFlags;
    ///
    /// let f = MptcpInfoFlags::FALLBACK | MptcpInfoFlags::REMOTE_KEY_RECEIVED;
    /// assert!(f.contains(MptcpInfoFlags::FALLBACK));
    /// assert!(!MptcpInfoFlags::FALLBACK.contains(f)); // every bit
    /// ```
    pub fn contains(self, other: MptcpInfoFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// What the flags say about the connection:
    /// [`MptcpStatus::Fallback`] once it fell back to TCP (whether or not
    /// the peer's key arrived first: fallback can come late),
    /// [`MptcpStatus::Mptcp`] once the peer's key arrived without a
    /// fallback, and `None` while the handshake is under way (nothing to
    /// tell yet: a listener, a connect not yet answered).
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp::info::MptcpInfoFlags;
    /// use mptcp::MptcpStatus;
    ///
    /// assert_eq!(MptcpInfoFlags::REMOTE_KEY_RECEIVED.status(), Some(MptcpStatus::Mptcp));
    /// let late = MptcpInfoFlags::REMOTE_KEY_RECEIVED | MptcpInfoFlags::FALLBACK;
    /// assert_eq!(late.status(), Some(MptcpStatus::Fallback));
    /// assert_eq!(MptcpInfoFlags::EMPTY.status(), None);
    /// ```
    pub fn status(self) -> Option<MptcpStatus> {
        if self.contains(MptcpInfoFlags::FALLBACK) {
            Some(MptcpStatus::Fallback)
        } else if self.contains(MptcpInfoFlags::REMOTE_KEY_RECEIVED) {
            Some(MptcpStatus::Mptcp)
        } else {
            None
        }
    }

    /// Bits this crate has no name for.
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp::info::MptcpInfoFlags;
    ///
    /// assert_eq!(MptcpInfoFlags(0x102).unknown_bits(), 0x100);
    /// assert_eq!(MptcpInfoFlags(0x102).to_string(), "remote_key_received 0x100");
    /// ```
    pub fn unknown_bits(self) -> u32 {
        self.0 & !Self::NAMES.iter().fold(0, |a, (_, f)| a | f.0)
    }
}

impl std::ops::BitOr for MptcpInfoFlags {
    type Output = MptcpInfoFlags;
    fn bitor(self, rhs: MptcpInfoFlags) -> MptcpInfoFlags {
        MptcpInfoFlags(self.0 | rhs.0)
    }
}

impl fmt::Debug for MptcpInfoFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MptcpInfoFlags({self})")
    }
}

impl fmt::Display for MptcpInfoFlags {
    /// The names of the set flags (`fallback`, `remote_key_received`) and
    /// any unknown bits in hex, separated by spaces; empty when none is set.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut words: Vec<String> =
            Self::NAMES.iter().filter(|(_, flag)| self.contains(*flag)).map(|(n, _)| n.to_string()).collect();
        if self.unknown_bits() != 0 {
            words.push(format!("0x{:x}", self.unknown_bits()));
        }
        f.write_str(&words.join(" "))
    }
}

/// `struct mptcp_info`: the MPTCP-level state of a connection
/// (`getsockopt(SOL_MPTCP, MPTCP_INFO)` or inet_diag).
///
/// Fields the running kernel does not report are `None`; the kernel version
/// that added each field is given in its doc. A field counts as reported
/// only when the returned length covers the struct of the kernel that added
/// it (the kernel also copies its padding, which must not pass for a zero).
/// Not parsed: `endp_laminar_max`/`endp_fullmesh_max` (6.18/6.19), which
/// live in bytes that older kernels with the same 96-byte struct reserve as
/// zero, so their presence cannot be told from the length.
///
/// Kernels add fields, so the struct is `#[non_exhaustive]`. With feature
/// `serde`: `Serialize`, one field per member (absent ones as `null`).
///
/// # Examples
///
/// ```
/// use mptcp::MptcpInfo;
///
/// // A 48-byte answer, as Linux 6.1 gives: counters added in 6.5 are absent.
/// let mut raw = [0u8; 48];
/// raw[0] = 1; // one extra subflow
/// let info = MptcpInfo::parse(&raw);
/// assert_eq!(info.subflows, Some(1));
/// assert_eq!(info.bytes_sent, None);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct MptcpInfo {
    /// Extra subflows in use, not counting the initial one (5.9).
    pub subflows: Option<u8>,
    /// ADD_ADDRs sent (5.9).
    pub add_addr_signal: Option<u8>,
    /// ADD_ADDRs accepted from the peer (5.9).
    pub add_addr_accepted: Option<u8>,
    /// Limit on extra subflows (5.9).
    pub subflows_max: Option<u8>,
    /// Limit on addresses to announce (5.9).
    pub add_addr_signal_max: Option<u8>,
    /// Limit on accepted announced addresses (5.9).
    pub add_addr_accepted_max: Option<u8>,
    /// `MPTCP_INFO_FLAG_*` bits (5.9).
    pub flags: Option<MptcpInfoFlags>,
    /// Connection token (5.9).
    pub token: Option<u32>,
    /// Next data sequence number to send (5.9).
    pub write_seq: Option<u64>,
    /// Oldest unacknowledged data sequence number (5.9).
    pub snd_una: Option<u64>,
    /// Next data sequence number expected (5.9).
    pub rcv_nxt: Option<u64>,
    /// Local addresses in use (5.12).
    pub local_addr_used: Option<u8>,
    /// Limit on local addresses (5.12).
    pub local_addr_max: Option<u8>,
    /// Whether DSS checksums are on (5.14).
    pub csum_enabled: Option<bool>,
    /// MPTCP-level retransmissions (6.5).
    pub retransmits: Option<u32>,
    /// Bytes retransmitted at MPTCP level (6.5).
    pub bytes_retrans: Option<u64>,
    /// Bytes sent over all subflows (6.5).
    pub bytes_sent: Option<u64>,
    /// Bytes received (6.5).
    pub bytes_received: Option<u64>,
    /// Bytes acknowledged at MPTCP level (6.5).
    pub bytes_acked: Option<u64>,
    /// All subflows, including the initial one (6.7).
    pub subflows_total: Option<u8>,
    /// Milliseconds since data was last sent (6.10).
    pub last_data_sent_ms: Option<u32>,
    /// Milliseconds since data was last received (6.10).
    pub last_data_recv_ms: Option<u32>,
    /// Milliseconds since the last ACK was received (6.10).
    pub last_ack_recv_ms: Option<u32>,
    /// How many bytes the kernel returned (48 on 6.1, 96 on 6.18).
    pub reported_len: usize,
}

impl MptcpInfo {
    /// Parses the bytes the kernel returned (exactly the returned length).
    /// Never fails: a short buffer yields `None` for the missing fields.
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp::MptcpInfo;
    ///
    /// let mut raw = [0u8; 96];
    /// raw[12..16].copy_from_slice(&0xabcd_1234u32.to_ne_bytes()); // mptcpi_token
    /// let info = MptcpInfo::parse(&raw);
    /// assert_eq!((info.token, info.reported_len), (Some(0xabcd_1234), 96));
    /// // Cut short: the token is absent, not zero.
    /// assert_eq!(MptcpInfo::parse(&raw[..12]).token, None);
    /// ```
    pub fn parse(buf: &[u8]) -> MptcpInfo {
        let b = Bytes(buf);
        // The kernel copies its whole struct, padding included, so a field
        // counts as reported only when the struct of the kernel that added
        // it fits: 40 bytes (5.9), 48 (5.12/5.14), 80 (6.5), 88 (6.7), 96
        // (6.10). Anything shorter is a truncated copy of one of those.
        let since = |size: usize| buf.len() >= size;
        let gate = |size: usize, v: Option<u64>| v.filter(|_| since(size));
        MptcpInfo {
            subflows: b.u8(0),
            add_addr_signal: b.u8(1),
            add_addr_accepted: b.u8(2),
            subflows_max: b.u8(3),
            add_addr_signal_max: b.u8(4),
            add_addr_accepted_max: b.u8(5),
            flags: b.u32(8).map(MptcpInfoFlags),
            token: b.u32(12),
            write_seq: b.u64(16),
            snd_una: b.u64(24),
            rcv_nxt: b.u64(32),
            local_addr_used: b.u8(40).filter(|_| since(48)),
            local_addr_max: b.u8(41).filter(|_| since(48)),
            csum_enabled: b.u8(42).filter(|_| since(48)).map(|v| v != 0),
            retransmits: b.u32(44).filter(|_| since(80)),
            bytes_retrans: gate(80, b.u64(48)),
            bytes_sent: gate(80, b.u64(56)),
            bytes_received: gate(80, b.u64(64)),
            bytes_acked: gate(80, b.u64(72)),
            subflows_total: b.u8(80).filter(|_| since(88)),
            last_data_sent_ms: b.u32(84).filter(|_| since(96)),
            last_data_recv_ms: b.u32(88).filter(|_| since(96)),
            last_ack_recv_ms: b.u32(92).filter(|_| since(96)),
            reported_len: buf.len(),
        }
    }

    /// Whether the kernel flagged the connection as fallen back to TCP.
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp::info::{MptcpInfo, MptcpInfoFlags};
    ///
    /// let mut raw = [0u8; 48];
    /// raw[8..12].copy_from_slice(&MptcpInfoFlags::FALLBACK.0.to_ne_bytes()); // mptcpi_flags
    /// assert_eq!(MptcpInfo::parse(&raw).is_fallback(), Some(true));
    /// assert_eq!(MptcpInfo::parse(&raw[..8]).is_fallback(), None); // flags not reported
    /// ```
    pub fn is_fallback(&self) -> Option<bool> {
        self.flags.map(|f| f.contains(MptcpInfoFlags::FALLBACK))
    }
}

/// The useful part of `struct tcp_info` for one subflow (or for a plain TCP
/// connection). `None` where the kernel's struct is too short to hold it.
///
/// With feature `serde`: `Serialize`, one field per member (absent ones as `null`).
///
/// # Examples
///
/// ```
/// use mptcp::TcpInfo;
///
/// let mut raw = [0u8; 104];
/// raw[0] = 1; // TCP_ESTABLISHED
/// raw[68..72].copy_from_slice(&1500u32.to_ne_bytes()); // rtt in us
/// let t = TcpInfo::parse(&raw);
/// assert_eq!(t.state, Some(1));
/// assert_eq!(t.rtt_us, Some(1500));
/// assert_eq!(t.bytes_acked, None); // needs 128 bytes
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct TcpInfo {
    /// TCP state (`TCP_ESTABLISHED` = 1, ...).
    pub state: Option<u8>,
    /// Retransmit timeouts in a row (`tcpi_retransmits`).
    pub retransmits: Option<u8>,
    /// Retransmission timeout, microseconds.
    pub rto_us: Option<u32>,
    /// Sender MSS.
    pub snd_mss: Option<u32>,
    /// Receiver MSS estimate.
    pub rcv_mss: Option<u32>,
    /// Segments lost (`tcpi_lost`).
    pub lost: Option<u32>,
    /// Path MTU.
    pub pmtu: Option<u32>,
    /// Smoothed RTT, microseconds.
    pub rtt_us: Option<u32>,
    /// RTT variance, microseconds.
    pub rttvar_us: Option<u32>,
    /// Congestion window, segments.
    pub snd_cwnd: Option<u32>,
    /// Total retransmitted segments (`tcpi_total_retrans`).
    pub total_retrans: Option<u32>,
    /// Pacing rate, bytes per second.
    pub pacing_rate: Option<u64>,
    /// Bytes acknowledged by the peer.
    pub bytes_acked: Option<u64>,
    /// Bytes received.
    pub bytes_received: Option<u64>,
    /// Segments sent.
    pub segs_out: Option<u32>,
    /// Segments received.
    pub segs_in: Option<u32>,
    /// Minimum RTT seen, microseconds.
    pub min_rtt_us: Option<u32>,
    /// Delivery rate estimate, bytes per second.
    pub delivery_rate: Option<u64>,
    /// Bytes sent, including retransmissions.
    pub bytes_sent: Option<u64>,
    /// Bytes retransmitted.
    pub bytes_retrans: Option<u64>,
    /// How many bytes the kernel returned.
    pub reported_len: usize,
}

impl TcpInfo {
    /// Parses a `struct tcp_info` of the length the kernel returned.
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp::TcpInfo;
    ///
    /// let mut raw = [0u8; 232];
    /// raw[80..84].copy_from_slice(&10u32.to_ne_bytes()); // tcpi_snd_cwnd
    /// let t = TcpInfo::parse(&raw);
    /// assert_eq!((t.snd_cwnd, t.reported_len), (Some(10), 232));
    /// assert_eq!(TcpInfo::parse(&raw[..80]).snd_cwnd, None);
    /// ```
    pub fn parse(buf: &[u8]) -> TcpInfo {
        let b = Bytes(buf);
        TcpInfo {
            state: b.u8(0),
            retransmits: b.u8(2),
            rto_us: b.u32(8),
            snd_mss: b.u32(16),
            rcv_mss: b.u32(20),
            lost: b.u32(32),
            pmtu: b.u32(60),
            rtt_us: b.u32(68),
            rttvar_us: b.u32(72),
            snd_cwnd: b.u32(80),
            total_retrans: b.u32(100),
            pacing_rate: b.u64(104),
            bytes_acked: b.u64(120),
            bytes_received: b.u64(128),
            segs_out: b.u32(136),
            segs_in: b.u32(140),
            min_rtt_us: b.u32(148),
            delivery_rate: b.u64(160),
            bytes_sent: b.u64(200),
            bytes_retrans: b.u64(208),
            reported_len: buf.len(),
        }
    }

    /// The TCP state as the name `ss` prints (`ESTAB`, `SYN-SENT`, ...).
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp::TcpInfo;
    ///
    /// let raw = [10u8; 8]; // tcpi_state = TCP_LISTEN
    /// assert_eq!(TcpInfo::parse(&raw).state_name(), Some("LISTEN"));
    /// assert_eq!(TcpInfo::parse(&[]).state_name(), None);
    /// ```
    pub fn state_name(&self) -> Option<&'static str> {
        self.state.map(tcp_state_name)
    }
}

/// Name of a TCP state number, as `ss` prints it.
///
/// # Examples
///
/// ```
/// use mptcp::info::tcp_state_name;
///
/// assert_eq!(tcp_state_name(1), "ESTAB");
/// assert_eq!(tcp_state_name(2), "SYN-SENT");
/// assert_eq!(tcp_state_name(200), "UNKNOWN");
/// ```
pub fn tcp_state_name(state: u8) -> &'static str {
    match state {
        1 => "ESTAB",
        2 => "SYN-SENT",
        3 => "SYN-RECV",
        4 => "FIN-WAIT-1",
        5 => "FIN-WAIT-2",
        6 => "TIME-WAIT",
        7 => "UNCONN",
        8 => "CLOSE-WAIT",
        9 => "LAST-ACK",
        10 => "LISTEN",
        11 => "CLOSING",
        12 => "NEW-SYN-RECV",
        _ => "UNKNOWN",
    }
}

/// One subflow of an MPTCP connection (or the single TCP flow of a
/// connection that is not using MPTCP).
///
/// With feature `serde`: `Serialize`, with `tcp` as a nested object.
///
/// # Examples
///
/// ```no_run
/// use std::net::TcpStream;
/// use mptcp::{MptcpExt, MptcpStreamExt};
///
/// let stream = TcpStream::connect_mptcp("127.0.0.1:8080")?;
/// for sf in stream.subflows()? {
///     let state = sf.tcp.state_name().unwrap_or("?");
///     println!("#{:?} {:?} -> {:?} {state} backup {:?}", sf.id, sf.local, sf.remote, sf.backup);
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct SubflowInfo {
    /// Subflow id (`MPTCP_FULL_INFO`, 6.5); `None` where the kernel cannot report it.
    pub id: Option<u32>,
    /// Local address and port.
    pub local: Option<SocketAddr>,
    /// Remote address and port.
    pub remote: Option<SocketAddr>,
    /// Whether this subflow is a backup path. The socket options do not
    /// carry it, so [`subflows`](crate::MptcpExt::subflows) leaves it
    /// `None`; [`subflows_with`](crate::MptcpExt::subflows_with)`(`[`SubflowDetail::Backup`]`)`
    /// asks inet_diag, and leaves it `None` only for a subflow inet_diag
    /// did not find (closed meanwhile).
    pub backup: Option<bool>,
    /// The subflow's `tcp_info`.
    pub tcp: TcpInfo,
}

/// What [`MptcpExt::subflows_with`](crate::MptcpExt::subflows_with) reads
/// beyond what [`MptcpExt::subflows`](crate::MptcpExt::subflows) gives.
///
/// `subflows()` costs one `getsockopt` (`MPTCP_FULL_INFO`, 6.5+); each
/// detail costs more, so it is asked for by name. New details may come, so
/// the enum is `#[non_exhaustive]`.
///
/// # Examples
///
/// ```no_run
/// use std::net::TcpStream;
/// use mptcp::info::SubflowDetail;
/// use mptcp::{MptcpExt, MptcpStreamExt};
///
/// let s = TcpStream::connect_mptcp("127.0.0.1:8080")?;
/// for sf in s.subflows_with(SubflowDetail::Backup)? {
///     println!("{:?} -> {:?} backup {:?}", sf.local, sf.remote, sf.backup);
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SubflowDetail {
    /// [`SubflowInfo::backup`], from inet_diag (feature `netlink`): one
    /// exact request per subflow in the socket's own network namespace,
    /// whatever the number of other sockets there (about 6 µs each on
    /// Linux 6.18; a subflow bound to a device may take a few more requests
    /// the first time a thread asks about its local address). No privilege
    /// is needed.
    Backup,
}

#[cfg(test)]
#[path = "info_tests.rs"]
pub(crate) mod tests;
