"""`ppcreloc fuzz`: a Hypothesis campaign against one engine, for a number of examples or seconds.

Hypothesis has no wall-clock budget, so the campaign loops from outside: it runs ``@given``
batches of :data:`BATCH` examples (each with its own seed derived from ``--seed``, the worker and
the batch number) until the example count or the deadline is reached. Within a batch a case is a
*new* failure when it violates an invariant no earlier batch has found; the batch stops at the
first new failure, Hypothesis shrinks it, and the final replay of the minimal case
(``current_build_context().is_final``) writes one fixture per newly violated invariant. So every
violated invariant ends up with a minimal `.o`, and later batches keep hunting for the others.

Every failure is on disk as soon as it is seen: the first failing case of a batch is stored
(``minimal: false``) before shrinking starts and replaced by the minimal one once shrinking ends,
so Ctrl-C loses nothing found so far.

The example database: ``--database PATH`` (a directory, safe for several processes) or
``--database redis://HOST:PORT[/DB]`` (hypothesis.extra.redis, shared between machines). Before
generating, a campaign replays every stored failure once (reported with ``from_database``);
generated batches do not read the database, only save to it, so a seeded ``--examples`` run is
deterministic whatever the database holds apart from those replays. Keys are namespaced by
engine, placeholders and cycles. Without ``--database``, ``--jobs`` > 1 shares the directory
database :data:`DEFAULT_DATABASE`; a single job uses none.

An engine that is a context manager (``kernel:PATH``: KernelEngine's session mode) is entered
for the whole campaign, so each worker process keeps one kernel child for all its examples
instead of starting one per example.

Exit codes: 0 no violation found, 1 violations found (fixtures written), 2 bad input, 3 the
tool failed on a case (ToolError: a kernel engine child hung or died; the campaign stops),
130 interrupted with nothing found.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import queue as queue_mod
import random
import signal
import sys
import threading
import time
import unittest
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from ppcreloc.errors import ToolError, UsageError
from ppcreloc.fixtures import DEFAULT_DIR
from ppcreloc.oracle import DEFAULT_CYCLES, INVARIANTS

if TYPE_CHECKING:
    from hypothesis import settings as Settings
    from hypothesis.database import ExampleDatabase

    from ppcreloc.oracle import Verdict
    from strategies import Case

#: examples per Hypothesis run; small, so a --budget deadline is checked often
BATCH = 10
DEFAULT_ENGINE = "v6.12"
DEFAULT_DATABASE = Path(".hypothesis/ppcreloc-fuzz")
EXIT_OK, EXIT_VIOLATED, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130
MAX_JOBS = 64


@dataclass(frozen=True)
class FuzzOptions:
    """One campaign: exactly one of ``examples`` and ``budget`` is set."""

    engine: str = DEFAULT_ENGINE
    examples: int | None = 100
    budget: float | None = None
    seed: int | None = None
    fixtures: str = str(DEFAULT_DIR)
    placeholders: str = "compiler"
    jobs: int = 1
    database: str | None = None
    cycles: int = DEFAULT_CYCLES
    batch: int = BATCH
    #: boundary objects in the mix (strategies.campaign): off, inside (accepted values), all
    boundaries: str = "inside"
    #: a directory of livepatch objects (ppcreloc livepatchify) whose sub-objects join the mix
    seed_objects: str | None = None


@dataclass
class Found:
    """One violated invariant and its fixture."""

    invariant: str
    fixture: str
    from_database: bool = False
    #: False for a case stored when the campaign was interrupted before shrinking finished
    minimal: bool = True


@dataclass
class Outcome:
    """What a campaign (or one worker) did."""

    examples: int = 0
    replayed: int = 0
    found: list[Found] = field(default_factory=list)
    interrupted: bool = False

    def merge(self, other: Outcome) -> None:
        """Add another worker's outcome."""
        self.examples += other.examples
        self.replayed += other.replayed
        self.found += other.found
        self.interrupted |= other.interrupted

    def violations(self) -> list[dict[str, Any]]:
        """``[{"invariant", "fixture", "from_database", "minimal"}]``, deduplicated, in
        invariant order."""
        seen: dict[tuple[str, str], Found] = {}
        for f in self.found:
            key = (f.invariant, f.fixture)
            if key not in seen or (seen[key].from_database and not f.from_database):
                seen[key] = f
        order = {inv: i for i, inv in enumerate(INVARIANTS)}
        rows = sorted(seen.values(), key=lambda f: (order.get(f.invariant, 99), f.fixture))
        return [asdict(f) for f in rows]


