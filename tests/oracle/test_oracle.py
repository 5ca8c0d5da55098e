"""The oracle on hand-built RunResults: each invariant holding and failing, the script shape."""

from __future__ import annotations

import json

import pytest

from ppcreloc.elf.builder import ObjectBuilder
from ppcreloc.elf.model import SHF_ALLOC, SHF_RELA_LIVEPATCH, SHN_LIVEPATCH, STB_GLOBAL
from ppcreloc.engines import ModelEngine
from ppcreloc.loader.world import SymbolWorld
from ppcreloc.oracle import (
    INVARIANTS,
    Violation,
    build_script,
    check,
    judge,
    target_objects,
)
from ppcreloc.records import (
    Config,
    KernelMessage,
    OobAccess,
    Placement,
    RelocRef,
    RunResult,
    Step,
    StepResult,
    Write,
)

R_PPC_REL24 = 10
TEXT = 0x1000
STUBS = 0x2000
BL = bytes.fromhex("01000048")  # bl . (LE)
NOP = bytes.fromhex("00000060")
LD_R2 = bytes.fromhex("180041e8")


def klp_object(targets: tuple[str, ...] = ("foo",)):
    """One external `bl; nop` per target object, each calling bar() in it."""
    b = ObjectBuilder()
    text = b.add_section(".text", (BL + NOP) * len(targets))
    b.add_stubs()
    for k, t in enumerate(targets):
        sym = b.add_symbol(f".klp.sym.{t}.bar,0", bind=STB_GLOBAL, shndx=SHN_LIVEPATCH)
        b.add_rela(text, 8 * k, sym, R_PPC_REL24, section=f".klp.rela.{t}..text")
    return b.build()


OBJ = klp_object()
RELSEC = OBJ.section_index(".klp.rela.foo..text")
REF = RelocRef(relsec=RELSEC, index=0, offset=0, type=R_PPC_REL24, sym=1, symname=".klp.sym.foo.bar,0")


def w(addr: int, old: bytes, new: bytes, step: int, *, in_bounds: bool = True) -> Write:
    return Write(addr, old, new, "patch_instruction", step, REF, in_bounds)


def branch(li: int) -> bytes:
    return (0x48000001 | li).to_bytes(4, "little")


def stub_write(step: int, slot: int) -> Write:
    return w(STUBS + 40 * slot, bytes(4), bytes.fromhex("deadbeef"), step)


def run_for(script, writes=None, rc=None, oob=None, messages=None, memory=None) -> RunResult:
    """A RunResult for ``script``: per-step writes, rc, oob events, messages, snapshots."""
    writes, rc, oob = writes or {}, rc or {}, oob or {}
    messages, memory = messages or {}, memory or {}
    steps = [
        StepResult(
            step=s,
            rc=rc.get(i, 0),
            writes=writes.get(i, []),
            oob=oob.get(i, []),
            messages=messages.get(i, []),
            memory=memory.get(i, {}),
        )
        for i, s in enumerate(script.steps)
    ]
    return RunResult(
        engine="hand",
        steps=steps,
        placements=[Placement(1, ".text", TEXT, 8), Placement(2, ".stubs", STUBS, 80)],
        stubs=(STUBS, 80),
    )


def full_undo_writes(script) -> dict[int, list[Write]]:
    """What a profile that undoes everything writes: apply, exact undo, apply, ... ."""
    out: dict[int, list[Write]] = {}
    for i, step in enumerate(script.steps):
        li = 0x1000 - 0x40 * step.generation  # a different stub distance per generation
        if step.kind == "coming":
            out[i] = [stub_write(i, step.generation), w(TEXT + 4, NOP, LD_R2, i),
                      w(TEXT, BL, branch(li), i)]
        elif step.kind == "going":
            out[i] = [w(TEXT + 4, LD_R2, NOP, i), w(TEXT, branch(li), BL, i)]
    return out


def holds(verdict) -> dict[str, bool]:
    return {name: r.holds for name, r in verdict.invariants.items()}


