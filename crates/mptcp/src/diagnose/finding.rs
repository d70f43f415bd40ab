//! What the reasoning concludes: findings with stable ids, and the report.

use std::fmt;
use std::str::FromStr;

/// Declares [`FindingId`] with its stable kebab-case names, one line each.
macro_rules! finding_ids {
    ($($(#[$doc:meta])* $variant:ident = $name:literal,)*) => {
        /// What a finding is about: a stable, kebab-case name per cause
        /// (`"join-unanswered"`), for scripts and for the documentation.
        ///
        /// New causes are added as the kernel grows, so the enum is
        /// `#[non_exhaustive]`. With feature `serde`: serialized as its
        /// name.
        ///
        /// # Examples
        ///
        /// ```
        /// use mptcp::diagnose::FindingId;
        ///
        /// assert_eq!(FindingId::JoinUnanswered.name(), "join-unanswered");
        /// assert_eq!("rp-filter".parse::<FindingId>(), Ok(FindingId::RpFilter));
        /// assert!(FindingId::ALL.iter().all(|id| id.name().parse() == Ok(*id)));
        /// ```
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum FindingId {
            $($(#[$doc])* $variant,)*
        }

        impl FindingId {
            /// Every id, in declaration order.
            pub const ALL: &'static [FindingId] = &[$(FindingId::$variant,)*];

            /// The stable kebab-case name (`"mptcp-disabled"`).
            ///
            /// # Examples
            ///
            /// ```
            /// assert_eq!(mptcp::diagnose::FindingId::Blackhole.name(), "blackhole");
            /// ```
            pub fn name(self) -> &'static str {
                match self {
                    $(FindingId::$variant => $name,)*
                }
            }
        }

        impl FromStr for FindingId {
            type Err = UnknownFindingId;

            fn from_str(s: &str) -> Result<FindingId, UnknownFindingId> {
                match s {
                    $($name => Ok(FindingId::$variant),)*
                    _ => Err(UnknownFindingId(s.to_string())),
                }
            }
        }
    };
}

finding_ids! {
    /// The kernel was built without MPTCP (`socket()` answers `EPROTONOSUPPORT`).
    MptcpNotBuilt = "mptcp-not-built",
    /// The kernel predates MPTCP (older than 5.6: `socket()` answers `EINVAL`).
    MptcpKernelTooOld = "mptcp-kernel-too-old",
    /// `net.mptcp.enabled=0` in this network namespace (`ENOPROTOOPT`).
    MptcpDisabled = "mptcp-disabled",
    /// `socket(..., IPPROTO_MPTCP)` is refused for another reason (a seccomp
    /// filter or an LSM: `EPERM`, `EACCES`).
    MptcpBlocked = "mptcp-blocked",
    /// Built with MPTCP sockets but without the path manager's netlink family.
    NoPathManager = "no-path-manager",
    /// The server answered the SYN without MP_CAPABLE.
    NoMptcpAnswer = "no-mptcp-answer",
    /// MP_CAPABLE SYNs got no answer; the kernel retried without MPTCP.
    SynDroppedFallback = "syn-dropped-fallback",
    /// Active MPTCP is disabled in this namespace after a blackhole.
    Blackhole = "blackhole",
    /// The connection began as MPTCP and fell back to TCP later.
    LateFallback = "late-fallback",
    /// The connection is plain TCP and no counter says why.
    FallbackUnexplained = "fallback-unexplained",
    /// The client's subflow limit is 0: no extra subflow can be opened.
    LimitSubflowsZero = "limit-subflows-zero",
    /// More subflow endpoints than the subflow limit lets a connection use.
    LimitBelowEndpoints = "limit-below-endpoints",
    /// No endpoint with the `subflow` flag, and the server announced nothing usable.
    NoSubflowEndpoints = "no-subflow-endpoints",
    /// The server announced addresses, and `add_addr_accepted` is 0.
    AddAddrNotAccepted = "add-addr-not-accepted",
    /// An endpoint for an address this host no longer has.
    EndpointAddressGone = "endpoint-address-gone",
    /// An endpoint bound to an interface that is down or gone.
    EndpointInterfaceDown = "endpoint-interface-down",
    /// No route to the server from the endpoint's address (and device).
    EndpointNoRoute = "endpoint-no-route",
    /// MP_JOIN SYNs were sent and never answered.
    JoinUnanswered = "join-unanswered",
    /// The server refused a join (its limits), or refuses joins to its initial address.
    JoinRejected = "join-rejected",
    /// Strict reverse-path filtering drops the answers of a subflow on a multi-homed host.
    RpFilter = "rp-filter",
    /// `path_manager=userspace` and no program creates subflows.
    UserspacePmIdle = "userspace-pm-idle",
    /// The kernel's 8 endpoints are used up and addresses are left without one.
    EndpointLimit = "endpoint-limit",
    /// Another program (NetworkManager, mptcpd, `mptcp daemon`) manages endpoints here.
    AnotherManager = "another-manager",
    /// A subflow that had been established was closed during the watch.
    SubflowClosed = "subflow-closed",
    /// Fewer subflows than possible, and no cause found.
    SubflowMissing = "subflow-missing",
    /// Only one usable address: one subflow is all there can be.
    SinglePath = "single-path",
    /// Nothing was sent: the kernel adds subflows only to fully established connections.
    NoDataExchanged = "no-data-exchanged",
    /// The server closed the connection during the watch.
    ServerClosed = "server-closed",
    /// Part of the evidence could not be read (events without `CAP_NET_ADMIN`, counters).
    PartialEvidence = "partial-evidence",
    /// Server side: clients connected without asking for MPTCP.
    ClientNoMptcp = "client-no-mptcp",
    /// Server side: a client asked for MPTCP and the handshake lost it on the way.
    PassiveFallback = "passive-fallback",
    /// Server side: several addresses and none announced (no `signal` endpoint).
    NoSignalEndpoints = "no-signal-endpoints",
}

/// A name that is not a [`FindingId`].
///
/// # Examples
///
/// ```
/// let err = "no-such-cause".parse::<mptcp::diagnose::FindingId>().unwrap_err();
/// assert!(err.to_string().contains("no-such-cause"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownFindingId(pub String);

impl fmt::Display for UnknownFindingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown finding id {:?}", self.0)
    }
}

impl std::error::Error for UnknownFindingId {}

impl fmt::Display for FindingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for FindingId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// How much a finding matters.
///
/// With feature `serde`: `"error"`, `"warning"`, `"info"`.
///
/// # Examples
///
/// ```
/// use mptcp::diagnose::Severity;
///
/// assert!(Severity::Error > Severity::Warning);
/// assert_eq!(Severity::Info.to_string(), "info");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize), serde(rename_all = "lowercase"))]
pub enum Severity {
    /// Context: nothing is wrong.
    Info,
    /// Something that may cost a path, or that the user should know.
    Warning,
    /// The cause of a fallback or of a missing subflow.
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// One observed value behind a finding.
///
/// With feature `serde`: the bare value (a number, a string, a boolean or
/// a list of strings).
///
/// # Examples
///
/// ```
/// use mptcp::diagnose::Fact;
///
/// assert_eq!(Fact::from(3u64).to_string(), "3");
/// assert_eq!(Fact::from("kernel").to_string(), "kernel");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize), serde(untagged))]
#[non_exhaustive]
pub enum Fact {
    /// A number (a counter, a limit, an errno).
    Num(i64),
    /// Text (an address, a name, a state).
    Text(String),
    /// Yes or no.
    Bool(bool),
    /// Several items.
    List(Vec<String>),
}

impl fmt::Display for Fact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fact::Num(n) => write!(f, "{n}"),
            Fact::Text(t) => f.write_str(t),
            Fact::Bool(b) => write!(f, "{b}"),
            Fact::List(v) => f.write_str(&v.join(", ")),
        }
    }
}

