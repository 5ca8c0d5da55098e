"""`ppcreloc diff`: a Hypothesis campaign running the same objects through two engines.

Engine A (``--engine``: ``kernel:TREE``, a tree directory or tarball, or a profile) and engine B
(``--against``: a profile or another ``kernel:TREE``; default the profile matching A's tree
version, :data:`VERSION_PROFILES`) run every generated case -- load, then ``--cycles`` rounds
of every target coming at a fresh address and going -- and :func:`ppcreloc.compare.disagreements`
compares them step by step (rc, fault, WARNs, messages with arguments, memory after every step,
patch writes, the failing relocation). The first disagreement is shrunk by Hypothesis to a
minimal object and written as a fixture ``<fixtures>/<A>/diff-<hash>.o`` whose sidecar names the
first differing step, field, relocation and both values; ``ppcreloc replay`` and ``ppcreloc
explain`` show such a fixture side by side. When either engine is a kernel tree both get the
same user-range layout (the kernel engine needs real addresses).

Exit codes: 0 the engines agree on every example, 1 a disagreement (fixture written), 2 usage
or input error.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import random
import re
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, nullcontext
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from ppcreloc.cli import add_mix_arguments
from ppcreloc.compare import PATCH_PRIMITIVES, Disagreement, disagreements
from ppcreloc.elf.writer import write_elf
from ppcreloc.engines import KERNEL_PREFIX, resolve_engine
from ppcreloc.errors import PpcrelocError, UsageError
from ppcreloc.fixtures import FixtureError, FixtureRecord, fixture_path, load_fixture, write_fixture
from ppcreloc.jobs import JOBS_HELP, MAX_JOBS, jobs_argument, resolve_jobs, share, workers
from ppcreloc.loader.worldspec import world_from_spec
from ppcreloc.oracle import target_objects
from ppcreloc.ppc64.reloctypes import type_name
from ppcreloc.records import (
    Engine,
    Layout,
    RelocRef,
    RunResult,
    Scenario,
    Step,
    StepResult,
    render_printk,
)
from ppcreloc.replay_inputs import replay_inputs

if TYPE_CHECKING:
    from ppcreloc.strategies import Case

#: the fixture record's "invariant" for a disagreement between two engines
DIFF = "diff"
#: where a user's diff campaign writes fixtures (never the committed corpus, tests/fixtures)
DEFAULT_FIXTURES = Path("ppcreloc-fixtures")
DEFAULT_CYCLES = 2
BATCH = 10
EXIT_OK, EXIT_DIFFERENT, EXIT_ERROR = 0, 1, 2
#: (first, last) VERSION.PATCHLEVEL -> the profile modelling those trees' module_64.c
VERSION_PROFILES: tuple[tuple[tuple[int, int], tuple[int, int], str], ...] = (
    ((6, 1), (6, 1), "v6.1"),
    ((6, 3), (6, 12), "v6.12"),
)


@dataclass(frozen=True)
class DiffOptions:
    """One diff campaign: exactly one of ``examples`` and ``budget`` is set."""

    engine: str
    against: str | None = None
    examples: int | None = 100
    budget: float | None = None
    seed: int | None = None
    placeholders: str = "compiler"
    fixtures: str = str(DEFAULT_FIXTURES)
    jobs: int = 1
    cycles: int = DEFAULT_CYCLES
    #: boundary objects in the mix (ppcreloc.strategies.campaign): off, inside, all (one over each limit)
    boundaries: str = "all"
    #: a directory of livepatch objects (ppcreloc livepatchify) whose sub-objects join the mix
    seed_objects: str | None = None


@dataclass
class Found:
    """The first disagreement of a campaign, as the sidecar records it."""

    fixture: str
    step: int
    step_desc: str
    field: str
    a: str
    b: str
    relocation: dict[str, Any] | None
    relocs: int


@dataclass
class DiffOutcome:
    """What a campaign (or one worker) did."""

    examples: int = 0
    found: list[Found] = field(default_factory=list)


# -- engines -----------------------------------------------------------------------------------------
def profile_for_version(version: str) -> str:
    """The profile modelling a tree of ``version`` (VERSION.PATCHLEVEL[.SUBLEVEL])."""
    m = re.match(r"(\d+)\.(\d+)", version)
    if m:
        vp = (int(m.group(1)), int(m.group(2)))
        for first, last, profile in VERSION_PROFILES:
            if first <= vp <= last:
                return profile
    raise UsageError(f"no profile models kernel {version}: give --against PROFILE")


def default_against(engine: Engine) -> str:
    """``--against`` when not given: the profile matching a kernel engine's tree version."""
    version = getattr(engine, "version", None)
    if not engine.name.startswith(KERNEL_PREFIX) or not isinstance(version, str):
        raise UsageError("--against is required when --engine is not a kernel tree")
    return profile_for_version(version)


