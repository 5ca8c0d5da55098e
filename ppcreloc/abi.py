"""The value oracle ``abi_values``: every field a successful apply wrote holds the ABI's value.

For each step that succeeded (``load`` and every ``coming``), every relocation the step applied
is recomputed here from the relocation table alone -- S, A, P and the TOC pointer taken from the
object, the placements, the symbol world and the script -- with the formulas of the 64-bit ELF
V2 ABI for Power (section 3.5.3, "Relocation Types"), and compared with the module's memory after
the step. None of the engine's own code (ppcreloc.arch, ppcreloc.ppc64, ppcreloc/reference/) is used: a
wrong value, mask, range check or entry offset is wrong the same way on every re-apply, so only
an independent computation sees it.

Where the kernel deliberately differs from a linker, the expected value is the kernel's, each
named with its source (module_64.c, 6.1 and 6.12 agree on all of these):

* TOC pointer: ``my_r2`` = (sh_addr of .toc, else .stubs) & ~0xff, + 0x8000; an undefined
  ``.TOC.`` is that value (dedotify makes it SHN_ABS, apply_relocate_add sets it).
* Undefined names lose a leading dot (dedotify); a REL24 to an undefined or SHN_LIVEPATCH
  symbol branches to a stub in `.stubs` (stub_for_addr) and the word after a ``bl`` becomes
  ``ld r2,24(r1)`` (restore_r2), except after a sibling call (not a link branch), after an
  existing ``ld r2,24(r1)`` (6.3+), and for the mprofile ftrace names ``_mcount``,
  ``ftrace_caller``, ``ftrace_regs_caller`` (is_mprofile_ftrace_call: the nop stays).
* The stub holds S+A in ``funcdata`` and STUB_MAGIC (create_stub); a regular stub addresses
  itself from r2 (``addis r11,r2,ha; addi r11,r11,lo`` of entry - my_r2), an ftrace stub
  reaches the target from paca->kernel_toc (create_ftrace_stub, 6.1/6.12 MPROFILE_KERNEL).
* R_PPC64_ENTRY rewrites ``ld r2,X(r12); add r2,r2,r12`` to ``addis r2,r12,ha; addi r2,r2,lo``
  of my_r2 - P when that fits in 32 bits, else leaves both words (apply_relocate_add).
* ADDR32 stores the low 32 bits without the ABI's overflow check (apply_relocate_add:
  ``*(u32 *)location = value``): kernel semantics, listed among the findings.
* The DS forms (TOC16_DS, TOC16_LO_DS) keep the low two bits of the halfword (the ABI's
  half16ds). On a DQ-form word (lq, lxv, stxv) the expected value is the linkers' instead:
  the low four bits kept and the value 16-aligned, as GNU ld 2.40 and lld do (measured,
  tests/reference/test_linkers.py). module_64.c (6.1, 6.12) has no DQ case and masks 0xfffc, which
  clears lxv's TX bit: a finding, so abi_values reports it rather than expecting it.
* TOCSAVE changes nothing (the kernel ignores the marker).

A check the ABI makes (TOC16 and TOC16_DS fit 16 signed bits, DS forms 4-aligned, REL24 fits 26
bits and is 4-aligned, REL32 fits 32 bits) that fails on a relocation the engine applied
without error is a violation too. Not judged, and counted in the message: relocations whose
field overlaps another's in the same step (the result depends on the sorted order), fields
outside their placed section (in_bounds owns them), symbols whose value is not known here,
types without a formula, stubs written outside `.stubs` (in_bounds / reload_cycles own
them), and every relocation under ELFv1 or PCREL (not modelled here).
"""

from __future__ import annotations

import dataclasses
import heapq
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from ppcreloc.bits import M64
from ppcreloc.elf.model import (
    SHF_ALLOC,
    SHF_RELA_LIVEPATCH,
    SHN_ABS,
    SHN_COMMON,
    SHN_LIVEPATCH,
    SHN_UNDEF,
    SHT_RELA,
    STB_WEAK,
    ByteOrder,
    ElfObject,
    Rela,
)
from ppcreloc.records import Config, Placement, RelocRef, RunResult, Step, World

