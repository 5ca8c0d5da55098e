"""`ppcreloc matrix`: a seeded Hypothesis campaign for every engine and invariant.

For each engine one survey runs ``examples`` generated cases through the oracle and notes which
invariants fail. For each failing invariant a second, targeted search (same seed, example
database off) finds a counterexample again and lets Hypothesis shrink it; the minimal case is
captured on the final replay (``current_build_context().is_final``) and written as a fixture. So a
cell either holds over ``examples`` cases or names the minimal failing object's `.o`.

Exit codes follow the CLI's rule: 0 no violation found, 1 violations found, 2 bad usage.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.control import current_build_context
from hypothesis.errors import HypothesisException
from hypothesis.reporting import with_reporter

from ppcreloc.engine import Engine
from ppcreloc.errors import UsageError
from ppcreloc.oracle import DEFAULT_CYCLES, INVARIANTS, Verdict, check

#: what the kernel's own code predicts for compiler-like objects (kernel-facts 2.1-2.4, 4.1).
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
    # 6.18's stub counter (b137312fbf2d) keeps 6.12's semantics here: no clear, no stub freeing
    "v6.18": ("clear_restores", "reload_cycles"),
}
PREDICTED: dict[tuple[str, str], bool] = {
    (engine, inv): inv not in fails for engine, fails in _FAILS.items() for inv in INVARIANTS
}
DEFAULT_EXAMPLES = 200
DEFAULT_SEED = 0
DEFAULT_FIXTURE_DIR = Path("tests/fixtures")


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

    @property
    def predicted(self) -> bool | None:
        """The kernel-predicted outcome (compiler-like objects only), else None."""
        if self.placeholders != "compiler":
            return None
        return PREDICTED.get((self.engine, self.invariant))

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` row."""
        return {"engine": self.engine, "invariant": self.invariant, "holds": self.holds,
                "fixture": self.fixture, "examples": self.examples, "relocs": self.relocs,
                "predicted": self.predicted, "message": self.message, "judged": self.judged,
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
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=False,
        print_blob=False,
        suppress_health_check=list(HealthCheck),
        phases=(Phase.explicit, Phase.generate, Phase.shrink),
    )


def _cases(placeholders: str, **knobs: Any) -> Any:
    from strategies import livepatch_objects

    knobs.setdefault("require_targets", True)
    return livepatch_objects(placeholders=placeholders, **knobs)  # type: ignore[arg-type]


def run_check(case: Any, engine: Engine, cycles: int = DEFAULT_CYCLES) -> Verdict:
    """The oracle's verdict on one generated case (on a clone: engines may sort in place)."""
    from strategies.worlds import to_symbol_world

    return check(case.obj.clone(), engine, to_symbol_world(case.world), cycles=cycles,
                 layout=case.layout)


def _judged(message: str | None) -> bool:
    """False for the oracle's "not judged" / "holds vacuously" verdicts."""
    return not (message and (message.startswith("not judged") or "vacuously" in message))


def survey(engine: Engine, examples: int, seed_value: int, placeholders: str,
           cycles: int = DEFAULT_CYCLES, **knobs: Any) -> tuple[int, set[str], dict[str, int]]:
    """Run ``examples`` cases; return how many ran, which invariants failed on any, and on how
    many cases each invariant was judged (not vacuous)."""
    failed: set[str] = set()
    judged = dict.fromkeys(INVARIANTS, 0)
    count = 0

    @seed(seed_value)
    @_settings(examples)
    @given(_cases(placeholders, **knobs))
    def one(case: Any) -> None:
        nonlocal count
        count += 1
        verdict = run_check(case, engine, cycles)
        for name, r in verdict.invariants.items():
            if not r.holds:
                failed.add(name)
            judged[name] += _judged(r.message)

    with with_reporter(lambda _msg: None):
        one()
    return count, failed, judged


def minimal_counterexample(
    engine: Engine, invariant: str, examples: int, seed_value: int, placeholders: str,
    cycles: int = DEFAULT_CYCLES, on_first: Callable[[int], None] | None = None, **knobs: Any,
) -> Minimal | None:
    """Search for a case violating ``invariant`` and shrink it; None when none was found.

    ``on_first`` is called with the number of examples tried when the first failure appears.
    """
    found = Minimal()
    count = 0

    @seed(seed_value)
    @_settings(examples)
    @given(_cases(placeholders, **knobs))
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
        with with_reporter(lambda _msg: None):
            search()
    except _Found:
        pass
    except HypothesisException as exc:  # e.g. Flaky: report it instead of a traceback
        raise UsageError(f"{engine.name}/{invariant}: search failed: {exc}") from None
    return found if found.case is not None else None