macro_rules! fact_from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Fact {
            fn from(v: $t) -> Fact {
                Fact::Num(i64::try_from(v).unwrap_or(i64::MAX))
            }
        }
    )*};
}
fact_from_int!(u8, u16, u32, u64, usize, i32, i64);

impl From<&str> for Fact {
    fn from(v: &str) -> Fact {
        Fact::Text(v.to_string())
    }
}

impl From<String> for Fact {
    fn from(v: String) -> Fact {
        Fact::Text(v)
    }
}

impl From<bool> for Fact {
    fn from(v: bool) -> Fact {
        Fact::Bool(v)
    }
}

impl From<Vec<String>> for Fact {
    fn from(v: Vec<String>) -> Fact {
        Fact::List(v)
    }
}

/// The observed values behind a finding, in the order they matter: what
/// was seen (the numbers), before what it means.
///
/// With feature `serde`: a JSON object, keys in this order.
///
/// # Examples
///
/// ```
/// use mptcp::diagnose::Facts;
///
/// let mut facts = Facts::default();
/// facts.push("MPJoinSynTx", 1u64);
/// facts.push("MPJoinSynAckRx", 0u64);
/// assert_eq!(facts.to_string(), "MPJoinSynTx 1, MPJoinSynAckRx 0");
/// assert_eq!(facts.get("MPJoinSynTx").map(|f| f.to_string()).as_deref(), Some("1"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts(pub Vec<(String, Fact)>);

