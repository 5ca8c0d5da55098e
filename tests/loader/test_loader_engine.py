"""ModelEngine end to end (load / coming / going / coming per profile) and the engine factory."""

from __future__ import annotations

import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from realmodules import SERIES_PARAMS, package

from ppcreloc.elf.builder import ObjectBuilder
from ppcreloc.elf.model import SHN_LIVEPATCH, STB_GLOBAL, ElfObject
from ppcreloc.engines import ModelEngine, engine_names, get_engine
from ppcreloc.errors import PpcrelocError, UsageError
from ppcreloc.loader.world import SymbolWorld
from ppcreloc.records import Layout, Scenario, Step
from ppcreloc.strategies.objects import livepatch_objects

R_PPC_REL24 = 10
BL = 0x48000001
NOP = 0x60000000
LD_R2 = 0xE8410018
STUB = 40
FUNCDATA = 32
ORIGINAL = b"".join(w.to_bytes(4, "little") for w in (BL, NOP))
PROFILES = ["v6.1", "klp-clear-v7", "v6.12", "full-undo"]
CYCLE = [Step("load"), Step("coming", "ext4", 0), Step("going", "ext4", 0), Step("coming", "ext4", 1)]


def _livepatch() -> ElfObject:
    """`bl foo; nop` where foo is a SHN_LIVEPATCH symbol in target module ext4."""
    b = ObjectBuilder()
    text = b.add_section(".text", ORIGINAL)
    b.add_stubs()
    sym = b.add_symbol(".klp.sym.ext4.foo,0", bind=STB_GLOBAL, shndx=SHN_LIVEPATCH)
    b.add_rela(text, 0, sym, R_PPC_REL24, section=".klp.rela.ext4..text")
    return b.build()


def _run(profile: str, steps=None, layout: Layout | None = None, world=None):
    obj = _livepatch()
    world = world or SymbolWorld.synthetic()
    scenario = Scenario(obj, world, list(steps or CYCLE), layout or Layout())
    return obj, world, ModelEngine(profile).run(scenario)


def _text(obj, step) -> bytes:
    return step.memory[obj.section_index(".text")]


def _u32(data: bytes, off: int) -> int:
    return int.from_bytes(data[off : off + 4], "little")


def _funcdata(step, stubs_index: int, slot: int) -> int:
    data = step.memory[stubs_index]
    return int.from_bytes(data[slot * STUB + FUNCDATA : slot * STUB + FUNCDATA + 8], "little")


@pytest.mark.parametrize("profile", PROFILES)
def test_load_coming_going_coming(profile):
    obj, world, run = _run(profile)
    assert run.engine == profile
    assert [s.step for s in run.steps] == CYCLE
    stubs = obj.section_index(".stubs")
    text_addr = next(p.addr for p in run.placements if p.name == ".text")
    stubs_addr, stubs_size = run.stubs
    assert stubs_size == 4 * STUB  # terminator + one REL24 + two ftrace stubs
    assert {p.name for p in run.placements} == {".text", ".stubs", ".klp.rela.ext4..text"}
    load, coming0, going, coming1 = run.steps
    assert load.rc == 0 and _text(obj, load) == ORIGINAL  # module-specific klp: not at load
    assert _funcdata(load, stubs, 0) == world.vmlinux_symbol("ftrace_caller")
    # coming: the third slot is the stub to foo@gen0; bl points at it; nop became ld r2
    assert coming0.rc == 0
    assert _funcdata(coming0, stubs, 2) == world.lookup("ext4", "foo", 0)[0]
    slot2 = stubs_addr + 2 * STUB
    assert _u32(_text(obj, coming0), 0) == BL | ((slot2 - text_addr) & 0x03FFFFFC)
    assert _u32(_text(obj, coming0), 4) == LD_R2
    for n, sr in enumerate(run.steps):
        assert all(w.step == n for w in sr.writes)
        assert all(e.step == n for e in sr.oob)
    expect_going = {
        "v6.1": _text(obj, coming0),
        "v6.12": _text(obj, coming0),
        "klp-clear-v7": _text(obj, coming0)[:4] + NOP.to_bytes(4, "little"),
        "full-undo": ORIGINAL,
    }[profile]
    assert going.rc == 0 and _text(obj, going) == expect_going
    assert going.messages[0].fmt == "reverting patch '%s' on unloading module '%s'\n"
    if profile == "v6.1":  # restore_r2 rejects its own ld r2 (no 37251c7114e1)
        assert coming1.rc == -8
        assert "Expected nop after call" in coming1.messages[0].fmt
        assert coming1.failed_reloc is not None and coming1.failed_reloc.type == R_PPC_REL24
        return
    assert coming1.rc == 0 and coming1.failed_reloc is None
    foo1 = world.lookup("ext4", "foo", 1)[0]
    used = [_funcdata(coming1, stubs, k) for k in range(4)]
    assert foo1 in used
    slot = used.index(foo1)
    assert _u32(_text(obj, coming1), 0) == BL | ((stubs_addr + slot * STUB - text_addr) & 0x03FFFFFC)
    assert _u32(_text(obj, coming1), 4) == LD_R2


