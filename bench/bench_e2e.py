"""End-to-end benchmark: generation, ELF I/O, engine and oracle; prints JSON.

Measures, pinned to one core:

* ``default_size``: the strategy knobs of a default-size case (livepatch_objects defaults with
  require_targets, the oracle's 8 reload cycles) and the mean functions, relocations, target
  modules and engine steps per case;
* ``generation``: compiler-like cases/s drawn by Hypothesis (default strategy size), nothing else;
* ``end_to_end[engine]``: cases/s for generate -> write_elf -> read_elf -> engine -> oracle (the
  oracle's default script: load, coming, going, coming, 8 reload cycles), with the time split
  into generation, ELF I/O and engine+oracle;
* ``engine_relocs_per_s``: relocations/s of the load step on a 100k-relocation object;
* ``campaign[engine]``: what a user's ``ppcreloc fuzz --examples N --seed 1`` gets on this
  machine's cores, with its default ``--jobs auto`` (``jobs`` workers) and with ``--jobs 1``:
  the report's ``examples_per_s`` (wall clock: the workers are other processes), shrinking of
  the predicted defects included; measured before the process pins itself to one core;
* ``first_counterexample[engine/invariant]``: for each predicted failure, the median over 10
  seeds of the time to the first counterexample and to the shrunk one, and its relocation count.

All times are CPU seconds of this process (time.process_time), so other jobs on a shared
machine do not inflate them; ``wall_s`` is given beside the end-to-end figures. The process runs
as ppcreloc's CLI and test suite do: ``build`` says whether the compiled engine ran (mypyc, see
ppcreloc/_native.py; PPCRELOC_PURE=1 measures the Python sources) and ``gc_threshold`` shows
ppcreloc.runtime.tune_gc applied (``--python-gc`` keeps Python's thresholds).

Targets (issue 4): >= 300 cases/s end to end (issue 14: on one core, or won back with ``--jobs``
using every core by default: ``campaign``); ELF I/O + engine + oracle <= generation time;
every known defect found within 2 s median (stub exhaustion 30 s), shrunk to one relocation.

    .venv/bin/python bench/bench_e2e.py [--examples N] [--seeds K] [--campaign-examples N]
        [--quick] [--python-gc]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402, I001

import ppcreloc  # noqa: E402
from ppcreloc import _native  # noqa: E402
from ppcreloc.jobs import usable_cores  # noqa: E402
from ppcreloc.runtime import tune_gc  # noqa: E402

from ppcreloc.elf.builder import ObjectBuilder  # noqa: E402
from ppcreloc.elf.model import SHF_ALLOC, SHF_WRITE, STB_GLOBAL, STT_FUNC  # noqa: E402
from ppcreloc.elf.reader import read_elf  # noqa: E402
from ppcreloc.elf.writer import write_elf  # noqa: E402
from ppcreloc.records import Scenario, Step  # noqa: E402
from ppcreloc.engines import engine_names, get_engine  # noqa: E402
from ppcreloc.loader.world import SymbolWorld  # noqa: E402
from ppcreloc.matrix import PREDICTED, minimal_counterexample  # noqa: E402
from ppcreloc.oracle import DEFAULT_CYCLES, INVARIANTS, check  # noqa: E402
from ppcreloc.strategies import Case, livepatch_objects, to_symbol_world  # noqa: E402
from ppcreloc.strategies import _ppc as P  # noqa: E402


#: CPU time of this process: the machine is shared, so wall time would count other jobs
CLOCK = time.process_time


def generate_only(n: int) -> settings:
    """Hypothesis settings for drawing ``n`` cases and nothing else (no database, no shrinking,
    no health checks): what every bench script measures with."""
    return settings(max_examples=n, database=None, deadline=None, print_blob=False,
                    suppress_health_check=list(HealthCheck), phases=[Phase.generate])


def generation_rate(n: int) -> dict[str, float]:
    """Cases/s for drawing compiler-like cases only."""
    count = 0

    @seed(1)
    @generate_only(n)
    @given(livepatch_objects(require_targets=True))
    def gen(case: object) -> None:
        nonlocal count
        count += 1

    t0 = CLOCK()
    gen()
    dt = CLOCK() - t0
    return {"examples": count, "seconds": round(dt, 3), "per_s": round(count / dt, 1)}


def default_size(n: int) -> dict[str, object]:
    """What a default-size case is: the strategy's knobs and the mean content of ``n`` cases."""
    funcs: list[int] = []
    relocs: list[int] = []
    targets: list[int] = []

    @seed(1)
    @generate_only(n)
    @given(livepatch_objects(require_targets=True))
    def gen(case: Case) -> None:
        funcs.append(sum(1 for s in case.obj.sections if s.name.startswith(".text.")))
        relocs.append(case.reloc_count)
        targets.append(len(case.targets))

    gen()
    mean_targets = statistics.mean(targets)
    return {
        "knobs": {"max_functions": 4, "max_snippets": 4, "max_data": 4, "world_modules": "1-3",
                  "require_targets": True, "cycles": DEFAULT_CYCLES},
        "mean_functions": round(statistics.mean(funcs), 2),
        "mean_relocations": round(statistics.mean(relocs), 2),
        "max_relocations": max(relocs),
        "mean_targets": round(mean_targets, 2),
        "mean_engine_steps": round(1 + (2 + 2 * DEFAULT_CYCLES + 1) * mean_targets, 1),
    }