STUB_SIZE = 40  # struct ppc64_stub_entry: u32 jump[7], u32 magic, func_desc_t funcdata (ELFv2)
STUB_MAGIC = 0x73747562  # "stub"
LD_R2_R1_24 = 0xE8410018  # ld r2,24(r1): PPC_INST_LD_TOC (R2_STACK_OFFSET 24, ELFv2)
NOP = 0x60000000
LD_R2_R12 = 0xE84C0000  # ld r2,0(r12), DS field masked
ADD_R2_R2_R12 = 0x7C426214
ADDIS_R2_R12 = 0x3C4C0000
ADDI_R2_R2 = 0x38420000
#: the regular stub (ppc64_stub_insns, ELFv2, no PCREL) with empty immediates
STUB_WORDS = (0x3D620000, 0x396B0000, 0xF8410018, 0xE98B0020, 0x7D8903A6, 0x4E800420)
#: the mprofile ftrace stub (stub_insns): ld r12,<kernel_toc>(r13) is added per Config
FTRACE_STUB_WORDS = (0x3D8C0000, 0x398C0000, 0x7D8903A6, 0x4E800420)
LD_R12_R13 = 0xE98D0000
FTRACE_NAMES = ("_mcount", "ftrace_caller", "ftrace_regs_caller")
_KLP_SYM = re.compile(r"\.klp\.sym\.([^.]{1,55})\.([^,]{1,511}),(\d+)$")
_KLP_RELA = re.compile(r"\.klp\.rela\.([^.]{1,55})\.")
VMLINUX = "vmlinux"


def signed(x: int, bits: int = 64) -> int:
    """``x`` mod 2^bits as two's complement."""
    x &= (1 << bits) - 1
    return x - (1 << bits) if x >> (bits - 1) else x


def lo(x: int) -> int:
    """The ABI's #lo."""
    return x & 0xFFFF


def ha(x: int) -> int:
    """The ABI's #ha: the high half, adjusted for the sign of #lo."""
    return (((x & M64) + 0x8000) >> 16) & 0xFFFF


def fits(bits: int) -> Callable[[int], bool]:
    """The ABI's "verify": the value fits in ``bits`` signed bits."""
    return lambda v: -(1 << (bits - 1)) <= signed(v) < 1 << (bits - 1)


@dataclass(frozen=True)
class Formula:
    """One row of the ABI table: the field (bytes, mask), the value, the ABI's checks."""

    name: str
    size: int
    mask: int
    value: Callable[[int, int, int, int], int]  # (S, A, P, TOC) -> value
    check: Callable[[int], bool] | None = None
    align: int = 1


W32, W64, H16 = 0xFFFF_FFFF, M64, 0xFFFF
#: the types apply_relocate_add handles in a TOC (non-PCREL) ELFv2 build, 6.1 and 6.12
FORMULAS: dict[int, Formula] = {
    1: Formula("R_PPC64_ADDR32", 4, W32, lambda s, a, p, t: s + a),
    10: Formula("R_PPC64_REL24", 4, 0x03FF_FFFC, lambda s, a, p, t: s + a - p, fits(26), 4),
    26: Formula("R_PPC64_REL32", 4, W32, lambda s, a, p, t: s + a - p, fits(32)),
    38: Formula("R_PPC64_ADDR64", 8, W64, lambda s, a, p, t: s + a),
    44: Formula("R_PPC64_REL64", 8, W64, lambda s, a, p, t: s + a - p),
    47: Formula("R_PPC64_TOC16", 2, H16, lambda s, a, p, t: s + a - t, fits(16)),
    48: Formula("R_PPC64_TOC16_LO", 2, H16, lambda s, a, p, t: lo(s + a - t)),
    50: Formula("R_PPC64_TOC16_HA", 2, H16, lambda s, a, p, t: ha(s + a - t)),
    51: Formula("R_PPC64_TOC", 8, W64, lambda s, a, p, t: t),
    63: Formula("R_PPC64_TOC16_DS", 2, 0xFFFC, lambda s, a, p, t: s + a - t, fits(16), 4),
    64: Formula("R_PPC64_TOC16_LO_DS", 2, 0xFFFC, lambda s, a, p, t: lo(s + a - t), None, 4),
    109: Formula("R_PPC64_TOCSAVE", 0, 0, lambda s, a, p, t: 0),
    118: Formula("R_PPC64_ENTRY", 8, W64, lambda s, a, p, t: t - p),
    250: Formula("R_PPC64_REL16_LO", 2, H16, lambda s, a, p, t: lo(s + a - p)),
    252: Formula("R_PPC64_REL16_HA", 2, H16, lambda s, a, p, t: ha(s + a - p)),
}
REL24, ENTRY = 10, 118
#: TOC16_DS, TOC16_LO_DS: DS-form fields, DQ-form on lq/lxv/stxv (:func:`dq_form`)
DS_FORMS = frozenset({63, 64})


