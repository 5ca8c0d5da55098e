"""Engines by name: :class:`ModelEngine` runs a scenario through a Python profile (a shipped
one, a package's, or a user's ``PATH.py:Class``); ``PREFIX:ARG`` is an engine plugin such as
``kernel:PATH``, the kernel's own module_64.c (:mod:`ppcreloc.registry` finds them all). What a
run of steps means is :mod:`ppcreloc.run`'s docstring.
"""

from __future__ import annotations

from ppcreloc.errors import UsageError
from ppcreloc.records import Engine, RunResult, Scenario
from ppcreloc.registry import engine_plugin, profile_class, profile_names
from ppcreloc.run import run_scenario

__all__ = ["KERNEL_PREFIX", "ModelEngine", "engine_names", "get_engine", "resolve_engine",
           "run_scenario"]

#: the prefix of the kernel harness's engine (registered by ppcreloc/reference/, see pyproject.toml)
KERNEL_PREFIX = "kernel:"


def engine_names() -> list[str]:
    """The engines "all" runs: every shipped profile, then those installed packages add."""
    return profile_names()


def get_engine(name: str) -> Engine:
    """The engine called ``name``: a profile name, ``PATH.py:Class`` or ``PREFIX:ARG`` (an
    engine plugin, e.g. ``kernel:PATH``); UsageError when there is none."""
    plugin = engine_plugin(name)
    if plugin is not None:
        arg, factory = plugin
        engine: Engine = factory(arg)
        return engine
    return ModelEngine(name)


class ModelEngine:
    """A Python profile behind the Engine interface: a profile name or ``PATH.py:Class``
    (:func:`ppcreloc.registry.profile_class`; UsageError when unknown)."""

    def __init__(self, profile_name: str) -> None:
        self.profile = profile_class(profile_name)
        self.name = profile_name

    def run(self, scenario: Scenario) -> RunResult:
        """Load the module, then run every coming/going step on the livepatch driver (with a
        fresh instance of the profile)."""
        return run_scenario(scenario, self.profile(), self.name)


def resolve_engine(name: str) -> Engine:
    """One engine by name (UsageError naming the choices when unknown)."""
    try:
        return get_engine(name)  # raises UsageError itself for unknown profile names
    except KeyError:
        raise UsageError(f"unknown engine {name!r} (choose from: {', '.join(engine_names())}, "
                         "kernel:PATH)") from None
