//! The crate's only `unsafe` code: the `bpf(2)` system call with the
//! `union bpf_attr` layouts of the commands used here, and `statfs(2)` /
//! `mount(2)` for the BPF file system.
//!
//! Each command's attribute is a `#[repr(C)]` struct laid out as the
//! kernel's union member (include/uapi/linux/bpf.h), zeroed before use: the
//! kernel refuses attributes whose bytes past the fields it knows are not
//! zero, and reads only `size` bytes. Every descriptor the kernel returns
//! for BPF objects is close-on-exec.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::insn::Insn;

// Commands (enum bpf_cmd).
const MAP_CREATE: i32 = 0;
const MAP_LOOKUP_ELEM: i32 = 1;
const MAP_UPDATE_ELEM: i32 = 2;
const PROG_LOAD: i32 = 5;
const OBJ_PIN: i32 = 6;
const OBJ_GET: i32 = 7;
/// `BPF_PROG_GET_NEXT_ID`.
pub const PROG_GET_NEXT_ID: i32 = 11;
/// `BPF_PROG_GET_FD_BY_ID`.
pub const PROG_GET_FD_BY_ID: i32 = 13;
const OBJ_GET_INFO_BY_FD: i32 = 15;
const LINK_CREATE: i32 = 28;
/// `BPF_LINK_GET_FD_BY_ID`.
pub const LINK_GET_FD_BY_ID: i32 = 30;
/// `BPF_LINK_GET_NEXT_ID`.
pub const LINK_GET_NEXT_ID: i32 = 31;

/// `BPF_FS_MAGIC`.
pub const BPF_FS_MAGIC: i64 = 0xcafe_4a11;
/// `CGROUP2_SUPER_MAGIC`.
pub const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

fn cvt(rc: libc::c_long) -> io::Result<libc::c_long> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// `bpf(cmd, attr, sizeof attr)`.
///
/// # Safety
///
/// `T` must be the `union bpf_attr` member of `cmd`, with every pointer
/// field valid for what the kernel reads or writes through it for the
/// duration of the call.
unsafe fn bpf<T>(cmd: i32, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: the caller's contract; `attr` is live and `size_of::<T>()`
    // bytes long.
    cvt(unsafe { libc::syscall(libc::SYS_bpf, cmd, attr as *mut T, std::mem::size_of::<T>()) })
}

/// A descriptor the kernel just returned (`rc` >= 0, owned by nobody else).
fn owned(rc: libc::c_long) -> io::Result<OwnedFd> {
    let fd = i32::try_from(rc).map_err(|_| io::Error::other("descriptor out of range"))?;
    // SAFETY: `fd` was returned by bpf(2) for this call: open, and ours alone.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn name16(name: &str) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (o, b) in out.iter_mut().zip(name.bytes().take(15)) {
        *o = b;
    }
    out
}

#[repr(C)]
#[derive(Default)]
struct MapCreateAttr {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    inner_map_fd: u32,
    numa_node: u32,
    map_name: [u8; 16],
}

/// `BPF_MAP_CREATE`.
pub fn map_create(map_type: u32, key_size: u32, value_size: u32, max_entries: u32, name: &str) -> io::Result<OwnedFd> {
    let mut attr =
        MapCreateAttr { map_type, key_size, value_size, max_entries, map_name: name16(name), ..Default::default() };
    // SAFETY: the BPF_MAP_CREATE layout, no pointers.
    owned(unsafe { bpf(MAP_CREATE, &mut attr) }?)
}

#[repr(C)]
#[derive(Default)]
struct MapElemAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

/// `BPF_MAP_UPDATE_ELEM` (`flags`: `BPF_ANY` = 0). `key` and `value` must
/// have the map's sizes.
pub fn map_update(map: BorrowedFd<'_>, key: &[u8], value: &[u8], flags: u64) -> io::Result<()> {
    let mut attr = MapElemAttr {
        map_fd: map.as_raw_fd() as u32,
        key: key.as_ptr() as u64,
        value: value.as_ptr() as u64,
        flags,
        ..Default::default()
    };
    // SAFETY: the BPF_MAP_*_ELEM layout; the kernel reads key_size bytes
    // from `key` and value_size from `value`: the caller passes buffers of
    // the map's sizes, and the kernel checks neither more nor less.
    unsafe { bpf(MAP_UPDATE_ELEM, &mut attr) }.map(drop)
}

