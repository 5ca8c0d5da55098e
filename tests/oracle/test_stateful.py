"""Stateful: bring target modules up and down at fresh or reused addresses, check after each step.

The machine loads one generated livepatch module, then interleaves ``coming`` (a target object
loaded at a fresh generation's address, or again at one it had) and ``going`` steps. After every
step the engine runs the whole script so far (engines are deterministic, so the prefix replays
exactly) and the properties the profile is predicted to keep (ppcreloc.matrix.PREDICTED) are
checked on the newest step:

* first_coming_ok (``apply``): a target's first coming succeeds;
* same_address_ok (``apply_clear_apply``): coming again at an address it had succeeds (until
  `.stubs` has overflowed: see :meth:`LoaderMachine._stubs_overrun`);
* every_step_ok (``reload_cycles``, non-vacuous): every step succeeds with no access out of bounds;
* clear_restores: once no target is loaded, module memory outside `.stubs` is as after load.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from ppcreloc.engines import engine_names, get_engine
from ppcreloc.matrix import PREDICTED
from ppcreloc.records import RunResult, Step
from ppcreloc.strategies import Case, livepatch_objects


def _properties(engine: str) -> set[str]:
    p = PREDICTED
    out = set()
    if p[(engine, "apply")]:
        out.add("first_coming_ok")
    if p[(engine, "apply_clear_apply")]:
        out.add("same_address_ok")
        if p[(engine, "reload_cycles")]:  # judged only when re-apply works (else vacuous)
            out.add("every_step_ok")
    if p[(engine, "clear_restores")]:
        out.add("clear_restores")
    return out


class LoaderMachine(RuleBasedStateMachine):
    """One livepatch module; its target objects come and go."""

    engine_name = "full-undo"

    def __init__(self) -> None:
        super().__init__()
        self.engine = get_engine(self.engine_name)
        self.props = _properties(self.engine_name)
        self.case: Case | None = None
        self.steps: list[Step] = [Step("load")]
        self.loaded: dict[str, int] = {}
        self.had: dict[str, set[int]] = {}
        self.next_gen: dict[str, int] = {}
        self.run: RunResult | None = None
        self.after_load: dict[int, bytes] = {}

    def _run(self) -> RunResult:
        assert self.case is not None
        self.run = self.engine.run(self.case.scenario(list(self.steps)))
        return self.run

    def _stubs_overrun(self) -> bool:
        """True once a step accessed memory out of bounds (a stub written past `.stubs`).

        After that the sentinel walk (module_64.c stub_for_addr, 6.1-6.17) reads the stray stub's
        funcdata as non-zero, WARNs at i == num_stubs and returns 0, so even a coming at an
        address the target had fails with -ENOENT: a finding, judged by reload_cycles, not here.
        """
        return self.run is not None and any(s.oob for s in self.run.steps)

    def _stubs_section(self) -> int | None:
        assert self.case is not None
        return self.case.obj.section_index(".stubs")

    @initialize(case=livepatch_objects(require_targets=True, max_functions=3))
    def load(self, case: Case) -> None:
        self.case = case
        self.next_gen = {t: 0 for t in case.targets}
        self.had = {t: set() for t in case.targets}
        run = self._run()
        assert run.steps[0].rc == 0, run.steps[0].messages
        self.after_load = run.steps[0].memory

    def _targets(self) -> list[str]:
        return list(self.case.targets) if self.case else []

    def _step(self, step: Step) -> int:
        self.steps.append(step)
        run = self._run()
        assert len(run.steps) == len(self.steps)
        return run.steps[-1].rc

    @precondition(lambda self: any(t not in self.loaded for t in self._targets()))
    @rule(data=st.data())
    def coming_fresh(self, data: st.DataObject) -> None:
        t = data.draw(st.sampled_from([t for t in self._targets() if t not in self.loaded]))
        gen = self.next_gen[t]
        self.next_gen[t] += 1
        rc = self._step(Step("coming", t, gen))
        if not self.had[t] and "first_coming_ok" in self.props:
            assert rc == 0, f"first coming of {t} failed: {rc}"
        if rc == 0:
            self.loaded[t] = gen
            self.had[t].add(gen)

    @precondition(lambda self: any(t not in self.loaded and self.had.get(t)
                                   for t in self._targets()))
    @rule(data=st.data())
    def coming_again(self, data: st.DataObject) -> None:
        t = data.draw(st.sampled_from([t for t in self._targets()
                                       if t not in self.loaded and self.had[t]]))
        gen = data.draw(st.sampled_from(sorted(self.had[t])))
        exhausted = self._stubs_overrun()
        rc = self._step(Step("coming", t, gen))
        if "same_address_ok" in self.props and not exhausted:
            assert rc == 0, f"coming of {t} again at generation {gen} failed: {rc}"
        if rc == 0:
            self.loaded[t] = gen

    @precondition(lambda self: bool(self.loaded))
    @rule(data=st.data())
    def going(self, data: st.DataObject) -> None:
        t = data.draw(st.sampled_from(sorted(self.loaded)))
        del self.loaded[t]
        self._step(Step("going", t, 0))

    @invariant()
    def every_step_ok(self) -> None:
        if self.run is None or "every_step_ok" not in self.props:
            return
        last = self.run.steps[-1]
        assert last.rc == 0, (last.step, last.messages)
        assert not last.oob, last.oob[:2]

    @invariant()
    def clear_restores(self) -> None:
        if self.run is None or "clear_restores" not in self.props or self.loaded:
            return
        stubs = self._stubs_section()
        now = self.run.steps[-1].memory
        for index, data in self.after_load.items():
            if index != stubs:
                assert now[index] == data, f"section {index} differs from after load"


def _machine(engine: str) -> type[LoaderMachine]:
    return type(f"LoaderMachine_{engine}", (LoaderMachine,), {"engine_name": engine})


@pytest.mark.parametrize("engine_name", engine_names())
def test_loader_state_machine(engine_name: str) -> None:
    machine = _machine(engine_name)
    machine.TestCase.settings = settings(
        max_examples=max(1, 20 * settings.default.max_examples // 100), stateful_step_count=12,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    machine.TestCase().runTest()


def test_machine_catches_a_profile_that_breaks_its_prediction() -> None:
    """The machine is not vacuous: held to full-undo's properties, v6.12 fails (clear_restores
    or the reload cycles' out-of-bounds stub write)."""
    broken = type("Pretend612IsFullUndo", (LoaderMachine,), {
        "engine_name": "v6.12",
        "__init__": _pretend_full_undo_init,
    })
    broken.TestCase.settings = settings(
        max_examples=50, stateful_step_count=12, deadline=None, database=None,
        suppress_health_check=list(HealthCheck), phases=[Phase.generate],
    )
    with pytest.raises(AssertionError):
        broken.TestCase().runTest()


