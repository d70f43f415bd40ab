//! A hyper client over MPTCP (`MptcpConnector`), for HTTP and HTTPS
//! (hyper-rustls wrapping the connector). For each response it prints the
//! server's `x-mptcp` header and what the client sees of the same
//! connection, read from the response's extensions.
//!
//! ```text
//! cargo run -p multipath-tcp --features hyper --example http_client -- URL [--ca CA.pem] [--tcp] [--until-subflows N]
//! ```
//!
//! `--ca` trusts that certificate for `https` URLs (there is no other root);
//! `--tcp` connects over plain TCP with the same options, for comparison;
//! `--until-subflows N` repeats the request on the same connection until the
//! server reports N subflows (extra subflows join only after the first data
//! is acknowledged), for at most 15 seconds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use mptcp::hyper::{MptcpConnectionInfo, MptcpConnector};
use mptcp::MptcpBuilder;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

type Error = Box<dyn std::error::Error + Send + Sync>;

fn usage(msg: &str) -> ! {
    eprintln!("{msg}\nusage: http_client URL [--ca CA.pem] [--tcp] [--until-subflows N]");
    std::process::exit(2)
}

fn tls_config(ca: Option<&str>) -> Result<rustls::ClientConfig, Error> {
    let mut roots = rustls::RootCertStore::empty();
    if let Some(ca) = ca {
        for cert in CertificateDer::pem_file_iter(ca).map_err(|e| format!("reading {ca}: {e}"))? {
            roots.add(cert.map_err(|e| format!("reading {ca}: {e}"))?)?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The subflow count in an `x-mptcp` value such as `mptcp; subflows=2`.
fn subflows_in(x_mptcp: &str) -> Option<usize> {
    x_mptcp.split(';').find_map(|part| part.trim().strip_prefix("subflows=")?.parse().ok())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let (mut url, mut ca, mut tcp, mut until) = (None, None, false, None);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--ca" => ca = Some(args.next().unwrap_or_else(|| usage("--ca needs a file"))),
            "--tcp" => tcp = true,
            "--until-subflows" => {
                let n = args.next().and_then(|n| n.parse::<usize>().ok());
                until = Some(n.unwrap_or_else(|| usage("--until-subflows needs a number")));
            }
            _ if url.is_none() && !a.starts_with("--") => url = Some(a),
            _ => usage(&format!("unexpected argument {a:?}")),
        }
    }
    let url: hyper::Uri = url.unwrap_or_else(|| usage("no URL")).parse()?;
    let connector = MptcpConnector::new()
        .builder(MptcpBuilder::new().mptcp(!tcp))
        .nodelay(true)
        .connect_timeout(Some(Duration::from_secs(5)))
        .enforce_http(false);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls_config(ca.as_deref())?)
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(connector);
    let client = Client::builder(TokioExecutor::new()).build::<_, Empty<Bytes>>(https);
    let deadline = Instant::now() + Duration::from_secs(15);
    for n in 1.. {
        let response = client.get(url.clone()).await?;
        let status = response.status();
        let x_mptcp = response.headers().get("x-mptcp").and_then(|v| v.to_str().ok()).unwrap_or("-").to_string();
        let info = response.extensions().get::<MptcpConnectionInfo>().cloned();
        let body = response.into_body().collect().await?.to_bytes();
        println!("response {n}: {status} {} {}", route(&info), String::from_utf8_lossy(&body).trim());
        println!("x-mptcp: {x_mptcp}");
        match &info {
            Some(i) => println!("client: {}; subflows={}", i.status()?, i.subflow_count()?),
            None => println!("client: no MptcpConnectionInfo in the response"),
        }
        let reached = match until {
            None => true,
            Some(want) => subflows_in(&x_mptcp).is_some_and(|got| got >= want),
        };
        if reached {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("the server never reported {} subflows", until.unwrap_or(0)).into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// Where the connection goes (from the info), for the log line.
fn route(info: &Option<MptcpConnectionInfo>) -> String {
    info.as_ref().map(|i| format!("{} -> {}", i.local_addr(), i.remote_addr())).unwrap_or_default()
}
