"""One worker's fuzz campaign: options, outcome, the batch loop (:class:`Campaign`) and the stop
signals; batches of :data:`BATCH` examples with seeds from :func:`batch_seed` (see
:mod:`ppcreloc.fuzz` for the whole design)."""

from __future__ import annotations

import hashlib
import random
import signal
import threading
import time
import unittest
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ppcreloc.databases import namespaced, open_database
from ppcreloc.elf.writer import write_elf
from ppcreloc.engines import resolve_engine
from ppcreloc.errors import PpcrelocError, ToolError, UsageError
from ppcreloc.fixtures import DEFAULT_DIR, FixtureError, case_record, fixture_path, write_fixture
from ppcreloc.oracle import DEFAULT_CYCLES, INVARIANTS

if TYPE_CHECKING:
    from hypothesis import settings as Settings

    from ppcreloc.oracle import Verdict
    from ppcreloc.strategies import Case

#: examples per Hypothesis run; small, so a --budget deadline is checked often
BATCH = 10
DEFAULT_ENGINE = "v6.12"
DEFAULT_DATABASE = Path(".hypothesis/ppcreloc-fuzz")
EXIT_OK, EXIT_VIOLATED, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130
#: seconds the workers get to finish their example and report after a stop; then terminated
STOP_GRACE = 30.0


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
    #: boundary objects in the mix (ppcreloc.strategies.campaign): off, inside (accepted values), all
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
    #: workers that died mid-campaign (``worker 1: killed by signal 9``); the others went on
    lost_workers: list[str] = field(default_factory=list)

    def merge(self, other: Outcome) -> None:
        """Add another worker's outcome."""
        self.examples += other.examples
        self.replayed += other.replayed
        self.found += other.found
        self.interrupted |= other.interrupted
        self.lost_workers += other.lost_workers

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


#: set by the first SIGINT or SIGTERM: the campaign stops at the next example (see
#: :func:`stop_on_sigint`)
STOP = threading.Event()
#: the signals that stop a campaign cleanly (Ctrl-C, and what kill, systemd and CI runners send)
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def stop_on_sigint() -> Iterator[None]:
    """Turn the first SIGINT or SIGTERM into :data:`STOP` (a second one raises
    KeyboardInterrupt at once).

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
    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


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
    """Carries a ToolError (or a FixtureError: the fixture directory is full or unwritable) out
    of a batch: not an Exception, so Hypothesis neither shrinks nor replays it (a hung kernel
    child would cost its time limit on every shrink step, a full disk a failed write)."""

    def __init__(self, error: PpcrelocError) -> None:
        super().__init__(str(error))
        self.error = error




# -- one worker -----------------------------------------------------------------------------------
def batch_seed(seed: int, worker: int, batch: int) -> int:
    """The Hypothesis seed of one batch (a stable mix of campaign seed, worker and batch)."""
    text = f"ppcreloc-fuzz:{seed}:{worker}:{batch}".encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little")


class Campaign:
    """One worker's loop of batches; ``on_examples(n)`` is told of every n examples run."""

    def __init__(self, opts: FuzzOptions, worker: int = 0,
                 on_examples: Callable[[int], None] | None = None,
                 on_found: Callable[[Found], None] | None = None,
                 known: frozenset[str] = frozenset()) -> None:
        from ppcreloc.strategies.campaign import campaign_objects
        from ppcreloc.strategies.ftrace_entries import compiler_knobs

        self.opts, self.worker = opts, worker
        self.engine = resolve_engine(opts.engine)
        self.strategy = campaign_objects(placeholders=opts.placeholders,
                                         boundaries=opts.boundaries,
                                         seed_objects=opts.seed_objects,
                                         **compiler_knobs(self.engine))
        db = open_database(opts.database)
        if db is None and opts.jobs > 1:
            db = open_database(str(DEFAULT_DATABASE))
        self.db = None if db is None else namespaced(
            db, f"ppcreloc-fuzz:{self.engine.name}:{opts.placeholders}:{opts.cycles}:")
        self.seed = opts.seed if opts.seed is not None else random.SystemRandom().getrandbits(63)
        #: invariants already found (by this worker, or by the replay before it started)
        self.known: set[str] = set(known)
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

    def run(self, examples: int | None, deadline: float | None, *,
            replay: bool = True) -> Outcome:
        """Replay the database (unless ``replay`` is False), then batches until ``examples`` or
        ``deadline`` (monotonic), all inside the engine's session (:meth:`session`)."""
        with self.session():
            if replay:
                self._replay()
            return self._run(examples, deadline)

    def replay(self) -> Outcome:
        """Only replay the database (ppcreloc.pool does it once, before its workers start, so
        they never see each other's new entries as stored failures)."""
        with self.session():
            self._replay()
        self.outcome.interrupted = STOP.is_set()
        return self.outcome

    def _replay(self) -> None:
        try:
            if self.db is not None and not STOP.is_set():
                self._batch(batch_seed(self.seed, self.worker, -1), None, from_db=True)
        except KeyboardInterrupt:
            STOP.set()

    def _run(self, examples: int | None, deadline: float | None) -> Outcome:
        try:
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
        from ppcreloc.search import GENERATE, REPLAY, search_settings

        return search_settings(size or 1, phases=REPLAY if from_db else GENERATE,
                               database=self.db, report_multiple_bugs=from_db)

    def _batch(self, seed_value: int | None, size: int | None, *, from_db: bool) -> None:
        """One Hypothesis run: count examples until the first new failure, shrink, write."""
        from hypothesis.control import current_build_context
        from hypothesis.errors import HypothesisException

        from ppcreloc.matrix import run_check
        from ppcreloc.search import run_search

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

        try:
            run_search(self.strategy, fuzz_case, self._settings(size, from_db), seed_value)
        except _Found:
            pass
        except _ToolStop as stop:  # the tool failed on a case (exit 3) or the disk (exit 2)
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
        elf = write_elf(case.obj)
        directory = Path(self.opts.fixtures)
        out: dict[str, tuple[Path, bool]] = {}
        for inv in invariants:
            path = fixture_path(directory, self.engine.name, inv, elf)
            existed = path.exists()
            if minimal or not existed:
                record = case_record(case, self.engine.name, inv, verdict, self.seed,
                                     self.opts.cycles, minimal=minimal)
                try:
                    write_fixture(directory, elf, record)
                except OSError as exc:  # a full or read-only disk: one error, earlier files kept
                    raise _ToolStop(FixtureError(
                        f"cannot write fixture {path}: {exc.strerror or exc} (the campaign "
                        f"stopped; fixtures written before are kept)")) from None
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
