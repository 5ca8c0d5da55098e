"""Where engine names come from: the shipped profiles, installed plugins and a user's own file.

An ``--engine`` value is one of

* a profile name: a shipped one (:data:`ppcreloc.profiles.PROFILES` and ``EXTRA_PROFILES``), or
  one a package adds through the entry-point group :data:`PROFILE_GROUP` (``name = "pkg.mod:Class"``,
  the class a subclass of :class:`~ppcreloc.profiles.base.Base`);
* ``PATH.py:Class``: a class in a Python file, loaded as it is (no install), a subclass of any
  shipped profile;
* ``PREFIX:ARG``: an engine plugin of the entry-point group :data:`ENGINE_GROUP`, whose entry
  point is called with ARG and returns an :class:`~ppcreloc.records.Engine`. The kernel harness
  registers ``kernel`` this way (``kernel:PATH``, in pyproject.toml); ppcreloc never imports it.

Anything else is a :class:`~ppcreloc.errors.UsageError` with a one-line message. This module
only finds classes and factories; :mod:`ppcreloc.engines` turns them into engines.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import re
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from ppcreloc.errors import UsageError
from ppcreloc.profiles import EXTRA_PROFILES, PROFILES, Base

#: entry points that add profiles: ``name = "module:Class"``
PROFILE_GROUP = "ppcreloc.profiles"
#: entry points that add engines behind a prefix: ``prefix = "module:factory"``
ENGINE_GROUP = "ppcreloc.engines"
#: ``path/to/file.py:ClassName``
FILE_SPEC = re.compile(r"(?P<path>.+\.py):(?P<cls>[A-Za-z_]\w*)")

#: modules loaded from user files, by resolved path (a file is executed once per process)
_FILE_MODULES: dict[Path, ModuleType] = {}


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _entry_points(group: str) -> dict[str, importlib.metadata.EntryPoint]:
    """The installed entry points of ``group`` by name (the first of a name wins)."""
    found: dict[str, importlib.metadata.EntryPoint] = {}
    for ep in importlib.metadata.entry_points(group=group):
        found.setdefault(ep.name, ep)
    return found


def _load(ep: importlib.metadata.EntryPoint, what: str) -> Any:
    """The object entry point ``ep`` names; ``what`` starts the one-line error if it fails."""
    try:
        return ep.load()
    except Exception as exc:  # a broken plugin is the user's input, not our crash
        raise UsageError(f"{what} not available: {_one_line(exc)}") from None


def _checked(cls: object, where: str) -> type[Base]:
    """``cls`` when it is a profile class that can be instantiated, else UsageError."""
    if not (isinstance(cls, type) and issubclass(cls, Base)):
        raise UsageError(f"{where} is not a profile class (a subclass of ppcreloc.profiles.Base "
                         "or of a shipped profile such as ppcreloc.profiles.v6_12.V6_12)")
    try:
        cls()
    except Exception as exc:
        raise UsageError(f"{where} cannot be instantiated: {_one_line(exc)}") from None
    return cls


def plugin_profiles() -> dict[str, type[Base]]:
    """The profiles installed packages add (:data:`PROFILE_GROUP`), shipped names excluded."""
    return {name: _checked(_load(ep, f"profile {name!r} ({ep.value})"), f"profile {name!r} ({ep.value})")
            for name, ep in _entry_points(PROFILE_GROUP).items()
            if name not in PROFILES and name not in EXTRA_PROFILES}


def profile_names() -> list[str]:
    """The names "all" runs: the shipped profiles, then those of installed packages."""
    return [*PROFILES, *(n for n in _entry_points(PROFILE_GROUP) if n not in PROFILES
                         and n not in EXTRA_PROFILES)]


def is_file_spec(spec: str) -> bool:
    """Whether ``spec`` names a class in a Python file (``PATH.py:Class``)."""
    return FILE_SPEC.fullmatch(spec) is not None


def _module_from_file(path: Path) -> ModuleType:
    """Execute the file once per process as module ``ppcreloc_user_<stem>_<hash>``."""
    resolved = path.resolve()
    module = _FILE_MODULES.get(resolved)
    if module is not None:
        return module
    tag = hashlib.sha256(str(resolved).encode()).hexdigest()[:8]
    stem = re.sub(r"\W", "_", resolved.stem)
    name = f"ppcreloc_user_{stem}_{tag}"
    spec = importlib.util.spec_from_file_location(name, resolved)
    if spec is None or spec.loader is None:
        raise UsageError(f"{path}: not a loadable Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickle look their module up there
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the user's code: any error is bad input
        del sys.modules[name]
        raise UsageError(f"{path}: cannot be loaded: {_one_line(exc)}") from None
    _FILE_MODULES[resolved] = module
    return module


def file_profile(spec: str) -> type[Base]:
    """The profile class ``PATH.py:Class`` names (UsageError when missing or not a profile)."""
    match = FILE_SPEC.fullmatch(spec)
    if match is None:
        raise UsageError(f"{spec!r} is not PATH.py:Class")
    path = Path(match["path"])
    if not path.is_file():
        raise UsageError(f"engine file {str(path)!r} not found")
    cls = getattr(_module_from_file(path), match["cls"], None)
    if cls is None:
        raise UsageError(f"{path} has no class {match['cls']!r}")
    return _checked(cls, spec)


def profile_class(spec: str) -> type[Base]:
    """The profile class of a profile name or ``PATH.py:Class`` (UsageError when unknown)."""
    if is_file_spec(spec):
        return file_profile(spec)
    cls = PROFILES.get(spec) or EXTRA_PROFILES.get(spec)
    if cls is not None:
        return cls
    ep = _entry_points(PROFILE_GROUP).get(spec)
    if ep is not None:
        return _checked(_load(ep, f"profile {spec!r} ({ep.value})"), f"profile {spec!r} ({ep.value})")
    known = ", ".join([*profile_names(), *(f"{p}:PATH" for p in _entry_points(ENGINE_GROUP)),
                       "PATH.py:Class"])
    raise UsageError(f"unknown engine {spec!r} (known: {known})")


def engine_plugin(spec: str) -> tuple[str, Callable[[str], Any]] | None:
    """(argument, factory) when ``spec`` is ``PREFIX:ARG`` of an :data:`ENGINE_GROUP` plugin."""
    prefix, sep, arg = spec.partition(":")
    if not sep:
        return None
    ep = _entry_points(ENGINE_GROUP).get(prefix)
    if ep is None:
        return None
    if not arg:
        raise UsageError(f"{prefix} engine needs a path: {prefix}:PATH")
    factory = _load(ep, f"{prefix} engine")
    if not callable(factory):
        raise UsageError(f"entry point {prefix!r} ({ep.value}) of {ENGINE_GROUP} is not callable")
    return arg, factory
