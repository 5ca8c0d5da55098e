"""Diff an engine's RunResult against a reference link of the same object at the same layout.

The inputs the linker needs are re-derived here from the scenario, independently of the model:
the placement (from ``RunResult.placements``), my_r2 (kernel-facts 1.1: the `.toc` section's
address rounded down to 256, + 0x8000; `.stubs` when there is no `.toc`) and each external
symbol's value from the symbol world the way the kernel resolves it (SHN_UNDEF: simplify_symbols
after dedotify, kernel/module/main.c + module_64.c; SHN_LIVEPATCH: klp_resolve_symbols, sympos
semantics of klp_find_object_symbol, kernel/livepatch/core.c, 6.12).

Only relocations the kernel accepted are compared (their step returned 0), only types both sides
compute the same way (:data:`COMPARABLE`), and only fields no other relocation overlaps (an
external REL24 also owns the word after it, where restore_r2 writes). REL24 to an external symbol
is compared by branch destination: the model's branch followed through its `.stubs` entry, the
linker's through its own stub (:mod:`ppcreloc.reference.stubwalk`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ppcreloc.bits import M64
from ppcreloc.elf.model import (
    SHF_ALLOC,
    SHF_RELA_LIVEPATCH,
    SHN_LIVEPATCH,
    SHN_UNDEF,
    SHT_RELA,
    ElfObject,
)
from ppcreloc.errors import PpcrelocError
from ppcreloc.records import RunResult, Scenario
from ppcreloc.reference.formulas import NAMES, R_PPC64_REL24, TYPES, is_external
from ppcreloc.reference.linkers import LINKERS, LinkResult
from ppcreloc.reference.stubwalk import StubWalkError, follow

NOP = (0x6000_0000).to_bytes(4, "little")

_LD_TYPES = frozenset({
    38, 1, 26, 44, 51,  # ADDR64, ADDR32, REL32, REL64, TOC
    47, 48, 50, 63, 64,  # TOC16, TOC16_LO, TOC16_HA, TOC16_DS, TOC16_LO_DS
    250, 252, 10,  # REL16_LO, REL16_HA, REL24
})
#: Types each linker computes exactly as apply_relocate_add does (references.md). lld's TOC16
#: range differs ([-32768, 65535]) but only kernel-accepted relocations are compared.
COMPARABLE: dict[str, frozenset[int]] = {"gnu-ld": _LD_TYPES, "lld": _LD_TYPES,
                                         "zig-lld": _LD_TYPES}


def _quirk(linker: str, rtype: int, addend: int, external: bool, shared_stub: bool,
           word: bytes) -> str | None:
    """Why a relocation is not comparable with ``linker`` although its type is (measured).

    Both linkers store .TOC. + A for R_PPC64_TOC where the kernel ignores A. GNU ld 2.40 makes
    one call stub per external symbol, whatever the addends of the calls to it, and sends every
    such call to it (so a call with an addend, or a call to a symbol also called with another
    addend, ends at the wrong place); lld, like the kernel's stub_for_addr(S + A), keys stubs
    by S + A. lld (14 and 22) leaves a REL24 whose word is exactly a nop untouched.
    """
    if rtype == 51 and addend:
        return "R_PPC64_TOC with an addend: linkers store .TOC. + A, the kernel .TOC."
    if linker == "gnu-ld" and rtype == R_PPC64_REL24 and external and (addend or shared_stub):
        return "GNU ld shares one stub among calls to a symbol with different addends"
    if linker != "gnu-ld" and rtype == R_PPC64_REL24 and word == NOP:
        return "lld does not relocate a REL24 on a nop"
    return None


class CompareError(PpcrelocError):
    """A scenario this comparison does not support (e.g. a big-endian object)."""


@dataclass(frozen=True)
class Mismatch:
    """One relocated field where the model and the reference disagree.

    ``kind`` is "bytes" (field bytes differ), "branch" (an external REL24 reaches a different
    destination) or "walk" (a branch could not be followed on one side).
    """

    linker: str
    kind: str
    section: int
    offset: int
    type: int
    model: bytes | int | None
    reference: bytes | int | None
    detail: str = ""

    def __str__(self) -> str:
        def show(v: bytes | int | None) -> str:
            return v.hex() if isinstance(v, bytes) else f"{v:#x}" if isinstance(v, int) else "-"
        return (f"{self.linker}: {NAMES.get(self.type, self.type)} at section {self.section}"
                f"+{self.offset:#x}: model {show(self.model)} != {show(self.reference)} "
                f"({self.kind}{': ' + self.detail if self.detail else ''})")


def my_r2(obj: ElfObject, placements: Mapping[int, int]) -> int:
    """The module's TOC base (module_64.c my_r2, 6.1-6.12): the *last* section called `.toc`
    (module_frob_arch_sections keeps the last match), else the last `.stubs`; its address
    & ~0xff, + 0x8000. CompareError when that section has no address."""
    for name in (".toc", ".stubs"):
        found = [i for i, s in enumerate(obj.sections) if i and s.name == name]
        if found:
            if found[-1] not in placements:
                raise CompareError(f"the TOC section {name} ({found[-1]}) is not placed")
            return ((placements[found[-1]] & ~0xFF) + 0x8000) & M64
    raise CompareError("the object has neither .toc nor .stubs: no TOC base")


_KLP_RELA = re.compile(r"^\.klp\.rela\.([^.]{1,55})\.")
#: sscanf(".klp.sym.%55[^.].%511[^,],%lu") (kernel/livepatch/core.c): trailing text is ignored
_KLP_SYM = re.compile(r"^\.klp\.sym\.([^.]{1,55})\.([^,]{1,511}),\s*\+?(\d+)")


def klp_objname(obj: ElfObject, relsec: int) -> str | None:
    """The object a livepatch RELA section belongs to (".klp.rela.<obj>."), None for plain."""
    sec = obj.sections[relsec]
    if not sec.flags & SHF_RELA_LIVEPATCH:
        return None
    m = _KLP_RELA.match(sec.name)
    return m.group(1) if m else ""


def applied(scenario: Scenario, result: RunResult) -> tuple[int, dict[int, int]]:
    """The last step of the successful prefix, and each RELA section applied by then -> the step.

    Plain RELA and ``.klp.rela.vmlinux.*`` are applied by "load"; ``.klp.rela.<obj>.*`` by each
    "coming" of ``obj`` (the last one wins) and dropped again by its "going" (a clear may have
    changed their fields). The prefix stops before the first failing step.
    """
    obj = scenario.obj
    last = -1
    done: dict[int, int] = {}
    for k, (step, res) in enumerate(zip(scenario.steps, result.steps, strict=False)):
        if res.rc != 0 or res.fault is not None:
            break
        last = k
        for relsec in obj.rela_sections():
            target = obj.sections[relsec].info
            if not (0 < target < len(obj.sections)) or not obj.sections[target].flags & SHF_ALLOC:
                continue
            objname = klp_objname(obj, relsec)
            if step.kind == "load" and objname in (None, "vmlinux"):
                done[relsec] = k
            elif objname is not None and objname == step.objname:
                if step.kind == "coming":
                    done[relsec] = k
                elif step.kind == "going":
                    done.pop(relsec, None)
    return last, done


def resolve_symbols(scenario: Scenario, last: int) -> dict[str, int]:
    """Each external symbol's value after steps[0..last], as the kernel resolves it."""
    generation: dict[str, int] = {}
    for step in scenario.steps[: last + 1]:
        if step.kind == "coming" and step.objname is not None:
            generation[step.objname] = step.generation
    world = scenario.world
    out: dict[str, int] = {}
    for sym in scenario.obj.symbols[1:]:
        if sym.shndx == SHN_UNDEF and sym.name and sym.name != ".TOC.":
            name = sym.name[1:] if sym.name.startswith(".") else sym.name  # dedotify
            value = world.resolve_export(name)
        elif sym.shndx == SHN_LIVEPATCH:
            m = _KLP_SYM.match(sym.name)
            if m is None:
                continue
            objname, name, pos = m.group(1), m.group(2), int(m.group(3))
            matches = world.lookup(objname, name, generation.get(objname, 0))
            if pos == 0:
                value = matches[0] if len(matches) == 1 else None
            else:
                value = matches[pos - 1] if len(matches) >= pos else None
        else:
            continue
        if value is not None:
            out[sym.name] = value & M64
    return out


