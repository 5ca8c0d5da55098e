"""Real kernel modules (Debian's ppc64el images, one per series) through the ELF reader and writer.

Needs the cache made by ``scripts/fetch-ppc64el-modules.sh`` (tests/helpers/realmodules.py); skips, saying
so, without it (fails under CI=true). The sample of each series is nfsd (about 19,000 relocations)
plus 10 modules chosen by the SHA-256 of their path; the ``slow`` test reads every module.
Compressed modules (6.12 ships ``.ko.xz``) are decompressed first (realmodules.module_bytes).
"""

from __future__ import annotations

import hashlib
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
from realmodules import PACKAGES, SERIES, module_bytes, module_stem, package

from ppcreloc.cli import load_object
from ppcreloc.elf.reader import read_elf
from ppcreloc.elf.writer import write_elf

pytestmark = pytest.mark.realmodules


def _sample(series: str) -> list[Path]:
    pkg = PACKAGES[series]
    nfsd = pkg.find("nfsd")
    rest = sorted((m for m in pkg.modules if m != nfsd),
                  key=lambda m: hashlib.sha256(pkg.relative(m).encode()).hexdigest())
    return [nfsd, *rest[:10]]


#: (series, module path) over every cached series; a series that is not cached is one
#: (series, None) parameter that skips (fails under CI)
SAMPLE = [
    pytest.param(s, m, id=f"{s}-{module_stem(m)}") for s in SERIES if s in PACKAGES
    for m in _sample(s)
] + [pytest.param(s, None, id=f"{s}-not-cached") for s in SERIES if s not in PACKAGES]


@pytest.mark.parametrize(("series", "path"), SAMPLE)
def test_real_module_reads_and_round_trips(series, path):
    package(series)
    data = module_bytes(path)
    obj = read_elf(data)
    assert obj.machine == 21 and obj.type == 1 and obj.relocs
    assert lief_disagreements(obj, data) == []
    again = write_elf(obj)
    assert read_elf(again) == obj
    if READELF is not None:
        assert readelf_complaints(again) == ""


@pytest.mark.parametrize("series", SERIES)
def test_nfsd_every_field_matches_pyelftools_and_reads_fast(series):
    data = module_bytes(package(series).find("nfsd"))
    start = time.perf_counter()
    obj = read_elf(data)
    elapsed = time.perf_counter() - start
    assert sum(len(v) for v in obj.relocs.values()) > 15_000
    assert pyelftools_view(data) == model_view_for_pyelftools(obj, data)
    assert elapsed < 5  # hang guard only; bench/bench_elf.py measures speed


@pytest.mark.slow
@pytest.mark.parametrize("series", SERIES)
def test_every_module_of_the_package_round_trips(series):
    for path in package(series).modules:
        obj = load_object(str(path))
        assert read_elf(write_elf(obj)) == obj, path
