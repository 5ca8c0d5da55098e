"""The child process that runs scenarios through one kernel library: ``python -m ppcreloc.reference.kernel.child``.

Protocol (length-prefixed pickles over stdin/stdout): the parent writes :class:`WorldFrame` and
:class:`Request` frames; the child answers each scenario in order with a RunResult (or a
:class:`CaseError`) frame, flushing after each, so a child that dies mid-case loses only that
case. The child serves requests until stdin closes: one request for a one-shot run, many for a
session. A symbol world (a System.map world pickles to about 13 MB) crosses the pipe once per
session: the parent sends it as a WorldFrame and the scenarios of every later Request refer to it
by its token (a pickle persistent id, :data:`WORLD_TAG`). One library per
process: both kernel versions export the same symbol names and the module memory lives at fixed
addresses.
"""

from __future__ import annotations

import io
import pickle
import struct
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from ppcreloc.errors import PpcrelocError, ToolError
from ppcreloc.loader.world import SymbolWorld
from ppcreloc.records import RunResult, Scenario
from ppcreloc.reference.kernel.driver import KernelArch
from ppcreloc.run import run_scenario

LEN = struct.Struct("<Q")
#: the persistent id of a world the child already holds: (WORLD_TAG, token)
WORLD_TAG = "ppcreloc-world"


@dataclass(frozen=True)
class WorldFrame:
    """A symbol world the child keeps for its session; later requests name it by ``token``."""

    token: int
    world: SymbolWorld


@dataclass(frozen=True)
class Request:
    """What the parent asks: run these scenarios with this library; name the engine so."""

    library: Path
    engine: str
    scenarios: list[Scenario]
    read_only: bool | None = None
    #: world tokens the parent no longer uses (the child drops them)
    forget: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class CaseError:
    """A scenario the loader rejected with a user-facing error, or (``outcome`` set) one the
    harness failed on (a ToolError: its outcome and message)."""

    message: str
    outcome: str | None = None


def run_case(arch: KernelArch, engine: str, scenario: Scenario) -> RunResult:
    """Run one scenario. A fault of the C code (KernelFault) ends its step with ``fault``
    naming the signal and no later step runs (ppcreloc.run.run_scenario handles it, as for
    the model's plain stores into read-only memory); ``rc`` of that step is 0 and means
    nothing: the real kernel would have oopsed."""
    return run_scenario(scenario, arch, engine)


def write_frame(out: BinaryIO, obj: object) -> None:
    """One length-prefixed pickle, flushed."""
    data = pickle.dumps(obj)
    out.write(LEN.pack(len(data)) + data)
    out.flush()


def dumps(obj: object, tokens: dict[int, int]) -> bytes:
    """Pickle ``obj``; every SymbolWorld whose id is in ``tokens`` becomes a reference to it."""
    buf = io.BytesIO()
    pickler = pickle.Pickler(buf)

    def persistent_id(o: object) -> tuple[str, int] | None:
        if isinstance(o, SymbolWorld) and id(o) in tokens:
            return (WORLD_TAG, tokens[id(o)])
        return None

    pickler.persistent_id = persistent_id  # type: ignore[method-assign]
    pickler.dump(obj)
    return buf.getvalue()


def loads(data: bytes, worlds: dict[int, SymbolWorld]) -> object:
    """Unpickle a frame, resolving world references against ``worlds`` (token -> world)."""
    unpickler = pickle.Unpickler(io.BytesIO(data))

    def persistent_load(pid: object) -> SymbolWorld:
        if not (isinstance(pid, tuple) and len(pid) == 2 and pid[0] == WORLD_TAG
                and pid[1] in worlds):
            raise pickle.UnpicklingError(f"unknown world reference {pid!r}")
        return worlds[pid[1]]

    unpickler.persistent_load = persistent_load  # type: ignore[method-assign]
    return unpickler.load()


def read_frame(inp: BinaryIO, worlds: dict[int, SymbolWorld] | None = None) -> object | None:
    """The next frame, or None at end of stream (or a truncated frame)."""
    head = inp.read(LEN.size)
    if len(head) < LEN.size:
        return None
    (n,) = LEN.unpack(head)
    data = inp.read(n)
    if len(data) < n:
        return None
    return loads(data, worlds or {})


def main() -> int:
    """Serve requests from stdin until it closes (one library per process)."""
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing else may write into the result stream
    arch: KernelArch | None = None
    worlds: dict[int, SymbolWorld] = {}
    while (req := read_frame(inp, worlds)) is not None:
        if isinstance(req, WorldFrame):
            worlds[req.token] = req.world
            continue
        assert isinstance(req, Request)
        for token in req.forget:
            worlds.pop(token, None)
        if arch is None:
            arch = KernelArch(req.library, req.engine, req.read_only)
        elif req.library != arch.library:
            raise SystemExit(f"child serves {arch.library} only, not {req.library}")
        for sc in req.scenarios:
            try:
                result: object = run_case(arch, req.engine, sc)
            except ToolError as e:
                result = CaseError(str(e), e.outcome)
            except PpcrelocError as e:
                result = CaseError(str(e))
            write_frame(out, result)
    return 0


if __name__ == "__main__":
    # run the imported module's main, so pickled classes are ppcreloc.reference.kernel.child's, not __main__'s
    from ppcreloc.reference.kernel.child import main as _main

    raise SystemExit(_main())
