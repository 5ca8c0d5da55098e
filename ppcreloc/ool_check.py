"""Stub integrity under out-of-line ftrace: no relocation may write into ftrace_ool_stub[].

setup_ftrace_ool_stubs (module_64.c, 6.13+) reserves a block of `.stubs` for the module's
struct ftrace_ool_stub array (:attr:`ppcreloc.records.RunResult.ool_stubs`); ftrace fills it
during the load, and from then on it belongs to ftrace. A write made while a relocation is
applied (a call stub created by stub_for_addr, or anything else) that overlaps the array
corrupts a live ftrace stub, though it stays inside the module's own memory. The oracle reports
such writes under ``in_bounds`` (and ``reload_cycles`` for the cycles phase), next to the
out-of-bounds accesses: a `.stubs` allocation ran past its own space either way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ppcreloc.records import RelocRef, RunResult, Write


@dataclass(frozen=True)
class OolOverlap:
    """The writes one relocation made into ftrace_ool_stub[] during one step, merged."""

    step: int
    addr: int
    size: int
    reloc: RelocRef | None
    what: str
    #: which ftrace_ool_stub entries the writes hit (first, last)
    entries: tuple[int, int]
    #: the span's bytes before the first of the writes (ftrace's) and after the last
    old: bytes = b""
    new: bytes = b""


def _span(writes: Sequence[Write], lo: int, hi: int) -> tuple[bytes, bytes]:
    """The bytes of [lo, hi) before ``writes`` (the first write to a byte tells) and after."""
    old, new = bytearray(hi - lo), bytearray(hi - lo)
    for w in reversed(writes):
        for a in range(max(lo, w.addr), min(hi, w.addr + len(w.old))):
            old[a - lo] = w.old[a - w.addr]
    for w in writes:
        for a in range(max(lo, w.addr), min(hi, w.addr + len(w.new))):
            new[a - lo] = w.new[a - w.addr]
    return bytes(old), bytes(new)


def ool_overlaps(run: RunResult, steps: Sequence[int], entry_size: int) -> list[OolOverlap]:
    """Per step of ``steps`` and relocation, the span its writes cover inside the OOL array.

    ``entry_size`` is sizeof(struct ftrace_ool_stub). Writes made outside relocation processing
    (reloc None: ftrace's own init, the load's finalize) are ftrace's and do not count.
    """
    base, size = run.ool_stubs
    if not size:
        return []
    end = base + size
    out: list[OolOverlap] = []
    for i in steps:
        if i >= len(run.steps):
            continue
        groups: dict[RelocRef, list[Write]] = {}
        for w in run.steps[i].writes:
            if w.reloc is not None and w.addr < end and base < w.addr + len(w.new):
                groups.setdefault(w.reloc, []).append(w)
        for reloc, writes in groups.items():
            lo = max(base, min(w.addr for w in writes))
            hi = min(end, max(w.addr + len(w.new) for w in writes))
            first = (lo - base) // entry_size
            out.append(OolOverlap(i, lo, hi - lo, reloc, writes[0].what,
                                  (first, (hi - 1 - base) // entry_size), *_span(writes, lo, hi)))
    return out
