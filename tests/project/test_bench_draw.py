"""bench/bench_draw.py runs both arms of its measurement (a smoke run at a tiny size; the figure
itself is not asserted, timings are for the benchmark, not for tests)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import bench_draw  # noqa: E402
from ppcreloc.strategies._draw import BOOL  # noqa: E402


def test_per_draw_cost_is_measured() -> None:
    calls = []

    def body(m: int):  # noqa: ANN202
        def draw_m(draw):  # noqa: ANN001, ANN202
            calls.append(m)
            return [draw(BOOL) for _ in range(m)]
        return draw_m

    us = bench_draw.per_draw_us(body, 4, 20, 1)
    assert isinstance(us, float) and math.isfinite(us)
    assert calls.count(0) >= 20 and calls.count(4) >= 40  # baseline once, k draws twice
