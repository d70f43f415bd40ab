use proptest::prelude::*;
use proptest::test_runner::Config;

use super::*;

/// A little BTF writer for the tests: records and strings, then the blob.
#[derive(Default)]
struct Writer {
    types: Vec<u8>,
    strings: Vec<u8>,
    next_id: u32,
}

impl Writer {
    fn new() -> Writer {
        Writer { types: Vec::new(), strings: vec![0], next_id: 1 }
    }

    fn name(&mut self, s: &str) -> u32 {
        if s.is_empty() {
            return 0;
        }
        let off = self.strings.len() as u32;
        self.strings.extend_from_slice(s.as_bytes());
        self.strings.push(0);
        off
    }

    fn record(&mut self, name: &str, kind: u32, vlen: u32, kind_flag: bool, size_or_type: u32) -> u32 {
        let n = self.name(name);
        let info = (u32::from(kind_flag) << 31) | (kind << 24) | vlen;
        for v in [n, info, size_or_type] {
            self.types.extend_from_slice(&v.to_le_bytes());
        }
        self.next_id += 1;
        self.next_id - 1
    }

    fn int(&mut self, name: &str) -> u32 {
        let id = self.record(name, kind::INT, 0, false, 4);
        self.types.extend_from_slice(&32u32.to_le_bytes());
        id
    }

    /// A struct or union with members (name, type id, bit offset,
    /// bit-field size).
    fn composite(&mut self, kind: u32, name: &str, size: u32, members: &[(&str, u32, u32, u32)]) -> u32 {
        let bitfields = members.iter().any(|m| m.3 != 0);
        let id = self.record(name, kind, members.len() as u32, bitfields, size);
        for &(m, ty, bits, bf) in members {
            let n = self.name(m);
            let off = if bitfields { (bf << 24) | bits } else { bits };
            for v in [n, ty, off] {
                self.types.extend_from_slice(&v.to_le_bytes());
            }
        }
        id
    }

    fn blob(&self) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&MAGIC.to_le_bytes());
        b.extend_from_slice(&[1, 0]);
        for v in [24u32, 0, self.types.len() as u32, self.types.len() as u32, self.strings.len() as u32] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(&self.types);
        b.extend_from_slice(&self.strings);
        b
    }
}

/// A task_struct shaped like the kernel's where it matters: `tgid` inside
/// an anonymous struct inside an anonymous union, `real_parent` a plain
/// member, a bit field, and a hook function with its prototype.
fn sample() -> (Vec<u8>, u32) {
    let mut w = Writer::new();
    let int = w.int("int");
    let ptr = w.record("", 2, 0, false, 0); // PTR to void
    let inner = w.composite(kind::STRUCT, "", 8, &[("pid", int, 0, 0), ("tgid", int, 32, 0)]);
    let un = w.composite(kind::UNION, "", 8, &[("", inner, 0, 0), ("both", int, 0, 0)]);
    let _fwd = w.record("task_struct", 7, 0, false, 0); // FWD first, as in real BTF
    let flags = w.composite(kind::STRUCT, "flags", 4, &[("a", int, 0, 3), ("b", int, 3, 5)]);
    let task = w.composite(
        kind::STRUCT,
        "task_struct",
        64,
        &[("state", int, 0, 0), ("", un, 64, 0), ("real_parent", ptr, 256, 0), ("f", flags, 320, 0)],
    );
    let proto = w.record("", kind::FUNC_PROTO, 3, false, int);
    for _ in 0..3 {
        w.types.extend_from_slice(&[0; 8]);
    }
    let func = w.record("update_socket_protocol", kind::FUNC, 0, false, proto);
    let _ = task;
    (w.blob(), func)
}

#[test]
fn finds_the_function_and_the_members() {
    let (blob, func) = sample();
    let btf = Btf::parse(&blob).unwrap();
    assert_eq!(btf.len() as u32, func);
    assert_eq!(btf.func_id("update_socket_protocol"), Ok(Some(func)));
    assert_eq!(btf.func_id("update_socket"), Ok(None));
    let task = btf.struct_id("task_struct").unwrap().expect("the struct, not its forward declaration");
    assert_eq!(btf.member_offset(task, "state"), Ok(Some(0)));
    assert_eq!(btf.member_offset(task, "tgid"), Ok(Some(12)), "8 (the union) + 4 (in the inner struct)");
    assert_eq!(btf.member_offset(task, "both"), Ok(Some(8)));
    assert_eq!(btf.member_offset(task, "real_parent"), Ok(Some(32)));
    assert_eq!(btf.member_offset(task, "nothing"), Ok(None));
    let flags = btf.struct_id("flags").unwrap().unwrap();
    assert!(btf.member_offset(flags, "b").unwrap_err().0.contains("bit field"));
    assert!(btf.member_offset(func, "x").unwrap_err().0.contains("not a struct"));
}

