//! The link model: pure, no I/O, deterministic given a seed.
//!
//! A [`Link`] is one direction of one path. It is offered packets (arrival
//! time, IP length) in arrival order and answers, for each, whether it is
//! dropped (and why) or when it leaves the link. Effects apply in this
//! order, as a packet would meet them:
//!
//! 1. **outage**: a packet arriving inside an outage window is dropped;
//! 2. **loss**: Bernoulli or Gilbert-Elliott, decided on arrival (a lost
//!    packet takes no room in the queue and no capacity, as with netem);
//! 3. **queue**: a bounded drop-tail queue in front of the rate server
//!    (bytes waiting or in service, or the time a packet would wait before
//!    its service starts); an empty queue always takes a packet;
//! 4. **rate**: fixed bits per second of IP bytes, a mahimahi trace of
//!    1500-byte delivery opportunities, or unlimited;
//! 5. **delay** plus **jitter** (normal, standard deviation `jitter`,
//!    never below zero), then, unless [`LinkConfig::reorder`] is set, no
//!    packet leaves before the one ahead of it.
//!
//! Times are [`Duration`]s since the link started (the first packet of a
//! trace's delivery opportunities is counted from there).

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rand_core::{Rng, SeedableRng};
use rand_xorshift::XorShiftRng;

use crate::Error;

mod trace;

pub use trace::Trace;

/// Bytes of one delivery opportunity of a mahimahi trace.
pub const TRACE_OPPORTUNITY_BYTES: u32 = 1500;

/// The capacity of a link.
///
/// # Examples
///
/// ```
/// use mptcp_linkem::{LinkConfig, Rate};
/// let c: LinkConfig = "rate=100mbit".parse()?;
/// assert_eq!(c.rate, Rate::Fixed(100_000_000));
/// # Ok::<(), mptcp_linkem::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Rate {
    /// No rate limit: packets leave as they arrive (plus delay).
    #[default]
    Unlimited,
    /// A fixed rate in bits per second, counted on IP packet bytes.
    Fixed(u64),
    /// A mahimahi trace: one 1500-byte delivery opportunity per line.
    Trace(Arc<Trace>),
}

/// A two-state Gilbert-Elliott loss model, in netem's terms: per packet,
/// the state moves first (good to bad with probability `p`, bad to good
/// with `r`), then the packet is lost with the probability of the state it
/// is in (`loss_bad`, netem's `1-h`; `loss_good`, netem's `1-k`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GilbertElliott {
    /// Probability of moving from the good to the bad state.
    pub p: f64,
    /// Probability of moving from the bad to the good state.
    pub r: f64,
    /// Loss probability in the bad state (netem's `1-h`).
    pub loss_bad: f64,
    /// Loss probability in the good state (netem's `1-k`).
    pub loss_good: f64,
}

impl GilbertElliott {
    /// The raw form: transition probabilities and the loss probability in
    /// each state, all in `0..=1`.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when a probability is outside `0..=1`, or when `p`
    /// is 0 while the good state loses nothing (the model would never lose).
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp_linkem::GilbertElliott;
    /// // netem's `gemodel 1% 25% 100% 0%`
    /// let ge = GilbertElliott::new(0.01, 0.25, 1.0, 0.0)?;
    /// assert!((ge.mean_loss() - 0.01 / 0.26).abs() < 1e-12);
    /// # Ok::<(), mptcp_linkem::Error>(())
    /// ```
    pub fn new(p: f64, r: f64, loss_bad: f64, loss_good: f64) -> Result<GilbertElliott, Error> {
        for (name, v) in
            [("p", p), ("r", r), ("loss in the bad state", loss_bad), ("loss in the good state", loss_good)]
        {
            if !(0.0..=1.0).contains(&v) {
                return Err(Error::Config(format!(
                    "Gilbert-Elliott {name} must be a probability in 0..=1 (0%..100%), not {v}"
                )));
            }
        }
        if p == 0.0 && r == 0.0 {
            return Err(Error::Config(
                "Gilbert-Elliott p and r cannot both be 0 (the state would never change)".into(),
            ));
        }
        Ok(GilbertElliott { p, r, loss_bad, loss_good })
    }

