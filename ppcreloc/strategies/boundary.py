"""Boundary objects: every range and alignment check of apply_relocate_add met exactly.

Each case is a small compiler-like module whose one *boundary* relocation computes a chosen value:
exactly at a limit, one step below or one step above it. The value is set by pinning sections
(the caller, the callee, `.toc`, `.data`) at chosen distances in the :class:`Layout`, as
module_memory_alloc might place them, with a small addend for the low bits. The limits
(module_64.c, 6.12 and 6.1, apply_relocate_add and its helpers):

- REL24: ``value - P`` must fit 26 signed bits and be 4-aligned ("REL24 %li out of range!");
  local calls add the callee's local-entry offset (local_entry_offset, from st_other).
- TOC16: 16 signed bits ("bad TOC16 relocation"); TOC16_DS: 16 signed bits and 4-aligned;
  TOC16_LO_DS: 4-aligned ("bad TOC16_LO_DS relocation"). The TOC is my_r2: .toc + 0x8000.
- REL32: 32 signed bits ("REL32 %li out of range!").
- ENTRY: the ld/add prologue is rewritten only while ``my_r2 - P`` is in the 2 GiB window
  ``[-0x80008000, 0x7fff7fff]`` (the ``+ 0x80008000 > 0xffffffff`` test); outside it is left.
- @ha carry (TOC16_HA/LO, REL16_HA/LO): low halves at 0x7fff / 0x8000, where PPC_HA rounds up.

Beside the limits the strategy draws the other knobs module_64.c branches on: every local-entry
value (st_other bits 5..7) of a local callee; external calls followed by ``nop``, the TOC restore
already in place, ``bl _mcount`` (exempt, restore_r2's is_mprofile_ftrace_call) or another word
("Expected nop after call"), sibling ``b`` (restore_r2 skips non-link branches); repeated calls
to one target (stub_for_addr reuses the stub); and REL24 addends that collide modulo 2**32
(count_relocs keeps r_addend in an ``unsigned int``, so it counts them once); the DS-form word
under TOC16_DS / TOC16_LO_DS / ENTRY as ``ld``, ``ldu`` or ``lwa`` (XO bits the ``0xfffc`` masks
keep, and ENTRY's plain-``ld`` test); and where the cluster sits in its 4 KiB page (bits 8..11,
which my_r2's ``& ~0xff`` keeps).

Each case also calls a target module's function through a klp symbol, so campaigns bring a
target object up and down. :func:`boundary_case` builds one case for a given :class:`Point`
(tests use it deterministically); :func:`boundary_objects` is the Hypothesis strategy. With
``outside=False`` only points the kernel accepts are drawn: the invariant campaign (``fuzz``)
would otherwise report every over-limit case as a failed apply; ``diff`` draws all of them.
"""

from __future__ import annotations

import dataclasses
import struct
from dataclasses import dataclass, field
from functools import lru_cache

from hypothesis import strategies as st

from ppcreloc.elf.builder import ObjectBuilder, SymRef
from ppcreloc.elf.model import SHF_ALLOC, SHF_WRITE, SHN_LIVEPATCH, STB_GLOBAL, STB_LOCAL, STT_FUNC
from ppcreloc.ppc64.insn import local_entry_offset
from ppcreloc.records import Layout
from ppcreloc.strategies import _ppc as P
from ppcreloc.strategies._draw import Pick, Prod, count, draw_space
from ppcreloc.strategies.objects import Case, note
from ppcreloc.strategies.worlds import SymbolChoice, WorldSpec, resolvable, symbol_worlds

#: where the pinned sections cluster: 256 MiB above the default base (`.stubs`, packed near the
#: base, stays in range of my_r2: stub_for_addr refuses a stub over 2 GiB from it)
HOME = Layout().base + 0x1000_0000
#: my_r2 for a `.toc` pinned at HOME (module_64.c my_r2: (sh_addr & ~0xff) + 0x8000)
MY_R2 = HOME + 0x8000
#: `.data` for TOC-relative targets, far below `.toc` so any reachable target is a positive addend
DATA_HOME = HOME - 0x100_0000
#: a word restore_r2 rejects after a call: mr r31,r3
OTHER_WORD = 0x7C7F_1B78