@dataclass
class ReferenceInputs:
    """What a reference link of a scenario needs, derived from the model's run."""

    obj: ElfObject
    placements: dict[int, int]
    symbols: dict[str, int]
    toc: int
    last: int
    relsecs: dict[int, int]


def reference_inputs(scenario: Scenario, result: RunResult) -> ReferenceInputs:
    """The object (only the RELA sections the kernel applied), placements, symbols and TOC."""
    if scenario.obj.big_endian:
        raise CompareError("linker comparison supports little-endian (ELFv2) objects only")
    obj = scenario.obj.clone()
    last, relsecs = applied(scenario, result)
    for relsec in obj.rela_sections():
        if relsec not in relsecs:
            obj.relocs[relsec] = []
    placements = {p.index: p.addr for p in result.placements
                  if 0 < p.index < len(obj.sections) and obj.sections[p.index].type != SHT_RELA
                  and obj.sections[p.index].flags & SHF_ALLOC}
    try:
        toc = my_r2(obj, placements) if last >= 0 else 0
    except CompareError:  # a TOC base no linker can reproduce: nothing is comparable
        last = -1
    if last < 0:
        return ReferenceInputs(obj, placements, {}, 0, -1, {})
    symbols = resolve_symbols(scenario, last)
    return ReferenceInputs(obj, placements, symbols, toc, last, relsecs)


