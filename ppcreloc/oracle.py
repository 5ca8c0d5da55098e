"""The oracle: the step script for a check, and seven named invariants judged on a RunResult.

The script (:func:`build_script`) models a livepatch module whose target objects are loaded,
unloaded and loaded again::

    load                                   phase "apply"
    coming(t, gen 0)      for each target  phase "apply"
    going(t); coming(t, gen 0)  per target phase "reapply"   (same addresses)
    N x going(t); coming(t, gen k)         phase "cycles"    (fresh addresses, k = 1..N)

Target objects are the ``<objname>`` of every SHF_RELA_LIVEPATCH section named
``.klp.rela.<objname>.<section>`` other than ``vmlinux`` (kernel/livepatch/core.c,
klp_write_section_relocs, 6.12: objname is ``%55[^.]``). ``vmlinux`` sections are applied by the
load step itself (kernel/module/main.c, apply_relocations -> klp_apply_section_relocs).

The invariants (:data:`INVARIANTS`) judge only the RunResult, so a Python profile and the
kernel's own C are interchangeable. An object without target objects (a plain module, or only
``.klp.rela.vmlinux.*``) gets ``apply`` and ``in_bounds`` judged; the four invariants about
going/coming hold vacuously, with a message saying so. An invariant whose premise failed (for
instance ``reapply_identical`` when the second apply failed) also holds with a "not judged"
message: the failure is reported once, by the invariant that owns it.

This module judges; the results it returns are in :mod:`ppcreloc.verdicts` and the script in
:mod:`ppcreloc.script` (both re-exported here).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from operator import attrgetter
from typing import Any

from ppcreloc.abi import judge_values
from ppcreloc.arch.ftrace_ool import ftrace_ool_stub_size
from ppcreloc.elf.model import SHT_NOBITS, ElfObject
from ppcreloc.ool_check import ool_overlaps
from ppcreloc.ppc64.reloctypes import type_name
from ppcreloc.records import (
    Config,
    Engine,
    KernelMessage,
    Layout,
    RelocRef,
    RunResult,
    Scenario,
    StepResult,
    World,
    Write,
)

# the results and the script have their own modules; importers may keep using ppcreloc.oracle
from ppcreloc.script import Phase
from ppcreloc.script import Script as Script
from ppcreloc.script import build_script as build_script
from ppcreloc.script import describe_step as describe_step
from ppcreloc.script import target_objects as target_objects
from ppcreloc.stubbudget import measure
from ppcreloc.verdicts import INVARIANTS as INVARIANTS
from ppcreloc.verdicts import STATES as STATES
from ppcreloc.verdicts import InvariantResult as InvariantResult
from ppcreloc.verdicts import State as State
from ppcreloc.verdicts import Verdict as Verdict
from ppcreloc.verdicts import Violation as Violation
from ppcreloc.verdicts import not_judged as not_judged
from ppcreloc.verdicts import show_bytes as show_bytes

DEFAULT_CYCLES = 8
#: The most reloads a check without ``--cycles`` runs to reach the reload that exhausts `.stubs`
#: (ppcreloc.stubbudget); an exhaustion further out is reported from the stub accounting alone.
MAX_AUTO_CYCLES = 128


# -- judging ---------------------------------------------------------------------------------------
class _Memory:
    """Bytes of the module after a given step: the step's snapshot, else a replay of the writes."""

    def __init__(self, run: RunResult) -> None:
        self.run = run
        self.placements = sorted(run.placements, key=lambda p: p.addr)
        self._where: dict[int, tuple[int, int] | None] = {}
        self._starts = [p.addr for p in self.placements]
        self._sizes = {p.index: p.size for p in self.placements}
        #: placements that do not overlap can be searched by bisection (the loader's always)
        self._disjoint = all(a.addr + a.size <= b.addr
                             for a, b in zip(self.placements, self.placements[1:], strict=False))

    def section_of(self, addr: int) -> tuple[int, int] | None:
        """(section index, offset) for an address inside a placed section (memoised)."""
        try:
            return self._where[addr]
        except KeyError:
            pass
        where = None
        if self._disjoint:
            k = bisect_right(self._starts, addr) - 1  # the last placement starting at or below
            if k >= 0:
                p = self.placements[k]
                if p.addr <= addr < p.addr + p.size:
                    where = p.index, addr - p.addr
        else:
            for p in self.placements:
                if p.addr <= addr < p.addr + p.size:
                    where = p.index, addr - p.addr
                    break
        self._where[addr] = where
        return where

    def placed_size(self, index: int) -> int:
        """The placed size of section ``index`` (0 when it is not placed)."""
        return self._sizes.get(index, 0)

    def reader(self, step: int) -> Callable[[int], int | None]:
        """The byte at an address once step ``step`` has run (None when unknown): from the
        step's snapshot (looked up once) for an address in a placed section, else from the
        write log."""
        snaps = self.run.steps[step].memory
        section_of, replayed = self.section_of, self._replayed

        def at(addr: int) -> int | None:
            where = section_of(addr)
            if where is not None:
                snap = snaps.get(where[0])
                if snap is not None and where[1] < len(snap):
                    return snap[where[1]]
            return replayed(step, addr)

        return at

    def _replayed(self, step: int, addr: int) -> int | None:
        """The byte at ``addr`` after ``step`` from the write log: the last write to it up to
        that step, else the old byte of the first later write (None when nothing wrote it)."""
        for i in range(step, -1, -1):
            for w in reversed(self.run.steps[i].writes):
                if w.addr <= addr < w.addr + len(w.new):
                    return w.new[addr - w.addr]
        for later in self.run.steps[step + 1 :]:
            for w in later.writes:
                if w.addr <= addr < w.addr + len(w.old):
                    return w.old[addr - w.addr]
        return None

    def same_after(self, step1: int, step2: int) -> bool:
        """Whether every placed byte reads the same after both steps, from their snapshots alone
        (a True answer is exact; False means: compare byte by byte)."""
        m1, m2 = self.run.steps[step1].memory, self.run.steps[step2].memory
        if m1 != m2:
            return False
        return all(p.index in m1 and len(m1[p.index]) >= p.size for p in self.placements)

    def bytes_after(self, step: int, addr: int, size: int) -> bytes | None:
        """``size`` bytes at ``addr`` after ``step`` (None when any byte is unknown)."""
        where = self.section_of(addr)
        if self._disjoint and where is not None and where[1] + size <= self._sizes[where[0]]:
            snap = self.run.steps[step].memory.get(where[0])
            if snap is not None and where[1] + size <= len(snap):
                return snap[where[1] : where[1] + size]  # every byte from the one snapshot
        at = self.reader(step)
        out = bytearray()
        for a in range(addr, addr + size):
            b = at(a)
            if b is None:
                return None
            out.append(b)
        return bytes(out)


