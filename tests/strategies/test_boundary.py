"""Boundary strategies (ppcreloc/strategies/boundary.py): every limit is met exactly, at and one step
either side, and the verdict there is the kernel's (module_64.c apply_relocate_add, 6.12 and 6.1:
the pr_err messages with their values; the ENTRY rewrite only inside its window; the @ha carry).
The strategy reaches every point and knob, shows them as Hypothesis events, and campaigns draw it.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from ppcreloc.matrix import run_check
from ppcreloc.oracle import Verdict
from ppcreloc.records import Write
from ppcreloc.replay import resolve_engine
from ppcreloc.strategies import _ppc as P
from ppcreloc.strategies.boundary import (
    ADDENDS,
    DS_FORMS,
    INSIDE,
    POINTS,
    TAILS,
    TOC_SKEWS,
    Extras,
    Point,
    boundary_case,
    boundary_objects,
)
from ppcreloc.strategies.campaign import campaign_objects
from ppcreloc.strategies.worlds import (
    FTRACE_NAMES,
    VMLINUX,
    VMLINUX_BASE,
    VMLINUX_EXPORTS,
    ObjectSpec,
    SymbolChoice,
    WorldSpec,
    WorldSymbol,
    _bases,
)

ROOT = Path(__file__).resolve().parents[2]
ENOEXEC = 8
#: one target module "ext4" with a unique function (sympos 0 and 1 both resolve to it)
WORLD = WorldSpec(
    ObjectSpec(VMLINUX, tuple(WorldSymbol(n, 0x10_0000 + 0x100 * i, True)
                              for i, n in enumerate(FTRACE_NAMES + VMLINUX_EXPORTS)),
               (VMLINUX_BASE,)),
    (ObjectSpec("ext4", (WorldSymbol("do_work", 0x100),), _bases((0x20,), 4)),))
CALLEE = SymbolChoice("ext4", "do_work", 0)
#: relocation types whose written field shows the boundary value
FIELD_TYPES = {"REL24": (P.R_PPC_REL24,), "REL32": (P.R_PPC64_REL32,),
               "TOC16": (P.R_PPC64_TOC16,), "TOC16_DS": (P.R_PPC64_TOC16_DS,),
               "TOC16_LO_DS": (P.R_PPC64_TOC16_HA, P.R_PPC64_TOC16_LO_DS),
               "TOC16_HA": (P.R_PPC64_TOC16_HA, P.R_PPC64_TOC16_LO),
               "REL16_HA": (P.R_PPC64_REL16_HA, P.R_PPC64_REL16_LO)}


def sext(v: int, bits: int) -> int:
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


def run(case, profile: str = "v6.12") -> Verdict:  # type: ignore[no-untyped-def]
    return run_check(case, resolve_engine(profile), 1)


def writes_of(verdict: Verdict, step: int, rtype: int) -> list[Write]:
    assert verdict.run is not None
    return [w for w in verdict.run.steps[step].writes
            if w.reloc is not None and w.reloc.type == rtype]


def written_value(pt: Point, verdict: Verdict) -> int:
    """The value the boundary relocation wrote, decoded from its field(s) in memory."""
    types = FIELD_TYPES[pt.kind]
    fields = [int.from_bytes(writes_of(verdict, 0, t)[0].new, "little") for t in types]
    if pt.kind == "REL24":
        return sext(fields[0] & 0x03FF_FFFC, 26)
    if pt.kind == "REL32":
        return sext(fields[0], 32)
    if pt.kind == "TOC16":
        return sext(fields[0], 16)
    if pt.kind == "TOC16_DS":
        return sext(fields[0] & 0xFFFC, 16)
    ha, lo = fields  # @ha rounds so that addis (ha << 16) then addi/ld (lo) give the value
    return (sext(ha, 16) << 16) + sext(lo & (0xFFFC if pt.kind == "TOC16_LO_DS" else 0xFFFF), 16)


@pytest.mark.parametrize("profile", ["v6.12", "v6.1"])
@pytest.mark.parametrize("pt", POINTS, ids=[p.label[9:] for p in POINTS])
def test_verdict_at_each_point_is_the_kernels(pt: Point, profile: str) -> None:
    """At and inside a limit the value is applied exactly; one step over it the load fails
    with module_64.c's message and the value as printed (%li signed, %lx unsigned)."""
    v = run(boundary_case(pt, WORLD, CALLEE), profile)
    assert v.run is not None
    load = v.run.steps[0]
    if pt.kind == "ENTRY":  # never an error: rewritten to addis/addi only inside the window
        assert load.rc == 0 and v.invariants["abi_values"].holds
        rewrite = [w for w in load.writes if w.what.startswith("ENTRY")]
        assert bool(rewrite) == pt.ok
        if pt.ok:
            ha, lo = (int.from_bytes(w.new, "little") & 0xFFFF for w in rewrite)
            assert (sext(ha, 16) << 16) + sext(lo, 16) == pt.value  # addis, then addi
        return
    if pt.ok:
        assert load.rc == 0, [m.render() for m in load.messages]
        assert v.invariants["apply"].holds and v.invariants["abi_values"].holds
        assert written_value(pt, v) == pt.value
        return
    assert load.rc == -ENOEXEC
    (msg,) = [m for m in load.messages if m.level == "err"]
    assert pt.message in msg.fmt
    arg = msg.args[-1]
    assert arg == (pt.value if "%li" in msg.fmt else pt.value & (1 << 64) - 1)
    assert not v.invariants["apply"].holds


