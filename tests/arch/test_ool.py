"""Out-of-line ftrace stubs (v6.13, v6.18): sizing, reservation, ftrace's writes, the 2025 OOL
corruption the oracle reports under in_bounds, the strategies that produce such objects, and the
6.18 counter running off the end of `.stubs` on reloads at fresh addresses (issue 15)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, seed, settings

from ppcreloc.arch.ftrace_ool import MFLR_R0, MTLR_R0, branch
from ppcreloc.campaign import Campaign, FuzzOptions
from ppcreloc.elf.builder import ObjectBuilder
from ppcreloc.elf.model import SHF_ALLOC, SHF_EXECINSTR, SHF_WRITE, SHN_LIVEPATCH, STB_GLOBAL
from ppcreloc.engines import ModelEngine
from ppcreloc.loader.world import SymbolWorld
from ppcreloc.oracle import build_script, check, judge
from ppcreloc.ppc64 import reloctypes as rt
from ppcreloc.records import Config, RunResult, Scenario, Step
from ppcreloc.replay import replay
from ppcreloc.strategies import livepatch_objects
from ppcreloc.strategies.ftrace_entries import SECTION, compiler_knobs

BL, NOP, BLR = 0x48000001, 0x60000000, 0x4E800020
CORPUS = Path(__file__).parents[1] / "fixtures"
STEPS = [Step("load"), Step("coming", "ext4", 0)]


def _words(*ws: int) -> bytes:
    return b"".join(w.to_bytes(4, "little") for w in ws)


def traced_object(traced: int = 2, nulls: int = 0):
    """``traced`` functions built with -fpatchable-function-entry=1 (nop at the entry, one
    ``__patchable_function_entries`` ADDR64 each, plus ``nulls`` NULL entries); the first one
    calls ext4's do_work through a klp REL24 (``.klp.rela.ext4..text.fn0``)."""
    b = ObjectBuilder()
    secs = [b.add_section(f".text.fn{i}", _words(NOP, BL, NOP, BLR) if i == 0 else
                          _words(NOP, BLR), flags=SHF_ALLOC | SHF_EXECINSTR)
            for i in range(traced)]
    pfe = b.add_section(SECTION, bytes(8 * (traced + nulls)), flags=SHF_ALLOC | SHF_WRITE,
                        addralign=8)
    b.add_stubs()
    for k, sec in enumerate(secs):
        b.add_rela(pfe, 8 * k, b.section_symbol(sec), rt.R_PPC64_ADDR64, 0)
    fn = b.add_symbol(".klp.sym.ext4.do_work,0", bind=STB_GLOBAL, shndx=SHN_LIVEPATCH)
    b.add_rela(secs[0], 4, fn, rt.R_PPC_REL24, section=".klp.rela.ext4..text.fn0")
    return b.build()


def run(engine: str, obj=None, config: Config | None = None) -> RunResult:
    scenario = Scenario(obj or traced_object(), SymbolWorld.synthetic(), STEPS,
                        config=config or Config())
    return ModelEngine(engine).run(scenario)


def stubs_of(r: RunResult) -> tuple[int, int]:
    return r.stubs[0], r.stubs[1] // 40


def verdict(engine: str, obj=None):
    obj = obj or traced_object()
    return check(obj, ModelEngine(engine), SymbolWorld.synthetic(), cycles=0)


# -- sizing and reservation ------------------------------------------------------------------
@pytest.mark.parametrize(("traced", "call_ops", "slots"),
                         [(1, True, 1), (2, True, 2), (5, True, 3), (5, False, 2), (6, True, 4)])
def test_get_stubs_size_adds_the_ool_slots_as_the_kernel_rounds_them(traced, call_ops, slots):
    """roundup(n * sizeof(ftrace_ool_stub), 40) / 40 on top of 6.12's count (1 terminator +
    1 klp REL24 + 2 ftrace); 6.18 has no terminator; 6.12 and OOL off add nothing."""
    cfg = Config(ftrace_call_ops=call_ops)
    assert stubs_of(run("v6.13", traced_object(traced), cfg))[1] == 4 + slots
    assert stubs_of(run("v6.18", traced_object(traced), cfg))[1] == 3 + slots
    assert stubs_of(run("v6.12", traced_object(traced), cfg))[1] == 4
    assert stubs_of(run("v6.13", traced_object(traced), Config(ftrace_out_of_line=False)))[1] == 4