/// `BPF_MAP_LOOKUP_ELEM` into `value` (the map's value size).
pub fn map_lookup(map: BorrowedFd<'_>, key: &[u8], value: &mut [u8]) -> io::Result<()> {
    let mut attr = MapElemAttr {
        map_fd: map.as_raw_fd() as u32,
        key: key.as_ptr() as u64,
        value: value.as_mut_ptr() as u64,
        ..Default::default()
    };
    // SAFETY: as in `map_update`; the kernel writes value_size bytes (the
    // length of `value`, the caller's contract) to `value`, which is
    // borrowed mutably for the call.
    unsafe { bpf(MAP_LOOKUP_ELEM, &mut attr) }.map(drop)
}

#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
    prog_btf_fd: u32,
    func_info_rec_size: u32,
    func_info: u64,
    func_info_cnt: u32,
    line_info_rec_size: u32,
    line_info: u64,
    line_info_cnt: u32,
    attach_btf_id: u32,
    attach_prog_fd: u32,
}

/// What `BPF_PROG_LOAD` gets.
#[derive(Debug)]
pub struct ProgLoad<'a> {
    /// `enum bpf_prog_type`.
    pub prog_type: u32,
    /// `enum bpf_attach_type`.
    pub expected_attach_type: u32,
    /// BTF id of the attach target in vmlinux.
    pub attach_btf_id: u32,
    /// The instructions.
    pub insns: &'a [Insn],
    /// Program name (15 bytes kept).
    pub name: &'a str,
}

/// `BPF_PROG_LOAD`. On failure, the verifier's log (when it wrote one) is
/// returned beside the error.
pub fn prog_load(p: &ProgLoad<'_>) -> Result<OwnedFd, (io::Error, String)> {
    let words: Vec<u64> = p.insns.iter().map(|i| i.to_u64()).collect();
    let license = c"GPL";
    let mut log = vec![0u8; 64 * 1024];
    let mut attr = ProgLoadAttr {
        prog_type: p.prog_type,
        insn_cnt: words.len() as u32,
        insns: words.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: 1,
        log_size: log.len() as u32,
        log_buf: log.as_mut_ptr() as u64,
        prog_name: name16(p.name),
        expected_attach_type: p.expected_attach_type,
        attach_btf_id: p.attach_btf_id,
        ..Default::default()
    };
    // SAFETY: the BPF_PROG_LOAD layout; `words` (insn_cnt 8-byte
    // instructions), `license` (NUL-terminated) and `log` (log_size
    // writable bytes) outlive the call.
    let rc = unsafe { bpf(PROG_LOAD, &mut attr) };
    match rc {
        Ok(rc) => owned(rc).map_err(|e| (e, String::new())),
        Err(e) => {
            let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
            Err((e, String::from_utf8_lossy(&log[..end]).into_owned()))
        }
    }
}

#[repr(C)]
#[derive(Default)]
struct LinkCreateAttr {
    prog_fd: u32,
    target_fd: u32,
    attach_type: u32,
    flags: u32,
}

/// `BPF_LINK_CREATE` (a tracing program: `target_fd` 0, the target is the
/// program's `attach_btf_id`).
pub fn link_create(prog: BorrowedFd<'_>, target_fd: u32, attach_type: u32) -> io::Result<OwnedFd> {
    let mut attr = LinkCreateAttr { prog_fd: prog.as_raw_fd() as u32, target_fd, attach_type, flags: 0 };
    // SAFETY: the BPF_LINK_CREATE layout, no pointers.
    owned(unsafe { bpf(LINK_CREATE, &mut attr) }?)
}