def test_inside_points_are_every_accepted_point() -> None:
    assert {p.kind for p in POINTS} == set(FIELD_TYPES) | {"ENTRY"}
    assert [p for p in POINTS if p not in INSIDE] == [p for p in POINTS
                                                      if not p.ok and p.kind != "ENTRY"]
    # every limit has its three points, and each check has a rejected neighbour
    assert len(POINTS) == 3 * len({(p.kind, p.limit) for p in POINTS})
    for kind in ("REL24", "TOC16", "TOC16_DS", "TOC16_LO_DS", "REL32"):
        assert any(p.kind == kind and not p.ok for p in POINTS)


@pytest.mark.parametrize("lep", range(8))
def test_local_calls_with_every_local_entry_value(lep: int) -> None:
    """REL24 to a local function adds local_entry_offset(st_other): at the +32 MiB limit the
    branch still lands exactly on the limit for every st_other value."""
    pt = next(p for p in POINTS if p.label == "boundary REL24 max at")
    case = boundary_case(pt, WORLD, CALLEE, Extras(local_entry=lep))
    callee = next(s for s in case.obj.symbols if s.name == "callee")
    assert callee.other >> 5 == lep
    v = run(case)
    assert written_value(pt, v) == pt.value
    assert v.run is not None
    where = {p.name: p.addr for p in v.run.placements}
    lep_bytes = ((1 << lep) >> 2) << 2
    assert where[".text.callee"] + lep_bytes - where[".text.boundary"] == pt.value


#: (tail, _mcount) -> whether restore_r2 accepts it, on 6.12 and on 6.1
TAIL_OK = {("nop", False): (True, True), ("ld r2", False): (True, False),
           ("other", False): (False, False), ("sibling", False): (True, True),
           ("nop", True): (True, True), ("ld r2", True): (True, True),
           ("other", True): (True, True), ("sibling", True): (True, True)}


@pytest.mark.parametrize(("tail", "mcount"), list(TAIL_OK))
def test_call_tails(tail: str, mcount: bool) -> None:
    """bl + nop is restored to ld r2,24(r1); an existing ld r2 is accepted since 6.3 only; any
    other word is "Expected nop after call"; _mcount calls and sibling b are never checked."""
    pt = INSIDE[0]
    for profile, ok in zip(("v6.12", "v6.1"), TAIL_OK[(tail, mcount)], strict=True):
        v = run(boundary_case(pt, WORLD, CALLEE, Extras(tail=tail, mcount=mcount)), profile)
        assert v.run is not None
        load = v.run.steps[0]
        assert (load.rc == 0) == ok, (profile, [m.render() for m in load.messages])
        if not ok:
            assert any("Expected nop after call" in m.fmt for m in load.messages)
        restored = [w for w in load.writes if w.what == "restore_r2"]
        assert bool(restored) == (ok and tail == "nop" and not mcount)


