"""ppc64 instruction words, field masks and helpers used by the module loader model.

Encodings follow arch/powerpc/include/asm/ppc-opcode.h and asm/code-patching.h (6.1 and 6.12
agree on every value here); the branch tests follow arch/powerpc/lib/code-patching.c
(instr_is_relative_branch, instr_is_relative_link_branch). All helpers are plain integer maths.
"""

from __future__ import annotations

from ppcreloc.bits import M16 as M16
from ppcreloc.bits import M32 as M32
from ppcreloc.bits import M64 as M64

# Registers named as in the kernel (_R1 ...).
R0, R1, R2, R11, R12, R13 = 0, 1, 2, 11, 12, 13

#: PPC_LI_MASK: the I-form branch displacement field.
PPC_LI_MASK = 0x03FFFFFC
#: BRANCH_SET_LINK / BRANCH_ABSOLUTE (asm/code-patching.h)
BRANCH_SET_LINK = 0x1
BRANCH_ABSOLUTE = 0x2
#: primary opcode of prefixed instructions (asm/inst.h OP_PREFIX)
OP_PREFIX = 1
OP_BRANCH_IFORM = 18
OP_BRANCH_BFORM = 16

PPC_PREFIX_MLS = 0x06000000
PPC_PREFIX_8LS = 0x04000000
PPC_INST_PADDI = 0x38000000
PPC_INST_PLD = 0xE4000000

STUB_MAGIC = 0x73747562  # "stub", module_64.c


def _rt(r: int) -> int:
    return (r & 0x1F) << 21


def _ra(r: int) -> int:
    return (r & 0x1F) << 16


def _rb(r: int) -> int:
    return (r & 0x1F) << 11


def imm_l(i: int) -> int:
    """IMM_L: the low 16 bits."""
    return i & 0xFFFF


def imm_ds(i: int) -> int:
    """IMM_DS: a DS-form displacement (low 2 bits dropped)."""
    return i & 0xFFFC


def imm_h18(i: int) -> int:
    """IMM_H18: bits 16..33 of a 34-bit prefixed displacement."""
    return ((i & M64) >> 16) & 0x3FFFF


def ppc_lo(v: int) -> int:
    """PPC_LO."""
    return v & 0xFFFF


def ppc_hi(v: int) -> int:
    """PPC_HI (64-bit shift, then 16 bits)."""
    return ((v & M64) >> 16) & 0xFFFF


def ppc_ha(v: int) -> int:
    """PPC_HA: the high half adjusted for the sign of the low half."""
    return ppc_hi(v + 0x8000)


def ld(rt: int, ra: int, ds: int) -> int:
    """PPC_RAW_LD."""
    return 0xE8000000 | _rt(rt) | _ra(ra) | imm_ds(ds)


def std(rs: int, ra: int, ds: int) -> int:
    """PPC_RAW_STD."""
    return 0xF8000000 | _rt(rs) | _ra(ra) | imm_ds(ds)


def addi(rt: int, ra: int, i: int) -> int:
    """PPC_RAW_ADDI."""
    return 0x38000000 | _rt(rt) | _ra(ra) | imm_l(i)


def addis(rt: int, ra: int, i: int) -> int:
    """PPC_RAW_ADDIS."""
    return 0x3C000000 | _rt(rt) | _ra(ra) | imm_l(i)


def add(rt: int, ra: int, rb: int) -> int:
    """PPC_RAW_ADD."""
    return 0x7C000214 | _rt(rt) | _ra(ra) | _rb(rb)


def mtctr(r: int) -> int:
    """PPC_RAW_MTCTR."""
    return 0x7C0903A6 | _rt(r)


BCTR = 0x4E800420
NOP = 0x60000000  # PPC_RAW_NOP = ori 0,0,0


def r2_stack_offset(elfv1: bool) -> int:
    """R2_STACK_OFFSET (asm/code-patching.h): 40 on ELFv1, 24 on ELFv2."""
    return 40 if elfv1 else 24


def ld_toc(elfv1: bool) -> int:
    """PPC_INST_LD_TOC = ld r2,R2_STACK_OFFSET(r1): 0xe8410018 (ELFv2) / 0xe8410028 (ELFv1)."""
    return ld(R2, R1, r2_stack_offset(elfv1))


def primary_opcode(word: int) -> int:
    """ppc_inst_primary_opcode."""
    return (word >> 26) & 0x3F


def is_prefixed(word: int) -> bool:
    """ppc_inst_prefixed: primary opcode 1 (patch_instruction then writes 8 bytes)."""
    return primary_opcode(word) == OP_PREFIX


def is_relative_branch(word: int) -> bool:
    """instr_is_relative_branch: I-form (18) or B-form (16) with the AA bit clear."""
    if word & BRANCH_ABSOLUTE:
        return False
    return primary_opcode(word) in (OP_BRANCH_IFORM, OP_BRANCH_BFORM)


def is_relative_link_branch(word: int) -> bool:
    """instr_is_relative_link_branch: a relative branch with LK set (bl, bcl)."""
    return is_relative_branch(word) and bool(word & BRANCH_SET_LINK)


def local_entry_offset(st_other: int, elfv1: bool = False) -> int:
    """PPC64_LOCAL_ENTRY_OFFSET of st_other bits 5..7 (module_64.c local_entry_offset); 0 on ELFv1."""
    if elfv1:
        return 0
    k = (st_other >> 5) & 7
    return ((1 << k) >> 2) << 2


def signed(v: int, bits: int = 64) -> int:
    """Interpret the low ``bits`` of ``v`` as two's complement (what %li prints)."""
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


def fits_signed(v: int, bits: int) -> bool:
    """True when the 64-bit value ``v`` is a ``bits``-bit signed number (kernel's add-and-compare)."""
    half = 1 << (bits - 1)
    return ((v + half) & M64) <= (1 << bits) - 1


# The instruction templates of module_64.c (ppc64_stub_insns, stub_insns), per configuration.
def ppc64_stub_insns(elfv1: bool, pcrel: bool) -> list[int]:
    """ppc64_stub_insns: the call stub template (6.12 module_64.c; 6.1 has only the TOC forms)."""
    if pcrel:
        return [PPC_PREFIX_8LS | (1 << 20), PPC_INST_PLD | _rt(R12), mtctr(R12), BCTR]
    words = [addis(R11, R2, 0), addi(R11, R11, 0), std(R2, R1, r2_stack_offset(elfv1)),
             ld(R12, R11, 32)]
    if elfv1:
        words.append(ld(R2, R11, 40))
    return words + [mtctr(R12), BCTR]


def ftrace_stub_insns(pcrel: bool, paca_kernel_toc: int) -> list[int]:
    """stub_insns: the mprofile ftrace stub template (kernel_toc / kernelbase from the paca).

    paca_struct places kernelbase right after kernel_toc, so its offset is kernel_toc's + 8.
    """
    if pcrel:
        return [ld(R12, R13, paca_kernel_toc + 8), NOP, PPC_PREFIX_MLS,
                PPC_INST_PADDI | _rt(R12) | _ra(R12), mtctr(R12), BCTR]
    return [ld(R12, R13, paca_kernel_toc), addis(R12, R12, 0), addi(R12, R12, 0),
            mtctr(R12), BCTR]
