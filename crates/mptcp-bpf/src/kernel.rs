//! What the running kernel offers for the hook, read from its BTF
//! (`/sys/kernel/btf/vmlinux`) with the `btf-rs` crate: the id of the
//! function `update_socket_protocol` (Linux >= 6.6) and the offsets of
//! `task_struct.real_parent` and `task_struct.tgid`.

use std::path::Path;

use btf_rs::{Backend, Btf, BtfType, Type};

use crate::Error;

/// Where the kernel publishes its BTF.
pub const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";

/// The kernel function the programs attach to.
pub const HOOK: &str = "update_socket_protocol";

/// The kernel facts a hook program needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kernel {
    /// BTF id of the FUNC `update_socket_protocol`.
    pub hook_btf_id: u32,
    /// Byte offset of `task_struct.real_parent`.
    pub real_parent_offset: u32,
    /// Byte offset of `task_struct.tgid`.
    pub tgid_offset: u32,
}

impl Kernel {
    /// Reads the running kernel's BTF.
    ///
    /// # Errors
    ///
    /// [`Error::NoBtf`] when the kernel publishes no BTF,
    /// [`Error::NoHook`] when it lacks `update_socket_protocol` (before
    /// 6.6), [`Error::Btf`] when a type is missing or malformed.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// match mptcp_bpf::Kernel::probe() {
    ///     Ok(k) => println!("hook at BTF id {}", k.hook_btf_id),
    ///     Err(e) => println!("no hook: {e}"),
    /// }
    /// ```
    pub fn probe() -> Result<Kernel, Error> {
        Kernel::from_file(Path::new(VMLINUX_BTF))
    }

    /// Reads the BTF in `path` (a vmlinux BTF blob).
    ///
    /// # Errors
    ///
    /// As for [`Kernel::probe`].
    pub fn from_file(path: &Path) -> Result<Kernel, Error> {
        // btf-rs's mmap backend reads only what the look-ups touch (about 6
        // times faster than parsing every type: 5 ms against 110 ms here).
        // Kernels before 6.16 cannot mmap their BTF file: a copy in a memfd
        // can be.
        let btf = match Btf::from_file_with_backend(path, Backend::Mmap) {
            Ok(btf) => btf,
            Err(_) => {
                let bytes = std::fs::read(path).map_err(|e| Error::NoBtf(path.display().to_string(), e))?;
                let copy = crate::sys::memfd_with(&bytes).map_err(|e| Error::NoBtf(path.display().to_string(), e))?;
                let by_fd = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&copy));
                Btf::from_file_with_backend(&by_fd, Backend::Mmap)
                    .map_err(|e| Error::Btf(format!("cannot parse the kernel's BTF: {e}")))?
            }
        };
        Kernel::from_btf(&btf)
    }

    /// Reads a vmlinux BTF blob.
    ///
    /// # Errors
    ///
    /// As for [`Kernel::probe`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Kernel, Error> {
        let btf = Btf::from_bytes(bytes).map_err(|e| Error::Btf(format!("cannot parse the kernel's BTF: {e}")))?;
        Kernel::from_btf(&btf)
    }

    fn from_btf(btf: &Btf) -> Result<Kernel, Error> {
        let hook_btf_id = func_id(btf, HOOK)?.ok_or(Error::NoHook)?;
        let task = struct_named(btf, "task_struct")?;
        let real_parent_offset = member_offset(btf, &task, "real_parent", 0)?
            .ok_or_else(|| Error::Btf("task_struct has no member real_parent".into()))?;
        let tgid_offset =
            member_offset(btf, &task, "tgid", 0)?.ok_or_else(|| Error::Btf("task_struct has no member tgid".into()))?;
        Ok(Kernel { hook_btf_id, real_parent_offset, tgid_offset })
    }
}

fn btf_err(e: btf_rs::Error) -> Error {
    Error::Btf(e.to_string())
}

/// The id of the FUNC named `name`, if any.
fn func_id(btf: &Btf, name: &str) -> Result<Option<u32>, Error> {
    let ids = match btf.resolve_ids_by_name(name) {
        Ok(ids) => ids,
        // btf-rs answers "not found" with an error.
        Err(_) => return Ok(None),
    };
    for id in ids {
        if let Type::Func(_) = btf.resolve_type_by_id(id).map_err(btf_err)? {
            return Ok(Some(id));
        }
    }
    Ok(None)
}

fn struct_named(btf: &Btf, name: &str) -> Result<btf_rs::Struct, Error> {
    let types = btf.resolve_types_by_name(name).map_err(|_| Error::Btf(format!("no struct {name} in the BTF")))?;
    types
        .into_iter()
        .find_map(|t| match t {
            Type::Struct(s) if !s.members.is_empty() => Some(s),
            _ => None,
        })
        .ok_or_else(|| Error::Btf(format!("no struct {name} in the BTF")))
}

/// Byte offset of member `name` in `s`, looking into anonymous struct and
/// union members (their offsets add up). Bit fields are refused.
fn member_offset(btf: &Btf, s: &btf_rs::Struct, name: &str, base_bits: u32) -> Result<Option<u32>, Error> {
    for m in &s.members {
        let bits = base_bits + m.bit_offset();
        let mname = btf.resolve_name(m).unwrap_or_default();
        if mname == name {
            if bits % 8 != 0 || m.bitfield_size().is_some_and(|b| b != 0) {
                return Err(Error::Btf(format!("member {name} is a bit field")));
            }
            return Ok(Some(bits / 8));
        }
        if mname.is_empty() {
            let Some(id) = m.get_type_id() else { continue };
            let inner = match btf.resolve_type_by_id(id).map_err(btf_err)? {
                Type::Struct(s) => s,
                Type::Union(u) => u,
                _ => continue,
            };
            if let Some(off) = member_offset(btf, &inner, name, bits)? {
                return Ok(Some(off));
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernel's own BTF, where there is one (every kernel of the
    /// project's machines has it; the suite checks this kernel).
    #[test]
    fn this_kernels_btf() {
        if !Path::new(VMLINUX_BTF).exists() {
            eprintln!("no {VMLINUX_BTF}: nothing to read");
            return;
        }
        match Kernel::probe() {
            Ok(k) => {
                assert!(k.hook_btf_id > 0);
                // tgid then real_parent, both well inside task_struct.
                assert!(k.tgid_offset > 0 && k.real_parent_offset > k.tgid_offset, "{k:?}");
                assert_eq!(k.real_parent_offset % 8, 0);
            }
            Err(Error::NoHook) => eprintln!("kernel without {HOOK}"),
            Err(e) => panic!("{e}"),
        }
    }

    /// The copy path (kernels that cannot mmap their BTF file) finds the
    /// same facts as the direct one.
    #[test]
    fn bytes_and_file_agree() {
        let Ok(bytes) = std::fs::read(VMLINUX_BTF) else { return };
        let copy = crate::sys::memfd_with(&bytes).unwrap();
        let by_fd = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&copy));
        let a = Kernel::from_file(Path::new(&by_fd));
        let b = Kernel::from_bytes(&bytes);
        match (a, b) {
            (Ok(a), Ok(b)) => assert_eq!(a, b),
            (Err(Error::NoHook), Err(Error::NoHook)) => {}
            (a, b) => panic!("{a:?} {b:?}"),
        }
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(matches!(Kernel::from_bytes(b"not btf"), Err(Error::Btf(_))));
        assert!(matches!(Kernel::from_file(Path::new("/nonexistent/btf")), Err(Error::NoBtf(..))));
    }
}