#[repr(C)]
#[derive(Default)]
struct ObjAttr {
    pathname: u64,
    bpf_fd: u32,
    file_flags: u32,
}

fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// `BPF_OBJ_PIN`: `path` (in a BPF file system) holds `fd`'s object.
pub fn obj_pin(fd: BorrowedFd<'_>, path: &Path) -> io::Result<()> {
    let c = c_path(path)?;
    let mut attr = ObjAttr { pathname: c.as_ptr() as u64, bpf_fd: fd.as_raw_fd() as u32, file_flags: 0 };
    // SAFETY: the BPF_OBJ_* layout; `c` is NUL-terminated and outlives the call.
    unsafe { bpf(OBJ_PIN, &mut attr) }.map(drop)
}

/// `BPF_OBJ_GET`: a descriptor of the object pinned at `path`.
pub fn obj_get(path: &Path) -> io::Result<OwnedFd> {
    let c = c_path(path)?;
    let mut attr = ObjAttr { pathname: c.as_ptr() as u64, ..Default::default() };
    // SAFETY: as in `obj_pin`.
    owned(unsafe { bpf(OBJ_GET, &mut attr) }?)
}

#[repr(C)]
#[derive(Default)]
struct IdAttr {
    id: u32,
    next_id: u32,
    open_flags: u32,
}

/// `BPF_{PROG,MAP,LINK}_GET_NEXT_ID` after `start`: `None` at the end.
pub fn next_id(cmd: i32, start: u32) -> io::Result<Option<u32>> {
    let mut attr = IdAttr { id: start, ..Default::default() };
    // SAFETY: the layout of the GET_NEXT_ID commands, no pointers.
    match unsafe { bpf(cmd, &mut attr) } {
        Ok(_) => Ok(Some(attr.next_id)),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

/// `BPF_{PROG,MAP,LINK}_GET_FD_BY_ID`.
pub fn fd_by_id(cmd: i32, id: u32) -> io::Result<OwnedFd> {
    let mut attr = IdAttr { id, ..Default::default() };
    // SAFETY: the layout of the GET_FD_BY_ID commands, no pointers.
    owned(unsafe { bpf(cmd, &mut attr) }?)
}

#[repr(C)]
#[derive(Default)]
struct InfoAttr {
    bpf_fd: u32,
    info_len: u32,
    info: u64,
}

/// `BPF_OBJ_GET_INFO_BY_FD` into `buf` (zeroed by the caller: pointer
/// fields of the info structs left zero ask for nothing).
pub fn info_by_fd(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<()> {
    let mut attr =
        InfoAttr { bpf_fd: fd.as_raw_fd() as u32, info_len: buf.len() as u32, info: buf.as_mut_ptr() as u64 };
    // SAFETY: the BPF_OBJ_GET_INFO_BY_FD layout; the kernel writes at most
    // info_len bytes to `buf`, borrowed mutably for the call, and follows
    // no pointer inside it since they are zero.
    unsafe { bpf(OBJ_GET_INFO_BY_FD, &mut attr) }.map(drop)
}

/// The file system magic of `path` (`statfs(2)`'s `f_type`).
pub fn fs_magic(path: &Path) -> io::Result<i64> {
    let c = c_path(path)?;
    // SAFETY: `statfs` is plain data, valid when zeroed.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is NUL-terminated, `st` is live and writable.
    let rc = unsafe { libc::statfs(c.as_ptr(), &mut st) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    #[allow(clippy::unnecessary_cast)]
    Ok(st.f_type as i64)
}

/// Mounts a BPF file system on `path` (`mount -t bpf bpf PATH`).
pub fn mount_bpffs(path: &Path) -> io::Result<()> {
    let c = c_path(path)?;
    // SAFETY: every string is NUL-terminated and outlives the call; no data.
    let rc = unsafe { libc::mount(c"bpf".as_ptr(), c.as_ptr(), c"bpf".as_ptr(), 0, std::ptr::null()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