def test_script_shape():
    script = build_script(["a", "b"], 2)
    kinds = [(s.kind, s.objname, s.generation) for s in script.steps]
    assert kinds == [
        ("load", None, 0),
        ("coming", "a", 0), ("coming", "b", 0),
        ("going", "a", 0), ("coming", "a", 0), ("going", "b", 0), ("coming", "b", 0),
        ("going", "a", 0), ("coming", "a", 1), ("going", "b", 0), ("coming", "b", 1),
        ("going", "a", 1), ("coming", "a", 2), ("going", "b", 1), ("coming", "b", 2),
    ]
    assert script.phases.count("apply") == 3 and script.phases.count("cycles") == 8
    with pytest.raises(ValueError):
        build_script(["a"], -1)


def test_target_objects_skip_vmlinux_and_plain_rela():
    b = ObjectBuilder()
    text = b.add_section(".text", bytes(8))
    s = b.add_symbol(".klp.sym.vmlinux.x,0", bind=STB_GLOBAL, shndx=SHN_LIVEPATCH)
    b.add_rela(text, 0, s, 38, section=".klp.rela.vmlinux..text")
    b.add_rela(text, 0, s, 38, section=".klp.rela.ext4..text")
    b.add_rela(text, 0, s, 38, section=".klp.rela.ext4..text.unlikely")
    b.add_rela(text, 0, s, 38, section=".klp.rela.nfs.text")
    b.add_rela(text, 0, s, 38)  # plain .rela.text
    b.rela_section(text, ".klp.rela.noflag..text", flags=0)
    b.add_rela(text, 0, s, 38, section=".klp.rela.noflag..text")
    obj = b.build()
    idx = obj.section_index(".klp.rela.noflag..text")
    assert obj.sections[idx].flags & SHF_RELA_LIVEPATCH == 0
    assert target_objects(obj) == ["ext4", "nfs"]
    assert obj.sections[obj.section_index(".klp.rela.ext4..text")].flags & SHF_ALLOC


def test_all_hold_for_full_undo():
    script = build_script(["foo"], 3)
    verdict = judge(OBJ, script, run_for(script, full_undo_writes(script)))
    assert holds(verdict) == dict.fromkeys(INVARIANTS, True)
    assert verdict.holds and verdict.violations() == []
    assert all(r.message is None for n, r in verdict.invariants.items() if n != "abi_values")
    # no symbol world given: the klp symbols cannot be resolved, and the message says so
    assert "not judged: 5 symbol value not known here" in str(verdict.invariants["abi_values"].message)


def test_apply_fails():
    script = build_script(["foo"], 1)
    msg = KernelMessage("err", "%s: REL24 %li out of range!\n", ("livepatch_test", 1 << 30))
    run = run_for(script, full_undo_writes(script), rc={1: -8}, messages={1: [msg]})
    run.steps[1].failed_reloc = REF
    verdict = judge(OBJ, script, run)
    res = verdict.invariants["apply"]
    assert not res.holds and len(res.violations) == 1
    v = res.violations[0]
    assert (v.invariant, v.step, v.rc, v.step_desc) == ("apply", 1, -8, "coming(foo, gen 0)")
    assert v.section == ".klp.rela.foo..text" and v.type_name == "R_PPC64_REL24"
    assert v.symbol == ".klp.sym.foo.bar,0" and v.index == 0
    assert v.kernel_message == f"livepatch_test: REL24 {1 << 30} out of range!"
    # the invariants built on a successful first apply are not judged (reported once, above)
    for name in ("apply_clear_apply", "reload_cycles"):
        assert verdict.invariants[name].holds
        assert verdict.invariants[name].message.startswith("not judged")
        assert verdict.invariants[name].state == "not judged"


def test_load_fault_is_an_apply_failure():
    script = build_script(["foo"], 0)
    run = run_for(script, full_undo_writes(script))
    run.steps[0].fault = "Oops: plain store to read-only text"
    verdict = judge(OBJ, script, run)
    assert not verdict.invariants["apply"].holds
    assert "faulted" in verdict.invariants["apply"].message


