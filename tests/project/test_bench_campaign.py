"""bench/bench_e2e.py's campaign section runs a real `ppcreloc fuzz` per --jobs setting and
reads its report (a smoke run at a tiny size; the figures are for the benchmark, not asserted)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import bench_e2e  # noqa: E402


def test_campaign_reports_the_workers_and_the_rate() -> None:
    auto = bench_e2e.campaign("full-undo", 30, "auto")
    assert auto["jobs"] == 1 and auto["examples"] == 30  # too few examples to share
    two = bench_e2e.campaign("v6.12", 30, "2")
    assert two["jobs"] == 2 and two["examples"] == 30
    assert float(two["per_s"]) > 0  # type: ignore[arg-type]


def test_a_failing_campaign_is_a_bench_error() -> None:
    with pytest.raises(SystemExit, match="unknown engine"):
        bench_e2e.campaign("no-such-profile", 5, "auto")
