//! What the running kernel offers for the hook, read from its BTF
//! (`/sys/kernel/btf/vmlinux`, see [`crate::btf`]): the id of the function
//! `update_socket_protocol` (Linux >= 6.6) and the offsets of
//! `task_struct.real_parent` and `task_struct.tgid`.

use std::path::Path;

use crate::btf::Btf;
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
        let bytes = std::fs::read(path).map_err(|e| Error::NoBtf(path.display().to_string(), e))?;
        Kernel::from_bytes(&bytes)
    }

    /// Reads a vmlinux BTF blob.
    ///
    /// # Errors
    ///
    /// As for [`Kernel::probe`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Kernel, Error> {
        let btf_err = |e: crate::btf::BtfError| Error::Btf(format!("cannot read the kernel's BTF: {e}"));
        let btf = Btf::parse(bytes).map_err(btf_err)?;
        let hook_btf_id = btf.func_id(HOOK).map_err(btf_err)?.ok_or(Error::NoHook)?;
        let task = btf
            .struct_id("task_struct")
            .map_err(btf_err)?
            .ok_or_else(|| Error::Btf("no struct task_struct in the BTF".into()))?;
        let member = |name: &str| {
            btf.member_offset(task, name)
                .map_err(btf_err)?
                .ok_or_else(|| Error::Btf(format!("task_struct has no member {name}")))
        };
        Ok(Kernel { hook_btf_id, real_parent_offset: member("real_parent")?, tgid_offset: member("tgid")? })
    }
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

    /// The file and its bytes give the same facts.
    #[test]
    fn bytes_and_file_agree() {
        let Ok(bytes) = std::fs::read(VMLINUX_BTF) else { return };
        match (Kernel::from_file(Path::new(VMLINUX_BTF)), Kernel::from_bytes(&bytes)) {
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
