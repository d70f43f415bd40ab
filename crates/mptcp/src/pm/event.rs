//! The event type: [`Event`] and [`EventKind`], one path manager event
//! (`MPTCP_EVENT_*`) parsed from the `mptcp_pm_events` group (subscribing
//! to it is in `subscription`).

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use super::nl::{EventAttr, EventMessage};

/// `MPTCP_PM_EV_FLAG_DENY_JOIN_ID0`: the peer refuses joins to its initial address.
pub const EVENT_FLAG_DENY_JOIN_ID0: u16 = 1;
/// `MPTCP_PM_EV_FLAG_SERVER_SIDE`: this host accepted the connection.
pub const EVENT_FLAG_SERVER_SIDE: u16 = 2;

/// What happened (`MPTCP_EVENT_*`).
///
/// With feature `serde`: `Serialize` as its snake_case variant name
/// (`"created"`, `"sub_established"`, ...; `{"unknown": 99}`).
///
/// # Examples
///
/// ```
/// use mptcp::pm::EventKind;
///
/// let kind = EventKind::from_raw(10);
/// assert_eq!(kind, EventKind::SubEstablished);
/// assert_eq!(kind.to_string(), "sf_established");
/// assert_eq!(EventKind::from_raw(200).to_string(), "unknown(200)");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize), serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum EventKind {
    /// A connection was created (first subflow's SYN).
    Created,
    /// The connection is fully established.
    Established,
    /// The connection was closed.
    Closed,
    /// The peer announced an address (ADD_ADDR).
    Announced,
    /// The peer removed an address (RM_ADDR).
    Removed,
    /// A new subflow is established.
    SubEstablished,
    /// A subflow was closed.
    SubClosed,
    /// A subflow's backup priority changed.
    SubPriority,
    /// The path manager created a listener (for a `signal` endpoint with a port).
    ListenerCreated,
    /// The path manager closed a listener.
    ListenerClosed,
    /// An event type this crate does not know.
    Unknown(u8),
}

impl EventKind {
    /// From the kernel's event number.
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp::pm::EventKind;
    ///
    /// assert_eq!(EventKind::from_raw(1), EventKind::Created); // MPTCP_EVENT_CREATED
    /// assert_eq!(EventKind::from_raw(99), EventKind::Unknown(99));
    /// ```
    pub fn from_raw(v: u8) -> EventKind {
        match v {
            1 => EventKind::Created,
            2 => EventKind::Established,
            3 => EventKind::Closed,
            6 => EventKind::Announced,
            7 => EventKind::Removed,
            10 => EventKind::SubEstablished,
            11 => EventKind::SubClosed,
            13 => EventKind::SubPriority,
            15 => EventKind::ListenerCreated,
            16 => EventKind::ListenerClosed,
            x => EventKind::Unknown(x),
        }
    }

    /// The kernel's event number.
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp::pm::EventKind;
    ///
    /// assert_eq!(EventKind::Closed.raw(), 3); // MPTCP_EVENT_CLOSED
    /// assert_eq!(EventKind::from_raw(99).raw(), 99);
    /// ```
    pub fn raw(self) -> u8 {
        match self {
            EventKind::Created => 1,
            EventKind::Established => 2,
            EventKind::Closed => 3,
            EventKind::Announced => 6,
            EventKind::Removed => 7,
            EventKind::SubEstablished => 10,
            EventKind::SubClosed => 11,
            EventKind::SubPriority => 13,
            EventKind::ListenerCreated => 15,
            EventKind::ListenerClosed => 16,
            EventKind::Unknown(x) => x,
        }
    }

