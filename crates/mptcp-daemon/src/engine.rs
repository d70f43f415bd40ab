//! Reconciliation: makes the kernel's endpoint set equal to the policy's
//! answer, touching only what the daemon manages, and never fighting a
//! change someone else made.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mptcp::pm::{Endpoint, EndpointFlags, EndpointRef, Limits, PathManager, MAX_LIMIT};

use crate::config::{Config, Limit, Manage};
use crate::net::NetState;
use crate::policy::{self, Plan, Want};
use crate::state::{Owned, StateFile, Store};
use crate::time::{rfc3339, unix_now};

/// The kernel holds at most this many endpoints (`MPTCP_PM_ADDR_MAX`).
pub const MAX_ENDPOINTS: usize = 8;
const ACTIONS_KEPT: usize = 64;
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(300);

/// What made the daemon look again.
#[derive(Debug, Clone)]
pub(crate) struct Trigger {
    pub what: String,
    pub at: Instant,
    /// An rtnetlink event (not start-up, reload or a retry).
    pub event: bool,
}

/// A change someone else made, respected until the address leaves the
/// policy and comes back, or the configuration is reloaded.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Held {
    /// The address.
    pub addr: IpAddr,
    /// What was done to the endpoint.
    pub what: String,
    /// Since when (RFC 3339).
    pub since: String,
}

#[derive(Debug, Clone)]
struct Retry {
    at: Instant,
    delay: Duration,
    error: String,
}

/// One thing the daemon did.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Action {
    /// When (RFC 3339, UTC).
    pub time: String,
    /// `add`, `delete`, `delete id 0` (the initial subflows from an
    /// address), `change`, `set limits`.
    pub op: String,
    /// What it acted on (`endpoint id 3 10.0.1.1 dev eth0 subflow`, an
    /// address, or the limits).
    pub endpoint: String,
    /// The event that led to it.
    pub trigger: String,
    /// `ok` or `error: ...`.
    pub result: String,
    /// How long the kernel took, milliseconds.
    pub ms: f64,
    /// Milliseconds from the daemon receiving the event to the kernel's answer.
    pub after_event_ms: f64,
}

/// Upper bounds (seconds) of the reaction-time histogram.
pub const REACTION_BUCKETS: [f64; 9] = [0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0];

/// A histogram with [`REACTION_BUCKETS`].
#[derive(Debug, Clone, Default)]
pub(crate) struct Histogram {
    pub counts: [u64; REACTION_BUCKETS.len()],
    pub count: u64,
    pub sum: f64,
}

impl Histogram {
    pub fn observe(&mut self, v: f64) {
        for (i, le) in REACTION_BUCKETS.iter().enumerate() {
            if v <= *le {
                self.counts[i] += 1;
            }
        }
        self.count += 1;
        self.sum += v;
    }
}

/// Counters for the metrics.
#[derive(Debug, Clone, Default)]
pub(crate) struct Counters {
    /// (operation, "ok" | "error") -> count.
    pub actions: BTreeMap<(&'static str, &'static str), u64>,
    pub reconciles: u64,
    /// rtnetlink events that changed the state, by kind.
    pub events: BTreeMap<&'static str, u64>,
    /// Full re-dumps after lost or unparsable events.
    pub resyncs: u64,
    /// Event-to-answer time of adds and deletes caused by events.
    pub reaction: BTreeMap<&'static str, Histogram>,
}

/// Fatal: the daemon cannot go on (no permission, netlink broken).
#[derive(Debug)]
pub(crate) enum Fatal {
    /// The kernel refused for lack of `CAP_NET_ADMIN`.
    NotPermitted,
    /// The path manager failed otherwise.
    Pm(mptcp::pm::Error),
}

impl From<mptcp::pm::Error> for Fatal {
    fn from(e: mptcp::pm::Error) -> Fatal {
        if e.is_permission_denied() {
            Fatal::NotPermitted
        } else {
            Fatal::Pm(e)
        }
    }
}