def _call_targets(v: Verdict) -> list[int]:
    writes = [w for w in writes_of(v, 1, P.R_PPC_REL24) if w.what == "REL24"]
    return sorted({w.addr + sext(int.from_bytes(w.new, "little") & 0x03FF_FFFC, 26)
                   for w in writes})


@pytest.mark.parametrize("alias", [False, True])
def test_repeated_calls_reuse_one_stub(alias: bool) -> None:
    """Calls to one target (also through sympos 0 and 1 of a unique name) share one stub
    (stub_for_addr finds it by address); a different addend needs another stub."""
    pt = INSIDE[0]
    same = run(boundary_case(pt, WORLD, CALLEE, Extras(repeat="same", alias=alias)))
    distinct = run(boundary_case(pt, WORLD, CALLEE, Extras(repeat="distinct", alias=alias)))
    # the repeated calls plus livepatch_fn0's call to the same target
    assert len(_call_targets(same)) == 1
    assert len(_call_targets(distinct)) == 2


def test_count_relocs_addend_collision() -> None:
    """count_relocs keeps r_addend in an unsigned int: addends 2**32 apart against one symbol
    count as one stub, so .stubs is sized as for two identical calls, smaller than for two
    distinct addends."""
    pt = INSIDE[0]
    size = {}
    for repeat in ADDENDS:
        v = run(boundary_case(pt, WORLD, CALLEE, Extras(repeat=repeat)))
        assert v.run is not None
        size[repeat] = v.run.stubs[1]
    assert size["collide 2^32"] == size["same"] < size["distinct"]
    assert size["collide -2^32"] == size["distinct"]  # 8 and 8 - 2**32: one slot short too


# -- the strategy ---------------------------------------------------------------------------
def _all_knobs() -> set[str]:
    out = {p.label for p in POINTS} | {f"local entry {k}" for k in range(8)}
    out |= {f"call tail {t}{m}" for t in TAILS for m in ("", " (_mcount)")}
    out |= {f"repeated calls {r}{a}" for r in ADDENDS for a in ("", " via sympos alias")}
    out |= {f"DS form {name}" for name in DS_FORMS.values()}
    out |= {f"toc page offset {skew:#x}" for skew in TOC_SKEWS}
    return out