    /// The simple Gilbert model with a given mean loss rate (`0..1`) and
    /// mean burst length in packets (`>= 1`): the bad state loses every
    /// packet, the good one none, `r = 1 / burst` and
    /// `p = loss * r / (1 - loss)`.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when `loss` is not in `0..1`, `burst` is below 1,
    /// or the pair needs `p > 1` (a high loss rate with short bursts).
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp_linkem::GilbertElliott;
    /// let ge = GilbertElliott::from_mean(0.01, 4.0)?;
    /// assert!((ge.mean_loss() - 0.01).abs() < 1e-12);
    /// assert!((ge.mean_burst() - 4.0).abs() < 1e-12);
    /// # Ok::<(), mptcp_linkem::Error>(())
    /// ```
    pub fn from_mean(loss: f64, burst: f64) -> Result<GilbertElliott, Error> {
        if !(0.0..1.0).contains(&loss) {
            return Err(Error::Config(format!(
                "Gilbert-Elliott mean loss must be in 0%..100% (exclusive), not {loss}"
            )));
        }
        if !(burst >= 1.0 && burst.is_finite()) {
            return Err(Error::Config(format!(
                "Gilbert-Elliott mean burst length must be at least 1 packet, not {burst}"
            )));
        }
        let r = 1.0 / burst;
        let p = loss * r / (1.0 - loss);
        if p > 1.0 {
            return Err(Error::Config(format!(
                "Gilbert-Elliott: a mean loss of {}% with bursts of {burst} packets needs p = {p:.3} > 1: use longer bursts",
                loss * 100.0
            )));
        }
        GilbertElliott::new(p, r, 1.0, 0.0)
    }

    /// The stationary loss rate: `(p * loss_bad + r * loss_good) / (p + r)`.
    ///
    /// # Examples
    ///
    /// ```
    /// let ge = mptcp_linkem::GilbertElliott::from_mean(0.05, 2.0)?;
    /// assert!((ge.mean_loss() - 0.05).abs() < 1e-12);
    /// # Ok::<(), mptcp_linkem::Error>(())
    /// ```
    pub fn mean_loss(&self) -> f64 {
        (self.p * self.loss_bad + self.r * self.loss_good) / (self.p + self.r)
    }

    /// The mean number of consecutive packets in the bad state (`1 / r`),
    /// which is the mean burst length of losses for the simple Gilbert
    /// model (`loss_bad = 1`, `loss_good = 0`).
    ///
    /// # Examples
    ///
    /// ```
    /// let ge = mptcp_linkem::GilbertElliott::new(0.01, 0.5, 1.0, 0.0)?;
    /// assert_eq!(ge.mean_burst(), 2.0);
    /// # Ok::<(), mptcp_linkem::Error>(())
    /// ```
    pub fn mean_burst(&self) -> f64 {
        1.0 / self.r
    }
}

/// Random packet loss.
///
/// # Examples
///
/// ```
/// use mptcp_linkem::{GilbertElliott, Loss};
/// let bursty = Loss::GilbertElliott(GilbertElliott::from_mean(0.01, 4.0)?);
/// assert_eq!(mptcp_linkem::parse::loss("ge:1%,4")?, bursty);
/// # Ok::<(), mptcp_linkem::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Loss {
    /// No random loss.
    #[default]
    None,
    /// Each packet is lost with this probability (`0..=1`), independently.
    Bernoulli(f64),
    /// Bursty loss.
    GilbertElliott(GilbertElliott),
}

/// The bound of the drop-tail queue in front of the rate server.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use mptcp_linkem::{LinkConfig, QueueLimit};
/// let c: LinkConfig = "rate=10mbit queue=50ms".parse()?;
/// assert_eq!(c.queue, QueueLimit::Time(Duration::from_millis(50)));
/// # Ok::<(), mptcp_linkem::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QueueLimit {
    /// No bound (the kernel's queue length still bounds it).
    #[default]
    Unlimited,
    /// At most this many IP bytes waiting or in service.
    Bytes(u64),
    /// At most this long to wait before service starts (ms at the current
    /// rate, whatever the rate or trace does).
    Time(Duration),
}

/// On/off outages: windows `(start, duration)` from the link's start,
/// optionally repeating every `period`. Every packet arriving inside a
/// window is dropped.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Outages {
    /// The windows, as `(start, duration)`.
    pub windows: Vec<(Duration, Duration)>,
    /// When set, the windows repeat with this period (each must end within it).
    pub period: Option<Duration>,
}

