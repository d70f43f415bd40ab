//! A tonic gRPC server over MPTCP. Its `Hello` answers with what the server
//! sees of the caller's connection: `mptcp`, `fallback` or `tcp`, and the
//! number of subflows, read from the `MptcpConnectionInfo` that each
//! connection hands to its requests.
//!
//! ```text
//! cargo run -p multipath-tcp --features hyper --example grpc_server -- [--listen ADDR]
//! ```
//!
//! It prints `listening on ADDR` once it accepts.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use mptcp::hyper::{MptcpConnectionInfo, MptcpStream};
use mptcp::listener::AsyncMptcpListener;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tonic::transport::server::Connected;
use tonic::{Request, Response, Status};

#[path = "grpc/greeter.rs"]
mod greeter;
use greeter::{Greeter, GreeterServer, HelloReply, HelloRequest};

/// An accepted connection as tonic wants it: its requests carry the
/// connection's `MptcpConnectionInfo` in their extensions.
struct Conn(MptcpStream);

impl Connected for Conn {
    type ConnectInfo = MptcpConnectionInfo;

    fn connect_info(&self) -> MptcpConnectionInfo {
        self.0.info()
    }
}

impl AsyncRead for Conn {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

struct Hello;

impl Greeter for Hello {
    fn hello(&self, request: Request<HelloRequest>) -> Result<Response<HelloReply>, Status> {
        let conn =
            request.extensions().get::<MptcpConnectionInfo>().ok_or_else(|| Status::internal("no connection info"))?;
        let status = conn.status().map_err(|e| Status::internal(format!("status: {e}")))?;
        let subflows = conn.subflow_count().map_err(|e| Status::internal(format!("subflows: {e}")))?;
        let name = &request.get_ref().name;
        Ok(Response::new(HelloReply {
            message: format!("hello {name}, from {}", conn.local_addr()),
            status: status.to_string(),
            subflows: subflows as u32,
        }))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut listen = "[::]:50051".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match (a.as_str(), args.next()) {
            ("--listen", Some(v)) => listen = v,
            _ => {
                eprintln!("usage: grpc_server [--listen ADDR]");
                std::process::exit(2)
            }
        }
    }
    let listener = AsyncMptcpListener::bind(&listen).await.map_err(|e| format!("binding {listen}: {e}"))?;
    println!("listening on {}", listener.local_addr()?);
    let incoming = futures_util::stream::unfold(listener, |listener| async move {
        let conn = listener.accept().await.and_then(|(tcp, peer, status)| {
            eprintln!("{peer}: accepted, {status}");
            MptcpStream::accepted(tcp, status).map(Conn)
        });
        Some((conn, listener))
    });
    tonic::transport::Server::builder()
        .add_service(GreeterServer(Arc::new(Hello)))
        .serve_with_incoming(incoming)
        .await?;
    Ok(())
}