def _is_kernel(name: str) -> bool:
    return name.startswith(KERNEL_PREFIX)


def layout_adapter(*engines: Engine) -> Callable[[Layout], Layout] | None:
    """The layout move an engine needs, if any: the kernel engine runs module memory at user
    addresses and exposes its ``user_layout`` (same distances); the registry keeps the product
    free of imports from ppcreloc.reference."""
    for engine in engines:
        adapt = getattr(engine, "user_layout", None)
        if adapt is not None:
            return cast("Callable[[Layout], Layout]", adapt)
    return None


def scenario_for(case: Case, cycles: int, adapt: Callable[[Layout], Layout] | None) -> Scenario:
    """The scenario both engines run: load, then ``cycles`` coming/going rounds per target;
    moved by ``adapt`` (to user addresses) when a kernel engine takes part."""
    sc = case.scenario(case.steps(cycles=cycles))
    if adapt is not None:
        sc = replace(sc, layout=adapt(sc.layout))
    return sc


# -- naming the first difference -----------------------------------------------------------------
def _ref_dict(r: RelocRef | None, scenario: Scenario) -> dict[str, Any] | None:
    if r is None:
        return None

    secs = scenario.obj.sections
    return {"relsec": r.relsec, "section": secs[r.relsec].name if r.relsec < len(secs) else None,
            "index": r.index, "offset": r.offset, "type": r.type, "type_name": type_name(r.type),
            "symbol": r.symname}


def _first_byte(a: StepResult, b: StepResult) -> int | None:
    """Index of the section and offset (as a module address) where the memories first differ,
    resolved to the address of the write covering it."""
    for idx in sorted(set(a.memory) | set(b.memory)):
        x, y = a.memory.get(idx, b""), b.memory.get(idx, b"")
        if x != y:
            return idx
    return None


def culprit(d: Disagreement, ra: RunResult, rb: RunResult) -> RelocRef | None:
    """The relocation behind a disagreement: the failing one, the one making the first
    differing patch write, or the one whose write covers the first differing byte."""
    if d.step >= min(len(ra.steps), len(rb.steps)):
        return None
    a, b = ra.steps[d.step], rb.steps[d.step]
    if d.field in ("rc", "failed relocation", "faulting relocation", "fault", "messages",
                   "warns"):
        return a.failed_reloc or b.failed_reloc or _last_reloc(a) or _last_reloc(b)
    if d.field == "patch writes":
        pa = [w for w in a.writes if w.primitive in PATCH_PRIMITIVES]
        pb = [w for w in b.writes if w.primitive in PATCH_PRIMITIVES]
        for wa, wb in zip(pa, pb, strict=False):
            if (wa.addr, wa.new) != (wb.addr, wb.new):
                return wa.reloc or wb.reloc
        extra = (pa + pb)[min(len(pa), len(pb)):]
        return extra[0].reloc if extra else None
    idx = _first_byte(a, b)
    if idx is None:
        return None
    place = next((p for p in ra.placements if p.index == idx), None)
    if place is None:
        return None
    x, y = a.memory.get(idx, b""), b.memory.get(idx, b"")
    off = next((i for i, (p, q) in enumerate(zip(x, y, strict=False)) if p != q),
               min(len(x), len(y)))
    addr = place.addr + off
    for w in [*reversed(a.writes), *reversed(b.writes)]:
        if w.addr <= addr < w.addr + len(w.new):
            return w.reloc
    return None


def shown(a: object, b: object) -> tuple[str, str]:
    """Both values of a disagreement, short: for two lists, the first element that differs
    (``[i] value``); integers of 16 bits or more in hex."""
    def fmt(v: object) -> str:
        if isinstance(v, int) and not isinstance(v, bool) and abs(v) >= 0x10000:
            return hex(v)
        if isinstance(v, tuple):
            return "(" + ", ".join(fmt(x) for x in v) + ")"
        return repr(v)

    if isinstance(a, list) and isinstance(b, list):
        i = next((k for k, (x, y) in enumerate(zip(a, b, strict=False)) if x != y),
                 min(len(a), len(b)))
        return (f"[{i}] " + (fmt(a[i]) if i < len(a) else "<none>") + f" (of {len(a)})",
                f"[{i}] " + (fmt(b[i]) if i < len(b) else "<none>") + f" (of {len(b)})")
    return fmt(a), fmt(b)