impl Outages {
    /// Whether `t` (since the link's start) falls inside an outage.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use mptcp_linkem::Outages;
    /// let ms = Duration::from_millis;
    /// let o = Outages { windows: vec![(ms(100), ms(50))], period: Some(ms(1000)) };
    /// assert!(o.contains(ms(120)) && o.contains(ms(1120)));
    /// assert!(!o.contains(ms(150)) && !o.contains(ms(99)));
    /// ```
    pub fn contains(&self, t: Duration) -> bool {
        let t = match self.period {
            Some(p) if !p.is_zero() => Duration::from_nanos((t.as_nanos() % p.as_nanos()) as u64),
            _ => t,
        };
        self.windows.iter().any(|&(start, dur)| t >= start && t < start + dur)
    }

    /// Whether there is no outage at all.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(mptcp_linkem::Outages::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.windows.is_empty()
    }
}

/// One direction of one path: what a [`Link`] does to the packets it is
/// offered. Parse one from a spec string (see [`LinkConfig::from_str`](#impl-FromStr-for-LinkConfig))
/// or build it field by field; `LinkConfig::default()` is a plain wire.
///
/// # Examples
///
/// ```
/// use mptcp_linkem::{LinkConfig, Loss, Rate};
/// use std::time::Duration;
///
/// let c: LinkConfig = "rate=10mbit delay=20ms jitter=2ms loss=1% queue=50ms seed=7".parse()?;
/// assert_eq!(c.rate, Rate::Fixed(10_000_000));
/// assert_eq!(c.delay, Duration::from_millis(20));
/// assert_eq!(c.loss, Loss::Bernoulli(0.01));
///
/// let same = LinkConfig { rate: Rate::Fixed(10_000_000), delay: Duration::from_millis(20), ..c.clone() };
/// assert_eq!(same, c);
/// # Ok::<(), mptcp_linkem::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LinkConfig {
    /// Capacity.
    pub rate: Rate,
    /// One-way delay added to every packet.
    pub delay: Duration,
    /// Standard deviation of a normal variation of the delay.
    pub jitter: Duration,
    /// Let jitter reorder packets (off: a packet never leaves before the
    /// one ahead of it).
    pub reorder: bool,
    /// Random loss.
    pub loss: Loss,
    /// The drop-tail queue's bound.
    pub queue: QueueLimit,
    /// Outage windows.
    pub outages: Outages,
    /// Seed of the random choices (loss and jitter): the same seed and the
    /// same arrivals give the same decisions.
    pub seed: u64,
}

impl LinkConfig {
    /// Checks that the values make sense together.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the field: a zero fixed rate, a loss
    /// probability outside `0..=1`, a zero byte or time queue, an outage
    /// window longer than its period.
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp_linkem::{LinkConfig, Rate};
    /// assert!(LinkConfig { rate: Rate::Fixed(0), ..Default::default() }.validate().is_err());
    /// assert!(LinkConfig::default().validate().is_ok());
    /// ```
    pub fn validate(&self) -> Result<(), Error> {
        if self.rate == Rate::Fixed(0) {
            return Err(Error::Config("rate must be above 0 (or `unlimited`)".into()));
        }
        match &self.loss {
            Loss::Bernoulli(p) if !(0.0..=1.0).contains(p) => {
                return Err(Error::Config(format!("loss must be in 0%..100%, not {}%", p * 100.0)));
            }
            Loss::GilbertElliott(ge) => {
                GilbertElliott::new(ge.p, ge.r, ge.loss_bad, ge.loss_good)?;
            }
            _ => {}
        }
        match self.queue {
            QueueLimit::Bytes(0) => {
                return Err(Error::Config("queue must hold at least 1 byte (or be `unlimited`)".into()))
            }
            QueueLimit::Time(t) if t.is_zero() => {
                return Err(Error::Config("queue time must be above 0 (or `unlimited`)".into()));
            }
            _ => {}
        }
        if let Some(p) = self.outages.period {
            if p.is_zero() {
                return Err(Error::Config("outage period must be above 0".into()));
            }
            if let Some(&(s, d)) = self.outages.windows.iter().find(|(s, d)| *s + *d > p) {
                return Err(Error::Config(format!(
                    "outage window {s:?}+{d:?} ends after its period {p:?}: each window must end within the period"
                )));
            }
        }
        Ok(())
    }
}

/// Why a [`Link`] dropped a packet.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use mptcp_linkem::{Cause, Decision, Link};
/// let mut link = Link::new("outage=0+1s".parse()?)?;
/// assert_eq!(link.offer(Duration::from_millis(10), 100), Decision::Drop(Cause::Outage));
/// assert_eq!(Cause::Outage.to_string(), "outage");
/// # Ok::<(), mptcp_linkem::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cause {
    /// Random loss (Bernoulli or Gilbert-Elliott).
    Loss,
    /// The drop-tail queue was full.
    QueueFull,
    /// The packet arrived during an outage.
    Outage,
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Cause::Loss => "loss",
            Cause::QueueFull => "queue full",
            Cause::Outage => "outage",
        })
    }
}