pub(crate) struct Engine {
    pub cfg: Config,
    pm: PathManager,
    /// Whether `delete id 0 ADDR` is worth sending (false once the kernel refused it).
    close_initial: bool,
    owned: BTreeMap<u8, Owned>,
    ids: BTreeMap<IpAddr, u8>,
    /// The id given last: the next is searched after it (see `choose_id`).
    last_id: u8,
    pub held: BTreeMap<IpAddr, Held>,
    retry: BTreeMap<IpAddr, Retry>,
    /// Addresses the policy wants that could not get an endpoint, and why.
    pub notes: BTreeMap<IpAddr, String>,
    pub plan: Plan,
    pub kernel: Vec<Endpoint>,
    pub limits: Option<Limits>,
    pub actions: VecDeque<Action>,
    pub counters: Counters,
    /// The owned set changed since the last save.
    pub dirty: bool,
    /// Endpoints being added: recorded in the state file before the
    /// kernel is asked, so that a daemon killed in between still knows
    /// them; at start-up, those of the last run.
    adding: Vec<Owned>,
    /// Where the state is saved.
    store: Option<Arc<Store>>,
}

fn spec_eq(e: &Endpoint, flags: EndpointFlags, ifindex: Option<u32>, port: Option<u16>) -> bool {
    EndpointFlags(e.flags.0 & !EndpointFlags::IMPLICIT.0) == flags && e.ifindex == ifindex && e.port == port
}

fn describe(id: u8, addr: IpAddr, ifname: &str, flags: EndpointFlags, port: Option<u16>) -> String {
    let mut s = format!("endpoint id {id} {addr}");
    if let Some(p) = port {
        s.push_str(&format!(" port {p}"));
    }
    if !ifname.is_empty() {
        s.push_str(&format!(" dev {ifname}"));
    }
    if flags.0 != 0 {
        s.push_str(&format!(" {flags}"));
    }
    s
}

impl Engine {
    pub fn new(cfg: Config, pm: PathManager, state: StateFile, store: Option<Arc<Store>>) -> Engine {
        Engine {
            adding: state.adding,
            store,
            cfg,
            pm,
            close_initial: true,
            last_id: state.owned.iter().map(|o| o.id).chain(state.ids.values().copied()).max().unwrap_or(0),
            owned: state.owned.into_iter().map(|o| (o.id, o)).collect(),
            ids: state.ids,
            held: BTreeMap::new(),
            retry: BTreeMap::new(),
            notes: BTreeMap::new(),
            plan: Plan::default(),
            kernel: Vec::new(),
            limits: None,
            actions: VecDeque::new(),
            counters: Counters::default(),
            dirty: false,
        }
    }

    /// The state to save.
    pub fn state(&self) -> StateFile {
        StateFile {
            version: 1,
            owned: self.owned.values().cloned().collect(),
            adding: self.adding.clone(),
            ids: self.ids.clone(),
        }
    }

    /// Saves the state if it changed.
    pub fn save(&mut self) {
        if self.dirty {
            self.write_state("cannot write the state file");
        }
    }

    /// Writes the state file now (`fsync`ed: it is the record of what
    /// the daemon owns); `what` says what a failure means.
    fn write_state(&mut self, what: &str) {
        let Some(store) = &self.store else { return };
        match store.save(&self.state()) {
            Ok(()) => self.dirty = false,
            Err(e) => log::error!("{what}: {e}"),
        }
    }

    /// Ids of the endpoints the daemon owns.
    pub fn owned_ids(&self) -> BTreeSet<u8> {
        self.owned.keys().copied().collect()
    }

    /// When the next retry is due, if any.
    pub fn next_retry(&self) -> Option<Instant> {
        self.retry.values().map(|r| r.at).min()
    }

    /// Applies a new configuration: holds and retries start afresh, and
    /// numeric limits are set again.
    pub fn set_config(&mut self, cfg: Config) {
        self.cfg = cfg;
        self.held.clear();
        self.retry.clear();
    }