def _last_reloc(s: StepResult) -> RelocRef | None:
    return next((w.reloc for w in reversed(s.writes) if w.reloc is not None), None)


def describe_step(sc: Scenario, n: int) -> str:
    """``load`` / ``coming(t, gen 1)`` / ``going(t, gen 0)``."""
    s = sc.steps[n] if n < len(sc.steps) else None
    if s is None or s.kind == "load":
        return "load"
    return f"{s.kind}({s.objname}, gen {s.generation})"


# -- the campaign --------------------------------------------------------------------------------
class _Disagree(Exception):
    """Raised inside a batch for a case on which the engines disagree (one class per field, so
    Hypothesis shrinks towards the same kind of disagreement)."""


_CLASSES: dict[str, type[_Disagree]] = {}


def _class_for(fieldname: str) -> type[_Disagree]:
    key = re.sub(r"\W+", "_", fieldname)
    if key not in _CLASSES:
        _CLASSES[key] = type(f"Disagree_{key}", (_Disagree,), {})
    return _CLASSES[key]


def batch_seed(seed: int, worker: int, batch: int) -> int:
    """The Hypothesis seed of one batch (a stable mix of campaign seed, worker and batch)."""
    text = f"ppcreloc-diff:{seed}:{worker}:{batch}".encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little")


def _session(engine: Engine) -> AbstractContextManager[object]:
    """A kernel engine's session (one child for the campaign), else a no-op."""
    if hasattr(engine, "__enter__") and hasattr(engine, "__exit__"):
        return engine  # type: ignore[return-value]
    return nullcontext()


class DiffCampaign:
    """One worker's loop of Hypothesis batches over two engines."""

    def __init__(self, opts: DiffOptions, worker: int = 0) -> None:
        from ppcreloc.strategies.campaign import campaign_objects
        from ppcreloc.strategies.ftrace_entries import compiler_knobs

        self.opts, self.worker = opts, worker
        self.a = resolve_engine(opts.engine)
        self.b = resolve_engine(opts.against or default_against(self.a))
        self.adapt = layout_adapter(self.a, self.b)
        self.strategy = campaign_objects(placeholders=opts.placeholders,
                                         boundaries=opts.boundaries,
                                         seed_objects=opts.seed_objects,
                                         **compiler_knobs(self.b), **compiler_knobs(self.a))
        self.seed = opts.seed if opts.seed is not None else random.SystemRandom().getrandbits(63)
        self.outcome = DiffOutcome()

    def run(self, examples: int | None, deadline: float | None) -> DiffOutcome:
        """Batches until ``examples`` or ``deadline`` (monotonic) or the first disagreement."""
        with ExitStack() as stack:
            stack.enter_context(_session(self.a))
            stack.enter_context(_session(self.b))
            number = 0
            while not self.outcome.found:
                if examples is not None:
                    size = min(BATCH, examples - self.outcome.examples)
                    if size <= 0:
                        break
                elif deadline is None or time.monotonic() >= deadline:
                    break
                else:
                    size = BATCH
                before = self.outcome.examples
                self._batch(batch_seed(self.seed, self.worker, number), size)
                number += 1
                if self.outcome.examples == before:
                    break
        return self.outcome

    def compare(self, case: Case) -> tuple[Scenario, RunResult, RunResult, list[Disagreement]]:
        """Run ``case`` through both engines and compare."""
        sc = scenario_for(case, self.opts.cycles, self.adapt)
        ra = self.a.run(replace(sc, obj=sc.obj.clone()))
        rb = self.b.run(replace(sc, obj=sc.obj.clone()))
        return sc, ra, rb, disagreements(ra, rb)

    def _batch(self, seed_value: int, size: int) -> None:
        from hypothesis.control import current_build_context
        from hypothesis.errors import HypothesisException

        from ppcreloc.search import run_search, search_settings

        state = {"count": 0, "failed": False}

        def diff_case(case: Case) -> None:
            if not state["failed"]:
                state["count"] += 1
            sc, ra, rb, diffs = self.compare(case)
            if not diffs:
                return
            state["failed"] = True
            if current_build_context().is_final:
                self.outcome.found.append(self._write(case, sc, ra, rb, diffs[0], seed_value))
            raise _class_for(diffs[0].field)(str(diffs[0]))

        try:
            run_search(self.strategy, diff_case, search_settings(size), seed_value)
        except _Disagree:
            pass
        except HypothesisException as exc:
            raise UsageError(f"diff batch failed: {exc}") from None
        finally:
            self.outcome.examples += state["count"]

    def _write(self, case: Case, sc: Scenario, ra: RunResult, rb: RunResult, d: Disagreement,
               seed_value: int) -> Found:
        import hypothesis
        elf = write_elf(case.obj)
        directory = Path(self.opts.fixtures)
        path = fixture_path(directory, self.a.name, DIFF, elf)
        found = Found(str(path), d.step, describe_step(sc, d.step), d.field,
                      *shown(d.kernel, d.model), _ref_dict(culprit(d, ra, rb), sc),
                      case.reloc_count)
        layout = case.describe()["layout"]
        layout["world_spec"] = case.world.to_dict()
        violation = {"against": self.b.name, "message": f"{self.a.name} and {self.b.name} "
                     f"disagree at step {d.step} ({found.step_desc}) on {d.field}",
                     **{k: v for k, v in asdict(found).items() if k != "fixture"}}
        record = FixtureRecord(
            engine=self.a.name, invariant=DIFF, holds=False, violation=violation,
            world=world_from_spec(case.world).to_kallsyms_text(), layout=layout,
            cycles=self.opts.cycles, hypothesis_version=hypothesis.__version__,
            seed=seed_value, replay=f"ppcreloc replay {path}", minimal=True)
        write_fixture(directory, elf, record)
        return found


