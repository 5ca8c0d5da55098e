"""The mypyc-compiled engine (ppcreloc._native): same behaviour as its sources, and never stale.

CI installs with the compiler, so there every test here runs; on a developer machine where
``pip install -e .`` could not compile (or PPCRELOC_PURE is set) the tests that need the
compiled modules skip and say why.
"""

from __future__ import annotations

import importlib.machinery
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import ppcreloc
from ppcreloc import _native

ROOT = Path(__file__).resolve().parents[2]


def _need_build() -> None:
    if ppcreloc.BUILD == "mypyc":
        return
    if os.environ.get("CI") == "true" and os.environ.get(_native.PURE_ENV, "") in ("", "0"):
        pytest.fail(f"CI installs the compiled engine, but the sources run: {_native.REASON}")
    pytest.skip(f"the compiled engine is not in use here: {_native.REASON}")


def _python(code: str, env: dict[str, str] | None = None, cwd: Path = ROOT,
            ) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=full, capture_output=True,
                          text=True, timeout=600)


def test_compiled_and_source_engines_give_the_same_event_digests() -> None:
    """Every event of 150 cases x 3 configurations x 2 modes x 6 profiles, both builds."""
    _need_build()
    cmd = [sys.executable, "bench/event_digest.py", "--examples", "150"]
    runs = {}
    for build, env in (("mypyc", {}), ("python", {_native.PURE_ENV: "1"})):
        out = subprocess.run(cmd, cwd=ROOT, env={**os.environ, **env}, capture_output=True,
                             text=True, timeout=600, check=True)
        runs[build] = json.loads(out.stdout)["digests"]
    assert len(runs["mypyc"]) == 36
    assert runs["mypyc"] == runs["python"]


def test_pure_env_runs_the_sources() -> None:
    run = _python("import ppcreloc, ppcreloc.oracle as o; print(ppcreloc.BUILD, o.__file__)",
                  {_native.PURE_ENV: "1"})
    assert run.returncode == 0, run.stderr
    build, path = run.stdout.split()
    assert build == "python" and path.endswith("oracle.py")
    assert run.stderr == ""  # asked for: nothing to warn about


def test_compiled_modules_are_the_ones_imported() -> None:
    _need_build()
    run = _python("import ppcreloc, ppcreloc.oracle as o, ppcreloc.loader.memory as m; "
                  "print(ppcreloc.BUILD, o.__file__, m.__file__)", {_native.PURE_ENV: ""})
    build, *paths = run.stdout.split()
    assert build == "mypyc"
    assert all(p.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)) for p in paths)