#[test]
fn big_endian_blobs_read_the_same() {
    let (le, func) = sample();
    // Swap every 32-bit field of the header and the type section (the
    // sample has only 32-bit fields there); strings stay.
    let mut be = le.clone();
    be[..2].copy_from_slice(&MAGIC.to_be_bytes());
    let types_end = 24 + u32::from_le_bytes(le[12..16].try_into().unwrap()) as usize;
    for at in (4..types_end).step_by(4) {
        let v = u32::from_le_bytes(le[at..at + 4].try_into().unwrap());
        be[at..at + 4].copy_from_slice(&v.to_be_bytes());
    }
    // The version and flags bytes are single bytes: put them back.
    be[2..4].copy_from_slice(&le[2..4]);
    let btf = Btf::parse(&be).unwrap();
    assert_eq!(btf.func_id("update_socket_protocol"), Ok(Some(func)));
    let task = btf.struct_id("task_struct").unwrap().unwrap();
    assert_eq!(btf.member_offset(task, "tgid"), Ok(Some(12)));
}

#[test]
fn malformed_blobs_are_errors() {
    assert!(Btf::parse(b"").unwrap_err().0.contains("too short"));
    assert!(Btf::parse(&[0u8; 40]).unwrap_err().0.contains("not BTF"));
    let (blob, _) = sample();
    assert!(Btf::parse(&blob[..blob.len() - 1]).unwrap_err().0.contains("outside"));
    let mut unknown = Writer::new();
    unknown.record("x", 30, 0, false, 0);
    assert!(Btf::parse(&unknown.blob()).unwrap_err().0.contains("unknown BTF kind 30"));
    let mut cut = Writer::new();
    cut.composite(kind::STRUCT, "s", 4, &[("a", 1, 0, 0), ("b", 1, 8, 0)]);
    let mut b = cut.blob();
    // Claim three members where two are written: the record runs past the
    // section, and the index stops there.
    let info_at = 24 + 4;
    let info = u32::from_le_bytes(b[info_at..info_at + 4].try_into().unwrap()) + 1;
    b[info_at..info_at + 4].copy_from_slice(&info.to_le_bytes());
    assert!(Btf::parse(&b).unwrap_err().0.contains("runs past the end"));
    let mut self_ref = Writer::new();
    let a = self_ref.record("a", kind::TYPEDEF, 0, false, 2);
    self_ref.record("b", kind::TYPEDEF, 0, false, a);
    let blob = self_ref.blob();
    let btf = Btf::parse(&blob).unwrap();
    assert!(btf.skip_modifiers(a).unwrap_err().0.contains("chain"));
}

/// The running kernel's BTF, where there is one: the values the hook needs
/// are found and plausible (tgid before real_parent, a pointer's
/// alignment).
#[test]
fn this_kernels_btf() {
    let Ok(blob) = std::fs::read("/sys/kernel/btf/vmlinux") else { return };
    let btf = Btf::parse(&blob).unwrap();
    assert!(btf.len() > 1000, "{} types", btf.len());
    let task = btf.struct_id("task_struct").unwrap().expect("task_struct");
    let tgid = btf.member_offset(task, "tgid").unwrap().unwrap();
    let parent = btf.member_offset(task, "real_parent").unwrap().unwrap();
    assert!(tgid > 0 && parent > tgid && parent % 8 == 0, "tgid {tgid}, real_parent {parent}");
    if let Some(id) = btf.func_id("update_socket_protocol").unwrap() {
        assert!(id as usize <= btf.len());
    }
}

fn config() -> Config {
    Config { cases: 512, failure_persistence: None, ..Config::default() }
}

proptest! {
    #![proptest_config(config())]

    /// Arbitrary bytes never panic.
    #[test]
    fn arbitrary_bytes(raw in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(btf) = Btf::parse(&raw) {
            let _ = btf.func_id("update_socket_protocol");
            if let Ok(Some(id)) = btf.struct_id("task_struct") {
                let _ = btf.member_offset(id, "tgid");
            }
        }
    }

    /// A valid blob with any bytes changed never panics either, and every
    /// look-up answers.
    #[test]
    fn damaged_blobs(edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..16)) {
        let (mut blob, _) = sample();
        for (at, v) in edits {
            let i = at % blob.len();
            blob[i] = v;
        }
        if let Ok(btf) = Btf::parse(&blob) {
            let _ = btf.func_id("update_socket_protocol");
            for id in 0..=btf.len() as u32 + 1 {
                let _ = btf.member_offset(id, "tgid");
                let _ = btf.member_offset(id, "real_parent");
            }
        }
    }
}
