//! [`MptcpConnector`]: hyper-util's `HttpConnector`, over MPTCP.

use std::fmt;
use std::future::{poll_fn, Future};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::{pin, Pin};
use std::str::FromStr;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use ::hyper::Uri;
use hyper_util::client::legacy::connect::dns::{GaiResolver, Name};
use socket2::TcpKeepalive;
use tokio::net::TcpStream;
use tower_service::Service;

use super::error::{BoxError, ConnectError};
use super::stream::MptcpStream;
use crate::dial::{Dial, Failed};
use crate::{Attempt, FallbackPolicy, MptcpBuilder};

/// The delay before the other address family gets its first attempt
/// (RFC 8305's recommended Connection Attempt Delay).
pub const DEFAULT_HAPPY_EYEBALLS_DELAY: Duration = Duration::from_millis(250);

/// A connector for hyper-util's client (and for hyper-rustls, tonic and
/// anything else that takes a `tower_service::Service<Uri>`) that opens
/// MPTCP connections, as hyper-util's `HttpConnector` opens TCP ones.
///
/// For each URI it:
/// - takes the host and port (80 for `http`, 443 for `https`); with
///   [`enforce_http`](Self::enforce_http) on (the default) it refuses any
///   scheme but `http`, so turn it off when a TLS connector wraps it;
/// - resolves the host with its resolver (hyper-util's `GaiResolver`, the
///   system's `getaddrinfo` on a blocking thread, unless you give another);
///   an IP literal skips resolution;
/// - tries every address in order, with *happy eyeballs* (RFC 8305): the
///   addresses of the first address's family are tried one after another,
///   and those of the other family start after
///   [`happy_eyeballs_timeout`](Self::happy_eyeballs_timeout) (250 ms)
///   or as soon as the first family has failed; the first connection wins;
/// - bounds each family's attempts with the
///   [`connect_timeout`](Self::connect_timeout), shared equally by its addresses;
/// - creates each socket with an [`MptcpBuilder`] (MPTCP, with the
///   [`FallbackPolicy`]: plain TCP or an error where the host has no MPTCP;
///   a failed connect is never retried over TCP), sets keepalive, binds the
///   local address, and returns an [`MptcpStream`] whose
///   [`MptcpConnectionInfo`](super::MptcpConnectionInfo) lands in every
///   response's extensions.
///
/// Socket options beyond these (congestion control, buffers, device, plain
/// TCP for a baseline) come from the [`builder`](Self::builder). Its
/// `connect_timeout` and `local_addr` are used when the connector's own are
/// not set.
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use http_body_util::Empty;
/// use hyper::body::Bytes;
/// use hyper_util::client::legacy::Client;
/// use hyper_util::rt::TokioExecutor;
/// use mptcp::hyper::{MptcpConnectionInfo, MptcpConnector};
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let connector = MptcpConnector::new().connect_timeout(Some(Duration::from_secs(5))).nodelay(true);
/// let client = Client::builder(TokioExecutor::new()).build::<_, Empty<Bytes>>(connector);
/// let response = client.get("http://10.0.1.2:8080/".parse()?).await?;
/// if let Some(info) = response.extensions().get::<MptcpConnectionInfo>() {
///     println!("{}, {} subflow(s)", info.status()?, info.subflow_count()?);
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct MptcpConnector<R = GaiResolver> {
    config: Arc<Config>,
    resolver: R,
}

#[derive(Debug, Clone)]
struct Config {
    builder: MptcpBuilder,
    enforce_http: bool,
    connect_timeout: Option<Duration>,
    happy_eyeballs: Option<Duration>,
    keepalive_time: Option<Duration>,
    keepalive_interval: Option<Duration>,
    keepalive_retries: Option<u32>,
    local_v4: Option<Ipv4Addr>,
    local_v6: Option<Ipv6Addr>,
}

impl<R> fmt::Debug for MptcpConnector<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MptcpConnector").field("config", &self.config).finish_non_exhaustive()
    }
}

impl MptcpConnector {
    /// A connector with the system resolver and the defaults: fall back to
    /// TCP where the host has no MPTCP, `http` only, no connect timeout,
    /// happy eyeballs after 250 ms, kernel defaults for the socket options.
    ///
    /// # Examples
    ///
    /// ```
    /// let connector = mptcp::hyper::MptcpConnector::new();
    /// ```
    pub fn new() -> MptcpConnector {
        MptcpConnector::with_resolver(GaiResolver::new())
    }
}