def test_v6_12_stub_exhaustion_writes_past_stubs_then_warns():
    steps = [Step("load")]
    for g in range(4):
        steps += [Step("coming", "ext4", g), Step("going", "ext4", g)]
    obj, _, run = _run("v6.12", steps)
    stubs_addr, stubs_size = run.stubs
    comings = [s for s in run.steps if s.step.kind == "coming"]
    assert [s.rc for s in comings] == [0, 0, 0, -2]
    assert [s.warns for s in comings] == [0, 0, 0, 1]
    third = comings[2]
    oob_writes = [w for w in third.writes if not w.in_bounds]
    assert oob_writes and all(w.addr >= stubs_addr + stubs_size for w in oob_writes)
    assert third.after_stubs[FUNCDATA : FUNCDATA + 8] != bytes(8)  # a full stub landed there
    assert comings[1].after_stubs == bytes(64)


def test_v6_12_nonzero_memory_after_stubs_stops_the_walk():
    steps = [Step("load")] + [Step("coming", "ext4", g) for g in range(3)]
    _, _, run = _run("v6.12", steps, Layout(after_stubs=b"\xff" * 64))
    assert [s.rc for s in run.steps] == [0, 0, 0, -2]
    assert run.steps[-1].warns == 1
    assert not [w for s in run.steps for w in s.writes if not w.in_bounds]
    assert [e.kind for e in run.steps[-1].oob] == ["read"]


def test_failed_load_reports_only_the_load_step():
    b = ObjectBuilder()
    b.add_section(".text", ORIGINAL)
    obj = b.build()  # no .stubs
    run = ModelEngine("v6.12").run(Scenario(obj, SymbolWorld.synthetic(), CYCLE))
    assert len(run.steps) == 1
    assert run.steps[0].rc == -8
    assert run.placements == [] and run.stubs == (0, 0)


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([], "must start with a 'load' step"),
        ([Step("coming", "ext4")], "must start with a 'load' step"),
        ([Step("load"), Step("load")], "step 1: 'load' may only be the first step"),
        ([Step("load"), Step("going")], "step 1: 'going' needs an object name"),
        ([Step("load"), Step("coming", "ext4", -1)], "generation -1 is negative"),
    ],
)
def test_bad_scripts(steps, message):
    with pytest.raises(UsageError, match=message):
        ModelEngine("v6.12").run(Scenario(_livepatch(), SymbolWorld.synthetic(), steps))


def test_generation_beyond_the_world_is_a_user_error():
    with pytest.raises(PpcrelocError, match="generation 5000 out of range"):
        _run("v6.12", [Step("load"), Step("coming", "ext4", 5000)])


def test_factory():
    assert engine_names() == [*PROFILES, "v6.13", "v6.18"]
    for name in PROFILES:
        engine = get_engine(name)
        assert isinstance(engine, ModelEngine) and engine.name == name
    with pytest.raises(UsageError) as e:
        get_engine("v5.4")
    assert str(e.value) == (
        "unknown engine 'v5.4' (known: v6.1, klp-clear-v7, v6.12, full-undo, v6.13, v6.18, "
        "kernel:PATH, PATH.py:Class)"
    )
    with pytest.raises(UsageError, match="kernel engine needs a path"):
        get_engine("kernel:")


def test_kernel_engine_import_failure_is_a_usage_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "ppcreloc.reference.kernel.engine", None)
    with pytest.raises(UsageError, match="^kernel engine not available: "):
        get_engine("kernel:/usr/src/linux")


