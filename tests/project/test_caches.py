"""Fetched kernel material lives outside the repository: the fetch script and the Python side
(ppcreloc.caches) agree on the default cache, which is the user's cache, and a cached Debian
image keeps no packaging (usr/share: the copyright file and the rest)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from realmodules import FETCH, SERIES_PARAMS, package

from ppcreloc.caches import cache_base, ppc64el_cache
from ppcreloc.reference.kernel.build import cache_root

ROOT = Path(__file__).resolve().parents[2]
VARS = ("PPCRELOC_CACHE", "PPCRELOC_PPC64EL_CACHE")


def _script_cache(env: dict[str, str], home: Path) -> Path:
    """The cache the fetch script uses with ``env`` (read from its --cached message)."""
    base = {k: v for k, v in os.environ.items() if k not in VARS}
    proc = subprocess.run(["bash", str(FETCH), "--cached"], env={**base, "HOME": str(home), **env},
                          capture_output=True, text=True, check=False, timeout=60)
    assert proc.returncode == 3, proc.stderr  # nothing cached there
    prefix = "fetch-ppc64el-modules: no complete cache in "
    line = next(x for x in proc.stderr.splitlines() if x.startswith(prefix))
    return Path(line[len(prefix):].split(" (run without --cached)")[0])


@pytest.mark.parametrize("env", [{}, {"PPCRELOC_CACHE": "base"},
                                 {"PPCRELOC_CACHE": "base", "PPCRELOC_PPC64EL_CACHE": "imgs"}],
                         ids=["default", "PPCRELOC_CACHE", "PPCRELOC_PPC64EL_CACHE"])
def test_the_script_and_ppcreloc_caches_agree(env: dict[str, str], tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {k: str(tmp_path / v) for k, v in env.items()}
    monkeypatch.setenv("HOME", str(home))
    for k in VARS:
        monkeypatch.delenv(k, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert _script_cache(env, home) == ppc64el_cache()


def test_the_default_caches_are_outside_the_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    for k in VARS:
        monkeypatch.delenv(k, raising=False)
    assert cache_base() == Path.home() / ".cache" / "ppcreloc"
    for cache in (ppc64el_cache(), cache_root()):
        assert not cache.resolve().is_relative_to(ROOT.resolve()), cache


@pytest.mark.realmodules
@pytest.mark.parametrize("series", SERIES_PARAMS)
def test_a_cached_image_keeps_no_packaging(series: str) -> None:
    root = package(series).root
    assert (root / "lib" / "modules").is_dir() and list(root.glob("boot/vmlinux-*"))
    assert not (root / "usr" / "share").exists(), f"{root}/usr/share kept"
