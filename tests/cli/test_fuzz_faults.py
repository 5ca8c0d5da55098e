"""Campaign faults: SIGINT/SIGTERM with --jobs 2, a worker killed with SIGKILL, two campaigns on
one fixture directory, a full disk, and the example database going away or holding huge entries.
Each test fails without the fix it covers (ppcreloc.fuzz and ppcreloc.fixtures)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from procs import children
from redis_server import redis_server as start_redis

from ppcreloc.fixtures import FixtureRecord, iter_fixtures, load_fixture, write_fixture

ROOT = Path(__file__).resolve().parents[2]


def _cmd(*argv: str) -> list[str]:
    return [sys.executable, "-m", "ppcreloc.cli", "fuzz", *argv]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def _start(cwd: Path, *argv: str) -> subprocess.Popen[str]:
    return subprocess.Popen(_cmd(*argv), cwd=cwd, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen[str], timeout: float = 120) -> tuple[str, str]:
    try:
        return proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _reap(pids: list[int]) -> None:
    """Kill worker processes a failed test left behind (an orphan would fuzz on for minutes)."""
    for pid in pids:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


def _wait_for(predicate: object, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.1)
    assert predicate(), "timed out"  # type: ignore[operator]


def _workers(pid: int) -> list[int]:
    """The campaign's worker processes (spawned children running multiprocessing's main)."""
    return [c for c in children(pid) if "spawn_main" in _cmdline(c)]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


def assert_fixture_dir_whole(directory: Path) -> list[Path]:
    """Every `.o` has a loadable sidecar and vice versa, and no temporary file is left."""
    objs = sorted(directory.rglob("*.o"))
    sidecars = sorted(directory.rglob("*.json"))
    assert [p.with_suffix(".json") for p in objs] == sidecars
    for path in objs:
        load_fixture(path)  # raises on a torn or half-written file
    leftovers = [p for p in directory.rglob(".*") if p.is_file()]
    assert not leftovers, leftovers
    return objs


# -- signals --------------------------------------------------------------------------------------
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_with_jobs_stops_every_worker_and_keeps_every_finding(tmp_path: Path,
                                                                     sig: int) -> None:
    proc = _start(tmp_path, "--engine", "v6.12", "--budget", "300", "--jobs", "2", "--database",
                  "db", "--fixtures", "fx", "--json")
    workers: list[int] = []
    try:
        _wait_for(lambda: list((tmp_path / "fx").rglob("*.json")))
        workers = _workers(proc.pid)
        proc.send_signal(sig)
        out, err = _finish(proc, 60)
        assert len(workers) == 2
        _wait_for(lambda: not [w for w in workers if _alive(w)], 10)
    finally:
        if proc.poll() is None:
            proc.kill()
        _reap(workers)
    assert proc.returncode in (1, 130), err
    assert "Traceback" not in err and "interrupted after" in err
    doc = json.loads(out)
    assert doc["interrupted"] is True
    objs = assert_fixture_dir_whole(tmp_path / "fx")
    assert {tmp_path / v["fixture"] for v in doc["violations"]} <= set(objs)


# -- a worker killed ------------------------------------------------------------------------------
def test_kill_9_of_a_worker_is_reported_and_the_campaign_goes_on(tmp_path: Path) -> None:
    proc = _start(tmp_path, "--engine", "v6.12", "--budget", "300", "--jobs", "2", "--database",
                  "db", "--fixtures", "fx", "--json")
    workers: list[int] = []
    try:
        _wait_for(lambda: len(_workers(proc.pid)) == 2)
        workers = _workers(proc.pid)
        victim, survivor = workers
        _wait_for(lambda: list((tmp_path / "fx").rglob("*.json")))
        os.kill(victim, signal.SIGKILL)
        time.sleep(3)
        assert proc.poll() is None and _alive(survivor)  # the campaign goes on
        proc.send_signal(signal.SIGINT)
        out, err = _finish(proc, 60)
    finally:
        if proc.poll() is None:
            proc.kill()
        _reap(workers)
    assert proc.returncode == 1, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if "died" in line]
    assert len(lines) == 1 and "(killed by signal 9)" in lines[0], err
    doc = json.loads(out)
    assert len(doc["lost_workers"]) == 1 and "killed by signal 9" in doc["lost_workers"][0]
    assert doc["violations"] and doc["examples"] > 0
    for v in doc["violations"]:
        assert (tmp_path / v["fixture"]).is_file()


def test_kill_9_of_a_worker_with_nothing_found_is_a_tool_error(tmp_path: Path) -> None:
    """Without a finding the lost worker's share has no verdict: exit 3, not a clean 0."""
    proc = _start(tmp_path, "--engine", "full-undo", "--examples", "300", "--jobs", "2",
                  "--database", "db", "--fixtures", "fx", "--json")
    workers: list[int] = []
    try:
        _wait_for(lambda: len(_workers(proc.pid)) == 2)
        workers = _workers(proc.pid)
        time.sleep(1)
        os.kill(workers[0], signal.SIGKILL)
        out, err = _finish(proc, 300)
    finally:
        if proc.poll() is None:
            proc.kill()
        _reap(workers)
    assert proc.returncode == 3, err
    assert "Traceback" not in err
    assert re.fullmatch(r"ppcreloc: tool error \(fault\): worker [01]: killed by signal 9; "
                        r"no violation found by the others", err.splitlines()[-1]), err
    doc = json.loads(out)
    assert doc["violations"] == [] and len(doc["lost_workers"]) == 1


