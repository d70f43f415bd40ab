//! MPTCP for any program, in the kernel: a BPF program on the kernel's
//! `update_socket_protocol` hook (Linux >= 6.6) that turns
//! `socket(AF_INET | AF_INET6, SOCK_STREAM, 0 | IPPROTO_TCP)` into
//! `socket(..., IPPROTO_MPTCP)` for the processes in a [`Scope`] only: the
//! descendants of one process, or the members of one cgroup v2. Statically
//! linked programs, Go programs making system calls directly and programs
//! that clear their environment are reached too, which `LD_PRELOAD` cannot.
//!
//! The program is assembled here at run time from instructions ([`insn`]);
//! no clang, LLVM or object file is involved. The hook's BTF id and the
//! `task_struct` field offsets come from the running kernel's BTF
//! ([`Kernel::probe`], read by [`btf`]).
//!
//! The hook is an `fmod_ret` program: the kernel's function runs only when
//! every such program returns 0, and `update_socket_protocol` returns the
//! protocol, so the program returns 0 to leave a socket alone and
//! `IPPROTO_MPTCP` (262) to convert it. Every conversion adds one to a
//! counter map ([`Hook::converted`]).
//!
//! A [`Hook`] lives as long as its descriptors: dropping it (or the death
//! of the process holding it, even by SIGKILL) detaches it. [`Hook::pin`]
//! keeps it in a BPF file system instead, for services ([`Pinned`]).
//!
//! Never attach a hook where `socket(..., IPPROTO_MPTCP)` fails (MPTCP not
//! built, or `net.mptcp.enabled=0` in the program's network namespace): the
//! converted `socket()` calls would fail. The caller checks this (the
//! `multipath-tcp` crate's `host_support`) before attaching.
//!
//! # Examples
//!
//! ```no_run
//! use mptcp_bpf::{Hook, Kernel, Scope};
//!
//! let kernel = Kernel::probe()?;
//! // This process's descendants get MPTCP sockets while `hook` lives.
//! let hook = Hook::attach(&kernel, Scope::Descendants { tgid: std::process::id() }, "mptcprun")?;
//! let status = std::process::Command::new("curl").arg("http://example.com/").status()?;
//! println!("{} socket(s) converted, curl: {status}", hook.converted()?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fs;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

pub mod btf;
pub mod insn;
mod kernel;
mod sys;

pub use kernel::{Kernel, HOOK, VMLINUX_BTF};

use insn::{Asm, Cond, Reg, Size};

/// `IPPROTO_MPTCP`.
pub const IPPROTO_MPTCP: i32 = 262;

/// How many ancestors [`Scope::Descendants`] looks at: a process deeper
/// than this below the scope's root is out of scope.
pub const MAX_DEPTH: usize = 32;

/// `BPF_PROG_TYPE_TRACING`.
const PROG_TYPE_TRACING: u32 = 26;
/// `BPF_MODIFY_RETURN`.
const ATTACH_MODIFY_RETURN: u32 = 26;
/// `BPF_MAP_TYPE_ARRAY`.
const MAP_ARRAY: u32 = 2;
/// `BPF_MAP_TYPE_CGROUP_ARRAY`.
const MAP_CGROUP_ARRAY: u32 = 8;
/// Helpers.
const FN_MAP_LOOKUP_ELEM: i32 = 1;
const FN_CURRENT_TASK_UNDER_CGROUP: i32 = 37;
const FN_GET_CURRENT_TASK_BTF: i32 = 158;
/// The inode number of the initial pid namespace (`PROC_PID_INIT_INO`).
const PROC_PID_INIT_INO: u64 = 0xEFFF_FFFC;

