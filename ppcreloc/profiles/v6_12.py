"""The v6.12 profile: upstream 6.3 to 6.12, i.e. the base unchanged."""

from __future__ import annotations

from ppcreloc.profiles.base import Base


class V6_12(Base):
    """Upstream 6.3-6.12 / Debian linux-source-6.12, any 6.12.y (module_64.c as in the base).

    restore_r2 accepts an existing ``ld r2,24(r1)`` (37251c7114e1, v6.3), stub data is written with
    patch_u32, and there is no ppc64 clear_relocate_add (the weak empty one of core.c).
    """

    name = "v6.12"
    summary = "6.3-6.12: re-apply tolerated by restore_r2, no ppc64 clear"
