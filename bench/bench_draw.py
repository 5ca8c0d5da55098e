"""What one Hypothesis draw costs on the installed Hypothesis; prints JSON.

ppcreloc/strategies/_draw.py is built on the claim that "every Hypothesis draw costs about 20 us of
bookkeeping whatever it draws", so the object strategies draw a whole unit as one value and
decode it. This measures that cost: inside one ``@st.composite`` per example, ``k`` draws of one
primitive strategy, for k = 0 and k = ``--draws``; the cost of a draw is the difference divided by
k times the number of examples (so the per-example overhead cancels). The same for
``draw_space`` over a :class:`~ppcreloc.strategies._draw.Prod` of ``--draws`` small choices (one draw of a
byte string, then decoding) against drawing those choices one by one with ``pick``. Every example also makes one
wide integer draw, so that Hypothesis never runs out of distinct examples.

Times are CPU seconds of this process (time.process_time), pinned to one core; each figure is
the median of ``--repeat`` runs.

    .venv/bin/python bench/bench_draw.py [--examples N] [--draws K] [--repeat R]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import hypothesis  # noqa: E402
from hypothesis import given, seed  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from bench.bench_e2e import generate_only  # noqa: E402
from ppcreloc.strategies._draw import BOOL, Pick, Prod, draw_space, ints, pick  # noqa: E402

CLOCK = time.process_time
NAMES = tuple(f"name{i}" for i in range(10))
WIDE = ints(0, 2**63)


def _run(body: Callable[[st.DrawFn], Any], n: int) -> float:
    """CPU seconds to generate ``n`` examples whose composite runs ``body(draw)``."""

    @st.composite
    def case(draw: st.DrawFn) -> Any:
        # one wide draw keeps the examples distinct (with no draw at all Hypothesis would stop
        # after one example, the space being exhausted), in the baseline and the measured runs
        return draw(WIDE), body(draw)

    @seed(1)
    @generate_only(n)
    @given(case())
    def run(_: Any) -> None:
        pass

    t0 = CLOCK()
    run()
    return CLOCK() - t0


def per_draw_us(make: Callable[[int], Callable[[st.DrawFn], Any]], k: int, n: int,
                repeat: int) -> float:
    """Median over ``repeat`` runs of (t(k draws) - t(0 draws)) / (k * n), in microseconds."""
    _run(make(k), n)  # warm-up: the first run also pays Hypothesis' one-time setup
    out = []
    for _ in range(repeat):
        t0 = _run(make(0), n)
        tk = _run(make(k), n)
        out.append((tk - t0) / (k * n) * 1e6)
    return round(statistics.median(out), 2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=300)
    ap.add_argument("--draws", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    n, k, r = args.examples, args.draws, args.repeat
    strategies: dict[str, st.SearchStrategy[Any]] = {
        "booleans": BOOL,
        "integers(0, 9)": ints(0, 9),
        "integers(0, 2**32 - 1)": ints(0, 2**32 - 1),
        "sampled_from(10 names)": st.sampled_from(NAMES),
        "binary(min_size=4, max_size=4)": st.binary(min_size=4, max_size=4),
    }

    def repeated(s: st.SearchStrategy[Any]) -> Callable[[int], Callable[[st.DrawFn], Any]]:
        return lambda m: (lambda draw: [draw(s) for _ in range(m)])

    out: dict[str, Any] = {"hypothesis": hypothesis.__version__,
                           "python": sys.version.split()[0],
                           "cpu": "one core (sched_setaffinity)", "examples": n, "draws": k,
                           "repeat": r, "claim_us": 20}
    out["per_draw_us"] = {name: per_draw_us(repeated(s), k, n, r)
                          for name, s in strategies.items()}
    out["pick_us"] = per_draw_us(lambda m: (lambda draw: [pick(draw, NAMES)
                                                          for _ in range(m)]), k, n, r)
    # one Prod of k ten-way choices: a single draw_space against k picks
    space = Prod(*[Pick(NAMES) for _ in range(k)])
    one = [_run(lambda draw: draw_space(draw, space), n) for _ in range(r)]
    many = [_run(lambda draw: [pick(draw, NAMES) for _ in range(k)], n) for _ in range(r)]
    out["unit_of_k_choices_us"] = {
        "draw_space_once": round(statistics.median(one) / n * 1e6, 1),
        "k_picks": round(statistics.median(many) / n * 1e6, 1),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