def test_strategy_reaches_every_point_and_knob() -> None:
    """A fixed-seed run of the strategy draws every point and every knob value."""
    seen: set[str] = set()

    @settings(max_examples=1500, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(boundary_objects(world=WORLD))
    def draw(case) -> None:  # type: ignore[no-untyped-def]
        seen.update(case.knobs)

    draw()
    assert _all_knobs() - seen == set()


def test_inside_strategy_draws_only_accepted_cases() -> None:
    seen: set[str] = set()
    outside = {p.label for p in POINTS if p not in INSIDE}

    @settings(max_examples=300, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(boundary_objects(outside=False, world=WORLD))
    def draw(case) -> None:  # type: ignore[no-untyped-def]
        seen.update(case.knobs)
        assert not outside & set(case.knobs)
        assert not any(k.startswith(("call tail other", "call tail ld r2",
                                     "repeated calls collide")) for k in case.knobs)

    draw()
    assert {p.label for p in INSIDE} <= seen


def test_campaign_mixes_boundary_objects_in() -> None:
    """fuzz/diff draw from campaign_objects: boundary cases appear unless boundaries='off'."""
    kinds: dict[str, set[bool]] = {"inside": set(), "off": set()}
    for mode in kinds:
        @settings(max_examples=60, derandomize=True, database=None, deadline=None,
                  suppress_health_check=list(HealthCheck))
        @given(campaign_objects(boundaries=mode))
        def draw(case) -> None:  # type: ignore[no-untyped-def]
            kinds[mode].add(any(k.startswith("boundary ") for k in case.knobs))  # noqa: B023

        draw()
    assert kinds == {"inside": {True, False}, "off": {False}}
    with pytest.raises(ValueError, match="boundaries must be one of"):
        campaign_objects(boundaries="sometimes")


def test_adversarial_mode_mutates_boundary_cases() -> None:
    @settings(max_examples=20, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(campaign_objects(placeholders="adversarial", boundaries="all").filter(
        lambda c: bool(c.knobs)))
    def draw(case) -> None:  # type: ignore[no-untyped-def]
        assert case.mutations and case.placeholders == "adversarial"

    draw()


def test_knobs_show_in_hypothesis_statistics(tmp_path: Path) -> None:
    """Each knob is a hypothesis.event, listed by --hypothesis-show-statistics."""
    test = tmp_path / "test_events.py"
    test.write_text(textwrap.dedent("""\
        from hypothesis import given, settings
        from ppcreloc.strategies.boundary import boundary_objects

        @settings(max_examples=200, derandomize=True, database=None, deadline=None)
        @given(boundary_objects())
        def test_draw(case):
            pass
        """))
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "--hypothesis-show-statistics", str(test)],
                          capture_output=True, text=True, cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for text in ("% boundary REL24 ", "% boundary TOC16 ", "% boundary REL32 ",
                 "% boundary ENTRY ", "% local entry ", "% call tail ", "% repeated calls "):
        assert text in proc.stdout.replace("%,", "%"), proc.stdout


def test_boundary_fixture_replays(tmp_path: Path) -> None:
    """A boundary case written as a fixture keeps its pinned layout: replay reproduces the
    out-of-range failure."""
    from ppcreloc.cli import main
    from ppcreloc.elf.writer import write_elf
    from ppcreloc.fixtures import case_record, write_fixture

    pt = next(p for p in POINTS if p.label == "boundary REL32 max above")
    case = boundary_case(pt, WORLD, CALLEE)
    v = run(case)
    record = case_record(case, "v6.12", "apply", v, None, 1)
    path = write_fixture(tmp_path, write_elf(case.obj), record)
    assert main(["replay", str(path)]) == 1
    near = boundary_case(next(p for p in POINTS if p.label == "boundary REL32 max at"),
                         WORLD, CALLEE)
    path = write_fixture(tmp_path, write_elf(near.obj), case_record(near, "v6.12", "apply",
                                                                    run(near), None, 1))
    assert main(["replay", str(path)]) == 0


# -- the kernel's own C ---------------------------------------------------------------------
TREES = {"v6.1": Path("/usr/src/linux-source-6.1.tar.xz"),
         "v6.12": Path("/usr/src/linux-source-6.12.tar.xz")}


def _kernel_cases() -> list:  # type: ignore[type-arg]
    cases = [boundary_case(p, WORLD, CALLEE, Extras(local_entry=k % 8))
             for k, p in enumerate(POINTS)]
    cases += [boundary_case(INSIDE[0], WORLD, CALLEE, Extras(tail=t, mcount=m))
              for t, m in TAIL_OK]
    cases += [boundary_case(INSIDE[0], WORLD, CALLEE, Extras(repeat=r, alias=a))
              for r in ADDENDS for a in (False, True)]
    return cases


@pytest.mark.reference
@pytest.mark.parametrize("profile", list(TREES))
def test_kernel_agrees_on_every_boundary_case(profile: str) -> None:
    """kernel:<tree> and the profile of its version agree on every boundary point and knob
    (rc, messages with their values, memory, writes), two coming/going cycles each."""
    import shutil
    from dataclasses import replace

    from ppcreloc.engines import ModelEngine
    from ppcreloc.reference.kernel.compare import disagreements
    from ppcreloc.reference.kernel.engine import KernelEngine, user_layout

    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed (the kernel engine compiles module_64.c)")
    if not TREES[profile].is_file():
        pytest.skip(f"{TREES[profile]} missing (apt-get install {TREES[profile].name[:-7]})")
    scenarios = []
    for case in _kernel_cases():
        sc = case.scenario(case.steps(cycles=2))
        scenarios.append(replace(sc, layout=user_layout(sc.layout)))
    with KernelEngine(TREES[profile]) as kernel:
        runs = kernel.run_many(scenarios)
    for sc, krun in zip(scenarios, runs, strict=True):
        diffs = disagreements(krun, ModelEngine(profile).run(sc))
        assert not diffs, "\n".join(str(d) for d in diffs[:5])
    failed = sum(1 for r in runs if r.steps[0].rc)
    assert failed >= sum(1 for p in POINTS if not p.ok and p.kind != "ENTRY")


def test_matrix_takes_the_boundary_mix(capsys) -> None:  # type: ignore[no-untyped-def]
    """`matrix --boundaries` draws from the campaign mix (default off: the plain strategy)."""
    from ppcreloc.cli import main
    from ppcreloc.matrix import _cases

    seen: set[bool] = set()

    @settings(max_examples=40, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(_cases("compiler", boundaries="inside"))
    def draw(case) -> None:  # type: ignore[no-untyped-def]
        seen.add(any(k.startswith("boundary ") for k in case.knobs))

    draw()
    assert seen == {True, False}
    assert main(["matrix", "--engine", "v6.12", "--examples", "3", "--boundaries", "inside",
                 "--no-fixtures", "--json"]) in (0, 1)
    assert '"results"' in capsys.readouterr().out


# -- the DS-form word and the page offset of `.toc` ---------------------------------------------
@pytest.mark.parametrize("profile", ["v6.1", "v6.12"])
@pytest.mark.parametrize("xo", sorted(DS_FORMS))
@pytest.mark.parametrize("kind", ["TOC16_DS", "TOC16_LO_DS"])
def test_ds_relocations_keep_the_words_xo_bits(kind: str, xo: int, profile: str) -> None:
    """ld, ldu, lwa under TOC16_DS / TOC16_LO_DS: the value lands in bits 2..15 and the XO bits
    stay (module_64.c masks 0xfffc on both sides); at the limit the value is applied exactly."""
    pt = next(p for p in POINTS if p.kind == kind and p.where == "at" and p.limit == "align")
    v = run(boundary_case(pt, WORLD, CALLEE, Extras(ds_xo=xo)), profile)
    assert v.invariants["apply"].holds and v.invariants["abi_values"].holds
    rtype = FIELD_TYPES[kind][-1]
    (w,) = writes_of(v, 0, rtype)
    assert int.from_bytes(w.new, "little") & 3 == xo
    assert written_value(pt, v) == pt.value


@pytest.mark.parametrize("profile", ["v6.1", "v6.12"])
@pytest.mark.parametrize("xo", sorted(DS_FORMS))
def test_entry_rewrites_only_a_plain_ld(xo: int, profile: str) -> None:
    """R_PPC64_ENTRY rewrites ``ld r2,-8(r12); add r2,r2,r12`` only when the first word is that
    ld exactly (its XO bits included): an ldu or lwa there is left alone."""
    pt = next(p for p in POINTS if p.kind == "ENTRY" and p.where == "at")
    v = run(boundary_case(pt, WORLD, CALLEE, Extras(ds_xo=xo)), profile)
    load = v.run.steps[0] if v.run else None
    assert load is not None and load.rc == 0 and v.invariants["abi_values"].holds
    assert bool([w for w in load.writes if w.what.startswith("ENTRY")]) == (xo == 0)


@pytest.mark.parametrize("skew", TOC_SKEWS)
@pytest.mark.parametrize("kind", ["TOC16", "TOC16_HA", "ENTRY"])
def test_toc_page_offset_moves_my_r2_with_it(kind: str, skew: int) -> None:
    """`.toc` at any 256-byte step of its page: my_r2 keeps bits 8..11 ((sh_addr & ~0xff) +
    0x8000), so every TOC-relative value is the same wherever in the page the cluster sits."""
    pt = next(p for p in POINTS if p.kind == kind and p.where == "at")
    case = boundary_case(pt, WORLD, CALLEE, Extras(toc_skew=skew))
    assert case.layout.addresses[".toc"] & 0xFFF == skew
    v = run(case)
    assert v.invariants["apply"].holds and v.invariants["abi_values"].holds
    if kind != "ENTRY":
        assert written_value(pt, v) == pt.value
