//! Sets `cfg(mptcp_linux)` on Linux targets: the kernel-facing code.
//!
//! `MPTCP_PORTABLE_CHECK=1 cargo check -p multipath-tcp` leaves it unset on Linux
//! too, so the code paths of other operating systems (plain TCP, status
//! `Tcp`) are compiled and checked here, where no other target's std exists.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(mptcp_linux)");
    println!("cargo::rerun-if-env-changed=MPTCP_PORTABLE_CHECK");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux");
    if linux && std::env::var_os("MPTCP_PORTABLE_CHECK").is_none() {
        println!("cargo::rustc-cfg=mptcp_linux");
    }
}