@dataclass(frozen=True)
class Point:
    """One value of one check: ``kind`` (which relocation), ``limit`` label, ``where``
    (``at``, ``below``, ``above``) and the ``value`` the relocation computes there.

    ``ok`` is what the kernel does: True, the relocation is applied (for ENTRY: the prologue
    rewritten); False, rejected with ``message`` (for ENTRY: left as it is).
    """

    kind: str
    limit: str
    where: str
    value: int
    ok: bool
    message: str = ""

    @property
    def label(self) -> str:
        """The hypothesis.event text (``boundary REL24 max below``)."""
        return f"boundary {self.kind} {self.limit} {self.where}"


@dataclass(frozen=True)
class _Limit:
    kind: str
    limit: str
    at: int
    step: int
    #: which neighbours the kernel rejects ("above", "below" or both)
    outside: tuple[str, ...]
    message: str


#: (kind, limit label, value at the limit, step to the neighbours, rejected side, message).
#: The messages are module_64.c's pr_err formats (6.12, apply_relocate_add).
_LIMITS: tuple[_Limit, ...] = (
    _Limit("REL24", "max", 0x1FF_FFFC, 4, ("above",), "REL24 %li out of range!"),
    _Limit("REL24", "min", -0x200_0000, 4, ("below",), "REL24 %li out of range!"),
    _Limit("REL24", "align", 0x100, 1, ("below", "above"), "REL24 %li out of range!"),
    _Limit("TOC16", "max", 0x7FFF, 1, ("above",), "bad TOC16 relocation"),
    _Limit("TOC16", "min", -0x8000, 1, ("below",), "bad TOC16 relocation"),
    _Limit("TOC16_DS", "max", 0x7FFC, 4, ("above",), "bad TOC16_DS relocation"),
    _Limit("TOC16_DS", "min", -0x8000, 4, ("below",), "bad TOC16_DS relocation"),
    _Limit("TOC16_DS", "align", 0x100, 1, ("below", "above"), "bad TOC16_DS relocation"),
    # 2 mod 4: the (value & 3) test, not only its low bit
    _Limit("TOC16_DS", "align 2", 0x100, 2, ("below", "above"), "bad TOC16_DS relocation"),
    _Limit("TOC16_LO_DS", "align", 0x1_2340, 1, ("below", "above"), "bad TOC16_LO_DS relocation"),
    _Limit("TOC16_LO_DS", "align 2", 0x1_2340, 2, ("below", "above"),
           "bad TOC16_LO_DS relocation"),
    _Limit("TOC16_HA", "carry 0x7fff", 0x1_7FFF, 1, (), ""),
    _Limit("TOC16_HA", "carry 0x8000", -0x1_8000, 1, (), ""),
    _Limit("REL16_HA", "carry 0x8000", 0x2_8000, 4, (), ""),
    _Limit("REL16_HA", "carry 0x7ffc", -0x2_8004, 4, (), ""),
    _Limit("REL32", "max", 0x7FFF_FFFF, 1, ("above",), "REL32 %li out of range!"),
    _Limit("REL32", "min", -0x8000_0000, 1, ("below",), "REL32 %li out of range!"),
    # ENTRY is never an error: outside the window the prologue is left alone (ok=False)
    _Limit("ENTRY", "max", 0x7FFF_7FFC, 4, ("above",), ""),
    _Limit("ENTRY", "min", -0x8000_8000, 4, ("below",), ""),
)


def _points() -> tuple[Point, ...]:
    out: list[Point] = []
    for lim in _LIMITS:
        for where, delta in (("at", 0), ("below", -lim.step), ("above", lim.step)):
            ok = where not in lim.outside
            out.append(Point(lim.kind, lim.limit, where, lim.at + delta, ok,
                             "" if ok else lim.message))
    return tuple(out)


#: every boundary point, in table order
POINTS: tuple[Point, ...] = _points()
#: every point where the kernel applies the relocation (or, for ENTRY, applies nothing wrong)
INSIDE: tuple[Point, ...] = tuple(p for p in POINTS if p.ok or p.kind == "ENTRY")

