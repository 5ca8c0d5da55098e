"""Mutation score of ppcreloc on a kernel tree's own module_64.c, printed as JSON.

Each mutant of :data:`bench.mutants.MUTANTS` (a change located by a needle's hash) is applied at run
time to a copy of the tree's ``arch/powerpc/kernel/module_64.c`` (the rest of the tree is
symlinked, the library built into a scratch cache), and the mutated code is run through

- ``diff``: a seeded ``ppcreloc diff --engine kernel:MUTANT --against PROFILE`` campaign
  (PROFILE: the profile of the tree's version), caught on the first disagreement;
- ``fuzz``: the invariant campaign (``ppcreloc fuzz --engine kernel:MUTANT``), caught when an
  invariant fails that the unmutated tree does not fail (the profile's predicted defects and
  whatever the same campaign finds on the unmutated tree are excluded),

for up to ``--examples`` examples in each placeholder mode. Per mutant and campaign it reports
whether it was caught, the examples and seconds to the first failing example, the seconds
including shrinking, and the shrunk object's size in relocations. Equivalent mutants are run
too (a catch would mean their stated reason is wrong) and left out of the score.

Usage: python bench/mutation.py [TREE] [--examples N] [--seed S] [--only NAME ...]
       [--placeholders compiler adversarial] [--campaigns diff fuzz]
(TREE: a kernel tree directory or source tarball; default /usr/src/linux-source-6.12.tar.xz.)
Exit 0 after printing the report; 2 on bad input (one line on stderr).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, NoReturn

if not __package__:  # run as a script (python bench/mutation.py): the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.mutants import MUTANTS, Mutant, Needle  # noqa: E402

DEFAULT_TREE = Path("/usr/src/linux-source-6.12.tar.xz")
MODULE_64 = "arch/powerpc/kernel/module_64.c"
MODES = ("compiler", "adversarial")
CAMPAIGNS = ("diff", "fuzz")
#: what a mutant tree links to in the original tree (everything the build reads but module_64.c)
LINKED = ("Makefile", "include", "lib", "arch/powerpc/include", "arch/powerpc/lib")


class BenchError(Exception):
    """Bad input: reported as one line, exit 2."""


@dataclass(frozen=True)
class Run:
    """One campaign on one engine in one placeholder mode."""

    engine: str
    mode: str
    examples: int
    seed: int
    fixtures: Path


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:16]


def _scan(source: str, length: int, wanted: set[str]) -> dict[str, list[int]]:
    """digest -> offsets, for the ``wanted`` digests of ``length``-character spans of
    ``source`` (one SHA-256 per offset: about 25,000 for module_64.c)."""
    out: dict[str, list[int]] = {}
    for i in range(len(source) - length + 1):
        d = _digest(source[i : i + length])
        if d in wanted:
            out.setdefault(d, []).append(i)
    return out


@lru_cache(maxsize=4)
def _table_offsets(source: str) -> dict[Needle, list[int]]:
    """Where every needle of :data:`MUTANTS` occurs in ``source``: one scan per needle length."""
    by_length: dict[int, set[str]] = {}
    for m in MUTANTS:
        by_length.setdefault(m.needle.length, set()).add(m.needle.sha256)
    found = {n: _scan(source, n, wanted) for n, wanted in by_length.items()}
    return {m.needle: found[m.needle.length].get(m.needle.sha256, []) for m in MUTANTS}


def find_needle(source: str, needle: Needle) -> list[int]:
    """Every offset of ``source`` where a span of ``needle.length`` characters has the
    needle's digest."""
    table = _table_offsets(source)
    if needle in table:
        return table[needle]
    return _scan(source, needle.length, {needle.sha256}).get(needle.sha256, [])


def locate(source: str, mutant: Mutant) -> int:
    """Where the mutant's needle starts; BenchError unless it occurs exactly once."""
    found = find_needle(source, mutant.needle)
    if len(found) != 1:
        raise BenchError(f"{mutant.name}: needle occurs {len(found)} times in {MODULE_64}")
    return found[0]


def apply_mutant(source: str, mutant: Mutant) -> str:
    """``source`` with the mutant's change made inside its needle (see :func:`locate`)."""
    at = locate(source, mutant) + mutant.at
    return source[:at] + mutant.insert + source[at + mutant.cut :]