def _worker(args: tuple[DiffOptions, int, int | None, float | None]) -> dict[str, Any]:
    opts, index, examples, wall = args

    deadline = None if wall is None else time.monotonic() + (wall - time.time())
    try:
        out = DiffCampaign(opts, index).run(examples, deadline)
    except PpcrelocError as exc:
        return {"error": str(exc)}
    return {"examples": out.examples, "found": [asdict(f) for f in out.found]}


def run_diff(opts: DiffOptions) -> tuple[DiffOutcome, str, str, int]:
    """Run the campaign (``opts.jobs`` worker processes when > 1); (outcome, A, B, seed)."""
    if (opts.examples is None) == (opts.budget is None):
        raise UsageError("give exactly one of --examples and --budget")
    if opts.placeholders not in ("compiler", "adversarial"):
        raise UsageError("--placeholders must be compiler or adversarial")
    if not 1 <= opts.jobs <= MAX_JOBS:
        raise UsageError(f"--jobs must be between 1 and {MAX_JOBS}")
    first = DiffCampaign(opts, 0)  # resolves (and builds) both engines, fails early
    opts = replace(opts, against=first.b.name, seed=first.seed)
    wall = None if opts.budget is None else time.time() + opts.budget
    if opts.jobs == 1:
        deadline = None if wall is None else time.monotonic() + opts.budget  # type: ignore[operator]
        return first.run(opts.examples, deadline), first.a.name, first.b.name, first.seed
    shares = [share(opts.examples, opts.jobs, i) for i in range(opts.jobs)]
    with mp.get_context("spawn").Pool(opts.jobs) as pool:
        results = pool.map(_worker, [(opts, i, shares[i], wall) for i in range(opts.jobs)])
    total = DiffOutcome()
    for r in results:
        if "error" in r:
            raise UsageError(r["error"])
        total.examples += r["examples"]
        total.found += [Found(**f) for f in r["found"]]
    return total, first.a.name, first.b.name, first.seed


# -- replaying a diff fixture --------------------------------------------------------------------
@dataclass
class DiffReplay:
    """Both engines' runs of a diff fixture, and where they disagree now."""

    path: Path
    a: str
    b: str
    scenario: Scenario
    run_a: RunResult
    run_b: RunResult
    diffs: list[Disagreement]
    record: Any


def replay_diff(path: Path, engine: str | None = None, against: str | None = None) -> DiffReplay:
    """Re-run a diff fixture on its two engines (or ``engine`` / ``against``) and compare."""
    elf, record = load_fixture(path)
    if record.invariant != DIFF or not isinstance(record.violation, dict):
        raise FixtureError(f"{path}: not a diff fixture")
    inputs = replay_inputs(elf, record, str(path))
    a = resolve_engine(engine or record.engine)
    b = resolve_engine(against or str(record.violation.get("against", "")))
    steps = _steps(inputs.obj, record.cycles)
    sc = Scenario(inputs.obj, inputs.world, steps, inputs.layout, inputs.config)
    adapt = layout_adapter(a, b)
    if adapt is not None:
        sc = replace(sc, layout=adapt(sc.layout))
    ra = a.run(replace(sc, obj=sc.obj.clone()))
    rb = b.run(replace(sc, obj=sc.obj.clone()))
    return DiffReplay(path, a.name, b.name, sc, ra, rb, disagreements(ra, rb), record)


