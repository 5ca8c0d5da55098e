"""GNU ld and lld as references: link an object at the model's exact layout and read it back.

:func:`link_gnu_ld` and :func:`link_lld` take an :class:`ElfObject`, where each SHF_ALLOC
section goes, the value of every external symbol and the TOC base (the kernel's my_r2), and
return the relocated bytes of each section (:class:`LinkResult`). The object is first rewritten
into a *link copy* that keeps only what a linker computes the way a loader does: placed PROGBITS
sections renamed ``.s<i>`` (so no name means anything special to a linker), every relocation of
every RELA section that targets them (``.klp.rela.*`` included, merged per target) whose type
the ABI table knows (:data:`ppcreloc.reference.formulas.TYPES`) and whose field lies in the section, and
symbols renamed ``__d<k>`` (defined), ``__a<k>`` (absolute), ``__u<k>`` (undefined or
SHN_LIVEPATCH, assigned in the script). The copy is serialised with ppcreloc.elf.writer or,
as an independent producer, GNU as (:mod:`ppcreloc.reference.gas`).

Flags, the stub-placement trick and each linker's measured quirks: README, "Linkers".
Placement is verified from the -Map file (:class:`PlacementError` when it differs). Each REL24
to an external symbol is followed through the linker's own stub (``--emit-stub-syms`` /
``__long_branch_*`` names it) to its final destination (:mod:`ppcreloc.reference.stubwalk`).
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from ppcreloc.bits import M64
from ppcreloc.elf.builder import ObjectBuilder, SymRef
from ppcreloc.elf.model import (
    SHF_ALLOC,
    SHF_EXECINSTR,
    SHF_WRITE,
    SHN_ABS,
    SHN_LIVEPATCH,
    SHN_UNDEF,
    SHT_NOBITS,
    SHT_RELA,
    STB_GLOBAL,
    STT_SECTION,
    ElfObject,
    Rela,
)
from ppcreloc.elf.writer import write_elf
from ppcreloc.errors import PpcrelocError
from ppcreloc.reference import gas, lds
from ppcreloc.reference.formulas import R_PPC64_REL24, R_PPC64_TOC, TYPES, is_external
from ppcreloc.reference.stubwalk import StubWalkError, branch_target, follow

GNU_LD = "powerpc64le-linux-gnu-ld"
LLD = "ld.lld"

GNU_LD_FLAGS = [
    "-m", "elf64lppc", "-static", "-e", "0", "-q", "--no-warn-rwx-segments", "-z", "norelro",
    "-z", "noseparate-code", "--build-id=none", "--no-ld-generated-unwind-info",
    "--emit-stub-syms", "--traditional-format", "--no-toc-optimize", "--no-toc-sort",
    "--no-multi-toc", "--no-plt-localentry", "--no-inline-optimize", "--no-pcrel-optimize",
    "--no-tls-optimize", "--no-tls-get-addr-optimize", "--no-save-restore-funcs",
    "--no-plt-align", "--no-power10-stubs", "--no-check-sections", "--noinhibit-exec",
    "-z", "max-page-size=4096",
]
LLD_FLAGS = [
    "-m", "elf64lppc", "-static", "-e", "0", "-q", "--no-relax", "--no-toc-optimize",
    "--no-pcrel-optimize", "--power10-stubs=no", "-z", "norelro", "--build-id=none",
    "--no-rosegment", "-z", "noseparate-code", "--no-check-sections", "--noinhibit-exec",
    "-z", "max-page-size=4096",
]
#: bytes of stub room per REL24 in front of a hooked section (ld's largest stub is 28 bytes)
STUB_ROOM = 32


class LinkerError(PpcrelocError):
    """A reference link could not be set up or run."""


class LinkerMissing(LinkerError):
    """The linker binary is not installed."""


class PlacementError(LinkerError):
    """The linker did not put a section where the model did (checked from the -Map file)."""


class LinkFailed(LinkerError):
    """The linker exited without an output; ``diagnostics`` holds what it reported."""

    def __init__(self, message: str, diagnostics: list[LinkDiagnostic]) -> None:
        super().__init__(message)
        self.diagnostics = diagnostics


@dataclass(frozen=True)
class LinkDiagnostic:
    """One warning/error line, with the original section index and offset it names if any."""

    section: int | None
    offset: int | None
    text: str


@dataclass(frozen=True)
class BranchTarget:
    """Where a REL24 to an external symbol ends up: the stub it enters and its destination."""

    section: int
    offset: int
    stub: int | None
    stub_name: str | None
    destination: int | None
    error: str | None = None


@dataclass
class LinkResult:
    """The linked image of one object, in the original object's section indices.

    ``relocs`` lists the (RELA section, index) pairs the linker was given; ``diagnostics`` every
    message naming a place (ld "relocation truncated to fit", lld "out of range", ...).
    """

    linker: str
    sections: dict[int, bytes]
    placements: dict[int, int]
    branch_targets: dict[tuple[int, int], BranchTarget]
    diagnostics: list[LinkDiagnostic]
    relocs: list[tuple[int, int]]
    toc: int
    stub_ranges: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class _Plan:
    """The link copy and what the linker script needs to know about it."""

    copy: ElfObject
    out: list[lds.OutSection]
    externs: dict[str, int]
    relocs: list[tuple[int, int]]
    external_rel24: list[tuple[int, int]]
    end: int


def _placed_sections(obj: ElfObject, placements: Mapping[int, int]) -> list[int]:
    placed = []
    for i, addr in sorted(placements.items()):
        if not 0 < i < len(obj.sections):
            raise LinkerError(f"placement for section index {i}, which does not exist")
        sec = obj.sections[i]
        if not sec.flags & SHF_ALLOC or sec.type == SHT_RELA:
            raise LinkerError(f"placement for section {i} ({sec.name}), which is not loaded")
        if addr < 0 or addr + sec.sh_size > M64:
            raise LinkerError(f"section {i} ({sec.name}) placed outside the address space")
        if addr % max(sec.addralign, 1):
            raise LinkerError(f"section {i} ({sec.name}) at {addr:#x} breaks its alignment "
                              f"{sec.addralign}")
        if sec.type != SHT_NOBITS:
            placed.append(i)
    return placed


def _plan(obj: ElfObject, placements: Mapping[int, int], symbols: Mapping[str, int],
          linker: _Linker) -> _Plan:
    """Build the link copy for ``linker`` (see the module docstring), without the relocations
    it cannot take (:meth:`_Linker.refuses`)."""
    if obj.big_endian:
        raise LinkerError("reference links support little-endian (ELFv2) objects only")
    placed = _placed_sections(obj, placements)
    b = ObjectBuilder()
    new: dict[int, int] = {}
    for i in placed:
        sec = obj.sections[i]
        new[i] = b.add_section(f".s{i}", sec.data,
                               flags=sec.flags & (SHF_ALLOC | SHF_WRITE | SHF_EXECINSTR),
                               addralign=max(sec.addralign, 1))
    refs: dict[int, SymRef | None] = {0: None}
    externs: dict[str, int] = {}

    def ref(k: int) -> SymRef | None:
        if k in refs:
            return refs[k]
        sym = obj.symbols[k]
        if sym.shndx == SHN_UNDEF and sym.name == ".TOC.":
            refs[k] = b.add_symbol(".TOC.", bind=STB_GLOBAL)  # the script / .got defines it
        elif sym.shndx in (SHN_UNDEF, SHN_LIVEPATCH):
            if sym.name not in symbols:
                raise LinkerError(f"no value given for external symbol {sym.name!r}")
            externs[f"__u{k}"] = symbols[sym.name] & M64
            refs[k] = b.add_symbol(f"__u{k}", bind=STB_GLOBAL)
        elif sym.shndx == SHN_ABS:
            refs[k] = b.add_symbol(f"__a{k}", sym.value & M64, bind=STB_GLOBAL, shndx=SHN_ABS)
        elif sym.type == STT_SECTION:
            refs[k] = b.section_symbol(new[sym.shndx])
        else:
            # st_other's local-entry field k = 1 ("uses r2 as scratch", local entry offset 0)
            # makes both linkers route calls through TOC-save stubs; k = 0 has the same
            # arithmetic and no stub
            other = sym.other & 0xE0
            refs[k] = b.add_symbol(f"__d{k}", sym.value, bind=STB_GLOBAL, type=sym.type,
                                   other=0 if other == 0x20 else other, shndx=new[sym.shndx])
        return refs[k]

    relocs: list[tuple[int, int]] = []
    external: list[tuple[int, int]] = []
    rel24: dict[int, int] = {}
    for relsec in obj.rela_sections():
        target = obj.sections[relsec].info
        if target not in new:
            continue
        size = len(obj.sections[target].data)
        for index, r in enumerate(obj.relocs.get(relsec, [])):
            rt = TYPES.get(r.type)
            if rt is None or r.offset + rt.field.size > size or r.sym >= len(obj.symbols):
                continue
            if linker.refuses(obj, target, r):
                continue
            sym = obj.symbols[r.sym] if r.sym else None
            if sym is not None and sym.shndx not in (SHN_UNDEF, SHN_LIVEPATCH, SHN_ABS) \
                    and sym.shndx not in new:
                continue  # defined in a section the link does not place: value unknown
            b.add_rela(new[target], r.offset, ref(r.sym), r.type, r.addend)
            relocs.append((relsec, index))
            if r.type == R_PPC64_REL24:
                rel24[target] = rel24.get(target, 0) + 1
                if is_external(obj, r.sym):
                    external.append((relsec, index))
    out = []
    for i in placed:
        gap = 0
        if linker.hooks and rel24.get(i):
            b.add_section(f".h{i}", flags=SHF_ALLOC | SHF_EXECINSTR, addralign=4)
            room = -(-(STUB_ROOM * rel24[i] + 64) // 64) * 64
            gap = placements[i] % 32 + room
        out.append(lds.OutSection(i, placements[i], gap))
    probe = b.add_section(".tocref", bytes(8), flags=SHF_ALLOC | SHF_WRITE, addralign=8)
    b.add_rela(probe, 0, None, R_PPC64_TOC, 0)
    thunk_room = STUB_ROOM * sum(rel24.values())
    end = max(placements[i] + obj.sections[i].sh_size for i in placed) if placed else 0
    return _Plan(b.build(), out, externs, relocs, external, end + thunk_room)


def serialise(obj: ElfObject, workdir: Path, producer: str = "auto") -> bytes:
    """ELF bytes of a link copy: ``writer`` (ppcreloc.elf.writer), ``gas``, or ``auto``."""
    if producer in ("auto", "writer"):
        return write_elf(obj)
    if producer not in ("auto", "gas"):
        raise LinkerError(f"unknown object producer {producer!r} (writer, gas, auto)")
    return gas.assemble(obj, workdir)


_PLACE = re.compile(r"\(\.[sh](\d+)\+0x([0-9a-f]+)\)")


def _diagnostics(stderr: str) -> list[LinkDiagnostic]:
    out = []
    for line in stderr.splitlines():
        if not line.strip():
            continue
        m = _PLACE.search(line)
        sec, off = (int(m.group(1)), int(m.group(2), 16)) if m else (None, None)
        out.append(LinkDiagnostic(sec, off, line.strip()))
    return out


@dataclass(frozen=True)
class _Linker:
    name: str
    exe: str  # a program on PATH, or "ziglang:<tool>" for the ziglang wheel's copy
    flags: list[str]
    hooks: bool
    script: Callable[..., str]
    parse_map: Callable[[str], list[lds.MapEntry]]
    stub_section: Callable[[str], bool]
    #: ABI types the linker rejects outright ("unknown relocation"): left out of the link copy
    unknown: frozenset[int] = frozenset()
    #: calls to external symbols with an addend this large are left out (lld fails the whole
    #: link: "InputSection too large for range extension thunk"; measured with lld 14)
    call_addend_limit: int | None = None
    #: primary opcodes of the words the linker treats as DQ-form for a *_DS relocation (see
    #: :func:`dq_form`); such relocations are left out of the link copy
    dq_opcodes: frozenset[int] = frozenset({56, 61})
    #: branch types the linker crashes on against symbol index 0 (GNU ld 2.40: SIGSEGV for
    #: REL24 and REL14, measured): left out
    sym0_crash: frozenset[int] = frozenset()
    #: branch types the linker refuses against a symbol whose st_other local-entry field is 7
    #: (lld 14 and 22: "reserved value of 7", measured; GNU ld adds 128 as the kernel does)
    local_entry7_refused: frozenset[int] = frozenset()

    def refuses(self, obj: ElfObject, target: int, r: Rela) -> bool:
        """Whether ``r`` (of section ``target``, symbol index in range) is left out of this
        linker's link copy: a type it rejects, a call addend over its limit, a DS relocation on
        what it takes for a DQ-form word, or a branch it crashes on or refuses."""
        if r.type in self.unknown:
            return True
        if self.call_addend_limit is not None and r.type == R_PPC64_REL24 \
                and is_external(obj, r.sym) and abs(r.addend) >= self.call_addend_limit:
            return True
        if r.type in DS_TYPES:
            at = r.offset & ~3
            word = int.from_bytes(obj.sections[target].data[at : at + 4], "little")
            if dq_form(word, self.dq_opcodes):
                return True  # the linker's DQ case: another mask, and a link error if % 16
        if r.type in self.sym0_crash and r.sym == 0:
            return True
        return r.type in self.local_entry7_refused and obj.symbols[r.sym].other >> 5 == 7


#: *_DS relocation types: ADDR16_DS, ADDR16_LO_DS, GOT16_DS, GOT16_LO_DS, PLT16_LO_DS,
#: SECTOFF_DS, SECTOFF_LO_DS, TOC16_DS, TOC16_LO_DS, PLTGOT16_DS, PLTGOT16_LO_DS
DS_TYPES = frozenset({56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 66})


def dq_form(word: int, opcodes: frozenset[int]) -> bool:
    """Whether a linker treats ``word`` as a DQ-form instruction under a *_DS relocation.

    Measured (tests/reference/test_linkers.py::test_ds_relocation_on_a_dq_form_word): GNU ld 2.40 and
    lld (14 and 22) take lq (primary opcode 56) and lxv/stxv (opcode 61 when the low two bits
    are 01; the rest of 61 is DS-form) as DQ-form, keep the word's low 4 bits instead of 2 and
    require a multiple of 16 (GNU ld and lld 14 fail the link otherwise); lld also takes
    lxvp/stxvp (opcode 6). The kernel's apply_relocate_add has no DQ case: it keeps the low 2
    bits, so these fields are not comparable.
    """
    op = (word >> 26) & 0x3F
    return op in opcodes and (op != 61 or word & 3 == 1)


_GNU_LD = _Linker("gnu-ld", GNU_LD, GNU_LD_FLAGS, True, lds.gnu_ld_script,
                  lds.parse_gnu_ld_map, lambda n: n.endswith(".stub"),
                  sym0_crash=frozenset({10, 11}))
#: Debian's lld 14 also puts the long-branch thunk of a call with an addend of 0xfffffc or more
#: in front of the calling section, which moves the section (measured), hence its lower limit
_LLD = _Linker("lld", LLD, LLD_FLAGS, False, lds.lld_script, lds.parse_lld_map,
               lambda n: "thunk" in n, frozenset({2, 7, 24, 43, 110, 111, 249}), 0xFFFFFC,
               frozenset({6, 56, 61}), local_entry7_refused=frozenset({10, 11}))
#: the lld of the ziglang wheel (PyPI; a much newer LLVM than Debian's lld 14)
_ZIG_LLD = _Linker("zig-lld", "ziglang:ld.lld", LLD_FLAGS, False, lds.lld_script,
                   lds.parse_lld_map, lambda n: "thunk" in n,
                   frozenset({2, 7, 24, 43, 110, 111, 249}), 1 << 25,
                   frozenset({6, 56, 61}), local_entry7_refused=frozenset({10, 11}))


def _command(exe: str) -> list[str] | None:
    """The argv prefix that runs ``exe``, or None when it is not installed."""
    if exe.startswith("ziglang:"):
        if importlib.util.find_spec("ziglang") is None:
            return None
        return [sys.executable, "-m", "ziglang", exe.removeprefix("ziglang:")]
    path = shutil.which(exe)
    return [path] if path else None


def _read_output(path: Path) -> tuple[dict[str, tuple[int, bytes]], dict[tuple[str, int], str]]:
    """Every output section's (address, bytes) by name, and symbol names by (section, address)."""
    with path.open("rb") as f:
        elf = ELFFile(BytesIO(f.read()))
    secs = {}
    by_index: dict[int, str] = {}
    for n, s in enumerate(elf.iter_sections()):
        by_index[n] = s.name
        if s["sh_flags"] & SHF_ALLOC and s["sh_type"] != "SHT_NOBITS":
            secs[s.name] = (s["sh_addr"], s.data())
    names: dict[tuple[str, int], str] = {}
    symtab = elf.get_section_by_name(".symtab")
    if isinstance(symtab, SymbolTableSection):
        for sym in symtab.iter_symbols():
            shndx = sym["st_shndx"]
            if sym.name and sym["st_info"]["type"] != "STT_SECTION" and isinstance(shndx, int):
                names.setdefault((by_index.get(shndx, ""), sym["st_value"]), sym.name)
    return secs, names