# -- two campaigns, one directory -----------------------------------------------------------------
def test_two_campaigns_write_one_fixture_directory(tmp_path: Path) -> None:
    argv = ("--engine", "v6.1", "--examples", "20", "--seed", "3", "--fixtures", "fx", "--json")
    procs = [_start(tmp_path, *argv) for _ in range(2)]
    docs = []
    for proc in procs:
        out, err = _finish(proc, 300)
        assert proc.returncode == 1, err
        docs.append(json.loads(out))
    objs = assert_fixture_dir_whole(tmp_path / "fx")
    named = {tmp_path / v["fixture"] for d in docs for v in d["violations"]}
    # same seed, same cases: the same fixtures, stored once, and nothing else left behind
    assert [v["fixture"] for v in docs[0]["violations"]] == \
        [v["fixture"] for v in docs[1]["violations"]]
    assert set(objs) == named


def test_concurrent_writers_never_show_a_torn_sidecar(tmp_path: Path) -> None:
    """Writers storing one fixture with different sidecars while a reader loads it: every read
    sees one whole sidecar (write_fixture writes a temporary file and renames it)."""
    elf = b"\x7fELF" + bytes(60)
    base = FixtureRecord(engine="v6.12", invariant="apply", holds=False, violation=None,
                         world="x" * 200_000, layout={}, cycles=1)
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        i = 0
        while not stop.is_set():
            i += 1
            write_fixture(tmp_path, elf, FixtureRecord(**{**base.__dict__, "seed": n * 10**6 + i,
                                                          "world": "y" * (i % 7 * 50_000)}))

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    reads = 0
    try:
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            paths = iter_fixtures(tmp_path)
            if not paths:
                continue
            try:
                _elf, rec = load_fixture(paths[0])
                reads += 1
                assert rec.engine == "v6.12" and rec.seed is not None
            except BaseException as exc:  # noqa: BLE001 - collected and reported below
                errors.append(exc)
                break
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors, errors[0]
    assert reads > 10
    assert_fixture_dir_whole(tmp_path)


