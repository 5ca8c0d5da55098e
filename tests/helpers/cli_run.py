"""The console entry point run as a user runs it, and the one-line error check every bad-input
test uses (exit 2, no traceback, one line on stderr)."""

from __future__ import annotations

import os
import subprocess
import sys


def run(*argv: str, cwd: str | os.PathLike[str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real console entry point in a subprocess (in ``cwd``, default the current one)."""
    return subprocess.run(
        [sys.executable, "-m", "ppcreloc.cli", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
        cwd=cwd,
    )


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]