/// Why a hook could not be read, built, attached or pinned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The kernel publishes no BTF (`CONFIG_DEBUG_INFO_BTF` off).
    #[error("cannot read the kernel's BTF {0}: {1}")]
    NoBtf(String, #[source] io::Error),
    /// The kernel has no `update_socket_protocol` (older than 6.6).
    #[error("the kernel has no {HOOK} hook (Linux 6.6 or later has it)")]
    NoHook,
    /// The BTF lacks a type or member the program needs.
    #[error("kernel BTF: {0}")]
    Btf(String),
    /// The program could not be assembled (a bug here).
    #[error("cannot assemble the program: {0}")]
    Asm(#[from] insn::AsmError),
    /// [`Scope::Descendants`] compares process ids of the initial pid
    /// namespace: this process is in another one.
    #[error("this process is not in the initial pid namespace, so process ids here are not the kernel's")]
    PidNamespace,
    /// The kernel refused the program (the verifier's log is kept).
    #[error("the kernel refused the BPF program: {source}")]
    Load {
        /// The error of `BPF_PROG_LOAD`.
        #[source]
        source: io::Error,
        /// The verifier's log.
        log: String,
    },
    /// Another `bpf(2)` or file system step failed.
    #[error("{what}: {source}")]
    Sys {
        /// What was being done.
        what: String,
        /// The system's error.
        #[source]
        source: io::Error,
    },
}

impl Error {
    /// The errno of the failed system call, if the error is one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Load { source, .. } | Error::Sys { source, .. } | Error::NoBtf(_, source) => source.raw_os_error(),
            _ => None,
        }
    }

    /// Whether the error says we may not load or attach BPF programs
    /// (`EPERM`/`EACCES`: not root, no `CAP_BPF` + `CAP_PERFMON`, or
    /// locked down).
    pub fn is_permission(&self) -> bool {
        matches!(self.errno(), Some(libc::EPERM | libc::EACCES))
    }
}

fn sys_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
    let what = what.into();
    move |source| Error::Sys { what, source }
}

/// Which processes a hook converts.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    /// Every process (and thread) that has the process `tgid` among its
    /// first [`MAX_DEPTH`] ancestors (`task_struct.real_parent`), but not
    /// `tgid` itself. A process whose parent dies is re-parented to the
    /// nearest child subreaper: make `tgid` one (`PR_SET_CHILD_SUBREAPER`)
    /// so that daemons started from the tree stay in it. Needs this process
    /// to be in the initial pid namespace ([`in_initial_pid_namespace`]).
    Descendants {
        /// The root of the tree, as the initial pid namespace numbers it.
        tgid: u32,
    },
    /// Every process in the cgroup v2 directory open as this descriptor,
    /// or below it (`bpf_current_task_under_cgroup`).
    Cgroup(BorrowedFd<'a>),
}

/// An attached hook. Dropping it detaches it (unless pinned).
#[derive(Debug)]
pub struct Hook {
    prog: OwnedFd,
    link: OwnedFd,
    counter: OwnedFd,
    /// The cgroup array (cgroup scope) and the info array (its cgroup id).
    cgroup: Option<(OwnedFd, OwnedFd)>,
}

/// Counter map: one u64 at key 0.
fn new_counter(name: &str) -> Result<OwnedFd, Error> {
    sys::map_create(MAP_ARRAY, 4, 8, 1, &format!("{name}_n")).map_err(sys_err("cannot create the counter map"))
}