/// What a [`Link`] does with one packet.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use mptcp_linkem::{Decision, Link};
/// let mut link = Link::new("delay=10ms".parse()?)?;
/// match link.offer(Duration::ZERO, 1500) {
///     Decision::Release(at) => assert_eq!(at, Duration::from_millis(10)),
///     Decision::Drop(cause) => panic!("dropped: {cause}"),
/// }
/// # Ok::<(), mptcp_linkem::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Dropped, for this reason.
    Drop(Cause),
    /// Leaves the link at this time (since the link's start).
    Release(Duration),
}

/// The state machine of one direction of a path (see the [module
/// docs](self) for the order of effects).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use mptcp_linkem::{Decision, Link, LinkConfig, Rate};
///
/// let cfg = LinkConfig { rate: Rate::Fixed(12_000_000), delay: Duration::from_millis(10), ..Default::default() };
/// let mut link = Link::new(cfg)?;
/// // 1500 bytes at 12 Mbit/s take 1 ms, then 10 ms of delay.
/// assert_eq!(link.offer(Duration::ZERO, 1500), Decision::Release(Duration::from_millis(11)));
/// // The next one waits for the first to be sent.
/// assert_eq!(link.offer(Duration::ZERO, 1500), Decision::Release(Duration::from_millis(12)));
/// # Ok::<(), mptcp_linkem::Error>(())
/// ```
#[derive(Debug)]
pub struct Link {
    cfg: LinkConfig,
    rng: XorShiftRng,
    /// Gilbert-Elliott state: in the bad state.
    bad: bool,
    /// When the rate server finishes the last accepted packet (ns).
    busy_until: u64,
    /// Accepted packets not yet fully sent: (finish time ns, bytes).
    backlog: VecDeque<(u64, u32)>,
    backlog_bytes: u64,
    /// Release time of the last released packet (ns), for no reordering.
    last_release: u64,
    /// Trace cursor: the delivery opportunity in use and the bytes already
    /// taken from it.
    opp: u64,
    opp_used: u32,
    /// Whether the previous packet was lost at random (to count bursts).
    last_lost: bool,
    bursts: u64,
}

impl Link {
    /// A link in its initial state.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when [`LinkConfig::validate`] refuses the config.
    ///
    /// # Examples
    ///
    /// ```
    /// let link = mptcp_linkem::Link::new("delay=5ms".parse()?)?;
    /// # Ok::<(), mptcp_linkem::Error>(())
    /// ```
    pub fn new(cfg: LinkConfig) -> Result<Link, Error> {
        cfg.validate()?;
        let rng = XorShiftRng::seed_from_u64(cfg.seed);
        Ok(Link {
            cfg,
            rng,
            bad: false,
            busy_until: 0,
            backlog: VecDeque::new(),
            backlog_bytes: 0,
            last_release: 0,
            opp: 0,
            opp_used: 0,
            last_lost: false,
            bursts: 0,
        })
    }

    /// The configuration.
    ///
    /// # Examples
    ///
    /// ```
    /// let link = mptcp_linkem::Link::new("delay=5ms".parse()?)?;
    /// assert_eq!(link.config().delay.as_millis(), 5);
    /// # Ok::<(), mptcp_linkem::Error>(())
    /// ```
    pub fn config(&self) -> &LinkConfig {
        &self.cfg
    }

    /// IP bytes in the queue (waiting or in service) after the last offer.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let mut link = mptcp_linkem::Link::new("rate=1mbit".parse()?)?;
    /// link.offer(Duration::ZERO, 1000);
    /// link.offer(Duration::ZERO, 1000);
    /// assert_eq!(link.queue_bytes(), 2000);
    /// # Ok::<(), mptcp_linkem::Error>(())
    /// ```
    pub fn queue_bytes(&self) -> u64 {
        self.backlog_bytes
    }

    /// How many bursts of random loss there were so far (runs of
    /// consecutive packets lost to [`Cause::Loss`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let link = mptcp_linkem::Link::new("loss=1%".parse()?)?;
    /// assert_eq!(link.loss_bursts(), 0);
    /// # Ok::<(), mptcp_linkem::Error>(())
    /// ```
    pub fn loss_bursts(&self) -> u64 {
        self.bursts
    }

