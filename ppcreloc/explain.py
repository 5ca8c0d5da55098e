"""`ppcreloc explain OBJ.o`: what an object is and what each relocation did.

A fixture (an object with its JSON sidecar) is replayed (:func:`ppcreloc.replay.replay`); any
other object is checked as ``ppcreloc check`` would (``--engine``, ``--kallsyms``, ``--cycles``).
The run is shown: sections (with the addresses the loader gave them, flags by name, and for
`.stubs` the size and end module_frob_arch_sections computed, not the file's NOBITS size),
symbols (bind and type by name), then every relocation in the order the kernel applied
it (module_frob_arch_sections sorts each RELA section in place) with the bytes at its place
before apply, after apply, after clear and after the second apply, disassembled with capstone
(ppc64, the object's byte order). Words holding bytes a violation names are marked. Then the
kernel messages per step (consecutive steps with the same messages on one line) and the `.stubs`
entries written (stub_for_addr/create_stub in module_64.c), those past the computed end marked.

A relocation of a ``.klp.rela.<obj>.*`` section for a target object is applied by
klp_module_coming and cleared by klp_module_going (its stages come from those steps); any other
RELA section is applied once, at load (apply_relocations), so it has no clear stages.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

from ppcreloc.cli import (
    DEFAULT_ENGINE,
    _cycles,
    add_max_object_size,
    load_object,
    load_world,
    module_name,
)
from ppcreloc.diff import cmd_explain_diff
from ppcreloc.elf.model import (
    SHF_EXECINSTR,
    SHF_RELA_LIVEPATCH,
    SHN_LIVEPATCH,
    SHN_UNDEF,
    SHT_NOBITS,
    ElfObject,
)
from ppcreloc.engines import resolve_engine
from ppcreloc.fixtures import FixtureRecord, load_fixture
from ppcreloc.oracle import Verdict, check, describe_step
from ppcreloc.ppc64.reloctypes import RELOC_TYPES, display_name, type_name
from ppcreloc.records import RunResult, Step
from ppcreloc.replay import Replay, replay
from ppcreloc.replay_inputs import fixture_paths

STAGES = ("before apply", "after apply", "after clear", "after second apply")
_KLP_RELA = re.compile(r"\.klp\.rela\.([^.]{1,55})\.")
_SHT = {0: "NULL", 1: "PROGBITS", 2: "SYMTAB", 3: "STRTAB", 4: "RELA", 8: "NOBITS"}
#: section flag names (include/uapi/linux/elf.h), in bit order
_SHF = ((0x1, "WRITE"), (0x2, "ALLOC"), (0x4, "EXECINSTR"), (0x10, "MERGE"), (0x20, "STRINGS"),
        (0x40, "INFO_LINK"), (0x80, "LINK_ORDER"), (0x200, "GROUP"), (0x400, "TLS"),
        (0x00100000, "RELA_LIVEPATCH"))
_STB = {0: "LOCAL", 1: "GLOBAL", 2: "WEAK"}
_STT = {0: "NOTYPE", 1: "OBJECT", 2: "FUNC", 3: "SECTION", 4: "FILE", 5: "COMMON", 6: "TLS"}
#: REL24 handlers also rewrite the nop after the branch (restore_r2), so show that word too
_REL24_EXTRA = 4


@dataclass
class Word:
    """Four bytes (or fewer at a section's end) at ``addr``, disassembled."""

    addr: int
    data: bytes
    text: str
    violating: bool = False


@dataclass
class RelocView:
    """One relocation and its bytes at each stage (None: stage not reached / not applicable)."""

    section: str
    index: int
    type_name: str
    symbol: str
    offset: int
    addend: int
    addr: int | None
    target: str | None
    stages: dict[str, list[Word] | None] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)
    #: the type as shown: ABI name, plus the kernel's spelling where it differs
    display: str = ""