@dataclass
class _Ctx:
    obj: ElfObject
    run: RunResult
    script: Script
    memory: _Memory

    world: World | None = None
    modname: str = "livepatch_test"
    config: Config = field(default_factory=Config)
    _by_phase: dict[str, list[tuple[int, StepResult | None]]] = field(default_factory=dict)
    #: _oob_runs of each step (by script index), computed once: two invariants read them
    oob_runs: dict[int, list[_Oob]] = field(default_factory=dict)

    def results(self, phase: Phase) -> list[tuple[int, StepResult | None]]:
        """(script index, result or None when the engine returned none) for one phase."""
        if phase not in self._by_phase:
            self._by_phase[phase] = [
                (i, self.run.steps[i] if i < len(self.run.steps) else None)
                for i, p in enumerate(self.script.phases)
                if p == phase
            ]
        return self._by_phase[phase]

    def find(self, phase: Phase, kind: str, target: str) -> tuple[int, StepResult | None]:
        """The first step of ``kind`` for ``target`` in ``phase``."""
        for i, sr in self.results(phase):
            step = self.script.steps[i]
            if step.kind == kind and step.objname == target:
                return i, sr
        raise KeyError((phase, kind, target))

    def violation(
        self,
        invariant: str,
        message: str,
        step: int | None,
        *,
        reloc: RelocRef | None = None,
        addr: int | None = None,
        expected: bytes | None = None,
        actual: bytes | None = None,
        rc: int | None = None,
        kernel: str | None = None,
    ) -> Violation:
        """A Violation with the relocation and step spelled out."""
        step_desc = describe_step(self.script.steps[step]) if step is not None else None
        if reloc is None:
            return Violation(invariant, message, step, step_desc, rc, addr=addr,
                             expected=expected, actual=actual, kernel_message=kernel)
        secs = self.obj.sections
        return Violation(
            invariant, message, step, step_desc, rc, reloc.relsec,
            secs[reloc.relsec].name if 0 <= reloc.relsec < len(secs) else None,
            reloc.index, reloc.type, type_name(reloc.type), reloc.symname, addr, expected,
            actual, kernel,
        )