impl Default for MptcpConnector {
    fn default() -> Self {
        MptcpConnector::new()
    }
}

impl<R> MptcpConnector<R> {
    /// A connector with another resolver: any `tower_service::Service`
    /// taking hyper-util's `Name` and answering socket addresses (a port of
    /// 0 takes the URI's).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::SocketAddr;
    /// use std::task::{Context, Poll};
    /// use hyper_util::client::legacy::connect::dns::Name;
    ///
    /// /// Every name is this one address.
    /// #[derive(Clone)]
    /// struct Fixed(SocketAddr);
    ///
    /// impl tower_service::Service<Name> for Fixed {
    ///     type Response = std::iter::Once<SocketAddr>;
    ///     type Error = std::io::Error;
    ///     type Future = std::future::Ready<Result<Self::Response, Self::Error>>;
    ///     fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
    ///         Poll::Ready(Ok(()))
    ///     }
    ///     fn call(&mut self, _: Name) -> Self::Future {
    ///         std::future::ready(Ok(std::iter::once(self.0)))
    ///     }
    /// }
    ///
    /// let connector = mptcp::hyper::MptcpConnector::with_resolver(Fixed("127.0.0.1:0".parse().unwrap()));
    /// ```
    pub fn with_resolver(resolver: R) -> MptcpConnector<R> {
        let config = Config {
            builder: MptcpBuilder::new(),
            enforce_http: true,
            connect_timeout: None,
            happy_eyeballs: Some(DEFAULT_HAPPY_EYEBALLS_DELAY),
            keepalive_time: None,
            keepalive_interval: None,
            keepalive_retries: None,
            local_v4: None,
            local_v6: None,
        };
        MptcpConnector { config: Arc::new(config), resolver }
    }

    fn edit(mut self, f: impl FnOnce(&mut Config)) -> Self {
        f(Arc::make_mut(&mut self.config));
        self
    }

    /// The builder that creates each socket: MPTCP or not, the fallback
    /// policy, and socket options (`TCP_NODELAY`, `TCP_CONGESTION`, buffers,
    /// `SO_BINDTODEVICE`, ...). Replaces any earlier [`fallback`](Self::fallback)
    /// or [`nodelay`](Self::nodelay).
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp::{hyper::MptcpConnector, FallbackPolicy, MptcpBuilder};
    ///
    /// let connector = MptcpConnector::new()
    ///     .builder(MptcpBuilder::new().fallback(FallbackPolicy::Fail).congestion("cubic"));
    /// ```
    pub fn builder(self, builder: MptcpBuilder) -> Self {
        self.edit(|c| c.builder = builder)
    }

    /// What to do where the host cannot create MPTCP sockets
    /// ([`FallbackPolicy::Tcp`] by default; with [`FallbackPolicy::Fail`]
    /// the connect fails with [`ConnectError::Setup`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp::{hyper::MptcpConnector, FallbackPolicy};
    ///
    /// let strict = MptcpConnector::new().fallback(FallbackPolicy::Fail);
    /// ```
    pub fn fallback(self, policy: FallbackPolicy) -> Self {
        self.edit(|c| c.builder = c.builder.clone().fallback(policy))
    }

    /// `TCP_NODELAY` on each connection (kernel default when not called).
    ///
    /// # Examples
    ///
    /// ```
    /// let connector = mptcp::hyper::MptcpConnector::new().nodelay(true);
    /// ```
    pub fn nodelay(self, on: bool) -> Self {
        self.edit(|c| c.builder = c.builder.clone().nodelay(on))
    }

    /// Refuse URIs whose scheme is not `http` (default `true`). Turn it off
    /// when a TLS connector (hyper-rustls, hyper-tls) wraps this one.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn demo(tls: rustls::ClientConfig) {
    /// let inner = mptcp::hyper::MptcpConnector::new().enforce_http(false);
    /// let https = hyper_rustls::HttpsConnectorBuilder::new()
    ///     .with_tls_config(tls) // see the module docs
    ///     .https_only()
    ///     .enable_http1()
    ///     .wrap_connector(inner);
    /// # }
    /// ```
    pub fn enforce_http(self, on: bool) -> Self {
        self.edit(|c| c.enforce_http = on)
    }