def test_v6_13_reservation_loop_writes_the_first_entry_funcdata_every_time():
    r = run("v6.13", traced_object(5))  # 3 reserved slots
    base, _ = stubs_of(r)
    reserve = [w for w in r.steps[0].writes if w.what == "reserve ool stub"]
    assert [w.addr for w in reserve] == [base + 2 * 40 + 32] * 3  # stub[2] thrice, never 3, 4
    assert r.ool_stubs == (base + 2 * 40, 5 * 24)


def test_ftrace_init_ool_stub_writes_the_template_per_record():
    r = run("v6.13")
    ool, size = r.ool_stubs
    assert size == 48
    text = {p.name: p.addr for p in r.placements}
    tramp = stubs_of(r)[0]  # ftrace_caller's stub, slot 0
    mem = r.steps[0].writes
    entries = [w for w in mem if w.what.startswith("ftrace_ool_stub[")]
    assert [w.addr for w in entries] == [ool, ool + 24]
    for k, w in enumerate(entries):
        insn0 = ool + 24 * k + 8
        ip = text[f".text.fn{k}"]
        assert w.new == bytes(8) + _words(MFLR_R0, branch(insn0 + 4, tramp, True), MTLR_R0,
                                          branch(insn0 + 12, ip + 4, False))
        assert w.primitive == "patch_instruction" and w.reloc is None


def test_v6_18_reserves_at_stub_count_and_sets_ftrace_nop_ops():
    r = run("v6.18")
    base, n = stubs_of(r)
    assert n == 5 and r.ool_stubs == (base + 2 * 40, 48)  # after the two tramp stubs
    ops = SymbolWorld.synthetic().vmlinux_symbol("ftrace_nop_ops")
    set_ops = [w for w in r.steps[0].writes if w.what.endswith(".ftrace_op")]
    assert [(w.addr, w.new) for w in set_ops] == [
        (base + 80 + 24 * k, ops.to_bytes(8, "little")) for k in range(2)]
    assert not [w for w in r.steps[0].writes if w.what == "reserve ool stub"]


# -- the corruption, and who sees it -----------------------------------------------------------
def test_klp_rel24_after_setup_writes_a_stub_over_ftrace_ool_stub_on_v6_13_only():
    r = run("v6.13")
    ool, size = r.ool_stubs
    base, _ = stubs_of(r)
    stub = [w for w in r.steps[1].writes if w.what.startswith("stub ")]
    # the walk stopped at stub[3] (zero funcdata inside the block): 40 bytes at base + 120
    assert min(w.addr for w in stub) == base + 3 * 40 < ool + size
    v = verdict("v6.13")
    res = v.invariants["in_bounds"]
    assert not res.holds
    assert res.violations[0].message == (
        f"coming(ext4, gen 0): write of 8 bytes at {base + 120:#x} (stub jump[0]) overlaps "
        "the reserved ftrace_ool_stub[1..1]")
    assert res.violations[0].type == rt.R_PPC_REL24 and res.violations[0].index == 0
    for engine in ("v6.18", "v6.12"):
        assert verdict(engine).invariants["in_bounds"].holds, engine


def test_one_traced_function_leaves_no_hole_in_the_block():
    """One 24-byte entry fits in the reserved slot whose funcdata the loop wrote: no overlap."""
    assert verdict("v6.13", traced_object(1)).invariants["in_bounds"].holds


def test_in_bounds_ignores_writes_outside_relocation_processing():
    """ftrace's own writes into the block (reloc None) are not the corruption."""
    obj = traced_object()
    scenario = Scenario(obj, SymbolWorld.synthetic(), [Step("load")])
    r = ModelEngine("v6.13").run(scenario)
    assert any(w.reloc is None and r.ool_stubs[0] <= w.addr for w in r.steps[0].writes)
    assert judge(obj, build_script([], 0), r).invariants["in_bounds"].holds