impl Hook {
    /// Loads the program for `scope` and attaches it to the hook. `name`
    /// names the program (15 bytes kept: what `bpftool prog` shows); its
    /// maps are named after it.
    ///
    /// # Errors
    ///
    /// [`Error::PidNamespace`] for [`Scope::Descendants`] outside the
    /// initial pid namespace; [`Error::Load`] when the kernel refuses the
    /// program ([`Error::is_permission`] without the privileges);
    /// [`Error::Sys`] when a map or the link cannot be made.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::os::fd::AsFd;
    /// use mptcp_bpf::{Hook, Kernel, Scope};
    ///
    /// let cgroup = std::fs::File::open("/sys/fs/cgroup/system.slice/nginx.service")?;
    /// let hook = Hook::attach(&Kernel::probe()?, Scope::Cgroup(cgroup.as_fd()), "mptcp_svc")?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn attach(kernel: &Kernel, scope: Scope<'_>, name: &str) -> Result<Hook, Error> {
        let counter = new_counter(name)?;
        let (insns, cgroup) = match scope {
            Scope::Descendants { tgid } => {
                if !in_initial_pid_namespace().map_err(sys_err("cannot read /proc/self/ns/pid"))? {
                    return Err(Error::PidNamespace);
                }
                (program(kernel, &Filter::Descendants { tgid }, counter.as_raw_fd())?, None)
            }
            Scope::Cgroup(dir) => {
                let cgroups = sys::map_create(MAP_CGROUP_ARRAY, 4, 4, 1, &format!("{name}_cg"))
                    .map_err(sys_err("cannot create the cgroup map"))?;
                let info = sys::map_create(MAP_ARRAY, 4, 8, 1, &format!("{name}_id"))
                    .map_err(sys_err("cannot create the info map"))?;
                set_cgroup(cgroups.as_fd(), info.as_fd(), dir)?;
                let insns = program(kernel, &Filter::Cgroup { map: cgroups.as_raw_fd() }, counter.as_raw_fd())?;
                (insns, Some((cgroups, info)))
            }
        };
        let load = sys::ProgLoad {
            prog_type: PROG_TYPE_TRACING,
            expected_attach_type: ATTACH_MODIFY_RETURN,
            attach_btf_id: kernel.hook_btf_id,
            insns: &insns,
            name,
        };
        let prog = sys::prog_load(&load).map_err(|(source, log)| Error::Load { source, log })?;
        let link = sys::link_create(prog.as_fd(), 0, ATTACH_MODIFY_RETURN)
            .map_err(sys_err(format!("cannot attach the program to {HOOK}")))?;
        Ok(Hook { prog, link, counter, cgroup })
    }

    /// How many sockets the hook converted so far.
    ///
    /// # Errors
    ///
    /// The error of `BPF_MAP_LOOKUP_ELEM`.
    pub fn converted(&self) -> io::Result<u64> {
        read_u64(self.counter.as_fd())
    }

    /// The program's id (what `BPF_PROG_GET_NEXT_ID` lists).
    ///
    /// # Errors
    ///
    /// The error of `BPF_OBJ_GET_INFO_BY_FD`.
    pub fn prog_id(&self) -> io::Result<u32> {
        Ok(prog_info(self.prog.as_fd())?.id)
    }

    /// The link's id (what `BPF_LINK_GET_NEXT_ID` lists).
    ///
    /// # Errors
    ///
    /// The error of `BPF_OBJ_GET_INFO_BY_FD`.
    pub fn link_id(&self) -> io::Result<u32> {
        Ok(link_info(self.link.as_fd())?.id)
    }

    /// Pins the link and the maps in `dir` (a new directory in a BPF file
    /// system, created here; the BPF file system refuses names with a dot): the hook then outlives this process, until
    /// [`Pinned::remove`]. Only hooks of [`Scope::Cgroup`] can be pinned
    /// (a process tree ends with its root).
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] when `dir` exists, is not in a BPF file system, or a
    /// pin fails (what was pinned is removed again).
    pub fn pin(&self, dir: &Path) -> Result<(), Error> {
        let Some((cgroups, info)) = &self.cgroup else {
            return Err(Error::Sys {
                what: "only cgroup hooks can be pinned".into(),
                source: io::Error::from(io::ErrorKind::InvalidInput),
            });
        };
        fs::create_dir(dir).map_err(sys_err(format!("cannot create {}", dir.display())))?;
        let pins = [
            (PIN_LINK, self.link.as_fd()),
            (PIN_COUNTER, self.counter.as_fd()),
            (PIN_CGROUPS, cgroups.as_fd()),
            (PIN_INFO, info.as_fd()),
        ];
        for (name, fd) in pins {
            let path = dir.join(name);
            if let Err(e) = sys::obj_pin(fd, &path) {
                let _ = Pinned::remove(dir);
                return Err(Error::Sys { what: format!("cannot pin {}", path.display()), source: e });
            }
        }
        Ok(())
    }
}

const PIN_LINK: &str = "link";
const PIN_COUNTER: &str = "converted";
const PIN_CGROUPS: &str = "cgroups";
const PIN_INFO: &str = "cgroup_id";

fn read_u64(map: BorrowedFd<'_>) -> io::Result<u64> {
    let mut v = [0u8; 8];
    sys::map_lookup(map, &0u32.to_ne_bytes(), &mut v)?;
    Ok(u64::from_ne_bytes(v))
}

