"""The one Hypothesis driver of the campaigns: matrix, fuzz and diff each run a body over a
strategy's cases with these settings, and stop the search by raising from the body.

Everything else (which exception ends a search, what is written, how examples are counted)
stays with the command; here is only how Hypothesis is asked: no deadline, no health checks, no
blob, no output, the campaign's own seed and database.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.reporting import with_reporter
from hypothesis.strategies import SearchStrategy

#: generate new cases, then shrink the first failure (the default search)
GENERATE = (Phase.generate, Phase.shrink)
#: replay the example database, then shrink (fuzz's first batch on a database)
REPLAY = (Phase.reuse, Phase.shrink)


def search_settings(max_examples: int, *, phases: Sequence[Phase] = GENERATE,
                    database: Any = None, report_multiple_bugs: bool = False) -> settings:
    """Settings for a campaign's search: ``max_examples`` cases, none of Hypothesis's checks
    on speed or data (a slow case is the engine's business), no reproduction blob."""
    return settings(max_examples=max_examples, deadline=None, database=database,
                    derandomize=False, print_blob=False,
                    report_multiple_bugs=report_multiple_bugs,
                    suppress_health_check=list(HealthCheck), phases=tuple(phases))


def run_search(strategy: SearchStrategy[Any], body: Callable[[Any], None], how: settings,
               seed_value: int | None) -> None:
    """Run ``body`` on cases of ``strategy`` under ``how``, seeded by ``seed_value`` (None: a
    random seed, or the database's examples), with Hypothesis's reporter silenced.

    The seed is applied inside the settings: a ``@seed`` outside them would switch the
    example database off. Exceptions of ``body`` (and Hypothesis's own) propagate.
    """
    test = given(strategy)(body)
    if seed_value is not None:
        test = seed(seed_value)(test)
    test = how(test)
    with with_reporter(lambda _msg: None):
        test()
