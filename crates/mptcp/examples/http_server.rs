//! An axum server over MPTCP that tells each client, in the response header
//! `x-mptcp`, whether its request came over MPTCP and on how many subflows,
//! e.g. `x-mptcp: mptcp; subflows=2` (`tcp; subflows=1` for a plain-TCP
//! client, `fallback; subflows=1` for one whose MPTCP was stripped on the
//! way, which only the listener's counters can tell).
//!
//! ```text
//! cargo run -p multipath-tcp --features hyper --example http_server -- [--listen ADDR] [--tls-cert CERT.pem --tls-key KEY.pem]
//! ```
//!
//! It prints `listening on ADDR` once it accepts. Without TLS it runs
//! `axum::serve` over a `Listener` whose connections are `MptcpStream`s;
//! with TLS, the same router behind tokio-rustls, one task per connection.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::extract::ConnectInfo;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::serve::{IncomingStream, Listener};
use axum::{Extension, Router};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use mptcp::hyper::{MptcpConnectionInfo, MptcpStream};
use mptcp::listener::AsyncMptcpListener;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// What each request learns about its connection.
#[derive(Clone, Debug)]
struct Client {
    peer: SocketAddr,
    conn: MptcpConnectionInfo,
}

/// The value of `x-mptcp`: the connection's status and subflows now.
fn x_mptcp(conn: &MptcpConnectionInfo) -> String {
    match (conn.status(), conn.subflow_count()) {
        (Ok(status), Ok(n)) => format!("{status}; subflows={n}"),
        (Err(e), _) | (_, Err(e)) => format!("unknown; error={:?}", e.kind()),
    }
}

async fn hello(ConnectInfo(client): ConnectInfo<Client>) -> impl IntoResponse {
    let value = x_mptcp(&client.conn);
    let body = format!("hello {}: {value}\n", client.peer);
    ([("x-mptcp", value)], body)
}

/// `AsyncMptcpListener` as axum's `Listener`: each connection an `MptcpStream`
/// carrying the listener's verdict (passive fallback included).
struct Mptcp(AsyncMptcpListener);

impl Mptcp {
    async fn next(&self) -> (MptcpStream, SocketAddr) {
        loop {
            let accepted = self.0.accept().await.and_then(|(tcp, peer, status)| {
                eprintln!("{peer}: accepted, {status}");
                Ok((MptcpStream::accepted(tcp, status)?, peer))
            });
            match accepted {
                Ok(conn) => return conn,
                // EMFILE and the like: wait a little rather than spin.
                Err(e) => {
                    eprintln!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}

impl Listener for Mptcp {
    type Io = MptcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (MptcpStream, SocketAddr) {
        self.next().await
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

impl Connected<IncomingStream<'_, Mptcp>> for Client {
    fn connect_info(stream: IncomingStream<'_, Mptcp>) -> Client {
        Client { peer: *stream.remote_addr(), conn: stream.io().info() }
    }
}

fn tls_config(cert: &str, key: &str) -> Result<rustls::ServerConfig, Box<dyn std::error::Error>> {
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("reading certificates from {cert}: {e}"))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("reading the private key from {key}: {e}"))?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// HTTPS: TLS over each `MptcpStream`, then the router with the connection's
/// info as axum's `ConnectInfo`.
async fn serve_tls(listener: Mptcp, app: Router, tls: rustls::ServerConfig) {
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    loop {
        let (stream, peer) = listener.next().await;
        let client = Client { peer, conn: stream.info() };
        let (acceptor, app) = (acceptor.clone(), app.clone());
        tokio::spawn(async move {
            let tls = match acceptor.accept(stream).await {
                Ok(tls) => tls,
                Err(e) => return eprintln!("{peer}: TLS handshake failed: {e}"),
            };
            let service = TowerToHyperService::new(app.layer(Extension(ConnectInfo(client))));
            if let Err(e) = auto::Builder::new(TokioExecutor::new()).serve_connection(TokioIo::new(tls), service).await
            {
                eprintln!("{peer}: {e}");
            }
        });
    }
}

fn usage(msg: &str) -> ! {
    eprintln!("{msg}\nusage: http_server [--listen ADDR] [--tls-cert CERT.pem --tls-key KEY.pem]");
    std::process::exit(2)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (mut listen, mut cert, mut key) = ("[::]:8080".to_string(), None, None);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage(&format!("{a} needs a value")));
        match a.as_str() {
            "--listen" => listen = value(),
            "--tls-cert" => cert = Some(value()),
            "--tls-key" => key = Some(value()),
            _ => usage(&format!("unknown argument {a:?}")),
        }
    }
    let tls = match (cert, key) {
        (Some(c), Some(k)) => Some(tls_config(&c, &k)?),
        (None, None) => None,
        _ => usage("--tls-cert and --tls-key go together"),
    };
    let listener = Mptcp(AsyncMptcpListener::bind(&listen).await.map_err(|e| format!("binding {listen}: {e}"))?);
    println!("listening on {}", listener.local_addr()?);
    let app = Router::new().route("/", get(hello));
    match tls {
        Some(tls) => serve_tls(listener, app, tls).await,
        None => axum::serve(listener, app.into_make_service_with_connect_info::<Client>()).await?,
    }
    Ok(())
}
