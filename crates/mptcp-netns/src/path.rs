//! [`Path`]: a veth pair between two namespaces, shaped with `tbf`.

use std::sync::atomic::Ordering;

use crate::cleanup::COUNTER;
use crate::{cmd, Netns, Result};

/// One path: a veth pair between two namespaces, with an address on each end.
#[derive(Debug, Clone)]
pub struct Path {
    /// Namespace of end A.
    pub a_ns: String,
    /// Interface name of end A.
    pub a_dev: String,
    /// Address of end A, without prefix length.
    pub a_addr: String,
    /// Namespace of end B.
    pub b_ns: String,
    /// Interface name of end B.
    pub b_dev: String,
    /// Address of end B, without prefix length.
    pub b_addr: String,
}

impl Path {
    /// Creates a veth pair with one end in `a` (address `a_cidr`, e.g.
    /// `10.0.1.1/24` or `fd00:1::1/64`) and one in `b`, both up.
    /// Interface names are `p<n>` for the n-th path of a namespace.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use mptcp_netns::{Netns, Path};
    /// let (a, b) = (Netns::new("client")?, Netns::new("server")?);
    /// let p = Path::new(&a, "10.0.1.1/24", &b, "10.0.1.2/24")?;
    /// assert_eq!(p.b_addr, "10.0.1.2");
    /// # Ok::<(), mptcp_netns::Error>(())
    /// ```
    pub fn new(a: &Netns, a_cidr: &str, b: &Netns, b_cidr: &str) -> Result<Path> {
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
        for (ns, dev, cidr) in [(a, &a_dev, a_cidr), (b, &b_dev, b_cidr)] {
            let v6 = cidr.contains(':');
            let mut args = vec!["addr", "add", cidr, "dev", dev.as_str()];
            if v6 {
                args.push("nodad");
            }
            ns.ip(&args)?;
            ns.ip(&["link", "set", dev, "up"])?;
        }
        let strip = |c: &str| c.split('/').next().unwrap_or(c).to_string();
        Ok(Path {
            a_ns: a.name().to_string(),
            a_dev,
            a_addr: strip(a_cidr),
            b_ns: b.name().to_string(),
            b_dev,
            b_addr: strip(b_cidr),
        })
    }

    /// Shapes both directions with `tbf` to `rate` (e.g. `50mbit`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use mptcp_netns::{Netns, Path};
    /// let (a, b) = (Netns::new("client")?, Netns::new("server")?);
    /// let p = Path::new(&a, "10.0.1.1/24", &b, "10.0.1.2/24")?;
    /// p.shape("50mbit")?;
    /// # Ok::<(), mptcp_netns::Error>(())
    /// ```
    pub fn shape(&self, rate: &str) -> Result<()> {
        for (ns, dev) in [(&self.a_ns, &self.a_dev), (&self.b_ns, &self.b_dev)] {
            cmd(&[
                "tc", "-n", ns, "qdisc", "replace", "dev", dev, "root", "tbf", "rate", rate, "burst", "32kb",
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
    /// use mptcp_netns::{Netns, Path};
    /// let (a, b) = (Netns::new("client")?, Netns::new("server")?);
    /// let p = Path::new(&a, "10.0.1.1/24", &b, "10.0.1.2/24")?;
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
    /// use mptcp_netns::{Netns, Path};
    /// let (a, b) = (Netns::new("client")?, Netns::new("server")?);
    /// let p = Path::new(&a, "10.0.1.1/24", &b, "10.0.1.2/24")?;
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