/// Puts the cgroup `dir` in slot 0 of `cgroups` and its id in `info`.
fn set_cgroup(cgroups: BorrowedFd<'_>, info: BorrowedFd<'_>, dir: BorrowedFd<'_>) -> Result<(), Error> {
    let id = fs::File::from(dir.try_clone_to_owned().map_err(sys_err("cannot duplicate the cgroup descriptor"))?)
        .metadata()
        .map_err(sys_err("cannot inspect the cgroup"))?
        .ino();
    let fd = u32::try_from(dir.as_raw_fd()).unwrap_or(u32::MAX);
    sys::map_update(cgroups, &0u32.to_ne_bytes(), &fd.to_ne_bytes(), 0)
        .map_err(sys_err("cannot put the cgroup in the map (is it a cgroup v2 directory?)"))?;
    sys::map_update(info, &0u32.to_ne_bytes(), &id.to_ne_bytes(), 0).map_err(sys_err("cannot record the cgroup id"))
}

/// A hook pinned in a BPF file system by [`Hook::pin`].
#[derive(Debug)]
pub struct Pinned {
    link: OwnedFd,
    counter: OwnedFd,
    cgroups: OwnedFd,
    info: OwnedFd,
}

impl Pinned {
    /// Opens the hook pinned in `dir`.
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] with `ENOENT` when nothing is pinned there.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let pinned = mptcp_bpf::Pinned::open("/sys/fs/bpf/mptcp/nginx".as_ref())?;
    /// println!("{} socket(s) converted", pinned.converted()?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(dir: &Path) -> Result<Pinned, Error> {
        let get = |name: &str| {
            let p = dir.join(name);
            sys::obj_get(&p).map_err(sys_err(format!("cannot open {}", p.display())))
        };
        Ok(Pinned {
            link: get(PIN_LINK)?,
            counter: get(PIN_COUNTER)?,
            cgroups: get(PIN_CGROUPS)?,
            info: get(PIN_INFO)?,
        })
    }

    /// Points the hook at another cgroup (a service's cgroup is made anew
    /// at each start).
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] when `dir` is no cgroup v2 directory.
    pub fn set_cgroup(&self, dir: BorrowedFd<'_>) -> Result<(), Error> {
        set_cgroup(self.cgroups.as_fd(), self.info.as_fd(), dir)
    }

    /// The id (inode number) of the cgroup the hook converts.
    ///
    /// # Errors
    ///
    /// The error of `BPF_MAP_LOOKUP_ELEM`.
    pub fn cgroup_id(&self) -> io::Result<u64> {
        read_u64(self.info.as_fd())
    }

    /// How many sockets the hook converted since it was made.
    ///
    /// # Errors
    ///
    /// The error of `BPF_MAP_LOOKUP_ELEM`.
    pub fn converted(&self) -> io::Result<u64> {
        read_u64(self.counter.as_fd())
    }

    /// The link as the kernel lists it.
    ///
    /// # Errors
    ///
    /// The error of `BPF_OBJ_GET_INFO_BY_FD`.
    pub fn link(&self) -> io::Result<LinkInfo> {
        link_info(self.link.as_fd())
    }

    /// Unpins everything in `dir` and removes it: the hook is detached once
    /// no process holds it open. A missing `dir` is not an error.
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] when a pin or the directory cannot be removed.
    pub fn remove(dir: &Path) -> Result<(), Error> {
        for name in [PIN_LINK, PIN_COUNTER, PIN_CGROUPS, PIN_INFO] {
            let p = dir.join(name);
            match fs::remove_file(&p) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    return Err(Error::Sys { what: format!("cannot unpin {}", p.display()), source: e })
                }
                _ => {}
            }
        }
        match fs::remove_dir(dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(Error::Sys { what: format!("cannot remove {}", dir.display()), source: e })
            }
            _ => Ok(()),
        }
    }
}

/// What the scope check compares.
enum Filter {
    Descendants { tgid: u32 },
    Cgroup { map: i32 },
}

