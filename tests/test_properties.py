"""Every profile x invariant comes out as the kernel's code predicts (ppcreloc.matrix.PREDICTED).

Where an invariant must hold, a @given test asserts it on compiler-like objects. Where it must
fail, a bounded seeded search must find a counterexample, and Hypothesis must shrink it to the
minimal object: one REL24 against a SHN_LIVEPATCH symbol (every predicted failure needs only
that). Adversarial objects must never crash the tool, and the profiles must agree byte for byte
on everything before the first clear (they differ only in clear and stub bookkeeping).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from ppcreloc.elf.model import SHN_LIVEPATCH
from ppcreloc.elf.reader import read_elf
from ppcreloc.engine import Step
from ppcreloc.engines import engine_names, get_engine
from ppcreloc.fixtures import load_fixture
from ppcreloc.matrix import PREDICTED, minimal_counterexample, run_check, write_counterexample
from ppcreloc.oracle import INVARIANTS, check
from strategies import Case, livepatch_objects, to_symbol_world
from strategies import _ppc as P

ENGINES = engine_names()
HOLDS = {e: [i for i in INVARIANTS if PREDICTED[(e, i)]] for e in ENGINES}
FAILS = [(e, i) for e in ENGINES for i in INVARIANTS if not PREDICTED[(e, i)]]
#: the search budget for a predicted failure (found at example 1-3 with seed 0 today)
SEARCH_EXAMPLES = 60

prop = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_every_cell_has_a_prediction() -> None:
    assert set(ENGINES) == {"v6.1", "klp-clear-v7", "v6.12", "full-undo"}
    assert all((e, i) in PREDICTED for e in ENGINES for i in INVARIANTS)


@pytest.mark.parametrize("engine_name", ENGINES)
@prop
@given(case=livepatch_objects(require_targets=True))
def test_predicted_invariants_hold(engine_name: str, case: Case) -> None:
    verdict = run_check(case, get_engine(engine_name))
    for inv in HOLDS[engine_name]:
        result = verdict.invariants[inv]
        assert result.holds, f"{engine_name} {inv}: {result.message}"


@pytest.mark.parametrize(("engine_name", "invariant"), FAILS, ids=[f"{e}-{i}" for e, i in FAILS])
def test_predicted_failure_is_found_and_shrinks_to_one_relocation(
    engine_name: str, invariant: str, tmp_path: Path
) -> None:
    engine = get_engine(engine_name)
    minimal = minimal_counterexample(engine, invariant, SEARCH_EXAMPLES, 0, "compiler")
    assert minimal is not None, f"no counterexample in {SEARCH_EXAMPLES} examples"
    assert minimal.examples <= SEARCH_EXAMPLES
    case = minimal.case
    relocs = [r for rs in case.obj.relocs.values() for r in rs]
    assert len(relocs) == 1, relocs
    (rel,) = relocs
    assert rel.type == P.R_PPC_REL24
    assert case.obj.symbols[rel.sym].shndx == SHN_LIVEPATCH
    assert not minimal.verdict.invariants[invariant].holds
    # the stored fixture replays: the .o read back still violates the invariant
    path = write_counterexample(tmp_path, engine_name, invariant, minimal, 0, 8)
    elf, record = load_fixture(path)
    assert path.parent.name == engine_name and path.name.startswith(invariant + "-")
    assert record.invariant == invariant and not record.holds and record.violation
    replayed = check(read_elf(elf), engine, to_symbol_world(case.world), layout=case.layout)
    assert not replayed.invariants[invariant].holds


@pytest.mark.parametrize("engine_name", ENGINES)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=livepatch_objects(placeholders="adversarial"))
def test_adversarial_objects_never_crash_the_tool(engine_name: str, case: Case) -> None:
    """Hostile input yields a verdict (violations, refusals), never an exception."""
    verdict = run_check(case, get_engine(engine_name), cycles=2)
    for inv, result in verdict.invariants.items():
        assert result.holds or result.violations or result.message, inv
    run = verdict.run
    assert run is not None and run.steps[0].step.kind == "load"


def _first_apply_memory(engine_name: str, case: Case) -> tuple[list[int], list[dict[int, bytes]]]:
    steps = [Step("load")] + [Step("coming", t, 0) for t in case.targets]
    run = get_engine(engine_name).run(case.scenario(steps))
    return [s.rc for s in run.steps], [s.memory for s in run.steps]


@prop
@given(case=livepatch_objects())
def test_profiles_agree_until_the_first_clear(case: Case) -> None:
    """load and the first coming write the same bytes under every profile (compiler-like)."""
    results = {e: _first_apply_memory(e, case) for e in ENGINES}
    first = results[ENGINES[0]]
    assert all(rc == 0 for rc in first[0]), first[0]
    for e in ENGINES[1:]:
        assert results[e] == first, e