#: set by the first SIGINT: the campaign stops at the next example (see :func:`stop_on_sigint`)
STOP = threading.Event()


@contextmanager
def stop_on_sigint() -> Iterator[None]:
    """Turn the first SIGINT into :data:`STOP` (a second one raises KeyboardInterrupt at once).

    A KeyboardInterrupt raised by Python's default handler can land inside a gc callback, where
    it is printed and ignored; checking a flag between examples always stops the campaign.
    """
    def handler(signum: int, frame: Any) -> None:
        if STOP.is_set():
            raise KeyboardInterrupt
        STOP.set()

    STOP.clear()
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class _Found(Exception):
    """Raised inside a batch for a case violating new invariants (one subclass per set)."""

    invariants: tuple[str, ...] = ()


_BUG_CLASSES: dict[tuple[str, ...], type[_Found]] = {}


def _bug_class(invariants: tuple[str, ...]) -> type[_Found]:
    """The exception type for one set of newly violated invariants (Hypothesis tells distinct
    failures apart by type, so each set is shrunk and reported on its own)."""
    if invariants not in _BUG_CLASSES:
        name = "Violated_" + "__".join(invariants)
        _BUG_CLASSES[invariants] = type(name, (_Found,), {"invariants": invariants})
    return _BUG_CLASSES[invariants]


class _ToolStop(BaseException):
    """Carries a ToolError out of a batch: not an Exception, so Hypothesis neither shrinks nor
    replays it (a hung kernel child would cost its time limit on every shrink step)."""

    def __init__(self, error: ToolError) -> None:
        super().__init__(str(error))
        self.error = error


# -- the example database -------------------------------------------------------------------------
def open_database(spec: str | None) -> ExampleDatabase | None:
    """A Hypothesis ExampleDatabase for ``--database`` (None: no database).

    ``redis://HOST:PORT[/DB]`` -> RedisExampleDatabase (the server must answer a ping);
    anything else is a directory path -> DirectoryBasedExampleDatabase.
    """
    if spec is None:
        return None
    if "://" in spec:
        url = urlparse(spec)
        if url.scheme != "redis":
            raise UsageError(f"unsupported database URL {spec!r} (use redis://HOST:PORT or a path)")
        return _redis_database(url.hostname or "127.0.0.1", url.port or 6379,
                               url.path.strip("/") or "0", spec)
    from hypothesis.database import DirectoryBasedExampleDatabase

    path = Path(spec)
    if path.exists() and not path.is_dir():
        raise UsageError(f"database path {spec} exists and is not a directory")
    return DirectoryBasedExampleDatabase(path)


def _redis_database(host: str, port: int, db: str, spec: str) -> ExampleDatabase:
    try:
        import redis
        from hypothesis.extra.redis import RedisExampleDatabase
    except ImportError as exc:
        raise UsageError(f"redis database needs the redis package ({exc})") from None
    if not db.isdigit():
        raise UsageError(f"bad redis database number in {spec!r}")
    client = redis.Redis(host=host, port=port, db=int(db), socket_connect_timeout=5,
                         socket_timeout=30)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise UsageError(f"cannot reach redis at {host}:{port}: {exc}") from None
    return RedisExampleDatabase(client)


def namespaced(db: ExampleDatabase, prefix: str) -> ExampleDatabase:
    """``db`` with every key prefixed (so engines and settings do not share failures)."""
    from hypothesis.database import ExampleDatabase

    class Namespaced(ExampleDatabase):
        def __init__(self) -> None:
            super().__init__()
            self.inner, self.prefix = db, prefix.encode()

        def fetch(self, key: bytes) -> Iterable[bytes]:
            return self.inner.fetch(self.prefix + key)

        def save(self, key: bytes, value: bytes) -> None:
            self.inner.save(self.prefix + key, value)

        def delete(self, key: bytes, value: bytes) -> None:
            self.inner.delete(self.prefix + key, value)

        def move(self, src: bytes, dest: bytes, value: bytes) -> None:
            self.inner.move(self.prefix + src, self.prefix + dest, value)

    return Namespaced()


