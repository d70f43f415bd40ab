//! [`Netns`]: one named network namespace, deleted on drop.

use std::fs::File;
use std::process::{Command, Output};
use std::sync::atomic::Ordering;
use std::sync::Mutex;

use crate::cleanup::{self, COUNTER, PREFIX};
use crate::middlebox::Strip;
use crate::{cmd, cmd_status, is_root, parse_netstat, Error, Result};

/// A network namespace, deleted on drop together with every process still
/// running inside it.
#[derive(Debug)]
pub struct Netns {
    name: String,
    /// Strip rules added with the xtables fallback (`(v6, which)`), which
    /// [`Netns::unstrip_mptcp`] removes with the same program.
    pub(crate) xtables: Mutex<Vec<(bool, Strip)>>,
}

impl Netns {
    /// Creates `mptcp-<pid>-<n>-<role>` with loopback up.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let ns = mptcp_netns::Netns::new("client")?;
    /// assert!(ns.name().starts_with("mptcp-"));
    /// # Ok::<(), mptcp_netns::Error>(())
    /// ```
    pub fn new(role: &str) -> Result<Netns> {
        if !is_root() {
            return Err(Error::NotRoot);
        }
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let role: String = role.chars().filter(|c| c.is_ascii_alphanumeric()).take(8).collect();
        let name = format!("{PREFIX}{}-{n}-{role}", std::process::id());
        // Register before creating, so a signal arriving in between still cleans up.
        cleanup::register(&name);
        let ns = Netns { name, xtables: Mutex::new(Vec::new()) };
        cmd(&["ip", "netns", "add", &ns.name])?;
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// The namespace's name, as `ip netns` shows it.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let ns = mptcp_netns::Netns::new("server")?;
    /// println!("ip netns exec {} ss -tM", ns.name());
    /// # Ok::<(), mptcp_netns::Error>(())
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Builds a command that runs inside this namespace (`ip netns exec`).
    /// Whatever it starts is killed when the namespace is dropped.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let ns = mptcp_netns::Netns::new("server")?;
    /// let child = ns.command("iperf3").args(["-s", "-1"]).spawn();
    /// # Ok::<(), mptcp_netns::Error>(())
    /// ```
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    /// Runs a command inside this namespace; fails when it exits non-zero.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let ns = mptcp_netns::Netns::new("client")?;
    /// let out = ns.run(&["ip", "addr"])?;
    /// # Ok::<(), mptcp_netns::Error>(())
    /// ```
    pub fn run(&self, args: &[&str]) -> Result<Output> {
        let mut v = vec!["ip", "netns", "exec", &self.name];
        v.extend_from_slice(args);
        cmd(&v)
    }

    /// Runs a command inside this namespace whatever its exit status.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let ns = mptcp_netns::Netns::new("client")?;
    /// let reachable = ns.run_status(&["ping", "-c1", "10.0.1.2"])?.status.success();
    /// # Ok::<(), mptcp_netns::Error>(())
    /// ```
    pub fn run_status(&self, args: &[&str]) -> Result<Output> {
        let mut v = vec!["ip", "netns", "exec", &self.name];
        v.extend_from_slice(args);
        cmd_status(&v)
    }

    /// Runs `ip -n <ns> ARGS...`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let ns = mptcp_netns::Netns::new("client")?;
    /// ns.ip(&["mptcp", "limits", "set", "subflows", "2"])?;
    /// # Ok::<(), mptcp_netns::Error>(())
    /// ```
    pub fn ip(&self, args: &[&str]) -> Result<Output> {
        let mut v = vec!["ip", "-n", &self.name];
        v.extend_from_slice(args);
        cmd(&v)
    }

    /// Sets a sysctl inside this namespace, e.g. `("net.mptcp.enabled", "0")`,
    /// by writing `/proc/sys` from a thread inside it (no `sysctl` program).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let ns = mptcp_netns::Netns::new("client")?;
    /// ns.sysctl("net.mptcp.enabled", "0")?;
    /// assert_eq!(ns.sysctl_get("net.mptcp.enabled")?, "0");
    /// # Ok::<(), mptcp_netns::Error>(())
    /// ```
    pub fn sysctl(&self, key: &str, value: &str) -> Result<()> {
        let path = sysctl_path(key);
        self.in_ns(|| std::fs::write(&path, value))?.map_err(|source| self.sysctl_error(key, source))
    }

    /// Reads a sysctl inside this namespace.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let ns = mptcp_netns::Netns::new("client")?;
    /// let pm = ns.sysctl_get("net.mptcp.path_manager")?;
    /// # Ok::<(), mptcp_netns::Error>(())
    /// ```
    pub fn sysctl_get(&self, key: &str) -> Result<String> {
        let path = sysctl_path(key);
        self.in_ns(|| std::fs::read_to_string(&path))?
            .map(|s| s.trim().to_string())
            .map_err(|source| self.sysctl_error(key, source))
    }

    fn sysctl_error(&self, key: &str, source: std::io::Error) -> Error {
        Error::Sysctl { key: key.to_string(), ns: self.name.clone(), source }
    }

    /// Reads an `MPTcpExt` (or `TcpExt`) counter from `/proc/net/netstat`
    /// as seen inside this namespace.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let ns = mptcp_netns::Netns::new("server")?;
    /// let fallbacks = ns.counter("MPCapableFallbackACK")?;
    /// # Ok::<(), mptcp_netns::Error>(())
    /// ```
    pub fn counter(&self, name: &str) -> Result<u64> {
        // /proc/net follows the process, /proc/thread-self/net this thread.
        let text = self
            .in_ns(|| std::fs::read_to_string("/proc/thread-self/net/netstat"))?
            .map_err(|source| Error::Enter { name: self.name.clone(), source })?;
        Ok(parse_netstat(&text, name).unwrap_or(0))
    }

    /// Runs `f` on a thread that has entered this namespace, and returns its
    /// result. Sockets created inside `f` belong to this namespace for their
    /// whole life, wherever they are used afterwards.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let ns = mptcp_netns::Netns::new("server")?;
    /// let listener = ns.in_ns(|| std::net::TcpListener::bind("127.0.0.1:0"))?;
    /// # Ok::<(), mptcp_netns::Error>(())
    /// ```
    pub fn in_ns<F, R>(&self, f: F) -> Result<R>
    where
        F: FnOnce() -> R + Send,
        R: Send,
    {
        let file = self.open()?;
        std::thread::scope(|s| {
            s.spawn(move || {
                nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
                    .map_err(|e| Error::Enter { name: self.name.clone(), source: e.into() })?;
                Ok(f())
            })
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    }

    /// Runs `f` on a new thread inside this namespace, in the background.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let ns = mptcp_netns::Netns::new("server")?;
    /// let server = ns.spawn(|| {
    ///     let l = std::net::TcpListener::bind("0.0.0.0:5201").unwrap();
    ///     let _ = l.accept();
    /// })?;
    /// # Ok::<(), mptcp_netns::Error>(())
    /// ```
    pub fn spawn<F, R>(&self, f: F) -> Result<std::thread::JoinHandle<R>>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let file = self.open()?;
        let name = self.name.clone();
        Ok(std::thread::spawn(move || {
            if let Err(e) = nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET) {
                panic!("cannot enter network namespace {name}: {e}");
            }
            f()
        }))
    }

    fn open(&self) -> Result<File> {
        File::open(cleanup::ns_path(&self.name)).map_err(|source| Error::Enter { name: self.name.clone(), source })
    }

    /// Adds an iptables (or ip6tables, when `v6`) rule in this namespace.
    /// It goes away with the namespace. Needs the `iptables` program.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let ns = mptcp_netns::Netns::new("server")?;
    /// ns.iptables(false, &["-A", "INPUT", "-p", "tcp", "--dport", "9", "-j", "DROP"])?;
    /// # Ok::<(), mptcp_netns::Error>(())
    /// ```
    pub fn iptables(&self, v6: bool, args: &[&str]) -> Result<()> {
        let mut v = vec![if v6 { "ip6tables" } else { "iptables" }, "-w"];
        v.extend_from_slice(args);
        self.run(&v).map(|_| ())
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Ends whatever still runs inside (SIGTERM, then SIGKILL), then deletes.
        cleanup::remove_namespace(&self.name);
        cleanup::unregister(&self.name);
    }
}

/// `net.mptcp.enabled` -> `/proc/sys/net/mptcp/enabled`.
fn sysctl_path(key: &str) -> String {
    format!("/proc/sys/{}", key.replace('.', "/"))
}
