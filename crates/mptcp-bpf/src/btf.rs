//! A reader of the kernel's BTF (`/sys/kernel/btf/vmlinux`, the format of
//! the kernel's `Documentation/bpf/btf.rst`) that answers the two questions
//! the hook needs: the id of a `FUNC` by name, and the byte offset of a
//! member in a `STRUCT` (looking into anonymous struct and union members).
//!
//! Written here rather than taken from a crate: the BTF crates of the
//! ecosystem were either under a licence this project cannot link
//! statically (btf-rs: LGPL-2.1), needed a newer Rust than the workspace's
//! 1.85 (aya-obj), or built C (libbpf-rs). The format is small: a header,
//! a type section of variable-length records and a string section. One
//! pass indexes where each type starts; look-ups then read only what they
//! touch. Every read is bounds-checked: a malformed blob is an error, never
//! a panic (property tests feed it arbitrary bytes).

use std::fmt;

/// The BTF magic number (`BTF_MAGIC`).
const MAGIC: u16 = 0xeb9f;
/// Size of `struct btf_header` up to `str_len`.
const HEADER_LEN: usize = 24;
/// Size of `struct btf_type`.
const TYPE_LEN: usize = 12;

/// BTF kinds (`BTF_KIND_*`) this reader acts on; the others are skipped by
/// their size.
mod kind {
    pub const INT: u32 = 1;
    pub const ARRAY: u32 = 3;
    pub const STRUCT: u32 = 4;
    pub const UNION: u32 = 5;
    pub const ENUM: u32 = 6;
    pub const TYPEDEF: u32 = 8;
    pub const VOLATILE: u32 = 9;
    pub const CONST: u32 = 10;
    pub const RESTRICT: u32 = 11;
    pub const FUNC: u32 = 12;
    pub const FUNC_PROTO: u32 = 13;
    pub const VAR: u32 = 14;
    pub const DATASEC: u32 = 15;
    pub const DECL_TAG: u32 = 17;
    pub const TYPE_TAG: u32 = 18;
    pub const ENUM64: u32 = 19;
    /// The highest kind known (Linux 6.0: ENUM64).
    pub const MAX: u32 = 19;
}

/// Why a blob could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BtfError(String);

impl fmt::Display for BtfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn err<T>(msg: impl Into<String>) -> Result<T, BtfError> {
    Err(BtfError(msg.into()))
}

/// A parsed BTF blob: the bytes, their byte order and where each type
/// record starts.
#[derive(Debug)]
pub struct Btf<'a> {
    types: &'a [u8],
    strings: &'a [u8],
    big_endian: bool,
    /// Offset in `types` of type id `i + 1` (id 0 is `void`).
    starts: Vec<u32>,
}

/// One `struct btf_type` record.
#[derive(Debug, Clone, Copy)]
struct Record {
    name_off: u32,
    kind: u32,
    vlen: u32,
    kind_flag: bool,
    /// `size` or `type`, by kind.
    size_or_type: u32,
    /// Offset in the type section of what follows the record.
    extra: usize,
}

impl<'a> Btf<'a> {
    /// Reads the header and indexes the types of `blob`.
    ///
    /// # Errors
    ///
    /// When the blob is not BTF, or a section or a record lies outside it.
    pub fn parse(blob: &'a [u8]) -> Result<Btf<'a>, BtfError> {
        if blob.len() < HEADER_LEN {
            return err(format!("{} bytes: too short for a BTF header", blob.len()));
        }
        let big_endian = match [blob[0], blob[1]] {
            m if u16::from_le_bytes(m) == MAGIC => false,
            m if u16::from_be_bytes(m) == MAGIC => true,
            m => return err(format!("not BTF (magic {:02x}{:02x})", m[0], m[1])),
        };
        let u32_at = |off: usize| read_u32(blob, off, big_endian).ok_or_else(|| BtfError("header cut short".into()));
        let hdr_len = u32_at(4)? as usize;
        let (type_off, type_len, str_off, str_len) = (u32_at(8)?, u32_at(12)?, u32_at(16)?, u32_at(20)?);
        if hdr_len < HEADER_LEN {
            return err(format!("header length {hdr_len} below {HEADER_LEN}"));
        }
        let section = |off: u32, len: u32, what: &str| -> Result<&'a [u8], BtfError> {
            let start = hdr_len.checked_add(off as usize);
            let end = start.and_then(|s| s.checked_add(len as usize));
            match (start, end) {
                (Some(s), Some(e)) if e <= blob.len() => Ok(&blob[s..e]),
                _ => err(format!(
                    "{what} section ({off}+{len} after a {hdr_len}-byte header) outside the {} bytes",
                    blob.len()
                )),
            }
        };
        let types = section(type_off, type_len, "type")?;
        let strings = section(str_off, str_len, "string")?;
        let mut btf = Btf { types, strings, big_endian, starts: Vec::new() };
        let mut at = 0usize;
        while at < types.len() {
            let r = btf.record_at(at)?;
            btf.starts.push(at as u32);
            at = r.extra + extra_len(r)?;
            if at > types.len() {
                return err(format!("type {} runs past the end of the type section", btf.starts.len()));
            }
        }
        Ok(btf)
    }

    /// Number of types (not counting `void`).
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    /// Whether the blob holds no type.
    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// The id of the `FUNC` named `name`.
    pub fn func_id(&self, name: &str) -> Result<Option<u32>, BtfError> {
        for id in 1..=self.starts.len() as u32 {
            let r = self.record(id)?;
            if r.kind == kind::FUNC && self.name(r.name_off)? == name.as_bytes() {
                return Ok(Some(id));
            }
        }
        Ok(None)
    }

