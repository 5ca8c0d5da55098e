"""`ppcreloc fuzz`: a Hypothesis campaign against one engine, for a number of examples or seconds.

This module is the command (its report and arguments); the campaign is in
:mod:`ppcreloc.campaign` (one worker's batch loop), :mod:`ppcreloc.pool` (several workers) and
:mod:`ppcreloc.databases` (the example databases).

Hypothesis has no wall-clock budget, so the campaign loops from outside: it runs ``@given``
batches of :data:`BATCH` examples (each with its own seed derived from ``--seed``, the worker and
the batch number) until the example count or the deadline is reached. Within a batch a case is a
*new* failure when it violates an invariant no earlier batch has found; the batch stops at the
first new failure, Hypothesis shrinks it, and the final replay of the minimal case
(``current_build_context().is_final``) writes one fixture per newly violated invariant. So every
violated invariant ends up with a minimal `.o`, and later batches keep hunting for the others.

Every failure is on disk as soon as it is seen: the first failing case of a batch is stored
(``minimal: false``) before shrinking starts and replaced by the minimal one once shrinking ends,
so Ctrl-C loses nothing found so far.

The example database: ``--database PATH`` (a directory, safe for several processes) or
``--database redis://HOST:PORT[/DB]`` (hypothesis.extra.redis, shared between machines). Before
generating, a campaign replays every stored failure once (reported with ``from_database``);
generated batches do not read the database, only save to it, so a seeded ``--examples`` run is
deterministic whatever the database holds apart from those replays. Keys are namespaced by
engine, placeholders and cycles. Without ``--database``, more than one worker share the
directory database :data:`DEFAULT_DATABASE`; a single worker uses none.

Workers: ``--jobs auto`` (the default) runs one per usable core, at most one per
:data:`~ppcreloc.jobs.JOB_MIN_EXAMPLES` examples (:mod:`ppcreloc.jobs`); the report says how many
ran, and a seeded ``--examples`` run is deterministic for a given ``--jobs``.

An engine that is a context manager (``kernel:PATH``: KernelEngine's session mode) is entered
for the whole campaign, so each worker process keeps one kernel child for all its examples
instead of starting one per example.

Exit codes: 0 no violation found, 1 violations found (fixtures written), 2 bad input or an
unwritable fixture directory (a full disk: one error, the campaign stops, fixtures written
before are kept), 3 the tool failed on a case (ToolError: a kernel engine child hung or died;
the campaign stops) or a worker died and nothing was found, 130 interrupted with nothing found.

Faults: SIGINT and SIGTERM stop every worker at its next example (findings are on disk, writes
are atomic); a worker that dies (``kill -9``) is reported with one warning while the others go
on (the report lists it under ``lost_workers``); an example database that goes away (Redis
stopped) prints one warning and the campaign goes on without it.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

from ppcreloc.campaign import (
    DEFAULT_DATABASE,
    DEFAULT_ENGINE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_VIOLATED,
    FuzzOptions,
    Outcome,
)
from ppcreloc.cli import add_mix_arguments
from ppcreloc.databases import open_database
from ppcreloc.engines import resolve_engine
from ppcreloc.errors import ToolError, UsageError
from ppcreloc.fixtures import DEFAULT_DIR
from ppcreloc.jobs import JOBS_HELP, jobs_argument, resolve_jobs, workers
from ppcreloc.pool import Progress, run_campaign


def report(opts: FuzzOptions, outcome: Outcome, seed_value: int, elapsed: float) -> dict[str, Any]:
    """The ``--json`` document."""
    doc: dict[str, Any] = {
        "engine": opts.engine,
        "seed": seed_value,
        "jobs": opts.jobs,
        "examples": outcome.examples,
        "replayed": outcome.replayed,
        "violations": outcome.violations(),
        "fixtures_dir": opts.fixtures,
        "elapsed_s": round(elapsed, 3),
        "examples_per_s": round(outcome.examples / elapsed, 2) if elapsed > 0 else 0.0,
    }
    if outcome.interrupted:
        doc["interrupted"] = True
    if outcome.lost_workers:
        doc["lost_workers"] = outcome.lost_workers
    return doc


def print_report(doc: dict[str, Any]) -> None:
    """The human summary: counts, then one line per violated invariant with its fixture."""
    from rich.markup import escape

    from ppcreloc.report import console

    con = console()
    con.print(f"fuzz {escape(doc['engine'])}: {doc['examples']} examples in {doc['elapsed_s']} s "
              f"({doc['examples_per_s']}/s, seed {doc['seed']}, {workers(doc['jobs'])})"
              + (f", {doc['replayed']} replayed from the database" if doc["replayed"] else "")
              + f"; fixtures in {escape(doc['fixtures_dir'])} (ppcreloc promote adds one to the "
              "regression corpus)")
    if not doc["violations"]:
        con.print("[green]no violation found[/]")
    for v in doc["violations"]:
        origin = " (from the database)" if v["from_database"] else ""
        origin += "" if v["minimal"] else " (not shrunk: interrupted)"
        con.print(f"[red]{v['invariant']}[/] violated{origin}: {escape(v['fixture'])}")


# -- command line ---------------------------------------------------------------------------------
def cmd_fuzz(args: argparse.Namespace) -> int:
    """Run the campaign, print the summary or JSON; exit 1 when a violation was found."""
    from ppcreloc.report import emit_json

    if args.placeholders not in ("compiler", "adversarial"):
        raise UsageError(f"--placeholders must be compiler or adversarial, not {args.placeholders!r}")
    examples = None if args.budget is not None else args.examples
    opts = FuzzOptions(
        engine=args.engine, examples=examples, budget=args.budget, seed=args.seed,
        fixtures=args.fixtures, placeholders=args.placeholders,
        jobs=resolve_jobs(args.jobs, examples), database=args.database,
        boundaries=args.boundaries, seed_objects=args.seed_objects,
    )
    if opts.seed_objects is not None:  # a bad directory is a usage error before any worker
        from ppcreloc.strategies.seeds import load_seeds

        load_seeds(opts.seed_objects)

    resolve_engine(opts.engine)  # a bad name is a usage error before any worker starts
    open_database(opts.database)  # likewise an unreachable server or a bad path
    start = time.monotonic()
    with Progress(opts, sys.stderr.isatty()) as progress:
        outcome, seed_value = run_campaign(opts, progress)
    doc = report(opts, outcome, seed_value, time.monotonic() - start)
    if args.json:
        emit_json(doc)
    else:
        print_report(doc)
    if outcome.interrupted:
        print(f"ppcreloc fuzz: interrupted after {outcome.examples} examples; "
              f"{len(doc['violations'])} fixture(s) on disk", file=sys.stderr)
        if not doc["violations"]:
            return EXIT_INTERRUPTED
    if outcome.lost_workers and not doc["violations"]:  # no verdict for the lost share
        raise ToolError("fault", f"{', '.join(outcome.lost_workers)}; no violation found by "
                        "the others")
    return EXIT_VIOLATED if doc["violations"] else EXIT_OK


def _int_in(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text, 0)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}, got {value}")
        return value

    return parse


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
    if value > 7 * 24 * 3600:
        raise argparse.ArgumentTypeError(f"must be at most 604800 seconds (a week), got {text}")
    return value


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    """``ppcreloc fuzz [--engine NAME] [--examples N | --budget SECONDS] [--seed S]
    [--fixtures DIR] [--placeholders P] [--jobs N|auto] [--database URL] [--json]``."""
    p = subparsers.add_parser(
        "fuzz",
        help="fuzz one engine for N examples or a time budget, writing minimal fixtures",
        description="Generate livepatch objects with Hypothesis and judge the seven invariants on "
        "one engine, for --examples N (default 100) or --budget SECONDS. Each violated "
        "invariant is shrunk to a minimal object written under the fixture directory. With "
        "--seed and --examples the run is deterministic for a given --jobs (the report says how "
        "many workers ran; a --budget run is not deterministic: its example count depends on "
        "the machine). Exit 0 when no violation was found, 1 when one was, "
        "2 on bad input, 130 when interrupted before finding any.",
    )
    p.add_argument("--engine", default=DEFAULT_ENGINE, metavar="NAME",
                   help="engine profile (see `ppcreloc profiles`) or kernel:PATH (the kernel's "
                   f"own module_64.c from a source tree or tarball) (default: {DEFAULT_ENGINE})")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--examples", type=_int_in(1, 10_000_000), default=100, metavar="N",
                      help="generated examples in total (default: 100)")
    size.add_argument("--budget", type=_seconds, metavar="SECONDS",
                      help="run until this many seconds have passed (example count varies)")
    p.add_argument("--seed", type=_int_in(0, 2**63 - 1), metavar="S",
                   help="campaign seed (default: random; printed in the report)")
    p.add_argument("--fixtures", default=str(DEFAULT_DIR), metavar="DIR",
                   help=f"where minimal counterexamples go (default: {DEFAULT_DIR})")
    p.add_argument("--placeholders", choices=("compiler", "adversarial"), default="compiler",
                   help="compiler-like objects or adversarial mutations (default: compiler)")
    add_mix_arguments(p, "inside")
    p.add_argument("--jobs", type=jobs_argument, default=None, metavar="N|auto",
                   help=JOBS_HELP + "; more than one share an example database")
    p.add_argument("--database", metavar="URL",
                   help="example database: a directory path or redis://HOST:PORT[/DB] "
                   f"(default: none with one worker, {DEFAULT_DATABASE} with more)")
    p.add_argument("--json", action="store_true",
                   help='print {"engine", "seed", "jobs", "examples", "replayed", "violations": '
                   '[{"invariant", "fixture", "from_database", "minimal"}], "fixtures_dir", '
                   '"elapsed_s", "examples_per_s"}')
    p.set_defaults(func=cmd_fuzz)
