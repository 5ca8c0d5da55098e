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

import os
import pickle
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import IO

from ppcreloc.engine import Config, Layout, RunResult, Scenario, StepResult
from ppcreloc.engines import run_scenario
from ppcreloc.errors import PpcrelocError
from ppcreloc.loader.module import ArchBackend
from reference.kernel.build import BuiltKernel, KernelHarnessError, build
from reference.kernel.child import LEN, CaseError, Request
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


def run_with_backend(scenario: Scenario, backend: ArchBackend, engine: str) -> RunResult:
    """The generic loader and livepatch driver (ppcreloc.engines.run_scenario) over ``backend``."""
    return run_scenario(scenario, backend, engine)


class KernelSession:
    """One child process running scenarios for one library, request after request.

    A child that dies (or exceeds its time) costs only the scenario it was running: that one
    gets a StepResult with ``fault`` "child died: ..." and the next request starts a new child.
    """

    def __init__(self, library: Path, engine: str, read_only: bool | None = None) -> None:
        self.library = library
        self.engine = engine
        self.read_only = read_only
        self.proc: subprocess.Popen[bytes] | None = None
        self.stderr: IO[bytes] | None = None

    def _start(self) -> subprocess.Popen[bytes]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "reference.kernel.child"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self.stderr, env=env, cwd=REPO_ROOT, bufsize=0,
        )
        return self.proc

    def _read_exact(self, n: int, deadline: float) -> bytes | None:
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        buf = bytearray()
        while len(buf) < n:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return bytes(buf)

    def _read_frame(self, deadline: float) -> object | None:
        head = self._read_exact(LEN.size, deadline)
        if head is None:
            return None
        body = self._read_exact(LEN.unpack(head)[0], deadline)
        return None if body is None else pickle.loads(body)

    def _reap(self, timed_out: bool) -> str:
        """Stop a dead or stuck child and say why it ended."""
        assert self.proc is not None
        if timed_out and self.proc.poll() is None:
            self.proc.kill()
        code = self.proc.wait()
        self.proc = None
        if timed_out:
            return "timeout"
        if code < 0:
            return signal.Signals(-code).name
        assert self.stderr is not None
        self.stderr.seek(0)
        tail = self.stderr.read().decode(errors="replace").strip().splitlines()
        raise KernelHarnessError(
            "kernel engine child failed: " + (tail[-1] if tail else f"exit status {code}")
        )

    def run_batch(self, batch: Sequence[Scenario]) -> list[RunResult]:
        """Results for a prefix of ``batch``: all of it, or up to the case that killed the child."""
        if self.proc is not None and self.proc.poll() is not None:
            self.proc = None  # died between requests (nothing of this batch ran): start afresh
        proc = self.proc or self._start()
        assert proc.stdin is not None
        data = pickle.dumps(Request(self.library, self.engine, list(batch), self.read_only))
        deadline = time.monotonic() + CHILD_TIMEOUT[0] + CHILD_TIMEOUT[1] * len(batch)
        try:
            proc.stdin.write(LEN.pack(len(data)) + data)
            proc.stdin.flush()
        except BrokenPipeError:
            pass  # the child is gone: reading finds EOF and reports it
        results: list[RunResult] = []
        errors: list[str] = []
        while len(results) + len(errors) < len(batch):
            frame = self._read_frame(deadline)
            if frame is None:
                died = self._reap(timed_out=time.monotonic() >= deadline)
                sc = batch[len(results) + len(errors)]
                results.append(RunResult(self.engine, [StepResult(sc.steps[0], 0,
                                                                  fault=f"child died: {died}")]))
                break
            if isinstance(frame, CaseError):
                errors.append(frame.message)
            else:
                assert isinstance(frame, RunResult)
                results.append(frame)
        if errors:
            raise KernelCaseError(errors[0])
        return results

    def close(self) -> None:
        """End the child (it exits when its stdin closes)."""
        if self.proc is not None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


class KernelEngine:
    """The kernel tree (directory or source tarball) at ``path`` as an engine.

    Each :meth:`run` / :meth:`run_many` call uses fresh child processes. Used as a context
    manager, the engine keeps one child per library alive across calls (much faster for many
    small scenarios, at the price of sharing a process between them). ``read_only``: after the
    load, module text, rodata and ro_after_init are read-only as in the kernel (a plain store
    there faults). None (the default) does what the model does: read-only when the scenario's
    ``Config.strict_module_rwx`` is on (module_enable_ro); True or False force it on or off.
    """

    def __init__(self, path: str | os.PathLike[str], config: Config | None = None,
                 read_only: bool | None = None) -> None:
        self.path = str(path)
        self.read_only = read_only
        self.name = f"kernel:{self.path}"
        self._built: dict[Config, BuiltKernel] = {}
        self._sessions: dict[Path, KernelSession] | None = None
        self.built(config or Config())  # fail early: bad path, no gcc, build error

    def __enter__(self) -> KernelEngine:
        self._sessions = {}
        return self

    def __exit__(self, *exc: object) -> None:
        for session in (self._sessions or {}).values():
            session.close()
        self._sessions = None

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
        """Run one scenario (in a fresh child, unless the engine is used as a context manager)."""
        return self.run_many([scenario])[0]

    def run_many(self, scenarios: Sequence[Scenario]) -> list[RunResult]:
        """Run scenarios in order, batched into as few child processes as possible."""
        cases = [replace(s, layout=user_layout(s.layout)) for s in scenarios]
        own = self._sessions is None
        sessions: dict[Path, KernelSession] = {} if own else self._sessions  # type: ignore[assignment]
        results: list[RunResult] = []
        try:
            while len(results) < len(cases):
                lib = self.built(cases[len(results)].config).library
                batch = []
                for sc in cases[len(results):]:
                    if self.built(sc.config).library != lib:
                        break
                    batch.append(sc)
                session = sessions.setdefault(lib, KernelSession(lib, self.name, self.read_only))
                results += session.run_batch(batch)
        finally:
            if own:
                for session in sessions.values():
                    session.close()
        return results