def test_apply_clear_apply_fails_like_v61():
    script = build_script(["foo"], 1)
    writes = full_undo_writes(script)
    writes[2] = []  # no clear
    writes[3] = []  # restore_r2 refuses before writing
    msg = KernelMessage("err", "%s: Expected nop after call, got %08x at %pS\n",
                        ("livepatch_test", 0xE8410018, TEXT + 4))
    run = run_for(script, writes, rc={3: -8}, messages={3: [msg]})
    verdict = judge(OBJ, script, run)
    res = verdict.invariants["apply_clear_apply"]
    assert not res.holds
    assert res.violations[0].kernel_message == (
        f"livepatch_test: Expected nop after call, got e8410018 at {TEXT + 4:#x}"
    )
    assert verdict.invariants["apply"].holds
    assert verdict.invariants["reapply_identical"].holds
    assert verdict.invariants["reapply_identical"].message.startswith("not judged")
    assert verdict.invariants["reapply_identical"].state == "not judged"
    assert not verdict.invariants["clear_restores"].holds


def test_clear_restores_fails_when_going_is_a_noop():
    script = build_script(["foo"], 0)
    writes = full_undo_writes(script)
    writes[2] = [w(TEXT + 4, LD_R2, NOP, 2)]  # klp-clear-v7: only P+4 goes back
    verdict = judge(OBJ, script, run_for(script, writes))
    res = verdict.invariants["clear_restores"]
    assert not res.holds and len(res.violations) == 1
    v = res.violations[0]
    assert v.addr == TEXT and v.step == 2  # the whole branch write is shown
    assert v.expected == BL and v.actual == branch(0x1000)
    assert v.section == ".klp.rela.foo..text"
    # stub bytes are not required to be restored
    assert all(not STUBS <= x.addr < STUBS + 80 for x in res.violations)
    assert verdict.invariants["apply_clear_apply"].holds
    assert verdict.invariants["reapply_identical"].holds


def test_clear_restores_from_snapshots():
    """An engine that reports memory snapshots is judged from them, not from its writes."""
    script = build_script(["foo"], 0)
    writes = full_undo_writes(script)
    writes[2] = []  # the engine did not log the going writes ...
    restored = {1: BL + NOP}  # ... but its snapshot shows memory restored
    verdict = judge(OBJ, script, run_for(script, writes, memory={2: restored}))
    assert verdict.invariants["clear_restores"].holds
    bad = {1: branch(0x1000) + NOP}  # snapshot: the branch still patched
    verdict = judge(OBJ, script, run_for(script, writes, memory={2: bad}))
    assert not verdict.invariants["clear_restores"].holds


def test_reapply_identical_fails():
    script = build_script(["foo"], 0)
    writes = full_undo_writes(script)
    writes[3] = [w(TEXT + 4, NOP, LD_R2, 3), w(TEXT, BL, branch(0x2000), 3)]
    verdict = judge(OBJ, script, run_for(script, writes))
    res = verdict.invariants["reapply_identical"]
    assert not res.holds
    v = res.violations[0]
    assert len(res.violations) == 1
    assert v.addr == TEXT and v.expected == branch(0x1000) and v.actual == branch(0x2000)
    assert v.step == 3 and v.type_name == "R_PPC64_REL24"


def test_in_bounds_fails_on_restore_r2_read_past_section():
    script = build_script(["foo"], 0)
    oob = {1: [OobAccess("read", TEXT + 8, 4, 1, REF, "restore_r2")]}
    verdict = judge(OBJ, script, run_for(script, full_undo_writes(script), oob=oob))
    res = verdict.invariants["in_bounds"]
    assert not res.holds
    assert res.violations[0].addr == TEXT + 8 and "read" in res.violations[0].message
    assert verdict.invariants["apply"].holds


def test_in_bounds_flags_unmatched_oob_write():
    script = build_script(["foo"], 0)
    writes = full_undo_writes(script)
    writes[3].append(w(STUBS + 80, bytes(4), b"\x01\x02\x03\x04", 3, in_bounds=False))
    verdict = judge(OBJ, script, run_for(script, writes))
    v = verdict.invariants["in_bounds"].violations[0]
    assert v.expected == bytes(4) and v.actual == b"\x01\x02\x03\x04" and v.step == 3


