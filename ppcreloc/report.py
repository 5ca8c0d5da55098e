"""Human and JSON output for verdicts: rich tables, violation details, one JSON document."""

from __future__ import annotations

import json
import sys
from typing import IO, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ppcreloc.oracle import INVARIANTS, State, Verdict

#: violations printed per invariant in human output (the rest are counted)
MAX_DETAILS = 5
#: how a result state (InvariantResult.state) reads in a table
STATE_MARKUP: dict[State, str] = {
    "holds": "[green]holds[/]",
    "violated": "[bold red]VIOLATED[/]",
    "not judged": "[yellow]not judged[/]",
}


def emit_json(data: Any, out: IO[str] | None = None) -> None:
    """Print ``data`` as one JSON document (2-space indent) followed by a newline."""
    stream = out or sys.stdout
    stream.write(json.dumps(data, indent=2) + "\n")


def console(out: IO[str] | None = None) -> Console:
    """A rich console on ``out`` (stdout by default); no colour when it is not a terminal."""
    return Console(file=out or sys.stdout, highlight=False, soft_wrap=True)


def verdict_table(verdict: Verdict, title: str) -> Table:
    """One row per invariant: name (never cut), holds / VIOLATED / not judged, message."""
    table = Table(title=title, title_justify="left")
    table.add_column("invariant", no_wrap=True)
    table.add_column("result", no_wrap=True)
    table.add_column("note", overflow="fold")
    for name in INVARIANTS:
        res = verdict.invariants[name]
        mark = STATE_MARKUP[res.state]
        table.add_row(name, mark, escape(res.message or ""))
    return table


def print_verdict(verdict: Verdict, subject: str, out: IO[str] | None = None) -> None:
    """The verdict table for one engine, then the details of each violation."""
    con = console(out)
    con.print(verdict_table(verdict, f"{subject} on engine {verdict.engine}"))
    if verdict.stubs is not None:
        con.print(escape(verdict.stubs.describe()))
    for name in INVARIANTS:
        violations = verdict.invariants[name].violations
        for v in violations[:MAX_DETAILS]:
            con.print(f"[bold]{name}[/]: " + escape(v.describe(verdict.byteorder)))
        if len(violations) > MAX_DETAILS:
            con.print(f"{name}: ... {len(violations) - MAX_DETAILS} more violation(s)")