    /// Bounds the attempts of each address family together: each of its
    /// addresses gets an equal share (`None`, the default: no bound but the
    /// kernel's SYN retries, about two minutes).
    ///
    /// # Examples
    ///
    /// ```
    /// let c = mptcp::hyper::MptcpConnector::new().connect_timeout(Some(std::time::Duration::from_secs(3)));
    /// ```
    pub fn connect_timeout(self, timeout: Option<Duration>) -> Self {
        self.edit(|c| c.connect_timeout = timeout)
    }

    /// How long the first address family has before the other one starts
    /// too (default 250 ms); `None` tries every address one after another.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = mptcp::hyper::MptcpConnector::new().happy_eyeballs_timeout(Some(std::time::Duration::from_millis(100)));
    /// ```
    pub fn happy_eyeballs_timeout(self, delay: Option<Duration>) -> Self {
        self.edit(|c| c.happy_eyeballs = delay)
    }

    /// TCP keepalive: `SO_KEEPALIVE` and the idle time before the first
    /// probe (`TCP_KEEPIDLE`). Off by default. A kernel that refuses these
    /// options on MPTCP sockets makes the connect fail with
    /// [`ConnectError::Setup`] naming them (never silently without them).
    ///
    /// # Examples
    ///
    /// ```
    /// let c = mptcp::hyper::MptcpConnector::new().keepalive(Some(std::time::Duration::from_secs(60)));
    /// ```
    pub fn keepalive(self, idle: Option<Duration>) -> Self {
        self.edit(|c| c.keepalive_time = idle)
    }

    /// Time between keepalive probes (`TCP_KEEPINTVL`); turns keepalive on.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = mptcp::hyper::MptcpConnector::new().keepalive_interval(Some(std::time::Duration::from_secs(10)));
    /// ```
    pub fn keepalive_interval(self, interval: Option<Duration>) -> Self {
        self.edit(|c| c.keepalive_interval = interval)
    }

    /// Unanswered probes before the connection is dropped (`TCP_KEEPCNT`);
    /// turns keepalive on.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = mptcp::hyper::MptcpConnector::new().keepalive_retries(Some(3));
    /// ```
    pub fn keepalive_retries(self, retries: Option<u32>) -> Self {
        self.edit(|c| c.keepalive_retries = retries)
    }

    /// Connects from this local address (its family only: addresses of the
    /// other family are not tried); `None` lets the kernel choose.
    ///
    /// # Examples
    ///
    /// ```
    /// // The first subflow leaves from 10.0.2.1; the path manager adds others.
    /// let c = mptcp::hyper::MptcpConnector::new().local_address(Some("10.0.2.1".parse().unwrap()));
    /// ```
    pub fn local_address(self, addr: Option<IpAddr>) -> Self {
        self.edit(|c| {
            (c.local_v4, c.local_v6) = match addr {
                Some(IpAddr::V4(a)) => (Some(a), None),
                Some(IpAddr::V6(a)) => (None, Some(a)),
                None => (None, None),
            }
        })
    }

    /// Connects from `v4` to IPv4 addresses and from `v6` to IPv6 ones.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::{Ipv4Addr, Ipv6Addr};
    ///
    /// let c = mptcp::hyper::MptcpConnector::new()
    ///     .local_addresses(Ipv4Addr::new(10, 0, 2, 1), "fd00:2::1".parse::<Ipv6Addr>().unwrap());
    /// ```
    pub fn local_addresses(self, v4: Ipv4Addr, v6: Ipv6Addr) -> Self {
        self.edit(|c| (c.local_v4, c.local_v6) = (Some(v4), Some(v6)))
    }
}

/// The future [`MptcpConnector`] returns.
pub struct Connecting(Pin<Box<dyn Future<Output = Result<MptcpStream, ConnectError>> + Send>>);

impl fmt::Debug for Connecting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Connecting")
    }
}

impl Future for Connecting {
    type Output = Result<MptcpStream, ConnectError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.as_mut().poll(cx)
    }
}