def _steps(obj: Any, cycles: int) -> list[Any]:
    """The campaign's script for a fixture (Case.steps over the object's target objects)."""
    targets = target_objects(obj)
    out = [Step("load")]
    for gen in range(cycles):
        out += [Step("coming", t, gen) for t in targets]
        out += [Step("going", t, gen) for t in targets]
    return out


def side_by_side(rp: DiffReplay) -> Iterator[str]:
    """Per step: rc, fault, WARNs, messages and patch writes of both engines, marked where
    they differ, then the disagreements."""
    bad = {d.step for d in rp.diffs}
    yield f"A = {rp.a}\nB = {rp.b}"
    for n, (sa, sb) in enumerate(zip(rp.run_a.steps, rp.run_b.steps, strict=False)):
        mark = "!!" if n in bad else "  "
        yield f"{mark} step {n} {describe_step(rp.scenario, n)}"
        for label, s in (("A", sa), ("B", sb)):
            msgs = "; ".join(render_printk(m.fmt, m.args) for m in s.messages
                             if not m.level.startswith("debug")) or "-"
            patches = len([w for w in s.writes if w.primitive in PATCH_PRIMITIVES])
            yield (f"     {label}: rc {s.rc} fault {s.fault or '-'} warns {s.warns} "
                   f"patch writes {patches} messages: {msgs}")
    if len(rp.run_a.steps) != len(rp.run_b.steps):
        yield f"   steps run: A {len(rp.run_a.steps)}, B {len(rp.run_b.steps)}"
    for d in rp.diffs[:10]:
        ref = _ref_dict(culprit(d, rp.run_a, rp.run_b), rp.scenario)
        where = f" [{ref['section']}[{ref['index']}] {ref['type_name']} {ref['symbol']}]" \
            if ref else ""
        va, vb = shown(d.kernel, d.model)
        yield f"differs: step {d.step} {d.field}{where}\n   A: {va}\n   B: {vb}"


def relocation_lines(rp: DiffReplay) -> Iterator[str]:
    """Per relocation: the bytes at its field after every step in A and in B (``!!`` where
    they differ), from each run's memory snapshots."""
    obj = rp.scenario.obj
    places = {p.index: p for p in rp.run_a.placements}
    for relsec, relas in obj.relocs.items():
        target = obj.sections[relsec].info
        for i, r in enumerate(relas):
            sym = obj.symbols[r.sym].name if r.sym < len(obj.symbols) else f"#{r.sym}"
            yield f"{obj.sections[relsec].name}[{i}] +{r.offset:#x} {type_name(r.type)} {sym}"
            if target not in places:
                continue
            size = 8 if r.type in (38, 44, 51) else 4
            for n, (sa, sb) in enumerate(zip(rp.run_a.steps, rp.run_b.steps, strict=False)):
                ba = sa.memory.get(target, b"")[r.offset : r.offset + size].hex() or "-"
                bb = sb.memory.get(target, b"")[r.offset : r.offset + size].hex() or "-"
                mark = "!!" if ba != bb else "  "
                yield f"  {mark} step {n} {describe_step(rp.scenario, n):<22} A {ba:<16} B {bb}"


def cmd_explain_diff(path: Path, engine: str | None) -> int:
    """``ppcreloc explain`` of a diff fixture: the side-by-side steps, then every relocation's
    bytes after each step in both engines; 1 when they still disagree."""
    rp = replay_diff(path, engine)
    for line in [*side_by_side(rp), "", *relocation_lines(rp)]:
        print(line)
    return EXIT_DIFFERENT if rp.diffs else EXIT_OK


def cmd_replay_diff(path: Path, engine: str | None) -> int:
    """``ppcreloc replay`` of a diff fixture: 1 when the engines still disagree, 0 otherwise."""
    rp = replay_diff(path, engine)
    for line in side_by_side(rp):
        print(line)
    if rp.diffs:
        print(f"reproduces: {path}: {len(rp.diffs)} disagreement(s) between {rp.a} and {rp.b}")
        return EXIT_DIFFERENT
    print(f"no longer reproduces: {path}: {rp.a} and {rp.b} agree")
    return EXIT_OK


