"""How many worker processes a campaign (``fuzz``, ``diff``) runs: ``--jobs N`` or ``auto``.

``auto``, the default, uses every core this process may run on (its CPU affinity, so a
``taskset`` or a container's CPU limit is respected), but never gives a worker fewer than
:data:`JOB_MIN_EXAMPLES` examples of an ``--examples`` campaign: a spawned worker needs about
0.4 s to start (measured, README "Benchmark"), which a share that small would not pay back, and
a small seeded run stays the single-process run it always was. A ``--budget`` campaign gets
every core.

A seeded ``--examples`` run is deterministic for a given number of workers (each worker draws
its own batches, ppcreloc.campaign.batch_seed); the reports say how many ran (``jobs``), so
``--seed S --jobs J`` repeats one exactly.
"""

from __future__ import annotations

import argparse
import os

#: the most worker processes a campaign starts
MAX_JOBS = 64
#: the smallest share of an ``--examples`` campaign ``auto`` gives a worker
JOB_MIN_EXAMPLES = 500


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def auto_jobs(examples: int | None) -> int:
    """``--jobs auto``: every usable core, at most one worker per :data:`JOB_MIN_EXAMPLES`
    examples (``examples`` None: a ``--budget`` campaign, every core)."""
    cores = min(usable_cores(), MAX_JOBS)
    if examples is None:
        return cores
    return max(1, min(cores, examples // JOB_MIN_EXAMPLES))


def resolve_jobs(jobs: int | None, examples: int | None) -> int:
    """The worker count to run: ``jobs`` as given, or :func:`auto_jobs` when it is None."""
    return auto_jobs(examples) if jobs is None else jobs


def workers(jobs: int) -> str:
    """``1 worker`` / ``2 workers``: how the command summaries name the worker count."""
    return "1 worker" if jobs == 1 else f"{jobs} workers"


def share(total: int | None, jobs: int, index: int) -> int | None:
    """Worker ``index``'s share of ``total`` examples (None: a budget, no count)."""
    if total is None:
        return None
    return total // jobs + (1 if index < total % jobs else 0)


def jobs_argument(text: str) -> int | None:
    """argparse type of ``--jobs``: ``auto`` (None) or a count in 1..:data:`MAX_JOBS`."""
    if text.strip().lower() == "auto":
        return None
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of jobs or 'auto': {text!r}") from None
    if not 1 <= value <= MAX_JOBS:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_JOBS}, or auto, got {value}")
    return value


#: the help text both commands give ``--jobs``
JOBS_HELP = ("worker processes, or auto: every usable core, at most one per "
             f"{JOB_MIN_EXAMPLES} examples (default: auto)")