#: what follows an external ``bl`` (or the branch itself): name -> (branch word, next word)
TAILS: dict[str, tuple[int, int]] = {
    "nop": (P.BL, P.NOP),
    "ld r2": (P.BL, P.LD_R2_24_R1),
    "other": (P.BL, OTHER_WORD),
    "sibling": (P.B, OTHER_WORD),
}
#: the tails restore_r2 accepts in every modelled kernel (an existing ``ld r2,24(r1)`` only
#: since 6.3, bc2c6f5695ff: 6.1 says "Expected nop after call")
TAILS_OK = ("nop", "sibling")
#: REL24 addend sets for repeated calls to one external target: reuse, or a 2**32 collision
ADDENDS: dict[str, tuple[int, ...]] = {
    "same": (0, 0),
    "distinct": (0, 4),
    "collide 2^32": (0, 1 << 32),
    "collide -2^32": (8, 8 - (1 << 32)),
}
ADDENDS_OK = ("same", "distinct")
#: the DS-form word under TOC16_DS / TOC16_LO_DS and ENTRY's first word, by its XO bits (the low
#: two bits the 0xfffc masks keep): ld, ldu, lwa. ENTRY rewrites only a plain ld (XO 0).
DS_FORMS: dict[int, str] = {0: "ld", 1: "ldu", 2: "lwa"}
#: where in its 4 KiB page the cluster (and `.toc`) sits: bits 8..11, which my_r2's ~0xff keeps
TOC_SKEWS: tuple[int, ...] = (0, 0x100, 0x700, 0xF00)
#: the points whose relocation sits on a DS-form word
DS_KINDS = frozenset({"TOC16_DS", "TOC16_LO_DS", "ENTRY"})


@dataclass(frozen=True)
class Extras:
    """The knobs drawn beside the boundary point."""

    #: st_other local-entry field (0..7) of the local callee
    local_entry: int = 0
    #: external call tail (:data:`TAILS`), None for no external call
    tail: str | None = None
    #: call ``_mcount`` rather than a vmlinux export (restore_r2's mprofile exemption)
    mcount: bool = False
    #: repeated calls to one external target (:data:`ADDENDS`), None for none
    repeat: str | None = None
    #: the repeated calls go through the klp symbol with sympos 0 and 1 (same address)
    alias: bool = False
    #: XO bits of the DS-form word (:data:`DS_FORMS`) under TOC16_DS / TOC16_LO_DS / ENTRY
    ds_xo: int = 0
    #: offset of the cluster in its page (:data:`TOC_SKEWS`): `.toc` at HOME + toc_skew
    toc_skew: int = 0


@dataclass
class _Build:
    """One object under construction and the pins of its layout."""

    b: ObjectBuilder = field(default_factory=ObjectBuilder)
    pins: dict[str, int] = field(default_factory=dict)
    #: where the pinned sections cluster (HOME plus the drawn page offset)
    home: int = HOME
    toc_sym: SymRef | None = None
    klp_syms: dict[str, SymRef] = field(default_factory=dict)

    def section(self, name: str, words: list[int], at: int | None = None, *,
                data: bool = False) -> int:
        """A code (or, with ``data``, writable data) section, pinned at ``at`` when given."""
        raw = struct.pack(f"<{len(words)}I", *words)
        flags = SHF_ALLOC | SHF_WRITE if data else None
        idx = (self.b.add_section(name, raw, flags=flags, addralign=8) if flags is not None
               else self.b.add_section(name, raw, addralign=16))
        if at is not None:
            self.pins[name] = at
        return idx

    def dot_toc(self) -> SymRef:
        if self.toc_sym is None:
            self.toc_sym = self.b.add_symbol(".TOC.", bind=STB_GLOBAL)
        return self.toc_sym

    @property
    def my_r2(self) -> int:
        """my_r2 for `.toc` at ``home`` (a multiple of 0x100: (sh_addr & ~0xff) + 0x8000)."""
        return self.home + 0x8000

    @property
    def data_home(self) -> int:
        """`.data` for TOC-relative targets, far below `.toc` (see :data:`DATA_HOME`)."""
        return self.home - 0x100_0000

    def toc(self) -> int:
        """`.toc` pinned at ``home``: my_r2 is then :attr:`my_r2`."""
        return self.section(".toc", [0, 0], self.home, data=True)


def _func(bld: _Build, name: str, sec: int, other: int = 0, value: int = 0,
          bind: int = STB_LOCAL) -> SymRef:
    return bld.b.add_symbol(name, value, bind=bind, type=STT_FUNC, other=other, shndx=sec)


