//! The `mptcp.demo.Greeter` gRPC service, shared by `grpc_server` and
//! `grpc_client`: protobuf messages derived with prost, and the client and
//! server glue that `tonic-build` would generate, written out (no `protoc`
//! and no build script needed). The matching `.proto`:
//!
//! ```proto
//! syntax = "proto3";
//! package mptcp.demo;
//! service Greeter { rpc Hello(HelloRequest) returns (HelloReply); }
//! message HelloRequest { string name = 1; }
//! message HelloReply { string message = 1; string status = 2; uint32 subflows = 3; }
//! ```

#![allow(dead_code)] // each example uses one side

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::uri::PathAndQuery;
use tonic::body::Body;
use tonic::server::{Grpc, NamedService, UnaryService};
use tonic::{Request, Response, Status};
use tonic_prost::ProstCodec;

/// `mptcp.demo.HelloRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HelloRequest {
    /// Who says hello.
    #[prost(string, tag = "1")]
    pub name: String,
}

/// `mptcp.demo.HelloReply`: the greeting and what the server sees of the
/// connection the request came on.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HelloReply {
    /// The greeting.
    #[prost(string, tag = "1")]
    pub message: String,
    /// `mptcp`, `fallback` or `tcp`, as the server sees the connection.
    #[prost(string, tag = "2")]
    pub status: String,
    /// The connection's subflows, as the server sees them.
    #[prost(uint32, tag = "3")]
    pub subflows: u32,
}

/// The service's name on the wire.
pub const SERVICE: &str = "mptcp.demo.Greeter";
/// The one method's path.
pub const HELLO: &str = "/mptcp.demo.Greeter/Hello";

/// Calls `Hello` over any tonic channel.
pub async fn hello(channel: tonic::transport::Channel, name: &str) -> Result<HelloReply, Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.map_err(|e| Status::unavailable(format!("channel not ready: {e}")))?;
    let request = Request::new(HelloRequest { name: name.to_string() });
    let codec = ProstCodec::<HelloRequest, HelloReply>::default();
    Ok(grpc.unary(request, PathAndQuery::from_static(HELLO), codec).await?.into_inner())
}

/// What a Greeter does.
pub trait Greeter: Send + Sync + 'static {
    /// Answers one `Hello`.
    fn hello(&self, request: Request<HelloRequest>) -> Result<Response<HelloReply>, Status>;
}

/// A Greeter as a tonic service, for `Server::builder().add_service(..)`.
pub struct GreeterServer<T>(pub Arc<T>);

impl<T> Clone for GreeterServer<T> {
    fn clone(&self) -> Self {
        GreeterServer(Arc::clone(&self.0))
    }
}

impl<T> NamedService for GreeterServer<T> {
    const NAME: &'static str = SERVICE;
}

/// `Hello` as tonic's unary service.
struct HelloMethod<T>(Arc<T>);

impl<T: Greeter> UnaryService<HelloRequest> for HelloMethod<T> {
    type Response = HelloReply;
    type Future = std::future::Ready<Result<Response<HelloReply>, Status>>;

    fn call(&mut self, request: Request<HelloRequest>) -> Self::Future {
        std::future::ready(self.0.hello(request))
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<T: Greeter> tower_service::Service<http::Request<Body>> for GreeterServer<T> {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let inner = Arc::clone(&self.0);
        Box::pin(async move {
            if request.uri().path() != HELLO {
                // gRPC's answer for a method it does not know.
                return Ok(Status::unimplemented(format!("no method {}", request.uri().path())).into_http());
            }
            let mut grpc = Grpc::new(ProstCodec::<HelloReply, HelloRequest>::default());
            Ok(grpc.unary(HelloMethod(inner), request).await)
        })
    }
}
