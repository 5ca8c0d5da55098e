"""Compiler-like livepatch modules: what GCC and klp-convert/kpatch emit for ppc64le.

Each function lives in its own ``.text.<fn>`` (-ffunction-sections) and is built from snippets:
global-entry prologue (addis r2,r12 / addi r2,r2 with REL16_HA/LO against ``.TOC.``), the large
model prologue (ld r2,-8(r12); add r2,r2,r12 with R_PPC64_ENTRY and a REL64 quad before the
function), ``mflr r0; bl _mcount`` (-mprofile-kernel), ``bl sym; nop`` calls to local, SHN_UNDEF
and SHN_LIVEPATCH symbols (TOCSAVE on the nop), sibling ``b sym``, and TOC accesses (addis/addi,
addis/ld, ld/addi off r2). ``.toc`` entries (ADDR64, TOC), ``.data`` words (ADDR64, ADDR32,
REL64) and ``__ex_table`` pairs (REL32) complete it. Relocations against livepatch symbols go into
``.klp.rela.<obj>.<section>`` (Documentation/livepatch/module-elf-format.rst), everything else into
plain ``.rela<section>``. Placeholders are zero, as the compiler leaves them.

:func:`livepatch_objects` is the one public entry point; it is composed from small private
strategies and every knob is an argument.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from hypothesis import event
from hypothesis import strategies as st

from ppcreloc.elf.builder import ObjectBuilder, SymRef
from ppcreloc.elf.model import (
    SHF_ALLOC,
    SHF_WRITE,
    SHN_LIVEPATCH,
    STB_GLOBAL,
    STB_LOCAL,
    STT_FUNC,
    STT_OBJECT,
    ElfObject,
)
from ppcreloc.records import Layout
from ppcreloc.strategies import _ppc as P
from ppcreloc.strategies._draw import OneOf, Pick, Prod, Space, count, draw_space, flag
from ppcreloc.strategies.adversarial import mutations
from ppcreloc.strategies.case import Case as Case
from ppcreloc.strategies.case import events_on
from ppcreloc.strategies.case import note as note
from ppcreloc.strategies.ftrace_entries import PatchableEntries
from ppcreloc.strategies.worlds import (
    VMLINUX,
    SymbolChoice,
    WorldSpec,
    resolvable,
    symbol_worlds,
)

Placeholders = Literal["compiler", "adversarial"]
HANDLED_TYPES: frozenset[int] = frozenset(P.TYPE_NAMES)


# -- emission ---------------------------------------------------------------------------------
class _Emitter:
    """Owns the ObjectBuilder and the symbol handles, and records an event per relocation."""

    def __init__(self, world: WorldSpec) -> None:
        self.b = ObjectBuilder()
        self.world = world
        self._undef: dict[str, SymRef] = {}
        self._klp: dict[str, SymRef] = {}
        self._toc: SymRef | None = None
        self.klp_objects: set[str] = set()
        self.events = events_on()
        self._noted: set[tuple[int, str]] = set()  # event() keeps one entry per text anyway

    def undef(self, name: str) -> SymRef:
        """SHN_UNDEF global (resolved by the loader from vmlinux exports); '.TOC.' for the TOC."""
        if name not in self._undef:
            self._undef[name] = self.b.add_symbol(name, bind=STB_GLOBAL)
        return self._undef[name]

    def toc_symbol(self) -> SymRef:
        """``.TOC.``: SHN_UNDEF in the object; dedotify makes it the SHN_ABS "TOC."."""
        return self.undef(".TOC.")

    def klp(self, choice: SymbolChoice) -> SymRef:
        """The SHN_LIVEPATCH symbol ``.klp.sym.<obj>.<name>,<pos>``."""
        key = choice.klp_name
        if key not in self._klp:
            typ = STT_FUNC if choice.kind == "func" else STT_OBJECT
            self._klp[key] = self.b.add_symbol(key, bind=STB_GLOBAL, type=typ,
                                               shndx=SHN_LIVEPATCH)
        return self._klp[key]

    def rela(self, target: int, offset: int, sym: SymRef | None, rtype: int, addend: int,
             kind: str, klp_obj: str | None = None) -> None:
        """Add a relocation; klp ones go into ``.klp.rela.<obj>.<section>``."""
        section = None
        if klp_obj is not None:
            section = f".klp.rela.{klp_obj}.{self.b.sections[target].name}"
            self.klp_objects.add(klp_obj)
        self.b.add_rela(target, offset, sym, rtype, addend, section=section)
        if self.events and (rtype, kind) not in self._noted:
            self._noted.add((rtype, kind))
            event(f"type {P.type_name(rtype)}")
            event(f"symbol {kind}")


def _words(words: list[int]) -> bytes:
    return b"".join(w.to_bytes(4, "little") for w in words)


# -- drawing a symbol reference ---------------------------------------------------------------
@dataclass(frozen=True)
class _Ref:
    """What a relocation points at: a local function, a .data/.toc offset, undef or klp."""

    kind: Literal["local", "data", "undef", "klp"]
    index: int = 0  # local: function index; data: byte offset
    name: str = ""
    choice: SymbolChoice | None = None
    addend: int = 0


_CALL_ADDENDS = Pick((0, 0, 0, 4, 8))
_DATA_ADDENDS = Pick((0, 0, 8, 16, -8))


@dataclass
class _Ctx:
    """Per-object choices shared by the snippet decoders (lookups and spaces computed once)."""

    world: WorldSpec
    n_functions: int
    klp_targets: tuple[str, ...]
    types: frozenset[int]
    data_slots: int
    max_snippets: int = 0
    exports: list[str] = field(init=False)
    klp_funcs: list[SymbolChoice] = field(init=False)
    klp_any: list[SymbolChoice] = field(init=False)
    snippet_space: Space | None = field(init=False)
    function_space: Space = field(init=False)
    data_space: Space | None = field(init=False)

    def __post_init__(self) -> None:
        self.exports = sorted(self.world.exports())
        self.klp_any = _klp_choices(self.world, self.klp_targets, None)
        self.klp_funcs = [c for c in self.klp_any if c.kind == "func"]
        self.snippet_space = _snippet_space(self)
        self.function_space = _function_space(self)
        self.data_space = _data_space(self)


def _klp_choices(world: WorldSpec, targets: tuple[str, ...],
                 kind: str | None) -> list[SymbolChoice]:
    out: list[SymbolChoice] = []
    for obj in targets:
        out += resolvable(world, obj, kind)
    return out


# Each unit below is one flat draw (ppcreloc.strategies._draw): the space lists the choices, simplest
# first, and a small decoder turns the digits into the dataclasses the assembler lays out.
def _call_space(ctx: _Ctx) -> OneOf:
    """Callee of a bl/b: a local function, a vmlinux export (SHN_UNDEF) or a klp function."""
    return OneOf([("local", count(0, ctx.n_functions - 1)), ("undef", Pick(tuple(ctx.exports))),
                  ("klp", Prod(Pick(tuple(ctx.klp_funcs)), _CALL_ADDENDS))])


def _data_ref_space(ctx: _Ctx) -> OneOf:
    """What a data word or .toc entry points at (any symbol kind, with an addend)."""
    return OneOf([("local", Prod(count(0, ctx.n_functions - 1), _DATA_ADDENDS)),
                  ("data", count(0, ctx.data_slots - 1)),
                  ("undef", Prod(Pick(tuple(ctx.exports)), _DATA_ADDENDS)),
                  ("klp", Prod(Pick(tuple(ctx.klp_any)), _DATA_ADDENDS))])


def _ref(decoded: tuple[str, Any]) -> _Ref:
    """A decoded _call_space / _data_ref_space value as a _Ref."""
    kind, v = decoded
    if kind == "local":
        return _Ref("local", v[0], addend=v[1]) if isinstance(v, tuple) else _Ref("local", v)
    if kind == "data":
        return _Ref("data", 8 * v)
    if kind == "undef":
        return _Ref("undef", name=v[0], addend=v[1]) if isinstance(v, tuple) else _Ref(
            "undef", name=v)
    return _Ref("klp", choice=v[0], addend=v[1])


# -- snippets ---------------------------------------------------------------------------------
#: snippet name -> relocation types it needs
_SNIPPET_TYPES: dict[str, frozenset[int]] = {
    "call": frozenset({P.R_PPC_REL24}),
    "sibling": frozenset({P.R_PPC_REL24}),
    "toc_addi": frozenset({P.R_PPC64_TOC16_HA, P.R_PPC64_TOC16_LO}),
    "toc_ld": frozenset({P.R_PPC64_TOC16_HA, P.R_PPC64_TOC16_LO_DS}),
    "toc16": frozenset({P.R_PPC64_TOC16}),
    "toc16_ds": frozenset({P.R_PPC64_TOC16_DS}),
}
_PROLOGUE_TYPES: dict[str, frozenset[int]] = {
    "none": frozenset(),
    "global": frozenset({P.R_PPC64_REL16_HA, P.R_PPC64_REL16_LO}),
    "large": frozenset({P.R_PPC64_ENTRY, P.R_PPC64_REL64}),
}


@dataclass(frozen=True)
class _Snippet:
    """One body snippet; TOC accesses carry their .toc entry (``toc_ref``/``toc_type``) or
    ``.data`` slot (``toc_data``, ``slot``)."""

    kind: str
    ref: _Ref | None = None
    tocsave: bool = False
    toc_data: bool = False  # TOC access to .data rather than to a .toc entry
    slot: int = 0
    toc_ref: _Ref | None = None
    toc_type: int = 0


@dataclass(frozen=True)
class _Function:
    prologue: str
    mcount: bool
    bind: int
    other: int
    body: tuple[_Snippet, ...]


def _snippet_space(ctx: _Ctx) -> Space | None:
    """A snippet kind (call first), then its callee or TOC target; None when no kind fits."""
    kinds = [k for k, need in _SNIPPET_TYPES.items() if need <= ctx.types]
    if not kinds:
        return None
    call = _call_space(ctx)
    toc_types = tuple(t for t in (P.R_PPC64_ADDR64, P.R_PPC64_TOC) if t in ctx.types)
    entry: Space = Prod(Pick(toc_types), _data_ref_space(ctx)) if toc_types else Pick((None,))
    to_data = OneOf([("toc", entry), ("data", count(0, ctx.data_slots - 1))])
    tocsave = flag(P.R_PPC64_TOCSAVE in ctx.types)
    spaces: dict[str, Space] = {
        "call": Prod(call, tocsave), "sibling": Prod(call, flag(False)),
        "toc_addi": to_data, "toc_ld": to_data,
        "toc16": OneOf([("toc", entry)]), "toc16_ds": OneOf([("toc", entry)]),
    }
    return OneOf([(k, spaces[k]) for k in kinds])


def _snippet(decoded: tuple[str, Any] | None) -> _Snippet:
    if decoded is None:
        return _Snippet("nop")
    kind, v = decoded
    if kind in ("call", "sibling"):
        ref = _ref(v[0])
        return _Snippet(kind, ref, kind == "call" and ref.kind != "local" and v[1])
    where, w = v
    if where == "data":
        return _Snippet(kind, toc_data=True, slot=w)
    if w is None:
        return _Snippet(kind)
    return _Snippet(kind, toc_ref=_ref(w[1]), toc_type=w[0])


def _function_space(ctx: _Ctx) -> Prod:
    """Snippet count (most significant), prologue, mcount, plain st_other, binding."""
    prologues = tuple(k for k, need in _PROLOGUE_TYPES.items() if need <= ctx.types)
    # st_other bits 5..7: 3 = 8-byte global entry; without one GCC emits 0 (or 1: r2 unused),
    # drawn whatever the prologue, so the shrinker can drop a prologue without reshaping draws
    return Prod(count(0, ctx.max_snippets), Pick(prologues), flag(P.R_PPC_REL24 in ctx.types),
                Pick((0, 1 << 5)), Pick((STB_LOCAL, STB_GLOBAL)))


def _function(draw: st.DrawFn, ctx: _Ctx, head: tuple[Any, ...] | None = None) -> _Function:
    """One function: its head (snippet count, prologue, mcount, st_other, binding; drawn here
    unless given) and its body."""
    n, prologue, mcount, plain_other, bind = head or draw_space(draw, ctx.function_space)
    other = (3 << 5) if prologue != "none" else plain_other
    space = ctx.snippet_space
    body = [_snippet(draw_space(draw, space) if space is not None else None) for _ in range(n)]
    return _Function(prologue, mcount, bind, other, tuple(body))


@dataclass(frozen=True)
class _DataItem:
    rtype: int
    ref: _Ref | None


def _data_space(ctx: _Ctx) -> Space | None:
    types = tuple(t for t in (P.R_PPC64_ADDR64, P.R_PPC64_ADDR32, P.R_PPC64_REL64)
                  if t in ctx.types)
    return Prod(Pick(types), _data_ref_space(ctx)) if types else None


def _data_item(draw: st.DrawFn, ctx: _Ctx) -> _DataItem:
    if ctx.data_space is None:
        return _DataItem(0, None)
    rtype, ref = draw_space(draw, ctx.data_space)
    return _DataItem(rtype, _ref(ref))


# -- putting it together ----------------------------------------------------------------------
class _Assembler:
    """Lays out functions, .toc, .data and __ex_table and emits their relocations."""

    def __init__(self, ctx: _Ctx, patchable: PatchableEntries | None = None) -> None:
        self.ctx = ctx
        self.e = _Emitter(ctx.world)
        #: traced functions get a patchable-entry nop instead of mflr/bl _mcount (OOL ftrace)
        self.patchable = patchable
        self.toc_entries: list[_Ref | None] = []
        self.toc_entry_types: list[int] = []
        self.fn_sections: list[int] = []
        self.fn_syms: list[SymRef] = []
        self.fn_values: list[int] = []
        self.uses_toc = False  # a TOC-relative access exists: the module then has a .toc

    def ref_symbol(self, ref: _Ref, data_sec: int) -> tuple[SymRef, int, str, str | None]:
        """(symbol, addend, kind for events, klp objname or None)."""
        if ref.kind == "local":
            return self.fn_syms[ref.index], ref.addend, "local", None
        if ref.kind == "data":
            return self.e.b.section_symbol(data_sec), ref.index + ref.addend, "section", None
        if ref.kind == "undef":
            return self.e.undef(ref.name), ref.addend, "SHN_UNDEF", None
        assert ref.choice is not None
        return self.e.klp(ref.choice), ref.addend, "SHN_LIVEPATCH", ref.choice.objname

    def build(self, functions: list[_Function], data: list[_DataItem],
              ex_table: tuple[int, ...], toc_type: bool) -> ElfObject:
        b = self.e.b
        for i, fn in enumerate(functions):
            value = 8 if fn.prologue == "large" else 0
            self.fn_sections.append(b.add_section(f".text.livepatch_fn{i}", addralign=16))
            self.fn_values.append(value)
            self.fn_syms.append(b.add_symbol(f"livepatch_fn{i}", value, bind=fn.bind,
                                             type=STT_FUNC, other=fn.other,
                                             shndx=self.fn_sections[-1]))
        data_sec = b.add_section(".data", bytes(8 * self.ctx.data_slots),
                                 flags=SHF_ALLOC | SHF_WRITE, addralign=8)
        bodies = [self.function_body(i, fn, data_sec) for i, fn in enumerate(functions)]
        for sec, words in zip(self.fn_sections, bodies, strict=True):
            b.sections[sec].data = words
        self.data_words(data, data_sec)
        if ex_table:
            self.ex_table(ex_table)
        if self.toc_entries or toc_type or self.uses_toc:
            self.toc(data_sec, toc_type)
        if self.patchable is not None:
            self.patchable.emit(b, self.e.rela)
        b.add_stubs()
        return b.build()

    def toc_slot(self, snippet: _Snippet) -> int:
        """A new .toc entry (byte offset) for one TOC access, holding what the snippet drew."""
        self.toc_entries.append(snippet.toc_ref)
        self.toc_entry_types.append(snippet.toc_type)
        return 8 * (len(self.toc_entries) - 1)

    def function_body(self, i: int, fn: _Function, data_sec: int) -> bytes:
        e, sec = self.e, self.fn_sections[i]
        words: list[int] = []
        if fn.prologue == "large":
            words += [0, 0]  # .quad .TOC.-func, REL64 (addend -8: P is func-8)
            e.rela(sec, 0, e.toc_symbol(), P.R_PPC64_REL64, -8, "ABS .TOC.")
            e.rela(sec, 8, None, P.R_PPC64_ENTRY, 0, "none")
            words += [P.LD_R2_M8_R12, P.ADD_R2_R2_R12]
        elif fn.prologue == "global":
            e.rela(sec, 0, e.toc_symbol(), P.R_PPC64_REL16_HA, 0, "ABS .TOC.")
            e.rela(sec, 4, e.toc_symbol(), P.R_PPC64_REL16_LO, 4, "ABS .TOC.")
            words += [P.ADDIS_R2_R12, P.ADDI_R2_R2]
        if fn.mcount and self.patchable is not None:
            words += self.patchable.entry(sec, 4 * len(words))
        elif fn.mcount:
            words.append(P.MFLR_R0)
            e.rela(sec, 4 * len(words), e.undef("_mcount"), P.R_PPC_REL24, 0, "SHN_UNDEF")
            words.append(P.BL)
        for sn in fn.body:
            words += self.snippet(sec, 4 * len(words), sn, data_sec)
        words.append(P.BLR)
        return _words(words)

    def snippet(self, sec: int, at: int, sn: _Snippet, data_sec: int) -> list[int]:
        e = self.e
        if sn.kind == "nop":
            return [P.NOP]
        if sn.kind in ("call", "sibling"):
            assert sn.ref is not None
            sym, addend, kind, klp_obj = self.ref_symbol(sn.ref, data_sec)
            e.rela(sec, at, sym, P.R_PPC_REL24, addend, kind, klp_obj)
            if sn.kind == "sibling":
                return [P.B]
            if sn.tocsave:  # on the nop, pointing at the function's TOC save slot
                e.rela(sec, at + 4, e.b.section_symbol(sec), P.R_PPC64_TOCSAVE, 0, "section")
            return [P.BL, P.NOP]
        # TOC accesses: against a .toc entry (section symbol + slot) or straight to .data
        self.uses_toc = True
        if sn.toc_data:
            target, addend = e.b.section_symbol(data_sec), 8 * sn.slot
        else:
            target, addend = self._toc_section_ref(), self.toc_slot(sn)
        kind = "section"
        if sn.kind == "toc_addi":
            e.rela(sec, at, target, P.R_PPC64_TOC16_HA, addend, kind)
            e.rela(sec, at + 4, target, P.R_PPC64_TOC16_LO, addend, kind)
            return [P.ADDIS_R9_R2, P.ADDI_R9_R9]
        if sn.kind == "toc_ld":
            e.rela(sec, at, target, P.R_PPC64_TOC16_HA, addend, kind)
            e.rela(sec, at + 4, target, P.R_PPC64_TOC16_LO_DS, addend, kind)
            return [P.ADDIS_R9_R2, P.LD_R9_R9]
        if sn.kind == "toc16":
            e.rela(sec, at, target, P.R_PPC64_TOC16, addend, kind)
            return [P.ADDI_R9_R2]
        e.rela(sec, at, target, P.R_PPC64_TOC16_DS, addend, kind)
        return [P.LD_R9_R2]

    def _toc_section_ref(self) -> SymRef:
        b = self.e.b
        try:
            idx = b.index(".toc")
        except KeyError:  # created now so its section symbol exists; sized in toc()
            idx = b.add_section(".toc", flags=SHF_ALLOC | SHF_WRITE, addralign=8)
        return b.section_symbol(idx)

    def toc(self, data_sec: int, toc_type: bool) -> None:
        """Fill `.toc`: one 8-byte entry per access (ADDR64 to its symbol, or TOC), zeroed."""
        b, e = self.e.b, self.e
        if toc_type and P.R_PPC64_TOC in self.ctx.types:
            self.toc_entries.append(None)
            self.toc_entry_types.append(P.R_PPC64_TOC)
        self._toc_section_ref()
        idx = b.index(".toc")
        b.sections[idx].data = bytes(8 * max(1, len(self.toc_entries)))
        for slot, (ref, rtype) in enumerate(zip(self.toc_entries, self.toc_entry_types,
                                                strict=True)):
            if rtype == P.R_PPC64_TOC:
                e.rela(idx, 8 * slot, None, P.R_PPC64_TOC, 0, "none")
            elif ref is not None and rtype:
                sym, addend, kind, klp_obj = self.ref_symbol(ref, data_sec)
                e.rela(idx, 8 * slot, sym, rtype, addend, kind, klp_obj)

    def data_words(self, items: list[_DataItem], data_sec: int) -> None:
        """ADDR64 / ADDR32 / REL64 words in .data, one per 8-byte slot."""
        for slot, item in enumerate(items[: self.ctx.data_slots]):
            if item.ref is None:
                continue
            sym, addend, kind, klp_obj = self.ref_symbol(item.ref, data_sec)
            self.e.rela(data_sec, 8 * slot, sym, item.rtype, addend, kind, klp_obj)

    def ex_table(self, fns: tuple[int, ...]) -> None:
        """__ex_table: (insn - ., fixup - .) pairs of REL32 against the functions ``fns``."""
        b, e = self.e.b, self.e
        sec = b.add_section("__ex_table", bytes(8 * len(fns)), flags=SHF_ALLOC, addralign=4)
        for k, fn in enumerate(fns):
            base = self.fn_values[fn]
            e.rela(sec, 8 * k, b.section_symbol(self.fn_sections[fn]), P.R_PPC64_REL32,
                   base, "section")
            e.rela(sec, 8 * k + 4, b.section_symbol(self.fn_sections[fn]), P.R_PPC64_REL32,
                   base + 4, "section")


@lru_cache(maxsize=256)
def _head_space(n_modules: int, max_functions: int) -> Prod:
    """The target modules (a non-empty bit mask), then the number of functions."""
    return Prod(count(1, (1 << n_modules) - 1), count(1, max_functions))


@lru_cache(maxsize=1024)
def _tail_space(max_data: int, rel32: bool, n_functions: int, toc: bool,
                callees: tuple[SymbolChoice, ...]) -> Prod:
    """Data word count, __ex_table (on, pairs, functions), a TOC-type .toc entry, the callee
    that ``require_targets`` adds."""
    fn = count(0, n_functions - 1)
    return Prod(count(0, max_data), flag(rel32), count(1, 2), fn, fn, flag(toc),
                Pick(callees or (None,)))


def _as_strategy(value: Any, default: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    if value is None:
        return default
    if isinstance(value, st.SearchStrategy):
        return value
    return st.just(value)


def livepatch_objects(
    *,
    placeholders: Placeholders = "compiler",
    max_functions: int = 4,
    max_snippets: int = 4,
    max_data: int = 4,
    targets: int | Collection[str] | None = None,
    types: Collection[int] | None = None,
    world: WorldSpec | st.SearchStrategy[WorldSpec] | None = None,
    klp_vmlinux: bool = True,
    require_targets: bool = False,
    patchable_entries: bool = False,
) -> st.SearchStrategy[Case]:
    """A livepatch module with compiler-like content, as a :class:`Case`.

    ``targets``: module objnames (or how many of the world's modules) that get
    ``.klp.rela.<obj>.*`` sections; ``types``: the relocation types allowed (default: every type
    apply_relocate_add handles); ``world``: a fixed WorldSpec or a strategy for one;
    ``klp_vmlinux``: also reference vmlinux through ``.klp.rela.vmlinux.*``;
    ``require_targets``: the first function always calls a target module's function through a
    klp symbol (so the case has a target object to bring up and down; needs REL24 in ``types``);
    ``patchable_entries``: traced functions are built with -fpatchable-function-entry=1, as an
    out-of-line-ftrace kernel builds modules (:mod:`ppcreloc.strategies.ftrace_entries`; needs ADDR64);
    ``placeholders="adversarial"``: then apply :func:`ppcreloc.strategies.adversarial.mutations`.
    """
    if placeholders not in ("compiler", "adversarial"):
        raise ValueError(f"placeholders must be 'compiler' or 'adversarial', not {placeholders!r}")
    if max_functions < 1 or max_snippets < 0 or max_data < 0:
        raise ValueError("max_functions must be >= 1, max_snippets and max_data >= 0")
    if isinstance(world, WorldSpec) and not isinstance(targets, int | None):
        missing = [t for t in targets if t not in world.module_names]
        if missing:
            raise ValueError(f"targets not in the symbol world: {missing}")
    return _livepatch_objects(placeholders, max_functions, max_snippets, max_data, targets,
                              frozenset(types) if types is not None else HANDLED_TYPES,
                              world, klp_vmlinux, require_targets, patchable_entries)


@st.composite
def _livepatch_objects(
    draw: st.DrawFn,
    placeholders: Placeholders,
    max_functions: int,
    max_snippets: int,
    max_data: int,
    targets: int | Collection[str] | None,
    allowed: frozenset[int],
    world: WorldSpec | st.SearchStrategy[WorldSpec] | None,
    klp_vmlinux: bool,
    require_targets: bool,
    patchable_entries: bool = False,
) -> Case:
    spec: WorldSpec = draw(_as_strategy(world, symbol_worlds()))
    names = spec.module_names
    mask = 0
    if targets is None and names:
        mask, n_functions = draw_space(draw, _head_space(len(names), max_functions))
    else:
        n_functions = draw_space(draw, count(1, max_functions))
    if targets is None:  # a non-empty subset of the modules, the first one simplest
        chosen = tuple(n for k, n in enumerate(names) if mask >> k & 1)
    elif isinstance(targets, int):
        chosen = names[: targets]
    else:
        chosen = tuple(targets)
    missing = [t for t in chosen if t not in names]
    if missing:
        raise ValueError(f"targets not in the symbol world: {missing}")
    klp_targets = chosen + ((VMLINUX,) if klp_vmlinux else ())
    ctx = _Ctx(spec, n_functions, klp_targets, allowed, max(1, max_data), max_snippets)
    if patchable_entries:  # heads first, traced flag leading: it survives the bodies' shrinking
        parts = _function_space(ctx).parts
        traced = Prod(parts[2], *parts[:2], *parts[3:])
        heads = [draw_space(draw, traced) for _ in range(ctx.n_functions)]
        functions = [_function(draw, ctx, (n, prologue, mcount, other, bind))
                     for mcount, n, prologue, other, bind in heads]
    else:
        functions = [_function(draw, ctx) for _ in range(ctx.n_functions)]
    require = require_targets and chosen and P.R_PPC_REL24 in allowed
    n_data, ex, pairs, fn0, fn1, toc_type, callee = draw_space(draw, _tail_space(
        max_data, P.R_PPC64_REL32 in allowed, ctx.n_functions, P.R_PPC64_TOC in allowed,
        tuple(c for c in ctx.klp_funcs if c.objname in chosen) if require else ()))
    if require:
        first = functions[0]
        call = _Snippet("call", _Ref("klp", choice=callee))
        functions[0] = dataclasses.replace(first, body=(call, *first.body))
    data = [_data_item(draw, ctx) for _ in range(n_data)]
    ex_table = (fn0, fn1)[:pairs] if ex else ()
    patchable = PatchableEntries() if patchable_entries and P.R_PPC64_ADDR64 in allowed else None
    asm = _Assembler(ctx, patchable)
    obj = asm.build(functions, data, ex_table, toc_type)
    used = tuple(t for t in chosen if t in asm.e.klp_objects)
    case = Case(obj, spec, Layout(), "compiler", used)
    if placeholders == "adversarial":
        case = draw(mutations(case))
    return case