def write_counterexample(directory: Path, engine: str, invariant: str, minimal: Minimal,
                         seed_value: int, cycles: int) -> Path:
    """Store the minimal case as `<dir>/<engine>/<invariant>-<sha>.o` plus a JSON sidecar.

    The one place the fixture format is touched, so the fixtures issue can extend it.
    """
    import hypothesis

    from ppcreloc.elf.writer import write_elf
    from ppcreloc.fixtures import FixtureRecord, write_fixture
    from strategies.worlds import to_symbol_world

    case, verdict = minimal.case, minimal.verdict
    assert case is not None and verdict is not None
    result = verdict.invariants[invariant]
    layout = case.describe()["layout"]
    layout["world_spec"] = case.world.to_dict()
    record = FixtureRecord(
        engine=engine,
        invariant=invariant,
        holds=False,
        violation=result.violations[0].to_dict() if result.violations else
        {"message": result.message},
        world=to_symbol_world(case.world).to_kallsyms_text(),
        layout=layout,
        cycles=cycles,
        hypothesis_version=hypothesis.__version__,
        seed=seed_value,
        replay=f"ppcreloc check <this .o> --engine {engine} --cycles {cycles}",
    )
    return write_fixture(directory, write_elf(case.obj), record)


def run_matrix(
    engines: Sequence[Engine],
    *,
    examples: int = DEFAULT_EXAMPLES,
    seed_value: int = DEFAULT_SEED,
    placeholders: str = "compiler",
    fixture_dir: Path | None = DEFAULT_FIXTURE_DIR,
    cycles: int = DEFAULT_CYCLES,
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
                cell.message = minimal.verdict.invariants[inv].message
                if fixture_dir is not None:
                    cell.fixture = str(write_counterexample(fixture_dir, engine.name, inv,
                                                            minimal, seed_value, cycles))
            cells.append(cell)
    return cells


# -- output ------------------------------------------------------------------------------------
def print_table(cells: Sequence[Cell]) -> None:
    """A rich table: one row per invariant, one column per engine; failing cells name the
    minimal counterexample's fixture, and cells differing from :data:`PREDICTED` are flagged."""
    from rich.table import Table

    from ppcreloc.report import console

    engines = list(dict.fromkeys(c.engine for c in cells))
    table = Table(title="ppcreloc matrix", show_lines=True)
    table.add_column("invariant", style="bold")
    for engine in engines:
        table.add_column(engine, overflow="fold")
    for inv in dict.fromkeys(c.invariant for c in cells):
        row = [inv]
        for engine in engines:
            c = next(x for x in cells if x.engine == engine and x.invariant == inv)
            if c.holds and c.judged == 0:
                text = f"[green]holds[/] (vacuously: judged on 0 of {c.examples} ex.)"
            elif c.holds:
                text = f"[green]holds[/] ({c.examples} ex.)"
            else:
                text = f"[red]FAILS[/] at ex. {c.examples}, {c.relocs} reloc"
                text += f"\n{c.fixture}" if c.fixture else ""
            if c.predicted is not None and c.predicted != c.holds:
                text += "\n[yellow]not as predicted[/]"
            row.append(text)
        table.add_row(*row)
    console().print(table)


def cmd_matrix(args: argparse.Namespace) -> int:
    """Run the campaign and print the table (or JSON); 1 when any cell fails."""
    from ppcreloc.report import emit_json

    engines = _engines(args.engine)
    cells = run_matrix(engines, examples=args.examples, seed_value=args.seed,
                       placeholders=args.placeholders, cycles=args.cycles,
                       fixture_dir=None if args.no_fixtures else Path(args.fixtures))
    if args.json:
        emit_json({"results": [c.to_dict() for c in cells]})
    else:
        print_table(cells)
    return 0 if all(c.holds for c in cells) else 1


def _engines(names: Sequence[str] | None) -> list[Engine]:
    """Profiles by name, ``all``, ``PATH.py:Class`` or ``kernel:PATH`` (ppcreloc.registry)."""
    from ppcreloc.engines import engine_names, get_engine

    wanted = engine_names() if not names or list(names) == ["all"] else list(names)
    return [get_engine(n) for n in wanted]


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
        "store it under the fixture directory. Exit 0 when no violation was found, 1 when one "
        "was, 2 on bad input.",
    )
    p.add_argument("--examples", type=_positive, default=DEFAULT_EXAMPLES, metavar="N",
                   help=f"generated cases per engine (default: {DEFAULT_EXAMPLES})")
    p.add_argument("--seed", type=_seed, default=DEFAULT_SEED, metavar="S",
                   help=f"Hypothesis seed (default: {DEFAULT_SEED})")
    p.add_argument("--engine", nargs="+", metavar="NAME",
                   help="engine profiles or kernel:PATH engines to run (default: all profiles)")
    p.add_argument("--placeholders", choices=("compiler", "adversarial"), default="compiler",
                   help="compiler-like objects or adversarial mutations (default: compiler)")
    p.add_argument("--cycles", type=_cycles, default=DEFAULT_CYCLES, metavar="N",
                   help=f"reload cycles at fresh addresses (default: {DEFAULT_CYCLES})")
    p.add_argument("--fixtures", default=str(DEFAULT_FIXTURE_DIR), metavar="DIR",
                   help=f"where minimal counterexamples go (default: {DEFAULT_FIXTURE_DIR})")
    p.add_argument("--no-fixtures", action="store_true", help="do not write fixture files")
    p.add_argument("--json", action="store_true",
                   help='print {"results": [{engine, invariant, holds, fixture, examples}, ...]}')
    p.set_defaults(func=cmd_matrix)