    /// Lower-case name, as `ip mptcp monitor` prints it (`created`,
    /// `sf_established`, ...).
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp::pm::EventKind;
    ///
    /// assert_eq!(EventKind::SubPriority.name(), "sf_priority");
    /// assert_eq!(EventKind::Unknown(99).name(), "unknown");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Created => "created",
            EventKind::Established => "established",
            EventKind::Closed => "closed",
            EventKind::Announced => "announced",
            EventKind::Removed => "removed",
            EventKind::SubEstablished => "sf_established",
            EventKind::SubClosed => "sf_closed",
            EventKind::SubPriority => "sf_priority",
            EventKind::ListenerCreated => "listener_created",
            EventKind::ListenerClosed => "listener_closed",
            EventKind::Unknown(_) => "unknown",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventKind::Unknown(x) => write!(f, "unknown({x})"),
            k => f.write_str(k.name()),
        }
    }
}

/// One path manager event with every attribute the kernel sent.
///
/// Which attributes are present depends on the kind: connection events
/// carry the token and the first subflow's addresses, `announced` the
/// remote id and address, `removed` only the remote id, listener events
/// the family and local address.
///
/// With feature `serde`: `Serialize`, with `kind` as `"type"` and the
/// attributes the kernel did not send left out.
///
/// # Examples
///
/// ```no_run
/// for ev in mptcp::pm::EventListener::new()? {
///     let ev = ev?;
///     println!("{} token {:?} {:?} -> {:?}", ev.kind, ev.token, ev.local(), ev.remote());
/// }
/// # Ok::<(), mptcp::pm::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Event {
    /// What happened.
    #[cfg_attr(feature = "serde", serde(rename = "type"))]
    pub kind: EventKind,
    /// Connection token (`MPTCP_ATTR_TOKEN`).
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub token: Option<u32>,
    /// Address family (`MPTCP_ATTR_FAMILY`).
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub family: Option<u16>,
    /// Local address id.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub local_id: Option<u8>,
    /// Remote address id.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub remote_id: Option<u8>,
    /// Source (local) address.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub saddr: Option<IpAddr>,
    /// Destination (remote) address.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub daddr: Option<IpAddr>,
    /// Source port.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub sport: Option<u16>,
    /// Destination port.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub dport: Option<u16>,
    /// Whether the subflow is a backup.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub backup: Option<bool>,
    /// Socket error of the subflow (errno).
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub error: Option<u8>,
    /// `MPTCP_PM_EV_FLAG_*` bits.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub flags: Option<u16>,
    /// Timeout (`MPTCP_ATTR_TIMEOUT`).
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub timeout: Option<u32>,
    /// Interface index the subflow is bound to.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub ifindex: Option<i32>,
    /// MPTCP reset reason (subflow closed by a reset).
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub reset_reason: Option<u32>,
    /// MPTCP reset flags.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub reset_flags: Option<u32>,
    /// Whether this host is the server side of the connection.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub server_side: Option<bool>,
}

impl Event {
    pub(crate) fn from_message(m: &EventMessage) -> Event {
        let mut e = Event {
            kind: EventKind::from_raw(m.kind),
            token: None,
            family: None,
            local_id: None,
            remote_id: None,
            saddr: None,
            daddr: None,
            sport: None,
            dport: None,
            backup: None,
            error: None,
            flags: None,
            timeout: None,
            ifindex: None,
            reset_reason: None,
            reset_flags: None,
            server_side: None,
        };
        for a in &m.attrs {
            match a {
                EventAttr::Token(v) => e.token = Some(*v),
                EventAttr::Family(v) => e.family = Some(*v),
                EventAttr::LocId(v) => e.local_id = Some(*v),
                EventAttr::RemId(v) => e.remote_id = Some(*v),
                EventAttr::Saddr4(a) => e.saddr = Some(IpAddr::V4(*a)),
                EventAttr::Saddr6(a) => e.saddr = Some(IpAddr::V6(*a)),
                EventAttr::Daddr4(a) => e.daddr = Some(IpAddr::V4(*a)),
                EventAttr::Daddr6(a) => e.daddr = Some(IpAddr::V6(*a)),
                EventAttr::Sport(v) => e.sport = Some(*v),
                EventAttr::Dport(v) => e.dport = Some(*v),
                EventAttr::Backup(v) => e.backup = Some(*v != 0),
                EventAttr::Error(v) => e.error = Some(*v),
                EventAttr::Flags(v) => e.flags = Some(*v),
                EventAttr::Timeout(v) => e.timeout = Some(*v),
                EventAttr::IfIdx(v) => e.ifindex = Some(*v),
                EventAttr::ResetReason(v) => e.reset_reason = Some(*v),
                EventAttr::ResetFlags(v) => e.reset_flags = Some(*v),
                EventAttr::ServerSide(v) => e.server_side = Some(*v != 0),
                EventAttr::Other(_) => {}
            }
        }
        e
    }

