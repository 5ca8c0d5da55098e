"""Real kernel modules (Debian's ppc64el package) through the ELF reader and writer.

Needs the cache made by ``scripts/fetch-ppc64el-modules.sh``; skips, saying so, without it. The
sample is nfsd.ko (about 19,000 relocations) plus 10 modules chosen by the SHA-256 of their path;
the ``slow`` test reads every module of the package.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest
from elf_crosscheck import (
    READELF,
    lief_disagreements,
    model_view_for_pyelftools,
    pyelftools_view,
    readelf_complaints,
)
from realmods import module_bytes, module_files, module_stem

from ppcreloc.elf.reader import read_elf
from ppcreloc.elf.writer import write_elf

pytestmark = pytest.mark.realmodules

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("PPCRELOC_PPC64EL_CACHE", ROOT / "cache" / "ppc64el"))
MODDIRS = sorted((CACHE / "root" / "lib" / "modules").glob("*/"))
MODULES = module_files(MODDIRS[0]) if MODDIRS else []
NFSD = next((m for m in MODULES if module_stem(m) == "nfsd"), None)
SAMPLE = ([NFSD] if NFSD else []) + sorted(
    (m for m in MODULES if m != NFSD),
    key=lambda m: hashlib.sha256(str(m.relative_to(MODDIRS[0])).encode()).hexdigest(),
)[:10]
WHY = f"no ppc64el modules cached in {CACHE}: run scripts/fetch-ppc64el-modules.sh"
needs_modules = pytest.mark.skipif(not MODULES, reason=WHY)


@needs_modules
@pytest.mark.parametrize("path", SAMPLE, ids=lambda p: p.name)
def test_real_module_reads_and_round_trips(path):
    data = module_bytes(path)
    obj = read_elf(data)
    assert obj.machine == 21 and obj.type == 1 and obj.relocs
    assert lief_disagreements(obj, data) == []
    again = write_elf(obj)
    assert read_elf(again) == obj
    if READELF is not None:
        assert readelf_complaints(again) == ""


@needs_modules
def test_nfsd_every_field_matches_pyelftools_and_reads_fast():
    assert NFSD is not None, "nfsd.ko missing from the cached package"
    data = module_bytes(NFSD)
    start = time.perf_counter()
    obj = read_elf(data)
    elapsed = time.perf_counter() - start
    assert sum(len(v) for v in obj.relocs.values()) > 15_000
    assert pyelftools_view(data) == model_view_for_pyelftools(obj, data)
    assert elapsed < 5  # hang guard only; bench/bench_elf.py measures speed


@needs_modules
@pytest.mark.slow
def test_every_module_of_the_package_round_trips():
    for path in MODULES:
        obj = read_elf(module_bytes(path))
        assert read_elf(write_elf(obj)) == obj, path
