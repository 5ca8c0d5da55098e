"""Adversarial mutations of a compiler-like :class:`~ppcreloc.strategies.objects.Case`.

Each mutation is a small function over a cloned object; :func:`mutations` draws one to three of
them. They cover what the kernel never validates (kernel-facts 4.2-4.10, module_64.c 6.12
apply_relocate_add and kernel/livepatch/core.c klp_resolve_symbols): arbitrary placeholder bytes,
relocations at the end of or past a section, overlapping targets, values out of range, unknown
types, malformed klp names, ambiguous sympos, a missing `.stubs`, and non-zero memory after it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from hypothesis import strategies as st

from ppcreloc.elf.model import SHN_LIVEPATCH, SHT_NOBITS, ElfObject, Rela, Section
from ppcreloc.records import Layout
from ppcreloc.strategies import _ppc as P
from ppcreloc.strategies._draw import BOOL, ints, pick, sublists
from ppcreloc.strategies.case import Case, note

Mutation = Callable[[st.DrawFn, Case], Case]

#: addends around every range boundary module_64.c checks (TOC16 +-0x8000, REL24 +-32 MiB,
#: REL32 +-2 GiB) and the count_relocs 32-bit truncation (kernel-facts 4.5, 4.7)
EDGE_ADDENDS = (0x7FFC, 0x8000, -0x8000, -0x8004, 0x1FF_FFFC, 0x200_0000, -0x200_0000,
                -0x200_0004, 0x7FFF_FFFF, 0x8000_0000, -0x8000_0001, 1 << 32, (1 << 32) + 8,
                -4, 2, 1 << 40)


def _all_relocs(obj: ElfObject) -> list[tuple[int, int]]:
    return [(sec, i) for sec, rs in obj.relocs.items() for i in range(len(rs))]


def _pick_reloc(draw: st.DrawFn, obj: ElfObject) -> tuple[int, Rela] | None:
    """One relocation drawn from every RELA section: (its RELA section, the Rela), or None."""
    refs = _all_relocs(obj)
    if not refs:
        return None
    relsec, index = pick(draw, refs)
    return relsec, obj.relocs[relsec][index]


def _target(obj: ElfObject, relsec: int) -> Section:
    """The section RELA section ``relsec`` applies to (its sh_info)."""
    return obj.sections[obj.sections[relsec].info]


def _placeholder_bytes(draw: st.DrawFn, case: Case) -> Case:
    """Non-zero bytes where a relocation writes (ppc64 never requires zero placeholders)."""
    picked = _pick_reloc(draw, case.obj)
    if picked is None:
        return case
    relsec, r = picked
    sec = _target(case.obj, relsec)
    if sec.type == SHT_NOBITS or r.offset >= len(sec.data):
        return case
    width = min(8, len(sec.data) - r.offset)
    junk = draw(st.binary(min_size=width, max_size=width))
    sec.data = sec.data[: r.offset] + junk + sec.data[r.offset + width:]
    return case


def _at_section_end(draw: st.DrawFn, case: Case) -> Case:
    """Move a relocation to the last word of its section (restore_r2 then reads past it)."""
    picked = _pick_reloc(draw, case.obj)
    if picked is None:
        return case
    relsec, r = picked
    r.offset = max(0, _target(case.obj, relsec).sh_size - pick(draw, (4, 2, 8)))
    return case


def _past_section(draw: st.DrawFn, case: Case) -> Case:
    """An r_offset at or beyond sh_size (never bounds-checked by the kernel)."""
    picked = _pick_reloc(draw, case.obj)
    if picked is None:
        return case
    relsec, r = picked
    r.offset = _target(case.obj, relsec).sh_size + pick(draw, (0, 4, 8, 64, 0x1000))
    return case


def _overlap(draw: st.DrawFn, case: Case) -> Case:
    """A second relocation whose target overlaps an existing one (order-dependent bytes)."""
    picked = _pick_reloc(draw, case.obj)
    if picked is None:
        return case
    relsec, r = picked
    rtype = pick(draw, sorted(P.TYPE_NAMES))
    shift = pick(draw, (0, 2, 4, -4))
    case.obj.relocs[relsec].append(Rela(max(0, r.offset + shift), r.sym, rtype, r.addend))
    return case


def _out_of_range(draw: st.DrawFn, case: Case) -> Case:
    """An addend at or past a range boundary."""
    picked = _pick_reloc(draw, case.obj)
    if picked is None:
        return case
    picked[1].addend = pick(draw, EDGE_ADDENDS)
    return case


def _unknown_type(draw: st.DrawFn, case: Case) -> Case:
    """A type apply_relocate_add does not handle ("Unknown ADD relocation")."""
    picked = _pick_reloc(draw, case.obj)
    if picked is None:
        return case
    picked[1].type = pick(draw, P.UNKNOWN_TYPES)
    return case


def _klp_symbols(obj: ElfObject) -> list[int]:
    return [i for i, s in enumerate(obj.symbols) if s.shndx == SHN_LIVEPATCH]


def _malformed_klp_name(draw: st.DrawFn, case: Case) -> Case:
    """A `.klp.sym.` name klp_resolve_symbols cannot parse, or a non-klp symbol in klp section."""
    syms = _klp_symbols(case.obj)
    if not syms:
        return case
    sym = case.obj.symbols[pick(draw, syms)]
    body = sym.name[len(".klp.sym."):]
    objname, _, rest = body.partition(".")
    name, _, pos = rest.partition(",")
    sym.name = pick(draw, (
        f".klp.sym.{objname}.{name}",  # no ",pos"
        f".klp.sym.{objname}{name},{pos}",  # no '.' between objname and name
        f".klp.sym.{'m' * 60}.{name},{pos}",  # objname longer than MODULE_NAME_LEN - 1
        f".klp.sym.{objname}.{name},x",  # pos not a number
        f".klp.sym.{objname}.{name}_missing,{pos}",  # not in kallsyms
    ))
    if draw(BOOL):
        sym.shndx = 0  # SHN_UNDEF in a klp section: "not marked as a livepatch symbol"
    return case


def _ambiguous_sympos(draw: st.DrawFn, case: Case) -> Case:
    """sympos 0 for a duplicated name, or a position past the last duplicate."""
    syms = _klp_symbols(case.obj)
    if not syms:
        return case
    sym = case.obj.symbols[pick(draw, syms)]
    head, _, _ = sym.name.rpartition(",")
    sym.name = f"{head},{pick(draw, (0, 2, 3, 9))}"
    return case


def _missing_stubs(draw: st.DrawFn, case: Case) -> Case:
    """No `.stubs` section (module_frob_arch_sections: "doesn't contain .stubs")."""
    idx = case.obj.section_index(".stubs")
    if idx is not None:
        case.obj.sections[idx].name = pick(draw, (".stubz", ".text.stubs"))
    return case


def _local_entry_bits(draw: st.DrawFn, case: Case) -> Case:
    """Arbitrary st_other bits 5..7 on a defined symbol (local entry 0..128 bytes in)."""
    defined = [i for i, s in enumerate(case.obj.symbols) if 0 < s.shndx < 0xFF00]
    if defined:
        case.obj.symbols[pick(draw, defined)].other = draw(ints(0, 7)) << 5
    return case


def _after_stubs(draw: st.DrawFn, case: Case) -> Case:
    """Non-zero memory after `.stubs` (what an exhausted stub walk reads)."""
    data = draw(st.binary(min_size=64, max_size=64))
    return dataclasses.replace(case, layout=Layout(case.layout.base, case.layout.addresses, data))


#: mutation name -> function; one row per adversarial behaviour
MUTATIONS: dict[str, Mutation] = {
    "placeholder_bytes": _placeholder_bytes,
    "at_section_end": _at_section_end,
    "past_section": _past_section,
    "overlap": _overlap,
    "out_of_range": _out_of_range,
    "unknown_type": _unknown_type,
    "malformed_klp_name": _malformed_klp_name,
    "ambiguous_sympos": _ambiguous_sympos,
    "missing_stubs": _missing_stubs,
    "local_entry_bits": _local_entry_bits,
    "after_stubs": _after_stubs,
}


@st.composite
def mutations(draw: st.DrawFn, case: Case, max_mutations: int = 3) -> Case:
    """``case`` with one to ``max_mutations`` adversarial mutations applied (on a clone)."""
    names = draw(sublists(tuple(sorted(MUTATIONS)), 1, max_mutations))
    case = dataclasses.replace(case, obj=case.obj.clone(), placeholders="adversarial")
    for name in names:
        note(f"mutation {name}")
        case = MUTATIONS[name](draw, case)
    return dataclasses.replace(case, mutations=case.mutations + tuple(names))
