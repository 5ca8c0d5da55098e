"""`--jobs auto` (the default of fuzz and diff): every usable core, at most one worker per
JOB_MIN_EXAMPLES examples; the reports say how many ran, and a seeded run with the same --jobs
repeats exactly."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import pytest
from cli_run import run

from ppcreloc import cli, jobs
from ppcreloc.jobs import JOB_MIN_EXAMPLES, MAX_JOBS, auto_jobs, jobs_argument, share


@pytest.fixture
def cores(monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    """Pretend this process may run on ``n`` cores."""

    def set_cores(n: int) -> None:
        monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(n)), raising=False)

    return set_cores


def test_auto_uses_every_usable_core_for_a_budget(cores) -> None:
    cores(1)
    assert auto_jobs(None) == 1
    cores(6)
    assert auto_jobs(None) == 6
    cores(500)
    assert auto_jobs(None) == MAX_JOBS


def test_auto_gives_each_worker_at_least_the_minimum_share(cores) -> None:
    cores(8)
    assert auto_jobs(100) == 1  # the default --examples: one process, as before
    assert auto_jobs(JOB_MIN_EXAMPLES - 1) == 1
    assert auto_jobs(2 * JOB_MIN_EXAMPLES) == 2
    assert auto_jobs(2 * JOB_MIN_EXAMPLES + 1) == 2
    assert auto_jobs(100 * JOB_MIN_EXAMPLES) == 8
    cores(1)
    assert auto_jobs(100 * JOB_MIN_EXAMPLES) == 1


def test_shares_add_up() -> None:
    for total in (1, 7, 1000, 1001):
        for n in (1, 2, 3, 64):
            parts = [share(total, n, i) for i in range(n)]
            assert sum(p or 0 for p in parts) == total
            assert max(parts) - min(parts) <= 1  # type: ignore[operator]
    assert share(None, 4, 0) is None


def test_jobs_argument() -> None:
    assert jobs_argument("auto") is None and jobs_argument("AUTO") is None
    assert jobs_argument("3") == 3
    for bad in ("0", "65", "-1", "two", ""):
        with pytest.raises(argparse.ArgumentTypeError):
            jobs_argument(bad)


def test_a_bad_jobs_value_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    for command in (["fuzz"], ["diff", "--engine", "v6.12", "--against", "v6.1"]):
        with pytest.raises(SystemExit) as exc:
            cli.main([*command, "--jobs", "lots"])
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert "not a number of jobs or 'auto': 'lots'" in err and "Traceback" not in err


def _fuzz(cwd: Path, *argv: str) -> dict:
    proc = run("fuzz", *argv, "--json", cwd=cwd)
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads(proc.stdout)


def test_default_fuzz_runs_one_worker_per_core_and_reports_it(tmp_path: Path) -> None:
    """``fuzz --examples 1000`` without --jobs: auto's count ran (two workers on a 2-core CI
    machine), every example was run and the report names the worker count."""
    doc = _fuzz(tmp_path, "--engine", "full-undo", "--examples", str(2 * JOB_MIN_EXAMPLES),
                "--seed", "2")
    assert doc["jobs"] == jobs.auto_jobs(2 * JOB_MIN_EXAMPLES)
    assert doc["examples"] == 2 * JOB_MIN_EXAMPLES and doc["violations"] == []
    small = _fuzz(tmp_path, "--engine", "full-undo", "--examples", "20", "--seed", "2")
    assert small["jobs"] == 1


def test_a_seeded_run_repeats_with_the_same_jobs(tmp_path: Path) -> None:
    """Two workers, same seed, two fresh directories: the same report (timings aside)."""
    docs = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        doc = _fuzz(tmp_path / name, "--engine", "v6.12", "--examples", "300", "--seed", "9",
                    "--jobs", "2", "--fixtures", "fx")
        docs.append({k: v for k, v in doc.items() if k not in ("elapsed_s", "examples_per_s")})
    assert docs[0] == docs[1]
    assert docs[0]["jobs"] == 2 and docs[0]["violations"]
