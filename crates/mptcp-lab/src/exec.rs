//! `mptcp lab exec` and `mptcp lab shell`: the lab's network for a program
//! of the user's, like mahimahi's shells but with several paths. The
//! program runs in the client namespace, the path manager set up as in the
//! `mptcp` phase (one subflow per path), with the namespaces and the
//! server's addresses in its environment ([`Session::env`]).

use std::ffi::OsString;
use std::os::fd::AsFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitStatus};

use nix::sys::signal::{killpg, SigSet, Signal};
use nix::unistd::{getpgrp, isatty, tcgetpgrp, tcsetpgrp, Pid};

use crate::error::Context;
use crate::spec::PathSpec;
use crate::summary::{path_line, PathInfo};
use crate::topo::{Topology, PREFIX_LEN};
use crate::Result;

/// The client's namespace, for the program's own `ip netns exec`.
pub const ENV_CLIENT_NS: &str = "MPTCP_LAB_CLIENT_NS";
/// The server's namespace: start a server there with `ip netns exec
/// "$MPTCP_LAB_SERVER_NS" ...`.
pub const ENV_SERVER_NS: &str = "MPTCP_LAB_SERVER_NS";
/// The server's addresses, comma-separated, path 1 first: the address on
/// path N is reached through path N.
pub const ENV_SERVER_ADDRS: &str = "MPTCP_LAB_SERVER_ADDRS";
/// The client's addresses, comma-separated, path 1 first.
pub const ENV_CLIENT_ADDRS: &str = "MPTCP_LAB_CLIENT_ADDRS";
/// The routers' namespaces, comma-separated, path 1 first.
pub const ENV_ROUTER_NS: &str = "MPTCP_LAB_ROUTER_NS";

/// A built lab network waiting for a program. Dropping it removes
/// everything.
///
/// # Examples
///
/// ```no_run
/// use mptcp_lab::exec::Session;
/// use mptcp_lab::spec::PathFlags;
///
/// let s = Session::start(&PathFlags { profile: Some("wifi-lte".into()), ..PathFlags::default() }.paths()?)?;
/// eprint!("{}", s.describe());
/// let status = s.run(&["curl".into(), "-sS".into(), "http://10.200.0.2:8000/".into()])?;
/// std::process::exit(mptcp_lab::exec::exit_code(status).into());
/// # Ok::<(), mptcp_lab::Error>(())
/// ```
#[derive(Debug)]
pub struct Session {
    topo: Topology,
}

impl Session {
    /// Checks the machine (namespaces, MPTCP, the link emulator), removes
    /// what killed runs left behind, and builds the network.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Missing`] for what the machine lacks; the step that
    /// failed while building.
    pub fn start(paths: &[PathSpec]) -> Result<Session> {
        let req = mptcp_netns::Requirements { tbf: false, ..mptcp_netns::Requirements::default() };
        if let Err(missing) = mptcp_netns::preflight(&req) {
            let mut message =
                "`mptcp lab` needs root, network namespaces, veth pairs and MPTCP; this machine lacks:".to_string();
            for m in &missing {
                message.push_str("\n  - ");
                message.push_str(&m.to_string().lines().map(str::trim).collect::<Vec<_>>().join("; "));
            }
            let privileges = missing.iter().any(|m| matches!(m, mptcp_netns::Missing::Privileges { .. }));
            return Err(crate::Error::Missing { message, privileges });
        }
        crate::emulator_preflight()?;
        mptcp_netns::sweep_stale();
        Ok(Session { topo: Topology::build(paths)? })
    }

    /// The network.
    pub fn topology(&self) -> &Topology {
        &self.topo
    }

