"""One generated input (:class:`Case`: object, symbol world, layout, what was drawn) and
:func:`note`, the events every strategy module reports its knobs with."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hypothesis import event
from hypothesis.control import current_build_context

from ppcreloc.elf.model import ElfObject
from ppcreloc.records import Config, Layout, Scenario, Step
from ppcreloc.strategies.worlds import WorldSpec, to_symbol_world


def events_on() -> bool:
    """Whether a Hypothesis test is running (strategies also serve bench and `matrix`)."""
    try:
        current_build_context()
    except Exception:
        return False
    return True


def note(text: str) -> None:
    """hypothesis.event(), when a test is running."""
    if events_on():
        event(text)


@dataclass
class Case:
    """One generated input: the object, its symbol world and where it is loaded.

    Everything needed to replay a run is here (fixtures store it). ``targets`` are the module
    objnames the object has ``.klp.rela.<obj>.*`` sections for; ``mutations`` names the
    adversarial changes applied (empty for compiler-like cases).
    """

    obj: ElfObject
    world: WorldSpec
    layout: Layout = field(default_factory=Layout)
    placeholders: str = "compiler"
    targets: tuple[str, ...] = ()
    mutations: tuple[str, ...] = ()
    #: what a special strategy chose (boundary points, seed objects), as its event texts
    knobs: tuple[str, ...] = ()

    @property
    def reloc_count(self) -> int:
        """Number of relocations over all RELA sections."""
        return sum(len(v) for v in self.obj.relocs.values())

    def steps(self, cycles: int = 1) -> list[Step]:
        """load, then ``cycles`` rounds of every target coming (at a fresh address) and going."""
        out = [Step("load")]
        for gen in range(cycles):
            out += [Step("coming", t, gen) for t in self.targets]
            out += [Step("going", t, gen) for t in self.targets]
        return out

    def scenario(self, steps: list[Step] | None = None, config: Config | None = None) -> Scenario:
        """The engine input for this case (steps default to one apply/clear cycle)."""
        return Scenario(self.obj, to_symbol_world(self.world),
                        steps if steps is not None else self.steps(),
                        self.layout, config or Config())

    def describe(self) -> dict[str, Any]:
        """JSON-ready summary for sidecars and reports."""
        return {"placeholders": self.placeholders, "targets": list(self.targets),
                "mutations": list(self.mutations), "relocs": self.reloc_count,
                **({"knobs": list(self.knobs)} if self.knobs else {}),
                "world": self.world.to_dict(),
                "layout": {"base": hex(self.layout.base),
                           "addresses": {k: hex(v) for k, v in self.layout.addresses.items()},
                           "after_stubs": self.layout.after_stubs.hex()}}