def dq_form(word: int | None) -> bool:
    """Whether a linker relocates ``word`` as DQ-form under a DS relocation: lq (primary opcode
    56), lxv/stxv (opcode 61 with low bits 01; the rest of 61 is DS-form). Measured on GNU ld
    2.40 and lld (tests/reference/test_linkers.py::test_ds_relocation_on_a_dq_form_word)."""
    if word is None:
        return False
    opcode = word >> 26
    return opcode == 56 or (opcode == 61 and word & 3 == 1)


def local_entry_offset(other: int) -> int:
    """ELFv2 local entry offset from st_other bits 5..7 (ABI 3.4.1, "Symbol Values")."""
    return ((1 << ((other >> 5) & 7)) >> 2) << 2


@dataclass(frozen=True)
class Finding:
    """One field whose bytes differ from the ABI's (or an applied relocation the ABI rejects)."""

    step: int
    relsec: int
    index: int
    rela: Rela
    symname: str
    addr: int
    message: str
    expected: bytes | None = None
    actual: bytes | None = None

    def ref(self) -> RelocRef:
        """The relocation as the events name it."""
        r = self.rela
        return RelocRef(self.relsec, self.index, r.offset, r.type, r.sym, self.symname)


@dataclass
class Outcome:
    """What the value oracle found, and how many relocations it judged or could not."""

    findings: list[Finding] = field(default_factory=list)
    judged: int = 0
    not_judged: dict[str, int] = field(default_factory=dict)

    def skip(self, why: str) -> None:
        """Count one relocation not judged, by reason."""
        self.not_judged[why] = self.not_judged.get(why, 0) + 1


ByteAt = Callable[[int, int], bytes | None]


@dataclass
class _Step:
    """What one step's relocations are judged against."""

    index: int
    step: Step
    before: ByteAt
    after: ByteAt
    generations: dict[str, int]


@dataclass
class _Inputs:
    obj: ElfObject
    run: RunResult
    world: World | None
    modname: str
    config: Config
    placed: dict[int, Placement]
    toc: int | None
    #: find_pcpusec's section (looked up once: every defined symbol's S asks for it)
    percpu: int | None = None


def _overlapping(spans: Sequence[tuple[int, int, int, Rela, int]]) -> set[int]:
    """Indexes of the spans (sorted by start) that overlap another: a sweep keeping the spans
    still open (a heap by end), so 269,190 fields cost n log n, not n**2."""
    out: set[int] = set()
    open_: list[tuple[int, int]] = []  # (end, index) of earlier spans
    for k, (lo, hi, *_rest) in enumerate(spans):
        while open_ and open_[0][0] <= lo:
            heapq.heappop(open_)
        if open_:
            out.add(k)
            out.update(j for _, j in open_)
        heapq.heappush(open_, (hi, k))
    return out


def applied_sections(obj: ElfObject, step: Step) -> list[int]:
    """The RELA sections a step applies, in section order, with an SHF_ALLOC target.

    load: every RELA section whose target is SHF_ALLOC, SHF_RELA_LIVEPATCH ones only for
    ``vmlinux`` (kernel/module/main.c apply_relocations -> klp_apply_section_relocs with objname
    NULL); coming(t): the ``.klp.rela.t.*`` sections (kernel/livepatch/core.c
    klp_apply_object_relocs).
    """
    out = []
    for i, sec in enumerate(obj.sections):
        if sec.type != SHT_RELA or not 0 < sec.info < len(obj.sections):
            continue
        if not obj.sections[sec.info].flags & SHF_ALLOC:
            continue
        m = _KLP_RELA.match(sec.name) if sec.flags & SHF_RELA_LIVEPATCH else None
        if sec.flags & SHF_RELA_LIVEPATCH and m is None:
            continue
        objname = m.group(1) if m else None
        if step.kind == "load" and (objname is None or objname == VMLINUX):
            out.append(i)
        elif step.kind == "coming" and objname is not None and objname == step.objname:
            out.append(i)
    return out