# -- one worker -----------------------------------------------------------------------------------
def batch_seed(seed: int, worker: int, batch: int) -> int:
    """The Hypothesis seed of one batch (a stable mix of campaign seed, worker and batch)."""
    import hashlib

    text = f"ppcreloc-fuzz:{seed}:{worker}:{batch}".encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little")


class Campaign:
    """One worker's loop of batches; ``on_examples(n)`` is told of every n examples run."""

    def __init__(self, opts: FuzzOptions, worker: int = 0,
                 on_examples: Callable[[int], None] | None = None,
                 on_found: Callable[[Found], None] | None = None) -> None:
        from ppcreloc.replay import resolve_engine
        from strategies.campaign import campaign_objects

        self.opts, self.worker = opts, worker
        self.engine = resolve_engine(opts.engine)
        self.strategy = campaign_objects(placeholders=opts.placeholders,
                                         boundaries=opts.boundaries,
                                         seed_objects=opts.seed_objects)
        db = open_database(opts.database)
        if db is None and opts.jobs > 1:
            db = open_database(str(DEFAULT_DATABASE))
        self.db = None if db is None else namespaced(
            db, f"ppcreloc-fuzz:{self.engine.name}:{opts.placeholders}:{opts.cycles}:")
        self.seed = opts.seed if opts.seed is not None else random.SystemRandom().getrandbits(63)
        self.known: set[str] = set()
        self.outcome = Outcome()
        self.on_examples = on_examples or (lambda _n: None)
        self.on_found = on_found or (lambda _f: None)

    # -- loop ----------------------------------------------------------------------------------
    def session(self) -> AbstractContextManager[object]:
        """The engine itself when it is a context manager (one kernel child for the campaign),
        else a no-op."""
        engine: Any = self.engine
        if hasattr(engine, "__enter__") and hasattr(engine, "__exit__"):
            return engine
        return nullcontext()

    def run(self, examples: int | None, deadline: float | None) -> Outcome:
        """Replay the database, then batches until ``examples`` or ``deadline`` (monotonic),
        all inside the engine's session (:meth:`session`)."""
        with self.session():
            return self._run(examples, deadline)

    def _run(self, examples: int | None, deadline: float | None) -> Outcome:
        try:
            if self.db is not None and not STOP.is_set():
                self._batch(batch_seed(self.seed, self.worker, -1), None, from_db=True)
            number = 0
            while not STOP.is_set():
                if examples is not None:
                    left = examples - self.outcome.examples
                    if left <= 0:
                        break
                    size = min(self.opts.batch, left)
                else:
                    if deadline is None or time.monotonic() >= deadline:
                        break
                    size = self.opts.batch
                before = self.outcome.examples
                self._batch(batch_seed(self.seed, self.worker, number), size, from_db=False)
                number += 1
                if self.outcome.examples == before:  # nothing left to generate
                    break
        except KeyboardInterrupt:
            STOP.set()
        self.outcome.interrupted = STOP.is_set()
        return self.outcome

    def _settings(self, size: int | None, from_db: bool) -> Settings:
        from hypothesis import HealthCheck, Phase, settings

        phases = (Phase.reuse, Phase.shrink) if from_db else (Phase.generate, Phase.shrink)
        return settings(max_examples=size or 1, deadline=None, database=self.db,
                        derandomize=False, print_blob=False, report_multiple_bugs=from_db,
                        suppress_health_check=list(HealthCheck), phases=phases)

    def _batch(self, seed_value: int | None, size: int | None, *, from_db: bool) -> None:
        """One Hypothesis run: count examples until the first new failure, shrink, write."""
        from hypothesis import given, seed
        from hypothesis.control import current_build_context
        from hypothesis.errors import HypothesisException
        from hypothesis.reporting import with_reporter

        from ppcreloc.matrix import run_check

        known = frozenset(self.known)
        state = _BatchState()

        def fuzz_case(case: Case) -> None:
            if STOP.is_set():
                raise KeyboardInterrupt
            if not state.failed:
                state.count += 1
                if not from_db:
                    self.on_examples(1)
            try:
                verdict = run_check(case, self.engine, self.opts.cycles)
            except ToolError as exc:
                raise _ToolStop(exc) from None
            new = tuple(i for i in INVARIANTS if i not in known and not verdict.invariants[i].holds)
            if not new:
                return
            if not state.failed:
                state.failed = True
                for inv, (path, created) in self._write(case, verdict, new,
                                                        minimal=False).items():
                    state.pending[path] = (inv, created)
            if current_build_context().is_final:
                for inv, (path, _new) in self._write(case, verdict, new,
                                                     minimal=True).items():
                    state.final.add(path)
                    state.found.append(Found(inv, str(path), from_db))
            raise _bug_class(new)(", ".join(new))

        test = given(self.strategy)(fuzz_case)
        if seed_value is not None:  # before settings: @seed on top would switch the database off
            test = seed(seed_value)(test)
        test = self._settings(size, from_db)(test)
        try:
            with with_reporter(lambda _msg: None):
                test()
        except _Found:
            pass
        except _ToolStop as stop:  # the tool failed on a case: stop the campaign, exit 3
            raise stop.error from None
        except unittest.SkipTest:  # nothing ran: an empty database
            pass
        except BaseExceptionGroup as group:  # several distinct failures (database replay)
            rest = group.subgroup(lambda e: not isinstance(e, _Found | BaseExceptionGroup))
            if rest is not None:
                raise rest from None
        except HypothesisException as exc:  # e.g. Flaky: a one-line error, not a traceback
            raise UsageError(f"{self.engine.name}: fuzz batch failed: {exc}") from None
        except KeyboardInterrupt:  # stopped while shrinking: report the unshrunk cases on disk
            minimal = {f.invariant for f in state.found}
            state.found += [Found(inv, str(path), from_db, minimal=False)
                            for path, (inv, _created) in state.pending.items()
                            if inv not in minimal]
            state.pending.clear()
            self._settle(state)
            raise
        finally:
            if from_db:
                self.outcome.replayed += state.count
            else:
                self.outcome.examples += state.count
        self._settle(state)

    def _settle(self, state: _BatchState) -> None:
        """After a batch finished (not interrupted): drop unshrunk files the minimal replaced."""
        for path, (_inv, created) in state.pending.items():
            if created and path not in state.final:
                path.unlink(missing_ok=True)
                path.with_suffix(".json").unlink(missing_ok=True)
        for f in state.found:
            self.known.add(f.invariant)
            self.outcome.found.append(f)
            self.on_found(f)

    def _write(self, case: Case, verdict: Verdict, invariants: tuple[str, ...], *,
               minimal: bool) -> dict[str, tuple[Path, bool]]:
        """One fixture per invariant; returns invariant -> (`.o` path, whether it is new).

        An unshrunk case never overwrites an existing file (it may be an earlier minimal one).
        """
        from ppcreloc.elf.writer import write_elf
        from ppcreloc.fixtures import case_record, fixture_path, write_fixture

        elf = write_elf(case.obj)
        directory = Path(self.opts.fixtures)
        out: dict[str, tuple[Path, bool]] = {}
        for inv in invariants:
            path = fixture_path(directory, self.engine.name, inv, elf)
            existed = path.exists()
            if minimal or not existed:
                record = case_record(case, self.engine.name, inv, verdict, self.seed,
                                     self.opts.cycles, minimal=minimal)
                write_fixture(directory, elf, record)
            out[inv] = (path, not existed)
        return out