@dataclass
class StubView:
    """Bytes a step wrote into `.stubs`: one contiguous run of stub writes."""

    step: str
    addr: int
    words: list[Word]
    what: list[str]
    #: the run ends past `.stubs` as module_frob_arch_sections sized it
    past_end: bool = False


@dataclass
class Subject:
    """What was run: a replayed fixture (``record`` set) or a plain object checked afresh."""

    path: Path
    engine: str
    verdict: Verdict
    obj: ElfObject
    #: the object as the engine left it (module_frob_arch_sections sorts RELA sections in place)
    ran: ElfObject
    record: FixtureRecord | None = None

    @property
    def holds(self) -> bool:
        """The recorded invariant holds now (a plain object: every invariant holds)."""
        if self.record is None:
            return self.verdict.holds
        return self.verdict.invariants[self.record.invariant].holds

    @classmethod
    def from_replay(cls, rp: Replay) -> Subject:
        """A replayed fixture."""
        return cls(rp.path, rp.engine, rp.verdict, rp.inputs.obj, rp.ran, rp.record)


@dataclass
class Explanation:
    """Everything ``explain`` prints."""

    replay: Subject
    relocs: list[RelocView]
    stubs: list[StubView]
    messages: list[tuple[str, int, list[str], int]]  # step, rc, rendered messages, WARNs


class Disassembler:
    """capstone for ppc64 in the object's byte order (CS_ARCH_PPC, CS_MODE_64 | endianness)."""

    def __init__(self, big_endian: bool) -> None:
        import capstone

        mode = capstone.CS_MODE_64 | (
            capstone.CS_MODE_BIG_ENDIAN if big_endian else capstone.CS_MODE_LITTLE_ENDIAN)
        self.cs = capstone.Cs(capstone.CS_ARCH_PPC, mode)
        self.order: Literal["big", "little"] = "big" if big_endian else "little"

    def word(self, addr: int, data: bytes) -> str:
        """One instruction, or ``.long``/``.byte`` data when it does not decode."""
        if len(data) == 4:
            for insn in self.cs.disasm(data, addr, 1):
                return f"{insn.mnemonic} {insn.op_str}".strip()
            return f".long 0x{int.from_bytes(data, self.order):08x}"
        return ".byte " + ", ".join(f"0x{b:02x}" for b in data)

    def words(self, addr: int, data: bytes, hot: set[int], code: bool) -> list[Word]:
        """Split ``data`` at ``addr`` into 4-byte words; ``hot`` addresses mark a violation."""
        out = []
        for i in range(0, len(data), 4):
            chunk = data[i:i + 4]
            a = addr + i
            text = self.word(a, chunk) if code else \
                f".long 0x{int.from_bytes(chunk, self.order):0{2 * len(chunk)}x}"
            out.append(Word(a, chunk, text, any(x in hot for x in range(a, a + len(chunk)))))
        return out


def _objname(obj: ElfObject, relsec: int) -> str | None:
    """The klp target object of a RELA section (None: applied at load)."""
    sec = obj.sections[relsec]
    m = _KLP_RELA.match(sec.name)
    if not sec.flags & SHF_RELA_LIVEPATCH or m is None or m.group(1) == "vmlinux":
        return None
    return m.group(1)


def _stage_steps(script: list[Step], target: str | None) -> dict[str, int | None]:
    """Script indices whose memory shows each stage (-1: the object file's own bytes)."""
    if target is None:
        return {STAGES[0]: -1, STAGES[1]: 0, STAGES[2]: None, STAGES[3]: None}
    comings = [i for i, s in enumerate(script) if s.kind == "coming" and s.objname == target
               and s.generation == 0]
    goings = [i for i, s in enumerate(script) if s.kind == "going" and s.objname == target]
    first = comings[0] if comings else None
    return {
        STAGES[0]: first - 1 if first is not None else None,
        STAGES[1]: first,
        STAGES[2]: goings[0] if goings else None,
        STAGES[3]: comings[1] if len(comings) > 1 else None,
    }