def show(source: str, mutant: Mutant) -> tuple[str, str]:
    """The lines the mutant changes, before and after (read from ``source``, the user's tree)."""
    start = locate(source, mutant)
    lo = source.rfind("\n", 0, start) + 1
    hi = source.find("\n", start + mutant.needle.length)
    hi = len(source) if hi < 0 else hi
    after = apply_mutant(source, mutant)
    return source[lo:hi], after[lo : hi + len(mutant.insert) - mutant.cut]


def mutant_tree(tree: Path, source: str, dest: Path) -> Path:
    """A tree at ``dest``: the mutated module_64.c, the rest symlinked to ``tree``."""
    (dest / MODULE_64).parent.mkdir(parents=True)
    for rel in LINKED:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).symlink_to(tree / rel)
    (dest / MODULE_64).write_text(source, encoding="utf-8", errors="surrogateescape")
    return dest


def _relocs_of(fixture: str) -> int:
    from ppcreloc.fixtures import load_fixture
    from ppcreloc.replay import replay_inputs

    elf, record = load_fixture(Path(fixture))
    obj = replay_inputs(elf, record, fixture).obj
    return sum(len(v) for v in obj.relocs.values())


def run_diff(run: Run, against: str) -> dict[str, Any]:
    """``ppcreloc diff`` until the first disagreement or ``run.examples``."""
    from ppcreloc.diff import DiffCampaign, DiffOptions

    first: list[float] = []

    class Timed(DiffCampaign):
        def compare(self, case: Any) -> Any:
            out = super().compare(case)
            if out[3] and not first:
                first.append(time.monotonic())
            return out

    opts = DiffOptions(engine=run.engine, against=against, examples=run.examples,
                       seed=run.seed, placeholders=run.mode, fixtures=str(run.fixtures))
    campaign = Timed(opts)
    start = time.monotonic()
    out = campaign.run(run.examples, None)
    total = time.monotonic() - start
    if not out.found:
        return {"caught": False, "examples": out.examples, "seconds": round(total, 2)}
    f = out.found[0]
    rel = f.relocation or {}
    return {"caught": True, "examples": out.examples,
            "first_s": round(first[0] - start, 2) if first else None,
            "seconds": round(total, 2), "relocs": f.relocs, "step": f.step_desc,
            "field": f.field, "relocation": rel.get("type_name"), "a": f.a, "b": f.b}


class _Caught(Exception):
    """Stops an invariant campaign at its first new violation."""


def run_fuzz(run: Run, known: set[str], unmutated: str) -> dict[str, Any]:
    """The invariant campaign until an invariant outside ``known`` fails on a case that the
    ``unmutated`` engine passes (its shrunk fixture replayed there), or ``run.examples``."""
    from ppcreloc.campaign import Campaign, Found, FuzzOptions
    from ppcreloc.replay import replay

    last_example = [0.0]
    found: list[Found] = []
    also_unmutated: list[str] = []

    def on_examples(_n: int) -> None:
        last_example[0] = time.monotonic()

    def on_found(f: Found) -> None:
        verdict = replay(Path(f.fixture), unmutated).verdict
        if not verdict.invariants[f.invariant].holds:  # not the mutant's doing: hunt on
            also_unmutated.append(f.invariant)
            return
        found.append(f)
        raise _Caught

    opts = FuzzOptions(engine=run.engine, examples=run.examples, seed=run.seed,
                       fixtures=str(run.fixtures), placeholders=run.mode)
    campaign = Campaign(opts, on_examples=on_examples, on_found=on_found)
    campaign.known |= known
    start = time.monotonic()
    try:
        campaign.run(run.examples, None)
    except _Caught:
        pass
    total = time.monotonic() - start
    examples = campaign.outcome.examples
    extra = {"also_unmutated": also_unmutated} if also_unmutated else {}
    if not found:
        return {"caught": False, "examples": examples, "seconds": round(total, 2), **extra}
    return {"caught": True, "examples": examples,
            "first_s": round(last_example[0] - start, 2), "seconds": round(total, 2),
            "relocs": _relocs_of(found[0].fixture), "invariant": found[0].invariant, **extra}


