"""Running a scenario: the module loader, then the livepatch driver's coming/going steps, each
step's events cut from the module's logs into a StepResult (what every engine built on
ppcreloc.loader reports; ppcreloc.engines puts a profile behind it).

A run is: the "load" step (load_module: frob, placement, symbol resolution, load-time relocations,
module_finalize_ftrace), then per "coming" step klp_module_coming for the target object at the
world's base of that generation, per "going" step klp_module_going. Each StepResult carries only
that step's messages, WARNs, writes and out-of-bounds events, plus the memory afterwards. When the
load fails, later steps are not run and the RunResult holds the load's StepResult only (the
kernel would have refused the livepatch module, so there is nothing to come or go). A "going"
for an object that is not loaded (never came, or its coming failed and the kernel refused it)
does nothing, rc 0: the module loader never calls klp_module_going for it. A second "coming"
without a "going" re-applies the object's relocations (what a reload does, minus the unload).

A step that faults (:class:`~ppcreloc.loader.memory.KernelFault`: a plain store into memory
module_enable_ro made read-only, or the kernel engine's C code faulting) ends with
``StepResult.fault`` set, rc 0, the messages and writes made before the fault, the relocation
being applied as ``failed_reloc``, and the memory at that point; no later step runs (the
kernel oopsed).
"""

from __future__ import annotations

from collections.abc import Sequence

from ppcreloc.arch.ftrace_ool import ool_extent
from ppcreloc.errors import UsageError
from ppcreloc.loader.layout import AFTER_STUBS
from ppcreloc.loader.livepatch import KlpPatch
from ppcreloc.loader.loader import load_module, stubs_extent
from ppcreloc.loader.memory import KernelFault
from ppcreloc.loader.module import ArchBackend, ModuleState
from ppcreloc.records import RelocRef, RunResult, Scenario, Step, StepResult


def _check_steps(steps: Sequence[Step]) -> None:
    if not steps or steps[0].kind != "load":
        raise UsageError("a scenario must start with a 'load' step")
    for n, step in enumerate(steps[1:], 1):
        if step.kind == "load":
            raise UsageError(f"step {n}: 'load' may only be the first step")
        if step.kind not in ("coming", "going"):
            raise UsageError(f"step {n}: unknown step kind {step.kind!r}")
        if not step.objname:
            raise UsageError(f"step {n}: '{step.kind}' needs an object name")
        if step.generation < 0:
            raise UsageError(f"step {n}: generation {step.generation} is negative")


class _Marks:
    """Where one step's events start in the module's logs."""

    def __init__(self, mod: ModuleState | None = None) -> None:
        """Marks at the current end of ``mod``'s logs (None: at the very start)."""
        self.writes = len(mod.memory.writes) if mod else 0
        self.oob = len(mod.memory.oob) if mod else 0
        self.messages = len(mod.messages) if mod else 0
        self.warns = mod.warns if mod else 0
        self.warn_sites = len(mod.warn_sites) if mod else 0

    def result(
        self, step: Step, rc: int, mod: ModuleState, failed: RelocRef | None = None,
        fault: KernelFault | None = None, previous: StepResult | None = None,
    ) -> StepResult:
        """The step's StepResult. ``previous`` is the step before it: module memory changes
        only through recorded writes, so a step that recorded none shares its memory images."""
        writes = mod.memory.writes[self.writes :]
        if previous is not None and not writes:
            memory, after_stubs = previous.memory, previous.after_stubs
        else:
            region = next((r for r in mod.memory.regions if r.name == AFTER_STUBS), None)
            memory = mod.memory.snapshot()
            after_stubs = bytes(region.buf) if region is not None else b""
        return StepResult(
            step=step,
            rc=rc,
            messages=mod.messages[self.messages :],
            warns=mod.warns - self.warns,
            warn_sites=mod.warn_sites[self.warn_sites :],
            writes=writes,
            oob=mod.memory.oob[self.oob :],
            memory=memory,
            after_stubs=after_stubs,
            fault=fault.signal if fault is not None else None,
            failed_reloc=failed if rc or fault is not None else None,
            fault_addr=fault.addr if fault is not None else None,
            fault_what=fault.what if fault is not None else "",
        )


def run_scenario(scenario: Scenario, backend: ArchBackend, engine: str) -> RunResult:
    """Run ``scenario`` through the generic loader and livepatch driver with any ``backend``.

    What every engine built on ppcreloc.loader reports (ModelEngine, and kernel:PATH with the
    real module_64.c as the backend): see the module docstring for the step semantics.
    """
    _check_steps(scenario.steps)
    load = load_module(backend, scenario.obj, scenario.world, scenario.layout,
                       scenario.config, scenario.modname)
    mod = load.mod
    results = [_Marks().result(scenario.steps[0], load.rc, mod, load.failed_reloc, load.fault)]
    run = RunResult(engine, results, load.placements,
                    stubs_extent(mod) if load.placements else (0, 0), ool_extent(mod))
    if load.rc or load.fault is not None:
        return run
    patch = KlpPatch.for_module(backend, mod)
    for n, step in enumerate(scenario.steps[1:], 1):
        objname = step.objname or ""  # _check_steps made sure it is set
        scenario.world.module_base(objname, step.generation)  # validates the generation
        mod.memory.step = n
        marks = _Marks(mod)
        mod.memory.forget_reloc()
        try:
            if step.kind == "coming":
                rc = patch.klp_module_coming(objname, step.generation)
            else:
                patch.klp_module_going(objname)
                rc = 0
        except KernelFault as f:
            mod.memory.reloc = None
            results.append(marks.result(step, 0, mod, f.reloc or mod.memory.last_reloc, f,
                                        results[-1]))
            break
        results.append(marks.result(step, rc, mod, mod.memory.last_reloc, None, results[-1]))
    run.stubs = stubs_extent(mod)
    return run