    /// Offers a packet of `len` IP bytes arriving at `now` (since the
    /// link's start; calls must come in arrival order).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use mptcp_linkem::{Cause, Decision, Link};
    /// let mut link = Link::new("loss=100%".parse()?)?;
    /// assert_eq!(link.offer(Duration::ZERO, 100), Decision::Drop(Cause::Loss));
    /// # Ok::<(), mptcp_linkem::Error>(())
    /// ```
    pub fn offer(&mut self, now: Duration, len: u32) -> Decision {
        let now_ns = now.as_nanos().min(u64::MAX as u128) as u64;
        // Retire what the rate server has finished by now.
        while let Some(&(finish, bytes)) = self.backlog.front() {
            if finish > now_ns {
                break;
            }
            self.backlog.pop_front();
            self.backlog_bytes -= u64::from(bytes);
        }
        if !self.cfg.outages.is_empty() && self.cfg.outages.contains(now) {
            self.last_lost = false;
            return Decision::Drop(Cause::Outage);
        }
        if self.lose() {
            if !self.last_lost {
                self.bursts += 1;
            }
            self.last_lost = true;
            return Decision::Drop(Cause::Loss);
        }
        self.last_lost = false;
        if !self.backlog.is_empty() {
            let full = match self.cfg.queue {
                QueueLimit::Unlimited => false,
                QueueLimit::Bytes(b) => self.backlog_bytes + u64::from(len) > b,
                QueueLimit::Time(t) => self.busy_until.saturating_sub(now_ns) > t.as_nanos() as u64,
            };
            if full {
                return Decision::Drop(Cause::QueueFull);
            }
        }
        let finish = match &self.cfg.rate {
            Rate::Unlimited => now_ns,
            Rate::Fixed(bps) => {
                let start = self.busy_until.max(now_ns);
                let tx = (u128::from(len) * 8 * 1_000_000_000).div_ceil(u128::from(*bps));
                start.saturating_add(tx.min(u64::MAX as u128) as u64)
            }
            Rate::Trace(trace) => {
                let trace = Arc::clone(trace);
                self.serve_trace(&trace, now_ns, len)
            }
        };
        if !matches!(self.cfg.rate, Rate::Unlimited) {
            self.busy_until = finish;
            self.backlog.push_back((finish, len));
            self.backlog_bytes += u64::from(len);
        }
        let mut delay = self.cfg.delay.as_nanos() as i128;
        if !self.cfg.jitter.is_zero() {
            let z = self.normal();
            delay += (z * self.cfg.jitter.as_nanos() as f64) as i128;
        }
        let mut release = (i128::from(finish) + delay.max(0)).min(i128::from(u64::MAX)) as u64;
        if !self.cfg.reorder {
            release = release.max(self.last_release);
        }
        self.last_release = self.last_release.max(release);
        Decision::Release(Duration::from_nanos(release))
    }

    /// Serves `len` bytes arriving at `now` from the trace's delivery
    /// opportunities; returns the time of the one that takes the last byte.
    fn serve_trace(&mut self, trace: &Trace, now: u64, len: u32) -> u64 {
        if trace.opportunity(self.opp) < now {
            // The cursor's opportunity has passed (unused bytes are lost).
            self.opp = trace.first_at_or_after(now);
            self.opp_used = 0;
        }
        let mut left = len.max(1);
        loop {
            let take = (TRACE_OPPORTUNITY_BYTES - self.opp_used).min(left);
            left -= take;
            self.opp_used += take;
            let at = trace.opportunity(self.opp);
            if self.opp_used == TRACE_OPPORTUNITY_BYTES {
                self.opp += 1;
                self.opp_used = 0;
            }
            if left == 0 {
                return at;
            }
        }
    }

    fn uniform(&mut self) -> f64 {
        // 53 random bits in [0, 1).
        (self.rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A standard normal sample (Box-Muller).
    fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform(); // (0, 1]
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    fn lose(&mut self) -> bool {
        match self.cfg.loss {
            Loss::None => false,
            Loss::Bernoulli(p) => p > 0.0 && self.uniform() < p,
            Loss::GilbertElliott(ge) => {
                let u = self.uniform();
                self.bad = if self.bad { u >= ge.r } else { u < ge.p };
                let q = if self.bad { ge.loss_bad } else { ge.loss_good };
                q > 0.0 && self.uniform() < q
            }
        }
    }
}

#[cfg(test)]
mod tests;