def my_r2(obj: ElfObject, placed: Mapping[int, Placement]) -> int | None:
    """my_r2 (module_64.c): (sh_addr of the last .toc, else the last .stubs) & ~0xff + 0x8000
    (module_frob_arch_sections keeps the last section of each name)."""
    toc = stubs = None
    for i, sec in enumerate(obj.sections):
        if sec.name == ".toc":
            toc = i
        elif sec.name == ".stubs":
            stubs = i
    chosen = toc if toc is not None else stubs
    if chosen is None or chosen not in placed:
        return None
    return ((placed[chosen].addr & ~0xFF) + 0x8000) & M64


def _percpu(obj: ElfObject) -> int | None:
    """find_pcpusec: the SHF_ALLOC ``.data..percpu`` section (kernel/module/main.c)."""
    for i, sec in enumerate(obj.sections):
        if sec.name == ".data..percpu" and sec.flags & SHF_ALLOC:
            return i
    return None


def symbol_value(inp: _Inputs, sym_index: int, st: _Step) -> int | None:
    """S as the kernel resolves it (None: not known here).

    simplify_symbols (kernel/module/main.c): defined symbols get their section's address (the
    module's per-cpu base for .data..percpu), SHN_UNDEF ones resolve_symbol's export (0 when
    weak and missing), SHN_ABS keep st_value; dedotify first drops an undefined name's dot and
    makes ``.TOC.`` absolute with my_r2. klp_resolve_symbols (kernel/livepatch/core.c): a
    ``.klp.sym.<obj>.<name>,<pos>`` symbol is the pos-th kallsyms match in obj (0: unique).
    """
    obj = inp.obj
    if sym_index == 0:
        return 0
    if sym_index >= len(obj.symbols):
        return None
    sym = obj.symbols[sym_index]
    world = inp.world
    if sym.shndx == SHN_UNDEF:
        if sym.name == ".TOC.":
            return inp.toc
        if world is None:
            return None
        name = sym.name[1:] if sym.name.startswith(".") else sym.name
        addr = world.resolve_export(name)
        return 0 if addr is None and sym.bind == STB_WEAK else addr
    if sym.shndx == SHN_LIVEPATCH:
        m = _KLP_SYM.match(sym.name)
        if m is None or world is None:
            return None
        objname, name, pos = m.group(1), m.group(2), int(m.group(3))
        gen = 0 if objname == VMLINUX else st.generations.get(objname, 0)
        found = world.lookup(None if objname == VMLINUX else objname, name, gen)
        if pos == 0:
            return found[0] if len(found) == 1 else None
        return found[pos - 1] if pos <= len(found) else None
    if sym.shndx == SHN_ABS:
        return sym.value & M64
    if sym.shndx == SHN_COMMON:
        return None
    if sym.shndx == inp.percpu:
        return None if world is None else (world.percpu_base(inp.modname) + sym.value) & M64
    placed = inp.placed.get(sym.shndx)
    return None if placed is None else (placed.addr + sym.value) & M64


def _external(obj: ElfObject, sym_index: int) -> bool:
    """Reached through a stub: SHN_UNDEF (but ``.TOC.``, absolute after dedotify) or
    SHN_LIVEPATCH (apply_relocate_add's REL24 case)."""
    if sym_index >= len(obj.symbols):
        return False
    sym = obj.symbols[sym_index]
    return sym.shndx == SHN_LIVEPATCH or (sym.shndx == SHN_UNDEF and sym.name != ".TOC.")


def _u(data: bytes, endian: ByteOrder) -> int:
    return int.from_bytes(data, endian)


def _ftrace_name(obj: ElfObject, sym_index: int, config: Config) -> bool:
    """is_mprofile_ftrace_call (module_64.c, CONFIG_MPROFILE_KERNEL) on the dedotified name."""
    if not config.mprofile_kernel or sym_index >= len(obj.symbols):
        return False
    name = obj.symbols[sym_index].name.lstrip(".")
    return name == "_mcount" or (
        config.dynamic_ftrace and (name == "ftrace_caller" or (
            config.dynamic_ftrace_with_regs and name == "ftrace_regs_caller")))


