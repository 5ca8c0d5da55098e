"""The kernel engine sends a symbol world once per child session (issue 17 point 5): with a
System.map-sized world, every later scenario refers to it by token instead of pickling it again.

Counts what crosses the pipe: the WorldFrames among the frames a session writes, and the size of
each scenario request against the world's own pickle.
"""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import pytest

from ppcreloc.elf.builder import ObjectBuilder
from ppcreloc.elf.model import SHN_LIVEPATCH, STB_GLOBAL
from ppcreloc.loader.world import SymbolWorld
from ppcreloc.records import Layout, Scenario, Step
from ppcreloc.reference.kernel.child import WorldFrame
from ppcreloc.reference.kernel.engine import KernelEngine, KernelSession, user_layout

TARBALL = Path("/usr/src/linux-source-6.12.tar.xz")
#: a System.map-like world: big enough that pickling it per scenario is unmistakable
N_SYMBOLS = 20_000


def _world() -> SymbolWorld:
    lines = [f"{0xC000000000010000 + 16 * i:016x} T vmlinux_fn_{i}" for i in range(N_SYMBOLS)]
    return SymbolWorld.from_kallsyms("\n".join(lines) + "\n")


def _scenario(world: SymbolWorld, calls: int) -> Scenario:
    ob = ObjectBuilder()
    text = ob.add_section(".text", struct.pack("<II", 0x48000001, 0x60000000) * calls)
    ob.add_stubs()
    for i in range(calls):
        sym = ob.add_symbol(f".klp.sym.target.f{i},0", bind=STB_GLOBAL, shndx=SHN_LIVEPATCH)
        ob.add_rela(text, 8 * i, sym, 10, section=".klp.rela.target.text")
    steps = [Step("load"), Step("coming", "target", 0), Step("going", "target", 0)]
    return Scenario(ob.build(), world, steps, user_layout(Layout()))


def _kind(frame: bytes) -> str:
    """``world`` for a WorldFrame; ``request`` for anything else (it refers to worlds by token,
    so it does not load without the child's persistent ids)."""
    try:
        return "world" if isinstance(pickle.loads(frame), WorldFrame) else "request"
    except pickle.UnpicklingError:
        return "request"


def test_world_crosses_the_pipe_once_per_session(monkeypatch: pytest.MonkeyPatch) -> None:
    if not TARBALL.is_file():
        pytest.skip(f"{TARBALL} missing (apt-get install linux-source-6.12)")
    frames: list[bytes] = []
    send = KernelSession._send

    def recording(self: KernelSession, proc: object, data: bytes) -> None:
        frames.append(data)
        send(self, proc, data)  # type: ignore[arg-type]

    monkeypatch.setattr(KernelSession, "_send", recording)
    world = _world()
    world_bytes = len(pickle.dumps(world))
    with KernelEngine(TARBALL) as engine:
        for calls in (1, 2, 3, 1, 2, 3):  # six scenarios, six requests, one shared world
            assert engine.run(_scenario(world, calls)).steps[1].rc == 0
    kinds = [_kind(f) for f in frames]
    assert kinds.count("world") == 1 and kinds.count("request") == 6
    requests = [len(f) for f, k in zip(frames, kinds, strict=True) if k == "request"]
    assert max(requests) * 10 < world_bytes, (requests, world_bytes)