def _field_size(rtype: int) -> int:
    rt = TYPES.get(rtype)
    return rt.field.size if rt is not None else 8


def _occupied(ref: ReferenceInputs) -> list[tuple[int, int, int]]:
    """(start, end, owner id) of every address a relocation writes, absolute, so a relocation
    past its own section's end (the kernel does not check r_offset) clobbers what lies there."""
    obj = ref.obj
    out = []
    for relsec in ref.relsecs:
        base = ref.placements.get(obj.sections[relsec].info)
        if base is None:
            continue
        for index, r in enumerate(obj.relocs.get(relsec, [])):
            owner = relsec << 32 | index
            p = base + r.offset
            out.append((p, p + _field_size(r.type), owner))
            if r.type == R_PPC64_REL24 and is_external(obj, r.sym):
                out.append((p + 4, p + 8, owner))  # restore_r2
    return out


#: where r13 (the paca) points while a model stub runs: the kernel's ftrace stubs load
#: paca->kernel_toc (create_ftrace_stub, module_64.c 6.1-6.12); nothing else is mapped there
PACA = 0xC000_0000_FFFF_0000


def _model_reader(scenario: Scenario, result: RunResult,
                  last: int) -> Callable[[int, int], bytes | None]:
    memory = result.steps[last].memory
    spans = [(p.addr, memory[p.index]) for p in result.placements if p.index in memory]
    # the memory right after .stubs, where an exhausted .stubs spills its next stub
    spans.append((result.stubs[0] + result.stubs[1], result.steps[last].after_stubs))
    toc_field = PACA + scenario.config.paca_kernel_toc_offset
    spans.append((toc_field, scenario.world.kernel_toc_addr().to_bytes(8, "little")))

    def read(addr: int, size: int) -> bytes | None:
        for base, data in spans:
            if base <= addr and addr + size <= base + len(data):
                return data[addr - base : addr - base + size]
        return None

    return read


