//! A small typed assembler for the eBPF instructions the hook programs use
//! (the encoding of the kernel's `struct bpf_insn`, documented in
//! Documentation/bpf/standardization/instruction-set.rst): no clang, no
//! object file, the program is built here at run time.
//!
//! Jumps go to [`Label`]s; [`Asm::finish`] resolves them into the signed
//! 16-bit offsets the kernel reads (relative to the next instruction).

use std::fmt;

/// A register, `r0` to `r10` (`r10` is the read-only frame pointer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reg(u8);

impl Reg {
    /// Return value and helper result.
    pub const R0: Reg = Reg(0);
    /// First helper argument; the context at program start.
    pub const R1: Reg = Reg(1);
    /// Second helper argument.
    pub const R2: Reg = Reg(2);
    /// Third helper argument.
    pub const R3: Reg = Reg(3);
    /// Callee-saved.
    pub const R6: Reg = Reg(6);
    /// Callee-saved.
    pub const R7: Reg = Reg(7);
    /// The frame pointer (read only).
    pub const R10: Reg = Reg(10);
}

/// One encoded instruction: `code`, `dst:4 | src:4` (dst in the low
/// nibble, little-endian bitfield order), `off` (i16), `imm` (i32).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    /// Operation code (class | size/source | mode/operation).
    pub code: u8,
    /// Destination register.
    pub dst: u8,
    /// Source register (or pseudo source for `ld_imm64`).
    pub src: u8,
    /// Offset.
    pub off: i16,
    /// Immediate.
    pub imm: i32,
}

impl Insn {
    /// The 8 bytes the kernel reads, in this host's (little-endian) order.
    pub fn to_bytes(self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[0] = self.code;
        b[1] = (self.dst & 0x0f) | (self.src << 4);
        b[2..4].copy_from_slice(&self.off.to_le_bytes());
        b[4..8].copy_from_slice(&self.imm.to_le_bytes());
        b
    }

    /// The instruction as one little-endian `u64` (how the kernel's
    /// `struct bpf_insn` lies in memory on x86-64 and arm64).
    pub fn to_u64(self) -> u64 {
        u64::from_le_bytes(self.to_bytes())
    }
}

impl fmt::Debug for Insn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02x} dst=r{} src=r{} off={} imm={}", self.code, self.dst, self.src, self.off, self.imm)
    }
}

// Classes.
const LD: u8 = 0x00;
const LDX: u8 = 0x01;
const ST: u8 = 0x02;
const STX: u8 = 0x03;
const ALU: u8 = 0x04;
const JMP: u8 = 0x05;
const ALU64: u8 = 0x07;
// Sizes and modes.
const W: u8 = 0x00;
const DW: u8 = 0x18;
const IMM: u8 = 0x00;
const MEM: u8 = 0x60;
const ATOMIC: u8 = 0xc0;
// Sources.
const K: u8 = 0x00;
const X: u8 = 0x08;
// Operations.
const ADD: u8 = 0x00;
const AND: u8 = 0x50;
const MOV: u8 = 0xb0;
const JA: u8 = 0x00;
const CALL: u8 = 0x80;
const EXIT: u8 = 0x90;

/// `BPF_PSEUDO_MAP_FD`: the `ld_imm64` immediate is a map's descriptor.
const PSEUDO_MAP_FD: u8 = 1;

/// A width of a memory access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// 4 bytes.
    W,
    /// 8 bytes.
    DW,
}

impl Size {
    fn bits(self) -> u8 {
        match self {
            Size::W => W,
            Size::DW => DW,
        }
    }
}

/// A conditional jump's comparison (unsigned, 64 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cond {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<=` (unsigned)
    Le,
}

impl Cond {
    fn op(self) -> u8 {
        match self {
            Cond::Eq => 0x10,
            Cond::Ne => 0x50,
            Cond::Le => 0xb0,
        }
    }
}

/// A jump target, placed with [`Asm::label`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Label(usize);

/// Why a program could not be assembled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AsmError {
    /// A label was jumped to but never placed.
    #[error("label {0} is never placed")]
    Unplaced(usize),
    /// A jump is farther than a 16-bit offset reaches.
    #[error("jump at instruction {0} is out of range")]
    OutOfRange(usize),
}

/// An instruction list with labels.
#[derive(Debug, Default)]
pub struct Asm {
    insns: Vec<Insn>,
    labels: Vec<Option<usize>>,
    /// (instruction index, label) of each jump to resolve.
    fixups: Vec<(usize, Label)>,
}