def _pretend_full_undo_init(self: LoaderMachine) -> None:
    LoaderMachine.__init__(self)
    self.props = _properties("full-undo")


def _one_klp_call() -> Case:
    """One function doing `bl .klp.sym.ext4.do_work,0; nop`: the smallest object with a stub."""
    from ppcreloc.elf.builder import ObjectBuilder
    from ppcreloc.elf.model import SHN_LIVEPATCH, STB_GLOBAL, STT_FUNC
    from ppcreloc.strategies import _ppc as P
    from ppcreloc.strategies.worlds import VMLINUX, VMLINUX_BASE, ObjectSpec, WorldSpec, WorldSymbol

    b = ObjectBuilder()
    text = b.add_section(".text.fn", (P.BL.to_bytes(4, "little") + P.NOP.to_bytes(4, "little")
                                      + P.BLR.to_bytes(4, "little")))
    sym = b.add_symbol(".klp.sym.ext4.do_work,0", bind=STB_GLOBAL, type=STT_FUNC,
                       shndx=SHN_LIVEPATCH)
    b.add_rela(text, 0, sym, P.R_PPC_REL24, section=".klp.rela.ext4..text.fn")
    b.add_stubs()
    world = WorldSpec(
        ObjectSpec(VMLINUX, (), (VMLINUX_BASE,)),
        (ObjectSpec("ext4", (WorldSymbol("do_work", 0x100),),
                    tuple(0xC008_2000_0000_0000 + g * 0x100_0000 for g in range(4))),),
    )
    return Case(b.build(), world, targets=("ext4",))


@pytest.mark.parametrize(("engine_name", "rc_again", "overrun"), [
    ("v6.12", -2, True), ("klp-clear-v7", -2, True), ("full-undo", 0, False)])
def test_stub_overrun_breaks_even_same_address_reload(engine_name: str, rc_again: int,
                                                      overrun: bool) -> None:
    """Finding: once reloads at fresh addresses have pushed a stub past `.stubs` (gen 2 here:
    2 ftrace stubs + gen 0 + gen 1 fill the 4 slots), coming back at that same address fails:
    stub_for_addr's walk now sees the stray stub's non-zero funcdata at i == num_stubs, WARNs
    and returns 0 (-ENOENT), so the target module is refused. full-undo frees slots on going."""
    case = _one_klp_call()
    steps = [Step("load")]
    for gen in (0, 1, 2, 2):
        steps += [Step("coming", "ext4", gen), Step("going", "ext4", gen)]
    run = get_engine(engine_name).run(case.scenario(steps))
    comings = [s for s in run.steps if s.step.kind == "coming"]
    assert [s.rc for s in comings[:3]] == [0, 0, 0]
    assert any(s.oob for s in comings[2:3]) == overrun
    assert comings[3].rc == rc_again
    assert (comings[3].warns > 0) == overrun