def test_kernel_engine_is_built_lazily(monkeypatch):
    made: list[str] = []

    class FakeKernelEngine:
        def __init__(self, path: str) -> None:
            made.append(path)
            self.name = f"kernel:{path}"

    module = type(sys)("ppcreloc.reference.kernel.engine")
    module.KernelEngine = FakeKernelEngine  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "ppcreloc.reference.kernel.engine", module)
    engine = get_engine("kernel:/tmp/tree")
    assert made == ["/tmp/tree"] and engine.name == "kernel:/tmp/tree"


@pytest.mark.realmodules
@pytest.mark.parametrize("series", SERIES_PARAMS)
def test_real_debian_module_loads_under_every_profile(series):
    from ppcreloc.cli import load_object

    obj = load_object(str(package(series).find("af_key")))
    for name in PROFILES:
        run = get_engine(name).run(Scenario(obj, SymbolWorld.synthetic(), [Step("load")],
                                            modname="af_key"))
        load = run.steps[0]
        assert load.rc == 0, [m.render() for m in load.messages]
        assert load.oob == [] and load.warns == 0
        assert len(load.writes) > 1000
        assert all(p.size == 0 or p.addr for p in run.placements)


def _replay(memory: dict[int, bytes], after: bytes, run, writes) -> tuple[dict[int, bytes], bytes]:
    """Apply ``writes`` byte by byte to section snapshots and the after-.stubs bytes."""
    secs = {i: bytearray(b) for i, b in memory.items()}
    tail = bytearray(after)
    spans = [(p.addr, p.addr + p.size, p.index) for p in run.placements]
    stubs_end = run.stubs[0] + run.stubs[1]
    for w in writes:
        for k, byte in enumerate(w.new):
            a = w.addr + k
            hit = next((i for lo, hi, i in spans if lo <= a < hi), None)
            if hit is not None:
                secs[hit][a - next(lo for lo, _, i in spans if i == hit)] = byte
            elif stubs_end <= a < stubs_end + len(tail):
                tail[a - stubs_end] = byte
    return {i: bytes(b) for i, b in secs.items()}, bytes(tail)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=st.one_of(livepatch_objects(require_targets=True),
                     livepatch_objects(placeholders="adversarial", require_targets=True)),
       profile=st.sampled_from(PROFILES), data=st.data())
def test_step_results_are_consistent_with_the_write_log(case, profile, data):
    script = [Step("load")]
    for _ in range(data.draw(st.integers(1, 6), label="steps")):
        kind = data.draw(st.sampled_from(["coming", "going"]), label="kind")
        target = data.draw(st.sampled_from(case.targets), label="target")
        script.append(Step(kind, target, data.draw(st.integers(0, 5), label="generation")))
    run = ModelEngine(profile).run(case.scenario(script))
    # the run stops after a failed load or a fault (a plain store into read-only text oopses)
    stop = next((n for n, sr in enumerate(run.steps)
                 if sr.fault is not None or (n == 0 and sr.rc)), None)
    assert len(run.steps) == (len(script) if stop is None else stop + 1)
    for n, sr in enumerate(run.steps):
        assert sr.step == script[n]
        assert all(w.step == n for w in sr.writes) and all(e.step == n for e in sr.oob)
        assert (sr.failed_reloc is None) or sr.rc != 0 or sr.fault is not None
        if n:
            prev = run.steps[n - 1]
            assert _replay(prev.memory, prev.after_stubs, run, sr.writes) == (sr.memory, sr.after_stubs)
        assert set(sr.memory) == {p.index for p in run.placements}


def test_failed_reloc_belongs_to_the_failing_section():
    b = ObjectBuilder()
    text = b.add_section(".text", ORIGINAL * 2)
    b.add_stubs()
    vm = b.add_symbol(".klp.sym.vmlinux.printk,0", bind=STB_GLOBAL, shndx=SHN_LIVEPATCH)
    b.add_rela(text, 0, vm, R_PPC_REL24, section=".klp.rela.vmlinux..text")  # applied at load
    b.add_rela(text, 8, vm, R_PPC_REL24, section=".klp.rela.vmlinux")
    obj = b.build()
    obj.sections[obj.section_index(".klp.rela.vmlinux")].name = ".klp.rela..bad"
    run = ModelEngine("v6.12").run(Scenario(obj, SymbolWorld.synthetic(), [Step("load")]))
    load = run.steps[0]
    assert load.rc == -22 and load.messages[-1].fmt == (
        "section %s has an incorrectly formatted name\n")
    assert [w.reloc.relsec for w in load.writes if w.reloc] != []  # the first section applied
    assert load.failed_reloc is None  # ...but the failure is the name, not one of its relocs