def baseline(engine: str, profile: str, runs: dict[str, Run], campaigns: tuple[str, ...]
             ) -> dict[str, Any]:
    """The unmutated tree: diff must agree, and the invariants it fails are not catches."""
    from ppcreloc.campaign import Campaign, FuzzOptions
    from ppcreloc.matrix import PREDICTED
    from ppcreloc.oracle import INVARIANTS

    predicted = {i for i in INVARIANTS if not PREDICTED.get((profile, i), True)}
    out: dict[str, Any] = {"predicted": sorted(predicted), "diff": {}, "fuzz": {}}
    for mode, run in runs.items():
        out["fuzz"][mode] = sorted(predicted)
        if "diff" in campaigns:
            d = run_diff(replace(run, engine=engine), profile)
            if d["caught"]:
                raise BenchError(f"{engine} disagrees with {profile} unmutated ({mode}): "
                                 f"{d['field']} at {d['relocation']}; fix the model first")
            out["diff"][mode] = d["examples"]
        if "fuzz" not in campaigns:
            continue
        opts = FuzzOptions(engine=engine, examples=run.examples, seed=run.seed,
                           fixtures=str(run.fixtures), placeholders=mode)
        found = {f.invariant for f in Campaign(opts).run(run.examples, None).found}
        out["fuzz"][mode] = sorted(found | predicted)
    return out


def run_mutant(mutant: Mutant, tree: Path, source: str, scratch: Path, profile: str,
               runs: dict[str, Run], known: dict[str, set[str]], unmutated: str,
               campaigns: tuple[str, ...]) -> dict[str, Any]:
    """Build one mutant and run every campaign in every mode."""
    from ppcreloc.errors import PpcrelocError
    from ppcreloc.replay import resolve_engine

    row: dict[str, Any] = {"name": mutant.name, "covers": mutant.covers,
                           "equivalent": mutant.equivalent}
    try:
        mutated = apply_mutant(source, mutant)
    except BenchError as exc:
        return {**row, "status": "not applicable", "reason": str(exc)}
    mtree = mutant_tree(tree, mutated, scratch / mutant.name)
    engine = f"kernel:{mtree}"
    start = time.monotonic()
    try:
        resolve_engine(engine)
    except PpcrelocError as exc:
        return {**row, "status": "does not build", "reason": str(exc)}
    row["build_s"] = round(time.monotonic() - start, 2)
    for name in campaigns:
        row[name] = {}
        for mode, run in runs.items():
            r = replace(run, engine=engine, fixtures=scratch / "fixtures" / mutant.name)
            row[name][mode] = run_diff(r, profile) if name == "diff" else \
                run_fuzz(r, known[mode], unmutated)
    caught = any(row[c][m]["caught"] for c in campaigns for m in runs)
    row["status"] = ("equivalent, but caught" if caught else "equivalent") \
        if mutant.equivalent else ("caught" if caught else "missed")
    return row