# -- a full disk ----------------------------------------------------------------------------------
@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs the suite as root)")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _fill(mnt: Path, leave_pages: int) -> None:
    """Fill ``mnt`` but ``leave_pages`` 4 KiB pages."""
    filler = mnt / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, bytes(4096)) == 4096:
            pass
    except OSError:
        pass
    finally:
        os.close(fd)
    size = filler.stat().st_size
    os.truncate(filler, max(0, size - leave_pages * 4096))


def test_full_disk_is_one_error_and_keeps_what_was_written(small_tmpfs: Path,
                                                           tmp_path: Path) -> None:
    _fill(small_tmpfs, 6)
    fx = small_tmpfs / "fx"
    proc = subprocess.run(_cmd("--engine", "v6.12", "--examples", "200", "--seed", "7",
                               "--placeholders", "adversarial", "--fixtures", str(fx), "--json"),
                          cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("ppcreloc: error: cannot write fixture ")
    assert "No space left on device" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.splitlines()) == 1, proc.stderr
    kept = assert_fixture_dir_whole(fx)
    assert kept, "nothing was written before the disk filled"


# -- the example database -------------------------------------------------------------------------
@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    with start_redis(tmp_path) as running:
        yield running


def test_redis_going_away_mid_campaign_keeps_findings_with_one_warning(
        redis_server: tuple[subprocess.Popen[bytes], str], tmp_path: Path, capsys) -> None:
    """The server is killed at the first example, so every failure the campaign then finds
    (and saves) meets a dead database: one warning, the campaign finishes, fixtures on disk."""
    from ppcreloc.campaign import Campaign, FuzzOptions

    server, url = redis_server

    def kill_server(_n: int) -> None:
        if server.poll() is None:
            server.kill()
            server.wait(timeout=10)

    opts = FuzzOptions(engine="v6.1", examples=30, seed=3, fixtures=str(tmp_path / "fx"),
                       database=url)
    outcome = Campaign(opts, on_examples=kill_server).run(30, None)
    assert server.poll() is not None and outcome.examples == 30 and not outcome.interrupted
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if "warning:" in line]
    assert len(warnings) == 1 and "example database unavailable" in warnings[0], err
    assert {"apply_clear_apply", "clear_restores"} <= {f.invariant for f in outcome.found}
    objs = assert_fixture_dir_whole(tmp_path / "fx")
    assert {Path(f.fixture) for f in outcome.found} == set(objs)


def test_huge_database_entries_are_skipped_before_reading(
        redis_server: tuple[subprocess.Popen[bytes], str], capsys, tmp_path: Path) -> None:
    import redis
    from hypothesis.database import InMemoryExampleDatabase
    from hypothesis.extra.redis import RedisExampleDatabase

    from ppcreloc.databases import MAX_DB_ENTRY, namespaced

    mem = InMemoryExampleDatabase()
    db = namespaced(mem, "p:")
    db.save(b"k", b"small")
    db.save(b"k", b"x" * (MAX_DB_ENTRY + 1))
    assert list(db.fetch(b"k")) == [b"small"]
    from hypothesis.database import DirectoryBasedExampleDatabase

    ddb = DirectoryBasedExampleDatabase(tmp_path / "db")
    on_disk = namespaced(ddb, "p:")
    on_disk.save(b"k", b"z" * (MAX_DB_ENTRY + 1))
    ddb.fetch = lambda key: pytest.fail("read a huge entry")  # type: ignore[method-assign]
    assert list(on_disk.fetch(b"k")) == []
    _server, url = redis_server
    client = redis.Redis.from_url(url)
    rdb = RedisExampleDatabase(client)
    huge = namespaced(rdb, "p:")
    huge.save(b"k", b"y" * (5 * MAX_DB_ENTRY))
    fetched: list[bytes] = []
    real_fetch = rdb.fetch
    rdb.fetch = lambda key: fetched.append(key) or real_fetch(key)  # type: ignore[method-assign]
    assert list(huge.fetch(b"k")) == [] and fetched == []  # never read
    err = capsys.readouterr().err
    assert err.count("skipped example database entries larger than") == 3  # once per database