def test_the_promoted_ool_fixture_is_one_klp_rel24_and_two_traced_functions():
    (path,) = (CORPUS / "v6.13").glob("in_bounds-*.o")
    result = replay(path)
    assert not result.holds
    obj = result.inputs.obj
    relocs = [(obj.sections[s].name, r.type) for s, rs in obj.relocs.items() for r in rs]
    assert sorted(relocs) == sorted([(".klp.rela.ext4..text.livepatch_fn0", rt.R_PPC_REL24),
                                     (f".rela{SECTION}", rt.R_PPC64_ADDR64),
                                     (f".rela{SECTION}", rt.R_PPC64_ADDR64)])
    assert "overlaps the reserved ftrace_ool_stub[1..1]" in result.verdict.invariants[
        "in_bounds"].message
    assert replay(path, "v6.18").holds and replay(path, "v6.12").holds


# -- point 3: the 6.18 counter at the end of .stubs --------------------------------------------
def test_v6_18_reload_writes_one_stub_at_stubs_num_stubs_then_warns():
    """b137312fbf2d: the WARN_ON(i >= num_stubs) sits inside the i < stub_count loop, so when
    stub_count == num_stubs the loop ends without it and create_stub fills stubs[num_stubs],
    past `.stubs`, silently; the next fresh address WARNs and fails with -ENOENT."""
    (path,) = (CORPUS / "v6.18").glob("reload_cycles-*.o")
    r = replay(path).verdict.run
    base, size = r.stubs
    comings = [(s.step.generation, s) for s in r.steps if s.step.kind == "coming"]
    by_gen = {g: s for g, s in comings if g <= 2}
    assert by_gen[1].rc == 0 and not by_gen[1].warn_sites
    oob = sorted(w.addr for w in by_gen[1].writes if not w.in_bounds)
    assert oob[0] == base + size and oob[-1] < base + size + 40
    assert by_gen[2].rc == -2
    assert by_gen[2].warn_sites == ["stub_for_addr: WARN_ON(i >= num_stubs)"]
    assert not [w for w in by_gen[2].writes if not w.in_bounds]


# -- strategies ---------------------------------------------------------------------------------
_FAST = settings(max_examples=25, deadline=None, database=None,
                 suppress_health_check=list(HealthCheck))


@seed(3)
@_FAST
@given(livepatch_objects(require_targets=True, patchable_entries=True))
def test_patchable_entries_are_compiler_like(case):
    obj = case.obj
    idx = obj.section_index(SECTION)
    mflr = MFLR_R0.to_bytes(4, "little")  # no mflr r0; bl _mcount under the patchable entry
    for sec in obj.sections:
        if sec.name.startswith(".text."):
            assert all(sec.data[k : k + 4] != mflr for k in range(0, len(sec.data), 4))
    if idx is None:
        return
    relsec = obj.section_index(f".rela{SECTION}")
    assert relsec is not None
    entries = obj.relocs[relsec]
    assert obj.sections[idx].sh_size == 8 * len(entries)
    for r in entries:
        assert r.type == rt.R_PPC64_ADDR64
        sec = obj.sections[obj.symbols[r.sym].shndx]
        assert sec.name.startswith(".text.")
        assert sec.data[r.addend : r.addend + 4] == NOP.to_bytes(4, "little")


@seed(3)
@_FAST
@given(livepatch_objects(require_targets=True))
def test_default_objects_have_no_patchable_entries(case):
    assert case.obj.section_index(SECTION) is None


def test_compiler_knobs_follow_the_engine_kernel():
    assert compiler_knobs(ModelEngine("v6.13")) == {"patchable_entries": True}
    assert compiler_knobs(ModelEngine("v6.18")) == {"patchable_entries": True}
    assert compiler_knobs(ModelEngine("v6.12")) == {}
    off = Config(ftrace_out_of_line=False)
    assert compiler_knobs(ModelEngine("v6.13"), off) == {"patchable_entries": False}


def test_seeded_v6_13_campaign_finds_the_ool_corruption(tmp_path):
    opts = FuzzOptions(engine="v6.13", examples=30, seed=1, fixtures=str(tmp_path))
    found = Campaign(opts).run(30, None).found
    (f,) = [f for f in found if f.invariant == "in_bounds"]
    sidecar = json.loads(Path(f.fixture).with_suffix(".json").read_text())
    assert "overlaps the reserved ftrace_ool_stub" in sidecar["violation"]["message"]
    assert sidecar["violation"]["type_name"] == "R_PPC64_REL24"