def comparable(ref: ReferenceInputs, link: LinkResult,
               stubs: tuple[int, int] = (0, 0)) -> list[tuple[int, int]]:
    """The (RELA section, index) pairs :func:`compare` checks: applied by the kernel, given to
    the linker, a type both compute alike, no quirk, a field no other relocation writes and,
    for external calls, a `.stubs` (``stubs`` = address, size) no relocation writes into."""
    obj = ref.obj
    occupied = _occupied(ref)
    stubs_hit = any(s < stubs[0] + stubs[1] and stubs[0] < e for s, e, _ in occupied)
    linked = set(link.relocs)
    types = COMPARABLE[link.linker]
    called_with_addend = {obj.relocs[rs][i].sym for rs, i in linked
                          if obj.relocs[rs][i].type == R_PPC64_REL24 and obj.relocs[rs][i].addend}
    out = []
    for relsec in ref.relsecs:
        target = obj.sections[relsec].info
        for index, r in enumerate(obj.relocs[relsec]):
            if (relsec, index) not in linked or r.type not in types:
                continue
            p = ref.placements[target] + r.offset
            size = _field_size(r.type)
            owner = relsec << 32 | index
            if any(s < p + size and p < e and o != owner for s, e, o in occupied):
                continue
            external = r.type == R_PPC64_REL24 and is_external(obj, r.sym)
            if external and stubs_hit:
                continue
            word = obj.sections[target].data[r.offset : r.offset + 4]
            if _quirk(link.linker, r.type, r.addend, external,
                      r.sym in called_with_addend, word) is None:
                out.append((relsec, index))
    return out


def compare(scenario: Scenario, result: RunResult, link: LinkResult,
            inputs: ReferenceInputs | None = None) -> list[Mismatch]:
    """Every mismatch between the model's relocated memory and the linker's, as data."""
    ref = inputs or reference_inputs(scenario, result)
    if ref.last < 0:
        return []
    obj = ref.obj
    memory = result.steps[ref.last].memory
    # a stub written past the end of .stubs (exhaustion) is still followed: the destination
    # is what matters here, the out-of-bounds write is the oracle's business
    end = result.stubs[0] + result.stubs[1] + len(result.steps[ref.last].after_stubs)
    stubs = [(result.stubs[0], end)]
    read = _model_reader(scenario, result, ref.last)
    out: list[Mismatch] = []
    for relsec, index in comparable(ref, link, result.stubs):
        target = obj.sections[relsec].info
        r = obj.relocs[relsec][index]
        if r.type == R_PPC64_REL24 and is_external(obj, r.sym):
            out.extend(_branch(link, ref, read, stubs, target, r.offset, memory))
            continue
        size = _field_size(r.type)
        mine = memory[target][r.offset : r.offset + size]
        theirs = link.sections[target][r.offset : r.offset + size]
        if mine != theirs:
            out.append(Mismatch(link.linker, "bytes", target, r.offset, r.type, mine, theirs))
    return out


def _branch(link: LinkResult, ref: ReferenceInputs, read: Callable[[int, int], bytes | None],
            stubs: list[tuple[int, int]], section: int, offset: int,
            memory: Mapping[int, bytes]) -> list[Mismatch]:
    """Compare where an external REL24 ends up on both sides."""
    theirs = link.branch_targets.get((section, offset))
    insn = int.from_bytes(memory[section][offset : offset + 4], "little")
    try:
        mine = follow(ref.placements[section] + offset, insn, read,
                      lambda a: any(lo <= a < hi for lo, hi in stubs), ref.toc,
                      regs={13: PACA}).destination
    except StubWalkError as e:
        return [Mismatch(link.linker, "walk", section, offset, R_PPC64_REL24, None,
                         theirs.destination if theirs else None, f"model: {e}")]
    if theirs is None or theirs.destination is None:
        detail = theirs.error if theirs is not None else "no branch target recorded"
        return [Mismatch(link.linker, "walk", section, offset, R_PPC64_REL24, mine, None,
                         f"{link.linker}: {detail}")]
    if mine != theirs.destination:
        return [Mismatch(link.linker, "branch", section, offset, R_PPC64_REL24, mine,
                         theirs.destination, f"via {theirs.stub_name or 'direct'}")]
    return []


def check(scenario: Scenario, result: RunResult, linker: str = "gnu-ld",
          producer: str = "auto") -> tuple[LinkResult, list[Mismatch]]:
    """Link the scenario's object as the model placed it and return the link and mismatches."""
    ref = reference_inputs(scenario, result)
    link = LINKERS[linker](ref.obj, ref.placements, ref.symbols, ref.toc, producer=producer)
    return link, compare(scenario, result, link, ref)
