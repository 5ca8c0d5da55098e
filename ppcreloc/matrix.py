"""`ppcreloc matrix`: a seeded Hypothesis campaign for every engine and invariant.

For each engine one survey runs ``examples`` generated cases through the oracle and notes which
invariants fail. For each failing invariant a second, targeted search (same seed, example
database off) finds a counterexample again and lets Hypothesis shrink it; the minimal case is
captured on the final replay (``current_build_context().is_final``) and written as a fixture. So a
cell either holds over ``examples`` cases or names the minimal failing object's `.o`.

Exit codes: 0 every cell is as the profiles predict (:data:`PREDICTED`), 1 a surprise (with
``--strict``: any violation), 2 bad usage. The quick start's matrix finds the predicted defects
of the kernel profiles, so it exits 0; a kernel:PATH engine carries no prediction, so any
violation there is a surprise.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import Phase, settings
from hypothesis.control import current_build_context
from hypothesis.errors import HypothesisException

from ppcreloc.cli import add_mix_arguments, cycles_help, engine_or_usage
from ppcreloc.elf.writer import write_elf
from ppcreloc.engines import engine_names
from ppcreloc.errors import UsageError
from ppcreloc.fixtures import DEFAULT_DIR, case_record, write_fixture
from ppcreloc.loader.worldspec import world_from_spec
from ppcreloc.oracle import DEFAULT_CYCLES, INVARIANTS, MAX_AUTO_CYCLES, State, Verdict, check
from ppcreloc.records import Engine
from ppcreloc.search import GENERATE, run_search, search_settings

#: what the kernel's own code predicts for compiler-like objects (module_64.c restore_r2 and
#: stub_for_addr, 6.1 and 6.12).
#: Stated by the issue: 6.1 cannot re-apply (restore_r2 rejects its own ld r2); the v7 clear and
#: 6.12 re-apply but leave bytes applied; 6.12 never frees stubs, so reloads at fresh addresses
#: exhaust `.stubs`; full-undo holds everything. Derived from the same code: every profile loads
#: and applies compiler-like objects once, in bounds, and re-applies identically (vacuously on
#: 6.1, whose re-apply fails); 6.1's clear is a no-op, so clear_restores fails there too; v7
#: does not free stubs either (reload_cycles fails); 6.1's reload_cycles is not judged (holds)
#: because its re-apply already failed.
_FAILS: dict[str, tuple[str, ...]] = {
    "v6.1": ("apply_clear_apply", "clear_restores"),
    "klp-clear-v7": ("clear_restores", "reload_cycles"),
    "v6.12": ("clear_restores", "reload_cycles"),
    "full-undo": (),
    # 6.13-6.17 (eec37961a56a), objects built with -fpatchable-function-entry: with two or more
    # traced functions the first klp REL24 after setup_ftrace_ool_stubs stops the sentinel walk
    # inside ftrace_ool_stub[] and create_stub writes over it (in_bounds, ppcreloc.ool_check)
    "v6.13": ("clear_restores", "in_bounds", "reload_cycles"),
    # 6.18's stub counter (b137312fbf2d) keeps 6.12's semantics here: no clear, no stub freeing;
    # the OOL block is never walked, so in_bounds holds
    "v6.18": ("clear_restores", "reload_cycles"),
}
PREDICTED: dict[tuple[str, str], bool] = {
    (engine, inv): inv not in fails for engine, fails in _FAILS.items() for inv in INVARIANTS
}
DEFAULT_EXAMPLES = 200
DEFAULT_SEED = 0
DEFAULT_FIXTURE_DIR = DEFAULT_DIR


@dataclass
class Cell:
    """One (engine, invariant) result: ``fixture`` is the minimal counterexample's `.o`."""

    engine: str
    invariant: str
    holds: bool
    examples: int
    fixture: str | None = None
    relocs: int | None = None
    message: str | None = None
    seconds: float = 0.0
    placeholders: str = "compiler"
    #: examples on which the invariant was actually judged (not "not judged" / "vacuously")
    judged: int | None = None
    #: the kernel's messages at the minimal counterexample's first violation
    kernel_message: str | None = None
    #: the minimal counterexample's `.stubs` summary (``exhausts `.stubs` at reload N``)
    stubs: str | None = None

    @property
    def predicted(self) -> bool | None:
        """The kernel-predicted outcome (compiler-like objects only), else None."""
        if self.placeholders != "compiler":
            return None
        return PREDICTED.get((self.engine, self.invariant))

    @property
    def state(self) -> State:
        """``violated``; ``not judged`` when no example judged it; else ``holds``."""
        if not self.holds:
            return "violated"
        return "not judged" if self.judged == 0 else "holds"

    @property
    def surprise(self) -> bool:
        """Violated without a prediction, or not as :data:`PREDICTED` says."""
        return self.predicted != self.holds if self.predicted is not None else not self.holds

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` row (``holds`` is null for a cell no example judged)."""
        return {"engine": self.engine, "invariant": self.invariant, "state": self.state,
                "holds": None if self.state == "not judged" else self.holds,
                "fixture": self.fixture, "examples": self.examples, "relocs": self.relocs,
                "predicted": self.predicted, "surprise": self.surprise, "message": self.message,
                "kernel_message": self.kernel_message, "stubs": self.stubs,
                "judged": self.judged,
                "seconds": round(self.seconds, 3)}


@dataclass
class Minimal:
    """What the final replay of a shrunk failure captured."""

    case: Any = None
    verdict: Verdict | None = None
    examples: int = 0


class _Found(Exception):
    """Raised inside the search so Hypothesis shrinks toward the minimal failing case."""


def _settings(examples: int) -> settings:
    """matrix's search: Hypothesis's default of reporting several distinct bugs kept."""
    return search_settings(examples, phases=(Phase.explicit, *GENERATE),
                           report_multiple_bugs=True)


def _cases(placeholders: str, engine: Engine | None = None, boundaries: str = "off",
           seed_objects: str | None = None, **knobs: Any) -> Any:
    """The generated cases; with ``engine``, the objects its kernel builds
    (ppcreloc.strategies.ftrace_entries.compiler_knobs) unless ``knobs`` say otherwise; boundary objects
    and seed objects join through the campaign mix (ppcreloc.strategies.campaign)."""
    from ppcreloc.strategies import livepatch_objects
    from ppcreloc.strategies.ftrace_entries import compiler_knobs

    knobs = {"require_targets": True, **(compiler_knobs(engine) if engine else {}), **knobs}
    if boundaries != "off" or seed_objects is not None:
        from ppcreloc.strategies.campaign import campaign_objects

        return campaign_objects(placeholders=placeholders, boundaries=boundaries,
                                seed_objects=seed_objects, **knobs)
    return livepatch_objects(placeholders=placeholders, **knobs)  # type: ignore[arg-type]


def run_check(case: Any, engine: Engine, cycles: int | None = None) -> Verdict:
    """The oracle's verdict on one generated case (on a clone: engines may sort in place);
    ``cycles`` None: up to the reload that exhausts `.stubs` (oracle.check)."""
    return check(case.obj.clone(), engine, world_from_spec(case.world), cycles=cycles,
                 layout=case.layout)


def survey(engine: Engine, examples: int, seed_value: int, placeholders: str,
           cycles: int | None = None, **knobs: Any) -> tuple[int, set[str], dict[str, int]]:
    """Run ``examples`` cases; return how many ran, which invariants failed on any, and on how
    many cases each invariant was judged (not vacuous)."""
    failed: set[str] = set()
    judged = dict.fromkeys(INVARIANTS, 0)
    count = 0

    def one(case: Any) -> None:
        nonlocal count
        count += 1
        verdict = run_check(case, engine, cycles)
        for name, r in verdict.invariants.items():
            if not r.holds:
                failed.add(name)
            judged[name] += r.judged

    run_search(_cases(placeholders, engine, **knobs), one, _settings(examples), seed_value)
    return count, failed, judged


def minimal_counterexample(
    engine: Engine, invariant: str, examples: int, seed_value: int, placeholders: str,
    cycles: int | None = None, on_first: Callable[[int], None] | None = None, **knobs: Any,
) -> Minimal | None:
    """Search for a case violating ``invariant`` and shrink it; None when none was found.

    ``on_first`` is called with the number of examples tried when the first failure appears.
    """
    found = Minimal()
    count = 0

    def search(case: Any) -> None:
        nonlocal count
        count += 1
        verdict = run_check(case, engine, cycles)
        if verdict.invariants[invariant].holds:
            return
        if found.examples == 0:
            found.examples = count
            if on_first is not None:
                on_first(count)
        if current_build_context().is_final:
            found.case, found.verdict = case, verdict
        raise _Found(invariant)

    try:
        run_search(_cases(placeholders, engine, **knobs), search, _settings(examples), seed_value)
    except _Found:
        pass
    except HypothesisException as exc:  # e.g. Flaky: report it instead of a traceback
        raise UsageError(f"{engine.name}/{invariant}: search failed: {exc}") from None
    return found if found.case is not None else None


def write_counterexample(directory: Path, engine: str, invariant: str, minimal: Minimal,
                         seed_value: int, cycles: int | None = None) -> Path:
    """Store the minimal case as `<dir>/<engine>/<invariant>-<sha>.o` plus the JSON sidecar
    :func:`ppcreloc.fixtures.case_record` builds (the same one ``fuzz`` writes), with the
    reload cycles the check ran: ``cycles`` when it was explicit, else the verdict's."""
    case, verdict = minimal.case, minimal.verdict
    assert case is not None and verdict is not None
    record = case_record(case, engine, invariant, verdict, seed_value,
                         verdict.cycles if cycles is None else cycles)
    return write_fixture(directory, write_elf(case.obj), record)


def run_matrix(
    engines: Sequence[Engine],
    *,
    examples: int = DEFAULT_EXAMPLES,
    seed_value: int = DEFAULT_SEED,
    placeholders: str = "compiler",
    fixture_dir: Path | None = DEFAULT_FIXTURE_DIR,
    cycles: int | None = None,
    invariants: Sequence[str] = INVARIANTS,
    **knobs: Any,
) -> list[Cell]:
    """Every (engine, invariant) cell, in engine then invariant order."""
    cells: list[Cell] = []
    for engine in engines:
        start = time.perf_counter()
        count, failed, judged = survey(engine, examples, seed_value, placeholders, cycles,
                                       **knobs)
        survey_time = time.perf_counter() - start
        for inv in invariants:
            if inv not in failed:
                cells.append(Cell(engine.name, inv, True, count, seconds=survey_time,
                                  placeholders=placeholders, judged=judged[inv]))
                continue
            t0 = time.perf_counter()
            minimal = minimal_counterexample(engine, inv, examples, seed_value, placeholders,
                                             cycles, **knobs)
            cell = Cell(engine.name, inv, False, minimal.examples if minimal else count,
                        seconds=time.perf_counter() - t0, placeholders=placeholders)
            if minimal is not None and minimal.verdict is not None:
                cell.relocs = minimal.case.reloc_count
                result = minimal.verdict.invariants[inv]
                cell.message = result.message
                cell.kernel_message = next(
                    (v.kernel_message for v in result.violations if v.kernel_message), None)
                if minimal.verdict.stubs is not None:
                    cell.stubs = minimal.verdict.stubs.summary()
                if fixture_dir is not None:
                    cell.fixture = str(write_counterexample(fixture_dir, engine.name, inv,
                                                            minimal, seed_value, cycles))
            cells.append(cell)
    return cells


# -- output ------------------------------------------------------------------------------------
#: a cell's text in the table, by state (details go below the table, one per line)
_CELL_TEXT: dict[State, str] = {
    "holds": "[green]holds[/]",
    "violated": "[red]VIOLATED[/]",
    "not judged": "[yellow]not judged[/]",
}


#: the width of "VIOLATED #1", so four engines fit 80 columns without wrapping a cell
_CELL_WIDTH = 11


def _cell_text(c: Cell, note: int | None) -> str:
    text = _CELL_TEXT[c.state]
    judged = c.judged if c.judged is not None else c.examples
    if c.state == "holds" and judged != c.examples:
        text += f" {judged}/{c.examples}"
    if note is not None:
        text += f" #{note}"
    return text + (" [yellow]*[/]" if c.surprise else "")


def print_table(cells: Sequence[Cell], fixture_dir: Path | None = None,
                seed_value: int | None = None) -> None:
    """A rich table, one row per invariant (names never cut), one column per engine; a cell
    reads ``holds`` (``holds J/N`` when judged on only J of N examples), ``not judged`` or
    ``VIOLATED #k``, ``*`` when not as :data:`PREDICTED`; engines that do not fit the console's
    width go to a further table below. Below the tables, per violated cell, one line each:
    the message, the fixture path and the kernel's messages (whole, so they can be copied)."""
    from rich.markup import escape
    from rich.table import Table

    from ppcreloc.report import console

    engines = list(dict.fromkeys(c.engine for c in cells))
    invariants = list(dict.fromkeys(c.invariant for c in cells))
    con = console()
    # a column is its text, 2 padding and 1 border; the first table keeps 80 columns for four
    width = max(map(len, invariants), default=0) + 4
    per_table = max(1, (con.width - width) // (_CELL_WIDTH + 3))
    notes: list[Cell] = []
    for start in range(0, len(engines), per_table):
        group = engines[start : start + per_table]
        title = "ppcreloc matrix" + (f" (seed {seed_value})" if seed_value is not None else "")
        table = Table(title=title if not start else None, title_justify="left")
        table.add_column("invariant", style="bold", no_wrap=True)
        for engine in group:
            table.add_column(escape(engine), overflow="fold", min_width=_CELL_WIDTH)
        for inv in invariants:
            row = [inv]
            for engine in group:
                c = next(x for x in cells if x.engine == engine and x.invariant == inv)
                if c.state == "violated":
                    notes.append(c)
                row.append(_cell_text(c, len(notes) if c.state == "violated" else None))
            table.add_row(*row)
        con.print(table)
    examples = sorted({c.examples for c in cells if c.state != "violated"})
    con.print(f"examples per engine: {', '.join(map(str, examples)) or '-'}; J/N: judged on J "
              "of N examples")
    if any(c.surprise for c in cells):
        con.print("* not as the profiles predict (ppcreloc.matrix.PREDICTED)")
    for k, c in enumerate(notes, 1):
        where = f"first failing example {c.examples}" + (
            f", minimal object has {c.relocs} relocation(s)" if c.relocs is not None else "")
        con.print(f"#{k} {escape(c.engine)} {c.invariant}: {where}")
        if c.message:
            con.print(f"    {escape(c.message)}")
        if c.kernel_message:
            con.print(f"    kernel: {escape(c.kernel_message)}")
        if c.stubs and c.invariant == "reload_cycles":
            con.print(f"    {escape(c.stubs)}")
        if c.fixture:
            con.print(f"    fixture: {escape(c.fixture)}")
    if fixture_dir is not None and any(c.fixture for c in cells):
        con.print(f"fixtures in {escape(str(fixture_dir))} (not the regression corpus; "
                  "ppcreloc promote FIXTURE.o adds one to tests/fixtures)")


def exit_code(cells: Sequence[Cell], strict: bool = False) -> int:
    """0 when every cell is as predicted (``strict``: when nothing is violated), else 1."""
    bad = (c.state == "violated" for c in cells) if strict else (c.surprise for c in cells)
    return 1 if any(bad) else 0


def cmd_matrix(args: argparse.Namespace) -> int:
    """Run the campaign and print the table (or JSON); exit as :func:`exit_code` says."""
    from ppcreloc.report import emit_json

    engines = _engines(args.engine)
    fixture_dir = None if args.no_fixtures else Path(args.fixtures)
    cells = run_matrix(engines, examples=args.examples, seed_value=args.seed,
                       placeholders=args.placeholders, cycles=args.cycles,
                       fixture_dir=fixture_dir, boundaries=args.boundaries,
                       seed_objects=args.seed_objects)
    if args.json:
        emit_json({"seed": args.seed, "fixtures_dir": None if fixture_dir is None
                   else str(fixture_dir), "results": [c.to_dict() for c in cells]})
    else:
        print_table(cells, fixture_dir, args.seed)
    return exit_code(cells, args.strict)


def _engines(names: Sequence[str] | None) -> list[Engine]:
    """Profiles by name, ``all``, ``PATH.py:Class`` or ``kernel:PATH`` (ppcreloc.registry)."""
    wanted = engine_names() if not names or list(names) == ["all"] else list(names)
    return [engine_or_usage(n) for n in wanted]


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if not 1 <= value <= 1_000_000:
        raise argparse.ArgumentTypeError(f"must be between 1 and 1000000, got {value}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _cycles(text: str) -> int:
    value = _positive(text)
    if value > 100:
        raise argparse.ArgumentTypeError(f"must be between 1 and 100, got {value}")
    return value


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    """``ppcreloc matrix [--examples N] [--seed S] [--engine NAME...] [--placeholders P]
    [--json]``."""
    p = subparsers.add_parser(
        "matrix",
        help="run a seeded campaign for every engine and invariant",
        description="Generate livepatch objects with Hypothesis (seeded, example database off), "
        "judge every invariant on every engine, shrink each failure to a minimal object and "
        "store it under the fixture directory (not the regression corpus). Exit 0 when every "
        "cell is as the profiles predict (ppcreloc.matrix.PREDICTED; a violation without a "
        "prediction, e.g. a kernel:PATH engine, counts as a surprise), 1 on a surprise "
        "(--strict: on any violation), 2 on bad input.",
    )
    p.add_argument("--examples", type=_positive, default=DEFAULT_EXAMPLES, metavar="N",
                   help=f"generated cases per engine (default: {DEFAULT_EXAMPLES})")
    p.add_argument("--seed", type=_seed, default=DEFAULT_SEED, metavar="S",
                   help=f"Hypothesis seed (default: {DEFAULT_SEED})")
    p.add_argument("--engine", nargs="+", metavar="NAME",
                   help="engine profiles (see `ppcreloc profiles`), all, or kernel:PATH (the "
                   "kernel's own module_64.c from a tree or tarball) (default: all profiles)")
    p.add_argument("--placeholders", choices=("compiler", "adversarial"), default="compiler",
                   help="compiler-like objects or adversarial mutations (default: compiler)")
    p.add_argument("--cycles", type=_cycles, metavar="N",
                   help=cycles_help(DEFAULT_CYCLES, MAX_AUTO_CYCLES))
    add_mix_arguments(p, "off")
    p.add_argument("--fixtures", default=str(DEFAULT_FIXTURE_DIR), metavar="DIR",
                   help=f"where minimal counterexamples go (default: {DEFAULT_FIXTURE_DIR})")
    p.add_argument("--no-fixtures", action="store_true", help="do not write fixture files")
    p.add_argument("--strict", action="store_true",
                   help="exit 1 on any violation, predicted or not")
    p.add_argument("--json", action="store_true",
                   help='print {"seed", "fixtures_dir", "results": [{engine, invariant, state, '
                   'holds, fixture, examples, judged, predicted, surprise, message, '
                   'kernel_message, stubs}, ...]}')
    p.set_defaults(func=cmd_matrix)
