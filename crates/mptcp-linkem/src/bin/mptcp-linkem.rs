//! `mptcp-linkem`: runs the emulator in an existing router namespace until
//! SIGINT/SIGTERM/SIGHUP, then prints its counters as JSON.
//!
//! ```text
//! mptcp-linkem --netns NAME|PATH --lan IF --wan IF --up SPEC --down SPEC [--gso auto|keep|segment] [--kernel-queue N]
//! ```
//!
//! NAME is looked up in /run/netns (as `ip netns` names them); SPEC is a
//! link spec such as `rate=50mbit delay=20ms loss=ge:1%,4` (see the
//! library's `parse` module). Once the rules are in place it prints
//! `ready up-queue=N down-queue=M table=T` and waits.

use std::io::Write;
use std::process::ExitCode;

use mptcp_linkem::{Emulator, EmulatorConfig, Gso, LinkConfig};
use nix::sys::signal::{SigSet, Signal};

const USAGE: &str =
    "usage: mptcp-linkem --netns NAME|PATH --lan IF --wan IF --up SPEC --down SPEC [--gso auto|keep|segment] [--kernel-queue N]";

fn parse_gso(s: &str) -> Result<Gso, String> {
    match s {
        "auto" => Ok(Gso::Auto),
        "keep" => Ok(Gso::Keep),
        "segment" => Ok(Gso::Segment),
        _ => Err(format!("--gso takes auto, keep or segment, not `{s}`")),
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let (mut netns, mut lan, mut wan) = (None, None, None);
    let (mut up, mut down) = (LinkConfig::default(), LinkConfig::default());
    let (mut gso, mut kernel_queue) = (Gso::Auto, None);
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{arg} needs a value\n{USAGE}"));
        match arg.as_str() {
            "--netns" => netns = Some(value()?),
            "--lan" => lan = Some(value()?),
            "--wan" => wan = Some(value()?),
            "--up" => up = value()?.parse()?,
            "--down" => down = value()?.parse()?,
            "--gso" => gso = parse_gso(&value()?)?,
            "--kernel-queue" => {
                kernel_queue = Some(value()?.parse::<u32>().map_err(|e| format!("--kernel-queue: {e}"))?)
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("unknown argument `{other}`\n{USAGE}").into()),
        }
    }
    let (Some(netns), Some(lan), Some(wan)) = (netns, lan, wan) else {
        return Err(format!("--netns, --lan and --wan are required\n{USAGE}").into());
    };
    let path = if netns.contains('/') { netns } else { format!("/run/netns/{netns}") };
    // Block the signals before any thread starts, so that this thread
    // alone takes them (with sigwait), and the emulator is dropped cleanly.
    let mut signals = SigSet::empty();
    for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        signals.add(s);
    }
    signals.thread_block()?;
    let mut cfg = EmulatorConfig::new(&lan, &wan, up, down);
    cfg.gso = gso;
    if let Some(q) = kernel_queue {
        cfg.kernel_queue = q;
    }
    let emu = Emulator::start(&path, cfg)?;
    let (uq, dq) = emu.queues();
    let mut out = std::io::stdout();
    writeln!(out, "ready up-queue={uq} down-queue={dq} table={}", emu.table())?;
    out.flush()?;
    signals.wait()?;
    let stats = emu.stats();
    drop(emu);
    writeln!(out, "{}", stats.to_json())?;
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mptcp-linkem: error: {e}");
            ExitCode::from(2)
        }
    }
}