class _Judge:
    """Judges every relocation of one run, step by step."""

    def __init__(self, inp: _Inputs) -> None:
        self.inp = inp
        self.out = Outcome()
        self.endian: ByteOrder = inp.obj.endian

    def word(self, at: ByteAt, addr: int, size: int = 4) -> int | None:
        data = at(addr, size)
        return None if data is None else _u(data, self.endian)

    def finding(self, st: _Step, relsec: int, index: int, r: Rela, addr: int, msg: str,
                expected: bytes | None = None, actual: bytes | None = None) -> None:
        sym = self.inp.obj.symbols[r.sym].name if r.sym < len(self.inp.obj.symbols) else ""
        sorted_index = _sorted_index(self.inp.run, st.index, relsec, r, index)
        self.out.findings.append(Finding(st.index, relsec, sorted_index, r, sym, addr, msg,
                                         expected, actual))

    def step(self, st: _Step) -> None:
        inp = self.inp
        obj = inp.obj
        spans: list[tuple[int, int, int, Rela, int]] = []  # (lo, hi, relsec, rela, index)
        for relsec in applied_sections(obj, st.step):
            target = obj.sections[relsec].info
            for index, r in enumerate(obj.relocs.get(relsec, [])):
                f = FORMULAS.get(r.type)
                if f is None:
                    self.out.skip("no formula for the type")
                    continue
                if target not in inp.placed:
                    self.out.skip("target section not placed")
                    continue
                p = (inp.placed[target].addr + r.offset) & M64
                calls_out = r.type == REL24 and _external(obj, r.sym) \
                    and not _ftrace_name(obj, r.sym, inp.config)  # restore_r2 may write P+4
                size = 8 if r.type == ENTRY or calls_out else f.size
                if size == 0:
                    self.one(st, relsec, index, r, p)  # TOCSAVE: no field to overlap
                    continue
                inside = r.offset + size <= inp.placed[target].size
                spans.append((p, p + size, relsec, r, index if inside else -1))
        spans.sort(key=lambda s: s[0])
        overlapping = _overlapping(spans)
        for k, (p, _, relsec, r, index) in enumerate(spans):
            if index < 0:
                self.out.skip("field outside its section (in_bounds)")
            elif k in overlapping:
                self.out.skip("overlapping fields (the result depends on the sorted order)")
            else:
                self.one(st, relsec, index, r, p)

    def one(self, st: _Step, relsec: int, index: int, r: Rela, p: int) -> None:
        inp = self.inp
        f = FORMULAS[r.type]
        if r.type in DS_FORMS and dq_form(self.word(st.before, p & ~3)):
            f = dataclasses.replace(f, mask=0xFFF0, align=16)
        toc = inp.toc
        s = symbol_value(inp, r.sym, st)
        if s is None or toc is None:
            self.out.skip("symbol value not known here")
            return
        self.out.judged += 1
        if r.type == ENTRY:
            self.entry(st, relsec, index, r, p, toc)
            return
        if f.size == 0:
            return
        external = r.type == REL24 and _external(inp.obj, r.sym)
        if r.type == REL24 and not external and r.sym < len(inp.obj.symbols):
            s += local_entry_offset(inp.obj.symbols[r.sym].other)
        if external:
            self.stub_call(st, relsec, index, r, p, (s + r.addend) & M64, toc)
            return
        v = f.value(s, r.addend, p, toc) & M64
        if f.check is not None and not f.check(v):
            self.finding(st, relsec, index, r, p, f"{f.name} value {signed(v):#x} is out of "
                         "range but the apply succeeded")
            return
        if v % f.align:
            self.finding(st, relsec, index, r, p, f"{f.name} value {v:#x} is not "
                         f"{f.align}-aligned but the apply succeeded")
            return
        self.field(st, relsec, index, r, p, f, v)

    def field(self, st: _Step, relsec: int, index: int, r: Rela, p: int, f: Formula,
              v: int) -> None:
        before, after = st.before(p, f.size), st.after(p, f.size)
        if before is None or after is None:
            self.out.skip("memory not known")
            return
        full = (1 << (8 * f.size)) - 1
        want = ((_u(before, self.endian) & ~f.mask & full) | (v & f.mask)).to_bytes(
            f.size, self.endian)
        if want != after:
            self.finding(st, relsec, index, r, p, f"{f.name} field at {p:#x} holds "
                         f"{after.hex()}, the ABI's value is {want.hex()}", want, after)

    def entry(self, st: _Step, relsec: int, index: int, r: Rela, p: int, toc: int) -> None:
        """R_PPC64_ENTRY (apply_relocate_add, 6.1/6.12): the rewrite, or both words kept."""
        w0, w1 = self.word(st.before, p), self.word(st.before, p + 4)
        after = st.after(p, 8)
        if w0 is None or w1 is None or after is None:
            self.out.skip("memory not known")
            return
        v = (toc - p) & M64
        if (v + 0x8000_8000) & M64 <= 0xFFFF_FFFF and w0 & ~0xFFFC == LD_R2_R12 \
                and w1 == ADD_R2_R2_R12:
            w0, w1 = ADDIS_R2_R12 | ha(v), ADDI_R2_R2 | lo(v)
        want = w0.to_bytes(4, self.endian) + w1.to_bytes(4, self.endian)
        if want != after:
            self.finding(st, relsec, index, r, p, f"R_PPC64_ENTRY words at {p:#x} hold "
                         f"{after.hex()}, expected {want.hex()}", want, after)

    def stub_call(self, st: _Step, relsec: int, index: int, r: Rela, p: int, target: int,
                  toc: int) -> None:
        """An external REL24: a branch to a stub for S+A, and restore_r2's word at P+4."""
        bl, nxt = self.word(st.after, p), self.word(st.after, p + 4)
        old_bl, old_next = self.word(st.before, p), self.word(st.before, p + 4)
        if bl is None or nxt is None or old_bl is None or old_next is None:
            self.out.skip("memory not known")
            return
        if bl & ~0x03FF_FFFC != old_bl & ~0x03FF_FFFC:
            self.finding(st, relsec, index, r, p, f"R_PPC64_REL24 at {p:#x} changed bits "
                         f"outside the LI field: {old_bl:08x} -> {bl:08x}")
            return
        # restore_r2: a link branch (LK set, AA clear) followed by a nop gets ld r2,24(r1)
        link = old_bl >> 26 == 18 and old_bl & 3 == 1
        ftrace = _ftrace_name(self.inp.obj, r.sym, self.inp.config)  # P+4 is not touched
        want_next = LD_R2_R1_24 if link and old_next == NOP else old_next
        if old_bl >> 26 == 1 and nxt != old_next:
            # ppc_inst(value) keeps the word's primary opcode; opcode 1 makes it "prefixed",
            # so patch_instruction (6.1, 6.12) stores 8 bytes with a zero suffix over P+4
            self.finding(st, relsec, index, r, p + 4, f"R_PPC64_REL24 at {p:#x} on a word with "
                         f"primary opcode 1 ({old_bl:08x}, a prefix): patch_instruction stored "
                         f"8 bytes and the word after became {nxt:08x} (was {old_next:08x})")
            return
        if not ftrace and nxt != want_next:
            self.finding(st, relsec, index, r, p + 4, f"the word after the call at {p:#x} is "
                         f"{nxt:08x}, restore_r2 gives {want_next:08x}")
            return
        entry = (p + signed(bl & 0x03FF_FFFC, 26)) & M64
        lo_s, size = self.inp.run.stubs
        if not lo_s <= entry < lo_s + size:
            if not self._oob_in_step(st.index):
                self.finding(st, relsec, index, r, p, f"R_PPC64_REL24 at {p:#x} branches to "
                             f"{entry:#x}, outside .stubs [{lo_s:#x}, {lo_s + size:#x})")
            else:
                self.out.skip("stub outside .stubs (in_bounds / reload_cycles)")
            return
        if (entry - lo_s) % STUB_SIZE:
            self.finding(st, relsec, index, r, p, f"R_PPC64_REL24 at {p:#x} branches into "
                         f"the middle of a stub ({entry:#x})")
            return
        self.stub(st, relsec, index, r, p, entry, target, toc)

    def stub(self, st: _Step, relsec: int, index: int, r: Rela, p: int, entry: int,
             target: int, toc: int) -> None:
        """create_stub / create_ftrace_stub (module_64.c): the words, magic and funcdata."""
        raw = st.after(entry, STUB_SIZE)
        if raw is None:
            self.out.skip("memory not known")
            return
        words = [_u(raw[k : k + 4], self.endian) for k in range(0, 32, 4)]
        funcdata = _u(raw[32:40], self.endian)
        problems = []
        if funcdata != target:
            problems.append(f"funcdata {funcdata:#x}, S+A is {target:#x}")
        if words[7] != STUB_MAGIC:
            problems.append(f"magic {words[7]:08x}")
        # create_stub hands is_mprofile_ftrace_call names to create_ftrace_stub (6.1, 6.12);
        # stub_for_addr reuses a stub by funcdata alone, so a stub another name made for the
        # same address has the other form: either form is the ABI's, chosen by the name first
        ftrace_first = _ftrace_name(self.inp.obj, r.sym, self.inp.config)
        forms = [self._ftrace_stub_words(target, words), self._stub_words(entry, toc)]
        want = forms[0] if ftrace_first else forms[1]
        got = words[: len(want)]
        if not any(words[: len(form)] == form for form in forms):
            problems.append("code " + " ".join(f"{w:08x}" for w in got) + ", expected "
                            + " ".join(f"{w:08x}" for w in want))
        if problems and self._overwritten_out_of_bounds(st.index, entry, STUB_SIZE):
            self.out.skip("stub overwritten by an out-of-bounds write (in_bounds)")
            return
        if problems:
            self.finding(st, relsec, index, r, p, f"the stub at {entry:#x} for the call at "
                         f"{p:#x} has " + "; ".join(problems), None, raw)

    def _ftrace_stub_words(self, target: int, words: list[int]) -> list[int]:
        """create_ftrace_stub (MPROFILE_KERNEL): ld r12,kernel_toc(r13); addis/addi of
        target - kernel_toc; mtctr; bctr (the words as found when no world is known)."""
        if self.inp.world is None:
            return words[:6]
        rel = (target - self.inp.world.kernel_toc_addr()) & M64
        return [LD_R12_R13 | self.inp.config.paca_kernel_toc_offset,
                FTRACE_STUB_WORDS[0] | ha(rel), FTRACE_STUB_WORDS[1] | lo(rel),
                *FTRACE_STUB_WORDS[2:]]

    @staticmethod
    def _stub_words(entry: int, toc: int) -> list[int]:
        """create_stub's ppc64_stub_insns with the stub's offset from r2 (entry - my_r2)."""
        rel = (entry - toc) & M64
        return [STUB_WORDS[0] | ha(rel), STUB_WORDS[1] | lo(rel), *STUB_WORDS[2:]]

    def _overwritten_out_of_bounds(self, step: int, addr: int, size: int) -> bool:
        """Whether a stray write of ``step`` overlaps [addr, addr+size): one outside the module
        (in_bounds reports it) or a relocation field written past its own section into
        `.stubs` (r_offset is never checked against sh_size); the stub's bytes are then that
        write's doing, not create_stub's."""
        return any((not w.in_bounds or "stub" not in w.what)
                   and w.addr < addr + size and addr < w.addr + len(w.new)
                   for w in self.inp.run.steps[step].writes)

    def _oob_in_step(self, step: int) -> bool:
        sr = self.inp.run.steps[step]
        return bool(sr.oob) or not all(w.in_bounds for w in sr.writes)


