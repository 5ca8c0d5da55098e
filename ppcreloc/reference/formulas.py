"""The textbook RELA formulas of the 64-bit ELF V2 ABI for Power, as an ABI-level reference.

Written from the ABI's relocation table (section 3.5.3, "Relocation Types"), *not* from the kernel:
each type is one row naming its field (word32, doubleword64, half16, half16ds, low24, low14), the
value it stores (S + A, S + A - P, S + A - .TOC., .TOC.) and the #lo/#hi/#ha/#higher... operator.
The kernel model (ppcreloc/) and this table are kept apart on purpose, so an encoding slip in one
shows up as a mismatch against the other and against GNU ld / lld (ppcreloc/reference/linkers.py).

Notation as in the ABI: S symbol value, A addend, P place (address of the field), .TOC. the TOC
base. Fields are stored in the object's byte order; only the bits a field owns change.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ppcreloc.bits import M64
from ppcreloc.elf.model import (
    SHF_ALLOC,
    SHN_ABS,
    SHN_COMMON,
    SHN_LIVEPATCH,
    SHN_UNDEF,
    SHT_NOBITS,
    SHT_RELA,
    STT_SECTION,
    ByteOrder,
    ElfObject,
)


@dataclass(frozen=True)
class Field:
    """Where a relocation stores its value: ``size`` bytes at P, of which ``mask`` bits change.

    ``shift`` is how far left the value is shifted into the field before masking (0 for all
    ABI fields: low24/low14 take the byte displacement as is, its low 2 bits being the AA/LK bits).
    """

    name: str
    size: int
    mask: int


WORD32 = Field("word32", 4, 0xFFFF_FFFF)
DWORD64 = Field("doubleword64", 8, M64)
HALF16 = Field("half16", 2, 0xFFFF)
HALF16DS = Field("half16ds", 2, 0xFFFC)
LOW24 = Field("low24", 4, 0x03FF_FFFC)
LOW14 = Field("low14", 4, 0x0000_FFFC)


@dataclass(frozen=True)
class Inputs:
    """The ABI's S, A, P and .TOC. for one relocation (all as Python ints; S, P, TOC unsigned)."""

    s: int
    a: int
    p: int
    toc: int

    @property
    def sa(self) -> int:
        """S + A, mod 2^64."""
        return (self.s + self.a) & M64

    @property
    def sap(self) -> int:
        """S + A - P, mod 2^64."""
        return (self.s + self.a - self.p) & M64

    @property
    def satoc(self) -> int:
        """S + A - .TOC., mod 2^64."""
        return (self.s + self.a - self.toc) & M64


def signed(x: int, bits: int = 64) -> int:
    """``x`` (taken mod 2^bits) as a two's complement number."""
    x &= (1 << bits) - 1
    return x - (1 << bits) if x >> (bits - 1) else x


# The ABI's half16 operators (section 3.5.3, "Relocation Notations").
def lo(x: int) -> int:
    """#lo(x) = x & 0xffff."""
    return x & 0xFFFF


def hi(x: int) -> int:
    """#hi(x) = (x >> 16) & 0xffff."""
    return (x >> 16) & 0xFFFF


def ha(x: int) -> int:
    """#ha(x) = ((x + 0x8000) >> 16) & 0xffff."""
    return (((x & M64) + 0x8000) >> 16) & 0xFFFF


def higher(x: int) -> int:
    """#higher(x) = (x >> 32) & 0xffff."""
    return (x >> 32) & 0xFFFF


def highera(x: int) -> int:
    """#highera(x) = ((x + 0x8000) >> 32) & 0xffff."""
    return (((x & M64) + 0x8000) >> 32) & 0xFFFF


def highest(x: int) -> int:
    """#highest(x) = (x >> 48) & 0xffff."""
    return (x >> 48) & 0xFFFF


def highesta(x: int) -> int:
    """#highesta(x) = ((x + 0x8000) >> 48) & 0xffff."""
    return (((x & M64) + 0x8000) >> 48) & 0xFFFF


def _fits(bits: int) -> Callable[[int], bool]:
    lim = 1 << (bits - 1)
    return lambda v: -lim <= signed(v) < lim


@dataclass(frozen=True)
class RelocType:
    """One row of the ABI table: number, name, field, value, and the ABI's overflow check.

    ``check`` is None where this table makes no claim (the ABI text varies between revisions);
    it is given where the ABI says "verify" and the kernel agrees (TOC16, TOC16_DS, REL24,
    REL14, REL32). ``align`` is the alignment the stored value must have (DS forms: 4).
    """

    number: int
    name: str
    field: Field
    value: Callable[[Inputs], int]
    check: Callable[[int], bool] | None = None
    align: int = 1


