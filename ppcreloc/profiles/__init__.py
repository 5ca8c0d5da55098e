"""Engine profiles: module_64.c per kernel version (or proposal), as ArchBackend classes.

``PROFILES`` maps each profile name to its class; ``get_profile(name)`` returns a fresh instance.
"all" and "kernel:PATH" are resolved by the engine factory, not here.
"""

from __future__ import annotations

from ppcreloc.errors import UsageError
from ppcreloc.profiles.base import Base
from ppcreloc.profiles.full_undo import FullUndo
from ppcreloc.profiles.klp_clear_v7 import KlpClearV7
from ppcreloc.profiles.v6_1 import V6_1
from ppcreloc.profiles.v6_12 import V6_12

PROFILES: dict[str, type[Base]] = {
    "v6.1": V6_1,
    "klp-clear-v7": KlpClearV7,
    "v6.12": V6_12,
    "full-undo": FullUndo,
}


def get_profile(name: str) -> Base:
    """A new instance of the profile called ``name`` (UsageError when unknown)."""
    cls = PROFILES.get(name)
    if cls is None:
        raise UsageError(f"unknown engine '{name}' (known: {', '.join(PROFILES)})")
    return cls()


__all__ = ["PROFILES", "Base", "get_profile"]
