//! [`Path`]: a veth pair between two namespaces, shaped with `tbf`.

use std::net::IpAddr;
use std::sync::atomic::Ordering;

use crate::cleanup::COUNTER;
use crate::{cmd, Error, Netns, Result};

/// One path: a veth pair between two namespaces, with an address on each end.
#[derive(Debug, Clone)]
pub struct Path {
    /// Namespace of end A.
    pub a_ns: String,
    /// Interface name of end A.
    pub a_dev: String,
    /// Address of end A.
    pub a_addr: IpAddr,
    /// Namespace of end B.
    pub b_ns: String,
    /// Interface name of end B.
    pub b_dev: String,
    /// Address of end B.
    pub b_addr: IpAddr,
    /// Prefix length of the subnet both addresses are in (e.g. 24).
    pub prefix_len: u8,
}

impl Path {
    /// Creates a veth pair with one end in `a` (address `a_addr`) and one
    /// in `b` (address `b_addr`), both in a subnet of `prefix_len` bits,
    /// both up. Interface names are `p<n>` for the n-th path of a
    /// namespace.
    ///
    /// # Errors
    ///
    /// [`Error::Address`] when the two addresses are of different families
    /// or `prefix_len` is too long for them (nothing is created then); the
    /// `ip` command's error when it fails.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::net::Ipv4Addr;
    /// use mptcp_netns::{Netns, Path};
    ///
    /// let (a, b) = (Netns::new("client")?, Netns::new("server")?);
    /// let p = Path::new(&a, Ipv4Addr::new(10, 0, 1, 1).into(), &b, Ipv4Addr::new(10, 0, 1, 2).into(), 24)?;
    /// assert_eq!(p.b_addr.to_string(), "10.0.1.2");
    /// # Ok::<(), mptcp_netns::Error>(())
    /// ```
    pub fn new(a: &Netns, a_addr: IpAddr, b: &Netns, b_addr: IpAddr, prefix_len: u8) -> Result<Path> {
        let max = if a_addr.is_ipv4() { 32 } else { 128 };
        if a_addr.is_ipv4() != b_addr.is_ipv4() {
            return Err(Error::Address(format!("{a_addr} and {b_addr}: one path needs two addresses of one family")));
        }
        if prefix_len > max {
            return Err(Error::Address(format!("prefix length {prefix_len}: at most {max} for {a_addr}")));
        }
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let tmp_a = format!("mv{}a{n}", std::process::id() % 100000);
        let tmp_b = format!("mv{}b{n}", std::process::id() % 100000);
        let a_dev = next_dev(a)?;
        let b_dev = next_dev(b)?;
        cmd(&[
            "ip",
            "link",
            "add",
            &tmp_a,
            "netns",
            a.name(),
            "type",
            "veth",
            "peer",
            "name",
            &tmp_b,
            "netns",
            b.name(),
        ])?;
        a.ip(&["link", "set", &tmp_a, "name", &a_dev])?;
        b.ip(&["link", "set", &tmp_b, "name", &b_dev])?;
        for (ns, dev, addr) in [(a, &a_dev, a_addr), (b, &b_dev, b_addr)] {
            let cidr = format!("{addr}/{prefix_len}");
            let mut args = vec!["addr", "add", cidr.as_str(), "dev", dev.as_str()];
            if addr.is_ipv6() {
                args.push("nodad");
            }
            ns.ip(&args)?;
            ns.ip(&["link", "set", dev, "up"])?;
        }
        Ok(Path { a_ns: a.name().to_string(), a_dev, a_addr, b_ns: b.name().to_string(), b_dev, b_addr, prefix_len })
    }

    /// Shapes both directions with `tbf` to `rate_bps` bits per second
    /// (a 32 KB burst, 50 ms of queue).
    ///
    /// # Errors
    ///
    /// [`Error::Rate`] for a rate of 0 (nothing is changed then); `tc`'s
    /// error when it fails (e.g. no tbf in this kernel).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::net::Ipv4Addr;
    /// use mptcp_netns::{Netns, Path};
    ///
    /// let (a, b) = (Netns::new("client")?, Netns::new("server")?);
    /// let p = Path::new(&a, Ipv4Addr::new(10, 0, 1, 1).into(), &b, Ipv4Addr::new(10, 0, 1, 2).into(), 24)?;
    /// p.shape(50_000_000)?; // 50 Mbit/s
    /// # Ok::<(), mptcp_netns::Error>(())
    /// ```
    pub fn shape(&self, rate_bps: u64) -> Result<()> {
        if rate_bps == 0 {
            return Err(Error::Rate(rate_bps));
        }
        let rate = format!("{rate_bps}bit");
        for (ns, dev) in [(&self.a_ns, &self.a_dev), (&self.b_ns, &self.b_dev)] {
            cmd(&[
                "tc", "-n", ns, "qdisc", "replace", "dev", dev, "root", "tbf", "rate", &rate, "burst", "32kb",
                "latency", "50ms",
            ])?;
        }
        Ok(())
    }

    /// Takes the path down (both ends), as a failing link would.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::net::Ipv4Addr;
    /// use mptcp_netns::{Netns, Path};
    ///
    /// let (a, b) = (Netns::new("client")?, Netns::new("server")?);
    /// let p = Path::new(&a, Ipv4Addr::new(10, 0, 1, 1).into(), &b, Ipv4Addr::new(10, 0, 1, 2).into(), 24)?;
    /// p.down()?;
    /// # Ok::<(), mptcp_netns::Error>(())
    /// ```
    pub fn down(&self) -> Result<()> {
        cmd(&["ip", "-n", &self.a_ns, "link", "set", &self.a_dev, "down"])?;
        cmd(&["ip", "-n", &self.b_ns, "link", "set", &self.b_dev, "down"]).map(|_| ())
    }

    /// Brings the path back up.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::net::Ipv4Addr;
    /// use mptcp_netns::{Netns, Path};
    ///
    /// let (a, b) = (Netns::new("client")?, Netns::new("server")?);
    /// let p = Path::new(&a, Ipv4Addr::new(10, 0, 1, 1).into(), &b, Ipv4Addr::new(10, 0, 1, 2).into(), 24)?;
    /// p.up()?;
    /// # Ok::<(), mptcp_netns::Error>(())
    /// ```
    pub fn up(&self) -> Result<()> {
        cmd(&["ip", "-n", &self.a_ns, "link", "set", &self.a_dev, "up"])?;
        cmd(&["ip", "-n", &self.b_ns, "link", "set", &self.b_dev, "up"]).map(|_| ())
    }
}

fn next_dev(ns: &Netns) -> Result<String> {
    let out = ns.ip(&["-o", "link", "show"])?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut i = 0;
    while text.contains(&format!(": p{i}:")) || text.contains(&format!(": p{i}@")) {
        i += 1;
    }
    Ok(format!("p{i}"))
}