def flag_names(flags: int) -> str:
    """``ALLOC EXECINSTR`` (SHF_* names); bits without a name as hex; ``-`` for none."""
    names = [n for bit, n in _SHF if flags & bit]
    rest = flags & ~sum(bit for bit, _ in _SHF)
    return " ".join(names + ([f"{rest:#x}"] if rest else [])) or "-"


def bind_type(bind: int, stype: int) -> str:
    """``GLOBAL FUNC`` (numbers for values without a name)."""
    return f"{_STB.get(bind, str(bind))} {_STT.get(stype, str(stype))}"


def _hot_addresses(replay: Subject) -> dict[int, set[int]]:
    """Per step: every byte address a violation names there (its expected/actual bytes)."""
    hot: dict[int, set[int]] = {}
    for v in replay.verdict.violations():
        if v.addr is None or v.step is None:
            continue
        size = max(len(v.expected or b""), len(v.actual or b""), 1)
        hot.setdefault(v.step, set()).update(range(v.addr, v.addr + size))
    return hot


def _bytes_at(obj: ElfObject, run: RunResult, step: int, secidx: int, off: int,
              size: int) -> bytes | None:
    if step == -1:
        sec = obj.sections[secidx]
        data = bytes(sec.sh_size) if sec.type == SHT_NOBITS else sec.data
    elif step < len(run.steps):
        data = run.steps[step].memory.get(secidx, b"")
    else:
        return None
    chunk = data[off:off + size]  # cut at the section's end (a REL24 in its last word)
    return chunk or None


def subject(path: Path, engine: str | None = None, kallsyms: str | None = None,
            cycles: int | None = None, max_size: int | None = None) -> Subject:
    """The fixture at ``path`` replayed when it has a sidecar, else the object checked afresh
    (as ``ppcreloc check``: ``engine`` or the default, ``kallsyms`` or the synthetic world)."""
    fixture = fixture_paths(Path(path))
    if fixture.with_suffix(".json").exists() and kallsyms is None and cycles is None:
        return Subject.from_replay(replay(fixture, engine))
    obj = load_object(str(path), max_size=max_size)
    ran = obj.clone()
    name = engine or DEFAULT_ENGINE
    verdict = check(ran, resolve_engine(name), load_world(kallsyms), cycles=cycles,
                    modname=module_name(str(path)))
    return Subject(Path(path), name, verdict, obj, ran)


def explain(path: Path, engine: str | None = None, kallsyms: str | None = None,
            cycles: int | None = None, max_size: int | None = None) -> Explanation:
    """Run the object (:func:`subject`) and collect the per-relocation, stub and message views."""
    return explain_subject(subject(path, engine, kallsyms, cycles, max_size))


def explain_subject(rp: Subject) -> Explanation:
    """The per-relocation, stub and message views of a run (``ppcreloc report`` reuses them)."""
    run = rp.verdict.run
    obj = rp.ran
    dis = Disassembler(obj.big_endian)
    hot = _hot_addresses(rp)
    placed = {p.index: p.addr for p in (run.placements if run else [])}
    failed: dict[tuple[int, int], dict[str, set[int]]] = {}
    for v in rp.verdict.violations():
        if v.relsec is not None and v.index is not None:
            steps = failed.setdefault((v.relsec, v.index), {}).setdefault(v.invariant, set())
            if v.addr is None and v.step is not None:  # a failed step: the whole place is hot
                steps.add(v.step)
    views: list[RelocView] = []
    for relsec in obj.rela_sections():
        secidx = obj.sections[relsec].info
        target = _objname(obj, relsec)
        stages = _stage_steps(list(rp.verdict.script), target)
        code = 0 < secidx < len(obj.sections) and bool(obj.sections[secidx].flags & SHF_EXECINSTR)
        for index, rela in enumerate(obj.relocs.get(relsec, [])):
            rtype = RELOC_TYPES.get(rela.type)
            size = rtype.size if rtype else 4
            if rtype and rtype.handler == "rel24":
                size += _REL24_EXTRA
            start = rela.offset & ~3
            width = max(4, (rela.offset + size - start + 3) & ~3)
            base = placed.get(secidx)
            sym = obj.symbols[rela.sym].name if rela.sym < len(obj.symbols) else f"#{rela.sym}"
            fails = failed.get((relsec, index), {})
            failed_steps = set().union(*fails.values()) if fails else set()
            view = RelocView(obj.sections[relsec].name, index, type_name(rela.type), sym,
                             rela.offset, rela.addend,
                             None if base is None else base + rela.offset, target,
                             failed=list(fails), display=display_name(rela.type))
            for stage, step in stages.items():
                data = None if step is None or run is None or base is None else \
                    _bytes_at(obj, run, step, secidx, start, width)
                if data is None or base is None or step is None:
                    view.stages[stage] = None
                    continue
                marks = set(range(base + start, base + start + width)) \
                    if step in failed_steps else hot.get(step, set())
                view.stages[stage] = dis.words(base + start, data, marks, code)
            views.append(view)
    return Explanation(rp, views, _stubs(rp, dis, hot), _messages(rp))


