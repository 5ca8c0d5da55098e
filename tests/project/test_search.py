"""ppcreloc.search: the one Hypothesis driver that matrix, fuzz and diff share."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from hypothesis import Phase
from hypothesis import strategies as st

from ppcreloc.search import GENERATE, REPLAY, run_search, search_settings

ROOT = Path(__file__).resolve().parents[2]


def test_only_the_driver_runs_hypothesis() -> None:
    """No other module of ppcreloc decorates a test with @given or @seed or silences the
    reporter itself (the strategies only build strategies)."""
    stray = []
    for p in sorted((ROOT / "ppcreloc").rglob("*.py")):
        if p.name == "search.py":
            continue
        for n in ast.walk(ast.parse(p.read_text())):
            if isinstance(n, ast.ImportFrom) and (n.module or "").startswith("hypothesis"):
                stray += [f"{p.relative_to(ROOT)}:{n.lineno} {a.name}" for a in n.names
                          if a.name in ("given", "seed", "with_reporter")]
    assert not stray, stray


def _draws(seed_value: int | None, n: int = 20) -> list[int]:
    seen: list[int] = []

    def body(x: int) -> None:
        seen.append(x)

    run_search(st.integers(0, 10**9), body, search_settings(n), seed_value)
    return seen


def test_a_seeded_search_repeats_and_the_seed_matters() -> None:
    assert _draws(1) == _draws(1)
    assert len(_draws(1)) == 20
    assert _draws(1) != _draws(2)


def test_the_body_ends_the_search_shrunk_and_silent(capsys: pytest.CaptureFixture[str]) -> None:
    shrunk: list[int] = []

    class Stop(Exception):
        pass

    def body(x: int) -> None:
        if x >= 1000:
            shrunk.append(x)
            raise Stop

    with pytest.raises(Stop):
        run_search(st.integers(0, 10**9), body, search_settings(200), 3)
    assert shrunk[-1] == 1000  # the last call is the shrunk case
    assert capsys.readouterr() == ("", "")


def test_settings_are_the_campaigns() -> None:
    s = search_settings(7, phases=REPLAY, database=None)
    assert s.max_examples == 7 and s.deadline is None and not s.print_blob
    assert tuple(s.phases) == (Phase.reuse, Phase.shrink)
    assert tuple(search_settings(1).phases) == GENERATE and not search_settings(1).report_multiple_bugs
