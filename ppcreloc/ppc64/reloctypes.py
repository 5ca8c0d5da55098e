"""The ppc64 relocation types: one row per type, read by the engine, the strategies and references.

Each row names the type (arch/powerpc/include/uapi/asm/elf.h numbers), how many bytes at P the
kernel touches, which bits of that field it replaces, the psABI formula, the value the kernel
computes, its range/alignment check (with the exact pr_err format of module_64.c, 6.12
apply_relocate_add) and which handler applies it. Adding a type that fits the generic "field"
handler is one row. ``handled=False`` rows are types the kernel rejects with "Unknown ADD
relocation" (strategies use them to exercise that path).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ppcreloc.ppc64.insn import M64, fits_signed, signed

Base = Literal["S+A", "S+A-TOC", "S+A-P", "TOC", "none"]
Transform = Literal["full", "ha"]
Handler = Literal["field", "rel24", "entry", "noop", "pcrel34", "got_pcrel34", "unknown"]


@dataclass(frozen=True)
class Check:
    """A kernel range/alignment check: ``bits``-bit signed range and/or 4-byte alignment."""

    bits: int | None
    align4: bool
    fmt: str
    signed_arg: bool  # %li prints the value signed, %lx unsigned

    def ok(self, v: int) -> bool:
        """True when the 64-bit value ``v`` passes (module_64.c add-and-compare form)."""
        if self.align4 and v & 3:
            return False
        return self.bits is None or fits_signed(v, self.bits)

    def arg(self, v: int) -> int:
        """The printk argument for ``v``."""
        return signed(v) if self.signed_arg else v & M64


@dataclass(frozen=True)
class RelocType:
    """One relocation type as module_64.c handles it."""

    num: int
    name: str
    size: int  # bytes written at P (0: nothing, e.g. TOCSAVE)
    mask: int  # bits of the native-endian field at P that are replaced
    formula: str  # psABI notation, for humans and reference linkers
    base: Base  # the value before the transform: S+A, S+A-TOC (my_r2), S+A-P, TOC, none
    transform: Transform = "full"
    check: Check | None = None
    handler: Handler = "field"
    pcrel: bool | None = None  # True: only CONFIG_PPC_KERNEL_PCREL builds; False: only TOC builds
    handled: bool = True
    #: the psABI spelling tools print (readelf, objdump) when ``name``, the kernel's, differs
    abi: str = ""

    @property
    def abi_name(self) -> str:
        """The name as the ppc64 ABI and binutils spell it (``R_PPC64_REL24``)."""
        return self.abi or self.name

    def available(self, pcrel: bool) -> bool:
        """Whether a kernel built with (or without) PCREL compiles this case in."""
        return self.handled and (self.pcrel is None or self.pcrel == pcrel)

    def compute(self, sa: int, p: int, toc: int) -> int:
        """The 64-bit value the kernel computes before checks (value in module_64.c)."""
        base = self.base
        if base == "S+A":
            v = sa
        elif base == "S+A-TOC":
            v = sa - toc
        elif base == "S+A-P":
            v = sa - p
        else:
            v = toc if base == "TOC" else 0
        return v & M64

    def field(self, v: int) -> int:
        """The bits stored (before masking): the value itself or its @ha half."""
        if self.transform == "ha":
            return ((v + 0x8000) & M64) >> 16
        return v


TOC16_CHECK = Check(16, False, "%s: bad TOC16 relocation (0x%lx)\n", False)
TOC16_DS_CHECK = Check(16, True, "%s: bad TOC16_DS relocation (0x%lx)\n", False)
TOC16_LO_DS_CHECK = Check(None, True, "%s: bad TOC16_LO_DS relocation (0x%lx)\n", False)
REL32_CHECK = Check(32, False, "%s: REL32 %li out of range!\n", True)
REL24_CHECK = Check(26, True, "%s: REL24 %li out of range!\n", True)
REL34_CHECK = Check(34, False, "%s: REL34 %li out of range!\n", True)

_ROWS = [
    # handled by module_64.c (6.12 apply_relocate_add, in its case order)
    RelocType(1, "R_PPC64_ADDR32", 4, 0xFFFF_FFFF, "S + A", "S+A"),
    RelocType(38, "R_PPC64_ADDR64", 8, M64, "S + A", "S+A"),
    RelocType(51, "R_PPC64_TOC", 8, M64, ".TOC.", "TOC", pcrel=False),
    RelocType(47, "R_PPC64_TOC16", 2, 0xFFFF, "S + A - .TOC.", "S+A-TOC", check=TOC16_CHECK,
              pcrel=False),
    RelocType(48, "R_PPC64_TOC16_LO", 2, 0xFFFF, "#lo(S + A - .TOC.)", "S+A-TOC", pcrel=False),
    RelocType(63, "R_PPC64_TOC16_DS", 2, 0xFFFC, "(S + A - .TOC.) >> 2", "S+A-TOC",
              check=TOC16_DS_CHECK, pcrel=False),
    RelocType(64, "R_PPC64_TOC16_LO_DS", 2, 0xFFFC, "#lo(S + A - .TOC.) >> 2", "S+A-TOC",
              check=TOC16_LO_DS_CHECK, pcrel=False),
    RelocType(50, "R_PPC64_TOC16_HA", 2, 0xFFFF, "#ha(S + A - .TOC.)", "S+A-TOC", "ha",
              pcrel=False),
    # module_64.c spells type 10 R_PPC_REL24 (the 32-bit name); the ABI and readelf R_PPC64_REL24
    RelocType(10, "R_PPC_REL24", 4, 0x03FFFFFC, "(S + A - P) >> 2 (via stub if external)",
              "S+A-P", check=REL24_CHECK, handler="rel24", abi="R_PPC64_REL24"),
    RelocType(116, "R_PPC64_REL24_NOTOC", 4, 0x03FFFFFC, "(S + A - P) >> 2 (via stub if external)",
              "S+A-P", check=REL24_CHECK, handler="rel24", pcrel=True),
    RelocType(44, "R_PPC64_REL64", 8, M64, "S + A - P", "S+A-P"),
    RelocType(26, "R_PPC64_REL32", 4, 0xFFFF_FFFF, "S + A - P", "S+A-P", check=REL32_CHECK),
    RelocType(132, "R_PPC64_PCREL34", 8, 0, "S + A - P (34-bit, prefixed)", "S+A-P",
              check=REL34_CHECK, handler="pcrel34", pcrel=True),
    RelocType(109, "R_PPC64_TOCSAVE", 0, 0, "none (marker)", "none", handler="noop",
              pcrel=False),
    RelocType(118, "R_PPC64_ENTRY", 8, 0, ".TOC. - P (rewrites ld/add prologue)", "none",
              handler="entry"),
    RelocType(252, "R_PPC64_REL16_HA", 2, 0xFFFF, "#ha(S + A - P)", "S+A-P", "ha"),
    RelocType(250, "R_PPC64_REL16_LO", 2, 0xFFFF, "#lo(S + A - P)", "S+A-P"),
    RelocType(133, "R_PPC64_GOT_PCREL34", 8, 0, "G(S + A) - P (34-bit, prefixed)", "S+A",
              handler="got_pcrel34", pcrel=True),
    # types module_64.c rejects ("Unknown ADD relocation")
    RelocType(0, "R_PPC64_NONE", 0, 0, "none", "none", handler="unknown", handled=False),
    RelocType(3, "R_PPC64_ADDR16", 2, 0xFFFF, "S + A", "S+A", handler="unknown", handled=False),
    RelocType(4, "R_PPC64_ADDR16_LO", 2, 0xFFFF, "#lo(S + A)", "S+A", handler="unknown",
              handled=False),
    RelocType(6, "R_PPC64_ADDR16_HA", 2, 0xFFFF, "#ha(S + A)", "S+A", "ha", handler="unknown",
              handled=False),
    RelocType(11, "R_PPC64_REL14", 4, 0xFFFC, "(S + A - P) >> 2", "S+A-P", handler="unknown",
              handled=False),
    RelocType(49, "R_PPC64_TOC16_HI", 2, 0xFFFF, "#hi(S + A - .TOC.)", "S+A-TOC",
              handler="unknown", handled=False),
    RelocType(249, "R_PPC64_REL16", 2, 0xFFFF, "S + A - P", "S+A-P", handler="unknown",
              handled=False),
    RelocType(251, "R_PPC64_REL16_HI", 2, 0xFFFF, "#hi(S + A - P)", "S+A-P", handler="unknown",
              handled=False),
]

#: every known type by number
RELOC_TYPES: dict[int, RelocType] = {r.num: r for r in _ROWS}
#: by name, the kernel's and the ABI's: BY_NAME["R_PPC_REL24"] is BY_NAME["R_PPC64_REL24"]
BY_NAME: dict[str, RelocType] = {**{r.abi_name: r for r in _ROWS}, **{r.name: r for r in _ROWS}}

R_PPC64_ADDR32 = 1
R_PPC_REL24 = R_PPC64_REL24 = 10
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
R_PPC64_REL24_NOTOC = 116
R_PPC64_ENTRY = 118
R_PPC64_PCREL34 = 132
R_PPC64_GOT_PCREL34 = 133
R_PPC64_REL16_LO = 250
R_PPC64_REL16_HA = 252


def handled_types(pcrel: bool = False) -> list[RelocType]:
    """The types apply_relocate_add accepts in a kernel built with/without PCREL."""
    return [r for r in _ROWS if r.available(pcrel)]


def type_name(num: int) -> str:
    """The ABI's R_PPC64_* name of ``num`` (or ``R_PPC64_<num>`` for types not in the table)."""
    row = RELOC_TYPES.get(num)
    return row.abi_name if row else f"R_PPC64_{num}"


def kernel_alias(num: int) -> str | None:
    """The kernel's own spelling of ``num`` where module_64.c spells it differently from the
    ABI (``R_PPC_REL24`` for ``R_PPC64_REL24``), else None."""
    row = RELOC_TYPES.get(num)
    return row.name if row is not None and row.name != row.abi_name else None


def display_name(num: int) -> str:
    """``R_PPC64_REL24 (kernel: R_PPC_REL24)``, or just the ABI name."""
    alias = kernel_alias(num)
    return type_name(num) + (f" (kernel: {alias})" if alias else "")


#: the name strategies/_ppc.py looks up
name_of = type_name