def _boundary(bld: _Build, pt: Point, ex: Extras) -> None:
    """The boundary relocation of ``pt`` and the sections it needs, at their pinned places."""
    b, v = bld.b, pt.value
    if pt.kind == "REL24":  # bl callee, callee pinned so S + A + local entry - P == v
        lep = local_entry_offset(ex.local_entry << 5)
        addend = v & 3
        caller = bld.section(".text.boundary", [P.BL, P.BLR], bld.home)
        callee = bld.section(".text.callee", [P.NOP, P.NOP, P.NOP, P.BLR],
                             bld.home + v - addend - lep)
        sym = _func(bld, "callee", callee, ex.local_entry << 5)
        b.add_rela(caller, 0, sym, P.R_PPC_REL24, addend)
        return
    if pt.kind == "REL32":  # __ex_table entry: S + A - P == v
        addend = v & 3
        table = bld.section("__ex_table", [0, 0], bld.home, data=True)
        b.sections[table].flags = SHF_ALLOC
        callee = bld.section(".text.callee", [P.NOP, P.BLR], bld.home + v - addend)
        b.add_rela(table, 0, b.section_symbol(callee), P.R_PPC64_REL32, addend)
        return
    if pt.kind == "ENTRY":  # large-model prologue at F: my_r2 - (F + 8) == v
        bld.toc()
        fn = bld.section(".text.large", [0, 0, P.LD_R2_M8_R12 | ex.ds_xo, P.ADD_R2_R2_R12, P.BLR],
                         bld.my_r2 - 8 - v)
        _func(bld, "large_fn", fn, 3 << 5, 8)
        b.add_rela(fn, 0, bld.dot_toc(), P.R_PPC64_REL64, -8)
        b.add_rela(fn, 8, None, P.R_PPC64_ENTRY, 0)
        return
    if pt.kind == "REL16_HA":  # global-entry prologue at F: my_r2 - F == v
        bld.toc()
        fn = bld.section(".text.global", [P.ADDIS_R2_R12, P.ADDI_R2_R2, P.BLR], bld.my_r2 - v)
        _func(bld, "global_fn", fn, 3 << 5)
        b.add_rela(fn, 0, bld.dot_toc(), P.R_PPC64_REL16_HA, 0)
        b.add_rela(fn, 4, bld.dot_toc(), P.R_PPC64_REL16_LO, 4)
        return
    # TOC-relative: .data section symbol + A == my_r2 + v
    bld.toc()
    data = bld.section(".data", [0, 0], bld.data_home, data=True)
    target, addend = b.section_symbol(data), bld.my_r2 + v - bld.data_home
    pairs = {
        "TOC16": ([P.ADDI_R9_R2], [P.R_PPC64_TOC16]),
        "TOC16_DS": ([P.LD_R9_R2 | ex.ds_xo], [P.R_PPC64_TOC16_DS]),
        "TOC16_LO_DS": ([P.ADDIS_R9_R2, P.LD_R9_R9 | ex.ds_xo],
                        [P.R_PPC64_TOC16_HA, P.R_PPC64_TOC16_LO_DS]),
        "TOC16_HA": ([P.ADDIS_R9_R2, P.ADDI_R9_R9], [P.R_PPC64_TOC16_HA, P.R_PPC64_TOC16_LO]),
    }
    words, types = pairs[pt.kind]
    fn = bld.section(".text.toc_user", [*words, P.BLR])
    for k, rtype in enumerate(types):
        b.add_rela(fn, 4 * k, target, rtype, addend)


def _externals(bld: _Build, ex: Extras, callee: SymbolChoice) -> None:
    """The external calls of ``ex``: one with a chosen tail, repeated calls to one target."""
    b = bld.b
    if ex.tail is not None:
        branch, after = TAILS[ex.tail]
        fn = bld.section(".text.caller", [P.MFLR_R0, branch, after, P.BLR])
        name = "_mcount" if ex.mcount else "printk"
        b.add_rela(fn, 4, b.add_symbol(name, bind=STB_GLOBAL), P.R_PPC_REL24, 0)
    if ex.repeat is not None:
        addends = ADDENDS[ex.repeat]
        fn = bld.section(".text.repeat", [P.BL, P.NOP] * len(addends) + [P.BLR])
        syms = [_klp(bld, callee)]
        if ex.alias:
            other = SymbolChoice(callee.objname, callee.name, 1 - min(callee.pos, 1),
                                 callee.kind)
            syms.append(_klp(bld, other))
        section = f".klp.rela.{callee.objname}..text.repeat"
        for k, addend in enumerate(addends):
            b.add_rela(fn, 8 * k, syms[k % len(syms)], P.R_PPC_REL24, addend, section=section)