@dataclass
class _BatchState:
    count: int = 0
    failed: bool = False
    #: unshrunk files written at the first failure: path -> (invariant, created by this batch)
    pending: dict[Path, tuple[str, bool]] = field(default_factory=dict)
    final: set[Path] = field(default_factory=set)
    found: list[Found] = field(default_factory=list)


# -- several workers ------------------------------------------------------------------------------
def _split(total: int | None, jobs: int, index: int) -> int | None:
    """Worker ``index``'s share of ``total`` examples."""
    if total is None:
        return None
    return total // jobs + (1 if index < total % jobs else 0)


def _deadline(wall: float | None) -> float | None:
    """A wall-clock deadline (time.time) as a monotonic one, in this process."""
    return None if wall is None else time.monotonic() + (wall - time.time())


def _worker_main(opts: FuzzOptions, index: int, wall_deadline: float | None, q: Any) -> None:
    """A worker process: run a Campaign and report counts, findings and the end on ``q``."""
    from ppcreloc.errors import PpcrelocError

    pending = 0
    last = time.monotonic()

    def on_examples(n: int) -> None:
        nonlocal pending, last
        pending += n
        if time.monotonic() - last > 0.2:
            q.put(("examples", index, pending))
            pending, last = 0, time.monotonic()

    signal.signal(signal.SIGINT, lambda _s, _f: STOP.set())
    try:
        campaign = Campaign(opts, index, on_examples, lambda f: q.put(("found", index, asdict(f))))
        outcome = campaign.run(_split(opts.examples, opts.jobs, index), _deadline(wall_deadline))
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # over: finish reporting in peace
    except KeyboardInterrupt:
        outcome = Outcome(interrupted=True)
    except ToolError as exc:
        q.put(("tool-error", index, (exc.outcome, str(exc))))
        return
    except PpcrelocError as exc:
        q.put(("error", index, str(exc)))
        return
    if pending:
        q.put(("examples", index, pending))
    q.put(("done", index, {"examples": outcome.examples, "replayed": outcome.replayed,
                           "interrupted": outcome.interrupted}))


