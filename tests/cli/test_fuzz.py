"""`ppcreloc fuzz`: seeded campaigns find the predicted defects and write minimal fixtures, repeat
exactly, hold on full-undo, share failures through a directory or Redis database, stop cleanly on
Ctrl-C, and reject bad input with one line."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from procs import children
from redis_server import redis_server

from ppcreloc import cli
from ppcreloc.campaign import STOP, Campaign, FuzzOptions, Outcome, batch_seed
from ppcreloc.fixtures import load_fixture
from ppcreloc.ppc64.reloctypes import BY_NAME

ROOT = Path(__file__).resolve().parents[2]


def _fuzz(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict]:
    rc = cli.main(["fuzz", *argv, "--json"])
    out = capsys.readouterr().out
    return rc, json.loads(out)


def _untimed(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if k not in ("elapsed_s", "examples_per_s")}


def _cmd(*argv: str) -> list[str]:
    return [sys.executable, "-m", "ppcreloc.cli", "fuzz", *argv]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def test_v61_campaign_finds_the_reload_failure_as_one_rel24(capsys, tmp_path: Path) -> None:
    rc, doc = _fuzz(capsys, "--engine", "v6.1", "--examples", "10", "--seed", "3",
                    "--fixtures", str(tmp_path))
    assert rc == 1
    assert doc["engine"] == "v6.1" and doc["examples"] == 10 and doc["replayed"] == 0
    found = {v["invariant"]: Path(v["fixture"]) for v in doc["violations"]}
    assert {"apply_clear_apply", "clear_restores"} <= set(found)
    path = found["apply_clear_apply"]
    assert path.parent == tmp_path / "v6.1" and path.name.startswith("apply_clear_apply-")
    elf, rec = load_fixture(path)
    assert rec.minimal and not rec.holds and rec.replay == "ppcreloc replay <this .o>"
    assert rec.seed == doc["seed"] == 3  # the seed the run printed, not a batch's derived one
    assert "Expected nop after call" in rec.violation["kernel_message"]
    assert rec.layout["world_spec"]["modules"] and rec.seed is not None
    from ppcreloc.elf.reader import read_elf

    relocs = [r for rs in read_elf(elf).relocs.values() for r in rs]
    assert [r.type for r in relocs] == [BY_NAME["R_PPC_REL24"].num]
    # only minimal fixtures are left behind: the unshrunk first failure was replaced
    assert sorted(p.name for p in tmp_path.rglob("*.o")) == sorted(p.name for p in found.values())
    # replay reproduces it, explain shows it
    assert cli.main(["replay", str(path)]) == 1
    assert "reproduces:" in capsys.readouterr().out
    assert cli.main(["explain", str(path)]) == 1
    shown = capsys.readouterr().out
    assert "R_PPC_REL24" in shown and "<- violation" in shown and "Expected nop" in shown


@pytest.mark.skipif(shutil.which("readelf") is None, reason="binutils readelf is not installed")
def test_fuzz_fixture_is_accepted_by_readelf(capsys, tmp_path: Path) -> None:
    _rc, doc = _fuzz(capsys, "--engine", "v6.1", "--examples", "2", "--seed", "3",
                     "--fixtures", str(tmp_path))
    for v in doc["violations"]:
        proc = subprocess.run(["readelf", "-W", "-a", v["fixture"]], capture_output=True,
                              text=True, timeout=60)
        assert proc.returncode == 0 and not proc.stderr, proc.stderr
        assert "R_PPC64_REL24" in proc.stdout and ".klp.rela.ext4" in proc.stdout


def test_same_seed_same_report_apart_from_timing(capsys, tmp_path: Path) -> None:
    argv = ("--engine", "v6.12", "--examples", "12", "--seed", "7")
    _, first = _fuzz(capsys, *argv, "--fixtures", str(tmp_path / "a"))
    _, second = _fuzz(capsys, *argv, "--fixtures", str(tmp_path / "a"))
    assert _untimed(first) == _untimed(second)
    assert {v["invariant"] for v in first["violations"]} == {"clear_restores", "reload_cycles"}
    _, other = _fuzz(capsys, *argv[:-1], "8", "--fixtures", str(tmp_path / "a"))
    assert other["seed"] == 8 and other["examples"] == 12


def test_full_undo_with_compiler_like_objects_finds_nothing(capsys, tmp_path: Path) -> None:
    rc, doc = _fuzz(capsys, "--engine", "full-undo", "--examples", "25", "--seed", "0",
                    "--fixtures", str(tmp_path))
    assert rc == 0 and doc["violations"] == [] and doc["examples"] == 25
    assert not list(tmp_path.rglob("*.o"))


def test_budget_runs_until_the_deadline(capsys, tmp_path: Path) -> None:
    start = time.monotonic()
    rc, doc = _fuzz(capsys, "--engine", "full-undo", "--budget", "2", "--fixtures",
                    str(tmp_path))
    assert rc == 0 and doc["examples"] > 0
    assert time.monotonic() - start >= 2 and doc["elapsed_s"] >= 2


def test_human_output_names_the_fixtures(capsys, tmp_path: Path) -> None:
    rc = cli.main(["fuzz", "--engine", "v6.1", "--examples", "3", "--seed", "1",
                   "--fixtures", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 1
    assert "fuzz v6.1: 3 examples" in out
    assert "apply_clear_apply violated" in out and str(tmp_path / "v6.1") in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--engine", "bogus"], "unknown engine 'bogus'"),
        (["--examples", "0"], "must be between 1"),
        (["--examples", "5", "--budget", "3"], "not allowed with argument"),
        (["--budget", "-1"], "must be greater than 0, got -1"),
        (["--budget", "0"], "must be greater than 0, got 0"),
        (["--budget", "1e9"], "must be at most 604800 seconds"),
        (["--jobs", "0"], "must be between 1"),
        (["--seed", "x"], "not an integer"),
        (["--placeholders", "weird"], "invalid choice"),
        (["--database", "ftp://host/x"], "unsupported database URL"),
        (["--database", "redis://127.0.0.1:1"], "cannot reach redis"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path: Path, argv, message) -> None:
    try:
        rc = cli.main(["fuzz", *argv, "--fixtures", str(tmp_path)])
    except SystemExit as exc:  # argparse errors
        rc = exc.code
    err = capsys.readouterr().err
    assert rc == 2
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_database_path_that_is_a_file_is_rejected(capsys, tmp_path: Path) -> None:
    (tmp_path / "db").write_text("x")
    assert cli.main(["fuzz", "--database", str(tmp_path / "db")]) == 2
    assert "not a directory" in capsys.readouterr().err


def test_interrupt_while_shrinking_keeps_the_unshrunk_failure(tmp_path: Path, monkeypatch) -> None:
    """Ctrl-C after the first failure, before shrinking ends: that case is already on disk."""
    written: list[bool] = []
    original = Campaign._write

    def write_then_stop(self, case, verdict, invariants, *, minimal):
        out = original(self, case, verdict, invariants, minimal=minimal)
        written.append(minimal)
        STOP.set()  # as the SIGINT handler does
        return out

    monkeypatch.setattr(Campaign, "_write", write_then_stop)
    opts = FuzzOptions(engine="v6.1", examples=10, seed=0, fixtures=str(tmp_path))
    try:
        outcome = Campaign(opts).run(10, None)
    finally:
        STOP.clear()
    assert written == [False] and outcome.interrupted
    (path,) = tmp_path.rglob("apply_clear_apply-*.o")
    _elf, rec = load_fixture(path)
    assert not rec.minimal and not rec.holds
    # and the report names it, marked as not shrunk
    assert {"invariant": "apply_clear_apply", "fixture": str(path), "from_database": False,
            "minimal": False} in outcome.violations()


def test_outcome_violations_deduplicate_and_prefer_generated() -> None:
    from ppcreloc.campaign import Found

    out = Outcome(found=[Found("reload_cycles", "b.o"), Found("apply", "a.o", True),
                         Found("apply", "a.o", False)])
    assert out.violations() == [
        {"invariant": "apply", "fixture": "a.o", "from_database": False, "minimal": True},
        {"invariant": "reload_cycles", "fixture": "b.o", "from_database": False, "minimal": True},
    ]
    assert batch_seed(0, 0, 0) != batch_seed(0, 0, 1) != batch_seed(0, 1, 0)


def test_jobs_share_a_directory_database(tmp_path: Path) -> None:
    db = tmp_path / "db"
    proc = subprocess.run(_cmd("--engine", "v6.1", "--examples", "4", "--seed", "5", "--jobs",
                               "2", "--database", str(db), "--fixtures", "fx", "--json"),
                          cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["examples"] == 4
    assert {"apply_clear_apply", "clear_restores"} <= {v["invariant"] for v in doc["violations"]}
    assert any(p.is_file() for p in db.rglob("*")), "no failure saved in the database"
    # a later single-job run replays the stored failure before generating anything
    again = subprocess.run(_cmd("--engine", "v6.1", "--examples", "1", "--seed", "6",
                                "--database", str(db), "--fixtures", "fx2", "--json"),
                           cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300)
    doc2 = json.loads(again.stdout)
    assert doc2["replayed"] >= 1 and all(v["from_database"] for v in doc2["violations"])


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    with redis_server(tmp_path) as (_server, url):
        yield url


def test_two_processes_share_a_failure_through_redis(redis_url: str, tmp_path: Path) -> None:
    first = subprocess.run(_cmd("--engine", "v6.12", "--examples", "5", "--seed", "1",
                                "--database", redis_url, "--fixtures", "a", "--json"),
                           cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300)
    assert first.returncode == 1, first.stderr
    found = {v["invariant"]: Path(v["fixture"]).name for v in json.loads(first.stdout)["violations"]}
    assert not any(v["from_database"] for v in json.loads(first.stdout)["violations"])
    second = subprocess.run(_cmd("--engine", "v6.12", "--examples", "1", "--seed", "2",
                                 "--database", redis_url, "--fixtures", "b", "--json"),
                            cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300)
    assert second.returncode == 1, second.stderr
    doc = json.loads(second.stdout)
    assert doc["replayed"] >= 1
    shared = {v["invariant"]: Path(v["fixture"]).name for v in doc["violations"]
              if v["from_database"]}
    assert shared == found  # the second replayed exactly what the first found, before generating
    # another engine's failures are in another namespace: nothing is replayed for full-undo
    third = subprocess.run(_cmd("--engine", "full-undo", "--examples", "1", "--seed", "2",
                                "--database", redis_url, "--fixtures", "c", "--json"),
                           cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300)
    assert third.returncode == 0 and json.loads(third.stdout)["replayed"] == 0


def _wait_for_a_fixture(fixtures: Path, timeout: float = 120) -> None:
    """Poll until the campaign has written a fixture sidecar (or ``timeout`` passes)."""
    deadline = time.monotonic() + timeout
    while not list(fixtures.rglob("*.json")) and time.monotonic() < deadline:
        time.sleep(0.2)


def test_sigint_stops_cleanly_with_fixtures_on_disk(tmp_path: Path) -> None:
    proc = subprocess.Popen(_cmd("--engine", "v6.12", "--budget", "300", "--fixtures", "fx",
                                 "--json"),
                            cwd=tmp_path, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_a_fixture(tmp_path / "fx")
        time.sleep(1.0)  # into the next batches
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert time.monotonic() - sent < 30
    assert proc.returncode == 1, err
    assert "Traceback" not in err and "interrupted after" in err
    assert len(err.strip().splitlines()) == 1
    doc = json.loads(out)
    assert doc["interrupted"] is True and doc["violations"]
    for v in doc["violations"]:
        assert (tmp_path / v["fixture"]).is_file()
        assert (tmp_path / v["fixture"]).with_suffix(".json").is_file()


def test_ci_campaign_fails_on_an_unpredicted_violation_and_a_missed_defect(tmp_path: Path) -> None:
    """scripts/ci-campaign.sh judges each profile's fuzz JSON against matrix.PREDICTED (a fake
    `ppcreloc` reports a full-undo violation and nothing for v6.1)."""
    fake = tmp_path / "ppcreloc"
    fake.write_text(
        "#!/bin/sh\n"
        'engine=$3\n'
        'if [ "$engine" = full-undo ]; then v=\'[{"invariant": "in_bounds", "fixture": "x.o", '
        '"from_database": false}]\'; rc=1; else v="[]"; rc=0; fi\n'
        'echo "{\\"engine\\": \\"$engine\\", \\"examples\\": 1, \\"violations\\": $v, '
        '\\"elapsed_s\\": 0.1}"\n'
        "exit $rc\n"
    )
    fake.chmod(0o755)
    proc = subprocess.run(["bash", str(ROOT / "scripts/ci-campaign.sh")], capture_output=True,
                          text=True, timeout=300,
                          env={**_env(), "PPCRELOC": str(fake), "PYTHON": sys.executable,
                               "CAMPAIGN_FIXTURES": str(tmp_path / "fx")})
    assert proc.returncode == 1
    assert "FAIL full-undo" in proc.stderr and "not predicted: in_bounds: x.o" in proc.stderr
    assert "FAIL v6.1" in proc.stderr and "predicted but not found: apply_clear_apply" in \
        proc.stderr


def test_progress_bar_on_a_terminal_only(capsys, tmp_path: Path, monkeypatch) -> None:
    argv = ["fuzz", "--engine", "full-undo", "--examples", "3", "--seed", "0", "--fixtures",
            str(tmp_path)]
    assert cli.main(argv) == 0
    assert capsys.readouterr().err == ""  # not a terminal: quiet
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert cli.main(argv) == 0
    err = capsys.readouterr().err
    assert "fuzz full-undo" in err and "3 examples, 0 invariant(s) violated" in err


def test_sigint_with_jobs_stops_every_worker(tmp_path: Path) -> None:
    proc = subprocess.Popen(_cmd("--engine", "v6.12", "--budget", "300", "--jobs", "2",
                                 "--database", "db", "--fixtures", "fx"),
                            cwd=tmp_path, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_a_fixture(tmp_path / "fx")
        workers = children(proc.pid)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1, err
    assert "Traceback" not in err and "interrupted after" in err
    for line in out.splitlines()[1:]:  # every fixture named is on disk
        assert line.split(": ")[-1].endswith(".o") and (tmp_path / line.split(": ")[-1]).is_file()
    assert len(workers) >= 2
    deadline = time.monotonic() + 10  # the resource tracker leaves once the parent is gone
    while [w for w in workers if _alive(w)] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [(w, _cmdline(w)) for w in workers if _alive(w)]


def _alive(pid: int) -> bool:
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
    except OSError:
        return ""


# -- the kernel's own module_64.c as the fuzz engine -------------------------------------------
KERNEL_TREE = Path("/usr/src/linux-source-6.12.tar.xz")


def test_kernel_engine_campaign_uses_one_child(monkeypatch, tmp_path: Path) -> None:
    """A seeded kernel:PATH campaign runs in one session (one child for every example) and
    finds, shrinks and writes the same minimal cases as the v6.12 profile it mirrors."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed (the kernel engine compiles module_64.c)")
    if not KERNEL_TREE.is_file():
        pytest.skip(f"{KERNEL_TREE} missing (apt-get install linux-source-6.12)")
    from ppcreloc.reference.kernel.engine import KernelSession

    starts: list[int] = []
    real_start = KernelSession._start

    def counting_start(self: KernelSession) -> subprocess.Popen[bytes]:
        starts.append(1)
        return real_start(self)

    monkeypatch.setattr(KernelSession, "_start", counting_start)
    found = {}
    for engine in (f"kernel:{KERNEL_TREE}", "v6.12"):
        outcome = Campaign(FuzzOptions(engine=engine, examples=20, seed=7,
                                       fixtures=str(tmp_path / engine.split("/")[-1]))).run(20, None)
        assert outcome.examples == 20 and not outcome.interrupted
        found[engine] = sorted(Path(f.fixture).name for f in outcome.found)
    assert len(starts) == 1  # not one child per example
    assert found[f"kernel:{KERNEL_TREE}"] == found["v6.12"]
    assert any(name.startswith("reload_cycles-") for name in found["v6.12"])
