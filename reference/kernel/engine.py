"""``kernel:PATH``: the kernel tree's own module_64.c behind the Engine interface.

:class:`KernelEngine` builds the tree's module_64.c (reference/kernel/build.py), then runs each
scenario in a child process (reference/kernel/child.py) through the project's generic loader and
livepatch driver (ppcreloc.loader), with :class:`~reference.kernel.driver.KernelArch` — the real
C functions — as the arch backend. So a differential against a Python profile compares exactly
the arch behaviour. Module memory must be at user addresses: a scenario whose Layout base is a
kernel address is run at :data:`DEFAULT_USER_BASE` instead (:func:`user_layout`); give the model
the same layout when comparing.
"""

from __future__ import annotations

import io
import os
import pickle
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from ppcreloc.engine import Config, Layout, RunResult, Scenario, Step, StepResult
from ppcreloc.errors import PpcrelocError
from ppcreloc.loader.layout import AFTER_STUBS
from ppcreloc.loader.livepatch import KlpPatch
from ppcreloc.loader.loader import forget_reloc, last_reloc, load_module, stubs_extent
from ppcreloc.loader.module import ArchBackend, ModuleState
from reference.kernel.build import BuiltKernel, KernelHarnessError, build
from reference.kernel.child import CaseError, Request, read_frame
from reference.kernel.driver import USER_LIMIT

#: where the module goes when the scenario's layout uses kernel addresses
DEFAULT_USER_BASE = 0x7E00_0000_0000
REPO_ROOT = Path(__file__).resolve().parents[2]
#: seconds a child may take: a base plus this much per scenario
CHILD_TIMEOUT = (60.0, 10.0)


class KernelCaseError(PpcrelocError):
    """The loader rejected a scenario inside the kernel engine's child (message as raised)."""


def user_layout(layout: Layout) -> Layout:
    """``layout`` moved to user addresses, keeping every distance between its sections.

    A kernel-range base becomes :data:`DEFAULT_USER_BASE` and pinned addresses move with it;
    a layout already in the user range is returned as it is.
    """
    def user(addr: int) -> bool:
        return 0 < addr < USER_LIMIT

    if user(layout.base) and all(user(a) for a in layout.addresses.values()):
        return layout
    delta = DEFAULT_USER_BASE - layout.base
    moved = {name: addr + delta for name, addr in layout.addresses.items()}
    for name, addr in moved.items():
        if not user(addr):
            raise KernelHarnessError(
                f"layout pins {name!r} {addr - delta - layout.base:#x} bytes from its base: "
                "too far for the kernel engine's user-range module memory"
            )
    return replace(layout, base=DEFAULT_USER_BASE, addresses=moved)


def _step_result(mod: ModuleState, step: Step, rc: int, marks: tuple[int, int, int, int]
                 ) -> StepResult:
    """One step's slice of the module's logs (what ppcreloc.engines.ModelEngine reports)."""
    writes, oob, messages, warns = marks
    after = next((r for r in mod.memory.regions if r.name == AFTER_STUBS), None)
    return StepResult(
        step=step, rc=rc, messages=mod.messages[messages:], warns=mod.warns - warns,
        writes=mod.memory.writes[writes:], oob=mod.memory.oob[oob:],
        memory=mod.memory.snapshot(), after_stubs=bytes(after.buf) if after else b"",
        failed_reloc=last_reloc(mod.memory) if rc else None,
    )


def _marks(mod: ModuleState) -> tuple[int, int, int, int]:
    return len(mod.memory.writes), len(mod.memory.oob), len(mod.messages), mod.warns


