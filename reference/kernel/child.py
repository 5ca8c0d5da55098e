"""The child process that runs scenarios through one kernel library: ``python -m reference.kernel.child``.

Protocol (length-prefixed pickles over stdin/stdout): the parent writes :class:`Request` frames;
the child answers each scenario in order with a RunResult (or a :class:`CaseError`) frame,
flushing after each, so a child that dies mid-case loses only that case. The child serves
requests until stdin closes: one request for a one-shot run, many for a session. One library per
process: both kernel versions export the same symbol names and the module memory lives at fixed
addresses.
"""

from __future__ import annotations

import pickle
import struct
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ppcreloc.engine import RunResult, Scenario
from ppcreloc.errors import PpcrelocError
from reference.kernel.driver import KernelArch

LEN = struct.Struct("<Q")


@dataclass(frozen=True)
class Request:
    """What the parent asks: run these scenarios with this library; name the engine so."""

    library: Path
    engine: str
    scenarios: list[Scenario]
    read_only: bool | None = None


@dataclass(frozen=True)
class CaseError:
    """A scenario the loader rejected with a user-facing error (message only)."""

    message: str


def run_case(arch: KernelArch, engine: str, scenario: Scenario) -> RunResult:
    """Run one scenario. A fault of the C code (KernelFault) ends its step with ``fault``
    naming the signal and no later step runs (ppcreloc.engines.run_scenario handles it, as for
    the model's plain stores into read-only memory); ``rc`` of that step is 0 and means
    nothing: the real kernel would have oopsed."""
    from reference.kernel.engine import run_with_backend

    return run_with_backend(scenario, arch, engine)


def write_frame(out: BinaryIO, obj: object) -> None:
    """One length-prefixed pickle, flushed."""
    data = pickle.dumps(obj)
    out.write(LEN.pack(len(data)) + data)
    out.flush()


def read_frame(inp: BinaryIO) -> object | None:
    """The next frame, or None at end of stream (or a truncated frame)."""
    head = inp.read(LEN.size)
    if len(head) < LEN.size:
        return None
    (n,) = LEN.unpack(head)
    data = inp.read(n)
    if len(data) < n:
        return None
    return pickle.loads(data)


def main() -> int:
    """Serve requests from stdin until it closes (one library per process)."""
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing else may write into the result stream
    arch: KernelArch | None = None
    while (req := read_frame(inp)) is not None:
        assert isinstance(req, Request)
        if arch is None:
            arch = KernelArch(req.library, req.engine, req.read_only)
        elif req.library != arch.library:
            raise SystemExit(f"child serves {arch.library} only, not {req.library}")
        for sc in req.scenarios:
            try:
                result: object = run_case(arch, req.engine, sc)
            except PpcrelocError as e:
                result = CaseError(str(e))
            write_frame(out, result)
    return 0


if __name__ == "__main__":
    # run the imported module's main, so pickled classes are reference.kernel.child's, not __main__'s
    from reference.kernel.child import main as _main

    raise SystemExit(_main())