def _stubs(rp: Subject, dis: Disassembler, hot: dict[int, set[int]]) -> list[StubView]:
    """Per step, each contiguous range of stub bytes written (in `.stubs` or past it), with the
    bytes as the step left them."""
    run = rp.verdict.run
    if run is None or not run.stubs[1]:
        return []
    lo = run.stubs[0]
    out: list[StubView] = []
    for i, sr in enumerate(run.steps):
        final: dict[int, int] = {}
        labels: dict[int, str] = {}
        for w in sr.writes:
            if w.addr >= lo and "stub" in w.what:
                for k, b in enumerate(w.new):
                    final[w.addr + k] = b
                    labels.setdefault(w.addr + k, w.what)
        addrs = sorted(final)
        while addrs:
            n = 1
            while n < len(addrs) and addrs[n] == addrs[0] + n:
                n += 1
            run_addrs, addrs = addrs[:n], addrs[n:]
            data = bytes(final[a] for a in run_addrs)
            words = [w for k in range(0, len(data), 4)
                     for w in dis.words(run_addrs[0] + k, data[k:k + 4], hot.get(i, set()),
                                        _is_code(labels[run_addrs[k]]))]
            out.append(StubView(describe_step(rp.verdict.script[i]), run_addrs[0], words,
                                list(dict.fromkeys(labels[a] for a in run_addrs)),
                                run_addrs[-1] >= lo + run.stubs[1]))
    return out


def _is_code(label: str) -> bool:
    """Stub words that are instructions (jump[], template), not magic or funcdata."""
    return "jump" in label or "template" in label


def _messages(rp: Subject) -> list[tuple[str, int, list[str], int]]:
    """Per step with messages, a WARN or an rc: (steps, rc, messages, WARNs); a run of such steps
    that print the same (silent steps between them aside) is one entry
    (``coming(ext4, gen 3) .. coming(ext4, gen 8)``)."""
    run = rp.verdict.run
    if run is None:
        return []
    out: list[tuple[str, int, list[str], int]] = []
    last: tuple[int, list[str], int] | None = None
    first_desc = ""
    for i, sr in enumerate(run.steps):
        if not (sr.messages or sr.warns or sr.rc):
            continue
        desc = describe_step(rp.verdict.script[i])
        lines = [f"{m.level}: {m.render()}" for m in sr.messages]
        lines += [f"WARN fired: {site}" for site in sr.warn_sites]
        key = (sr.rc, lines, sr.warns)
        if out and last == key:
            out[-1] = (f"{first_desc} .. {desc}", *key)
        else:
            first_desc = desc
            out.append((desc, *key))
        last = key
    return out