/// The hook program: AF_INET/AF_INET6 (2/10), SOCK_STREAM (1, after
/// masking SOCK_NONBLOCK/SOCK_CLOEXEC with SOCK_TYPE_MASK 0xf), protocol 0
/// or IPPROTO_TCP (6), a process in scope: count it and return 262; else 0.
/// The context is the function's arguments as u64s (family, type,
/// protocol, then the previous return value); each int is zero-extended
/// from its low 32 bits.
fn program(kernel: &Kernel, filter: &Filter, counter: i32) -> Result<Vec<insn::Insn>, Error> {
    let mut a = Asm::new();
    let leave = a.new_label();
    let convert = a.new_label();
    let family_ok = a.new_label();
    let proto_ok = a.new_label();
    let ret = a.new_label();
    a.mov(Reg::R6, Reg::R1);
    a.load(Size::DW, Reg::R2, Reg::R6, 0).mov32(Reg::R2, Reg::R2);
    a.jmp_imm(Cond::Eq, Reg::R2, libc::AF_INET, family_ok);
    a.jmp_imm(Cond::Ne, Reg::R2, libc::AF_INET6, leave);
    a.label(family_ok);
    a.load(Size::DW, Reg::R2, Reg::R6, 8).and_imm(Reg::R2, 0xf);
    a.jmp_imm(Cond::Ne, Reg::R2, libc::SOCK_STREAM, leave);
    a.load(Size::DW, Reg::R2, Reg::R6, 16).mov32(Reg::R2, Reg::R2);
    a.jmp_imm(Cond::Eq, Reg::R2, 0, proto_ok);
    a.jmp_imm(Cond::Ne, Reg::R2, libc::IPPROTO_TCP, leave);
    a.label(proto_ok);
    match *filter {
        Filter::Descendants { tgid } => {
            let off = |v: u32| i16::try_from(v).map_err(|_| Error::Btf(format!("offset {v} out of range")));
            let (parent, tgid_off) = (off(kernel.real_parent_offset)?, off(kernel.tgid_offset)?);
            let tgid = i32::try_from(tgid).map_err(|_| Error::Btf(format!("pid {tgid} out of range")))?;
            a.call(FN_GET_CURRENT_TASK_BTF).mov(Reg::R1, Reg::R0);
            for _ in 0..MAX_DEPTH {
                a.load(Size::DW, Reg::R1, Reg::R1, parent);
                a.jmp_imm(Cond::Eq, Reg::R1, 0, leave);
                a.load(Size::W, Reg::R2, Reg::R1, tgid_off);
                a.jmp_imm(Cond::Eq, Reg::R2, tgid, convert);
                // pid 1 (init) and 0 (the idle task): the top of the tree.
                a.jmp_imm(Cond::Le, Reg::R2, 1, leave);
            }
            a.ja(leave);
        }
        Filter::Cgroup { map } => {
            a.ld_map_fd(Reg::R1, map).mov_imm(Reg::R2, 0).call(FN_CURRENT_TASK_UNDER_CGROUP);
            a.jmp_imm(Cond::Ne, Reg::R0, 1, leave);
        }
    }
    a.label(convert);
    a.store_imm(Size::W, Reg::R10, -4, 0).mov(Reg::R2, Reg::R10).add_imm(Reg::R2, -4);
    a.ld_map_fd(Reg::R1, counter).call(FN_MAP_LOOKUP_ELEM);
    a.jmp_imm(Cond::Eq, Reg::R0, 0, ret);
    a.mov_imm(Reg::R1, 1).atomic_add64(Reg::R0, 0, Reg::R1);
    a.label(ret).mov_imm(Reg::R0, IPPROTO_MPTCP).exit();
    a.label(leave).mov_imm(Reg::R0, 0).exit();
    Ok(a.finish()?)
}

/// A loaded BPF program, as `BPF_OBJ_GET_INFO_BY_FD` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgInfo {
    /// Program id.
    pub id: u32,
    /// `enum bpf_prog_type`.
    pub prog_type: u32,
    /// The name given at load (at most 15 bytes).
    pub name: String,
}

/// A BPF link, as `BPF_OBJ_GET_INFO_BY_FD` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    /// Link id.
    pub id: u32,
    /// `enum bpf_link_type` (2: tracing).
    pub link_type: u32,
    /// The program it runs.
    pub prog_id: u32,
}

fn prog_info(fd: BorrowedFd<'_>) -> io::Result<ProgInfo> {
    let mut b = [0u8; 80];
    sys::info_by_fd(fd, &mut b)?;
    let u32_at = |o: usize| u32::from_ne_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
    let name = &b[64..80];
    let end = name.iter().position(|c| *c == 0).unwrap_or(name.len());
    Ok(ProgInfo { prog_type: u32_at(0), id: u32_at(4), name: String::from_utf8_lossy(&name[..end]).into_owned() })
}