def plural(count: int, noun: str) -> str:
    """``1 byte``, ``4 bytes``."""
    return f"{count} {noun}" + ("" if count == 1 else "s")


_LOUD_LEVELS = ("emerg", "alert", "crit", "err", "warn")


_loud: dict[str, bool] = {}


def _is_loud(level: str) -> bool:
    """Whether a printk level is an error or warning (memoised: steps log many pr_debug)."""
    if level not in _loud:
        _loud[level] = level.lower().startswith(_LOUD_LEVELS)
    return _loud[level]


@lru_cache(maxsize=4096)
def _render_cached(message: KernelMessage) -> str:
    return message.render()


def _render(message: KernelMessage) -> str:
    """KernelMessage.render, memoised (a pure function of the frozen message; runs repeat them).

    A message whose arguments are not hashable is rendered directly.
    """
    try:
        return _render_cached(message)
    except TypeError:
        return message.render()


def _kernel_text(sr: StepResult) -> str | None:
    """The step's error and warning messages, rendered and joined (None when there are none)."""
    msgs = [_render(m) for m in sr.messages if _is_loud(m.level)]
    return "; ".join(msgs) or None


def _failed(sr: StepResult | None) -> bool:
    return sr is None or sr.rc != 0 or sr.fault is not None


def _faulted_before(ctx: _Ctx, i: int) -> bool:
    """The run ended with a fault before step ``i`` (the kernel oopsed: nothing later ran)."""
    return any(sr.fault is not None for sr in ctx.run.steps[:i])


def _fault_text(ctx: _Ctx, sr: StepResult) -> str:
    """``faulted (SIGSEGV): plain store into read-only .text (...) at 0x..., applying
    .klp.rela.t.text[0] R_PPC64_ADDR64``: the access and the relocation that made it."""
    out = f"faulted ({sr.fault})"
    if sr.fault_what:
        out += f": {sr.fault_what}"
    if sr.fault_addr is not None:
        out += f" at {sr.fault_addr:#x}"
    r = sr.failed_reloc
    if r is not None:
        secs = ctx.obj.sections
        name = secs[r.relsec].name if 0 <= r.relsec < len(secs) else f"section {r.relsec}"
        out += f", applying {name}[{r.index}] {type_name(r.type)}"
    if sr.fault_what.startswith("plain "):
        out += " (the kernel would oops: only patch_instruction/patch_u32 write read-only text)"
    return out


def _step_failure(ctx: _Ctx, invariant: str, i: int, sr: StepResult | None) -> Violation:
    """A failed step (rc, fault or missing result) as a violation of ``invariant``.

    A faulted step is owned by the invariant of its phase (apply, apply_clear_apply,
    reload_cycles); its message names the access (e.g. a plain store into read-only module
    memory after module_enable_ro, kernel/module/strict_rwx.c) and the relocation being applied.
    """
    desc = describe_step(ctx.script.steps[i])
    if sr is None:
        return ctx.violation(invariant, f"{desc}: the engine returned no result", i)
    what = _fault_text(ctx, sr) if sr.fault is not None else f"failed with rc {sr.rc}"
    warns = f", {sr.warns} WARN" if sr.warns else ""
    return ctx.violation(
        invariant, f"{desc} {what}{warns}", i, rc=sr.rc, kernel=_kernel_text(sr),
        reloc=sr.failed_reloc, addr=sr.fault_addr,
    )


@dataclass
class _Oob:
    """Out-of-bounds accesses of one kind by one relocation in one step, over a byte range.

    ``old``/``new`` hold, for writes, the bytes before the first and after the last write.
    """

    kind: str
    addr: int
    size: int
    reloc: RelocRef | None
    what: list[str]
    old: bytes | None = None
    new: bytes | None = None


