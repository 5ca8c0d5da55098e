"""Load EVERY module of Debian's ppc64el kernel package through the model; print JSON.

Usage: .venv/bin/python bench/bench_realmodules.py [--series 6.1] [--engine v6.1] [--jobs N]
       [--limit K]

Needs the cache from ``scripts/fetch-ppc64el-modules.sh``. A module is ``ok`` when ``apply`` and
``in_bounds`` hold (a real module has no klp targets, so the other invariants hold vacuously),
``failed`` when either is violated and ``error`` when the tool raised. ``named`` reports, for
each module of ``--modules`` (default: the large ones, amdgpu, xe and nfsd), the time to read it
and to run the check on it in this process (wall and CPU seconds: the CPU figure is the one to
compare on a busy machine) and the relocations per CPU second; ``nfsd`` is its nfsd entry (kept for
older readers); ``workers_cpu_seconds`` is the CPU of the whole pool. ``--limit 0 --named-only``
skips the pool.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import ppcreloc  # noqa: E402
from ppcreloc.caches import ppc64el_cache  # noqa: E402
from ppcreloc.cli import load_object, load_world, module_name, resolve_engines  # noqa: E402
from ppcreloc.oracle import check  # noqa: E402

_STATE: dict[str, Any] = {}


SUFFIXES = (".ko", ".ko.xz", ".ko.gz", ".ko.zst")


def cached_package(cache: Path, series: str | None) -> tuple[str, Path, Path]:
    """(series, module dir, System.map) of ``series`` (default: the newest cached) from the
    fetch script's cache; exits 2 when not cached."""
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "fetch-ppc64el-modules.sh"), "--cached", str(cache)],
        capture_output=True, text=True, check=False,
    )
    if proc.returncode != 0:
        print(f"bench_realmodules: {proc.stderr.strip()}", file=sys.stderr)
        sys.exit(2)
    rows = {s: (s, Path(m), Path(sm)) for s, m, sm in
            (line.split("\t") for line in proc.stdout.splitlines())}
    if series is None:
        return rows[list(rows)[-1]]
    if series not in rows:
        print(f"bench_realmodules: series {series} not cached (have: {', '.join(rows)})",
              file=sys.stderr)
        sys.exit(2)
    return rows[series]


def find_module(modules: list[str], name: str) -> str:
    """The module file called ``name`` with any suffix."""
    return next(m for m in modules for s in SUFFIXES if Path(m).name == name + s)


#: the modules timed one by one: the largest real objects (amdgpu: 269,190 relocations on 6.12)
NAMED = ("amdgpu", "xe", "nfsd")


def time_module(path: str) -> dict[str, Any]:
    """Read and check one module in this process: relocations, wall and CPU seconds."""
    t0, c0 = time.perf_counter(), time.process_time()
    obj = load_object(path)
    t_read, c_read = time.perf_counter() - t0, time.process_time() - c0
    nrel = sum(len(r) for r in obj.relocs.values())
    t0, c0 = time.perf_counter(), time.process_time()
    verdict = check(obj, _STATE["engine"], _STATE["world"], cycles=0, modname=module_name(path))
    t_check, c_check = time.perf_counter() - t0, time.process_time() - c0
    return {
        "relocations": nrel,
        "read_seconds": round(t_read, 3),
        "read_cpu_seconds": round(c_read, 3),
        "check_seconds": round(t_check, 3),
        "check_cpu_seconds": round(c_check, 3),
        "relocations_per_cpu_second": round(nrel / c_check) if c_check else None,
        "apply": verdict.invariants["apply"].holds,
        "in_bounds": verdict.invariants["in_bounds"].holds,
    }


def _init(sysmap: str, engine: str) -> None:
    _STATE["world"] = load_world(sysmap)
    _STATE["engine"] = resolve_engines(engine)[0]


def load_one(path: str) -> dict[str, Any]:
    """Check one module; returns its status, relocation count and time."""
    t0 = time.perf_counter()
    try:
        obj = load_object(path)
        nrel = sum(len(r) for r in obj.relocs.values())
        verdict = check(obj, _STATE["engine"], _STATE["world"], cycles=0,
                        modname=module_name(path))
    except Exception as exc:  # a bench counts tool errors instead of stopping at the first
        return {"module": path, "status": "error", "detail": f"{type(exc).__name__}: {exc}",
                "seconds": time.perf_counter() - t0}
    bad = [n for n in ("apply", "in_bounds") if not verdict.invariants[n].holds]
    detail = "; ".join(f"{n}: {verdict.invariants[n].message}" for n in bad) or None
    return {"module": path, "status": "failed" if bad else "ok", "detail": detail,
            "relocations": nrel, "seconds": time.perf_counter() - t0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", default=None,
                        help="the cached image's kernel series (default: the newest cached)")
    parser.add_argument("--engine", default=None, help="default: v<series>, its own profile")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--limit", type=int, default=0, help="only the first K modules (0: all)")
    parser.add_argument("--cache", default=str(ppc64el_cache()),
                        help="the fetch script's cache (default: %(default)s)")
    parser.add_argument("--modules", default=",".join(NAMED),
                        help=f"modules timed one by one (default: {','.join(NAMED)})")
    parser.add_argument("--named-only", action="store_true",
                        help="time only the --modules, not every module of the package")
    args = parser.parse_args()

    series, moddir, sysmap = cached_package(Path(args.cache), args.series)
    args.engine = args.engine or f"v{series}"
    modules = sorted(str(p) for s in SUFFIXES for p in moddir.rglob(f"*{s}"))
    nfsd_path = find_module(modules, "nfsd")
    named_paths = {name: find_module(modules, name) for name in args.modules.split(",") if name}
    if args.limit:
        modules = modules[: args.limit]

    _init(str(sysmap), args.engine)
    build = ppcreloc.BUILD
    named = {name: time_module(path) for name, path in named_paths.items()}
    if args.named_only:
        print(json.dumps({"series": series, "package": moddir.name, "engine": args.engine,
                          "build": build, "named": named}, indent=2))
        return
    nfsd = named.get("nfsd") or time_module(nfsd_path)

    t0 = time.perf_counter()
    with ProcessPoolExecutor(args.jobs, initializer=_init,
                             initargs=(str(sysmap), args.engine)) as pool:
        results = list(pool.map(load_one, modules, chunksize=8))
    wall = time.perf_counter() - t0
    workers_cpu = resource.getrusage(resource.RUSAGE_CHILDREN)

    counts = {s: sum(r["status"] == s for r in results) for s in ("ok", "failed", "error")}
    slowest = max(results, key=lambda r: r["seconds"]) if results else None
    print(json.dumps({
        "series": series,
        "package": moddir.name,
        "engine": args.engine,
        "modules": len(results),
        **counts,
        "relocations": sum(r.get("relocations", 0) for r in results),
        "wall_seconds": round(wall, 2),
        "workers_cpu_seconds": round(workers_cpu.ru_utime + workers_cpu.ru_stime, 2),
        "jobs": args.jobs,
        "build": build,
        "named": named,
        "nfsd": nfsd,
        "slowest": {"module": slowest["module"], "seconds": round(slowest["seconds"], 3)}
        if slowest else None,
        "not_ok": [
            {"module": str(Path(r["module"]).relative_to(moddir)), "status": r["status"],
             "detail": r["detail"]}
            for r in results if r["status"] != "ok"
        ][:50],
    }, indent=2))


if __name__ == "__main__":
    main()