def test_an_edited_source_is_run_instead_of_its_stale_build(tmp_path: Path) -> None:
    """A copy of the built package with one source changed: the sources run, with a warning."""
    _need_build()
    shutil.copytree(ROOT / "ppcreloc", tmp_path / "ppcreloc",
                    ignore=shutil.ignore_patterns("__pycache__"))
    edited = tmp_path / "ppcreloc" / "loader" / "memory.py"
    edited.write_text(edited.read_text() + "\n# edited after the build\n")
    run = _python("import json, ppcreloc, ppcreloc.loader.memory as s, ppcreloc.oracle as o; "
                  "print(json.dumps([ppcreloc.BUILD, ppcreloc._native.REASON, s.__file__, "
                  "o.__file__]))",
                  {_native.PURE_ENV: "", "PYTHONPATH": str(tmp_path)}, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    build, reason, *paths = json.loads(run.stdout)
    assert build == "python"
    assert reason == "sources changed since the build: ppcreloc.loader.memory"
    # all of them, not only the edited one: compiled modules call each other directly
    assert paths == [str(edited), str(tmp_path / "ppcreloc" / "oracle.py")]
    assert run.stderr == ""  # not a terminal: piped output stays clean


def _fake_build(package: Path, modules: tuple[str, ...]) -> None:
    """Sources for every compiled module, and an (empty) extension file for ``modules``."""
    for m in _native.NATIVE_MODULES:
        src = _native.source_path(m, package)
        src.parent.mkdir(parents=True, exist_ok=True)
        src.write_text(f"# {m}\n")
        if m in modules:
            src.with_suffix(importlib.machinery.EXTENSION_SUFFIXES[0]).write_bytes(b"")


def test_why_pure_names_each_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(_native.PURE_ENV, raising=False)
    pkg = tmp_path / "ppcreloc"

    def why(package: Path) -> str:
        return _native._why_pure(package, _native.extension_files(package))

    _fake_build(pkg, ())
    assert why(pkg).startswith("not compiled")
    _fake_build(pkg, _native.NATIVE_MODULES[:3])
    assert why(pkg) == f"only 3 of {len(_native.NATIVE_MODULES)} modules are compiled"
    _fake_build(pkg, _native.NATIVE_MODULES)
    assert _native.MANIFEST in why(pkg)
    _native.write_manifest(pkg, pkg)
    assert why(pkg) == ""
    _native.source_path("ppcreloc.oracle", pkg).write_text("# changed\n")
    assert why(pkg) == "sources changed since the build: ppcreloc.oracle"
    monkeypatch.setenv(_native.PURE_ENV, "1")
    assert why(pkg) == f"{_native.PURE_ENV} is set"


def test_every_compiled_module_exists_and_no_profile_class_is_compiled() -> None:
    """The list names real modules, and none of them defines a class a shipped profile derives
    from (the profiles, the arch mixins, their seams), nor the registry that loads a user's
    profile: a user's ``mine.py:Mine`` subclasses any of them with no build, and an edit of them
    always runs. Arch modules of plain functions (arch/access.py, arch/sort.py) may be compiled."""
    from ppcreloc.registry import profile_class, profile_names

    for m in _native.NATIVE_MODULES:
        assert _native.source_path(m).is_file(), m
    bases = {cls.__module__ for name in profile_names() for cls in profile_class(name).__mro__}
    assert "ppcreloc.arch.stubs" in bases and "ppcreloc.profiles.base" in bases
    assert not bases & set(_native.NATIVE_MODULES)
    assert not [m for m in _native.NATIVE_MODULES
                if m.startswith(("ppcreloc.profiles", "ppcreloc.registry", "ppcreloc.engines"))]


def test_the_arch_code_runs_from_its_sources_beside_the_compiled_leaves() -> None:
    _need_build()
    run = _python("import ppcreloc, ppcreloc.arch.stubs as s, ppcreloc.profiles.v6_12 as p, "
                  "ppcreloc.loader.memory as m; print(ppcreloc.BUILD, s.__file__, p.__file__, "
                  "m.__file__)", {_native.PURE_ENV: ""})
    build, stubs, profile, memory = run.stdout.split()
    assert build == "mypyc" and stubs.endswith("stubs.py") and profile.endswith("v6_12.py")
    assert memory.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))


def test_version_names_the_engine_build() -> None:
    run = subprocess.run([str(Path(sys.executable).with_name("ppcreloc")), "--version"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0
    assert run.stdout.strip() == f"ppcreloc {ppcreloc.__version__} (engine: {ppcreloc.BUILD})"


def test_a_compiled_file_left_by_an_older_build_is_not_imported(tmp_path: Path) -> None:
    """A module dropped from NATIVE_MODULES may leave its extension behind: its source runs."""
    shutil.copytree(ROOT / "ppcreloc", tmp_path / "ppcreloc",
                    ignore=shutil.ignore_patterns("__pycache__"))
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    (tmp_path / "ppcreloc" / f"errors{suffix}").write_bytes(b"not an extension module")
    run = _python("import json, ppcreloc.errors as e; print(json.dumps(e.__file__))",
                  {"PYTHONPATH": str(tmp_path)}, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == str(tmp_path / "ppcreloc" / "errors.py")


def test_frozen_engine_records_pickle_by_their_fields() -> None:
    """The kernel harness pickles scenarios and results to its child; compiled frozen
    dataclasses cannot be restored attribute by attribute, so they pickle by their fields."""
    import pickle

    from ppcreloc.records import Config, Layout, Placement, Step

    for record in (Config(abi="elfv1", pcrel=True, paca_kernel_toc_offset=8),
                   Layout(0x1000, {".text": 0x2000}, b"\1\2"), Step("coming", "ext4", 3),
                   Placement(2, ".text", 0x2000, 16)):
        back = pickle.loads(pickle.dumps(record))
        assert back == record and type(back) is type(record)
