"""The compiled engine: which modules mypyc builds, and whether the built ones are used.

``pip install`` compiles the modules in :data:`NATIVE_MODULES` with mypyc (setup.py) and
records the SHA-256 of each source it compiled in ``_native_manifest.json``. The compiled
modules are the same source, type-checked and translated to C; ``bench/event_digest.py`` gives
the same digests for both builds, and tests/project/test_native.py checks it whenever both exist.

:func:`select` runs when ``ppcreloc`` is imported. It keeps the compiled modules only when
every one is built and its source is unchanged since the build. Otherwise, or when
``PPCRELOC_PURE`` is set, it makes Python import the ``.py`` sources of all of them (never a
mix: compiled modules call each other directly, so they are used as one group). An edited source
is therefore never shadowed by an older compiled module: ppcreloc runs the sources until the
next ``pip install -e .`` (and says so on a terminal).

This module imports nothing from ppcreloc, so setup.py can load it before anything is built.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

#: the modules mypyc compiles: the leaves no user subclasses (the engine records, ELF I/O,
#: instruction encodings and the relocation table, the loader model and livepatch driver, the
#: oracle). The arch code and every profile stay interpreted, so a user's profile can subclass
#: any shipped one without a build (``--engine mine.py:Mine``, see ppcreloc.registry); so do
#: the object model, the strategies and the engine registry.
NATIVE_MODULES: tuple[str, ...] = (
    "ppcreloc.records",
    "ppcreloc.elf.strtab",
    "ppcreloc.elf.reader",
    "ppcreloc.elf.writer",
    "ppcreloc.ppc64.insn",
    "ppcreloc.ppc64.reloctypes",
    "ppcreloc.loader.memory",
    "ppcreloc.loader.world",
    "ppcreloc.loader.module",
    "ppcreloc.loader.layout",
    "ppcreloc.loader.livepatch",
    "ppcreloc.loader.loader",
    "ppcreloc.arch.access",
    "ppcreloc.arch.sort",
    "ppcreloc.run",
    "ppcreloc.stubbudget",
    "ppcreloc.ool_check",
    "ppcreloc.abi",
    "ppcreloc.verdicts",
    "ppcreloc.script",
    "ppcreloc.oracle",
)
#: mypyc's group name: its shared library is ppcreloc/_compiled__mypyc.<abi>.so
GROUP = "ppcreloc._compiled"
#: set (to anything but "" or "0") to run the Python sources even where a build exists
PURE_ENV = "PPCRELOC_PURE"
MANIFEST = "_native_manifest.json"

PACKAGE_DIR = Path(__file__).resolve().parent

#: what :func:`select` decided: "mypyc" or "python"
BUILD = "python"
#: why the Python sources run (empty when the compiled modules do)
REASON = ""


def source_path(module: str, package_dir: Path = PACKAGE_DIR) -> Path:
    """The .py file of ``module`` (a dotted name under ppcreloc)."""
    return package_dir.joinpath(*module.split(".")[1:]).with_suffix(".py")


def source_digests(package_dir: Path = PACKAGE_DIR) -> dict[str, str]:
    """SHA-256 of each compiled module's source, as the manifest records them."""
    return {m: hashlib.sha256(source_path(m, package_dir).read_bytes()).hexdigest()
            for m in NATIVE_MODULES}


def write_manifest(package_dir: Path, source_dir: Path = PACKAGE_DIR) -> None:
    """Record, next to the built modules in ``package_dir``, the sources they were built from."""
    (package_dir / MANIFEST).write_text(json.dumps(source_digests(source_dir), indent=1) + "\n")


def extension_files(package_dir: Path = PACKAGE_DIR) -> dict[str, Path]:
    """Every compiled module file in ``package_dir`` that has a .py source beside it, by module
    name (mypyc's shared library, which has none, is not listed)."""
    found: dict[str, Path] = {}
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        for ext in package_dir.rglob(f"*{suffix}"):
            stem = ext.name[: -len(suffix)]
            if ext.with_name(stem + ".py").exists():
                parts = ext.relative_to(package_dir).parent.parts
                found.setdefault(".".join(("ppcreloc", *parts, stem)), ext)
    return found


def _why_pure(package_dir: Path, files: dict[str, Path]) -> str:
    """Why the compiled modules cannot be used ("" when they can); ``files`` are the
    package's :func:`extension_files`."""
    if os.environ.get(PURE_ENV, "") not in ("", "0"):
        return f"{PURE_ENV} is set"
    built = [m for m in NATIVE_MODULES if m in files]
    if not built:
        return "not compiled (PPCRELOC_PURE install, or mypyc unavailable at install)"
    if len(built) < len(NATIVE_MODULES):
        return f"only {len(built)} of {len(NATIVE_MODULES)} modules are compiled"
    try:
        recorded = json.loads((package_dir / MANIFEST).read_text())
    except (OSError, ValueError):
        return f"no readable {MANIFEST} beside the compiled modules"
    changed = [m for m, digest in source_digests(package_dir).items()
               if recorded.get(m) != digest]
    if changed:
        return "sources changed since the build: " + ", ".join(changed)
    return ""


class _SourceFinder(importlib.abc.MetaPathFinder):
    """Imports the .py source of ``modules`` (ahead of a compiled file beside it)."""

    def __init__(self, package_dir: Path, modules: Sequence[str]) -> None:
        self.package_dir = package_dir
        self.modules = frozenset(modules)

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.modules:
            return None
        return importlib.util.spec_from_file_location(fullname,
                                                      source_path(fullname, self.package_dir))


def select(package_dir: Path = PACKAGE_DIR) -> str:
    """Decide once per process between the compiled modules and their sources; returns
    :data:`BUILD`. When a build exists but its sources have changed, says so on stderr if that
    is a terminal (piped output stays as the commands define it; :data:`REASON` and the bench
    JSON's ``build`` tell it there)."""
    global BUILD, REASON
    if any(isinstance(f, _SourceFinder) for f in sys.meta_path):
        return BUILD
    files = extension_files(package_dir)
    REASON = _why_pure(package_dir, files)
    # modules dropped from the list may have left their extension behind: Python would load it
    stray = [m for m in files if m not in NATIVE_MODULES]
    if not REASON:
        BUILD = "mypyc"
        if stray:
            sys.meta_path.insert(0, _SourceFinder(package_dir, stray))
        return BUILD
    BUILD = "python"
    if files:
        sys.meta_path.insert(0, _SourceFinder(package_dir, [*NATIVE_MODULES, *stray]))
        if not REASON.startswith(PURE_ENV) and sys.stderr is not None and sys.stderr.isatty():
            print(f"ppcreloc: running the Python sources, not the compiled engine: {REASON}. "
                  "`pip install -e .` compiles them again.", file=sys.stderr)
    return BUILD
