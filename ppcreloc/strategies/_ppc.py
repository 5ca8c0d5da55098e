"""The few ppc64 encodings and relocation numbers the strategies emit.

Numbers are ELF r_type values (arch/powerpc/include/uapi/asm/elf.h); encodings are the words GCC
emits for ELFv2 little endian code, with immediate fields zeroed as the compiler leaves them.
Type numbers and names come from the shared table (ppcreloc/ppc64/reloctypes.py), encodings from
ppcreloc/ppc64/insn.py where it has a helper; tests/strategies/test_strategies.py checks every word against
GNU as.
"""

from __future__ import annotations

from ppcreloc.ppc64 import insn
from ppcreloc.ppc64.reloctypes import (  # noqa: F401  (re-exported for the strategies)
    R_PPC64_ADDR32,
    R_PPC64_ADDR64,
    R_PPC64_ENTRY,
    R_PPC64_NONE,
    R_PPC64_REL16_HA,
    R_PPC64_REL16_LO,
    R_PPC64_REL32,
    R_PPC64_REL64,
    R_PPC64_TOC,
    R_PPC64_TOC16,
    R_PPC64_TOC16_DS,
    R_PPC64_TOC16_HA,
    R_PPC64_TOC16_LO,
    R_PPC64_TOC16_LO_DS,
    R_PPC64_TOCSAVE,
    R_PPC_REL24,
    RELOC_TYPES,
    handled_types,
)
from ppcreloc.ppc64.reloctypes import type_name as type_name

#: every type the kernel's apply_relocate_add handles in a non-PCREL build (the shared table)
TYPE_NAMES: dict[int, str] = {r.num: r.name for r in handled_types(pcrel=False)}
#: types it rejects with "Unknown ADD relocation" in that build (incl. the PCREL-only ones)
UNKNOWN_TYPES: tuple[int, ...] = tuple(sorted(
    {n for n in RELOC_TYPES if n not in TYPE_NAMES} | {2, 5, 255}))


# -- instruction words (Power ISA 3.0 encodings; ppc-opcode.h names in comments) ---------------
NOP = insn.NOP  # PPC_RAW_NOP: ori 0,0,0
BL = 0x4800_0001  # bl .+0: LI 0, LK 1
B = 0x4800_0000  # b .+0 (sibling call)
BLR = 0x4E80_0020
MFLR_R0 = 0x7C08_02A6
ADDIS_R2_R12 = insn.addis(2, 12, 0)  # global entry, REL16_HA
ADDI_R2_R2 = insn.addi(2, 2, 0)  # global entry, REL16_LO
LD_R2_M8_R12 = insn.ld(2, 12, -8)  # large model entry, R_PPC64_ENTRY
ADD_R2_R2_R12 = insn.add(2, 2, 12)
ADDIS_R9_R2 = insn.addis(9, 2, 0)  # TOC16_HA
ADDI_R9_R9 = insn.addi(9, 9, 0)  # TOC16_LO
LD_R9_R9 = insn.ld(9, 9, 0)  # TOC16_LO_DS
LD_R9_R2 = insn.ld(9, 2, 0)  # TOC16_DS
ADDI_R9_R2 = insn.addi(9, 2, 0)  # TOC16
STD_R2_24_R1 = insn.std(2, 1, 24)  # the TOC save slot TOCSAVE points at
LD_R2_24_R1 = insn.ld_toc(False)  # PPC_INST_LD_TOC, ELFv2
