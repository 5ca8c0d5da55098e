"""Hypothesis profiles for ppcreloc: ``dev`` (default), ``ci`` and ``fuzz``.

With ``CI`` set Hypothesis would load its own derandomized ``ci`` profile, which ignores
``--hypothesis-seed``; we register our own ``ci`` under the same name and load it explicitly, so a
seeded run repeats exactly with and without ``CI=true``. Without a seed the ``ci`` profile is
derandomized, so CI is stable. ``pytest --hypothesis-profile=NAME`` still overrides all of this.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, Phase, settings

from ppcreloc.runtime import tune_gc

tune_gc()  # as the CLI does (ppcreloc.runtime)

settings.register_profile("dev", max_examples=100, deadline=None)
settings.register_profile(
    "ci",
    max_examples=100,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "fuzz",
    max_examples=20_000,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    phases=list(Phase),
)


def pytest_configure(config: pytest.Config) -> None:
    seeded = config.getoption("hypothesis_seed", default=None) is not None
    if os.environ.get("CI"):
        settings.register_profile("ci", settings.get_profile("ci"), derandomize=not seeded)
        name = "ci"
    else:
        name = os.environ.get("PPCRELOC_HYPOTHESIS_PROFILE", "dev")
    if config.getoption("hypothesis_profile", default=None) is None:
        settings.load_profile(name)