def _t(number: int, name: str, field: Field, value: Callable[[Inputs], int],
       check: Callable[[int], bool] | None = None, align: int = 1) -> RelocType:
    return RelocType(number, name, field, value, check, align)


#: The ppc64 relocation types of the ABI table that a static link computes, by number.
TYPES: dict[int, RelocType] = {
    t.number: t
    for t in (
        _t(1, "R_PPC64_ADDR32", WORD32, lambda i: i.sa),
        _t(2, "R_PPC64_ADDR24", LOW24, lambda i: i.sa),
        _t(3, "R_PPC64_ADDR16", HALF16, lambda i: i.sa),
        _t(4, "R_PPC64_ADDR16_LO", HALF16, lambda i: lo(i.sa)),
        _t(5, "R_PPC64_ADDR16_HI", HALF16, lambda i: hi(i.sa)),
        _t(6, "R_PPC64_ADDR16_HA", HALF16, lambda i: ha(i.sa)),
        _t(7, "R_PPC64_ADDR14", LOW14, lambda i: i.sa),
        _t(10, "R_PPC64_REL24", LOW24, lambda i: i.sap, _fits(26), 4),
        _t(11, "R_PPC64_REL14", LOW14, lambda i: i.sap, _fits(16), 4),
        _t(24, "R_PPC64_UADDR32", WORD32, lambda i: i.sa),
        _t(26, "R_PPC64_REL32", WORD32, lambda i: i.sap, _fits(32)),
        _t(38, "R_PPC64_ADDR64", DWORD64, lambda i: i.sa),
        _t(39, "R_PPC64_ADDR16_HIGHER", HALF16, lambda i: higher(i.sa)),
        _t(40, "R_PPC64_ADDR16_HIGHERA", HALF16, lambda i: highera(i.sa)),
        _t(41, "R_PPC64_ADDR16_HIGHEST", HALF16, lambda i: highest(i.sa)),
        _t(42, "R_PPC64_ADDR16_HIGHESTA", HALF16, lambda i: highesta(i.sa)),
        _t(43, "R_PPC64_UADDR64", DWORD64, lambda i: i.sa),
        _t(44, "R_PPC64_REL64", DWORD64, lambda i: i.sap),
        _t(47, "R_PPC64_TOC16", HALF16, lambda i: i.satoc, _fits(16)),
        _t(48, "R_PPC64_TOC16_LO", HALF16, lambda i: lo(i.satoc)),
        _t(49, "R_PPC64_TOC16_HI", HALF16, lambda i: hi(i.satoc)),
        _t(50, "R_PPC64_TOC16_HA", HALF16, lambda i: ha(i.satoc)),
        _t(51, "R_PPC64_TOC", DWORD64, lambda i: i.toc),
        _t(56, "R_PPC64_ADDR16_DS", HALF16DS, lambda i: i.sa, None, 4),
        _t(57, "R_PPC64_ADDR16_LO_DS", HALF16DS, lambda i: lo(i.sa), None, 4),
        _t(63, "R_PPC64_TOC16_DS", HALF16DS, lambda i: i.satoc, _fits(16), 4),
        _t(64, "R_PPC64_TOC16_LO_DS", HALF16DS, lambda i: lo(i.satoc), None, 4),
        _t(110, "R_PPC64_ADDR16_HIGH", HALF16, lambda i: hi(i.sa)),
        _t(111, "R_PPC64_ADDR16_HIGHA", HALF16, lambda i: ha(i.sa)),
        _t(249, "R_PPC64_REL16", HALF16, lambda i: i.sap),
        _t(250, "R_PPC64_REL16_LO", HALF16, lambda i: lo(i.sap)),
        _t(251, "R_PPC64_REL16_HI", HALF16, lambda i: hi(i.sap)),
        _t(252, "R_PPC64_REL16_HA", HALF16, lambda i: ha(i.sap)),
    )
}

#: The ABI names of the types above, by number (the names gas's ``.reloc`` accepts).
NAMES: dict[int, str] = {n: t.name for n, t in TYPES.items()}
R_PPC64_REL24 = 10
R_PPC64_TOC = 51
#: relative branches, which reach a defined function at its local entry point
BRANCHES = frozenset({10, 11})


