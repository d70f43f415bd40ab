//! `mptcp pm`: the userspace path manager (`net.mptcp.path_manager=userspace`):
//! announce and remove addresses, create, destroy and re-prioritise
//! subflows of one connection, named by its token (`mptcp conns` shows it).
//!
//! ```text
//! mptcp pm announce --token T --id ID ADDRESS [--port P] [--dev NAME]
//! mptcp pm remove --token T --id ID
//! mptcp pm subflow add --token T --local ADDR[:PORT] [--id ID] [--dev NAME] --remote ADDR:PORT
//! mptcp pm subflow del --token T --local ADDR:PORT --remote ADDR:PORT
//! mptcp pm subflow set --token T --local ADDR:PORT --remote ADDR:PORT (--backup | --nobackup)
//! ```
//! Tokens are read as [`crate::token`] says: `0x` hex, decimal, or
//! iproute2's hex without `0x`.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

use anyhow::Context;
use mptcp::pm::{Endpoint, LocalAddr, PathManager};

use crate::cmd::endpoint::{parse_addr, parse_dev, parse_id, parse_port, pm_err};
use crate::util::usage;

/// Arguments of `mptcp pm`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Errors as JSON on stdout (these commands print nothing on success).
    #[arg(short = 'j', long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Announce a local address to the peer of a connection (ADD_ADDR).
    Announce {
        /// Connection token (decimal or 0x-hex).
        #[arg(long)]
        token: String,
        /// Address id (1-255).
        #[arg(long)]
        id: String,
        /// Port to announce.
        #[arg(long)]
        port: Option<String>,
        /// Interface of the address.
        #[arg(long)]
        dev: Option<String>,
        /// The local address.
        address: String,
    },
    /// Withdraw an announced address (RM_ADDR) and close its subflows.
    Remove {
        /// Connection token.
        #[arg(long)]
        token: String,
        /// Address id (0-255).
        #[arg(long)]
        id: String,
    },
    /// Subflows of a connection.
    Subflow {
        #[command(subcommand)]
        action: SubflowAction,
    },
}

#[derive(Debug, clap::Subcommand)]
enum SubflowAction {
    /// Create a subflow.
    #[command(alias = "create")]
    Add {
        /// Connection token.
        #[arg(long)]
        token: String,
        /// Local address, optionally with a port.
        #[arg(long)]
        local: String,
        /// Local address id (default: chosen by the kernel).
        #[arg(long)]
        id: Option<String>,
        /// Bind the subflow to this interface.
        #[arg(long)]
        dev: Option<String>,
        /// Remote address and port.
        #[arg(long)]
        remote: String,
    },
    /// Destroy a subflow.
    #[command(alias = "destroy", alias = "delete")]
    Del {
        #[command(flatten)]
        subflow: SubflowRef,
    },
    /// Mark a subflow as backup or not (MP_PRIO).
    Set {
        #[command(flatten)]
        subflow: SubflowRef,
        /// Make it a backup subflow.
        #[arg(long, conflicts_with = "nobackup", required_unless_present = "nobackup")]
        backup: bool,
        /// Make it a regular subflow.
        #[arg(long)]
        nobackup: bool,
    },
}

/// An existing subflow: its connection and its two ends.
#[derive(Debug, clap::Args)]
struct SubflowRef {
    /// Connection token.
    #[arg(long)]
    token: String,
    /// Local address and port.
    #[arg(long)]
    local: String,
    /// Remote address and port.
    #[arg(long)]
    remote: String,
}

impl SubflowRef {
    /// (token, local, remote), each checked; bad input is a usage error.
    fn parse(&self) -> anyhow::Result<(u32, SocketAddr, SocketAddr)> {
        let (local, remote) = (parse_sockaddr(&self.local, "local")?, parse_sockaddr(&self.remote, "remote")?);
        Ok((parse_token(&self.token)?, local, remote))
    }
}

/// Parses a token: decimal, or hexadecimal with `0x`.
/// Also iproute2's hexadecimal without `0x` ([`crate::token`]): digits
/// alone are settled by this namespace's live connections.
pub fn parse_token(s: &str) -> anyhow::Result<u32> {
    crate::token::resolve(s, crate::token::live_tokens)
}

fn parse_sockaddr(s: &str, what: &str) -> anyhow::Result<SocketAddr> {
    let sa: SocketAddr =
        s.parse().map_err(|_| usage(format!("invalid {what} `{s}` (expected ADDRESS:PORT, [IPv6]:PORT)")))?;
    if sa.port() == 0 {
        return Err(usage(format!("{what} `{s}` needs a port")));
    }
    Ok(sa)
}

fn parse_local(s: &str) -> anyhow::Result<(IpAddr, u16)> {
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Ok((sa.ip(), sa.port()));
    }
    Ok((parse_addr(s)?, 0))
}

/// Runs `mptcp pm`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.action {
        Action::Announce { token, id, port, dev, address } => {
            let mut ep = Endpoint::new(parse_addr(&address)?).with_id(parse_id(&id)?);
            if let Some(p) = port {
                ep = ep.with_port(parse_port(&p)?);
            }
            if let Some(d) = dev {
                ep = ep.with_ifindex(parse_dev(&d)?);
            }
            let token = parse_token(&token)?;
            let mut pm = PathManager::new().map_err(pm_err)?;
            pm.announce(token, &ep).map_err(pm_err).with_context(|| format!("cannot announce {}", ep.addr))?;
        }
        Action::Remove { token, id } => {
            let id: u8 = id.parse().map_err(|_| usage(format!("invalid id `{id}` (expected 0-255)")))?;
            let token = parse_token(&token)?;
            PathManager::new().and_then(|mut pm| pm.remove(token, id)).map_err(pm_err)?;
        }
        Action::Subflow { action } => match action {
            SubflowAction::Add { token, local, id, dev, remote } => {
                let (addr, port) = parse_local(&local)?;
                let mut l = LocalAddr::new(addr).with_port(port);
                if let Some(id) = id {
                    l = l.with_id(parse_id(&id)?);
                }
                if let Some(d) = dev {
                    l = l.with_ifindex(parse_dev(&d)?);
                }
                let remote = parse_sockaddr(&remote, "remote")?;
                let token = parse_token(&token)?;
                PathManager::new().and_then(|mut pm| pm.create_subflow(token, l, remote)).map_err(pm_err)?;
            }
            SubflowAction::Del { subflow } => {
                let (token, local, remote) = subflow.parse()?;
                PathManager::new().and_then(|mut pm| pm.destroy_subflow(token, local, remote)).map_err(pm_err)?;
            }
            SubflowAction::Set { subflow, backup, nobackup } => {
                let (token, local, remote) = subflow.parse()?;
                let backup = backup && !nobackup;
                PathManager::new()
                    .and_then(|mut pm| pm.set_subflow_backup(token, local, remote, backup))
                    .map_err(pm_err)?;
            }
        },
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        assert_eq!(parse_token("0x10").unwrap(), 16);
        assert_eq!(parse_token("7").unwrap(), 7);
        assert_eq!(parse_token("0000001f").unwrap(), 31);
        assert!(parse_token("zz").is_err());
        assert!(parse_token("0x1ffffffff").is_err());
    }
}
