//! Prints what the host probe found and the status of a loopback MPTCP
//! connection through every mechanism.
//!
//! Run with `cargo run -p multipath-tcp --example probe`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

use mptcp::{Mechanism, MptcpExt, MptcpListenerExt, MptcpStreamExt};

fn main() -> std::io::Result<()> {
    let host = mptcp::host_support();
    println!("{host:#?}");
    let listener = TcpListener::bind_mptcp("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let mut client = TcpStream::connect_mptcp(addr)?;
    let (mut server, _) = listener.accept()?;
    client.write_all(b"ping")?;
    let mut buf = [0u8; 4];
    server.read_exact(&mut buf)?;
    for &m in Mechanism::ALL {
        println!("{m}: client {:?} server {:?}", client.mptcp_status_with(m), server.mptcp_status_with(m));
    }
    println!("auto: client {} server {}", client.mptcp_status()?, server.mptcp_status()?);
    println!("info: {:?}", client.mptcp_info()?);
    println!("subflows: {:#?}", client.subflows()?);
    println!("legacy: {:?}", client.subflows_legacy()?.len());
    Ok(())
}
