"""ppcreloc.runtime: the runners raise the young GC threshold; importing ppcreloc does not."""

from __future__ import annotations

import gc
import subprocess
import sys

from ppcreloc.runtime import GC_THRESHOLD


def _threshold_after(code: str) -> str:
    run = subprocess.run([sys.executable, "-c", f"import gc\n{code}\nprint(gc.get_threshold())"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return run.stdout.strip().splitlines()[-1]


def test_the_test_suite_runs_with_the_runner_threshold() -> None:
    assert gc.get_threshold() == GC_THRESHOLD


def test_the_cli_sets_it_and_importing_the_library_does_not() -> None:
    default = _threshold_after("pass")
    assert default != str(GC_THRESHOLD)
    assert _threshold_after("import ppcreloc.oracle, ppcreloc.engines") == default
    assert _threshold_after("from ppcreloc.cli import main\nmain(['profiles'])") == str(GC_THRESHOLD)