fn link_info(fd: BorrowedFd<'_>) -> io::Result<LinkInfo> {
    let mut b = [0u8; 32];
    sys::info_by_fd(fd, &mut b)?;
    let u32_at = |o: usize| u32::from_ne_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
    Ok(LinkInfo { link_type: u32_at(0), id: u32_at(4), prog_id: u32_at(8) })
}

/// Walks the ids of one object kind, opening each (objects that vanish
/// meanwhile are skipped).
fn walk<T>(next: i32, by_id: i32, info: fn(BorrowedFd<'_>) -> io::Result<T>) -> io::Result<Vec<T>> {
    let mut out = Vec::new();
    let mut id = 0;
    while let Some(n) = sys::next_id(next, id)? {
        id = n;
        match sys::fd_by_id(by_id, n) {
            Ok(fd) => out.push(info(fd.as_fd())?),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Every BPF program loaded in the kernel (`BPF_PROG_GET_NEXT_ID`; needs
/// `CAP_SYS_ADMIN`).
///
/// # Errors
///
/// The first failing `bpf(2)` call's error (`EPERM` without privileges).
///
/// # Examples
///
/// ```no_run
/// let ours = mptcp_bpf::programs()?.into_iter().filter(|p| p.name.starts_with("mptcp")).count();
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn programs() -> io::Result<Vec<ProgInfo>> {
    walk(sys::PROG_GET_NEXT_ID, sys::PROG_GET_FD_BY_ID, prog_info)
}

/// Every BPF link in the kernel (`BPF_LINK_GET_NEXT_ID`; needs
/// `CAP_SYS_ADMIN`).
///
/// # Errors
///
/// As for [`programs`].
///
/// # Examples
///
/// ```no_run
/// for l in mptcp_bpf::links()? {
///     println!("link {} runs program {}", l.id, l.prog_id);
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn links() -> io::Result<Vec<LinkInfo>> {
    walk(sys::LINK_GET_NEXT_ID, sys::LINK_GET_FD_BY_ID, link_info)
}

/// Whether this kernel lets this process attach BPF trampoline programs
/// at all: a program that does nothing is loaded as `fentry` of the
/// kernel's own test function `bpf_fentry_test1` and attached, then
/// dropped. `Ok(false)` when the kernel refuses it for lack of privilege
/// (EPERM or EACCES: not root, or a kernel that refuses trampolines to
/// everybody). The hook needs the same machinery, so this tells "the
/// kernel refuses such programs" from "the hook's program is wrong".
///
/// # Errors
///
/// When the kernel has no BTF or no `bpf_fentry_test1`, or refuses the
/// program for another reason.
///
/// # Examples
///
/// ```no_run
/// if !mptcp_bpf::trampolines_allowed()? {
///     println!("this kernel refuses fentry/fmod_ret programs here");
/// }
/// # Ok::<(), mptcp_bpf::Error>(())
/// ```
pub fn trampolines_allowed() -> Result<bool, Error> {
    /// `BPF_TRACE_FENTRY`.
    const ATTACH_TRACE_FENTRY: u32 = 24;
    const TARGET: &str = "bpf_fentry_test1";
    let blob = std::fs::read(VMLINUX_BTF).map_err(|e| Error::NoBtf(VMLINUX_BTF.into(), e))?;
    let btf = btf::Btf::parse(&blob).map_err(|e| Error::Btf(format!("cannot read the kernel's BTF: {e}")))?;
    let target = btf
        .func_id(TARGET)
        .map_err(|e| Error::Btf(e.to_string()))?
        .ok_or_else(|| Error::Btf(format!("no function {TARGET} in the kernel's BTF")))?;
    let mut asm = Asm::new();
    asm.mov_imm(Reg::R0, 0).exit();
    let insns = asm.finish().map_err(|e| Error::Btf(format!("assembling the probe: {e}")))?;
    let load = sys::ProgLoad {
        prog_type: PROG_TYPE_TRACING,
        expected_attach_type: ATTACH_TRACE_FENTRY,
        attach_btf_id: target,
        insns: &insns,
        name: "mptcp_probe",
    };
    let refused = |e: &io::Error| matches!(e.raw_os_error(), Some(libc::EPERM) | Some(libc::EACCES));
    let prog = match sys::prog_load(&load) {
        Ok(p) => p,
        Err((e, _)) if refused(&e) => return Ok(false),
        Err((source, log)) => return Err(Error::Load { source, log }),
    };
    match sys::link_create(prog.as_fd(), 0, ATTACH_TRACE_FENTRY) {
        Ok(_link) => Ok(true),
        Err(e) if refused(&e) => Ok(false),
        Err(e) => Err(Error::Sys { what: format!("cannot attach an fentry program to {TARGET}"), source: e }),
    }
}

/// Whether this process is in the initial pid namespace (where
/// [`Scope::Descendants`] works).
///
/// # Errors
///
/// When `/proc/self/ns/pid` cannot be read.
pub fn in_initial_pid_namespace() -> io::Result<bool> {
    Ok(fs::metadata("/proc/self/ns/pid")?.ino() == PROC_PID_INIT_INO)
}

/// Whether `path` is the root or a directory of a cgroup v2 hierarchy.
///
/// # Errors
///
/// When `path` cannot be inspected.
pub fn is_cgroup2(path: &Path) -> io::Result<bool> {
    Ok(sys::fs_magic(path)? == sys::CGROUP2_SUPER_MAGIC)
}

/// Makes sure `path` (`/sys/fs/bpf`) is a BPF file system, mounting one
/// there when it is not. Returns whether it mounted one.
///
/// # Errors
///
/// When `path` cannot be created or the mount fails.
pub fn ensure_bpffs(path: &Path) -> io::Result<bool> {
    fs::create_dir_all(path)?;
    if sys::fs_magic(path)? == sys::BPF_FS_MAGIC {
        return Ok(false);
    }
    sys::mount_bpffs(path)?;
    Ok(true)
}

/// Whether `path` is in a BPF file system.
///
/// # Errors
///
/// When `path` cannot be inspected.
pub fn is_bpffs(path: &Path) -> io::Result<bool> {
    Ok(sys::fs_magic(path)? == sys::BPF_FS_MAGIC)
}

/// The directories pinned under `root` (as [`Hook::pin`] made them), with
/// their names.
///
/// # Errors
///
/// When `root` exists but cannot be read.
pub fn pinned_under(root: &Path) -> io::Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    let entries = match fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for e in entries.flatten() {
        if e.path().join(PIN_LINK).exists() {
            out.push((e.file_name().to_string_lossy().into_owned(), e.path()));
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_kernel() -> Kernel {
        Kernel { hook_btf_id: 1, real_parent_offset: 0x9d0, tgid_offset: 0x9c4 }
    }

    #[test]
    fn descendant_program_shape() {
        let p = program(&fake_kernel(), &Filter::Descendants { tgid: 4242 }, 5).unwrap();
        // One ancestor check per level, each comparing with our tgid.
        let compares = p.iter().filter(|i| i.code == 0x15 && i.imm == 4242).count();
        assert_eq!(compares, MAX_DEPTH);
        let parent_loads = p.iter().filter(|i| i.code == 0x79 && i.off == 0x9d0).count();
        assert_eq!(parent_loads, MAX_DEPTH);
        // Returns 262 on one path and 0 on the other, ending in exit.
        assert!(p.iter().any(|i| i.code == 0xb7 && i.dst == 0 && i.imm == 262));
        assert!(p.iter().any(|i| i.code == 0xb7 && i.dst == 0 && i.imm == 0));
        assert_eq!(p.last().unwrap().code, 0x95);
        // The counter map is referenced once, as a pseudo map fd.
        assert_eq!(p.iter().filter(|i| i.code == 0x18 && i.src == 1 && i.imm == 5).count(), 1);
        assert!(p.len() < 4096);
    }

    #[test]
    fn cgroup_program_calls_under_cgroup() {
        let p = program(&fake_kernel(), &Filter::Cgroup { map: 9 }, 5).unwrap();
        assert!(p.iter().any(|i| i.code == 0x18 && i.imm == 9));
        assert!(p.iter().any(|i| i.code == 0x85 && i.imm == FN_CURRENT_TASK_UNDER_CGROUP));
        assert!(!p.iter().any(|i| i.code == 0x85 && i.imm == FN_GET_CURRENT_TASK_BTF));
    }

    #[test]
    fn offsets_beyond_i16_are_refused() {
        let k = Kernel { real_parent_offset: 40_000, ..fake_kernel() };
        assert!(matches!(program(&k, &Filter::Descendants { tgid: 1 }, 5), Err(Error::Btf(_))));
    }
}
