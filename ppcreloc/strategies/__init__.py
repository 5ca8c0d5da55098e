"""Hypothesis strategies for ppcreloc: symbol worlds, compiler-like and adversarial objects.

Public entry points: :func:`livepatch_objects` (a :class:`Case`: object, world, layout),
:func:`symbol_worlds` (a :class:`WorldSpec`) and :func:`mutations` (adversarial changes).
"""

from ppcreloc.strategies.adversarial import MUTATIONS, mutations
from ppcreloc.strategies.objects import HANDLED_TYPES, Case, livepatch_objects
from ppcreloc.strategies.worlds import (
    ObjectSpec,
    WorldSpec,
    WorldSymbol,
    symbol_worlds,
    to_symbol_world,
)

__all__ = [
    "HANDLED_TYPES",
    "MUTATIONS",
    "Case",
    "ObjectSpec",
    "WorldSpec",
    "WorldSymbol",
    "livepatch_objects",
    "mutations",
    "symbol_worlds",
    "to_symbol_world",
]