def test_reload_cycles_fail_on_stub_overflow_only():
    script = build_script(["foo"], 4)
    writes = full_undo_writes(script)
    # the 3rd fresh address writes its stub past .stubs (sentinel scheme, zeroed memory after)
    k = next(i for i, s in enumerate(script.steps) if s.kind == "coming" and s.generation == 3)
    over = w(STUBS + 80, bytes(40), bytes(range(40)), k, in_bounds=False)
    writes[k] = [over, *writes[k][1:]]
    oob = {k: [OobAccess("write", STUBS + 80, 40, k, REF, "create_stub")]}
    verdict = judge(OBJ, script, run_for(script, writes, oob=oob))
    res = verdict.invariants["reload_cycles"]
    assert not res.holds and len(res.violations) == 1
    assert res.violations[0].step == k and res.violations[0].actual == bytes(range(40))
    assert "40 bytes" in res.message
    assert verdict.invariants["in_bounds"].holds  # only the base script counts for in_bounds


def test_reload_cycles_fail_on_enoent():
    script = build_script(["foo"], 2)
    last = len(script.steps) - 1
    run = run_for(script, full_undo_writes(script), rc={last: -2})
    run.steps[last].warns = 1
    res = judge(OBJ, script, run).invariants["reload_cycles"]
    assert not res.holds and res.violations[0].rc == -2
    assert "1 WARN" in res.message


def test_reload_cycles_zero_is_vacuous():
    script = build_script(["foo"], 0)
    res = judge(OBJ, script, run_for(script, full_undo_writes(script))).invariants["reload_cycles"]
    assert res.holds and res.message == "holds vacuously: cycles=0"


def test_no_targets_is_vacuous_but_apply_and_in_bounds_are_judged():
    b = ObjectBuilder()
    b.add_section(".text", bytes(8))
    obj = b.build()
    script = build_script(target_objects(obj), 8)
    assert [s.kind for s in script.steps] == ["load"]
    run = run_for(script)
    verdict = judge(obj, script, run)
    assert verdict.holds
    for name in ("apply_clear_apply", "clear_restores", "reapply_identical", "reload_cycles"):
        assert "vacuously" in verdict.invariants[name].message
        assert verdict.invariants[name].state == "not judged"
        assert verdict.invariants[name].to_dict()["holds"] is None
    assert verdict.invariants["apply"].state == verdict.invariants["in_bounds"].state == "holds"
    run.steps[0].rc = -8
    run.steps[0].oob = [OobAccess("write", 0x9000, 8, 0, None, "ADDR64")]
    verdict = judge(obj, script, run)
    assert not verdict.invariants["apply"].holds and not verdict.invariants["in_bounds"].holds


def test_missing_step_results_are_failures():
    script = build_script(["foo"], 1)
    run = run_for(script, full_undo_writes(script))
    run.steps = run.steps[:2]
    verdict = judge(OBJ, script, run)
    assert not verdict.invariants["apply_clear_apply"].holds
    assert "no result" in verdict.invariants["apply_clear_apply"].message


def test_violation_roundtrip_and_json_shape():
    script = build_script(["foo"], 0)
    writes = full_undo_writes(script)
    writes[2] = []
    verdict = judge(OBJ, script, run_for(script, writes))
    v = verdict.invariants["clear_restores"].violations[0]
    data = json.loads(json.dumps(v.to_dict()))
    assert Violation.from_dict(data) == v
    assert data["expected"] == v.expected.hex()
    shape = json.loads(json.dumps(verdict.to_dict()))
    assert shape["engine"] == "hand" and list(shape["invariants"]) == list(INVARIANTS)
    assert shape["invariants"]["clear_restores"]["holds"] is False
    assert set(shape["invariants"]["apply"]) == {"state", "holds", "message"}
    assert shape["invariants"]["apply"]["state"] == "holds"
    assert shape["invariants"]["clear_restores"]["state"] == "violated"
    assert "relocation: .klp.rela.foo..text[0] R_PPC64_REL24 (kernel: R_PPC_REL24)" in v.describe()


