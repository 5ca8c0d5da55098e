"""Hostile-input benchmark: ``ppcreloc check`` on decompression bombs; prints JSON.

The issue's bomb: 3,000,000,000 zero bytes through ``xz -1`` (about 0.5 MB; built once with the
xz tool when installed, else as repeated xz streams). Target: exit 2 in under 1 s and under
200 MB peak RSS. Also measured: the same bomb as .gz and .zst, and a bomb that starts with a
valid ELF header (so it is decompressed up to the size limit, default 256 MiB).

Each case runs ``python -m ppcreloc.cli check BOMB`` in a fresh wrapper process and reads the
child's peak RSS with getrusage(RUSAGE_CHILDREN), so the figure is the check's alone.

    .venv/bin/python bench/bench_inputs.py [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from test_inputs import GIB3, bomb  # noqa: E402

WRAPPER = (
    "import resource, subprocess, sys, time, json\n"
    "t = time.perf_counter()\n"
    "p = subprocess.run([sys.executable, '-m', 'ppcreloc.cli', 'check', *sys.argv[1:]],"
    " capture_output=True, text=True)\n"
    "took = time.perf_counter() - t\n"
    "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
    "print(json.dumps({'exit': p.returncode, 'seconds': round(took, 3),"
    " 'peak_rss_mb': round(rss, 1), 'stderr': p.stderr.strip()}))\n"
)


def measure(path: Path, *argv: str) -> dict[str, object]:
    proc = subprocess.run([sys.executable, "-c", WRAPPER, str(path), *argv], capture_output=True,
                          text=True, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    return {"file": path.name, "file_bytes": path.stat().st_size, **json.loads(proc.stdout)}


def xz_bomb(path: Path) -> Path:
    """The issue's recipe: ``head -c 3000000000 /dev/zero | xz -1``."""
    if shutil.which("xz") is None:
        return bomb(path)
    with path.open("wb") as out:
        head = subprocess.Popen(["head", "-c", str(GIB3), "/dev/zero"], stdout=subprocess.PIPE)
        subprocess.run(["xz", "-1", "-T1"], stdin=head.stdout, stdout=out, check=True)
        head.wait()
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, help="keep the bombs here (default: a temp dir)")
    args = ap.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-inputs-"))
    work.mkdir(parents=True, exist_ok=True)
    xz = work / "bomb.ko.xz"
    if not xz.exists():
        xz_bomb(xz)
    elf_head = b"\x7fELF\x02\x01\x01" + bytes(57)
    results = {
        "xz_zeros_3GB": measure(xz),
        "gz_zeros_3GB": measure(bomb(work / "bomb.ko.gz")),
        "zst_zeros_3GB": measure(bomb(work / "bomb.ko.zst")),
        "xz_elf_header_then_zeros_3GB_default_limit": measure(
            bomb(work / "elfbomb.ko.xz", head=elf_head)),
        "xz_elf_header_then_zeros_3GB_limit_4M": measure(work / "elfbomb.ko.xz",
                                                         "--max-object-size", "4M"),
    }
    target = results["xz_zeros_3GB"]
    results["target_met"] = bool(target["exit"] == 2 and float(target["seconds"]) < 1.0  # type: ignore[arg-type]
                                 and float(target["peak_rss_mb"]) < 200)  # type: ignore[arg-type]
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