impl<R> Service<Uri> for MptcpConnector<R>
where
    R: Service<Name> + Clone + Send + Sync + 'static,
    R::Response: Iterator<Item = SocketAddr>,
    R::Error: Into<BoxError>,
    R::Future: Send,
{
    type Response = MptcpStream;
    type Error = ConnectError;
    type Future = Connecting;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), ConnectError>> {
        // The resolver's readiness is awaited for each call, on its clone.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, dst: Uri) -> Connecting {
        let config = Arc::clone(&self.config);
        let resolver = self.resolver.clone();
        Connecting(Box::pin(async move { connect(&config, resolver, dst).await }))
    }
}

fn invalid(dst: &Uri, reason: &'static str) -> ConnectError {
    ConnectError::InvalidUri { uri: dst.to_string(), reason }
}

async fn connect<R>(config: &Config, mut resolver: R, dst: Uri) -> Result<MptcpStream, ConnectError>
where
    R: Service<Name>,
    R::Response: Iterator<Item = SocketAddr>,
    R::Error: Into<BoxError>,
{
    let scheme = dst.scheme_str().ok_or_else(|| invalid(&dst, "the URI has no scheme (http:// or https://)"))?;
    if config.enforce_http && scheme != "http" {
        return Err(invalid(
            &dst,
            "the scheme is not http; wrap the connector in a TLS one and set enforce_http(false)",
        ));
    }
    let host = dst.host().ok_or_else(|| invalid(&dst, "the URI has no host"))?;
    let explicit_port = dst.port_u16();
    let port = explicit_port.unwrap_or(if scheme == "https" { 443 } else { 80 });
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = match IpAddr::from_str(bare) {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => {
            let name = Name::from_str(bare).map_err(|_| invalid(&dst, "the host is not a valid DNS name"))?;
            let resolve_error = |e: R::Error| ConnectError::Resolve { host: bare.to_string(), source: e.into() };
            poll_fn(|cx| resolver.poll_ready(cx)).await.map_err(resolve_error)?;
            let found = resolver.call(name).await.map_err(resolve_error)?;
            found
                .map(|mut a| {
                    if explicit_port.is_some() || a.port() == 0 {
                        a.set_port(port);
                    }
                    a
                })
                .collect()
        }
    };
    let (local_v4, local_v6) = config.local_addrs();
    let allowed: Vec<SocketAddr> = match (local_v4, local_v6) {
        (Some(_), None) => addrs.iter().copied().filter(SocketAddr::is_ipv4).collect(),
        (None, Some(_)) => addrs.iter().copied().filter(SocketAddr::is_ipv6).collect(),
        _ => addrs.clone(),
    };
    if allowed.is_empty() {
        let why = if addrs.is_empty() { "" } else { " of the local address's family" };
        return Err(ConnectError::NoAddress { host: host.to_string(), why });
    }
    let stream = happy_eyeballs(config, host, allowed).await?;
    let addr = stream.peer_addr().unwrap_or_else(|_| SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)));
    MptcpStream::new(stream).map_err(|source| ConnectError::Setup { addr, source })
}

impl Config {
    /// The local addresses to bind: the connector's, else the builder's.
    fn local_addrs(&self) -> (Option<SocketAddr>, Option<SocketAddr>) {
        if self.local_v4.is_some() || self.local_v6.is_some() {
            let v4 = self.local_v4.map(|a| SocketAddr::from((a, 0)));
            let v6 = self.local_v6.map(|a| SocketAddr::from((a, 0)));
            return (v4, v6);
        }
        match self.builder.local_addr_value() {
            Some(a) if a.is_ipv4() => (Some(a), None),
            Some(a) => (None, Some(a)),
            None => (None, None),
        }
    }

    fn keepalive(&self) -> Option<TcpKeepalive> {
        if self.keepalive_time.is_none() && self.keepalive_interval.is_none() && self.keepalive_retries.is_none() {
            return None;
        }
        let mut k = TcpKeepalive::new();
        if let Some(t) = self.keepalive_time {
            k = k.with_time(t);
        }
        #[cfg(not(any(target_os = "openbsd", target_os = "redox", target_os = "solaris")))]
        if let Some(i) = self.keepalive_interval {
            k = k.with_interval(i);
        }
        #[cfg(not(any(target_os = "openbsd", target_os = "redox", target_os = "solaris", target_os = "windows")))]
        if let Some(r) = self.keepalive_retries {
            k = k.with_retries(r);
        }
        Some(k)
    }

