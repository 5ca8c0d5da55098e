"""The ppc64 relocation types: one row per type, read by the engine, the strategies and references.

Each row (keyword-only) names the type (arch/powerpc/include/uapi/asm/elf.h numbers), how many
bytes at P the kernel touches, which bits of that field it replaces, the psABI formula, the shape
of its case in apply_relocate_add and in which builds (PCREL or TOC) the case exists. The
computation and checks themselves are the kernel's switch in ppcreloc/arch/relocate.py.
``handled=False`` rows are types the kernel rejects with "Unknown ADD relocation" (strategies use
them to exercise that path). The ``R_*`` constants are read from the rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ppcreloc.ppc64.insn import M64

Handler = Literal["field", "rel24", "entry", "noop", "pcrel34", "got_pcrel34", "unknown"]


@dataclass(frozen=True, kw_only=True)
class RelocType:
    """One relocation type as module_64.c handles it (its case of apply_relocate_add)."""

    num: int
    name: str
    size: int  # bytes written at P (0: nothing, e.g. TOCSAVE)
    mask: int  # bits of the native-endian field at P that are replaced
    formula: str  # psABI notation, for humans and reference linkers
    #: the shape of its case: a plain field store, the REL24 stub path, ENTRY's prologue
    #: rewrite, TOCSAVE's nothing, the two prefixed PCREL forms, or "Unknown ADD relocation"
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


_ROWS = [
    # handled by module_64.c (6.12 apply_relocate_add, in its case order)
    RelocType(num=1, name="R_PPC64_ADDR32", size=4, mask=0xFFFF_FFFF, formula="S + A"),
    RelocType(num=38, name="R_PPC64_ADDR64", size=8, mask=M64, formula="S + A"),
    RelocType(num=51, name="R_PPC64_TOC", size=8, mask=M64, formula=".TOC.", pcrel=False),
    RelocType(num=47, name="R_PPC64_TOC16", size=2, mask=0xFFFF, formula="S + A - .TOC.",
              pcrel=False),
    RelocType(num=48, name="R_PPC64_TOC16_LO", size=2, mask=0xFFFF,
              formula="#lo(S + A - .TOC.)", pcrel=False),
    RelocType(num=63, name="R_PPC64_TOC16_DS", size=2, mask=0xFFFC,
              formula="(S + A - .TOC.) >> 2", pcrel=False),
    RelocType(num=64, name="R_PPC64_TOC16_LO_DS", size=2, mask=0xFFFC,
              formula="#lo(S + A - .TOC.) >> 2", pcrel=False),
    RelocType(num=50, name="R_PPC64_TOC16_HA", size=2, mask=0xFFFF,
              formula="#ha(S + A - .TOC.)", pcrel=False),
    # module_64.c spells type 10 R_PPC_REL24 (the 32-bit name); the ABI and readelf R_PPC64_REL24
    RelocType(num=10, name="R_PPC_REL24", size=4, mask=0x03FFFFFC,
              formula="(S + A - P) >> 2 (via stub if external)", handler="rel24",
              abi="R_PPC64_REL24"),
    RelocType(num=116, name="R_PPC64_REL24_NOTOC", size=4, mask=0x03FFFFFC,
              formula="(S + A - P) >> 2 (via stub if external)", handler="rel24", pcrel=True),
    RelocType(num=44, name="R_PPC64_REL64", size=8, mask=M64, formula="S + A - P"),
    RelocType(num=26, name="R_PPC64_REL32", size=4, mask=0xFFFF_FFFF, formula="S + A - P"),
    RelocType(num=132, name="R_PPC64_PCREL34", size=8, mask=0,
              formula="S + A - P (34-bit, prefixed)", handler="pcrel34", pcrel=True),
    RelocType(num=109, name="R_PPC64_TOCSAVE", size=0, mask=0, formula="none (marker)",
              handler="noop", pcrel=False),
    RelocType(num=118, name="R_PPC64_ENTRY", size=8, mask=0,
              formula=".TOC. - P (rewrites ld/add prologue)", handler="entry"),
    RelocType(num=252, name="R_PPC64_REL16_HA", size=2, mask=0xFFFF, formula="#ha(S + A - P)"),
    RelocType(num=250, name="R_PPC64_REL16_LO", size=2, mask=0xFFFF, formula="#lo(S + A - P)"),
    RelocType(num=133, name="R_PPC64_GOT_PCREL34", size=8, mask=0,
              formula="G(S + A) - P (34-bit, prefixed)", handler="got_pcrel34", pcrel=True),
    # types module_64.c rejects ("Unknown ADD relocation")
    RelocType(num=0, name="R_PPC64_NONE", size=0, mask=0, formula="none", handler="unknown",
              handled=False),
    RelocType(num=3, name="R_PPC64_ADDR16", size=2, mask=0xFFFF, formula="S + A",
              handler="unknown", handled=False),
    RelocType(num=4, name="R_PPC64_ADDR16_LO", size=2, mask=0xFFFF, formula="#lo(S + A)",
              handler="unknown", handled=False),
    RelocType(num=6, name="R_PPC64_ADDR16_HA", size=2, mask=0xFFFF, formula="#ha(S + A)",
              handler="unknown", handled=False),
    RelocType(num=11, name="R_PPC64_REL14", size=4, mask=0xFFFC, formula="(S + A - P) >> 2",
              handler="unknown", handled=False),
    RelocType(num=49, name="R_PPC64_TOC16_HI", size=2, mask=0xFFFF,
              formula="#hi(S + A - .TOC.)", handler="unknown", handled=False),
    RelocType(num=249, name="R_PPC64_REL16", size=2, mask=0xFFFF, formula="S + A - P",
              handler="unknown", handled=False),
    RelocType(num=251, name="R_PPC64_REL16_HI", size=2, mask=0xFFFF, formula="#hi(S + A - P)",
              handler="unknown", handled=False),
]

#: every known type by number
RELOC_TYPES: dict[int, RelocType] = {r.num: r for r in _ROWS}
#: by name, the kernel's and the ABI's: BY_NAME["R_PPC_REL24"] is BY_NAME["R_PPC64_REL24"]
BY_NAME: dict[str, RelocType] = {**{r.abi_name: r for r in _ROWS}, **{r.name: r for r in _ROWS}}

# The R_* numbers, each read from its row (a name missing from the table fails at import);
# tests/ppc64/test_reloctypes.py checks that every row has its constant and nothing else does.
R_PPC64_NONE = BY_NAME["R_PPC64_NONE"].num
R_PPC64_ADDR32 = BY_NAME["R_PPC64_ADDR32"].num
R_PPC64_ADDR16 = BY_NAME["R_PPC64_ADDR16"].num
R_PPC64_ADDR16_LO = BY_NAME["R_PPC64_ADDR16_LO"].num
R_PPC64_ADDR16_HA = BY_NAME["R_PPC64_ADDR16_HA"].num
R_PPC_REL24 = BY_NAME["R_PPC_REL24"].num
R_PPC64_REL24 = BY_NAME["R_PPC64_REL24"].num
R_PPC64_REL14 = BY_NAME["R_PPC64_REL14"].num
R_PPC64_REL32 = BY_NAME["R_PPC64_REL32"].num
R_PPC64_ADDR64 = BY_NAME["R_PPC64_ADDR64"].num
R_PPC64_REL64 = BY_NAME["R_PPC64_REL64"].num
R_PPC64_TOC16 = BY_NAME["R_PPC64_TOC16"].num
R_PPC64_TOC16_LO = BY_NAME["R_PPC64_TOC16_LO"].num
R_PPC64_TOC16_HI = BY_NAME["R_PPC64_TOC16_HI"].num
R_PPC64_TOC16_HA = BY_NAME["R_PPC64_TOC16_HA"].num
R_PPC64_TOC = BY_NAME["R_PPC64_TOC"].num
R_PPC64_TOC16_DS = BY_NAME["R_PPC64_TOC16_DS"].num
R_PPC64_TOC16_LO_DS = BY_NAME["R_PPC64_TOC16_LO_DS"].num
R_PPC64_TOCSAVE = BY_NAME["R_PPC64_TOCSAVE"].num
R_PPC64_REL24_NOTOC = BY_NAME["R_PPC64_REL24_NOTOC"].num
R_PPC64_ENTRY = BY_NAME["R_PPC64_ENTRY"].num
R_PPC64_PCREL34 = BY_NAME["R_PPC64_PCREL34"].num
R_PPC64_GOT_PCREL34 = BY_NAME["R_PPC64_GOT_PCREL34"].num
R_PPC64_REL16 = BY_NAME["R_PPC64_REL16"].num
R_PPC64_REL16_LO = BY_NAME["R_PPC64_REL16_LO"].num
R_PPC64_REL16_HI = BY_NAME["R_PPC64_REL16_HI"].num
R_PPC64_REL16_HA = BY_NAME["R_PPC64_REL16_HA"].num


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


#: the name ppcreloc/strategies/_ppc.py looks up
name_of = type_name