impl Asm {
    /// An empty program.
    pub fn new() -> Asm {
        Asm::default()
    }

    fn push(&mut self, code: u8, dst: Reg, src: Reg, off: i16, imm: i32) -> &mut Self {
        self.insns.push(Insn { code, dst: dst.0, src: src.0, off, imm });
        self
    }

    /// A new label, not yet placed.
    pub fn new_label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    /// Places `l` at the next instruction.
    pub fn label(&mut self, l: Label) -> &mut Self {
        self.labels[l.0] = Some(self.insns.len());
        self
    }

    /// `dst = imm` (64-bit, sign-extended).
    pub fn mov_imm(&mut self, dst: Reg, imm: i32) -> &mut Self {
        self.push(ALU64 | MOV | K, dst, Reg(0), 0, imm)
    }

    /// `dst = src` (64-bit).
    pub fn mov(&mut self, dst: Reg, src: Reg) -> &mut Self {
        self.push(ALU64 | MOV | X, dst, src, 0, 0)
    }

    /// `dst = (u32) src`: the low 32 bits, zero-extended.
    pub fn mov32(&mut self, dst: Reg, src: Reg) -> &mut Self {
        self.push(ALU | MOV | X, dst, src, 0, 0)
    }

    /// `dst &= imm` (64-bit).
    pub fn and_imm(&mut self, dst: Reg, imm: i32) -> &mut Self {
        self.push(ALU64 | AND | K, dst, Reg(0), 0, imm)
    }

    /// `dst += imm` (64-bit).
    pub fn add_imm(&mut self, dst: Reg, imm: i32) -> &mut Self {
        self.push(ALU64 | ADD | K, dst, Reg(0), 0, imm)
    }

    /// `dst = *(size *)(src + off)`.
    pub fn load(&mut self, size: Size, dst: Reg, src: Reg, off: i16) -> &mut Self {
        self.push(LDX | MEM | size.bits(), dst, src, off, 0)
    }

    /// `*(size *)(dst + off) = imm`.
    pub fn store_imm(&mut self, size: Size, dst: Reg, off: i16, imm: i32) -> &mut Self {
        self.push(ST | MEM | size.bits(), dst, Reg(0), off, imm)
    }

    /// `lock *(u64 *)(dst + off) += src` (atomic add, no fetch).
    pub fn atomic_add64(&mut self, dst: Reg, off: i16, src: Reg) -> &mut Self {
        self.push(STX | ATOMIC | DW, dst, src, off, i32::from(ADD))
    }

    /// `dst = map` (the map's descriptor, replaced by the kernel with its
    /// address): two instruction slots.
    pub fn ld_map_fd(&mut self, dst: Reg, fd: i32) -> &mut Self {
        self.insns.push(Insn { code: LD | IMM | DW, dst: dst.0, src: PSEUDO_MAP_FD, off: 0, imm: fd });
        self.insns.push(Insn { code: 0, dst: 0, src: 0, off: 0, imm: 0 });
        self
    }

    /// `if dst <cond> imm goto to`.
    pub fn jmp_imm(&mut self, cond: Cond, dst: Reg, imm: i32, to: Label) -> &mut Self {
        self.fixups.push((self.insns.len(), to));
        self.push(JMP | cond.op() | K, dst, Reg(0), 0, imm)
    }

    /// `goto to`.
    pub fn ja(&mut self, to: Label) -> &mut Self {
        self.fixups.push((self.insns.len(), to));
        self.push(JMP | JA, Reg(0), Reg(0), 0, 0)
    }

    /// `r0 = helper(r1, ..., r5)`.
    pub fn call(&mut self, helper: i32) -> &mut Self {
        self.push(JMP | CALL, Reg(0), Reg(0), 0, helper)
    }

    /// `return r0`.
    pub fn exit(&mut self) -> &mut Self {
        self.push(JMP | EXIT, Reg(0), Reg(0), 0, 0)
    }

    /// Number of instruction slots so far.
    pub fn len(&self) -> usize {
        self.insns.len()
    }

    /// Whether no instruction was added.
    pub fn is_empty(&self) -> bool {
        self.insns.is_empty()
    }

