"""Engine profiles: module_64.c per kernel version (or proposal), as ArchBackend classes.

``PROFILES`` maps each profile name to its class; ``get_profile(name)`` returns a fresh instance.
``EXTRA_PROFILES`` holds profiles that ``get_profile`` knows but "all" does not run (none
today; v6.13 and v6.18, modelled from patch text, are in "all"). "all" and "kernel:PATH" are resolved by the engine factory, not here.
"""

from __future__ import annotations

from ppcreloc.errors import UsageError
from ppcreloc.profiles.base import Base
from ppcreloc.profiles.full_undo import FullUndo
from ppcreloc.profiles.klp_clear_v7 import KlpClearV7
from ppcreloc.profiles.v6_1 import V6_1
from ppcreloc.profiles.v6_12 import V6_12
from ppcreloc.profiles.v6_13 import V6_13
from ppcreloc.profiles.v6_18 import V6_18

PROFILES: dict[str, type[Base]] = {
    "v6.1": V6_1,
    "klp-clear-v7": KlpClearV7,
    "v6.12": V6_12,
    "full-undo": FullUndo,
    "v6.13": V6_13,
    "v6.18": V6_18,
}

EXTRA_PROFILES: dict[str, type[Base]] = {}


def get_profile(name: str) -> Base:
    """A new instance of the profile called ``name`` (UsageError when unknown)."""
    cls = PROFILES.get(name) or EXTRA_PROFILES.get(name)
    if cls is None:
        known = ", ".join([*PROFILES, *EXTRA_PROFILES])
        raise UsageError(f"unknown engine '{name}' (known: {known})")
    return cls()


__all__ = ["EXTRA_PROFILES", "PROFILES", "Base", "get_profile"]