# -- rendering ------------------------------------------------------------------------------------
def _print_rows(con: Any, title: str, rows: Sequence[tuple[str, ...]]) -> None:
    """A plain aligned listing (one line per row, names whole at any width, easy to copy)."""
    from rich.markup import escape

    widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
    con.print(f"[bold]{title}[/]")
    for n, row in enumerate(rows):
        line = "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        con.print(f"  [bold]{escape(line)}[/]" if n == 0 else f"  {escape(line)}")


def render(ex: Explanation, out: IO[str] | None = None) -> None:
    """Print the explanation with rich."""
    from rich.markup import escape
    from rich.table import Table

    from ppcreloc.report import console, verdict_table

    con = console(out)
    rp = ex.replay
    obj = rp.obj
    rec = rp.record
    if rec is not None:
        state = "holds now" if rp.holds else "reproduces"
        con.print(f"[bold]{escape(str(rp.path))}[/]: {rec.invariant} on {escape(rp.engine)} "
                  f"(recorded on {escape(rec.engine)}: {'holds' if rec.holds else 'violated'}; "
                  f"{state})")
    else:
        state = "every invariant holds" if rp.holds else "violations found"
        con.print(f"[bold]{escape(str(rp.path))}[/] on {escape(rp.engine)} (no sidecar: checked "
                  f"afresh; {state})")
    run = rp.verdict.run
    placed = {p.index: p.addr for p in (run.placements if run else [])}
    stubs_at, stubs_size = run.stubs if run else (0, 0)
    rows = [("#", "name", "type", "flags", "size", "placed at")]
    for i, s in enumerate(obj.sections[1:], 1):
        addr = placed.get(i)
        size = str(len(obj.relocs.get(i, [])) * 24 if s.type == 4 else s.sh_size)
        if s.name == ".stubs" and run is not None and stubs_size:
            size = f"{stubs_size}*"
        rows.append((str(i), s.name, _SHT.get(s.type, str(s.type)), flag_names(s.flags), size,
                     f"{addr:#x}" if addr is not None else ""))
    _print_rows(con, "sections", rows)
    if run is not None and stubs_size:
        con.print(f"* .stubs: {stubs_size} bytes at {stubs_at:#x}, ending at "
                  f"{stubs_at + stubs_size:#x}, as module_frob_arch_sections sized it (the file's "
                  "NOBITS size is 0)")
    special = {SHN_UNDEF: "UNDEF", SHN_LIVEPATCH: "LIVEPATCH"}
    rows = [("#", "name", "value", "size", "bind type", "section")]
    for i, sym in enumerate(obj.symbols[1:], 1):
        where = special.get(sym.shndx) or (
            obj.sections[sym.shndx].name if sym.shndx < len(obj.sections) else f"{sym.shndx:#x}")
        rows.append((str(i), sym.name, f"{sym.value:#x}", str(sym.size),
                     bind_type(sym.bind, sym.type), where))
    _print_rows(con, "symbols", rows)
    for v in ex.relocs:
        head = (f"[bold]{escape(v.section)}[{v.index}][/] {escape(v.display)} {escape(v.symbol)}"
                f"{v.addend:+#x} at offset {v.offset:#x}"
                + (f" = {v.addr:#x}" if v.addr is not None else "")
                + (f" (target {escape(v.target)})" if v.target else " (applied at load)"))
        if v.failed:
            head += f"  [bold red]violates {', '.join(v.failed)}[/]"
        table = Table(title=head, title_justify="left")
        for col in ("stage", "address", "bytes", "disassembly"):
            table.add_column(col)
        for stage in STAGES:
            words = v.stages.get(stage)
            if words is None:
                table.add_row(stage, "", "-", "not applicable" if v.target is None and
                              stage in STAGES[2:] else "not reached")
                continue
            for n, w in enumerate(words):
                mark = "[bold red]" if w.violating else ""
                end = "[/]" if w.violating else ""
                table.add_row(stage if n == 0 else "", f"{w.addr:#x}",
                              f"{mark}{w.data.hex()}{end}",
                              f"{mark}{escape(w.text)}{end}" + ("  <- violation" if w.violating
                                                                 else ""))
        con.print(table)
    con.print(verdict_table(rp.verdict, f"verdict on {rp.engine}"))
    if rp.verdict.stubs is not None:
        con.print(escape(rp.verdict.stubs.describe()))
    for name, result in rp.verdict.invariants.items():
        shown: set[str] = set()
        for viol in result.violations[:3]:
            head, *rest = viol.describe(rp.verdict.byteorder).splitlines()
            con.print(f"[bold]{name}[/]: " + escape(head))
            for line in rest:  # the relocation once per invariant, not once per violation
                if line.startswith("  relocation:") and line in shown:
                    continue
                shown.add(line)
                con.print(escape(line))
    con.print("[bold]kernel messages[/]" if ex.messages else "[bold]kernel messages[/]: none")
    for step, rc, msgs, warns in ex.messages:
        con.print(f"  {escape(step)}: rc {rc}" + (f", {warns} WARN(s)" if warns else ""))
        for m in msgs:
            con.print(f"    {escape(m)}")
    con.print(f"[bold]stubs written[/]: {len(ex.stubs)}" if ex.stubs
              else "[bold]stubs written[/]: none")
    if ex.stubs and run is not None:
        con.print(f"  .stubs: {stubs_at:#x} .. {stubs_at + stubs_size:#x} ({stubs_size} bytes, "
                  "as module_frob_arch_sections sized it)")
    for stub in ex.stubs:
        past = "  [bold red]past the end of .stubs[/]" if stub.past_end else ""
        con.print(f"  {escape(stub.step)}: {stub.addr:#x} ({len(stub.words) * 4} bytes; "
                  f"{escape(', '.join(stub.what))}){past}")
        for w in stub.words:
            mark = "[bold red]" if w.violating else ""
            end = "[/]" if w.violating else ""
            con.print(f"    {mark}{w.addr:#x}  {w.data.hex()}  {escape(w.text)}{end}")


