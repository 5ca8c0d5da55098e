"""Build hook: compile the engine with mypyc (ppcreloc/_native.py lists the modules).

Everything else about the package is in pyproject.toml. ``PPCRELOC_PURE=1 pip install ...``
skips the compilation. Where mypyc or a C compiler is missing, or a module fails to build, the
install still succeeds with the Python sources, and says so.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent


def _native_module():  # noqa: ANN202
    spec = importlib.util.spec_from_file_location("_ppcreloc_native", HERE / "ppcreloc" / "_native.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


NATIVE = _native_module()


def _say(message: str) -> None:
    print(f"ppcreloc build: {message}", file=sys.stderr)


def _remove_builds(package: Path) -> None:
    """Delete compiled modules of an earlier build from ``package`` (build artifacts only)."""
    for stale in NATIVE.extension_files(package).values():
        stale.unlink()


#: setup.py commands that build; pip also runs setup.py for metadata only (egg_info, ...),
#: where translating the engine would only cost time
BUILD_COMMANDS = {"build", "build_ext", "bdist_wheel", "editable_wheel", "develop", "install"}


def native_extensions() -> list:
    """The mypyc extension modules, or [] (pure Python) when they cannot be made; then an
    earlier in-place build is removed, so the tree holds the sources alone."""
    if not BUILD_COMMANDS.intersection(sys.argv[1:]):
        return []
    extensions = _mypyc_extensions()
    if not extensions:
        _remove_builds(HERE / "ppcreloc")
    return extensions


def _mypyc_extensions() -> list:
    if os.environ.get(NATIVE.PURE_ENV, "") not in ("", "0"):
        _say(f"{NATIVE.PURE_ENV} is set: installing the Python sources only")
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        _say("mypyc is not available: installing the Python sources only")
        return []
    paths = [str(NATIVE.source_path(m, Path("ppcreloc"))) for m in NATIVE.NATIVE_MODULES]
    try:
        return mypycify(paths, opt_level="3", group_name=NATIVE.GROUP)
    except (Exception, SystemExit) as exc:  # mypy errors end in SystemExit
        _say(f"mypyc could not translate the engine ({exc!r}): installing the Python sources only")
        return []


class OptionalBuildExt(build_ext):
    """build_ext that falls back to the Python sources, and records what it compiled."""

    def run(self) -> None:
        # a failed build must not leave an older one half in place, nor a module dropped from
        # the list compiled
        _remove_builds(self._package_dir())
        try:
            super().run()
        except Exception as exc:  # no compiler, no Python headers, ...
            _say(f"compiling the engine failed ({exc!r}): installing the Python sources only")
            _remove_builds(self._package_dir())
            return
        if self.extensions:
            NATIVE.write_manifest(self._package_dir(), HERE / "ppcreloc")

    def _package_dir(self) -> Path:
        return HERE / "ppcreloc" if self.inplace else Path(self.build_lib) / "ppcreloc"


setup(ext_modules=native_extensions(), cmdclass={"build_ext": OptionalBuildExt})
