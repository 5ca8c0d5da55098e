"""What a campaign draws: compiler-like objects, boundary objects and seed sub-objects.

``fuzz`` and ``diff`` take their cases from :func:`campaign_objects`: the compiler-like
:func:`~ppcreloc.strategies.objects.livepatch_objects`, plus (``boundaries``) the
:func:`~ppcreloc.strategies.boundary.boundary_objects` and (``seed_objects``, a directory of livepatch
objects made by ``ppcreloc livepatchify``) the :func:`~ppcreloc.strategies.seeds.seed_objects`, each
family equally likely. With ``placeholders="adversarial"`` every family is then mutated by
:func:`~ppcreloc.strategies.adversarial.mutations`.

``boundaries``: ``"off"``; ``"inside"`` (the default of ``fuzz``: only values the kernel
accepts, so an invariant failure is never just an out-of-range value); ``"all"`` (the default
of ``diff``: also one step over every limit, where both engines must reject alike).
"""

from __future__ import annotations

from typing import Any, Literal

from hypothesis import strategies as st

from ppcreloc.strategies.objects import Case, livepatch_objects

Boundaries = Literal["off", "inside", "all"]
BOUNDARIES: tuple[str, ...] = ("off", "inside", "all")


def _mutated(base: st.SearchStrategy[Case], placeholders: str) -> st.SearchStrategy[Case]:
    if placeholders != "adversarial":
        return base
    from ppcreloc.strategies.adversarial import mutations

    return base.flatmap(mutations)


def campaign_objects(*, placeholders: str = "compiler", boundaries: str = "inside",
                     seed_objects: str | None = None,
                     require_targets: bool = True, **knobs: Any) -> st.SearchStrategy[Case]:
    """The cases of a campaign (see the module docstring); ``seed_objects`` is read now, so a
    bad directory is a UsageError before any example runs."""
    if boundaries not in BOUNDARIES:
        raise ValueError(f"boundaries must be one of {', '.join(BOUNDARIES)}, not {boundaries!r}")
    families = [livepatch_objects(placeholders=placeholders,  # type: ignore[arg-type]
                                  require_targets=require_targets, **knobs)]
    if boundaries != "off":
        from ppcreloc.strategies.boundary import boundary_objects

        families.append(_mutated(boundary_objects(outside=boundaries == "all"), placeholders))
    if seed_objects is not None:
        from ppcreloc.strategies.seeds import load_seeds
        from ppcreloc.strategies.seeds import seed_objects as seeds

        load_seeds(seed_objects)
        families.append(_mutated(seeds(seed_objects), placeholders))
    return st.one_of(families) if len(families) > 1 else families[0]