    fn record(
        &mut self,
        op: &'static str,
        endpoint: String,
        trig: &Trigger,
        started: Instant,
        result: Result<(), String>,
    ) {
        let ok = result.is_ok();
        *self.counters.actions.entry((op, if ok { "ok" } else { "error" })).or_default() += 1;
        let now = Instant::now();
        if ok && trig.event && (op == "add" || op == "delete") {
            self.counters.reaction.entry(op).or_default().observe(now.duration_since(trig.at).as_secs_f64());
        }
        let a = Action {
            time: rfc3339(unix_now()),
            op: op.to_string(),
            endpoint,
            trigger: trig.what.clone(),
            result: match &result {
                Ok(()) => "ok".into(),
                Err(e) => format!("error: {e}"),
            },
            ms: now.duration_since(started).as_secs_f64() * 1000.0,
            after_event_ms: now.duration_since(trig.at).as_secs_f64() * 1000.0,
        };
        match &result {
            Ok(()) => log::info!("{} {} ({}; {:.1} ms after it)", a.op, a.endpoint, a.trigger, a.after_event_ms),
            Err(e) => log::warn!("{} {} failed: {e} ({})", a.op, a.endpoint, a.trigger),
        }
        self.actions.push_back(a);
        while self.actions.len() > ACTIONS_KEPT {
            self.actions.pop_front();
        }
    }

    /// Sets the limits configured as numbers (start-up and reload).
    pub fn apply_fixed_limits(&mut self, trig: &Trigger) -> Result<(), Fatal> {
        let set = |l: Limit| if let Limit::Set(n) = l { Some(n) } else { None };
        let (s, a) = (set(self.cfg.subflows), set(self.cfg.add_addr_accepted));
        if s.is_none() && a.is_none() {
            return Ok(());
        }
        let t = Instant::now();
        let r = self.pm.set_limits(s, a);
        let what = format!("subflows {} add_addr_accepted {}", show(s), show(a));
        self.finish("set limits", what, trig, t, r)
    }

    /// Records an operation's result; `Err` only for what is fatal.
    fn finish(
        &mut self,
        op: &'static str,
        what: String,
        trig: &Trigger,
        t: Instant,
        r: mptcp::pm::Result<()>,
    ) -> Result<(), Fatal> {
        match r {
            Err(e) if e.is_permission_denied() => Err(Fatal::NotPermitted),
            Err(e) => {
                self.record(op, what, trig, t, Err(e.to_string()));
                Ok(())
            }
            Ok(()) => {
                self.record(op, what, trig, t, Ok(()));
                Ok(())
            }
        }
    }

    /// One pass: policy, kernel view, removals, limits, additions.
    pub fn reconcile(&mut self, net: &NetState, trig: &Trigger, startup: bool) -> Result<(), Fatal> {
        self.counters.reconciles += 1;
        self.plan = policy::plan(&self.cfg, net);
        self.kernel = self.pm.endpoints().map_err(Fatal::from)?;
        self.claim_interrupted_adds();
        self.check_ownership(startup);
        let plan = self.plan.clone();
        self.held.retain(|a, _| plan.get(*a).is_some());
        self.retry.retain(|a, _| plan.get(*a).is_some());
        self.notes.clear();
        self.remove_and_fix(net, trig)?;
        self.add_missing(net, trig)?;
        self.ids.retain(|a, _| plan.get(*a).is_some() || self.kernel.iter().any(|e| e.addr == *a));
        Ok(())
    }

    /// Endpoints the last run was adding when it stopped (killed between
    /// asking the kernel and saving): those the kernel has, with the same
    /// id and address, are the daemon's.
    fn claim_interrupted_adds(&mut self) {
        for o in std::mem::take(&mut self.adding) {
            self.dirty = true;
            if self.kernel.iter().any(|e| e.id == o.id && e.addr == o.addr) && !self.owned.contains_key(&o.id) {
                log::info!(
                    "endpoint id {} {} was being added when the daemon stopped: it is the daemon's",
                    o.id,
                    o.addr
                );
                self.ids.insert(o.addr, o.id);
                self.owned.insert(o.id, o);
            }
        }
    }

    /// Notices endpoints of ours that someone else deleted or changed.
    fn check_ownership(&mut self, startup: bool) {
        let ids: Vec<u8> = self.owned.keys().copied().collect();
        for id in ids {
            let o = self.owned[&id].clone();
            match self.kernel.iter().find(|e| e.id == id && e.addr == o.addr) {
                Some(e) if !spec_eq(e, EndpointFlags(o.flags), o.ifindex, o.port) => {
                    if !startup && !self.held.contains_key(&o.addr) {
                        let what = format!("changed by someone else to \"{}\"", e.flags);
                        log::warn!("endpoint id {id} {} was {what}; leaving it so", o.addr);
                        self.held.insert(o.addr, Held { addr: o.addr, what, since: rfc3339(unix_now()) });
                    }
                    // The kernel's state is the new reference.
                    if let Some(x) = self.owned.get_mut(&id) {
                        x.flags = e.flags.0 & !EndpointFlags::IMPLICIT.0;
                    }
                    self.dirty = true;
                }
                Some(_) => {}
                None => {
                    self.owned.remove(&id);
                    self.dirty = true;
                    if !startup && self.plan.get(o.addr).is_some() {
                        let what = "deleted by someone else".to_string();
                        log::warn!(
                            "endpoint id {id} {} was {what}; not adding it again until {} changes",
                            o.addr,
                            o.ifname
                        );
                        self.held.insert(o.addr, Held { addr: o.addr, what, since: rfc3339(unix_now()) });
                    }
                }
            }
        }
    }