def score(rows: list[dict[str, Any]], campaigns: tuple[str, ...], modes: tuple[str, ...]
          ) -> dict[str, Any]:
    """Caught fractions over the non-equivalent mutants that apply and build."""
    live = [r for r in rows if r["status"] in ("caught", "missed")]
    n = len(live)

    def frac(pred: Any) -> dict[str, Any]:
        k = sum(1 for r in live if pred(r))
        return {"caught": k, "of": n, "score": round(k / n, 3) if n else None}

    out: dict[str, Any] = {"non_equivalent": n}
    for c in campaigns:
        out[c] = {m: frac(lambda r, c=c, m=m: r[c][m]["caught"]) for m in modes}
        out[c]["every_mode"] = frac(lambda r, c=c: all(r[c][m]["caught"] for m in modes))
        out[c]["any_mode"] = frac(lambda r, c=c: any(r[c][m]["caught"] for m in modes))
        firsts = [r[c][m]["first_s"] for r in live for m in modes
                  if r[c][m]["caught"] and r[c][m].get("first_s") is not None]
        sizes = [r[c][m]["relocs"] for r in live for m in modes if r[c][m]["caught"]]
        out[c]["median_first_s"] = round(statistics.median(firsts), 2) if firsts else None
        out[c]["median_relocs"] = statistics.median(sizes) if sizes else None
        out[c]["at_most_2_relocs"] = sum(1 for s in sizes if s <= 2)
        out[c]["catches"] = len(sizes)
    out["either"] = frac(lambda r: any(r[c][m]["caught"] for c in campaigns for m in modes))
    return out


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line usage error (exit 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"mutation: error: {message}\n")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its JSON report; 2 on bad input."""
    p = _Parser(description="Mutation score of ppcreloc on a kernel tree's module_64.c (JSON).")
    p.add_argument("tree", nargs="?", default=str(DEFAULT_TREE),
                   help=f"kernel tree directory or source tarball (default {DEFAULT_TREE})")
    p.add_argument("--examples", type=int, default=150, help="per campaign and mode (150)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--only", nargs="+", metavar="NAME", help="just these mutants")
    p.add_argument("--placeholders", nargs="+", choices=MODES, default=list(MODES))
    p.add_argument("--campaigns", nargs="+", choices=CAMPAIGNS, default=list(CAMPAIGNS))
    p.add_argument("--show", action="store_true",
                   help="print each mutant's lines before and after, from TREE, and run nothing")
    args = p.parse_args(argv)
    try:
        if args.show:
            print(show_mutants(args), end="")
            return 0
        doc = bench(args)
    except BenchError as exc:
        print(f"mutation: error: {exc}", file=sys.stderr)
        return 2
    json.dump(doc, sys.stdout, indent=2)
    print()
    return 0


def _selected(args: argparse.Namespace) -> list[Mutant]:
    """The mutants ``--only`` names (all without it); BenchError for an unknown name."""
    unknown = sorted(set(args.only or ()) - {m.name for m in MUTANTS})
    if unknown:
        raise BenchError(f"no such mutant: {', '.join(unknown)}")
    return [m for m in MUTANTS if not args.only or m.name in args.only]


def _source(tree_arg: str) -> tuple[Path, str]:
    """The resolved tree and its module_64.c text."""
    from ppcreloc.errors import PpcrelocError
    from ppcreloc.reference.kernel.build import resolve_tree

    try:
        tree = resolve_tree(tree_arg)  # the user's cache holds the extracted tarball
    except PpcrelocError as exc:
        raise BenchError(str(exc)) from None
    return tree, (tree / MODULE_64).read_text(encoding="utf-8", errors="surrogateescape")


def show_mutants(args: argparse.Namespace) -> str:
    """``--show``: per mutant its name, what it covers, and the changed lines as a diff."""
    mutants = _selected(args)
    _tree, source = _source(args.tree)
    out: list[str] = []
    for m in mutants:
        before, after = show(source, m)
        out.append(f"{m.name} ({m.covers})\n")
        out += [f"-{line}\n" for line in before.split("\n")]
        out += [f"+{line}\n" for line in after.split("\n")]
    return "".join(out)


def bench(args: argparse.Namespace) -> dict[str, Any]:
    """The whole benchmark for parsed ``args``."""
    from ppcreloc.diff import profile_for_version
    from ppcreloc.errors import PpcrelocError
    from ppcreloc.reference.kernel.build import tree_version

    if args.examples < 1:
        raise BenchError("--examples must be at least 1")
    mutants = _selected(args)
    tree, source = _source(args.tree)
    try:
        profile = profile_for_version(tree_version(tree))
    except PpcrelocError as exc:
        raise BenchError(str(exc)) from None
    campaigns, modes = tuple(args.campaigns), tuple(args.placeholders)
    started = time.monotonic()
    scratch = Path(tempfile.mkdtemp(prefix="ppcreloc-mutation-"))
    old_cache = os.environ.get("PPCRELOC_CACHE")
    os.environ["PPCRELOC_CACHE"] = str(scratch / "cache")  # mutant builds never reach the user's
    try:
        runs = {m: Run("", m, args.examples, args.seed, scratch / "fixtures" / "baseline")
                for m in modes}
        base = mutant_tree(tree, source, scratch / "unmutated")
        base_doc = baseline(f"kernel:{base}", profile, runs, campaigns)
        known = {m: set(base_doc["fuzz"][m]) for m in modes}
        rows = [run_mutant(m, tree, source, scratch, profile, runs, known, f"kernel:{base}",
                           campaigns) for m in mutants]
    finally:
        if old_cache is None:
            os.environ.pop("PPCRELOC_CACHE", None)
        else:
            os.environ["PPCRELOC_CACHE"] = old_cache
        shutil.rmtree(scratch, ignore_errors=True)
    return {"tree": str(args.tree), "version": tree_version(tree), "against": profile,
            "examples": args.examples, "seed": args.seed, "placeholders": list(modes),
            "campaigns": list(campaigns), "baseline": base_doc,
            "score": score(rows, campaigns, modes),
            "missed": [r["name"] for r in rows if r["status"] == "missed"],
            "equivalent": [{"name": r["name"], "reason": r["equivalent"], "status": r["status"]}
                           for r in rows if r["equivalent"]],
            "mutants": rows, "elapsed_s": round(time.monotonic() - started, 1)}


if __name__ == "__main__":
    sys.exit(main())
