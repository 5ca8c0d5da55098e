"""The `.stubs` budget of a check: how many reloads at fresh addresses exhaust `.stubs`.

module_64.c (6.12) sizes `.stubs` once, in module_frob_arch_sections -> get_stubs_size: one
``struct ppc64_stub_entry`` per REL24 that count_relocs counts (distinct symbol and addend per
RELA section, `.klp.rela.*` included), the ftrace trampolines, plus the terminator slot (<= 6.17).
stub_for_addr reuses a stub only when its funcdata is the same target address; a target module
reloaded at a fresh address therefore needs new stubs for every distinct function it is called at,
and unless the profile's clear frees them (none of the kernel's do), each reload takes the next
slots, until one lands past `.stubs` (an out-of-bounds create_stub) and the next WARNs (-ENOENT).

:func:`measure` reads that accounting from a run: the capacity (num_stubs = sh_size / sizeof
entry), the slots in use before the first reload (the load's stubs and the first coming's, as the
sentinel walk sees them: the first entry whose funcdata is 0), and the slots each reload took.
From them :attr:`StubBudget.exhausts_at` is the first reload N whose stubs no longer fit,
``in_use + N * per_reload > capacity`` extrapolated from the last reload run, or the reload at
which the run itself hit it (every in-bounds slot taken and the reload went out of bounds or
WARNed). It needs no profile knowledge, so it holds for ``kernel:PATH`` too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ppcreloc.arch.stubs import FUNCDATA_OFFSET
from ppcreloc.records import Config, RunResult, StepResult

_ZERO = bytes(8)


@dataclass(frozen=True)
class StubBudget:
    """`.stubs` capacity and use in one run, and the reload that exhausts it.

    ``per_reload`` is None when no reload ran; ``exhausts_at`` None means "never" when
    ``per_reload`` is 0, "not known" otherwise; ``seen`` says the run reached that reload (else
    it is derived from the accounting); ``cycles`` is how many reloads the run had.
    """

    capacity: int
    in_use: int
    per_reload: int | None
    exhausts_at: int | None
    seen: bool
    cycles: int

    def summary(self) -> str:
        """``exhausts `.stubs` at reload 14`` / ``never exhausts `.stubs` ...``: one phrase."""
        if self.exhausts_at is not None:
            how = "" if self.seen else (
                f" (from the stub accounting; the run had {self.cycles} reload(s))")
            return f"exhausts `.stubs` at reload {self.exhausts_at}{how}"
        if self.per_reload == 0:
            return "never exhausts `.stubs`: a reload takes no new stub"
        return "`.stubs` exhaustion not known: no reload ran"

    def describe(self) -> str:
        """One line for humans: the accounting, then :meth:`summary`."""
        per = "" if self.per_reload is None else f", {self.per_reload} more per reload"
        return (f".stubs: {self.capacity} slot(s), {self.in_use} in use before the first "
                f"reload{per}: {self.summary()}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON: the fields plus ``summary``."""
        return {"capacity": self.capacity, "in_use": self.in_use,
                "per_reload": self.per_reload, "exhausts_at": self.exhausts_at,
                "seen": self.seen, "cycles": self.cycles, "summary": self.summary()}


def entry_size(config: Config) -> int:
    """sizeof(struct ppc64_stub_entry): 40 on ELFv2, 56 on ELFv1 (arch/stubs.py)."""
    return 56 if config.abi == "elfv1" else 40


def slots_in_use(stubs: bytes, size: int) -> int:
    """The entries before the first whose funcdata is 0: where stub_for_addr's walk stops."""
    n = 0
    while n * size + FUNCDATA_OFFSET + 8 <= len(stubs):
        off = n * size + FUNCDATA_OFFSET
        if stubs[off : off + 8] == _ZERO:
            break
        n += 1
    return n


def _stub_trouble(sr: StepResult) -> bool:
    """A step that went out of bounds or WARNed: what a walk past a full `.stubs` does."""
    return bool(sr.oob or sr.warns) or not all(w.in_bounds for w in sr.writes)


def measure(run: RunResult, n_targets: int, cycles: int, config: Config) -> StubBudget | None:
    """The budget of a run of :func:`ppcreloc.oracle.build_script` with ``n_targets`` target
    objects and ``cycles`` reloads (None without targets, `.stubs` or a completed first apply).

    Step layout: load, ``n_targets`` comings, ``n_targets`` going/coming pairs, then per reload
    ``n_targets`` going/coming pairs. A reload that fails for another reason (6.1's "Expected
    nop") still counts the stubs it created; the run hit exhaustion at the first reload that
    went out of bounds or WARNed with every in-bounds slot taken.
    """
    index = next((p.index for p in run.placements if p.name == ".stubs"), None)
    first = 3 * n_targets  # the last step before the first reload
    if not n_targets or index is None or len(run.steps) <= first:
        return None
    size = entry_size(config)
    capacity = run.stubs[1] // size

    def used(step: int) -> int:
        return slots_in_use(run.steps[step].memory.get(index, b""), size)

    occ = [used(first)]
    for k in range(1, cycles + 1):
        lo = first + 1 + 2 * n_targets * (k - 1)
        steps: Sequence[StepResult] = run.steps[lo : lo + 2 * n_targets]
        if len(steps) < 2 * n_targets:
            break  # the run ended (a fault)
        occ.append(used(lo + 2 * n_targets - 1))
        if occ[k] >= capacity and any(map(_stub_trouble, steps)):
            per = occ[k - 1] - occ[k - 2] if k >= 2 else None
            return StubBudget(capacity, occ[0], per, k, True, cycles)
    last = len(occ) - 1
    per = occ[last] - occ[last - 1] if last else None
    exhausts = last + (capacity - occ[last]) // per + 1 if per else None
    return StubBudget(capacity, occ[0], per, exhausts, False, cycles)