def run_with_backend(scenario: Scenario, backend: ArchBackend, engine: str) -> RunResult:
    """Run ``scenario`` through the generic loader and livepatch driver with ``backend``.

    The same sequence as ppcreloc.engines.ModelEngine.run (load, then klp_module_coming /
    klp_module_going per step; after a failed load nothing else runs), with any backend.
    """
    steps = scenario.steps
    if not steps or steps[0].kind != "load":
        raise KernelCaseError("a scenario must start with a 'load' step")
    load = load_module(backend, scenario.obj, scenario.world, scenario.layout, scenario.config,
                       scenario.modname)
    mod = load.mod
    first = _step_result(mod, steps[0], load.rc, (0, 0, 0, 0))
    first.failed_reloc = load.failed_reloc if load.rc else None
    run = RunResult(engine, [first], load.placements,
                    stubs_extent(mod) if load.placements else (0, 0))
    if load.rc:
        return run
    patch = KlpPatch.for_module(backend, mod)
    for n, step in enumerate(steps[1:], 1):
        if step.kind not in ("coming", "going") or not step.objname:
            raise KernelCaseError(f"step {n}: expected 'coming' or 'going' with an object name")
        scenario.world.module_base(step.objname, step.generation)  # validates the generation
        mod.memory.step = n
        marks = _marks(mod)
        forget_reloc(mod.memory)
        if step.kind == "coming":
            rc = patch.klp_module_coming(step.objname, step.generation)
        else:
            patch.klp_module_going(step.objname)
            rc = 0
        run.steps.append(_step_result(mod, step, rc, marks))
    run.stubs = stubs_extent(mod)
    return run


class KernelEngine:
    """The kernel tree (directory or source tarball) at ``path`` as an engine."""

    def __init__(self, path: str | os.PathLike[str], config: Config | None = None) -> None:
        self.path = str(path)
        self.name = f"kernel:{self.path}"
        self._built: dict[Config, BuiltKernel] = {}
        self.built(config or Config())  # fail early: bad path, no gcc, build error

    def built(self, config: Config) -> BuiltKernel:
        """The library for ``config`` (built once per engine, cached on disk across runs)."""
        if config not in self._built:
            self._built[config] = build(self.path, config)
        return self._built[config]

    @property
    def version(self) -> str:
        """The tree's VERSION.PATCHLEVEL.SUBLEVEL."""
        return next(iter(self._built.values())).version

    def run(self, scenario: Scenario) -> RunResult:
        """Run one scenario in a fresh child process."""
        return self.run_many([scenario])[0]

    def run_many(self, scenarios: Sequence[Scenario]) -> list[RunResult]:
        """Run scenarios in order, batched into as few child processes as possible."""
        cases = [replace(s, layout=user_layout(s.layout)) for s in scenarios]
        results: list[RunResult] = []
        while len(results) < len(cases):
            lib = self.built(cases[len(results)].config).library
            batch = []
            for sc in cases[len(results):]:
                if self.built(sc.config).library != lib:
                    break
                batch.append(sc)
            results += self._child(lib, batch)
        return results

    def _child(self, library: Path, batch: list[Scenario]) -> list[RunResult]:
        """Run ``batch`` in one child; a child that dies costs only the case it was running."""
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        proc = subprocess.Popen(
            [sys.executable, "-m", "reference.kernel.child"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=REPO_ROOT,
        )
        try:
            out, err = proc.communicate(
                pickle.dumps(Request(library, self.name, batch)),
                timeout=CHILD_TIMEOUT[0] + CHILD_TIMEOUT[1] * len(batch),
            )
            died = ""
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            died = "timeout"
        results: list[RunResult] = []
        stream = io.BytesIO(out)
        while len(results) < len(batch):
            frame = read_frame(stream)
            if frame is None:
                break
            if isinstance(frame, CaseError):
                raise KernelCaseError(frame.message)
            assert isinstance(frame, RunResult)
            results.append(frame)
        if len(results) < len(batch):
            if not died and proc.returncode and proc.returncode < 0:
                died = signal.Signals(-proc.returncode).name
            elif not died:
                tail = err.decode(errors="replace").strip().splitlines()
                raise KernelHarnessError(
                    "kernel engine child failed: " + (tail[-1] if tail else f"exit {proc.returncode}")
                )
            sc = batch[len(results)]
            results.append(RunResult(self.name, [StepResult(sc.steps[0], 0,
                                                            fault=f"child died: {died}")]))
        return results
