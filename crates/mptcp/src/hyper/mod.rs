//! MPTCP for the hyper stack: a connector for hyper-util's client (and
//! hyper-rustls, tonic, anything that takes a `tower_service::Service<Uri>`),
//! and a stream type that tells clients and servers, per connection, whether
//! MPTCP is in use and on how many subflows.
//!
//! # Clients
//!
//! [`MptcpConnector`] is hyper-util's `HttpConnector` over MPTCP: every
//! resolved address in order, happy eyeballs between IPv6 and IPv4, connect
//! timeout, `TCP_NODELAY`, keepalive, local address, the
//! [`FallbackPolicy`](crate::FallbackPolicy), and any other socket option
//! through an [`MptcpBuilder`](crate::MptcpBuilder).
//!
//! Each connection is an [`MptcpStream`]; its [`MptcpConnectionInfo`] is
//! copied by hyper-util's client into the extensions of every response:
//!
//! ```no_run
//! use http_body_util::Empty;
//! use hyper::body::Bytes;
//! use hyper_util::client::legacy::Client;
//! use hyper_util::rt::TokioExecutor;
//! use mptcp::hyper::{MptcpConnectionInfo, MptcpConnector};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let client = Client::builder(TokioExecutor::new()).build::<_, Empty<Bytes>>(MptcpConnector::new());
//! let response = client.get("http://10.0.1.2:8080/".parse()?).await?;
//! // The connection's state now, not at connect time: subflows join later.
//! let info = response.extensions().get::<MptcpConnectionInfo>().expect("MptcpConnector sets it");
//! println!("{} on {} subflow(s)", info.status()?, info.subflow_count()?);
//! # Ok(())
//! # }
//! ```
//!
//! # HTTPS
//!
//! Wrap the connector in hyper-rustls's (with `enforce_http(false)`, as for
//! hyper-util's `HttpConnector`); the info passes through TLS unchanged:
//!
//! ```no_run
//! use std::sync::Arc;
//! use http_body_util::Empty;
//! use hyper::body::Bytes;
//! use hyper_util::client::legacy::Client;
//! use hyper_util::rt::TokioExecutor;
//! use mptcp::hyper::{MptcpConnectionInfo, MptcpConnector};
//!
//! # async fn demo(roots: rustls::RootCertStore) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let provider = Arc::new(rustls::crypto::ring::default_provider());
//! let tls = rustls::ClientConfig::builder_with_provider(provider)
//!     .with_safe_default_protocol_versions()?
//!     .with_root_certificates(roots)
//!     .with_no_client_auth();
//! let https = hyper_rustls::HttpsConnectorBuilder::new()
//!     .with_tls_config(tls)
//!     .https_or_http()
//!     .enable_http1()
//!     .enable_http2()
//!     .wrap_connector(MptcpConnector::new().enforce_http(false));
//! let client = Client::builder(TokioExecutor::new()).build::<_, Empty<Bytes>>(https);
//! let response = client.get("https://example.test/".parse()?).await?;
//! let info = response.extensions().get::<MptcpConnectionInfo>().expect("through TLS too");
//! # Ok(())
//! # }
//! ```
//!
//! # gRPC with tonic
//!
//! `tonic::transport::Endpoint::connect_with_connector` takes the connector
//! as it is (`enforce_http(false)` for `https` endpoints behind tonic's TLS):
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let channel = tonic::transport::Endpoint::from_static("http://10.0.1.2:50051")
//!     .connect_with_connector(mptcp::hyper::MptcpConnector::new())
//!     .await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Servers
//!
//! An axum or hyper server needs nothing from this module to serve MPTCP:
//! `axum::serve(mptcp::tokio::bind(addr).await?, app)`. To tell each request
//! about its connection, accept with [`crate::listener::AsyncMptcpListener`]
//! (which also sees the server-side fallback `accept()` cannot), wrap each
//! stream with [`MptcpStream::accepted`], and hand its
//! [`info`](MptcpStream::info) to the request (axum: a `Listener` whose `Io`
//! is `MptcpStream`, and `Connected` for your connect-info type). The
//! `http_server` example does exactly that and answers with a header such
//! as `x-mptcp: mptcp; subflows=2`.
//!
//! # reqwest
//!
//! reqwest cannot use this connector: `ClientBuilder::connector_layer` only
//! wraps reqwest's own connector, whose service must answer
//! `reqwest::connect::sealed::Conn`, a type whose fields are private to
//! reqwest (and whose request type, `Unnameable`, cannot be built outside
//! it); its sockets are created by hyper-util's `HttpConnector`, which
//! always asks for `IPPROTO_TCP`. None of its other hooks (`dns_resolver`,
//! `local_address`, `interface`, `tcp_keepalive`, `tcp_user_timeout`)
//! chooses the protocol. For reqwest programs, run them under `mptcp run`
//! (the preload library turns their TCP sockets into MPTCP ones), or build
//! the client with hyper-util's `Client` and [`MptcpConnector`] as above.
//!
//! # Compared with Go
//!
//! Go asks for `net.Dialer.SetMultipathTCP(true)` and
//! `http.Transport{DialContext: d.DialContext}`; this is the same for hyper:
//! `Client::builder(..).build(MptcpConnector::new())`. Like Go, a host
//! without MPTCP gets plain TCP; unlike Go, [`FallbackPolicy::Fail`](crate::FallbackPolicy::Fail)
//! makes that an error, and each response says what the connection really
//! negotiated.

mod connector;
mod error;
mod stream;

pub use crate::Attempt;
pub use connector::{Connecting, MptcpConnector, DEFAULT_HAPPY_EYEBALLS_DELAY};
pub use error::ConnectError;
pub use stream::{MptcpConnectionInfo, MptcpStream};
