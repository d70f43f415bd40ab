//! The middlebox that strips MPTCP (TCP option kind 30) from the packets a
//! namespace sends: xtables' `TCPOPTSTRIP`, through the `iptables` program.

use crate::{Netns, Result};

/// Where a middlebox strips the MPTCP option (TCP option kind 30).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strip {
    /// From the SYN-ACKs this namespace sends: both ends fall back at once.
    SynAck,
    /// From every non-SYN packet this namespace sends: the handshake
    /// negotiates MPTCP, the connection falls back later, on data.
    NonSyn,
}

impl Netns {
    /// Adds an iptables `TCPOPTSTRIP --strip-options 30` rule on this
    /// namespace's OUTPUT (IPv4, or IPv6 with `v6`): a middlebox stripping
    /// MPTCP. It goes away with the namespace.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use mptcp_netns::{Netns, Strip};
    /// let server = Netns::new("server")?;
    /// server.strip_mptcp(false, Strip::SynAck)?;
    /// # Ok::<(), mptcp_netns::Error>(())
    /// ```
    pub fn strip_mptcp(&self, v6: bool, which: Strip) -> Result<()> {
        self.xtables_rule("-A", v6, which)
    }

    /// Removes the rule [`strip_mptcp`](Netns::strip_mptcp) added.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use mptcp_netns::{Netns, Strip};
    /// let server = Netns::new("server")?;
    /// server.strip_mptcp(false, Strip::SynAck)?;
    /// server.unstrip_mptcp(false, Strip::SynAck)?;
    /// # Ok::<(), mptcp_netns::Error>(())
    /// ```
    pub fn unstrip_mptcp(&self, v6: bool, which: Strip) -> Result<()> {
        self.xtables_rule("-D", v6, which)
    }

    fn xtables_rule(&self, action: &str, v6: bool, which: Strip) -> Result<()> {
        let select: &[&str] = match which {
            Strip::SynAck => &["--tcp-flags", "SYN,ACK", "SYN,ACK"],
            Strip::NonSyn => &["!", "--syn"],
        };
        let mut rule = vec!["-t", "mangle", action, "OUTPUT", "-p", "tcp"];
        rule.extend_from_slice(select);
        rule.extend_from_slice(&["-j", "TCPOPTSTRIP", "--strip-options", "30"]);
        self.iptables(v6, &rule)
    }
}