def test_two_targets_attributed_separately():
    obj = klp_object(("a", "b"))
    script = build_script(target_objects(obj), 0)
    assert script.targets == ("a", "b")
    writes = {}
    for i, s in enumerate(script.steps):
        if s.kind == "coming":
            off = 0 if s.objname == "a" else 4
            writes[i] = [w(TEXT + off, bytes(4), bytes([1, 2, 3, 4]), i)]
    verdict = judge(obj, script, run_for(script, writes))
    res = verdict.invariants["clear_restores"]
    assert [v.step_desc for v in res.violations] == ["going(a, gen 0)", "going(b, gen 0)"]
    assert [v.addr for v in res.violations] == [TEXT, TEXT + 4]
    assert verdict.invariants["reapply_identical"].holds


def test_step_is_data():
    assert Step("coming", "foo", 0) == build_script(["foo"], 0).steps[1]


def test_contiguous_oob_events_merge_into_one_violation():
    """create_stub's word-by-word writes past .stubs are reported as one 40-byte run."""
    script = build_script(["foo"], 0)
    writes = full_undo_writes(script)
    oob = []
    for k in range(10):
        addr = STUBS + 80 + 4 * k
        writes[1].append(w(addr, bytes(4), bytes([k] * 4), 1, in_bounds=False))
        oob.append(OobAccess("write", addr, 4, 1, REF, f"stub word {k}"))
    oob.append(OobAccess("read", STUBS + 200, 8, 1, REF, "stubs[5].funcdata"))
    res = judge(OBJ, script, run_for(script, writes, oob={1: oob})).invariants["in_bounds"]
    assert len(res.violations) == 2
    first, second = res.violations
    assert first.addr == STUBS + 80 and first.expected == bytes(40)
    assert first.actual == b"".join(bytes([k] * 4) for k in range(10))
    assert "(stub word 0 .. stub word 9)" in first.message
    assert second.message.endswith("out-of-bounds read of 8 bytes at 0x20c8 (stubs[5].funcdata)")


def test_kernel_message_levels():
    """Only error and warning messages are quoted; notices (klp_module_coming's) are not."""
    script = build_script(["foo"], 0)
    msgs = {1: [KernelMessage("notice", "applying patch '%s'\n", ("p",)),
                KernelMessage("err", "%s: boom\n", ("m",))]}
    run = run_for(script, full_undo_writes(script), rc={1: -8}, messages=msgs)
    v = judge(OBJ, script, run).invariants["apply"].violations[0]
    assert v.kernel_message == "m: boom"


def test_steps_not_run_after_failed_load_are_not_reported():
    script = build_script(["foo"], 2)
    run = run_for(script, {}, rc={0: -8})
    run.steps = run.steps[:1]
    res = judge(OBJ, script, run).invariants["apply"]
    assert len(res.violations) == 1 and res.violations[0].step_desc == "load"


# -- end to end: the oracle on the model engines ---------------------------------------------------
from ppcreloc.engines import get_engine  # noqa: E402

#: what each profile violates on one external `bl; nop` per target (built, no assembler needed)
E2E_EXPECTED = {
    "v6.1": {"apply_clear_apply", "clear_restores"},
    "klp-clear-v7": {"clear_restores", "reload_cycles"},
    "v6.12": {"clear_restores", "reload_cycles"},
    "full-undo": set(),
}


def violated(verdict) -> set[str]:
    return {n for n, r in verdict.invariants.items() if not r.holds}


@pytest.mark.parametrize("engine", list(E2E_EXPECTED))
def test_e2e_profiles_on_built_object(engine):
    verdict = check(klp_object(), get_engine(engine), SymbolWorld.synthetic())
    assert violated(verdict) == E2E_EXPECTED[engine]
    assert verdict.targets == ["foo"] and verdict.engine == engine
    for v in verdict.violations():
        assert v.section == ".klp.rela.foo..text" and v.symbol == ".klp.sym.foo.bar,0"