    /// The local address to bind for connecting to `addr`.
    fn local_for(&self, addr: SocketAddr) -> Option<SocketAddr> {
        match self.local_addrs() {
            (Some(v4), _) if addr.is_ipv4() => Some(v4),
            (_, Some(v6)) if addr.is_ipv6() => Some(v6),
            _ => None,
        }
    }

    /// The bound for one attempt when `n` addresses share the family's.
    fn attempt_timeout(&self, n: usize) -> Option<Duration> {
        let total = self.connect_timeout.or(self.builder.connect_timeout_value())?;
        Some(total / n.max(1) as u32)
    }
}

/// How one family's attempts ended without a connection.
enum LaneError {
    /// A socket could not be prepared: stop everything.
    Fatal(ConnectError),
    /// Every address refused, was unreachable or timed out.
    Failed(Vec<Attempt>),
}

/// Tries `addrs` one after another.
async fn lane(config: &Config, addrs: Vec<SocketAddr>) -> Result<TcpStream, LaneError> {
    let timeout = config.attempt_timeout(addrs.len());
    let keepalive = config.keepalive();
    let mut failed = Vec::new();
    for addr in addrs {
        let dial =
            Dial::new(&config.builder).local(config.local_for(addr)).timeout(timeout).keepalive(keepalive.as_ref());
        match dial.connect_async(addr).await {
            Ok(s) => return Ok(s),
            Err(Failed::Setup(source)) => return Err(LaneError::Fatal(ConnectError::Setup { addr, source })),
            Err(Failed::Connect(error)) => failed.push(Attempt { addr, error }),
        }
    }
    Err(LaneError::Failed(failed))
}

/// RFC 8305: the first address's family first; the other family after the
/// delay or once the first has failed, whichever comes first.
async fn happy_eyeballs(config: &Config, host: &str, addrs: Vec<SocketAddr>) -> Result<TcpStream, ConnectError> {
    let first_v6 = addrs[0].is_ipv6();
    let (preferred, other): (Vec<_>, Vec<_>) = addrs.iter().partition(|a| a.is_ipv6() == first_v6);
    let failed = |attempts| ConnectError::Connect { host: host.to_string(), attempts };
    let delay = match config.happy_eyeballs {
        Some(d) if !other.is_empty() => d,
        _ => {
            return lane(config, addrs).await.map_err(|e| match e {
                LaneError::Fatal(e) => e,
                LaneError::Failed(a) => failed(a),
            })
        }
    };
    let mut first = pin!(lane(config, preferred));
    let mut second = pin!(lane(config, other));
    let mut timer = pin!(tokio::time::sleep(delay));
    let (mut first_failed, mut second_failed): (Option<Vec<Attempt>>, Option<Vec<Attempt>>) = (None, None);
    let mut second_started = false;
    poll_fn(|cx| {
        if first_failed.is_none() {
            match first.as_mut().poll(cx) {
                Poll::Ready(Ok(s)) => return Poll::Ready(Ok(s)),
                Poll::Ready(Err(LaneError::Fatal(e))) => return Poll::Ready(Err(e)),
                Poll::Ready(Err(LaneError::Failed(a))) => {
                    first_failed = Some(a);
                    second_started = true;
                }
                Poll::Pending => {}
            }
        }
        if !second_started && timer.as_mut().poll(cx).is_ready() {
            second_started = true;
        }
        if second_started && second_failed.is_none() {
            match second.as_mut().poll(cx) {
                Poll::Ready(Ok(s)) => return Poll::Ready(Ok(s)),
                Poll::Ready(Err(LaneError::Fatal(e))) => return Poll::Ready(Err(e)),
                Poll::Ready(Err(LaneError::Failed(a))) => second_failed = Some(a),
                Poll::Pending => {}
            }
        }
        match (&mut first_failed, &mut second_failed) {
            (Some(a), Some(b)) => {
                let mut all = std::mem::take(a);
                all.append(b);
                Poll::Ready(Err(failed(all)))
            }
            _ => Poll::Pending,
        }
    })
    .await
}
