//! Socket options for bulk transfer: their validation, and the
//! [`MptcpBuilder`] that sets them before `connect` or `listen`.
//!
//! A listening socket passes `TCP_CONGESTION`, `SO_SNDBUF` and `SO_RCVBUF`
//! on to the sockets it accepts (MPTCP ones, plain-TCP ones and the MPTCP
//! subflows joining them; checked on Linux 6.18 with getsockopt and `ss`),
//! so a server sets them once, on the listener.

use std::net::TcpStream;

use mptcp::MptcpBuilder;

use super::units::parse_size;
use crate::{Error, Result};

/// Congestion control used unless the user picks one: it aggregates paths of
/// unequal capacity well (bbr, the default on some hosts, does not).
pub const DEFAULT_CONGESTION: &str = "cubic";

/// Socket options for bulk transfer, validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SocketOpts {
    /// `TCP_CONGESTION`; `None` keeps the system default.
    pub congestion: Option<String>,
    /// `SO_SNDBUF` in bytes; `None` keeps autotuning.
    pub send_buffer: Option<usize>,
    /// `SO_RCVBUF` in bytes; `None` keeps autotuning.
    pub recv_buffer: Option<usize>,
}

impl SocketOpts {
    /// Validates the options as a command line gives them: a congestion
    /// control name (`system` for the host's default), send and receive
    /// buffer sizes such as `4M` ([`parse_size`]). Without a congestion
    /// control, [`DEFAULT_CONGESTION`] where the kernel lets us use it.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] naming the option (`congestion`, `sndbuf`
    /// or `rcvbuf`) and what is wrong with its value.
    ///
    /// # Examples
    ///
    /// ```
    /// use mptcp_transfer::opts::SocketOpts;
    ///
    /// let o = SocketOpts::parse(Some("reno"), Some("4M"), None)?;
    /// assert_eq!((o.congestion.as_deref(), o.send_buffer), (Some("reno"), Some(4 << 20)));
    /// assert!(SocketOpts::parse(None, Some("0"), None).is_err());
    /// # Ok::<(), mptcp_transfer::Error>(())
    /// ```
    pub fn parse(congestion: Option<&str>, sndbuf: Option<&str>, rcvbuf: Option<&str>) -> Result<SocketOpts> {
        let size = |v: Option<&str>, option: &'static str| -> Result<Option<usize>> {
            match v {
                None => Ok(None),
                Some(s) => match parse_size(s) {
                    Some(n) if n > 0 && n <= i32::MAX as u64 => Ok(Some(n as usize)),
                    _ => Err(Error::InvalidOption { option, value: s.into(), problem: "expected a size such as 4M" }),
                },
            }
        };
        let congestion = match congestion {
            Some("system") => None,
            Some(n) if n.is_empty() || n.len() > 15 || !n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
                return Err(Error::InvalidOption {
                    option: "congestion",
                    value: n.into(),
                    problem: "not a congestion control name",
                })
            }
            Some(n) => Some(n.to_string()),
            None if congestion_usable(DEFAULT_CONGESTION) => Some(DEFAULT_CONGESTION.to_string()),
            None => None,
        };
        Ok(SocketOpts { congestion, send_buffer: size(sndbuf, "sndbuf")?, recv_buffer: size(rcvbuf, "rcvbuf")? })
    }

    /// A builder that sets these options before `connect`/`listen`; its
    /// errors name the option the kernel refused.
    pub fn builder(&self) -> MptcpBuilder {
        let mut b = MptcpBuilder::new();
        if let Some(cc) = &self.congestion {
            b = b.congestion(cc);
        }
        if let Some(n) = self.send_buffer {
            b = b.send_buffer(n);
        }
        if let Some(n) = self.recv_buffer {
            b = b.recv_buffer(n);
        }
        b
    }
}

/// Whether `name` can be used as congestion control here.
fn congestion_usable(name: &str) -> bool {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let avail = read("/proc/sys/net/ipv4/tcp_available_congestion_control");
    let allowed = read("/proc/sys/net/ipv4/tcp_allowed_congestion_control");
    let root = nix::unistd::geteuid().is_root();
    avail.split_whitespace().any(|c| c == name) && (root || allowed.split_whitespace().any(|c| c == name))
}

/// Reads `TCP_CONGESTION` of a socket.
pub fn congestion_of(s: &TcpStream) -> Option<String> {
    let name = socket2::SockRef::from(s).tcp_congestion().ok()?;
    let end = name.iter().position(|&c| c == 0).unwrap_or(name.len());
    Some(String::from_utf8_lossy(&name[..end]).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_validated() {
        let o = SocketOpts::parse(Some("reno"), Some("4M"), None).unwrap();
        assert_eq!(o, SocketOpts { congestion: Some("reno".into()), send_buffer: Some(4 << 20), recv_buffer: None });
        assert_eq!(SocketOpts::parse(Some("system"), None, None).unwrap().congestion, None);
        let e = SocketOpts::parse(Some("no such"), None, None).unwrap_err();
        assert_eq!(e.to_string(), "--congestion \"no such\": not a congestion control name");
        assert!(SocketOpts::parse(Some("averyveryverylongname"), None, None).is_err());
        let e = SocketOpts::parse(None, Some("0"), None).unwrap_err();
        assert_eq!(e.to_string(), "--sndbuf \"0\": expected a size such as 4M");
        assert!(SocketOpts::parse(None, Some("3G"), None).is_err(), "above i32::MAX");
        assert!(SocketOpts::parse(None, None, Some("x")).unwrap_err().to_string().starts_with("--rcvbuf"));
    }

    /// The server sets the options on its listener only: they must reach the
    /// sockets it accepts, MPTCP and plain TCP alike.
    #[test]
    #[ignore = "needs a kernel with MPTCP (scripts/test.sh runs it)"]
    fn a_listener_passes_its_options_to_accepted_sockets() {
        assert!(mptcp::host_support().is_available(), "this test needs a kernel with MPTCP");
        // A congestion control other than the default, so inheriting it shows.
        let default = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_congestion_control").unwrap();
        let cc = if default.trim() == "reno" { "cubic" } else { "reno" };
        let opts = SocketOpts { congestion: Some(cc.into()), send_buffer: Some(1 << 20), recv_buffer: Some(768 << 10) };
        let listener = opts.builder().bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        for mptcp in [true, false] {
            let client = MptcpBuilder::new().mptcp(mptcp).connect(addr).unwrap();
            let (conn, _) = listener.accept().unwrap();
            let sock = socket2::SockRef::from(&conn);
            assert_eq!(sock.protocol().unwrap() == Some(socket2::Protocol::TCP), !mptcp, "accepted the expected kind");
            assert_eq!(congestion_of(&conn).as_deref(), Some(cc), "mptcp client: {mptcp}");
            assert_ne!(congestion_of(&client).as_deref(), Some(cc), "the client kept the default");
            // Linux doubles the value set (room for its bookkeeping).
            assert_eq!(sock.send_buffer_size().unwrap(), 2 << 20, "mptcp client: {mptcp}");
            assert_eq!(sock.recv_buffer_size().unwrap(), 2 * (768 << 10), "mptcp client: {mptcp}");
        }
    }
}