def _oob_runs(sr: StepResult) -> list[_Oob]:
    """The step's out-of-bounds events (and in_bounds=False writes) as contiguous ranges.

    Events of the same kind by the same relocation are merged over the union of their bytes
    (create_stub writes a stub word by word, and reads words back to patch them).
    """
    groups: dict[tuple[str, RelocRef | None], list[tuple[int, int, str]]] = {}
    for o in sr.oob:
        groups.setdefault((o.kind, o.reloc), []).append((o.addr, o.size, o.what))
    oob_writes = [w for w in sr.writes if not w.in_bounds]
    for w in oob_writes:
        groups.setdefault(("write", w.reloc), []).append((w.addr, len(w.new), w.what))
    runs: list[_Oob] = []
    for (kind, reloc), events in groups.items():
        merged: list[_Oob] = []
        for addr, size, what in sorted(events, key=lambda e: e[0]):
            last = merged[-1] if merged else None
            if last is not None and addr <= last.addr + last.size:
                last.size = max(last.size, addr + size - last.addr)
                if what and what not in last.what:
                    last.what.append(what)
            else:
                merged.append(_Oob(kind, addr, size, reloc, [what] if what else []))
        if kind == "write":
            spans = [(w.addr, w.addr + min(len(w.old), len(w.new)), w.old, w.new)
                     for w in oob_writes]
            for run in merged:
                run.old, run.new = _span_bytes(spans, run.addr, run.size)
        runs += merged
    return sorted(runs, key=lambda r: (r.addr, r.kind))


def _span_bytes(
    writes: Sequence[tuple[int, int, bytes, bytes]], addr: int, size: int
) -> tuple[bytes | None, bytes | None]:
    """The bytes of [addr, addr+size) before the first of ``writes`` (``(start, end, old,
    new)``, in order) and after the last, or (None, None) when they do not cover every byte."""
    old, new, seen = bytearray(size), bytearray(size), bytearray(size)
    end = addr + size
    for start, stop, w_old, _ in reversed(writes):  # the first write to a byte is copied last
        if start < end and addr < stop:
            lo, hi = max(start, addr), min(stop, end)
            old[lo - addr : hi - addr] = w_old[lo - start : hi - start]
            seen[lo - addr : hi - addr] = b"\x01" * (hi - lo)
    if seen.count(0):
        return None, None
    for start, stop, _, w_new in writes:  # the last write to a byte wins
        if start < end and addr < stop:
            lo, hi = max(start, addr), min(stop, end)
            new[lo - addr : hi - addr] = w_new[lo - start : hi - start]
    return bytes(old), bytes(new)


_IN_BOUNDS = attrgetter("in_bounds")


def _oob_violations(ctx: _Ctx, invariant: str, phases: Sequence[Phase]) -> list[Violation]:
    """Every out-of-bounds read or write in the steps of ``phases``."""
    out: list[Violation] = []
    for phase in phases:
        for i, sr in ctx.results(phase):
            if sr is None or not (sr.oob or not all(map(_IN_BOUNDS, sr.writes))):
                continue
            kernel = _kernel_text(sr)
            runs = ctx.oob_runs.get(i)
            if runs is None:
                runs = ctx.oob_runs[i] = _oob_runs(sr)
            for run in runs:
                what = " .. ".join(dict.fromkeys([run.what[0], run.what[-1]])) if run.what else "?"
                out.append(ctx.violation(
                    invariant,
                    f"{describe_step(ctx.script.steps[i])}: out-of-bounds {run.kind} of "
                    f"{plural(run.size, 'byte')} at {run.addr:#x} ({what})",
                    i,
                    reloc=run.reloc,
                    addr=run.addr,
                    expected=run.old,
                    actual=run.new,
                    kernel=kernel,
                ))
    return out


_NO_TARGETS = "holds vacuously: the object has no target objects (no .klp.rela.<module>.*)"


def _judge_apply(ctx: _Ctx) -> InvariantResult:
    """Loading the module and the first coming of every target succeed."""
    bad: list[Violation] = []
    for i, sr in ctx.results("apply"):
        if sr is None and bad:
            break  # the engine stops after a failed load: later steps were not run
        if _failed(sr):
            bad.append(_step_failure(ctx, "apply", i, sr))
    if bad:
        return InvariantResult(False, bad[0].message, bad)
    return InvariantResult(True)


def _judge_apply_clear_apply(ctx: _Ctx) -> InvariantResult:
    """going, then coming again at the same addresses, succeeds."""
    if not ctx.script.targets:
        return not_judged(_NO_TARGETS)
    if any(_failed(sr) for _, sr in ctx.results("apply")):
        return not_judged("not judged: the first apply failed (see apply)")
    bad = [
        _step_failure(ctx, "apply_clear_apply", i, sr)
        for i, sr in ctx.results("reapply")
        if _failed(sr) and not (sr is None and _faulted_before(ctx, i))
    ]
    if bad:
        return InvariantResult(False, bad[0].message, bad)
    return InvariantResult(True)