def _link(linker: _Linker, obj: ElfObject, placements: Mapping[int, int],
          symbols: Mapping[str, int], toc: int, producer: str) -> LinkResult:
    exe = _command(linker.exe)
    if exe is None:
        raise LinkerMissing(f"{linker.exe} not found")
    toc &= M64
    plan = _plan(obj, placements, symbols, linker)
    tocref = (plan.end + 0x1FF) & ~0xFF
    branch_lt = tocref + 0x1000
    with tempfile.TemporaryDirectory(prefix="ppcreloc-link-") as tmp:
        work = Path(tmp)
        (work / lds.INPUT).write_bytes(serialise(plan.copy, work, producer))
        (work / "link.lds").write_text(linker.script(plan.out, branch_lt, tocref, toc,
                                                               plan.externs))
        cmd = [*exe, *linker.flags, "-T", str(work / "link.lds"), "-Map", str(work / "out.map"),
               "-o", str(work / "out.elf"), str(work / lds.INPUT)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        diags = _diagnostics(proc.stderr)
        if not (work / "out.elf").exists() or not (work / "out.map").exists():
            raise LinkFailed(f"{linker.name} produced no output (exit {proc.returncode}): "
                             + "; ".join(d.text for d in diags[:3]), diags)
        if (work / "out.elf").read_bytes()[:4] != b"\x7fELF":
            raise LinkFailed(f"{linker.name} wrote no ELF file (exit {proc.returncode}): "
                             + "; ".join(d.text for d in diags[:3]), diags)
        entries = linker.parse_map((work / "out.map").read_text())
        out, names = _read_output(work / "out.elf")
    return _collect(linker, obj, placements, toc, plan, entries, out, names, diags)


def _reader(out: dict[str, tuple[int, bytes]], stubs: list[lds.MapEntry],
            prefer: list[str]) -> Callable[[int, int], bytes | None]:
    """Read linked memory during one walk.

    Sections may share addresses (ld's stub gaps, lld's thunks after a section, and lld reuses
    a thunk of another section when it is in range), so an address inside stubs is read from
    an output section holding a stub there, in the order of ``prefer``; anything else from
    ``prefer`` first, then any section covering it.
    """
    def rank(name: str) -> int:
        return prefer.index(name) if name in prefer else len(prefer)

    def read(addr: int, size: int) -> bytes | None:
        owners = sorted({e.out for e in stubs if e.addr <= addr < e.addr + e.size}, key=rank)
        for name in owners + prefer + sorted(out):
            base, data = out.get(name, (0, b""))
            if base <= addr and addr + size <= base + len(data):
                return data[addr - base : addr - base + size]
        return None

    return read


def _stub_owners(stubs: list[lds.MapEntry], names: Mapping[tuple[str, int], str], target: int,
                 callee: str, caller: str) -> list[str]:
    """Output sections holding a stub at ``target``: first those whose stub symbol there names
    ``callee`` (--emit-stub-syms / lld's __long_branch_<sym>), then the caller's, then others."""
    owners = sorted({e.out for e in stubs if e.addr <= target < e.addr + e.size})
    named = re.compile(re.escape(callee) + r"(\+|$)")

    def key(out: str) -> tuple[bool, bool, str]:
        return (not named.search(names.get((out, target), "")), out != caller, out)

    return sorted(owners, key=key) + [caller]


def _collect(linker: _Linker, obj: ElfObject, placements: Mapping[int, int], toc: int,
             plan: _Plan, entries: list[lds.MapEntry], out: dict[str, tuple[int, bytes]],
             names: dict[tuple[str, int], str], diags: list[LinkDiagnostic]) -> LinkResult:
    """Check placement against the map, cut each section out, follow external branches."""
    mapped = {e.name: e for e in entries}
    probe = out.get(".tocref", (0, b""))[1]
    if int.from_bytes(probe[:8], "little") != toc:
        got = probe[:8][::-1].hex() or "absent"
        raise PlacementError(f"{linker.name}'s TOC base is {got}, not {toc:#x}")
    sections: dict[int, bytes] = {}
    for s in plan.out:
        e = mapped.get(f".s{s.index}")
        if e is None or e.addr != s.addr:
            got = "absent" if e is None else f"{e.addr:#x}"
            raise PlacementError(f"{linker.name} placed section {s.index} "
                                 f"({obj.sections[s.index].name}) at {got}, not {s.addr:#x}")
        base, data = out[f".o{s.index}"]
        lo = s.addr - base
        sections[s.index] = data[lo : lo + len(obj.sections[s.index].data)]
    stub_entries = [e for e in entries if linker.stub_section(e.name) and e.out in out]
    stubs = [(e.addr, e.addr + e.size) for e in stub_entries]
    targets: dict[tuple[int, int], BranchTarget] = {}
    for relsec, index in plan.external_rel24:
        sec = obj.sections[relsec].info
        off = obj.relocs[relsec][index].offset
        insn = int.from_bytes(sections[sec][off : off + 4], "little")
        p = placements[sec] + off
        prefer = _stub_owners(stub_entries, names, branch_target(insn, p),
                              f"__u{obj.relocs[relsec][index].sym}", f".o{sec}")
        try:
            hop = follow(p, insn, _reader(out, stub_entries, prefer),
                         lambda a: any(lo <= a < hi for lo, hi in stubs), toc)
        except StubWalkError as e:
            targets[(sec, off)] = BranchTarget(sec, off, None, None, None, str(e))
            continue
        name = names.get((prefer[0], hop.stub)) if hop.stub is not None else None
        targets[(sec, off)] = BranchTarget(sec, off, hop.stub, name, hop.destination)
    return LinkResult(linker.name, sections, dict(placements), targets, diags, plan.relocs,
                      toc, stubs)


def link_gnu_ld(obj: ElfObject, placements: Mapping[int, int], symbols: Mapping[str, int],
                toc: int, producer: str = "auto") -> LinkResult:
    """Link ``obj`` with GNU ld (2.40 measured) at ``placements``, ``.TOC.`` = ``toc``.

    ``placements`` maps section index to address for every SHF_ALLOC section to link;
    ``symbols`` gives the value of each undefined or SHN_LIVEPATCH symbol, by its name in
    ``obj``. ``producer`` picks the serialiser of the link copy (see :func:`serialise`).
    """
    return _link(_GNU_LD, obj, placements, symbols, toc, producer)


def link_lld(obj: ElfObject, placements: Mapping[int, int], symbols: Mapping[str, int],
             toc: int, producer: str = "auto") -> LinkResult:
    """Link ``obj`` with lld (14 measured); as :func:`link_gnu_ld`, .TOC. via .got + 0x8000."""
    return _link(_LLD, obj, placements, symbols, toc, producer)


def link_zig_lld(obj: ElfObject, placements: Mapping[int, int], symbols: Mapping[str, int],
                 toc: int, producer: str = "auto") -> LinkResult:
    """As :func:`link_lld`, with the ld.lld of the ziglang wheel (``python -m ziglang``)."""
    return _link(_ZIG_LLD, obj, placements, symbols, toc, producer)


LINKERS: dict[str, Callable[..., LinkResult]] = {
    "gnu-ld": link_gnu_ld, "lld": link_lld, "zig-lld": link_zig_lld}
_BY_NAME = {lk.name: lk for lk in (_GNU_LD, _LLD, _ZIG_LLD)}
_PACKAGES = {"gnu-ld": "Debian binutils-powerpc64le-linux-gnu", "lld": "Debian lld",
             "zig-lld": "PyPI ziglang"}


def available(name: str) -> str | None:
    """None when linker ``name`` can run here, else the reason it cannot (for pytest.skip)."""
    exe = _BY_NAME[name].exe
    return None if _command(exe) else f"{exe} not installed ({_PACKAGES[name]})"