def test_e2e_two_targets_and_cycles_zero():
    verdict = check(klp_object(("a", "b")), get_engine("v6.12"), SymbolWorld.synthetic(), cycles=0)
    assert violated(verdict) == {"clear_restores"}
    steps = {v.step_desc for v in verdict.invariants["clear_restores"].violations}
    assert steps == {"going(a, gen 0)", "going(b, gen 0)"}


def test_e2e_vmlinux_only_object_is_applied_at_load():
    b = ObjectBuilder()
    data = b.add_section(".data", bytes(8), flags=SHF_ALLOC)
    b.add_stubs()
    sym = b.add_symbol(".klp.sym.vmlinux.jiffies,0", bind=STB_GLOBAL, shndx=SHN_LIVEPATCH)
    b.add_rela(data, 0, sym, 38, section=".klp.rela.vmlinux..data")  # R_PPC64_ADDR64
    verdict = check(b.build(), get_engine("v6.12"), SymbolWorld.synthetic())
    assert verdict.holds and verdict.targets == []
    load = verdict.run.steps[0]
    assert [len(w.new) for w in load.writes if w.reloc is not None] == [8]


# -- properties of the judge on arbitrary RunResults -----------------------------------------------
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_ADDRS = st.one_of(st.integers(TEXT, TEXT + 7), st.integers(STUBS, STUBS + 79),
                   st.integers(0, 2**64 - 9))


@st.composite
def _writes(draw, step: int) -> list[Write]:
    out = []
    for _ in range(draw(st.integers(0, 4))):
        addr = draw(_ADDRS)
        size = draw(st.sampled_from([1, 2, 4, 8]))
        inside = TEXT <= addr and addr + size <= TEXT + 8 or STUBS <= addr and addr + size <= STUBS + 80
        out.append(w(addr, draw(st.binary(min_size=size, max_size=size)),
                     draw(st.binary(min_size=size, max_size=size)), step, in_bounds=inside))
    return out


@st.composite
def _runs(draw):
    script = build_script(["foo"], draw(st.integers(0, 2)))
    writes = {i: draw(_writes(i)) for i in range(len(script.steps))}
    rc = {i: draw(st.sampled_from([0, 0, 0, -2, -8])) for i in range(len(script.steps))}
    run = run_for(script, writes, rc=rc)
    run.steps = run.steps[: draw(st.integers(1, len(run.steps)))]
    return script, run


@given(_runs())
def test_judge_total_on_arbitrary_runs(case):
    script, run = case
    verdict = judge(OBJ, script, run)
    assert list(verdict.invariants) == list(INVARIANTS)
    for v in verdict.violations():
        assert Violation.from_dict(json.loads(json.dumps(v.to_dict()))) == v
    clean = all(
        sr.rc == 0 and all(x.in_bounds for x in sr.writes) for sr in run.steps
    ) and len(run.steps) == len(script.steps)
    if clean:
        assert verdict.invariants["apply"].holds and verdict.invariants["in_bounds"].holds
        assert verdict.invariants["apply_clear_apply"].holds


@given(st.lists(st.tuples(st.integers(0, 7), st.binary(min_size=1, max_size=1)), max_size=8))
def test_exact_undo_always_restores(edits):
    """going writes back each byte's pre-apply value in reverse order: clear_restores holds."""
    script = build_script(["foo"], 0)
    mem = bytearray(BL + NOP)
    applied = []
    for off, new in edits:
        applied.append(w(TEXT + off, bytes(mem[off : off + 1]), new, 1))
        mem[off] = new[0]
    undo = [w(x.addr, x.new, x.old, 2) for x in reversed(applied)]
    redo = [w(x.addr, x.old, x.new, 3) for x in applied]
    verdict = judge(OBJ, script, run_for(script, {1: applied, 2: undo, 3: redo}))
    assert verdict.invariants["clear_restores"].holds
    assert verdict.invariants["reapply_identical"].holds


# -- faulted steps: a plain store into read-only module memory (kernel-facts 4.9) ---------------
R_PPC64_ADDR64 = 38