def _first_old(writes: Sequence[Write]) -> dict[int, tuple[int, Write]]:
    """addr -> (value before the first write to it, that write)."""
    first: dict[int, tuple[int, Write]] = {}
    for w in writes:
        for k, old in enumerate(w.old):
            first.setdefault(w.addr + k, (old, w))
    return first


def _changed_bytes(
    writes: Sequence[Write], first: dict[int, tuple[int, Write]]
) -> dict[int, tuple[int, int, Write]]:
    """addr -> (value before the step, value after it, first write changing it), changed only.

    ``first`` is ``_first_old(writes)``.
    """
    last: dict[int, tuple[int, Write]] = {}
    for w in writes:
        for k, new in enumerate(w.new):
            last[w.addr + k] = (new, w)
    return {
        a: (old, last[a][0], last[a][1])
        for a, (old, _) in first.items()
        if old != last[a][0]
    }


def _by_write(addrs: Iterable[int], owner: dict[int, Write]) -> list[Write]:
    """The distinct writes owning ``addrs``, in address order."""
    out: dict[int, Write] = {}
    for a in sorted(addrs):
        out.setdefault(id(owner[a]), owner[a])
    return list(out.values())


def _judge_clear_restores(ctx: _Ctx) -> InvariantResult:
    """After going, every byte the target's apply changed (outside `.stubs`) is restored."""
    if not ctx.script.targets:
        return not_judged(_NO_TARGETS)
    stub_lo, stub_size = ctx.run.stubs
    out: list[Violation] = []
    for t in ctx.script.targets:
        ia, applied = ctx.find("apply", "coming", t)
        ig, gone = ctx.find("reapply", "going", t)
        if applied is None or gone is None or _failed(applied) or gone.fault is not None:
            continue  # a faulted going is apply_clear_apply's violation
        first = _first_old(applied.writes)
        section_of = ctx.memory.section_of
        changed = {
            a: v
            for a, v in _changed_bytes(applied.writes, first).items()
            if not stub_lo <= a < stub_lo + stub_size and section_of(a) is not None
        }
        after = ctx.memory.reader(ig)
        bad = {a for a, (before, _, _) in changed.items() if after(a) != before}
        before = {a: v[0] for a, v in first.items()}
        for w in _by_write(bad, {a: changed[a][2] for a in bad}):
            size = len(w.new)
            out.append(ctx.violation(
                "clear_restores",
                f"{describe_step(ctx.script.steps[ig])} left {plural(size, 'byte')} at {w.addr:#x} "
                f"as applied by {describe_step(ctx.script.steps[ia])}",
                ig,
                reloc=w.reloc,
                addr=w.addr,
                expected=bytes(before[a] for a in range(w.addr, w.addr + size)),
                actual=ctx.memory.bytes_after(ig, w.addr, size),
                kernel=_kernel_text(gone),
            ))
    if any(_failed(sr) for _, sr in ctx.results("apply")) and not out:
        return not_judged("not judged: the first apply failed (see apply)")
    if out:
        return InvariantResult(False, out[0].message, out)
    return InvariantResult(True)


def _judge_reapply_identical(ctx: _Ctx) -> InvariantResult:
    """The second apply at the same addresses leaves the same bytes as the first."""
    if not ctx.script.targets:
        return not_judged(_NO_TARGETS)
    out: list[Violation] = []
    skipped: list[str] = []
    for t in ctx.script.targets:
        i1, first = ctx.find("apply", "coming", t)
        i2, second = ctx.find("reapply", "coming", t)
        if first is None or second is None or _failed(first) or _failed(second):
            skipped.append(t)
            continue
        if ctx.memory.same_after(i1, i2):
            continue  # every placed byte is the same: nothing to compare byte by byte
        owner: dict[int, Write] = {}  # the last write to each byte, the second apply's first
        for w in [*first.writes, *second.writes]:
            for k in range(len(w.new)):
                owner[w.addr + k] = w
        section_of = ctx.memory.section_of
        owner = {a: w for a, w in owner.items() if section_of(a) is not None}
        at1, at2 = ctx.memory.reader(i1), ctx.memory.reader(i2)
        bad = {a for a in owner if at1(a) != at2(a)}
        for w in _by_write(bad, owner):
            size = len(w.new)
            out.append(ctx.violation(
                "reapply_identical",
                f"{describe_step(ctx.script.steps[i2])} left {plural(size, 'byte')} at {w.addr:#x} "
                f"different from {describe_step(ctx.script.steps[i1])}",
                i2,
                reloc=w.reloc,
                addr=w.addr,
                expected=ctx.memory.bytes_after(i1, w.addr, size),
                actual=ctx.memory.bytes_after(i2, w.addr, size),
                kernel=_kernel_text(second),
            ))
    if out:
        return InvariantResult(False, out[0].message, out)
    if skipped:
        return not_judged(f"not judged for {', '.join(skipped)}: an apply failed "
                          "(see apply / apply_clear_apply)")
    return InvariantResult(True)


