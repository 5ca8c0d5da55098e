"""Several fuzz workers: processes with their share of the examples, their findings on a queue,
a lost worker reported and the others going on; the progress line; :func:`run_campaign`."""

from __future__ import annotations

import multiprocessing as mp
import os
import queue as queue_mod
import random
import signal
import sys
import time
from dataclasses import asdict
from typing import Any

from ppcreloc.campaign import (
    STOP,
    STOP_GRACE,
    STOP_SIGNALS,
    Campaign,
    Found,
    FuzzOptions,
    Outcome,
    stop_on_sigint,
)
from ppcreloc.databases import warn
from ppcreloc.errors import PpcrelocError, ToolError, UsageError
from ppcreloc.jobs import share


# -- several workers ------------------------------------------------------------------------------
def _deadline(wall: float | None) -> float | None:
    """A wall-clock deadline (time.time) as a monotonic one, in this process."""
    return None if wall is None else time.monotonic() + (wall - time.time())


def _worker_main(opts: FuzzOptions, index: int, wall_deadline: float | None, q: Any,
                 known: frozenset[str]) -> None:
    """A worker process: run a Campaign (no replay: the parent did it; ``known`` are the
    invariants it found) and report counts, findings and the end on ``q``."""
    pending = 0
    last = time.monotonic()

    def on_examples(n: int) -> None:
        nonlocal pending, last
        pending += n
        if time.monotonic() - last > 0.2:
            q.put(("examples", index, pending))
            pending, last = 0, time.monotonic()

    for sig in STOP_SIGNALS:
        signal.signal(sig, lambda _s, _f: STOP.set())
    try:
        campaign = Campaign(opts, index, on_examples, lambda f: q.put(("found", index, asdict(f))),
                            known)
        outcome = campaign.run(share(opts.examples, opts.jobs, index), _deadline(wall_deadline),
                               replay=False)
        for sig in STOP_SIGNALS:  # over: finish reporting in peace
            signal.signal(sig, signal.SIG_IGN)
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


def _run_jobs(opts: FuzzOptions, wall_deadline: float | None, progress: Progress) -> Outcome:
    """Replay the example database here, then run ``opts.jobs`` worker processes sharing it;
    merge their outcomes.

    The replay comes first and only once, so it sees exactly the failures stored before this
    campaign (never one a worker has just saved): a seeded run is deterministic for its --jobs.
    """
    first = Campaign(opts, 0, progress.examples, progress.found)
    total = first.replay()
    if total.interrupted:
        return total
    known = frozenset(first.known)
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_worker_main, args=(opts, i, wall_deadline, q, known),
                         daemon=True)
             for i in range(opts.jobs)]
    for p in procs:
        p.start()
    done: set[int] = set()
    errors: list[str] = []
    tool_errors: list[ToolError] = []

    def lost(index: int, code: int | None) -> None:
        """A worker died without reporting its end: say so once; the others go on."""
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        total.lost_workers.append(f"worker {index}: {how}")
        warn(f"worker {index} died ({how}); its findings so far are on disk, the other "
              "workers go on")

    def drain_now() -> bool:
        try:
            message = q.get_nowait()
        except (queue_mod.Empty, OSError, EOFError):
            return False
        handle(*message)
        return True

    def drain(timeout: float) -> None:
        try:
            kind, index, data = q.get(timeout=timeout)
        except queue_mod.Empty:
            return
        handle(kind, index, data)

    def handle(kind: str, index: int, data: Any) -> None:
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
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
        total.interrupted = True
        stopped_at.append(time.monotonic())
        for i, p in enumerate(procs):
            if i not in done and p.is_alive() and p.pid is not None:
                os.kill(p.pid, signal.SIGINT)

    stopped_at: list[float] = []
    try:
        while len(done) < len(procs):
            drain(0.2)
            if STOP.is_set() and not total.interrupted:
                forward_stop()
            if stopped_at and time.monotonic() - stopped_at[0] > STOP_GRACE:
                break  # a worker that cannot finish (its queue lock died with a killed peer)
            if any(not p.is_alive() for i, p in enumerate(procs) if i not in done):
                drain(1.0)  # a worker that exited has flushed its queue; give it a moment
                for i, p in enumerate(procs):
                    if i not in done and not p.is_alive():
                        if not total.interrupted:
                            lost(i, p.exitcode)
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
            if p.is_alive():  # SIGTERM is a stop request the worker may be unable to act on
                p.kill()  # (blocked on a queue lock a killed peer held): never wait at exit
                p.join(timeout=5)
    while drain_now():  # findings a worker queued before its end (or its death)
        pass
    if tool_errors and not total.interrupted:
        raise tool_errors[0]
    if errors and not total.interrupted:
        raise UsageError(errors[0])
    return total


# -- progress and output --------------------------------------------------------------------------
class Progress:
    """A rich progress bar on stderr when it is a terminal; silent otherwise."""

    def __init__(self, opts: FuzzOptions, enabled: bool) -> None:
        self.opts, self.enabled = opts, enabled
        self.count = 0
        self.violated: set[str] = set()
        self.start = time.monotonic()
        self.bar: Any = None

    def __enter__(self) -> Progress:
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


def run_campaign(opts: FuzzOptions, progress: Progress | None = None) -> tuple[Outcome, int]:
    """Run the campaign (in this process for one job); returns the outcome and the seed used."""
    if opts.seed is None:
        opts = FuzzOptions(**{**asdict(opts), "seed": random.SystemRandom().getrandbits(63)})
    progress = progress or Progress(opts, False)
    wall = None if opts.budget is None else time.time() + opts.budget
    with stop_on_sigint():
        if opts.jobs == 1:
            campaign = Campaign(opts, 0, progress.examples, progress.found)
            outcome = campaign.run(opts.examples, _deadline(wall))
        else:
            outcome = _run_jobs(opts, wall, progress)
    assert opts.seed is not None
    return outcome, opts.seed
