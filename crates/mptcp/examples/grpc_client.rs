//! A tonic gRPC client over MPTCP: the channel connects through
//! `MptcpConnector`, and prints the server's view of the connection.
//!
//! ```text
//! cargo run -p multipath-tcp --features hyper --example grpc_client -- URL [--name NAME] [--tcp] [--until-subflows N]
//! ```
//!
//! `--tcp` connects over plain TCP; `--until-subflows N` calls again on the
//! same channel until the server reports N subflows (at most 15 seconds).

use std::time::{Duration, Instant};

use mptcp::hyper::MptcpConnector;
use mptcp::MptcpBuilder;
use tonic::transport::Endpoint;

#[path = "grpc/greeter.rs"]
mod greeter;

fn usage(msg: &str) -> ! {
    eprintln!("{msg}\nusage: grpc_client URL [--name NAME] [--tcp] [--until-subflows N]");
    std::process::exit(2)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (mut url, mut name, mut tcp, mut until) = (None, "mptcp".to_string(), false, 1u32);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--name" => name = args.next().unwrap_or_else(|| usage("--name needs a value")),
            "--tcp" => tcp = true,
            "--until-subflows" => {
                until =
                    args.next().and_then(|n| n.parse().ok()).unwrap_or_else(|| usage("--until-subflows needs a number"))
            }
            _ if url.is_none() && !a.starts_with("--") => url = Some(a),
            _ => usage(&format!("unexpected argument {a:?}")),
        }
    }
    let url = url.unwrap_or_else(|| usage("no URL"));
    let connector = MptcpConnector::new()
        .builder(MptcpBuilder::new().mptcp(!tcp))
        .nodelay(true)
        .connect_timeout(Some(Duration::from_secs(5)));
    let channel = Endpoint::from_shared(url.clone())?
        .connect_with_connector(connector)
        .await
        .map_err(|e| format!("connecting to {url}: {e:?}"))?;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let reply = greeter::hello(channel.clone(), &name).await?;
        println!("{}", reply.message);
        println!("server sees: {}; subflows={}", reply.status, reply.subflows);
        if reply.subflows >= until {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("the server never reported {until} subflows").into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