def cmd_explain(args: argparse.Namespace) -> int:
    """Print the explanation; exit 1 when the (recorded) invariant is violated now, else 0."""
    path = fixture_paths(Path(args.object))
    if path.with_suffix(".json").is_file() and load_fixture(path)[1].invariant == "diff":
        return cmd_explain_diff(path, args.engine)
    ex = explain(Path(args.object), args.engine, args.kallsyms, args.cycles,
                 args.max_object_size)
    render(ex)
    return 0 if ex.replay.holds else 1


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    """``ppcreloc explain OBJ.o [--engine NAME] [--kallsyms FILE] [--cycles N]``."""
    p = subparsers.add_parser(
        "explain",
        help="show an object's sections, symbols, relocations and what each one wrote",
        description="Run OBJ (a fixture with its .json sidecar is replayed as recorded; any "
        "other object is checked as `ppcreloc check` does) and show its sections, symbols and "
        "relocations: for each relocation the bytes before apply, after apply, after clear and "
        "after the second apply, disassembled (capstone, ppc64), violating bytes marked; then "
        "the kernel messages, the WARNs and the stubs written. Exit 1 when the recorded "
        "invariant (a plain object: any invariant) is violated, 0 when it holds, 2 for bad "
        "input.",
    )
    p.add_argument("object", metavar="OBJ.o",
                   help="a fixture (its .json beside it) or any ppc64 relocatable object")
    p.add_argument("--engine", metavar="NAME",
                   help="engine profile (see `ppcreloc profiles`) or kernel:PATH to run on "
                   "(default: the recorded engine, v6.12 for a plain object)")
    p.add_argument("--kallsyms", metavar="FILE",
                   help="/proc/kallsyms or System.map for symbol addresses (checks the object "
                   "afresh even when it has a sidecar; default: the recorded or synthetic world)")
    p.add_argument("--cycles", type=_cycles, metavar="N",
                   help="reload cycles (checks the object afresh; default: as recorded, or "
                   "the check default)")
    add_max_object_size(p)
    p.set_defaults(func=cmd_explain)