def _sorted_index(run: RunResult, step: int, relsec: int, r: Rela, index: int) -> int:
    """The relocation's index in the engine's (sorted) array, when a write of the step names
    it; else its index in the object."""
    for w in run.steps[step].writes:
        ref = w.reloc
        if ref is not None and ref.relsec == relsec and (ref.offset, ref.type, ref.sym) == (
                r.offset, r.type, r.sym):
            return ref.index
    return index


def judge_values(
    obj: ElfObject,
    steps: Sequence[Step],
    run: RunResult,
    before: Callable[[int], ByteAt],
    after: Callable[[int], ByteAt],
    *,
    world: World | None,
    modname: str,
    config: Config,
) -> Outcome:
    """Judge every successful load/coming step of ``run``. ``before(i)``/``after(i)`` read the
    bytes of module memory before and after step ``i`` (None when not known)."""
    out = Outcome()
    if obj.big_endian or config.abi != "elfv2" or config.pcrel:
        out.skip("ELFv1 or PCREL build (not modelled by abi_values)")
        return out
    placed = {p.index: p for p in run.placements}
    inp = _Inputs(obj, run, world, modname, config, placed, my_r2(obj, placed), _percpu(obj))
    judge = _Judge(inp)
    generations: dict[str, int] = {}
    for i, sr in enumerate(run.steps):
        step = steps[i] if i < len(steps) else sr.step
        if step.kind == "coming" and step.objname:
            generations[step.objname] = step.generation
        if sr.rc != 0 or sr.fault is not None or step.kind == "going":
            continue
        judge.step(_Step(i, step, before(i), after(i), dict(generations)))
    return judge.out
