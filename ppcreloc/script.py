"""The step script of a check (see :mod:`ppcreloc.oracle`): load, coming of every target
object, going/coming at the same addresses, then reload cycles at fresh addresses."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from ppcreloc.elf.model import SHF_RELA_LIVEPATCH, SHT_RELA, ElfObject
from ppcreloc.records import (
    Step,
)

Phase = Literal["apply", "reapply", "cycles"]

_KLP_RELA = re.compile(r"\.klp\.rela\.([^.]{1,55})")


# -- the script ------------------------------------------------------------------------------------
def target_objects(obj: ElfObject) -> list[str]:
    """The klp target objects of ``obj`` in section order (vmlinux excluded, no duplicates)."""
    out: list[str] = []
    for sec in obj.sections:
        if sec.type != SHT_RELA or not sec.flags & SHF_RELA_LIVEPATCH:
            continue
        m = _KLP_RELA.match(sec.name)
        if m and m.group(1) != "vmlinux" and m.group(1) not in out:
            out.append(m.group(1))
    return out


@dataclass(frozen=True)
class Script:
    """The steps of a check and the phase each belongs to."""

    targets: tuple[str, ...]
    steps: tuple[Step, ...]
    phases: tuple[Phase, ...]


def build_script(targets: Sequence[str], cycles: int) -> Script:
    """load; coming(t, 0) each; going(t), coming(t, 0) each; ``cycles`` x fresh-address reloads."""
    if cycles < 0:
        raise ValueError("cycles must be >= 0")
    steps: list[Step] = [Step("load")]
    phases: list[Phase] = ["apply"]

    def add(phase: Phase, items: Iterable[Step]) -> None:
        for s in items:
            steps.append(s)
            phases.append(phase)

    add("apply", (Step("coming", t, 0) for t in targets))
    for t in targets:
        add("reapply", (Step("going", t, 0), Step("coming", t, 0)))
    for gen in range(1, cycles + 1):
        for t in targets:
            add("cycles", (Step("going", t, gen - 1), Step("coming", t, gen)))
    return Script(tuple(targets), tuple(steps), tuple(phases))


@lru_cache(maxsize=1024)
def describe_step(step: Step) -> str:
    """``load`` / ``coming(obj, gen 0)`` / ``going(obj, gen 0)`` (memoised: Step is frozen)."""
    if step.kind == "load":
        return "load"
    return f"{step.kind}({step.objname}, gen {step.generation})"