def end_to_end(engine_name: str, n: int) -> dict[str, float]:
    """Cases/s through the whole pipeline, with the time split per stage."""
    engine = get_engine(engine_name)
    split = {"elf_io": 0.0, "engine_oracle": 0.0}
    count = 0

    @seed(1)
    @generate_only(n)
    @given(livepatch_objects(require_targets=True))
    def e2e(case: object) -> None:
        nonlocal count
        count += 1
        t0 = CLOCK()
        obj = read_elf(write_elf(case.obj))  # type: ignore[attr-defined]
        t1 = CLOCK()
        check(obj, engine, to_symbol_world(case.world), layout=case.layout)  # type: ignore[attr-defined]
        t2 = CLOCK()
        split["elf_io"] += t1 - t0
        split["engine_oracle"] += t2 - t1

    t0, w0 = CLOCK(), time.perf_counter()
    e2e()
    dt, wall = CLOCK() - t0, time.perf_counter() - w0
    gen = dt - split["elf_io"] - split["engine_oracle"]
    return {"examples": count, "seconds": round(dt, 3), "per_s": round(count / dt, 1),
            "generation_s": round(gen, 3), "elf_io_s": round(split["elf_io"], 3),
            "engine_oracle_s": round(split["engine_oracle"], 3), "wall_s": round(wall, 3)}


def big_object(n_relocs: int = 100_000):  # noqa: ANN201
    """A module with ``n_relocs`` relocations: local bl calls, TOC pairs and .toc ADDR64s."""
    b = ObjectBuilder()
    quarter = n_relocs // 4
    text = b.add_section(".text", bytes(8 * quarter + 8 * quarter))
    fn = b.add_symbol("f", 0, bind=STB_GLOBAL, type=STT_FUNC, shndx=text)
    toc = b.add_section(".toc", bytes(8 * quarter), flags=SHF_ALLOC | SHF_WRITE, addralign=8)
    data = b.add_section(".data", bytes(8 * quarter), flags=SHF_ALLOC | SHF_WRITE, addralign=8)
    toc_sym, data_sym = b.section_symbol(toc), b.section_symbol(data)
    words = bytearray()
    for i in range(quarter):
        b.add_rela(text, 8 * i, fn, P.R_PPC_REL24, 0)
        words += P.BL.to_bytes(4, "little") + P.NOP.to_bytes(4, "little")
    for i in range(quarter):
        at = 8 * quarter + 8 * i
        b.add_rela(text, at, toc_sym, P.R_PPC64_TOC16_HA, 8 * i)
        b.add_rela(text, at + 4, toc_sym, P.R_PPC64_TOC16_LO_DS, 8 * i)
        words += P.ADDIS_R9_R2.to_bytes(4, "little") + P.LD_R9_R9.to_bytes(4, "little")
        b.add_rela(toc, 8 * i, data_sym, P.R_PPC64_ADDR64, 8 * i)
    b.sections[text].data = bytes(words)
    b.add_stubs()
    return b.build()


def engine_relocs(engine_name: str, n_relocs: int = 100_000) -> dict[str, float]:
    """Relocations/s of the load step (frob incl. sort, placement, apply) on a big object."""
    obj = big_object(n_relocs)
    total = sum(len(v) for v in obj.relocs.values())
    engine = get_engine(engine_name)
    t0 = CLOCK()
    run = engine.run(Scenario(obj, SymbolWorld.synthetic(), [Step("load")]))
    dt = CLOCK() - t0
    assert run.steps[0].rc == 0, run.steps[0].messages
    return {"relocs": total, "seconds": round(dt, 3), "per_s": round(total / dt, 1)}