def _ool_violations(ctx: _Ctx, invariant: str, phases: Sequence[Phase]) -> list[Violation]:
    """Relocation writes into the reserved ftrace_ool_stub[] (:mod:`ppcreloc.ool_check`)."""
    size = ftrace_ool_stub_size(ctx.config)
    steps = [i for phase in phases for i, _ in ctx.results(phase)]
    return [ctx.violation(
        invariant, f"{describe_step(ctx.script.steps[o.step])}: write of "
        f"{plural(o.size, 'byte')} at {o.addr:#x} ({o.what}) overlaps the reserved "
        f"ftrace_ool_stub[{o.entries[0]}..{o.entries[1]}]", o.step, reloc=o.reloc, addr=o.addr,
        expected=o.old, actual=o.new, kernel=_kernel_text(ctx.run.steps[o.step]))
        for o in ool_overlaps(ctx.run, steps, size)]


def _judge_in_bounds(ctx: _Ctx) -> InvariantResult:
    """No out-of-bounds access during load, the first apply, going and the second apply, and
    no relocation write into the reserved out-of-line ftrace stubs."""
    out = _oob_violations(ctx, "in_bounds", ("apply", "reapply"))
    out += _ool_violations(ctx, "in_bounds", ("apply", "reapply"))
    out.sort(key=lambda v: v.step if v.step is not None else -1)
    if out:
        return InvariantResult(False, out[0].message, out)
    return InvariantResult(True)


def _judge_reload_cycles(ctx: _Ctx) -> InvariantResult:
    """N going/coming cycles at fresh addresses all succeed, every access in bounds."""
    if not ctx.script.targets:
        return not_judged(_NO_TARGETS)
    cycles = ctx.results("cycles")
    if not cycles:
        return not_judged("holds vacuously: cycles=0")
    if any(_failed(sr) for _, sr in [*ctx.results("apply"), *ctx.results("reapply")]):
        return not_judged("not judged: an earlier apply failed")
    out = [_step_failure(ctx, "reload_cycles", i, sr) for i, sr in cycles
           if _failed(sr) and not (sr is None and _faulted_before(ctx, i))]
    out += _oob_violations(ctx, "reload_cycles", ("cycles",))
    out += _ool_violations(ctx, "reload_cycles", ("cycles",))
    out.sort(key=lambda v: v.step if v.step is not None else -1)
    if out:
        return InvariantResult(False, out[0].message, out)
    return InvariantResult(True)


def _original(ctx: _Ctx, addr: int, size: int) -> bytes | None:
    """Bytes at ``addr`` before the load applied anything: the sections' own contents."""
    where = ctx.memory.section_of(addr)
    if where is None or where[1] + size > ctx.memory.placed_size(where[0]):
        return None
    sec = ctx.obj.sections[where[0]]
    if sec.type == SHT_NOBITS:
        return bytes(size)
    data = sec.data
    out = data[where[1] : where[1] + size]
    return out.ljust(size, b"\0") if len(data) < where[1] + size else out