    /// The instructions with every jump resolved.
    pub fn finish(mut self) -> Result<Vec<Insn>, AsmError> {
        for (at, l) in std::mem::take(&mut self.fixups) {
            let target = self.labels[l.0].ok_or(AsmError::Unplaced(l.0))?;
            let off = target as i64 - at as i64 - 1;
            self.insns[at].off = i16::try_from(off).map_err(|_| AsmError::OutOfRange(at))?;
        }
        Ok(self.insns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Byte strings as `bpftool prog dump xlated opcodes` and the kernel's
    /// selftests (`BPF_MOV64_IMM` etc.) encode them.
    #[test]
    fn encodings() {
        let mut a = Asm::new();
        a.mov_imm(Reg::R0, 262) // b7 00 00 00 06 01 00 00
            .mov(Reg::R6, Reg::R1) // bf 16 00 00 00 00 00 00
            .mov32(Reg::R2, Reg::R2) // bc 22 ...
            .and_imm(Reg::R2, 0xf) // 57 02 00 00 0f 00 00 00
            .add_imm(Reg::R2, -4) // 07 02 00 00 fc ff ff ff
            .load(Size::DW, Reg::R2, Reg::R6, 8) // 79 62 08 00 ...
            .load(Size::W, Reg::R2, Reg::R1, 0x9c4) // 61 12 c4 09 ...
            .store_imm(Size::W, Reg::R10, -4, 0) // 62 0a fc ff 00 00 00 00
            .atomic_add64(Reg::R0, 0, Reg::R1) // db 10 00 00 00 00 00 00
            .call(158) // 85 00 00 00 9e 00 00 00
            .exit(); // 95 00 ...
        let got: Vec<[u8; 8]> = a.finish().unwrap().into_iter().map(Insn::to_bytes).collect();
        let want: Vec<[u8; 8]> = vec![
            [0xb7, 0x00, 0x00, 0x00, 0x06, 0x01, 0x00, 0x00],
            [0xbf, 0x16, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
            [0xbc, 0x22, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
            [0x57, 0x02, 0x00, 0x00, 0x0f, 0x00, 0x00, 0x00],
            [0x07, 0x02, 0x00, 0x00, 0xfc, 0xff, 0xff, 0xff],
            [0x79, 0x62, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00],
            [0x61, 0x12, 0xc4, 0x09, 0x00, 0x00, 0x00, 0x00],
            [0x62, 0x0a, 0xfc, 0xff, 0x00, 0x00, 0x00, 0x00],
            [0xdb, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
            [0x85, 0x00, 0x00, 0x00, 0x9e, 0x00, 0x00, 0x00],
            [0x95, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn map_loads_take_two_slots() {
        let mut a = Asm::new();
        a.ld_map_fd(Reg::R1, 7);
        let v = a.finish().unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].to_bytes(), [0x18, 0x11, 0, 0, 7, 0, 0, 0]);
        assert_eq!(v[1].to_bytes(), [0; 8]);
    }

    #[test]
    fn jumps_resolve_forward_and_backward() {
        let mut a = Asm::new();
        let top = a.new_label();
        let end = a.new_label();
        a.label(top);
        a.jmp_imm(Cond::Eq, Reg::R2, 2, end); // 0: to 3 -> off 2
        a.jmp_imm(Cond::Ne, Reg::R2, 10, end); // 1: off 1
        a.jmp_imm(Cond::Le, Reg::R2, 1, top); // 2: to 0 -> off -3
        a.label(end).ja(end); // 3: off -1
        let v = a.finish().unwrap();
        assert_eq!(v[0].to_bytes(), [0x15, 0x02, 2, 0, 2, 0, 0, 0]);
        assert_eq!(v[1].to_bytes(), [0x55, 0x02, 1, 0, 10, 0, 0, 0]);
        assert_eq!(v[2].to_bytes(), [0xb5, 0x02, 0xfd, 0xff, 1, 0, 0, 0]);
        assert_eq!(v[3].to_bytes(), [0x05, 0x00, 0xff, 0xff, 0, 0, 0, 0]);
        assert_eq!(v[3].to_u64(), 0xffff_0005);
    }

    #[test]
    fn unplaced_labels_and_far_jumps_are_errors() {
        let mut a = Asm::new();
        let l = a.new_label();
        a.ja(l);
        assert_eq!(a.finish().unwrap_err(), AsmError::Unplaced(0));
        let mut a = Asm::new();
        let l = a.new_label();
        a.ja(l);
        for _ in 0..40_000 {
            a.exit();
        }
        a.label(l).exit();
        assert_eq!(a.finish().unwrap_err(), AsmError::OutOfRange(0));
    }
}
