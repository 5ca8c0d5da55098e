"""The few ppc64 encodings and relocation numbers the strategies emit.

Numbers are ELF r_type values (arch/powerpc/include/uapi/asm/elf.h); encodings are the words GCC
emits for ELFv2 little endian code, with immediate fields zeroed as the compiler leaves them.
When the arch helpers exist (ppcreloc/ppc64/reloctypes.py, insn.py) the names come from there.
"""

from __future__ import annotations

R_PPC64_NONE = 0
R_PPC64_ADDR32 = 1
R_PPC_REL24 = 10
R_PPC64_REL32 = 26
R_PPC64_ADDR64 = 38
R_PPC64_REL64 = 44
R_PPC64_TOC16 = 47
R_PPC64_TOC16_LO = 48
R_PPC64_TOC16_HI = 49
R_PPC64_TOC16_HA = 50
R_PPC64_TOC = 51
R_PPC64_TOC16_DS = 63
R_PPC64_TOC16_LO_DS = 64
R_PPC64_TOCSAVE = 109
R_PPC64_ENTRY = 118
R_PPC64_REL16 = 249
R_PPC64_REL16_LO = 250
R_PPC64_REL16_HI = 251
R_PPC64_REL16_HA = 252

#: every type the kernel's apply_relocate_add handles in a non-PCREL ELFv2 build
TYPE_NAMES: dict[int, str] = {
    R_PPC64_ADDR32: "R_PPC64_ADDR32",
    R_PPC_REL24: "R_PPC_REL24",
    R_PPC64_REL32: "R_PPC64_REL32",
    R_PPC64_ADDR64: "R_PPC64_ADDR64",
    R_PPC64_REL64: "R_PPC64_REL64",
    R_PPC64_TOC16: "R_PPC64_TOC16",
    R_PPC64_TOC16_LO: "R_PPC64_TOC16_LO",
    R_PPC64_TOC16_HA: "R_PPC64_TOC16_HA",
    R_PPC64_TOC: "R_PPC64_TOC",
    R_PPC64_TOC16_DS: "R_PPC64_TOC16_DS",
    R_PPC64_TOC16_LO_DS: "R_PPC64_TOC16_LO_DS",
    R_PPC64_TOCSAVE: "R_PPC64_TOCSAVE",
    R_PPC64_ENTRY: "R_PPC64_ENTRY",
    R_PPC64_REL16_LO: "R_PPC64_REL16_LO",
    R_PPC64_REL16_HA: "R_PPC64_REL16_HA",
}
#: types apply_relocate_add rejects with "Unknown ADD relocation" (non-PCREL build)
UNKNOWN_TYPES = (R_PPC64_NONE, 2, 4, 5, 6, R_PPC64_TOC16_HI, R_PPC64_REL16, R_PPC64_REL16_HI,
                 116, 132, 133, 255)


def type_name(rtype: int) -> str:
    """R_PPC64_* name of ``rtype``, or ``R_PPC64_<n>`` for types the kernel does not handle."""
    try:
        from ppcreloc.ppc64.reloctypes import name_of  # the shared table, once it exists

        return name_of(rtype)
    except ImportError:
        return TYPE_NAMES.get(rtype, f"R_PPC64_{rtype}")


# -- instruction words (Power ISA 3.0 encodings; ppc-opcode.h names in comments) ---------------
NOP = 0x6000_0000  # PPC_RAW_NOP: ori 0,0,0
BL = 0x4800_0001  # bl .+0: LI 0, LK 1
B = 0x4800_0000  # b .+0 (sibling call)
BLR = 0x4E80_0020
MFLR_R0 = 0x7C08_02A6
ADDIS_R2_R12 = 0x3C4C_0000  # addis r2,r12,0  (global entry, REL16_HA)
ADDI_R2_R2 = 0x3842_0000  # addi r2,r2,0     (global entry, REL16_LO)
LD_R2_M8_R12 = 0xE84C_FFF8  # ld r2,-8(r12)  (large model entry, R_PPC64_ENTRY)
ADD_R2_R2_R12 = 0x7C42_6214  # add r2,r2,r12
ADDIS_R9_R2 = 0x3D22_0000  # addis r9,r2,0   (TOC16_HA)
ADDI_R9_R9 = 0x3929_0000  # addi r9,r9,0     (TOC16_LO)
LD_R9_R9 = 0xE929_0000  # ld r9,0(r9)       (TOC16_LO_DS)
LD_R9_R2 = 0xE922_0000  # ld r9,0(r2)       (TOC16_DS)
ADDI_R9_R2 = 0x3922_0000  # addi r9,r2,0     (TOC16)
STD_R2_24_R1 = 0xF841_0018  # std r2,24(r1)  (the TOC save slot TOCSAVE points at)
LD_R2_24_R1 = 0xE841_0018  # ld r2,24(r1)    (PPC_INST_LD_TOC, ELFv2)