def first_counterexample(engine_name: str, invariant: str, seeds: int,
                         examples: int) -> dict[str, object]:
    """Median time to the first and to the shrunk counterexample over ``seeds`` seeds."""
    engine = get_engine(engine_name)
    firsts, totals, relocs, found = [], [], [], 0
    for s in range(seeds):
        t0 = CLOCK()
        first: list[float] = []

        def mark(_n: int, first: list[float] = first) -> None:
            first.append(CLOCK())

        minimal = minimal_counterexample(engine, invariant, examples, s, "compiler",
                                         on_first=mark)
        total = CLOCK() - t0
        if minimal is None:
            continue
        found += 1
        firsts.append(first[0] - t0)
        totals.append(total)
        relocs.append(minimal.case.reloc_count)
    return {
        "found": f"{found}/{seeds}",
        "median_first_s": round(statistics.median(firsts), 3) if firsts else None,
        "median_shrunk_s": round(statistics.median(totals), 3) if totals else None,
        "shrunk_relocs": sorted(set(relocs)),
    }


def campaign(engine_name: str, n: int, jobs: str) -> dict[str, object]:
    """``ppcreloc fuzz --engine E --examples n --seed 1 --jobs J --json`` in a scratch
    directory (its own database and fixtures): the workers it ran and its examples/s."""
    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory(prefix="ppcreloc-bench-") as scratch:
        proc = subprocess.run(
            [sys.executable, "-m", "ppcreloc.cli", "fuzz", "--engine", engine_name, "--examples",
             str(n), "--seed", "1", "--jobs", jobs, "--fixtures", "fx", "--json"],
            cwd=scratch, capture_output=True, text=True, check=False,
            env={**os.environ, "PYTHONPATH": str(root)})
    if proc.returncode not in (0, 1):
        raise SystemExit(f"bench: fuzz --engine {engine_name} failed: {proc.stderr.strip()}")
    doc = json.loads(proc.stdout)
    return {"jobs": doc["jobs"], "examples": doc["examples"], "elapsed_s": doc["elapsed_s"],
            "per_s": doc["examples_per_s"]}


def campaigns(n: int) -> dict[str, object]:
    """:func:`campaign` per profile, with ``--jobs auto`` and ``--jobs 1``."""
    out: dict[str, object] = {"usable_cores": usable_cores()}
    for e in engine_names():
        auto, one = campaign(e, n, "auto"), campaign(e, n, "1")
        out[e] = {"jobs": auto["jobs"], "per_s": auto["per_s"], "one_job_per_s": one["per_s"],
                  "elapsed_s": auto["elapsed_s"], "one_job_elapsed_s": one["elapsed_s"]}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=300)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--relocs", type=int, default=100_000)
    ap.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    ap.add_argument("--python-gc", action="store_true",
                    help="keep Python's default GC thresholds (ppcreloc.runtime.tune_gc not applied)")
    ap.add_argument("--campaign-examples", type=int, default=3000,
                    help="examples per `fuzz` campaign of the campaign section (0: skip it)")
    args = ap.parse_args()
    if args.quick:
        args.examples, args.seeds, args.relocs = 30, 2, 4000
        args.campaign_examples = min(args.campaign_examples, 1000)
    # the campaign section first: its workers need every core, the rest runs on one
    measured_campaigns = campaigns(args.campaign_examples) if args.campaign_examples else None
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    if not args.python_gc:
        tune_gc()  # as ppcreloc's CLI and test suite run
    out: dict[str, object] = {"cpu": "one core (sched_setaffinity)", "python": sys.version.split()[0],
                              "build": ppcreloc.BUILD, "build_reason": _native.REASON,
                              "gc_threshold": gc.get_threshold()}
    out["default_size"] = default_size(args.examples)
    out["generation"] = generation_rate(args.examples)
    out["end_to_end"] = {e: end_to_end(e, args.examples) for e in engine_names()}
    out["engine_relocs_per_s"] = {e: engine_relocs(e, args.relocs) for e in engine_names()}
    if measured_campaigns is not None:
        out["campaign"] = measured_campaigns
    out["first_counterexample"] = {
        f"{e}/{i}": first_counterexample(e, i, args.seeds, 200)
        for e in engine_names() for i in INVARIANTS if not PREDICTED[(e, i)]
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