# -- command line --------------------------------------------------------------------------------
def cmd_diff(args: argparse.Namespace) -> int:
    """Run the campaign; print a summary (or JSON); exit 1 on a disagreement."""
    opts = DiffOptions(engine=args.engine, against=args.against,
                       examples=args.examples if args.budget is None else None,
                       budget=args.budget, seed=args.seed, placeholders=args.placeholders,
                       fixtures=args.fixtures, cycles=args.cycles,
                       jobs=resolve_jobs(args.jobs, args.examples if args.budget is None
                                         else None),
                       boundaries=args.boundaries, seed_objects=args.seed_objects)
    if opts.seed_objects is not None:  # a bad directory is a usage error before any engine
        from ppcreloc.strategies.seeds import load_seeds

        load_seeds(opts.seed_objects)
    if args.examples is not None and args.budget is not None:
        raise UsageError("give either --examples or --budget, not both")
    if opts.examples is not None and opts.examples < 1:
        raise UsageError("--examples must be at least 1")
    if opts.budget is not None and opts.budget <= 0:
        raise UsageError("--budget must be positive")
    if opts.cycles < 0:
        raise UsageError("--cycles must be >= 0")
    start = time.monotonic()
    out, a, b, seed_used = run_diff(opts)
    elapsed = time.monotonic() - start
    doc = {"engine": a, "against": b, "seed": seed_used, "jobs": opts.jobs,
           "placeholders": opts.placeholders,
           "examples": out.examples, "disagreements": [asdict(f) for f in out.found],
           "elapsed_s": round(elapsed, 2)}
    if args.json:
        json.dump(doc, sys.stdout, indent=2)
        print()
    else:
        print(f"{a} vs {b}: {out.examples} examples ({opts.placeholders}, seed {seed_used}, "
              f"{workers(opts.jobs)}), "
              f"{len(out.found)} disagreement(s), {elapsed:.1f} s")
        for f in out.found:
            rel = f.relocation
            where = f"{rel['section']}[{rel['index']}] {rel['type_name']} {rel['symbol']}" \
                if rel else "-"
            print(f"  step {f.step} {f.step_desc}: {f.field}  (relocation: {where}; "
                  f"{f.relocs} relocation(s) in the object)\n    A: {f.a}\n    B: {f.b}\n"
                  f"  fixture: {f.fixture}  (ppcreloc replay {f.fixture})")
    return EXIT_DIFFERENT if out.found else EXIT_OK


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    """``ppcreloc diff --engine A [--against B] [--examples N | --budget S] ...``."""
    p = subparsers.add_parser(
        "diff", help="differential campaign: the same objects through two engines",
        description="Run generated livepatch objects through two engines (a kernel:TREE and a "
        "profile, two trees, or two profiles) and compare every step: rc, fault, WARNs, "
        "messages, memory, patch writes, the failing relocation. A disagreement is shrunk to a "
        "minimal object and written as a fixture (replay/explain show it side by side). "
        "Exit 0 when they agree, 1 on a disagreement, 2 on bad input.")
    p.add_argument("--engine", required=True, metavar="A",
                   help="engine A: kernel:PATH (tree directory or tarball) or a profile")
    p.add_argument("--against", metavar="B", help="engine B (default: the profile matching "
                   "A's kernel version: 6.1 -> v6.1, 6.3-6.12 -> v6.12)")
    p.add_argument("--examples", type=int, default=None, help="examples to run (default 100)")
    p.add_argument("--budget", type=float, default=None, metavar="S",
                   help="run for S seconds instead of a number of examples")
    p.add_argument("--seed", type=int, default=None, help="campaign seed (default: random)")
    p.add_argument("--placeholders", choices=("compiler", "adversarial"), default="compiler")
    add_mix_arguments(p, "all")
    p.add_argument("--fixtures", default=str(DEFAULT_FIXTURES), metavar="DIR",
                   help=f"where a disagreement's fixture goes (default {DEFAULT_FIXTURES})")
    p.add_argument("--jobs", type=jobs_argument, default=None, metavar="N|auto", help=JOBS_HELP)
    p.add_argument("--cycles", type=int, default=DEFAULT_CYCLES,
                   help=f"coming/going rounds per target (default {DEFAULT_CYCLES})")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=_cmd_diff_defaults)


def _cmd_diff_defaults(args: argparse.Namespace) -> int:
    if args.examples is None and args.budget is None:
        args.examples = 100
    return cmd_diff(args)
