"""Differential comparison of two runs of one scenario: where engine A (``kernel``, e.g. a
``kernel:PATH``) and engine B (``model``, e.g. a profile) disagree. ``ppcreloc diff`` and the
kernel harness tests use it; any two engines compare the same way.

Compared per step (issue 6 item 3): return code, fault, WARN count, messages (level, format
string, integer/string arguments; never rendered %p text), the bytes of every section and of the
area after `.stubs`, the writes made through patch primitives (address, bytes, primitive and the
relocation being applied: the shim records each call and follows apply_relocate_add's loop
through its per-relocation pr_debug), the failing relocation, and which bytes outside the
module's sections were changed. Plain stores are compared through memory only (the kernel
engine sees them as memory differences, so a store of the bytes already there is invisible to
it), and out-of-bounds *reads* not at all (the C code cannot report them). Placement and the
`.stubs` extent are compared once.

A kernel step that faults (the real code dereferenced unmapped memory; a kernel would oops)
agrees with a model step that records an out-of-bounds access, and ends the comparison: the
model goes on where the kernel cannot. When both fault (a plain store into memory
module_enable_ro made read-only: both engines end the step there), the signal, the faulting
address, the relocation being applied, the messages and the patch writes before the fault are
compared, then the
comparison ends. A model fault where the kernel did not fault is a disagreement.
"""

from __future__ import annotations

from dataclasses import dataclass

from ppcreloc.records import Placement, RelocRef, RunResult, StepResult

PATCH_PRIMITIVES = ("patch_instruction", "patch_u32")


@dataclass(frozen=True)
class Disagreement:
    """One field on which the two runs differ."""

    step: int
    kind: str
    field: str
    kernel: object
    model: object

    def __str__(self) -> str:
        return f"step {self.step} ({self.kind}) {self.field}: kernel {self.kernel!r} model {self.model!r}"


def _messages(s: StepResult) -> list[tuple[str, str, tuple[int | str, ...]]]:
    return [(m.level, m.fmt, tuple(m.args)) for m in s.messages]


def _where(r: RelocRef | None) -> tuple[int, int] | None:
    return (r.relsec, r.index) if r is not None else None


def _patch_writes(s: StepResult) -> list[tuple[int, str, str, tuple[int, int] | None]]:
    return [(w.addr, w.new.hex(), w.primitive, _where(w.reloc))
            for w in s.writes if w.primitive in PATCH_PRIMITIVES]


def _oob_changed(s: StepResult, placements: list[Placement]) -> list[int]:
    """Bytes outside every placed section whose value the step changed (net: first old byte
    against last new byte, as a memory diff sees it)."""
    spans = [(p.addr, p.addr + p.size) for p in placements]
    net: dict[int, list[int]] = {}
    for w in s.writes:
        for i, (old, new) in enumerate(zip(w.old, w.new, strict=False)):
            a = w.addr + i
            if not any(lo <= a < hi for lo, hi in spans):
                net.setdefault(a, [old, new])[1] = new
    return sorted(a for a, (old, new) in net.items() if old != new)


def _first_diff(a: bytes, b: bytes) -> str:
    n = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    return f"offset {n:#x}: {a[n:n + 8].hex() or '<end>'}"


def _memory(step: int, kind: str, k: StepResult, m: StepResult) -> list[Disagreement]:
    out = []
    for idx in sorted(set(k.memory) | set(m.memory)):
        kb, mb = k.memory.get(idx), m.memory.get(idx)
        if kb != mb:
            if kb is None or mb is None:
                out.append(Disagreement(step, kind, f"section {idx}", kb is not None, mb is not None))
            else:
                out.append(Disagreement(step, kind, f"section {idx} bytes",
                                        _first_diff(kb, mb), _first_diff(mb, kb)))
    if k.after_stubs != m.after_stubs:
        out.append(Disagreement(step, kind, "after_stubs", _first_diff(k.after_stubs, m.after_stubs),
                                _first_diff(m.after_stubs, k.after_stubs)))
    return out


FIELDS = (
    ("rc", lambda s: s.rc),
    ("fault", lambda s: s.fault),
    ("fault address", lambda s: s.fault_addr),
    ("warns", lambda s: s.warns),
    ("messages", _messages),
    ("patch writes", _patch_writes),
    ("failed relocation", lambda s: _where(s.failed_reloc) if s.rc else None),
)
#: compared when both steps faulted (what happened up to the fault, and where it was)
FAULT_FIELDS = (
    ("fault", lambda s: s.fault),
    ("fault address", lambda s: s.fault_addr),
    ("warns", lambda s: s.warns),
    ("messages", _messages),
    ("patch writes", _patch_writes),
    ("faulting relocation", lambda s: _where(s.failed_reloc)),
)


def disagreements(kernel: RunResult, model: RunResult) -> list[Disagreement]:
    """Every field on which ``kernel`` and ``model`` differ (empty: they agree)."""
    out: list[Disagreement] = []
    load_faulted = bool(kernel.steps) and kernel.steps[0].fault is not None
    if not load_faulted:
        if [(p.index, p.addr, p.size) for p in kernel.placements] != [
            (p.index, p.addr, p.size) for p in model.placements
        ]:
            out.append(Disagreement(0, "load", "placements", kernel.placements, model.placements))
        if kernel.stubs != model.stubs:
            out.append(Disagreement(0, "load", ".stubs extent", kernel.stubs, model.stubs))
    faulted = any(k.fault for k in kernel.steps)
    if len(kernel.steps) != len(model.steps) and not faulted:
        out.append(Disagreement(0, "run", "steps run", len(kernel.steps), len(model.steps)))
    for n, (k, m) in enumerate(zip(kernel.steps, model.steps, strict=False)):
        kind = f"{k.step.kind} {k.step.objname or ''} gen {k.step.generation}".replace("  ", " ")
        if k.fault and m.fault:
            for name, get in FAULT_FIELDS:
                kv, mv = get(k), get(m)
                if kv != mv:
                    out.append(Disagreement(n, kind, name, kv, mv))
            break
        if k.fault:
            if not m.oob:
                out.append(Disagreement(n, kind, "fault without a model out-of-bounds access",
                                        k.fault, m.rc))
            break
        for name, get in FIELDS:
            kv, mv = get(k), get(m)
            if kv != mv:
                out.append(Disagreement(n, kind, name, kv, mv))
        ko, mo = _oob_changed(k, kernel.placements), _oob_changed(m, kernel.placements)
        if ko != mo:
            out.append(Disagreement(n, kind, "out-of-bounds bytes changed", ko, mo))
        out += _memory(n, kind, k, m)
    return out
