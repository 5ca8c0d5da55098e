"""Cost of the kernel engine (kernel:PATH), printed as JSON.

Measures: extracting + building a tree's module_64.c into an empty cache (cold) and the cached
lookup (warm); one scenario in a fresh child (one-shot ``run``); per-scenario cost inside a
session child (``with engine:``); the same scenarios through the matching Python profile.
With ``--kallsyms FILE`` (a System.map: scripts/fetch-ppc64el-modules.sh prints its path) also
the per-scenario cost and the bytes sent to the child per scenario when every scenario shares
that world (it crosses the pipe once per session; ``world_pickle_kb`` is what it would cost per
scenario if it were sent with each).
Usage: python bench/bench_kernel_engine.py [TARBALL] [N] [--kallsyms FILE]
(default /usr/src/linux-source-6.12.tar.xz, N = 50 livepatch cycle scenarios).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import struct
import tempfile
import time
from pathlib import Path

from ppcreloc.elf.builder import ObjectBuilder
from ppcreloc.elf.model import SHN_LIVEPATCH, STB_GLOBAL
from ppcreloc.engines import ModelEngine
from ppcreloc.loader.world import SymbolWorld
from ppcreloc.records import Layout, Scenario, Step
from ppcreloc.reference.kernel.build import build
from ppcreloc.reference.kernel.engine import KernelEngine, user_layout


def scenario(n_calls: int, world: SymbolWorld | None = None) -> Scenario:
    ob = ObjectBuilder()
    text = ob.add_section(".text", struct.pack("<II", 0x48000001, 0x60000000) * n_calls)
    ob.add_stubs()
    for i in range(n_calls):
        sym = ob.add_symbol(f".klp.sym.target.f{i},0", bind=STB_GLOBAL, shndx=SHN_LIVEPATCH)
        ob.add_rela(text, 8 * i, sym, 10, section=".klp.rela.target.text")
    steps = [Step("load")] + [s for g in range(3) for s in
                              (Step("coming", "target", g), Step("going", "target", g))]
    return Scenario(ob.build(), world or SymbolWorld.synthetic(), steps, user_layout(Layout()))


def with_world(engine: KernelEngine, n: int, kallsyms: str) -> dict[str, object]:
    """Session cost per scenario when all ``n`` scenarios share the System.map world."""
    t = time.perf_counter()
    world = SymbolWorld.from_kallsyms(kallsyms)
    out: dict[str, object] = {"kallsyms": kallsyms, "world_symbols": len(world.entries),
                              "world_parse_s": round(time.perf_counter() - t, 3),
                              "world_pickle_kb": round(len(pickle.dumps(world)) / 1024, 1)}
    cases = [scenario(1 + i % 8, world) for i in range(n)]
    with engine:
        t = time.perf_counter()
        engine.run(cases[0])  # starts the child and sends the world
        out["first_scenario_s"] = round(time.perf_counter() - t, 3)
        session = next(iter(engine._sessions.values())) if engine._sessions else None
        sent = getattr(session, "sent", 0)
        t = time.perf_counter()
        for sc in cases:
            engine.run(sc)
        out["session_per_scenario_ms"] = round(1000 * (time.perf_counter() - t) / n, 1)
        if session is not None and hasattr(session, "sent"):
            out["sent_per_scenario_kb"] = round((session.sent - sent) / n / 1024, 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("tarball", nargs="?", default="/usr/src/linux-source-6.12.tar.xz")
    ap.add_argument("n", nargs="?", type=int, default=50)
    ap.add_argument("--kallsyms", metavar="FILE", help="System.map for the shared-world figures")
    args = ap.parse_args()
    tarball, n = Path(args.tarball), args.n
    out: dict[str, object] = {"tree": str(tarball), "scenarios": n}
    with tempfile.TemporaryDirectory() as cache:
        old = os.environ.get("PPCRELOC_CACHE")
        os.environ["PPCRELOC_CACHE"] = cache
        t = time.perf_counter()
        built = build(tarball)
        out["cold_extract_and_build_s"] = round(time.perf_counter() - t, 2)
        t = time.perf_counter()
        build(tarball)
        out["warm_build_lookup_s"] = round(time.perf_counter() - t, 3)
        if old is None:
            del os.environ["PPCRELOC_CACHE"]
        else:
            os.environ["PPCRELOC_CACHE"] = old
    out["version"] = built.version
    engine = KernelEngine(tarball)
    cases = [scenario(1 + i % 8) for i in range(n)]
    t = time.perf_counter()
    engine.run(cases[0])
    out["one_shot_run_s"] = round(time.perf_counter() - t, 3)
    with engine:
        engine.run(cases[0])  # start the child
        t = time.perf_counter()
        for sc in cases:
            engine.run(sc)
        out["session_per_scenario_ms"] = round(1000 * (time.perf_counter() - t) / n, 1)
    profile = ModelEngine("v6.12" if built.version.startswith("6.12") else "v6.1")
    t = time.perf_counter()
    for sc in cases:
        profile.run(sc)
    out["model_per_scenario_ms"] = round(1000 * (time.perf_counter() - t) / n, 1)
    if args.kallsyms:
        out["system_map_world"] = with_world(engine, n, args.kallsyms)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
