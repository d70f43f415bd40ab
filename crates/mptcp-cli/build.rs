//! Builds the `mptcp run` preload library and hands it to the binary, which
//! carries it inside (so `cargo install` gives one file that works).
//!
//! Cargo has no stable way to depend on another package's `cdylib`, so this
//! script compiles the preload's source (`preload/`, the files of the
//! `mptcp-preload` package, inside this package so that it is published
//! with it) with `$RUSTC` directly: the source needs nothing but `std`.
//! Cross builds get `--target`, the linker cargo resolved and the target's
//! `RUSTFLAGS`.
//!
//! Outputs, as compile-time environment of the binary:
//! - `$OUT_DIR/libmptcp_preload.so` (empty where the library cannot be
//!   built: not Linux with glibc, or MIPS/SPARC whose socket numbers it
//!   does not declare);
//! - `MPTCP_PRELOAD_HASH`: 16 hex digits naming that content;
//! - `MPTCP_PRELOAD_PROTOCOL_MARK`: the protocol marker found in it;
//! - `MPTCP_MULTIARCH`: Debian's multiarch triplet of the target, or empty.
//!
//! Packagers may set `MPTCP_PRELOAD_PATH=/usr/lib/<triplet>/mptcp/libmptcp_preload.so`
//! at build time: `mptcp run` then uses the installed file first.

use std::env;
use std::fs;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;

const SOURCES: &[&str] = &["preload/lib.rs", "preload/sys.rs", "preload/out.rs"];
const MARK_PREFIX: &[u8] = b"mptcp-preload protocol ";

fn main() {
    for s in SOURCES {
        println!("cargo:rerun-if-changed={s}");
    }
    for v in ["MPTCP_PRELOAD_PATH", "RUSTC_LINKER", "CARGO_ENCODED_RUSTFLAGS"] {
        println!("cargo:rerun-if-env-changed={v}");
    }
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let lib = out_dir.join("libmptcp_preload.so");

    check_packager_path();
    println!("cargo:rustc-env=MPTCP_MULTIARCH={}", multiarch().unwrap_or_default());

    let os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let libc = env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    // glibc only: a musl (static) build cannot make the shared library that
    // glibc programs, the ones LD_PRELOAD reaches, would load.
    if os != "linux" || libc != "gnu" || arch.starts_with("mips") || arch.starts_with("sparc") {
        println!(
            "cargo:warning=no preload library built into mptcp for {os}/{libc}/{arch}: `mptcp run` will need --preload"
        );
        fs::write(&lib, b"").expect("write empty preload");
        println!("cargo:rustc-env=MPTCP_PRELOAD_HASH=none");
        println!("cargo:rustc-env=MPTCP_PRELOAD_PROTOCOL_MARK=");
        return;
    }

    compile(&lib);
    let bytes = fs::read(&lib).expect("read the built preload library");
    let mark = protocol_mark(&bytes).unwrap_or_else(|| {
        panic!("{}: no protocol marker (MPTCP_PRELOAD_PROTOCOL) found in the built library", lib.display())
    });
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    println!("cargo:rustc-env=MPTCP_PRELOAD_HASH={:016x}", h.finish());
    println!("cargo:rustc-env=MPTCP_PRELOAD_PROTOCOL_MARK={mark}");
}

/// `rustc preload/lib.rs --crate-type cdylib -o <lib>` with the target's
/// settings.
fn compile(lib: &Path) {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let target = env::var("TARGET").expect("cargo sets TARGET");
    let host = env::var("HOST").expect("cargo sets HOST");
    let opt = match env::var("OPT_LEVEL").as_deref() {
        Ok("0") | Err(_) => "1".to_string(), // the hooks run in every program: never unoptimized
        Ok(o) => o.to_string(),
    };
    let mut cmd = Command::new(&rustc);
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    cmd.arg(manifest.join("preload/lib.rs"))
        .args(["--crate-name", "mptcp_preload", "--crate-type", "cdylib", "--edition", "2021"])
        .args(["--cap-lints", "allow", "-C", "debuginfo=0", "-C", "strip=symbols", "-C", "panic=abort"])
        .args(["-C", "codegen-units=1"])
        .arg("-C")
        .arg(format!("opt-level={opt}"))
        .arg("-o")
        .arg(lib);
    if target != host {
        cmd.args(["--target", &target]);
    }
    if let Some(linker) = env::var_os("RUSTC_LINKER").filter(|l| !l.is_empty()) {
        cmd.arg("-C").arg({
            let mut a = std::ffi::OsString::from("linker=");
            a.push(linker);
            a
        });
    }
    // The target's RUSTFLAGS (cargo passes them encoded, 0x1f-separated).
    if let Ok(flags) = env::var("CARGO_ENCODED_RUSTFLAGS") {
        cmd.args(flags.split('\x1f').filter(|f| !f.is_empty()));
    }
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {}: {e}", Path::new(&rustc).display()));
    if !out.status.success() {
        panic!(
            "building the preload library failed ({:?}):\n{}{}",
            cmd,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The NUL-terminated `mptcp-preload protocol N` text inside the library.
fn protocol_mark(bytes: &[u8]) -> Option<String> {
    let at = bytes.windows(MARK_PREFIX.len()).position(|w| w == MARK_PREFIX)?;
    let rest = bytes.get(at..)?;
    let end = rest.iter().position(|b| *b == 0)?;
    String::from_utf8(rest.get(..end)?.to_vec()).ok()
}

/// Refuses a packager path `LD_PRELOAD` cannot carry.
fn check_packager_path() {
    let Some(p) = env::var_os("MPTCP_PRELOAD_PATH").filter(|p| !p.is_empty()) else { return };
    let s = p.to_string_lossy();
    if !s.starts_with('/') || s.contains(':') || s.chars().any(char::is_whitespace) {
        panic!("MPTCP_PRELOAD_PATH={s}: must be an absolute path without ':' or white space (LD_PRELOAD cannot carry those)");
    }
}

/// Debian's multiarch triplet for the target (`/usr/lib/<triplet>/`).
fn multiarch() -> Option<&'static str> {
    let arch = env::var("CARGO_CFG_TARGET_ARCH").ok()?;
    let env_ = env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    let abi = env::var("CARGO_CFG_TARGET_ABI").unwrap_or_default();
    let little = env::var("CARGO_CFG_TARGET_ENDIAN").is_ok_and(|e| e == "little");
    if env_ != "gnu" {
        return None;
    }
    Some(match (arch.as_str(), abi.as_str()) {
        ("x86_64", "x32") => "x86_64-linux-gnux32",
        ("x86_64", _) => "x86_64-linux-gnu",
        ("x86", _) => "i386-linux-gnu",
        ("aarch64", _) => "aarch64-linux-gnu",
        ("arm", "eabihf") => "arm-linux-gnueabihf",
        ("arm", _) => "arm-linux-gnueabi",
        ("riscv64", _) => "riscv64-linux-gnu",
        ("powerpc64", _) if little => "powerpc64le-linux-gnu",
        ("powerpc64", _) => "powerpc64-linux-gnu",
        ("powerpc", _) => "powerpc-linux-gnu",
        ("s390x", _) => "s390x-linux-gnu",
        ("loongarch64", _) => "loongarch64-linux-gnu",
        _ => return None,
    })
}