def _run_jobs(opts: FuzzOptions, wall_deadline: float | None, progress: _Progress) -> Outcome:
    """Run ``opts.jobs`` worker processes sharing one example database; merge their outcomes."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_worker_main, args=(opts, i, wall_deadline, q), daemon=True)
             for i in range(opts.jobs)]
    for p in procs:
        p.start()
    total = Outcome()
    done: set[int] = set()
    errors: list[str] = []
    tool_errors: list[ToolError] = []

    def drain(timeout: float) -> None:
        try:
            kind, index, data = q.get(timeout=timeout)
        except queue_mod.Empty:
            return
        if kind == "examples":
            progress.examples(data)
        elif kind == "found":
            found = Found(**data)
            total.found.append(found)
            progress.found(found)
        elif kind == "error":
            errors.append(data)
            done.add(index)
        elif kind == "tool-error":
            tool_errors.append(ToolError(*data))
            done.add(index)
        elif kind == "done":
            total.merge(Outcome(data["examples"], data["replayed"], [], data["interrupted"]))
            done.add(index)

    def forward_stop() -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        total.interrupted = True
        for i, p in enumerate(procs):
            if i not in done and p.is_alive() and p.pid is not None:
                os.kill(p.pid, signal.SIGINT)

    try:
        while len(done) < len(procs):
            drain(0.2)
            if STOP.is_set() and not total.interrupted:
                forward_stop()
            if any(not p.is_alive() for i, p in enumerate(procs) if i not in done):
                drain(1.0)  # a worker that exited has flushed its queue; give it a moment
                for i, p in enumerate(procs):
                    if i not in done and not p.is_alive():
                        if not total.interrupted:
                            errors.append(f"worker {i} exited with code {p.exitcode}")
                        done.add(i)
    except KeyboardInterrupt:  # a second Ctrl-C: stop waiting
        if not total.interrupted:
            forward_stop()
    finally:
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():
                p.terminate()
                p.join(timeout=5)
    if tool_errors and not total.interrupted:
        raise tool_errors[0]
    if errors and not total.interrupted:
        raise UsageError(errors[0])
    return total


# -- progress and output --------------------------------------------------------------------------
class _Progress:
    """A rich progress bar on stderr when it is a terminal; silent otherwise."""

    def __init__(self, opts: FuzzOptions, enabled: bool) -> None:
        self.opts, self.enabled = opts, enabled
        self.count = 0
        self.violated: set[str] = set()
        self.start = time.monotonic()
        self.bar: Any = None

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                                TextColumn("{task.fields[status]}"), TimeElapsedColumn(),
                                console=Console(file=sys.stderr), transient=True)
            self.bar.__enter__()
            total = self.opts.budget if self.opts.examples is None else self.opts.examples
            self.task = self.bar.add_task(f"fuzz {self.opts.engine}", total=total,
                                          status=self._status())
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)

    def _status(self) -> str:
        return f"{self.count} examples, {len(self.violated)} invariant(s) violated"

    def examples(self, n: int) -> None:
        self.count += n
        self._refresh()

    def found(self, found: Found) -> None:
        self.violated.add(found.invariant)
        self._refresh()

    def _refresh(self) -> None:
        if self.bar is None:
            return
        done = self.count if self.opts.examples is not None else time.monotonic() - self.start
        self.bar.update(self.task, completed=done, status=self._status())


def run_campaign(opts: FuzzOptions, progress: _Progress | None = None) -> tuple[Outcome, int]:
    """Run the campaign (in this process for one job); returns the outcome and the seed used."""
    if opts.seed is None:
        opts = FuzzOptions(**{**asdict(opts), "seed": random.SystemRandom().getrandbits(63)})
    progress = progress or _Progress(opts, False)
    wall = None if opts.budget is None else time.time() + opts.budget
    with stop_on_sigint():
        if opts.jobs == 1:
            campaign = Campaign(opts, 0, progress.examples, progress.found)
            outcome = campaign.run(opts.examples, _deadline(wall))
        else:
            outcome = _run_jobs(opts, wall, progress)
    assert opts.seed is not None
    return outcome, opts.seed


def report(opts: FuzzOptions, outcome: Outcome, seed_value: int, elapsed: float) -> dict[str, Any]:
    """The ``--json`` document."""
    doc: dict[str, Any] = {
        "engine": opts.engine,
        "seed": seed_value,
        "examples": outcome.examples,
        "replayed": outcome.replayed,
        "violations": outcome.violations(),
        "fixtures_dir": opts.fixtures,
        "elapsed_s": round(elapsed, 3),
        "examples_per_s": round(outcome.examples / elapsed, 2) if elapsed > 0 else 0.0,
    }
    if outcome.interrupted:
        doc["interrupted"] = True
    return doc


def print_report(doc: dict[str, Any]) -> None:
    """The human summary: counts, then one line per violated invariant with its fixture."""
    from rich.markup import escape

    from ppcreloc.report import console

    con = console()
    con.print(f"fuzz {escape(doc['engine'])}: {doc['examples']} examples in {doc['elapsed_s']} s "
              f"({doc['examples_per_s']}/s, seed {doc['seed']})"
              + (f", {doc['replayed']} replayed from the database" if doc["replayed"] else "")
              + f"; fixtures in {escape(doc['fixtures_dir'])} (ppcreloc promote adds one to the "
              "regression corpus)")
    if not doc["violations"]:
        con.print("[green]no violation found[/]")
    for v in doc["violations"]:
        origin = " (from the database)" if v["from_database"] else ""
        origin += "" if v["minimal"] else " (not shrunk: interrupted)"
        con.print(f"[red]{v['invariant']}[/] violated{origin}: {escape(v['fixture'])}")


# -- command line ---------------------------------------------------------------------------------
def cmd_fuzz(args: argparse.Namespace) -> int:
    """Run the campaign, print the summary or JSON; exit 1 when a violation was found."""
    from ppcreloc.report import emit_json

    if args.placeholders not in ("compiler", "adversarial"):
        raise UsageError(f"--placeholders must be compiler or adversarial, not {args.placeholders!r}")
    opts = FuzzOptions(
        engine=args.engine, examples=None if args.budget is not None else args.examples,
        budget=args.budget, seed=args.seed, fixtures=args.fixtures,
        placeholders=args.placeholders, jobs=args.jobs, database=args.database,
        boundaries=args.boundaries, seed_objects=args.seed_objects,
    )
    if opts.seed_objects is not None:  # a bad directory is a usage error before any worker
        from strategies.seeds import load_seeds

        load_seeds(opts.seed_objects)
    from ppcreloc.replay import resolve_engine

    resolve_engine(opts.engine)  # a bad name is a usage error before any worker starts
    open_database(opts.database)  # likewise an unreachable server or a bad path
    start = time.monotonic()
    with _Progress(opts, sys.stderr.isatty()) as progress:
        outcome, seed_value = run_campaign(opts, progress)
    doc = report(opts, outcome, seed_value, time.monotonic() - start)
    if args.json:
        emit_json(doc)
    else:
        print_report(doc)
    if outcome.interrupted:
        print(f"ppcreloc fuzz: interrupted after {outcome.examples} examples; "
              f"{len(doc['violations'])} fixture(s) on disk", file=sys.stderr)
        if not doc["violations"]:
            return EXIT_INTERRUPTED
    return EXIT_VIOLATED if doc["violations"] else EXIT_OK


def _int_in(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text, 0)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}, got {value}")
        return value

    return parse


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
    if value > 7 * 24 * 3600:
        raise argparse.ArgumentTypeError(f"must be at most 604800 seconds (a week), got {text}")
    return value


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    """``ppcreloc fuzz [--engine NAME] [--examples N | --budget SECONDS] [--seed S]
    [--fixtures DIR] [--placeholders P] [--jobs N] [--database URL] [--json]``."""
    p = subparsers.add_parser(
        "fuzz",
        help="fuzz one engine for N examples or a time budget, writing minimal fixtures",
        description="Generate livepatch objects with Hypothesis and judge the six invariants on "
        "one engine, for --examples N (default 100) or --budget SECONDS. Each violated "
        "invariant is shrunk to a minimal object written under the fixture directory. With "
        "--seed and --examples the run is deterministic (a --budget run is not: its example "
        "count depends on the machine). Exit 0 when no violation was found, 1 when one was, "
        "2 on bad input, 130 when interrupted before finding any.",
    )
    p.add_argument("--engine", default=DEFAULT_ENGINE, metavar="NAME",
                   help="engine profile (see `ppcreloc profiles`) or kernel:PATH (the kernel's "
                   f"own module_64.c from a source tree or tarball) (default: {DEFAULT_ENGINE})")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--examples", type=_int_in(1, 10_000_000), default=100, metavar="N",
                      help="generated examples in total (default: 100)")
    size.add_argument("--budget", type=_seconds, metavar="SECONDS",
                      help="run until this many seconds have passed (example count varies)")
    p.add_argument("--seed", type=_int_in(0, 2**63 - 1), metavar="S",
                   help="campaign seed (default: random; printed in the report)")
    p.add_argument("--fixtures", default=str(DEFAULT_DIR), metavar="DIR",
                   help=f"where minimal counterexamples go (default: {DEFAULT_DIR})")
    p.add_argument("--placeholders", choices=("compiler", "adversarial"), default="compiler",
                   help="compiler-like objects or adversarial mutations (default: compiler)")
    p.add_argument("--boundaries", choices=("off", "inside", "all"), default="inside",
                   help="mix in boundary objects (values at and next to every range check): "
                   "inside = only values the kernel accepts, all = also one over each limit "
                   "(default: inside)")
    p.add_argument("--seed-objects", metavar="DIR",
                   help="also draw sub-objects of the livepatch objects in DIR (made by "
                   "`ppcreloc livepatchify` from real modules)")
    p.add_argument("--jobs", type=_int_in(1, MAX_JOBS), default=1, metavar="N",
                   help="worker processes sharing one example database (default: 1)")
    p.add_argument("--database", metavar="URL",
                   help="example database: a directory path or redis://HOST:PORT[/DB] "
                   f"(default: none; {DEFAULT_DATABASE} when --jobs > 1)")
    p.add_argument("--json", action="store_true",
                   help='print {"engine", "seed", "examples", "replayed", "violations": '
                   '[{"invariant", "fixture", "from_database", "minimal"}], "fixtures_dir", '
                   '"elapsed_s", "examples_per_s"}')
    p.set_defaults(func=cmd_fuzz)