impl Facts {
    /// Adds `name` = `value` (a later one with the same name replaces it).
    pub fn push(&mut self, name: &str, value: impl Into<Fact>) {
        let value = value.into();
        match self.0.iter_mut().find(|(n, _)| n == name) {
            Some((_, v)) => *v = value,
            None => self.0.push((name.to_string(), value)),
        }
    }

    /// Adds `name` = `value` when there is a value.
    pub fn push_opt<T: Into<Fact>>(&mut self, name: &str, value: Option<T>) {
        if let Some(v) = value {
            self.push(name, v);
        }
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&Fact> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Facts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (n, v)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{n} {v}")?;
        }
        Ok(())
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Facts {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// One conclusion: what was observed, what it means, and the fix.
///
/// With feature `serde`: `{"id", "severity", "observed", "message", "fix"}`
/// (`fix` is `null` where there is no command to give).
///
/// # Examples
///
/// ```
/// use mptcp::diagnose::{diagnose, FindingId, Observations, Severity, Support};
///
/// let mut obs = Observations::default();
/// obs.host.availability = Support::Disabled;
/// let report = diagnose(&obs);
/// let f = &report.findings[0];
/// assert_eq!((f.id, f.severity), (FindingId::MptcpDisabled, Severity::Error));
/// assert_eq!(f.fix.as_deref(), Some("sysctl -w net.mptcp.enabled=1"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Finding {
    /// What it is about.
    pub id: FindingId,
    /// How much it matters.
    pub severity: Severity,
    /// The values seen.
    pub observed: Facts,
    /// What they mean, in sentences.
    pub message: String,
    /// What to do: the exact command where there is one.
    pub fix: Option<String>,
}

impl Finding {
    /// A finding without facts or fix.
    pub fn new(id: FindingId, severity: Severity, message: impl Into<String>) -> Finding {
        Finding { id, severity, observed: Facts::default(), message: message.into(), fix: None }
    }

    /// Adds an observed value.
    pub fn fact(mut self, name: &str, value: impl Into<Fact>) -> Finding {
        self.observed.push(name, value);
        self
    }

    /// Adds an observed value when there is one.
    pub fn fact_opt<T: Into<Fact>>(mut self, name: &str, value: Option<T>) -> Finding {
        self.observed.push_opt(name, value);
        self
    }

    /// Sets the fix.
    pub fn fix(mut self, fix: impl Into<String>) -> Finding {
        self.fix = Some(fix.into());
        self
    }
}

/// Subflows of the connection looked at: how many carry data, and how
/// many the configuration allows.
///
/// With feature `serde`: `{"established": N, "possible": M}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct SubflowCount {
    /// Subflows in the TCP state ESTABLISHED at the end of the watch (the
    /// initial one included; 1 for a connection that fell back to TCP).
    pub established: u32,
    /// What the host's configuration and the server's announcements allow:
    /// the initial subflow, plus one per usable `subflow` endpoint and per
    /// accepted announcement, capped by the subflow limit.
    pub possible: u32,
}

/// What [`diagnose`](super::diagnose) concludes.
///
/// With feature `serde`: `{"target", "mode", "mptcp", "subflows",
/// "verdict", "findings"}`, findings errors first.
///
/// # Examples
///
/// ```
/// use mptcp::diagnose::{diagnose, Observations, Support};
///
/// let mut obs = Observations::default();
/// obs.host.availability = Support::NotBuilt;
/// let report = diagnose(&obs);
/// assert!(report.has_errors());
/// assert_eq!(report.error_ids()[0].name(), "mptcp-not-built");
/// println!("{}", report.verdict);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Report {
    /// The server as given (`HOST:PORT`), or `None` for the host alone
    /// and the server side.
    pub target: Option<String>,
    /// `"host"`, `"client"` or `"server"`.
    pub mode: &'static str,
    /// For a connection: whether it ran as MPTCP. `None` without one.
    pub mptcp: Option<bool>,
    /// For a connection: its subflows.
    pub subflows: Option<SubflowCount>,
    /// One line: healthy, or what is wrong first.
    pub verdict: String,
    /// Errors first, then warnings, then information.
    pub findings: Vec<Finding>,
}

impl Report {
    /// Whether a finding has severity [`Severity::Error`].
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }

    /// The ids of the errors, in report order.
    pub fn error_ids(&self) -> Vec<FindingId> {
        self.findings.iter().filter(|f| f.severity == Severity::Error).map(|f| f.id).collect()
    }

    /// The finding with id `id`, if any.
    pub fn finding(&self, id: FindingId) -> Option<&Finding> {
        self.findings.iter().find(|f| f.id == id)
    }
}