    /// The id of the `STRUCT` named `name` that has members (not a
    /// forward declaration).
    pub fn struct_id(&self, name: &str) -> Result<Option<u32>, BtfError> {
        for id in 1..=self.starts.len() as u32 {
            let r = self.record(id)?;
            if r.kind == kind::STRUCT && r.vlen > 0 && self.name(r.name_off)? == name.as_bytes() {
                return Ok(Some(id));
            }
        }
        Ok(None)
    }

    /// Byte offset of member `name` in the struct or union `id`, looking
    /// into anonymous struct and union members (their offsets add up).
    ///
    /// # Errors
    ///
    /// When `id` is not a struct or union, the member is a bit field, or
    /// the blob is malformed.
    pub fn member_offset(&self, id: u32, name: &str) -> Result<Option<u32>, BtfError> {
        self.member_bits(id, name, 0, 0)
    }

    fn member_bits(&self, id: u32, name: &str, base_bits: u64, depth: u32) -> Result<Option<u32>, BtfError> {
        if depth > 32 {
            return err("anonymous members nested more than 32 deep");
        }
        let r = self.record(id)?;
        if r.kind != kind::STRUCT && r.kind != kind::UNION {
            return err(format!("type {id} is not a struct or union (kind {})", r.kind));
        }
        for i in 0..r.vlen as usize {
            let at = r.extra + i * 12;
            let (m_name, m_type, m_off) = (self.u32(at)?, self.u32(at + 4)?, self.u32(at + 8)?);
            let (bits, bitfield) =
                if r.kind_flag { (u64::from(m_off & 0x00ff_ffff), m_off >> 24) } else { (u64::from(m_off), 0) };
            let bits = base_bits + bits;
            let m_name = self.name(m_name)?;
            if m_name == name.as_bytes() {
                if bits % 8 != 0 || bitfield != 0 {
                    return err(format!("member {name} is a bit field"));
                }
                return u32::try_from(bits / 8).map(Some).or_else(|_| err(format!("member {name}: offset too large")));
            }
            if m_name.is_empty() {
                let inner = self.skip_modifiers(m_type)?;
                let k = self.record(inner)?.kind;
                if k == kind::STRUCT || k == kind::UNION {
                    if let Some(off) = self.member_bits(inner, name, bits, depth + 1)? {
                        return Ok(Some(off));
                    }
                }
            }
        }
        Ok(None)
    }

    /// `id` with typedefs and qualifiers followed.
    fn skip_modifiers(&self, mut id: u32) -> Result<u32, BtfError> {
        for _ in 0..64 {
            let r = self.record(id)?;
            match r.kind {
                kind::TYPEDEF | kind::VOLATILE | kind::CONST | kind::RESTRICT | kind::TYPE_TAG => id = r.size_or_type,
                _ => return Ok(id),
            }
        }
        err("a chain of more than 64 typedefs and qualifiers")
    }

    fn record(&self, id: u32) -> Result<Record, BtfError> {
        match id.checked_sub(1).and_then(|i| self.starts.get(i as usize)) {
            Some(&at) => self.record_at(at as usize),
            None => err(format!("type id {id} out of range (1 to {})", self.starts.len())),
        }
    }

    fn record_at(&self, at: usize) -> Result<Record, BtfError> {
        let info = self.u32(at + 4)?;
        Ok(Record {
            name_off: self.u32(at)?,
            kind: (info >> 24) & 0x1f,
            vlen: info & 0xffff,
            kind_flag: info >> 31 == 1,
            size_or_type: self.u32(at + 8)?,
            extra: at + TYPE_LEN,
        })
    }

    fn u32(&self, at: usize) -> Result<u32, BtfError> {
        read_u32(self.types, at, self.big_endian).ok_or_else(|| BtfError(format!("type section cut at byte {at}")))
    }

    /// The NUL-terminated string at `off` in the string section.
    fn name(&self, off: u32) -> Result<&'a [u8], BtfError> {
        let rest = self
            .strings
            .get(off as usize..)
            .ok_or_else(|| BtfError(format!("name offset {off} outside the string section")))?;
        let end = rest.iter().position(|&b| b == 0).ok_or_else(|| BtfError(format!("name at {off} not terminated")))?;
        Ok(&rest[..end])
    }
}

/// Bytes that follow a record of `r`'s kind.
fn extra_len(r: Record) -> Result<usize, BtfError> {
    let vlen = r.vlen as usize;
    Ok(match r.kind {
        kind::INT | kind::VAR | kind::DECL_TAG => 4,
        kind::ARRAY => 12,
        kind::STRUCT | kind::UNION | kind::DATASEC | kind::ENUM64 => 12 * vlen,
        kind::ENUM | kind::FUNC_PROTO => 8 * vlen,
        k if k <= kind::MAX => 0,
        k => return err(format!("unknown BTF kind {k}: a newer kernel than this reader knows")),
    })
}

fn read_u32(b: &[u8], at: usize, big_endian: bool) -> Option<u32> {
    let bytes: [u8; 4] = b.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(if big_endian { u32::from_be_bytes(bytes) } else { u32::from_le_bytes(bytes) })
}

#[cfg(test)]
#[path = "btf_tests.rs"]
mod tests;