    /// The variables the program finds in its environment.
    ///
    /// | variable | value |
    /// |---|---|
    /// | `MPTCP_LAB_CLIENT_NS` | the client's namespace (where the program runs) |
    /// | `MPTCP_LAB_SERVER_NS` | the server's namespace |
    /// | `MPTCP_LAB_SERVER_ADDRS` | the server's addresses, path 1 first |
    /// | `MPTCP_LAB_CLIENT_ADDRS` | the client's addresses, path 1 first |
    /// | `MPTCP_LAB_ROUTER_NS` | the routers' namespaces, path 1 first |
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let join = |v: Vec<String>| v.join(",");
        let t = &self.topo;
        vec![
            (ENV_CLIENT_NS, t.client.name().to_string()),
            (ENV_SERVER_NS, t.server.name().to_string()),
            (ENV_SERVER_ADDRS, join(t.paths.iter().map(|p| p.server_addr().to_string()).collect())),
            (ENV_CLIENT_ADDRS, join(t.paths.iter().map(|p| p.client_addr().to_string()).collect())),
            (ENV_ROUTER_NS, join(t.paths.iter().map(|p| p.router.name().to_string()).collect())),
        ]
    }

    /// What was built, for people (stderr before the program starts): the
    /// paths, what is emulated, the client's routes and rules, the path
    /// manager and the environment.
    pub fn describe(&self) -> String {
        let t = &self.topo;
        let mut s = format!("mptcp lab: namespaces {}\n", t.namespaces().join(", "));
        for p in PathInfo::of(t) {
            s.push_str(&path_line(&p));
            s.push('\n');
        }
        let routes: Vec<String> =
            t.paths.iter().flat_map(|p| p.client_routes(t.routing.source_rules)).map(|r| r.to_string()).collect();
        s.push_str(&format!("  client routes: {}\n", routes.join("; ")));
        if t.routing.source_rules {
            let rules: Vec<String> = t.paths.iter().map(|p| p.client_rule().to_string()).collect();
            s.push_str(&format!("  client rules: {}\n", rules.join("; ")));
        }
        let eps: Vec<String> = t
            .client_endpoints()
            .iter()
            .map(|(a, dev, f)| {
                let dev = dev.as_ref().map(|d| format!(" dev {d}")).unwrap_or_default();
                format!("{a}{dev} {}", f.names().join(" "))
            })
            .collect();
        s.push_str(&format!(
            "  path manager: client endpoints {}, limits subflows {}: one subflow per path (server addresses are \
             /{PREFIX_LEN}s behind each router)\n",
            eps.join("; "),
            t.paths.len().saturating_sub(1)
        ));
        for (k, v) in self.env() {
            s.push_str(&format!("  {k}={v}\n"));
        }
        s
    }

    /// A command that runs `program` in the client namespace with
    /// [`env`](Self::env) set.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.arg("netns").arg("exec").arg(self.topo.client.name()).arg(program);
        c.envs(self.env());
        c
    }

    /// Runs `argv` in the client namespace and waits for it. On a terminal
    /// the program gets the terminal's foreground (so Ctrl-C reaches it,
    /// not this process, as a shell's job control does) and this process
    /// takes it back when the program ends.
    ///
    /// # Errors
    ///
    /// When the program cannot be started.
    pub fn run(&self, argv: &[OsString]) -> Result<ExitStatus> {
        let Some((program, args)) = argv.split_first() else {
            return Err(crate::Error::Usage("no command given (mptcp lab exec -- COMMAND [ARGS])".into()));
        };
        let mut cmd = self.command(program);
        cmd.args(args);
        let stdin = std::io::stdin();
        let foreground = isatty(stdin.as_fd()).unwrap_or(false) && tcgetpgrp(stdin.as_fd()).ok() == Some(getpgrp());
        if foreground {
            cmd.process_group(0);
        }
        let mut child = cmd.spawn().with_context(|| format!("starting {}", program.to_string_lossy()))?;
        if foreground {
            let pgid = Pid::from_raw(child.id() as i32);
            hand_terminal(stdin.as_fd(), pgid);
            // It may have read the terminal before it was its own, and stopped.
            let _ = killpg(pgid, Signal::SIGCONT);
        }
        let status = child.wait().context("waiting for the command")?;
        if foreground {
            hand_terminal(stdin.as_fd(), getpgrp());
        }
        Ok(status)
    }
}

/// Makes `pgid` the terminal's foreground process group, with SIGTTOU
/// blocked (a background process may then do it, POSIX says).
fn hand_terminal(tty: std::os::fd::BorrowedFd<'_>, pgid: Pid) {
    let mut ttou = SigSet::empty();
    ttou.add(Signal::SIGTTOU);
    let old = ttou.thread_swap_mask(nix::sys::signal::SigmaskHow::SIG_BLOCK).ok();
    let _ = tcsetpgrp(tty, pgid);
    if let Some(old) = old {
        let _ = old.thread_set_mask();
    }
}

/// The exit code a shell gives a process that ended with `status`: its
/// code, or 128 + the signal that killed it.
///
/// # Examples
///
/// ```
/// use std::os::unix::process::ExitStatusExt;
/// use std::process::ExitStatus;
/// assert_eq!(mptcp_lab::exec::exit_code(ExitStatus::from_raw(3 << 8)), 3);
/// assert_eq!(mptcp_lab::exec::exit_code(ExitStatus::from_raw(15)), 143);
/// ```
pub fn exit_code(status: ExitStatus) -> u8 {
    match (status.code(), status.signal()) {
        (Some(c), _) => c.clamp(0, 255) as u8,
        (None, Some(sig)) => (128 + sig).clamp(0, 255) as u8,
        _ => 1,
    }
}