    fn manages(&self, e: &Endpoint) -> bool {
        !e.flags.contains(EndpointFlags::IMPLICIT) && (self.owned.contains_key(&e.id) || self.cfg.manage == Manage::All)
    }

    fn remove_and_fix(&mut self, net: &NetState, trig: &Trigger) -> Result<(), Fatal> {
        for e in self.kernel.clone() {
            if !self.manages(&e) {
                continue;
            }
            let name = e.ifindex.map(|i| net.name(i)).unwrap_or_default();
            match self.plan.get(e.addr).cloned() {
                None => {
                    let dead = self.plan.is_dead(e.addr);
                    self.delete(&e, &name, dead, trig)?;
                }
                Some(w) if !spec_eq(&e, w.flags, Some(w.ifindex), w.port) => {
                    if self.held.contains_key(&e.addr) {
                        continue;
                    }
                    let changeable = EndpointFlags::BACKUP.0 | EndpointFlags::FULLMESH.0;
                    let same_rest = (e.flags.0 & !changeable) == (w.flags.0 & !changeable)
                        && e.ifindex == Some(w.ifindex)
                        && e.port == w.port;
                    if same_rest {
                        let t = Instant::now();
                        let r =
                            self.pm.set_endpoint_flags(EndpointRef::Id(e.id), EndpointFlags(w.flags.0 & changeable));
                        let ok = r.is_ok();
                        self.finish("change", describe(e.id, e.addr, &w.ifname, w.flags, w.port), trig, t, r)?;
                        if ok {
                            self.adopt(e.id, &w);
                            self.refresh_kernel()?;
                        }
                    } else {
                        // Deleted here, added again below with the new settings.
                        self.delete(&e, &name, false, trig)?;
                    }
                }
                Some(w) => {
                    if !self.owned.contains_key(&e.id) {
                        self.adopt(e.id, &w);
                        log::info!("adopted endpoint id {} {} (manage = \"all\")", e.id, e.addr);
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether the kernel's endpoints differ from those the last pass
    /// left (someone else changed them). Changes to others' endpoints are
    /// logged here; those to the daemon's, by the reconcile that follows.
    pub fn kernel_changed(&mut self) -> Result<bool, Fatal> {
        let mut now = self.pm.endpoints().map_err(Fatal::from)?;
        now.sort_by_key(|e| e.id);
        let mut before = self.kernel.clone();
        before.sort_by_key(|e| e.id);
        if now == before {
            return Ok(false);
        }
        for e in self.kernel.iter().filter(|e| !self.owned.contains_key(&e.id)) {
            match now.iter().find(|n| n.id == e.id) {
                None => log::info!("endpoint id {} {} (not the daemon's) was deleted", e.id, e.addr),
                Some(n) if n != e => log::info!("endpoint id {} {} (not the daemon's) was changed", e.id, e.addr),
                Some(_) => {}
            }
        }
        for n in now.iter().filter(|n| !self.kernel.iter().any(|e| e.id == n.id)) {
            log::info!("endpoint id {} {} {} was added by someone else", n.id, n.addr, n.flags);
        }
        self.kernel = now;
        Ok(true)
    }

    fn refresh_kernel(&mut self) -> Result<(), Fatal> {
        self.kernel = self.pm.endpoints().map_err(Fatal::from)?;
        Ok(())
    }

    fn adopt(&mut self, id: u8, w: &Want) {
        self.owned.insert(id, owned(id, w));
        self.ids.insert(w.addr, id);
        self.dirty = true;
    }

    /// Deletes an endpoint; for a dead path also the initial subflows that
    /// started from its address (`delete id 0 ADDR`).
    fn delete(&mut self, e: &Endpoint, ifname: &str, dead: bool, trig: &Trigger) -> Result<(), Fatal> {
        let t = Instant::now();
        let r = match self.pm.delete_endpoint(EndpointRef::Id(e.id)) {
            Err(mptcp::pm::Error::NoSuchEndpoint(_)) => Ok(()),
            r => r,
        };
        let ok = r.is_ok();
        self.finish("delete", describe(e.id, e.addr, ifname, e.flags, e.port), trig, t, r)?;
        if ok {
            self.kernel.retain(|k| k.id != e.id);
            if self.owned.remove(&e.id).is_some() {
                self.dirty = true;
            }
        }
        if dead && self.close_initial {
            let t = Instant::now();
            match self.pm.close_initial_subflows(e.addr) {
                Ok(()) => self.record("delete id 0", e.addr.to_string(), trig, t, Ok(())),
                Err(err) if err.errno() == Some(libc::EINVAL) => {
                    log::info!("this kernel cannot delete id 0 (initial subflows): {err}; not trying again");
                    self.close_initial = false;
                }
                Err(err) if err.is_permission_denied() => return Err(Fatal::NotPermitted),
                Err(err) => self.record("delete id 0", e.addr.to_string(), trig, t, Err(err.to_string())),
            }
        }
        Ok(())
    }

    fn add_missing(&mut self, net: &NetState, trig: &Trigger) -> Result<(), Fatal> {
        let present: BTreeSet<IpAddr> = self.kernel.iter().map(|e| e.addr).collect();
        let now = Instant::now();
        let mut todo: Vec<Want> = Vec::new();
        let mut room = MAX_ENDPOINTS.saturating_sub(self.kernel.len());
        for w in &self.plan.want {
            if present.contains(&w.addr) {
                if let Some(e) = self.kernel.iter().find(|e| e.addr == w.addr) {
                    if !self.manages(e) {
                        let note = format!("covered by endpoint id {} (not the daemon's; manage = \"own\")", e.id);
                        self.notes.insert(w.addr, note);
                    }
                }
                continue;
            }
            if let Some(h) = self.held.get(&w.addr) {
                self.notes.insert(w.addr, format!("not added: endpoint {} ({})", h.what, h.since));
                continue;
            }
            if let Some(r) = self.retry.get(&w.addr).filter(|r| r.at > now) {
                let secs = r.at.duration_since(now).as_secs_f64();
                self.notes.insert(w.addr, format!("failed: {}; retrying in {secs:.0} s", r.error));
                continue;
            }
            if room == 0 {
                self.notes.insert(w.addr, format!("not added: the kernel holds at most {MAX_ENDPOINTS} endpoints"));
                continue;
            }
            room -= 1;
            todo.push(w.clone());
        }
        if todo.is_empty() {
            return Ok(());
        }
        self.raise_limits(&todo, trig)?;
        let mut used: BTreeSet<u8> = self.kernel.iter().map(|e| e.id).collect();
        let todo: Vec<(u8, Want)> = todo
            .into_iter()
            .map(|w| {
                let id = self.choose_id(&used);
                used.insert(id);
                (id, w)
            })
            .collect();
        // Recorded before the kernel is asked: a daemon killed between an
        // add and the next save still knows the endpoint is its own.
        self.adding = todo.iter().map(|(id, w)| owned(*id, w)).collect();
        self.write_state("cannot record the endpoints being added (a daemon killed now would not know them)");
        for (id, w) in todo {
            let mut ep = Endpoint::new(w.addr).with_id(id).with_flags(w.flags).with_ifindex(w.ifindex);
            if let Some(p) = w.port {
                ep = ep.with_port(p);
            }
            let t = Instant::now();
            let r = self.pm.add_endpoint(&ep);
            let what = describe(id, w.addr, &net.name(w.ifindex), w.flags, w.port);
            match r {
                Ok(()) => {
                    self.record("add", what, trig, t, Ok(()));
                    self.retry.remove(&w.addr);
                    self.adopt(id, &w);
                }
                Err(e) if e.is_permission_denied() => return Err(Fatal::NotPermitted),
                Err(e) => {
                    let error = match e.errno() {
                        Some(libc::EEXIST) => "an endpoint with this address or id exists".to_string(),
                        _ => e.to_string(),
                    };
                    let delay = self.retry.get(&w.addr).map(|r| (r.delay * 2).min(RETRY_MAX)).unwrap_or(RETRY_FIRST);
                    let first = !self.retry.contains_key(&w.addr);
                    if first {
                        self.record("add", what, trig, t, Err(error.clone()));
                    } else {
                        *self.counters.actions.entry(("add", "error")).or_default() += 1;
                        log::debug!("add endpoint {what} failed again: {error}; next try in {delay:?}");
                    }
                    self.notes.insert(w.addr, format!("failed: {error}; retrying in {} s", delay.as_secs()));
                    self.retry.insert(w.addr, Retry { at: Instant::now() + delay, delay, error });
                }
            }
        }
        self.adding.clear();
        self.dirty = true;
        self.refresh_kernel()
    }

    /// `subflows = "auto"`: raise the limit so that every subflow endpoint
    /// can be used (the kernel ignores endpoints beyond it).
    fn raise_limits(&mut self, todo: &[Want], trig: &Trigger) -> Result<(), Fatal> {
        if self.cfg.subflows != Limit::Auto {
            return Ok(());
        }
        let uses = |f: EndpointFlags| f.contains(EndpointFlags::SUBFLOW) || f.contains(EndpointFlags::FULLMESH);
        let needed = (self.kernel.iter().filter(|e| uses(e.flags)).count()
            + todo.iter().filter(|w| uses(w.flags)).count())
        .min(MAX_LIMIT as usize) as u32;
        let current = self.pm.limits().map_err(Fatal::from)?;
        self.limits = Some(current);
        if current.subflows >= needed {
            return Ok(());
        }
        let t = Instant::now();
        let r = self.pm.set_limits(Some(needed), None);
        let ok = r.is_ok();
        self.finish("set limits", format!("subflows {needed} (was {})", current.subflows), trig, t, r)?;
        if ok {
            self.limits = Some(Limits::new(needed, current.add_addr_accepted));
        }
        Ok(())
    }

    /// A free id, searched round-robin after the one given last (as the
    /// kernel does when it picks), and one no other address had recently
    /// where possible. An id is thus not handed out again right after its
    /// endpoint was deleted: the peer may still receive the RM_ADDR of that
    /// id, sent on another path behind queued data, and would then close the
    /// subflows of the endpoint that replaced it (seen when a link came back
    /// within milliseconds: the new subflow was reset at once).
    fn choose_id(&mut self, used: &BTreeSet<u8>) -> u8 {
        let remembered: BTreeSet<u8> = self.ids.values().copied().collect();
        let after_last = (1..=255u16).map(|k| ((u16::from(self.last_id) + k - 1) % 255 + 1) as u8);
        let id = after_last
            .clone()
            .find(|i| !used.contains(i) && !remembered.contains(i))
            .or_else(|| after_last.clone().find(|i| !used.contains(i)))
            .unwrap_or(0);
        self.last_id = id;
        id
    }

    /// Reads the limits (for the status).
    pub fn read_limits(&mut self) {
        self.limits = self.pm.limits().ok();
    }

    /// Deletes every endpoint the daemon owns (`on_exit = "flush"`).
    pub fn flush_owned(&mut self, net: &NetState, trig: &Trigger) -> Result<(), Fatal> {
        self.kernel = self.pm.endpoints().map_err(Fatal::from)?;
        for e in self.kernel.clone() {
            if self.owned.contains_key(&e.id) && self.owned[&e.id].addr == e.addr {
                let name = e.ifindex.map(|i| net.name(i)).unwrap_or_default();
                self.delete(&e, &name, false, trig)?;
            }
        }
        self.owned.clear();
        self.dirty = true;
        Ok(())
    }
}

/// The record of endpoint `id` made for `w`.
fn owned(id: u8, w: &Want) -> Owned {
    Owned {
        id,
        addr: w.addr,
        ifindex: Some(w.ifindex),
        ifname: w.ifname.clone(),
        flags: w.flags.0,
        port: w.port,
        since: rfc3339(unix_now()),
    }
}

fn show(v: Option<u32>) -> String {
    v.map(|n| n.to_string()).unwrap_or_else(|| "kept".into())
}
