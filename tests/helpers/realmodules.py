"""The real-module tier's cache: Debian's ppc64el kernel images, one per kernel series.

``scripts/fetch-ppc64el-modules.sh`` fetches the newest image of every series apt offers (6.1 and
6.12 on bookworm); each series is tested against its own profile (``v<series>``) and kernel tree
(``/usr/src/linux-source-<series>.tar.xz``). Modules are found by name whatever their suffix
(Debian ships ``.ko`` for 6.1 and ``.ko.xz`` for 6.12). Without a cache the tier skips, saying
why, except under ``CI=true``, where CI has run the fetch script and a missing series is a failure.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import NoReturn

import pytest

from ppcreloc.caches import ppc64el_cache
from ppcreloc.profiles import PROFILES

ROOT = Path(__file__).resolve().parents[2]
FETCH = ROOT / "scripts" / "fetch-ppc64el-modules.sh"
#: ``$PPCRELOC_PPC64EL_CACHE`` or the user cache, never the repository (ppcreloc.caches)
CACHE = ppc64el_cache()
#: every compression Debian and kbuild use for modules (cli.load_object decompresses them)
SUFFIXES = (".ko", ".ko.xz", ".ko.gz", ".ko.zst")
#: the kernel series the project models from a Debian package: one per ``v<major>.<minor>``
#: profile that "all" runs, except those modelled from patch text only (v6.13, v6.18)
SERIES = sorted((n[1:] for n, cls in PROFILES.items() if re.fullmatch(r"v\d+\.\d+", n)
                 and not cls.patch_text_only),
                key=lambda s: tuple(int(x) for x in s.split(".")))
WHY = (
    f"Debian ppc64el kernel packages not cached in {CACHE}: run "
    "scripts/fetch-ppc64el-modules.sh (needs apt-get and network access to deb.debian.org)"
)


def module_stem(path: Path | str) -> str:
    """``nfsd`` for ``.../nfsd.ko``, ``nfsd.ko.xz`` and the other :data:`SUFFIXES`."""
    name = Path(path).name
    for suffix in sorted(SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def module_bytes(path: Path) -> bytes:
    """The ELF image of a module file, decompressed by its magic (ppcreloc.inputs, bounded)."""
    from ppcreloc.inputs import read_object_bytes

    return read_object_bytes(path)


@dataclass(frozen=True)
class Package:
    """One cached kernel image: its series, module directory and System.map."""

    series: str
    moddir: Path
    system_map: Path

    @property
    def profile(self) -> str:
        """The model profile of this kernel series (``v6.12``)."""
        return f"v{self.series}"

    @property
    def tree(self) -> Path:
        """Debian's ``linux-source-<series>`` tarball: this image's own kernel source."""
        return Path(f"/usr/src/linux-source-{self.series}.tar.xz")

    @property
    def root(self) -> Path:
        """The unpacked package (``boot/``, ``lib/modules/``)."""
        return self.moddir.parents[2]

    @property
    def vmlinux(self) -> Path | None:
        return next(iter(sorted(self.root.glob("boot/vmlinux-*"))), None)

    @cached_property
    def modules(self) -> list[Path]:
        """Every module of the package, sorted by path, whatever its compression."""
        return sorted(p for s in SUFFIXES for p in self.moddir.rglob(f"*{s}"))

    def find(self, name: str) -> Path:
        """The module called ``name`` (``nfsd``, ``af_key``) with any suffix; fails if absent."""
        hits = [p for p in self.modules if module_stem(p) == name]
        assert len(hits) == 1, f"{self.moddir}: {len(hits)} modules named {name!r}: {hits}"
        return hits[0]

    def relative(self, path: Path) -> str:
        return str(path.relative_to(self.moddir))


def cached_packages(cache: Path = CACHE) -> list[Package]:
    """The complete series in ``cache`` (``fetch-ppc64el-modules.sh --cached``), oldest first."""
    if not FETCH.exists():
        return []
    proc = subprocess.run(["bash", str(FETCH), "--cached", str(cache)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return []
    rows = [line.split("\t") for line in proc.stdout.splitlines() if line.strip()]
    return [Package(s, Path(m), Path(sm)) for s, m, sm in rows]


PACKAGES = {p.series: p for p in cached_packages() if p.series in SERIES}


def in_ci() -> bool:
    return os.environ.get("CI", "") == "true"


def missing(why: str) -> NoReturn:
    """Skip with ``why``; under ``CI=true`` (CI fetched the images first) fail instead."""
    if in_ci():
        pytest.fail(f"CI=true but {why}", pytrace=False)
    pytest.skip(why)


def package(series: str) -> Package:
    """The cached image of ``series``, or skip (fail under CI) saying why."""
    pkg = PACKAGES.get(series)
    if pkg is None:
        missing(f"no {series} image: {WHY}")
    return pkg


#: one pytest parameter per modelled series, with the series as the test id
SERIES_PARAMS = [pytest.param(s, id=s) for s in SERIES]