    /// Whether this host is the server side: the `SERVER_SIDE` attribute or
    /// bit [`EVENT_FLAG_SERVER_SIDE`] of `flags`. Linux 6.18 sends both only
    /// on the server side, so absence means client.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use mptcp::pm::{EventKind, EventListener};
    ///
    /// for ev in EventListener::new()? {
    ///     let ev = ev?;
    ///     if ev.kind == EventKind::Established && ev.is_server_side() {
    ///         println!("accepted connection {:?} from {:?}", ev.token, ev.remote());
    ///     }
    /// }
    /// # Ok::<(), mptcp::pm::Error>(())
    /// ```
    pub fn is_server_side(&self) -> bool {
        self.server_side == Some(true) || self.flags.is_some_and(|f| f & EVENT_FLAG_SERVER_SIDE != 0)
    }

    /// Local address and port, when both are present.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let ev = mptcp::pm::EventListener::new()?.recv()?;
    /// if let Some(local) = ev.local() {
    ///     println!("{}: local {local}", ev.kind);
    /// }
    /// # Ok::<(), mptcp::pm::Error>(())
    /// ```
    pub fn local(&self) -> Option<SocketAddr> {
        Some(SocketAddr::new(self.saddr?, self.sport?))
    }

    /// Remote address and port, when both are present.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let ev = mptcp::pm::EventListener::new()?.recv()?;
    /// if let Some(remote) = ev.remote() {
    ///     println!("{}: remote {remote}", ev.kind);
    /// }
    /// # Ok::<(), mptcp::pm::Error>(())
    /// ```
    pub fn remote(&self) -> Option<SocketAddr> {
        Some(SocketAddr::new(self.daddr?, self.dport?))
    }
}

impl fmt::Display for Event {
    /// One line, in the spirit of `ip mptcp monitor`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{:>16}]", self.kind.to_string().to_uppercase())?;
        if let Some(t) = self.token {
            write!(f, " token=0x{t:08x}")?;
        }
        if let Some(v) = self.remote_id {
            write!(f, " remid={v}")?;
        }
        if let Some(v) = self.local_id {
            write!(f, " locid={v}")?;
        }
        if let Some(v) = self.saddr {
            write!(f, " saddr={v}")?;
        }
        if let Some(v) = self.daddr {
            write!(f, " daddr={v}")?;
        }
        if let Some(v) = self.sport {
            write!(f, " sport={v}")?;
        }
        if let Some(v) = self.dport {
            write!(f, " dport={v}")?;
        }
        if let Some(v) = self.backup {
            write!(f, " backup={}", u8::from(v))?;
        }
        if let Some(v) = self.error {
            write!(f, " error={v}")?;
        }
        if let Some(v) = self.flags {
            write!(f, " flags=0x{v:x}")?;
        }
        if let Some(v) = self.timeout {
            write!(f, " timeout={v}")?;
        }
        if let Some(v) = self.ifindex {
            write!(f, " ifindex={v}")?;
        }
        if let Some(v) = self.reset_reason {
            write!(f, " reset_reason={v}")?;
        }
        if let Some(v) = self.reset_flags {
            write!(f, " reset_flags=0x{v:x}")?;
        }
        if let Some(v) = self.server_side {
            write!(f, " server_side={}", u8::from(v))?;
        }
        Ok(())
    }
}
