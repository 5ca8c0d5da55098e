"""Cost of the kernel engine (kernel:PATH), printed as JSON.

Measures: extracting + building a tree's module_64.c into an empty cache (cold) and the cached
lookup (warm); one scenario in a fresh child (one-shot ``run``); per-scenario cost inside a
session child (``with engine:``); the same scenarios through the matching Python profile.
Usage: python bench/bench_kernel_engine.py [TARBALL] [N]
(default /usr/src/linux-source-6.12.tar.xz, N = 50 livepatch cycle scenarios).
"""

from __future__ import annotations

import json
import os
import struct
import sys
import tempfile
import time
from pathlib import Path

from ppcreloc.elf.builder import ObjectBuilder
from ppcreloc.elf.model import SHN_LIVEPATCH, STB_GLOBAL
from ppcreloc.engine import Layout, Scenario, Step
from ppcreloc.engines import ModelEngine
from ppcreloc.loader.world import SymbolWorld
from reference.kernel.build import build
from reference.kernel.engine import KernelEngine, user_layout


def scenario(n_calls: int) -> Scenario:
    ob = ObjectBuilder()
    text = ob.add_section(".text", struct.pack("<II", 0x48000001, 0x60000000) * n_calls)
    ob.add_stubs()
    for i in range(n_calls):
        sym = ob.add_symbol(f".klp.sym.target.f{i},0", bind=STB_GLOBAL, shndx=SHN_LIVEPATCH)
        ob.add_rela(text, 8 * i, sym, 10, section=".klp.rela.target.text")
    steps = [Step("load")] + [s for g in range(3) for s in
                              (Step("coming", "target", g), Step("going", "target", g))]
    return Scenario(ob.build(), SymbolWorld.synthetic(), steps, user_layout(Layout()))


def main() -> None:
    tarball = Path(sys.argv[1] if len(sys.argv) > 1 else "/usr/src/linux-source-6.12.tar.xz")
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 50
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
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
