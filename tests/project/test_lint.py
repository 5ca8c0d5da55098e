"""The code standards, checked: ruff clean, and mypy clean over the package, the strategies and
the references (the configuration is pyproject.toml's [tool.ruff] and [tool.mypy])."""

from __future__ import annotations

import gc
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_ruff_is_clean() -> None:
    run = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "."], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr


def test_mypy_is_clean(monkeypatch: pytest.MonkeyPatch) -> None:
    from mypy import api

    monkeypatch.chdir(ROOT)  # [tool.mypy] files are relative to the repository
    # the repository's own configuration; no cache, so a stale one cannot hide an error
    threshold = gc.get_threshold()
    try:
        out, err, status = api.run(["--config-file", str(ROOT / "pyproject.toml"),
                                    "--no-incremental", "--cache-dir", "/dev/null"])
    finally:
        gc.set_threshold(*threshold)  # mypy retunes the collector of the process it runs in
    assert status == 0, out + err
