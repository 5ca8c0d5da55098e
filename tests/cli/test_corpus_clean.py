"""A user's campaign never touches the committed corpus: the quick start's `matrix` and a default
`fuzz` write to the untracked ./ppcreloc-fixtures/, print where, record the seed they printed,
build the same sidecar for the same case, and only `ppcreloc promote` copies into tests/fixtures."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ppcreloc import cli
from ppcreloc.fixtures import iter_fixtures, load_fixture

ROOT = Path(__file__).resolve().parents[2]
GIT = shutil.which("git")


def _ppcreloc(cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "ppcreloc.cli", *argv], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def _git(cwd: Path, *argv: str) -> str:
    assert GIT is not None
    return subprocess.run([GIT, "-c", "user.name=t", "-c", "user.email=t@t", *argv], cwd=cwd,
                          check=True, capture_output=True, text=True).stdout


@pytest.mark.skipif(GIT is None, reason="git is not installed (the test reads `git status`)")
def test_quick_start_and_default_fuzz_leave_git_status_clean(tmp_path: Path) -> None:
    """The README's quick start and a default `fuzz --budget 5`, run in a copy of the tracked
    corpus, leave `git status --porcelain` empty; their fixtures are under ppcreloc-fixtures/."""
    work = tmp_path / "clone"
    shutil.copytree(ROOT / "tests" / "fixtures", work / "tests" / "fixtures")
    shutil.copy(ROOT / ".gitignore", work / ".gitignore")
    _git(work, "init", "-q")
    _git(work, "add", "-A")
    _git(work, "commit", "-qm", "corpus")
    quick = _ppcreloc(work, "matrix", "--examples", "200", "--seed", "0")
    assert quick.returncode == 0, quick.stdout + quick.stderr  # every cell as predicted
    assert "fixtures in ppcreloc-fixtures" in quick.stdout
    assert quick.stdout.startswith("ppcreloc matrix (seed 0)")  # the seed its sidecars record
    fuzz = _ppcreloc(work, "fuzz", "--budget", "5", "--json")
    assert fuzz.returncode == 1, fuzz.stderr  # v6.12's predicted defects
    doc = json.loads(fuzz.stdout)
    assert doc["fixtures_dir"] == "ppcreloc-fixtures"
    assert all(v["fixture"].startswith("ppcreloc-fixtures/") for v in doc["violations"])
    assert _git(work, "status", "--porcelain") == ""
    written = iter_fixtures(work / "ppcreloc-fixtures")
    assert written
    for path in written:
        if "v6.12" in path.parts and load_fixture(path)[1].seed == doc["seed"]:
            break
    else:
        pytest.fail("no v6.12 fixture records the seed the fuzz run printed")


def test_matrix_and_fuzz_write_the_same_sidecar_for_the_same_case(capsys, tmp_path: Path) -> None:
    """One builder: the same minimal case, found by matrix and by fuzz with the same seed, gives
    byte-identical `.o` and sidecar files."""
    m_dir, f_dir = tmp_path / "m", tmp_path / "f"
    assert cli.main(["matrix", "--examples", "20", "--seed", "4", "--engine", "v6.12",
                     "--fixtures", str(m_dir), "--json"]) == 0
    cells = json.loads(capsys.readouterr().out)
    assert cli.main(["fuzz", "--examples", "20", "--seed", "4", "--engine", "v6.12",
                     "--fixtures", str(f_dir), "--json"]) == 1
    capsys.readouterr()
    m_files = {p.relative_to(m_dir): p for p in iter_fixtures(m_dir)}
    f_files = {p.relative_to(f_dir): p for p in iter_fixtures(f_dir)}
    common = set(m_files) & set(f_files)
    assert common, (sorted(m_files), sorted(f_files))
    for rel in common:
        for suffix in (".o", ".json"):
            assert m_files[rel].with_suffix(suffix).read_bytes() == \
                f_files[rel].with_suffix(suffix).read_bytes(), rel
        assert load_fixture(m_files[rel])[1].seed == cells["seed"] == 4


def test_promote_copies_fixture_and_sidecar_unchanged(capsys, tmp_path: Path) -> None:
    found = tmp_path / "found"
    assert cli.main(["matrix", "--examples", "10", "--seed", "0", "--engine", "v6.1",
                     "--fixtures", str(found)]) == 0
    capsys.readouterr()
    (fixture, *_) = iter_fixtures(found)
    corpus = tmp_path / "corpus"
    assert cli.main(["promote", str(fixture.with_suffix(".json")), "--to", str(corpus)]) == 0
    dest = corpus / "v6.1" / fixture.name
    assert f"-> {dest}" in capsys.readouterr().out
    assert dest.read_bytes() == fixture.read_bytes()
    assert dest.with_suffix(".json").read_bytes() == fixture.with_suffix(".json").read_bytes()
    assert cli.main(["replay", str(dest)]) == 1  # the promoted copy still reproduces
    capsys.readouterr()


def test_promote_bad_fixture_is_one_line_exit_2(capsys, tmp_path: Path) -> None:
    bad = tmp_path / "x.o"
    bad.write_bytes(b"\x7fELF")
    assert cli.main(["promote", str(bad), "--to", str(tmp_path / "corpus")]) == 2
    err = capsys.readouterr().err
    assert "sidecar" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "corpus").exists()