def store(field: Field, old: bytes, value: int, endian: ByteOrder) -> bytes:
    """The field's new bytes: ``value``'s bits under the mask replace those of ``old``."""
    word = int.from_bytes(old, endian)
    new = (word & ~field.mask) | (value & field.mask)
    return (new & ((1 << (8 * field.size)) - 1)).to_bytes(field.size, endian)


def local_entry_offset(other: int) -> int:
    """ELFv2 local entry offset from st_other bits 5..7 (ABI 3.4.1, "Symbol Values")."""
    return ((1 << ((other >> 5) & 7)) >> 2) << 2


@dataclass(frozen=True)
class Expected:
    """What the ABI says one relocation stores.

    ``relsec``/``index`` name the relocation in ``obj.relocs``; ``section``/``offset`` its field.
    ``external`` marks a REL24 to an undefined or livepatch symbol: a loader or linker reaches it
    through a stub, so its bytes are compared by branch target instead. ``error`` holds the
    ABI check that failed ("overflow", "misaligned"), None when the value fits.
    """

    relsec: int
    index: int
    section: int
    offset: int
    type: int
    value: int
    old: bytes
    new: bytes
    external: bool
    error: str | None


def symbol_value(obj: ElfObject, symidx: int, placements: Mapping[int, int],
                 symbols: Mapping[str, int], toc: int | None = None) -> int | None:
    """S for symbol ``symidx``: section address + st_value, st_value for SHN_ABS, ``toc`` for
    an undefined ``.TOC.``, the given value for other undefined/livepatch symbols; None when it
    cannot be known (unplaced section, unknown name, SHN_COMMON)."""
    if symidx == 0:
        return 0
    if symidx >= len(obj.symbols):
        return None
    sym = obj.symbols[symidx]
    if sym.shndx == SHN_UNDEF and sym.name == ".TOC." and toc is not None:
        return toc & M64
    if sym.shndx in (SHN_UNDEF, SHN_LIVEPATCH):
        return symbols.get(sym.name)
    if sym.shndx == SHN_ABS:
        return sym.value & M64
    if sym.shndx == SHN_COMMON or sym.shndx not in placements:
        return None
    base = placements[sym.shndx]
    return (base if sym.type == STT_SECTION else base + sym.value) & M64


def is_external(obj: ElfObject, symidx: int) -> bool:
    """True for a symbol a module reaches through a stub (SHN_UNDEF or SHN_LIVEPATCH; the
    undefined ``.TOC.`` is the TOC base, an absolute value)."""
    if not 0 < symidx < len(obj.symbols):
        return False
    sym = obj.symbols[symidx]
    return sym.shndx in (SHN_UNDEF, SHN_LIVEPATCH) and sym.name != ".TOC."


def relocate(obj: ElfObject, placements: Mapping[int, int], symbols: Mapping[str, int],
             toc: int) -> list[Expected]:
    """Apply the ABI formulas to every computable relocation of every placed SHF_ALLOC section.

    Each relocation is computed on the object's *original* bytes (no ordering effects), so
    callers must ignore fields that another relocation overlaps. Skipped: types not in
    :data:`TYPES`, targets that are not placed or NOBITS, fields that do not lie inside their
    section, symbols whose value is unknown. REL24 to a defined symbol branches to its local
    entry point (ABI 2.3.2.1: a caller sharing the TOC uses the local entry).
    """
    out: list[Expected] = []
    endian = obj.endian
    for relsec in obj.rela_sections():
        target = obj.sections[relsec].info
        if target not in placements or target >= len(obj.sections):
            continue
        tsec = obj.sections[target]
        if tsec.type in (SHT_NOBITS, SHT_RELA) or not tsec.flags & SHF_ALLOC:
            continue
        for index, r in enumerate(obj.relocs.get(relsec, [])):
            rt = TYPES.get(r.type)
            if rt is None or r.offset + rt.field.size > len(tsec.data):
                continue
            s = symbol_value(obj, r.sym, placements, symbols, toc)
            if s is None:
                continue
            external = r.type == R_PPC64_REL24 and is_external(obj, r.sym)
            if r.type in BRANCHES and not external and r.sym:
                s += local_entry_offset(obj.symbols[r.sym].other)
            p = placements[target] + r.offset
            value = rt.value(Inputs(s & M64, r.addend, p & M64, toc & M64))
            error = None
            if rt.check is not None and not rt.check(value):
                error = "overflow"
            elif value % rt.align:
                error = "misaligned"
            old = tsec.data[r.offset : r.offset + rt.field.size]
            out.append(Expected(relsec, index, target, r.offset, r.type, value, old,
                                store(rt.field, old, value, endian), external, error))
    return out
