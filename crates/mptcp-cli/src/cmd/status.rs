//! `mptcp status`: what this host can do.

use std::io::Write;
use std::process::ExitCode;

use serde::Serialize;

/// Arguments of `mptcp status`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print one JSON object.
    #[arg(short = 'j', long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Report {
    available: bool,
    availability: String,
    support: &'static mptcp::HostSupport,
    mechanisms: Vec<String>,
    status_mechanism: Option<String>,
    subflow_info: Option<&'static str>,
    path_manager: Option<String>,
    scheduler: Option<String>,
    sysctls: serde_json::Map<String, serde_json::Value>,
    limits: Option<Limits>,
    endpoints: Option<usize>,
    /// What this kernel lacks, one sentence each (empty: nothing).
    missing: Vec<String>,
}

#[derive(Serialize)]
struct Limits {
    subflows: u32,
    add_addr_accepted: u32,
}

/// Runs `mptcp status`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let support = mptcp::host_support();
    let sysctls = mptcp::sysctls();
    let get = |k: &str| sysctls.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let path_manager = get("path_manager")
        .or_else(|| get("pm_type").map(|t| if t == "1" { "userspace".to_string() } else { "kernel".to_string() }));
    let (pm_family, limits, endpoints) = read_limits_and_endpoints();
    let report = Report {
        available: support.is_available(),
        availability: support.availability.to_string(),
        support,
        mechanisms: support.mechanisms().iter().map(|m| m.to_string()).collect(),
        status_mechanism: support.best_mechanism().map(|m| m.to_string()),
        subflow_info: support.subflow_source(),
        path_manager,
        scheduler: get("scheduler"),
        sysctls: sysctls.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect(),
        limits: limits.map(|(subflows, add_addr_accepted)| Limits { subflows, add_addr_accepted }),
        endpoints,
        missing: missing(support, pm_family),
    };
    if args.json {
        crate::util::print_json(&report)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = crate::util::stdout();
    let yn = |b: bool| if b { "yes" } else { "no" };
    writeln!(out, "MPTCP:              {}", report.availability)?;
    writeln!(
        out,
        "status check:       {}",
        report.status_mechanism.as_deref().unwrap_or("none (cannot confirm MPTCP here)")
    )?;
    writeln!(out, "  TCP_IS_MPTCP:     {} (6.10+)", yn(support.tcp_is_mptcp))?;
    writeln!(
        out,
        "  MPTCP_INFO:       {}{}",
        yn(support.mptcp_info),
        support.mptcp_info_len.map(|l| format!(" ({l}-byte struct mptcp_info)")).unwrap_or_default()
    )?;
    writeln!(out, "  inet_diag:        {}", yn(support.inet_diag))?;
    writeln!(out, "subflow info:       {}", report.subflow_info.unwrap_or("none"))?;
    writeln!(out, "  MPTCP_FULL_INFO:  {} (6.5+)", yn(support.mptcp_full_info))?;
    writeln!(out, "  MPTCP_TCPINFO:    {}", yn(support.mptcp_tcpinfo))?;
    match (&report.path_manager, pm_family) {
        (_, false) => writeln!(out, "path manager:       none: {}", crate::cmd::endpoint::no_path_manager()),
        (Some(pm), true) => writeln!(out, "path manager:       {pm}"),
        (None, true) => writeln!(out, "path manager:       unknown"),
    }?;
    if let Some(s) = &report.scheduler {
        writeln!(out, "scheduler:          {s}")?;
    }
    if let Some(l) = &report.limits {
        writeln!(out, "limits:             subflows {} add_addr_accepted {}", l.subflows, l.add_addr_accepted)?;
    }
    if let Some(n) = report.endpoints {
        writeln!(out, "endpoints:          {n}")?;
    }
    if !sysctls.is_empty() {
        writeln!(out, "sysctls:")?;
        for (k, v) in &sysctls {
            writeln!(out, "  net.mptcp.{k} = {v}")?;
        }
    }
    for m in &report.missing {
        writeln!(out, "note: {m}")?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// What this kernel lacks, found by probing it (never from its version),
/// one sentence each with what is used instead. Shared with `mptcp check`.
pub fn missing(support: &mptcp::HostSupport, pm_family: bool) -> Vec<String> {
    let mut v = Vec::new();
    if !support.is_available() {
        v.push(format!("MPTCP: {}", support.availability));
    } else {
        if !support.tcp_is_mptcp && support.mptcp_info {
            v.push("TCP_IS_MPTCP is not available on this kernel; status checks use MPTCP_INFO".into());
        }
        if !support.mptcp_full_info && support.mptcp_tcpinfo && support.mptcp_subflow_addrs {
            v.push(
                "MPTCP_FULL_INFO is not available on this kernel; using MPTCP_TCPINFO and MPTCP_SUBFLOW_ADDRS \
                 (no subflow ids)"
                    .into(),
            );
        }
        if !support.mptcp_info {
            v.push("SOL_MPTCP options (MPTCP_INFO) are not available on this kernel; no connection details".into());
        }
        if !support.inet_diag {
            v.push(
                "inet_diag does not list MPTCP sockets (mptcp_diag missing): `mptcp conns` cannot work and status \
                 checks cannot use inet_diag"
                    .into(),
            );
        }
    }
    if !pm_family {
        v.push(crate::cmd::endpoint::no_path_manager());
    }
    v
}

/// Whether the path manager (generic netlink `mptcp_pm`) exists, and its
/// limits and endpoint count when readable: reading needs no privilege, but
/// the family is missing where MPTCP is not built in.
fn read_limits_and_endpoints() -> (bool, Option<(u32, u32)>, Option<usize>) {
    let mut pm = match mptcp::pm::PathManager::new() {
        Ok(pm) => pm,
        Err(mptcp::pm::Error::FamilyNotFound { .. }) => return (false, None, None),
        Err(_) => return (true, None, None),
    };
    let limits = pm.limits().ok().map(|l| (l.subflows, l.add_addr_accepted));
    let endpoints = pm.endpoints().ok().map(|e| e.len());
    (true, limits, endpoints)
}
