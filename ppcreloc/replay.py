"""`ppcreloc replay FIXTURE.o`: re-run the check a fixture recorded and say whether it still fails.

The sidecar holds everything the check needs: the symbol world (the strategies' ``world_spec``
when present, which keeps every generation's module base, else the kallsyms text), the layout,
the kernel configuration and the number of reload cycles. The recorded violation *reproduces*
when its invariant is violated again; :attr:`Replay.same` also tells whether the first violation
matches the recorded one field for field (prose ``message`` aside).

Exit codes: 1 the recorded violation reproduces (or a fixture recorded as clean is now violated),
0 the invariant holds, 2 a bad fixture or usage.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ppcreloc.diff import cmd_replay_diff
from ppcreloc.elf.model import ElfObject
from ppcreloc.engines import resolve_engine as resolve_engine
from ppcreloc.fixtures import FixtureRecord, load_fixture
from ppcreloc.oracle import Verdict, check
from ppcreloc.replay_inputs import ReplayInputs as ReplayInputs
from ppcreloc.replay_inputs import fixture_paths as fixture_paths
from ppcreloc.replay_inputs import replay_inputs as replay_inputs

#: the module name every generated case is checked under (oracle.check's default)
MODNAME = "livepatch_test"
#: violation fields that are human prose or spelling, not part of the defect (``type_name`` is
#: derived from ``type``)
PROSE_FIELDS = frozenset({"message", "type_name"})


@dataclass
class Replay:
    """The fresh verdict on a fixture and how it compares with the record."""

    path: Path
    record: FixtureRecord
    engine: str
    verdict: Verdict
    inputs: ReplayInputs
    #: the object as the engine left it (module_frob_arch_sections sorts RELA sections in place)
    ran: ElfObject

    @property
    def holds(self) -> bool:
        """The recorded invariant holds now."""
        return self.verdict.invariants[self.record.invariant].holds

    @property
    def first(self) -> dict[str, Any] | None:
        """The first violation of the recorded invariant now (as a dict), if any."""
        found = self.verdict.invariants[self.record.invariant].violations
        return found[0].to_dict() if found else None

    @property
    def module_base(self) -> int | None:
        """Where the engine put the module this time (its lowest section address)."""
        run = self.verdict.run
        return min((p.addr for p in run.placements), default=None) if run else None

    @property
    def differences(self) -> list[str]:
        """The fields in which the first violation differs from the recorded one (prose aside;
        ``addr`` compared relative to each run's module base, so an engine that puts the module
        elsewhere, as ``kernel:PATH`` does at a user address, differs only where it should)."""
        now, then = comparable(self.first) or {}, comparable(self.record.violation) or {}
        base_now, base_then = self.module_base, self.record.module_base()
        out = []
        for key in sorted(set(now) | set(then)):
            a, b = now.get(key), then.get(key)
            if key == "addr" and isinstance(a, int) and isinstance(b, int) \
                    and base_now is not None and base_then is not None:
                a, b = a - base_now, b - base_then
            if a != b:
                out.append(key)
        return out

    @property
    def same(self) -> bool:
        """The outcome equals the record: holds as recorded, and the same first violation."""
        if self.holds != self.record.holds:
            return False
        return self.holds or not self.differences

    @property
    def outcome(self) -> str:
        """``reproduces`` / ``reproduces, with a different first violation`` / ``no longer
        reproduces`` / ``violated (recorded as holding)``."""
        if self.holds:
            return "no longer reproduces"
        if self.record.holds:
            return "violated (recorded as holding)"
        return "reproduces" if self.same else "reproduces, with a different first violation"

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` document: outcome, what differs, and the fresh verdict in full."""
        return {"fixture": str(self.path), "invariant": self.record.invariant,
                "engine": self.engine, "recorded_engine": self.record.engine,
                "outcome": self.outcome, "state": self.verdict.invariants[
                    self.record.invariant].state,
                "differences": [] if self.holds or self.record.holds else self.differences,
                "recorded_violation": self.record.violation,
                "verdict": self.verdict.to_dict(details=True)}


def comparable(violation: dict[str, Any] | None) -> dict[str, Any] | None:
    """A violation dict without its prose fields."""
    if violation is None:
        return None
    return {k: v for k, v in violation.items() if k not in PROSE_FIELDS}


def replay(path: Path, engine: str | None = None) -> Replay:
    """Re-run the check a fixture records, on its engine or ``engine``."""
    path = fixture_paths(path)
    elf, record = load_fixture(path)
    inputs = replay_inputs(elf, record, str(path))
    name = engine or record.engine
    ran = inputs.obj.clone()
    verdict = check(ran, resolve_engine(name), inputs.world, cycles=inputs.cycles,
                    layout=inputs.layout, config=inputs.config, modname=MODNAME)
    return Replay(path, record, name, verdict, inputs, ran)


# -- command line ---------------------------------------------------------------------------------
def cmd_replay(args: argparse.Namespace) -> int:
    """Print whether the recorded violation reproduces (and what differs); exit 1 when it does,
    0 when it holds."""
    # imported here: rich (~0.2 s) only for the commands that print
    from rich.markup import escape

    from ppcreloc.report import console, emit_json

    path = fixture_paths(Path(args.fixture))
    if load_fixture(path)[1].invariant == "diff":  # two engines: shown side by side
        return cmd_replay_diff(path, args.engine)
    result = replay(path, args.engine)
    rec = result.record
    if args.json:
        emit_json(result.to_dict())
        return 0 if result.holds else 1
    con = console()
    subject = f"{result.path} ({rec.invariant} on {result.engine})"
    if result.holds:
        note = "as recorded" if rec.holds else f"recorded as violated on {rec.engine}"
        con.print(f"[green]no longer reproduces[/]: {escape(subject)}: the invariant holds "
                  f"({escape(note)})")
        return 0
    con.print(f"[red]{escape(result.outcome)}[/]: {escape(subject)}")
    if not rec.holds and not result.same:
        con.print(f"  differs from the recorded one in: {', '.join(result.differences)}")
        recorded = rec.violation or {}
        if recorded.get("message"):
            con.print(f"  recorded: {escape(str(recorded['message']))}")
    for v in result.verdict.invariants[rec.invariant].violations[:3]:
        con.print(escape(v.describe(result.verdict.byteorder)))
    return 1


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    """``ppcreloc replay FIXTURE.o [--engine NAME]``."""
    p = subparsers.add_parser(
        "replay",
        help="re-run the check a fixture recorded",
        description="Re-run the check recorded in FIXTURE.o's JSON sidecar (same symbol world, "
        "layout, config and cycles) on its engine or --engine. Exit 1 when the recorded "
        "violation reproduces, 0 when the invariant now holds, 2 for a bad fixture.",
    )
    p.add_argument("fixture", metavar="FIXTURE.o", help="fixture object (its .json beside it)")
    p.add_argument("--engine", metavar="NAME",
                   help="engine profile (see `ppcreloc profiles`) or kernel:PATH to replay on "
                   "(default: the recorded engine)")
    p.add_argument("--json", action="store_true",
                   help='print {"fixture", "invariant", "engine", "recorded_engine", "outcome", '
                   '"state", "differences", "recorded_violation", "verdict"} (the verdict with '
                   "every violation)")
    p.set_defaults(func=cmd_replay)