def _judge_abi_values(ctx: _Ctx) -> InvariantResult:
    """Every field a successful load/coming wrote holds the ELF V2 ABI's value for the
    resolved S, A, P and TOC, and external calls reach a correct stub (ppcreloc.abi)."""
    def after(i: int) -> Callable[[int, int], bytes | None]:
        return lambda addr, size: ctx.memory.bytes_after(i, addr, size)

    def before(i: int) -> Callable[[int, int], bytes | None]:
        if i == 0:
            return lambda addr, size: _original(ctx, addr, size)
        return after(i - 1)

    out = judge_values(ctx.obj, ctx.script.steps, ctx.run, before, after, world=ctx.world,
                       modname=ctx.modname, config=ctx.config)
    bad = [ctx.violation("abi_values", f"{describe_step(ctx.script.steps[f.step])}: {f.message}",
                         f.step, reloc=f.ref(), addr=f.addr, expected=f.expected,
                         actual=f.actual, kernel=_kernel_text(ctx.run.steps[f.step]))
           for f in out.findings]
    skipped = ", ".join(f"{n} {why}" for why, n in sorted(out.not_judged.items()))
    note = f"{out.judged} relocation(s) judged" + (f"; not judged: {skipped}" if skipped else "")
    if bad:
        return InvariantResult(False, bad[0].message, bad)
    return InvariantResult(True, note if skipped or not out.judged else None)


_JUDGES = {
    "apply": _judge_apply,
    "apply_clear_apply": _judge_apply_clear_apply,
    "clear_restores": _judge_clear_restores,
    "reapply_identical": _judge_reapply_identical,
    "in_bounds": _judge_in_bounds,
    "reload_cycles": _judge_reload_cycles,
    "abi_values": _judge_abi_values,
}


def judge(obj: ElfObject, script: Script, run: RunResult, *, world: World | None = None,
          modname: str = "livepatch_test", config: Config | None = None) -> Verdict:
    """Judge all seven invariants on ``run``, the result of running ``script`` on ``obj``.

    ``world``, ``modname`` and ``config`` are the scenario's: abi_values resolves undefined and
    livepatch symbols from them (without a world it judges defined symbols only).
    """
    ctx = _Ctx(obj, run, script, _Memory(run), world, modname, config or Config())
    cycles = script.phases.count("cycles") // (2 * len(script.targets) or 1)
    return Verdict(
        engine=run.engine,
        invariants={name: _JUDGES[name](ctx) for name in INVARIANTS},
        targets=list(script.targets),
        script=list(script.steps),
        run=run,
        byteorder="big" if obj.big_endian else "little",
        stubs=measure(run, len(script.targets), cycles, ctx.config),
    )


def check(
    obj: ElfObject,
    engine: Engine,
    world: Any,
    *,
    cycles: int | None = None,
    layout: Layout | None = None,
    config: Config | None = None,
    modname: str = "livepatch_test",
) -> Verdict:
    """Run the check script for ``obj`` on ``engine`` and judge the result.

    ``world`` is a :class:`~ppcreloc.loader.world.SymbolWorld`. ``cycles`` None (the default)
    makes the reload verdict independent of a cycle count: :data:`DEFAULT_CYCLES` reloads, and
    when the `.stubs` accounting (:attr:`Verdict.stubs`) puts the exhausting reload N further
    out, the check runs again with N reloads (up to :data:`MAX_AUTO_CYCLES`; beyond that,
    ``reload_cycles`` is violated from the accounting alone). An explicit ``cycles`` runs exactly
    that many and only reports the exhausting reload.
    """
    verdict = _check_cycles(obj, engine, world, DEFAULT_CYCLES if cycles is None else cycles,
                            layout, config, modname)
    budget = verdict.stubs
    if cycles is not None or budget is None or budget.exhausts_at is None or budget.seen:
        return verdict
    if budget.exhausts_at <= MAX_AUTO_CYCLES:
        return _check_cycles(obj, engine, world, budget.exhausts_at, layout, config, modname)
    if verdict.invariants["reload_cycles"].state == "holds":
        v = Violation("reload_cycles", budget.describe())
        verdict.invariants["reload_cycles"] = InvariantResult(False, v.message, [v])
    return verdict


def _check_cycles(obj: ElfObject, engine: Engine, world: Any, cycles: int,
                  layout: Layout | None, config: Config | None, modname: str) -> Verdict:
    """:func:`check` with exactly ``cycles`` reloads."""
    script = build_script(target_objects(obj), cycles)
    scenario = Scenario(
        obj=obj,
        world=world,
        steps=list(script.steps),
        layout=layout or Layout(),
        config=config or Config(),
        modname=modname,
    )
    return judge(obj, script, engine.run(scenario), world=world, modname=modname,
                 config=scenario.config)