def _klp(bld: _Build, choice: SymbolChoice) -> SymRef:
    """The SHN_LIVEPATCH symbol ``.klp.sym.<obj>.<name>,<pos>`` (one per name)."""
    name = choice.klp_name
    if name not in bld.klp_syms:
        bld.klp_syms[name] = bld.b.add_symbol(name, bind=STB_GLOBAL, type=STT_FUNC,
                                              shndx=SHN_LIVEPATCH)
    return bld.klp_syms[name]


def boundary_case(pt: Point, world: WorldSpec, callee: SymbolChoice,
                  extras: Extras | None = None) -> Case:
    """The case for ``pt``: its boundary relocation, the ``extras`` and a klp call to ``callee``
    (a function of a target module of ``world``) in ``.text.livepatch_fn0``."""
    extras = extras or Extras()
    bld = _Build(home=HOME + extras.toc_skew)
    _boundary(bld, pt, extras)
    _externals(bld, extras, callee)
    fn = bld.section(".text.livepatch_fn0", [P.BL, P.NOP, P.BLR])
    _func(bld, "livepatch_fn0", fn, bind=STB_GLOBAL)
    bld.b.add_rela(fn, 0, _klp(bld, callee), P.R_PPC_REL24, 0,
                   section=f".klp.rela.{callee.objname}..text.livepatch_fn0")
    bld.b.add_stubs()
    return Case(bld.b.build(), world, Layout(addresses=dict(bld.pins)), "compiler",
                (callee.objname,))


@lru_cache(maxsize=4)
def _space(outside: bool) -> Prod:
    """The point (most significant), local entry, tail, _mcount, repeat, alias, DS form,
    page offset."""
    points = POINTS if outside else INSIDE
    tails = tuple(TAILS) if outside else TAILS_OK
    repeats = tuple(ADDENDS) if outside else ADDENDS_OK
    return Prod(Pick(points), count(0, 7), Pick((None, *tails)), Pick((False, True)),
                Pick((None, *repeats)), Pick((False, True)), Pick(tuple(DS_FORMS)),
                Pick(TOC_SKEWS))


def extras_events(pt: Point, ex: Extras) -> list[str]:
    """The hypothesis.event texts of one case (one per knob)."""
    out = [pt.label]
    if pt.kind == "REL24":
        out.append(f"local entry {ex.local_entry}")
    if ex.tail is not None:
        out.append(f"call tail {ex.tail}{' (_mcount)' if ex.mcount else ''}")
    if ex.repeat is not None:
        out.append(f"repeated calls {ex.repeat}{' via sympos alias' if ex.alias else ''}")
    if pt.kind in DS_KINDS:
        out.append(f"DS form {DS_FORMS[ex.ds_xo]}")
    out.append(f"toc page offset {ex.toc_skew:#x}")
    return out


@st.composite
def boundary_objects(draw: st.DrawFn, *, outside: bool = True,
                     world: WorldSpec | None = None) -> Case:
    """A :func:`boundary_case` for a drawn point and extras, over a drawn symbol world.

    ``outside=False`` draws only what the kernel accepts (no over-limit point, no rejected call
    tail, no count_relocs collision), for campaigns judging invariants.
    """
    spec = world if world is not None else draw(symbol_worlds())
    pt, lep, tail, mcount, repeat, alias, ds_xo, skew = draw_space(draw, _space(outside))
    funcs = [c for m in spec.module_names for c in resolvable(spec, m, "func")]
    callee = funcs[draw(st.integers(0, len(funcs) - 1))] if len(funcs) > 1 else funcs[0]
    unique = spec.object(callee.objname).count(callee.name) == 1
    ex = Extras(lep, tail, mcount, repeat, alias and unique,
                ds_xo if pt.kind in DS_KINDS else 0, skew)
    knobs = extras_events(pt, ex)
    for text in knobs:
        note(text)
    return dataclasses.replace(boundary_case(pt, spec, callee, ex), knobs=tuple(knobs))