def _store_into_text_object():
    """A REL24 (patch_instruction: fine) and an ADDR64 (a plain store) into .text, for foo."""
    b = ObjectBuilder()
    text = b.add_section(".text", BL + NOP + bytes(8))
    b.add_stubs()
    func = b.add_symbol(".klp.sym.foo.bar,0", bind=STB_GLOBAL, shndx=SHN_LIVEPATCH)
    var = b.add_symbol(".klp.sym.foo.var,0", bind=STB_GLOBAL, shndx=SHN_LIVEPATCH)
    b.add_rela(text, 0, func, R_PPC_REL24, section=".klp.rela.foo.text")
    b.add_rela(text, 8, var, R_PPC64_ADDR64, section=".klp.rela.foo.text")
    return b.build()


@pytest.mark.parametrize("profile", ["v6.1", "v6.12", "full-undo"])
def test_plain_store_into_read_only_text_violates_apply(profile):
    obj = _store_into_text_object()
    verdict = check(obj, ModelEngine(profile), SymbolWorld.synthetic(), cycles=2)
    res = verdict.invariants["apply"]
    assert not res.holds and len(res.violations) == 1
    v = res.violations[0]
    text = next(p.addr for p in verdict.run.placements if p.name == ".text")
    assert (v.step, v.step_desc, v.addr) == (1, "coming(foo, gen 0)", text + 8)
    assert (v.section, v.type_name) == (".klp.rela.foo.text", "R_PPC64_ADDR64")
    assert "faulted (SIGSEGV): plain store into read-only .text" in v.message
    assert f"applying .klp.rela.foo.text[{v.index}] R_PPC64_ADDR64" in v.message  # sorted index
    assert len(verdict.run.steps) == 2  # the kernel oopsed: nothing after the faulting step
    for name in ("apply_clear_apply", "reload_cycles"):
        assert verdict.invariants[name].holds
        assert verdict.invariants[name].message.startswith("not judged")
    # without CONFIG_STRICT_MODULE_RWX the text stays writable and the store just works
    rw = check(obj, ModelEngine(profile), SymbolWorld.synthetic(), cycles=2,
               config=Config(strict_module_rwx=False))
    assert rw.invariants["apply"].holds


def _faulted_run(script, at: int) -> RunResult:
    """full-undo writes, with step ``at`` faulting on a plain store and nothing run after it."""
    run = run_for(script, full_undo_writes(script))
    ref = RelocRef(RELSEC, 0, 8, R_PPC64_ADDR64, 1, ".klp.sym.foo.bar,0")
    run.steps = run.steps[: at + 1]
    run.steps[at].fault = "SIGSEGV"
    run.steps[at].fault_addr = TEXT + 8
    run.steps[at].fault_what = "plain store into read-only .text (ADDR64)"
    run.steps[at].failed_reloc = ref
    return run


def test_faulted_going_violates_apply_clear_apply_once():
    script = build_script(["foo"], 2)
    going = [i for i, s in enumerate(script.steps) if s.kind == "going"][0]
    verdict = judge(OBJ, script, _faulted_run(script, going))
    res = verdict.invariants["apply_clear_apply"]
    assert not res.holds and len(res.violations) == 1  # not one more per step that never ran
    v = res.violations[0]
    assert v.step == going and v.addr == TEXT + 8 and v.type_name == "R_PPC64_ADDR64"
    assert "going(foo, gen 0) faulted (SIGSEGV): plain store into read-only .text" in v.message
    assert verdict.invariants["apply"].holds
    assert verdict.invariants["clear_restores"].holds  # the fault is reported once, above
    assert verdict.invariants["reload_cycles"].message.startswith("not judged")


def test_faulted_cycle_violates_reload_cycles_once():
    script = build_script(["foo"], 3)
    at = [i for i, p in enumerate(script.phases) if p == "cycles"][1]
    verdict = judge(OBJ, script, _faulted_run(script, at))
    res = verdict.invariants["reload_cycles"]
    assert not res.holds and [v.step for v in res.violations] == [at]
    assert "plain store into read-only .text" in res.message
    assert all(verdict.invariants[n].holds for n in INVARIANTS if n != "reload_cycles")
