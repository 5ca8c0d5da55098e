"""``kernel:PATH``: the kernel tree's own module_64.c behind the Engine interface.

:class:`KernelEngine` builds the tree's module_64.c (ppcreloc/reference/kernel/build.py), then runs each
scenario in a child process (ppcreloc/reference/kernel/child.py) through the project's generic loader and
livepatch driver (ppcreloc.loader), with :class:`~ppcreloc.reference.kernel.driver.KernelArch` — the real
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
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO

from ppcreloc.elf.model import SHF_ALLOC
from ppcreloc.errors import PpcrelocError, ToolError
from ppcreloc.loader.world import SymbolWorld
from ppcreloc.records import Config, Layout, RunResult, Scenario
from ppcreloc.reference.kernel.build import BuiltKernel, KernelHarnessError, build
from ppcreloc.reference.kernel.child import LEN, CaseError, Request, WorldFrame, dumps
from ppcreloc.reference.kernel.driver import USER_LIMIT

#: where the module goes when the scenario's layout uses kernel addresses
DEFAULT_USER_BASE = 0x7E00_0000_0000
REPO_ROOT = Path(__file__).resolve().parents[2]
#: environment variable: a fixed per-scenario time limit in seconds (overrides the scaled one)
TIMEOUT_ENV = "PPCRELOC_KERNEL_TIMEOUT"
#: symbol worlds a session child keeps (least recently used ones beyond are dropped)
WORLDS_KEPT = 4


@dataclass(frozen=True)
class TimeLimit:
    """How long the child may take for one scenario: ``base`` seconds plus ``per_unit`` per work
    unit, a unit being one relocation or 256 bytes of allocated sections, once per step (every
    step re-applies relocation sections and snapshots module memory). ``fixed`` replaces the
    scaled limit. The default allows about 5x what amdgpu (269,190 relocations) was measured to
    need per step; a scenario over its limit is the tool's failure (ToolError "hang")."""

    base: float = 30.0
    per_unit: float = 50e-6
    fixed: float | None = None

    @staticmethod
    def work(scenario: Scenario) -> int:
        """Work units of ``scenario``: steps x (relocations + allocated bytes / 256)."""
        obj = scenario.obj
        relocs = sum(len(v) for v in obj.relocs.values())
        alloc = sum(s.sh_size for s in obj.sections if s.flags & SHF_ALLOC)
        return len(scenario.steps) * (relocs + alloc // 256)

    def seconds(self, scenario: Scenario) -> float:
        """The limit for ``scenario``."""
        if self.fixed is not None:
            return self.fixed
        return self.base + self.per_unit * self.work(scenario)

    @classmethod
    def from_env(cls, timeout: float | None = None) -> TimeLimit:
        """``timeout`` when given, else :data:`TIMEOUT_ENV` when set, else the scaled default."""
        if timeout is None and (text := os.environ.get(TIMEOUT_ENV)):
            try:
                timeout = float(text)
            except ValueError:
                raise KernelHarnessError(f"{TIMEOUT_ENV}={text!r}: not a number of seconds") from None
        if timeout is not None and not 0 < timeout < 1e7:
            raise KernelHarnessError(f"kernel engine timeout {timeout!r}: must be a positive number "
                                     "of seconds")
        return cls(fixed=timeout)


class KernelCaseError(PpcrelocError):
    """The loader rejected a scenario inside the kernel engine's child (message as raised)."""


class KernelToolError(ToolError):
    """The kernel engine's child hung ("hang") or died ("fault") on a scenario: no verdict."""


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


def _fingerprint(world: SymbolWorld) -> tuple[object, ...]:
    """What changes when a world is edited in place (add_symbol, set_module_bases, ...)."""
    return (len(world.entries), world.entries[-1] if world.entries else None, world.toc,
            world.seed, world.fallback, tuple((k, tuple(v)) for k, v in world.bases.items()),
            tuple(world.func_descs.items()))


def _describe(sc: Scenario) -> str:
    relocs = sum(len(v) for v in sc.obj.relocs.values())
    return f"module {sc.modname!r}: {len(sc.steps)} steps, {relocs} relocations"


class KernelSession:
    """One child process running scenarios for one library, request after request.

    Each scenario gets its own time limit (:class:`TimeLimit`). A child that exceeds it or dies
    is stopped and the scenario raises :class:`KernelToolError` ("hang" or "fault": the tool's
    failure, not a verdict); the next request starts a new child. Symbol worlds are sent once
    per child (:class:`~ppcreloc.reference.kernel.child.WorldFrame`) and referred to by token after.
    """

    def __init__(self, library: Path, engine: str, read_only: bool | None = None,
                 limit: TimeLimit | None = None) -> None:
        self.library = library
        self.engine = engine
        self.read_only = read_only
        self.limit = limit or TimeLimit.from_env()
        self.proc: subprocess.Popen[bytes] | None = None
        self.stderr: IO[bytes] | None = None
        #: id(world) -> (world, token, fingerprint) of the worlds this child holds, oldest first
        self.worlds: dict[int, tuple[SymbolWorld, int, tuple[object, ...]]] = {}
        self._tokens = 0
        #: bytes written to the child (frames), for the benchmark
        self.sent = 0

    def _start(self) -> subprocess.Popen[bytes]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        self.stderr = tempfile.TemporaryFile()
        self.worlds = {}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ppcreloc.reference.kernel.child"], stdin=subprocess.PIPE,
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
        """Stop a dead or stuck child; say why it ended ("" after a timeout)."""
        assert self.proc is not None
        if timed_out and self.proc.poll() is None:
            self.proc.kill()
        code = self.proc.wait()
        self.proc = None
        if timed_out:
            return ""
        if code < 0:
            return f"killed by {signal.Signals(-code).name}"
        assert self.stderr is not None
        self.stderr.seek(0)
        tail = self.stderr.read().decode(errors="replace").strip().splitlines()
        return f"exited with status {code}" + (f": {tail[-1]}" if tail else "")

    def _send(self, proc: subprocess.Popen[bytes], data: bytes) -> None:
        assert proc.stdin is not None
        try:
            proc.stdin.write(LEN.pack(len(data)) + data)
            proc.stdin.flush()
        except BrokenPipeError:
            pass  # the child is gone: reading finds EOF and reports it
        self.sent += LEN.size + len(data)

    def _share_worlds(self, proc: subprocess.Popen[bytes], batch: Sequence[Scenario]) -> list[int]:
        """Send the batch's worlds the child lacks; the tokens the child may now forget."""
        forget: list[int] = []
        worlds = {id(sc.world): sc.world for sc in batch if isinstance(sc.world, SymbolWorld)}
        for world in worlds.values():  # any other World implementation goes inline
            fp = _fingerprint(world)
            held = self.worlds.pop(id(world), None)
            if held is not None and held[2] == fp:
                self.worlds[id(world)] = held  # most recently used last
                continue
            if held is not None:
                forget.append(held[1])  # edited in place since it was sent
            self._tokens += 1
            self._send(proc, pickle.dumps(WorldFrame(self._tokens, world)))
            self.worlds[id(world)] = (world, self._tokens, fp)
        keep = max(WORLDS_KEPT, len(worlds))
        while len(self.worlds) > keep:
            forget.append(self.worlds.pop(next(iter(self.worlds)))[1])
        return forget

    def run_batch(self, batch: Sequence[Scenario]) -> list[RunResult]:
        """Results for every scenario of ``batch``, in order (KernelToolError if one hangs or
        kills the child; KernelCaseError if the loader rejected one)."""
        if self.proc is not None and self.proc.poll() is not None:
            self.proc = None  # died between requests (nothing of this batch ran): start afresh
        proc = self.proc or self._start()
        forget = self._share_worlds(proc, batch)
        tokens = {key: token for key, (_w, token, _fp) in self.worlds.items()}
        self._send(proc, dumps(Request(self.library, self.engine, list(batch), self.read_only,
                                       forget), tokens))
        results: list[RunResult] = []
        errors: list[CaseError] = []
        for n, sc in enumerate(batch):
            limit = self.limit.seconds(sc)
            deadline = time.monotonic() + limit
            frame = self._read_frame(deadline)
            if frame is None:
                why = self._reap(timed_out=time.monotonic() >= deadline)
                where = f"scenario {n + 1} of {len(batch)} ({_describe(sc)})"
                if not why:
                    raise KernelToolError("hang", f"kernel engine child exceeded its {limit:.0f} s "
                                          f"limit on {where}; set {TIMEOUT_ENV}=SECONDS to "
                                          "allow more")
                raise KernelToolError("fault", f"kernel engine child {why} on {where}")
            if isinstance(frame, CaseError):
                errors.append(frame)
            else:
                assert isinstance(frame, RunResult)
                results.append(frame)
        for error in errors:  # a tool failure anywhere in the batch outranks a rejected input
            if error.outcome is not None:
                raise KernelToolError(error.outcome, error.message)
        if errors:
            raise KernelCaseError(errors[0].message)
        return results

    def close(self) -> None:
        """End the child (it exits when its stdin closes)."""
        if self.proc is not None:
            assert self.proc.stdin is not None
            try:
                self.proc.stdin.close()
            except BrokenPipeError:
                pass
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
    ``timeout``: a fixed per-scenario limit in seconds (default: :envvar:`PPCRELOC_KERNEL_TIMEOUT`
    when set, else scaled with the scenario's work, :class:`TimeLimit`).
    """

    #: the layout move a scenario needs before it runs here (module memory at user addresses)
    user_layout = staticmethod(user_layout)

    def __init__(self, path: str | os.PathLike[str], config: Config | None = None,
                 read_only: bool | None = None, *, timeout: float | None = None) -> None:
        self.path = str(path)
        self.read_only = read_only
        self.limit = TimeLimit.from_env(timeout)
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
                session = sessions.get(lib) or sessions.setdefault(
                    lib, KernelSession(lib, self.name, self.read_only, self.limit))
                results += session.run_batch(batch)
        finally:
            if own:
                for session in sessions.values():
                    session.close()
        return results
