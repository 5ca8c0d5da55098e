"""Differential: the kernel's own module_64.c (kernel:<tree>) against the Python profile of the
same version, byte for byte on memory after every step, and on return codes, WARN counts,
messages (format strings with their arguments) and patch-primitive writes.

Debian's linux-source-6.1 runs against profile v6.1 and linux-source-6.12 against v6.12.
Hand-built objects cover every relocation type apply_relocate_add handles, their failure paths,
unknown types, dedotify/.TOC., local entry points, stubs (call, ftrace, exhausted) and the
livepatch cycle. A seeded Hypothesis property runs generated objects under the ``reference``
marker. Both engines get the same user-range layout (the kernel engine needs real addresses).
"""

from __future__ import annotations

import shutil
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from realmodules import SERIES_PARAMS, package
from test_realmodules import SAMPLES, world_of

from ppcreloc.cli import load_object, module_name
from ppcreloc.elf.builder import ObjectBuilder, SymRef
from ppcreloc.elf.model import (
    SHF_ALLOC,
    SHF_WRITE,
    SHN_LIVEPATCH,
    STB_GLOBAL,
    STT_FUNC,
    STT_OBJECT,
    ElfObject,
)
from ppcreloc.engines import ModelEngine
from ppcreloc.loader.world import SymbolWorld
from ppcreloc.records import Config, Layout, RunResult, Scenario, Step
from ppcreloc.reference.kernel.compare import disagreements
from ppcreloc.reference.kernel.engine import KernelEngine, user_layout
from ppcreloc.strategies import Case, livepatch_objects

TREES = {"v6.1": Path("/usr/src/linux-source-6.1.tar.xz"),
         "v6.12": Path("/usr/src/linux-source-6.12.tar.xz")}
BL, B, NOP, LD_R2 = 0x48000001, 0x48000000, 0x60000000, 0xE8410018
LD_R2_R12, ADD_R2_R12 = 0xE84C0000, 0x7C426214
FILL = 0x11111111
KLP_STEPS = [Step("load"), Step("coming", "target", 0), Step("going", "target", 0),
             Step("coming", "target", 1), Step("going", "target", 1), Step("coming", "target", 2)]

# relocation type numbers (arch/powerpc/include/uapi/asm/elf.h)
R = {"NONE": 0, "ADDR32": 1, "REL24": 10, "REL32": 26, "ADDR64": 38, "REL64": 44, "TOC16": 47,
     "TOC16_LO": 48, "TOC16_HI": 49, "TOC16_HA": 50, "TOC": 51, "TOC16_DS": 63,
     "TOC16_LO_DS": 64, "TOCSAVE": 109, "REL24_NOTOC": 116, "ENTRY": 118, "PCREL34": 132,
     "REL16_LO": 250, "REL16_HI": 251, "REL16_HA": 252}


@dataclass
class Syms:
    """Handles of the symbols every hand-built object has."""

    data: SymRef  # local object in .data at 0x10
    tocsym: SymRef  # local object in .toc at 0x8
    lfunc: SymRef  # local function in .text at 0x20, local entry offset 8 (st_other 0x60)
    ext: SymRef  # undefined "printk": resolved from the world, reached through a stub
    mcount: SymRef  # undefined "_mcount": an ftrace name (ftrace stub, no r2 restore)
    dotted: SymRef  # undefined ".dotted": dedotify drops the dot
    toc: SymRef  # undefined ".TOC.": dedotify makes it SHN_ABS, apply sets it to my_r2
    klp: SymRef  # SHN_LIVEPATCH .klp.sym.target.func,0


def _object(text: list[int], add: Callable[[ObjectBuilder, int, int, Syms], None],
            toc_align: int = 8) -> ElfObject:
    ob = ObjectBuilder()
    words = text + [FILL] * (16 - len(text))
    t = ob.add_section(".text", struct.pack(f"<{len(words)}I", *words))
    d = ob.add_section(".data", bytes(range(1, 65)), flags=SHF_ALLOC | SHF_WRITE, addralign=8)
    toc = ob.add_section(".toc", bytes(64), flags=SHF_ALLOC | SHF_WRITE, addralign=toc_align)
    ob.add_stubs()
    syms = Syms(
        data=ob.add_symbol("data_sym", 0x10, type=STT_OBJECT, shndx=d),
        tocsym=ob.add_symbol("toc_sym", 0x8, type=STT_OBJECT, shndx=toc),
        lfunc=ob.add_symbol("lfunc", 0x20, type=STT_FUNC, other=0x60, shndx=t),
        ext=ob.add_symbol("printk", bind=STB_GLOBAL),
        mcount=ob.add_symbol("_mcount", bind=STB_GLOBAL),
        dotted=ob.add_symbol(".dotted", bind=STB_GLOBAL),
        toc=ob.add_symbol(".TOC.", bind=STB_GLOBAL),
        klp=ob.add_symbol(".klp.sym.target.func,0", bind=STB_GLOBAL, shndx=SHN_LIVEPATCH),
    )
    add(ob, t, d, syms)
    return ob.build()


def _one(rtype: str, where: str, off: int, sym: str, addend: int = 0
         ) -> Callable[[ObjectBuilder, int, int, Syms], None]:
    def add(ob: ObjectBuilder, t: int, d: int, s: Syms) -> None:
        ob.add_rela(t if where == "text" else d, off, getattr(s, sym), R[rtype], addend)
    return add


def _many(*adds: Callable[[ObjectBuilder, int, int, Syms], None]
          ) -> Callable[[ObjectBuilder, int, int, Syms], None]:
    def add(ob: ObjectBuilder, t: int, d: int, s: Syms) -> None:
        for a in adds:
            a(ob, t, d, s)
    return add


def _klp(ob: ObjectBuilder, t: int, d: int, s: Syms) -> None:
    ob.add_rela(t, 0, s.klp, R["REL24"], section=".klp.rela.target.text")


#: (id, .text words, relocations, steps or None for just "load", .toc alignment)
CASES: list[tuple[str, list[int], Callable[[ObjectBuilder, int, int, Syms], None]]] = [
    ("addr32", [], _one("ADDR32", "data", 0, "data", 4)),
    ("addr32-truncates", [], _one("ADDR32", "data", 0, "ext", 0x123)),
    ("addr64-unaligned", [], _one("ADDR64", "data", 3, "ext", -8)),
    ("toc", [], _one("TOC", "data", 8, "data")),
    ("toc16", [], _one("TOC16", "text", 0, "tocsym", 4)),
    ("toc16-out-of-range", [], _one("TOC16", "text", 0, "ext")),
    ("toc16-lo", [], _one("TOC16_LO", "text", 4, "ext", 0x1234)),
    ("toc16-ha", [], _one("TOC16_HA", "text", 6, "ext", 0x1234)),
    ("toc16-ds", [], _one("TOC16_DS", "text", 0, "tocsym", 8)),
    ("toc16-ds-misaligned", [], _one("TOC16_DS", "text", 0, "tocsym", 2)),
    ("toc16-ds-out-of-range", [], _one("TOC16_DS", "text", 0, "ext")),
    ("toc16-lo-ds", [], _one("TOC16_LO_DS", "text", 0, "ext", 0x40)),
    ("toc16-lo-ds-misaligned", [], _one("TOC16_LO_DS", "text", 0, "ext", 1)),
    ("rel24-local-entry", [BL, NOP], _one("REL24", "text", 0, "lfunc")),
    ("rel24-local-out-of-range", [BL, NOP], _one("REL24", "text", 0, "lfunc", 0x2000000)),
    ("rel24-local-misaligned", [BL, NOP], _one("REL24", "text", 0, "lfunc", 2)),
    ("rel24-external-stub", [BL, NOP], _one("REL24", "text", 0, "ext")),
    ("rel24-external-no-nop", [BL, FILL], _one("REL24", "text", 0, "ext")),
    ("rel24-external-sibling", [B, FILL], _one("REL24", "text", 0, "ext")),
    ("rel24-external-non-branch", [FILL, FILL], _one("REL24", "text", 0, "ext")),
    ("rel24-mcount", [BL, NOP], _one("REL24", "text", 0, "mcount")),
    ("rel24-dotted", [BL, NOP], _one("REL24", "text", 0, "dotted")),
    ("rel24-last-word", [BL, NOP], _one("REL24", "text", 60, "ext")),
    ("rel64", [], _one("REL64", "data", 0, "ext", 4)),
    ("rel32", [], _one("REL32", "data", 0, "data", -4)),
    ("rel32-out-of-range", [], _one("REL32", "data", 0, "ext")),
    ("tocsave", [], _one("TOCSAVE", "text", 0, "ext")),
    ("entry", [LD_R2_R12 | 0x10, ADD_R2_R12], _one("ENTRY", "text", 0, "lfunc")),
    ("entry-no-pattern", [FILL, ADD_R2_R12], _one("ENTRY", "text", 0, "lfunc")),
    ("rel16-ha", [], _one("REL16_HA", "text", 2, "ext", 0x8000)),
    ("rel16-lo", [], _one("REL16_LO", "text", 0, "data", 0x8)),
    ("dot-toc-addr64", [], _one("ADDR64", "data", 16, "toc")),
    *[(f"unknown-{n.lower()}", [], _one(n, "text", 0, "data"))
      for n in ("NONE", "TOC16_HI", "REL24_NOTOC", "PCREL34", "REL16_HI")],
    ("sorted-order-overlap", [BL, NOP, BL, NOP], _many(
        _one("ADDR32", "text", 8, "data", 1), _one("ADDR32", "text", 8, "data", 2),
        _one("REL24", "text", 0, "ext", 8), _one("REL24", "text", 8, "ext", 8),
        _one("REL16_LO", "text", 8, "ext", 0), _one("REL24", "text", 0, "ext", 4))),
    ("stub-reuse-and-count", [BL, NOP, BL, NOP, BL, NOP], _many(
        _one("REL24", "text", 0, "ext"), _one("REL24", "text", 8, "ext"),
        _one("REL24", "text", 16, "dotted"), _one("REL24", "text", 16, "lfunc"))),
]
TOC_ALIGN_CASES = [("toc-align-raised", [], _one("TOC16", "text", 0, "tocsym", 4), 1)]


def _bare(name: str, edit: Callable[[ObjectBuilder], None]) -> tuple[str, ElfObject]:
    """An object without the standard sections, for frob's own paths."""
    ob = ObjectBuilder()
    edit(ob)
    return name, ob.build()


def _no_toc(ob: ObjectBuilder) -> None:
    d = ob.add_section(".data", bytes(24), flags=SHF_ALLOC | SHF_WRITE, addralign=8)
    ob.add_stubs()
    ob.add_rela(d, 0, None, R["TOC"])  # my_r2 comes from .stubs when there is no .toc
    ob.add_rela(d, 8, ob.add_symbol(".TOC.", bind=STB_GLOBAL), R["ADDR64"])


def _no_stubs(ob: ObjectBuilder) -> None:
    d = ob.add_section(".data", bytes(8), flags=SHF_ALLOC | SHF_WRITE, addralign=8)
    ob.add_rela(d, 0, ob.add_symbol("x", shndx=d), R["ADDR64"])


def _versions(ob: ObjectBuilder) -> None:
    entry = (0x1234).to_bytes(8, "little") + b".TOC.".ljust(56, b"\0")
    entry += (0x5678).to_bytes(8, "little") + b"printk".ljust(56, b"\0")
    ob.add_section("__versions", entry, flags=SHF_ALLOC, addralign=8)
    t = ob.add_section(".text", struct.pack("<II", BL, NOP))
    ob.add_stubs()
    ob.add_rela(t, 0, ob.add_symbol(".printk", bind=STB_GLOBAL), R["REL24"])


def _truncated_count(ob: ObjectBuilder) -> None:
    """count_relocs keeps the previous addend in 32 bits: 5 and 0x1_0000_0005 count once."""
    t = ob.add_section(".text", struct.pack("<6I", BL, NOP, BL, NOP, BL, NOP))
    ob.add_stubs()
    ext = ob.add_symbol("printk", bind=STB_GLOBAL)
    ob.add_rela(t, 0, ext, R["REL24"], 5)
    ob.add_rela(t, 8, ext, R["REL24"], 0x1_0000_0005)
    ob.add_rela(t, 16, None, R["REL24"], 0)  # symbol 0: SHN_UNDEF, a stub for address 0


BARE = [_bare("frob-no-toc", _no_toc), _bare("frob-no-stubs", _no_stubs),
        _bare("frob-dedotify-versions", _versions), _bare("stubs-truncated-count", _truncated_count)]


def _prefix_world() -> SymbolWorld:
    """printk's low word looks like a prefixed instruction (primary opcode 1): 6.1's
    patch_instruction stores funcdata's first word as 8 bytes."""
    world = SymbolWorld.synthetic()
    world.add_symbol(None, "printk", 0xC000_0000_0400_1000, exported=True)
    return world


def _scenarios() -> list[tuple[str, Scenario]]:
    world = SymbolWorld.synthetic()
    layout = user_layout(Layout())
    out = [(cid, Scenario(_object(text, add), world, [Step("load")], layout))
           for cid, text, add in CASES]
    out += [(cid, Scenario(_object(text, add, align), world, [Step("load")], layout))
            for cid, text, add, align in TOC_ALIGN_CASES]
    out += [(cid, Scenario(obj, world, [Step("load")], layout)) for cid, obj in BARE]
    out.append(("funcdata-prefixed-word", Scenario(
        _object([BL, NOP], _one("REL24", "text", 0, "ext")), _prefix_world(), [Step("load")],
        layout)))
    elfv1_flags = _object([BL, NOP], _one("REL24", "text", 0, "ext"))
    elfv1_flags.flags = 1  # ABI level 1: 6.12's module_elf_check_arch refuses, 6.1 has none
    out.append(("elf-abi-level-1", Scenario(elfv1_flags, world, [Step("load")], layout)))
    for cid, config in (("config-paca-toc-8", Config(paca_kernel_toc_offset=8)),
                        ("config-no-ftrace-regs", Config(dynamic_ftrace_with_regs=False)),
                        ("config-no-mprofile", Config(mprofile_kernel=False))):
        obj = _object([BL, NOP, BL, NOP], _many(_one("REL24", "text", 0, "mcount"),
                                                _one("REL24", "text", 8, "ext")))
        out.append((cid, Scenario(obj, world, [Step("load")], layout, config)))
    for after in (bytes(64), b"\xff" * 64):
        lay = replace(layout, after_stubs=after)
        out.append((f"klp-cycles-after-stubs-{after[0]:02x}",
                    Scenario(_object([BL, NOP], _klp), world, list(KLP_STEPS), lay)))
    return out


SCENARIOS = _scenarios()


_ENGINES: dict[str, KernelEngine] = {}


def _engine(profile: str) -> KernelEngine:
    """The kernel engine for ``profile``'s tree, kept in session mode (one child per version)."""
    if profile in _ENGINES:
        return _ENGINES[profile]
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed (the kernel engine compiles module_64.c)")
    if not TREES[profile].is_file():
        pytest.skip(f"{TREES[profile]} missing (apt-get install {TREES[profile].name[:-7]})")
    _ENGINES[profile] = KernelEngine(TREES[profile]).__enter__()
    return _ENGINES[profile]


@pytest.fixture(scope="module", autouse=True)
def _close_sessions() -> Iterator[None]:
    yield
    for engine in _ENGINES.values():
        engine.__exit__(None, None, None)
    _ENGINES.clear()


_RUNS: dict[str, list[RunResult]] = {}


def _kernel_runs(profile: str) -> list[RunResult]:
    """Every hand-built scenario through the kernel, in one child process per version."""
    if profile not in _RUNS:
        _RUNS[profile] = _engine(profile).run_many([sc for _, sc in SCENARIOS])
    return _RUNS[profile]


@pytest.mark.parametrize("profile", list(TREES))
@pytest.mark.parametrize("index", range(len(SCENARIOS)), ids=[cid for cid, _ in SCENARIOS])
def test_kernel_agrees_with_profile(profile: str, index: int) -> None:
    kernel = _kernel_runs(profile)[index]
    model = ModelEngine(profile).run(SCENARIOS[index][1])
    diffs = disagreements(kernel, model)
    assert not diffs, "\n".join(str(d) for d in diffs)


def test_cases_exercise_every_path() -> None:
    """The hand-built set is not vacuous: it hits errors, messages, stubs and out-of-bounds."""
    runs = _kernel_runs("v6.12")
    rcs = {sc_id: r.steps[0].rc for (sc_id, _), r in zip(SCENARIOS, runs, strict=True)}
    assert rcs["toc16-out-of-range"] == rcs["rel32-out-of-range"] == -8
    assert rcs["unknown-none"] == rcs["unknown-rel24_notoc"] == -8
    assert rcs["addr32"] == rcs["entry"] == rcs["rel24-external-stub"] == 0
    klp = runs[-2]
    assert [s.rc for s in klp.steps] == [0, 0, 0, 0, 0, 0]
    assert any(o.kind == "write" for s in klp.steps for o in s.oob)  # 3rd target address
    by_id = dict(zip([c for c, _ in SCENARIOS], runs, strict=True))
    assert any(w.primitive == "store" for w in by_id["entry"].steps[0].writes)
    # the shim follows apply_relocate_add's loop: failing relocation and per-write attribution
    failed = by_id["toc16-out-of-range"].steps[0].failed_reloc
    assert failed is not None and (failed.index, failed.type) == (0, R["TOC16"])
    stub_writes = [w for w in by_id["rel24-external-stub"].steps[0].writes
                   if w.primitive == "patch_instruction"]
    assert stub_writes and all(w.reloc is not None and w.reloc.type == R["REL24"]
                               for w in stub_writes)
    assert by_id["frob-no-stubs"].steps[0].rc == -8
    assert by_id["elf-abi-level-1"].steps[0].rc == -8  # 6.12 only
    assert _kernel_runs("v6.1")[[c for c, _ in SCENARIOS].index("elf-abi-level-1")].steps[0].rc == 0
    stubs = by_id["config-paca-toc-8"].steps[0].memory
    assert any((0xE98D0008).to_bytes(4, "little") in b for b in stubs.values())  # ld r12,8(r13)
    assert any((0xE98D0010).to_bytes(4, "little") in b  # 16 with CONFIG_PPC_PSERIES
               for b in by_id["rel24-mcount"].steps[0].memory.values())
    # 6.1 writes the prefixed-looking funcdata word as 8 bytes, 6.12 (patch_u32) as 4
    for profile, size in (("v6.1", 8), ("v6.12", 4)):
        run = _kernel_runs(profile)[[c for c, _ in SCENARIOS].index("funcdata-prefixed-word")]
        words = [w for w in run.steps[0].writes if w.new[:4] == bytes.fromhex("00100004")]
        assert [len(w.new) for w in words] == [size], profile


def test_differential_detects_a_version_mismatch() -> None:
    """The comparison is not vacuous: 6.1's kernel against the 6.12 profile must disagree."""
    klp = next(i for i, (cid, _) in enumerate(SCENARIOS) if cid == "klp-cycles-after-stubs-00")
    kernel = _kernel_runs("v6.1")[klp]
    model = ModelEngine("v6.12").run(SCENARIOS[klp][1])
    fields = {d.field for d in disagreements(kernel, model)}
    assert {"rc", "messages"} <= fields


# -- generated objects -----------------------------------------------------------------------
#: examples per kernel version (the session's child serves them all)
PROPERTY_EXAMPLES = 100


@pytest.mark.reference
@pytest.mark.parametrize("profile", list(TREES))
@seed(20261125)
@settings(max_examples=PROPERTY_EXAMPLES, deadline=None, derandomize=False,
          suppress_health_check=[HealthCheck.too_slow])
@given(case=livepatch_objects())
def test_generated_objects_agree(profile: str, case: Case) -> None:
    """Compiler-like generated livepatch modules, two apply/clear cycles per target."""
    engine = _engine(profile)
    sc = case.scenario(case.steps(cycles=2))
    sc = replace(sc, layout=user_layout(sc.layout))
    diffs = disagreements(engine.run(sc), ModelEngine(profile).run(sc))
    assert not diffs, "\n".join(str(d) for d in diffs)


@pytest.mark.reference
@pytest.mark.parametrize("profile", list(TREES))
@seed(20261126)
@settings(max_examples=PROPERTY_EXAMPLES, deadline=None, derandomize=False,
          suppress_health_check=[HealthCheck.too_slow])
@given(case=livepatch_objects(placeholders="adversarial"))
def test_adversarial_objects_agree(profile: str, case: Case) -> None:
    """Hostile objects (bytes past sections, overlaps, bad ranges, unknown types, full .stubs):
    the kernel faults only where the model records an out-of-bounds access."""
    engine = _engine(profile)
    sc = case.scenario(case.steps(cycles=2))
    sc = replace(sc, layout=user_layout(sc.layout))
    diffs = disagreements(engine.run(sc), ModelEngine(profile).run(sc))
    assert not diffs, "\n".join(str(d) for d in diffs)


# -- real modules: each Debian ppc64el image against its own kernel tree ----------------------
REAL_SAMPLE = 3  # besides nfsd


@pytest.mark.reference
@pytest.mark.realmodules
@pytest.mark.parametrize("series", SERIES_PARAMS)
def test_real_modules_agree_with_their_kernel(series: str) -> None:
    """nfsd (about 19,000 relocations) and a few sampled modules: kernel:<series> vs v<series>
    on every compared field of the load (the image's own kernel version)."""
    pkg = package(series)
    world = world_of(pkg)
    layout = user_layout(Layout())
    modules = SAMPLES[series][: 1 + REAL_SAMPLE]
    scenarios = [Scenario(load_object(str(m)), world, [Step("load")], layout,
                          modname=module_name(str(m))) for m in modules]
    kernel_runs = _engine(pkg.profile).run_many(scenarios)
    for module, sc, kernel in zip(modules, scenarios, kernel_runs, strict=True):
        model = ModelEngine(pkg.profile).run(sc)
        assert kernel.steps[0].rc == 0, module
        assert kernel.steps[0].writes, module
        diffs = disagreements(kernel, model)
        assert not diffs, f"{module}:\n" + "\n".join(str(d) for d in diffs[:10])


# -- model gaps found by the kernel engine, now modelled (regression tests) -------------------
@pytest.mark.parametrize("profile", list(TREES))
def test_out_of_bounds_bytes_persist_across_steps(profile: str) -> None:
    ob = ObjectBuilder()
    data = ob.add_section(".data", bytes(8), flags=SHF_ALLOC | SHF_WRITE, addralign=8)
    ob.add_stubs()
    var = ob.add_symbol(".klp.sym.target.var,0", bind=STB_GLOBAL, shndx=SHN_LIVEPATCH)
    ob.add_rela(data, 4, var, R["ADDR64"], section=".klp.rela.target.data")
    steps = [Step("load"), Step("coming", "target", 0), Step("going", "target", 0),
             Step("coming", "target", 1)]
    sc = Scenario(ob.build(), SymbolWorld.synthetic(), steps, user_layout(Layout()))
    diffs = disagreements(_engine(profile).run(sc), ModelEngine(profile).run(sc))
    assert not diffs, "\n".join(str(d) for d in diffs)


@pytest.mark.parametrize("profile", list(TREES))
def test_plain_store_into_read_only_text(profile: str) -> None:
    ob = ObjectBuilder()
    text = ob.add_section(".text", struct.pack("<4I", BL, NOP, 0, 0))
    ob.add_stubs()
    var = ob.add_symbol(".klp.sym.target.var,0", bind=STB_GLOBAL, shndx=SHN_LIVEPATCH)
    ob.add_rela(text, 8, var, R["ADDR64"], section=".klp.rela.target.text")
    steps = [Step("load"), Step("coming", "target", 0)]
    sc = Scenario(ob.build(), SymbolWorld.synthetic(), steps, user_layout(Layout()))
    kernel = _engine(profile).run(sc)  # the default: read-only as Config.strict_module_rwx
    model = ModelEngine(profile).run(sc)
    assert [s.fault for s in kernel.steps] == [s.fault for s in model.steps] == [None, "SIGSEGV"]
    ref = model.steps[1].failed_reloc
    assert ref is not None and (ref.type, ref.offset) == (R["ADDR64"], 8)
    diffs = disagreements(kernel, model)
    assert not diffs, "\n".join(str(d) for d in diffs)


@pytest.mark.parametrize("profile", list(TREES))
def test_model_fault_the_kernel_lacks_is_a_disagreement(profile: str) -> None:
    """Not vacuous: a model that faults where the kernel (read-write memory) does not, and the
    other way round, disagree on the fault."""
    ob = ObjectBuilder()
    text = ob.add_section(".text", struct.pack("<4I", BL, NOP, 0, 0))
    ob.add_stubs()
    var = ob.add_symbol(".klp.sym.target.var,0", bind=STB_GLOBAL, shndx=SHN_LIVEPATCH)
    ob.add_rela(text, 8, var, R["ADDR64"], section=".klp.rela.target.text")
    sc = Scenario(ob.build(), SymbolWorld.synthetic(), [Step("load"), Step("coming", "target")],
                  user_layout(Layout()))
    _engine(profile)  # skips when the tree or gcc is missing
    writable = KernelEngine(TREES[profile], read_only=False).run(sc)
    model = ModelEngine(profile).run(sc)
    assert {d.field for d in disagreements(writable, model)} >= {"fault"}
    no_rwx = ModelEngine(profile).run(replace(sc, config=Config(strict_module_rwx=False)))
    assert no_rwx.steps[1].fault is None
    assert not disagreements(writable, no_rwx)


# -- read-only module memory: klp relocations of every kind into every kind of section ---------
#: (name, flags, size): text, rodata, ro_after_init (named so layout_and_allocate marks it) and
#: writable data; late klp plain stores fault in the first three once the load is done
RO_SECTIONS = ((".text", 0x6, 64), (".rodata", 0x2, 32), (".data..ro_after_init", 0x3, 32),
               (".data", 0x3, 32))
#: plain-store types, patch_instruction's REL24 and a TOC16 (range-checked first)
RO_TYPES = ("ADDR32", "ADDR64", "REL32", "REL64", "TOC16_LO", "TOC16_HA", "REL16_LO", "REL24")
#: default placement, writable .data on text's 64 KiB page (it stays writable), and rodata
#: straddling a page boundary (both its pages read-only)
RO_LAYOUTS = ({}, {".text": 0, ".data": 0x400},
              {".text": 0, ".rodata": 0xFFF0, ".data..ro_after_init": 0x20000, ".data": 0x30000})


@st.composite
def read_only_scenarios(draw: st.DrawFn) -> Scenario:
    """A livepatch module whose .klp.rela.target.* relocations go into text, rodata,
    ro_after_init and data, on a layout that may share pages between them."""
    ob = ObjectBuilder()
    words = [BL, NOP] * 8
    idx = {}
    for name, flags, size in RO_SECTIONS:
        data = struct.pack("<16I", *words) if name == ".text" else bytes(size)
        idx[name] = ob.add_section(name, data, flags=flags, addralign=8)
    ob.add_stubs()
    syms = [ob.add_symbol(f".klp.sym.target.s{k},0", bind=STB_GLOBAL, shndx=SHN_LIVEPATCH)
            for k in range(2)]
    relocs = draw(st.lists(st.tuples(st.sampled_from([n for n, _, _ in RO_SECTIONS]),
                                     st.integers(0, 3), st.sampled_from(RO_TYPES),
                                     st.sampled_from(syms)), min_size=1, max_size=4))
    for name, slot, rtype, sym in sorted(relocs, key=lambda r: r[0]):
        offset = 8 * slot if rtype == "REL24" and name == ".text" else 8 * slot + 4 * (slot % 2)
        ob.add_rela(idx[name], offset, sym, R[rtype], section=f".klp.rela.target.{name[1:]}")
    pins = draw(st.sampled_from(RO_LAYOUTS))
    base = Layout().base
    layout = Layout(addresses={n: base + off for n, off in pins.items()})
    steps = [Step("load"), Step("coming", "target", 0), Step("going", "target", 0),
             Step("coming", "target", 1)]
    return Scenario(ob.build(), SymbolWorld.synthetic(), steps, user_layout(layout))


@pytest.mark.reference
@pytest.mark.parametrize("profile", list(TREES))
@seed(20261127)
@settings(max_examples=60, deadline=None, derandomize=False,
          suppress_health_check=[HealthCheck.too_slow])
@given(sc=read_only_scenarios())
def test_read_only_faults_agree(profile: str, sc: Scenario) -> None:
    """Both engines fault on the same step and relocation, and agree on everything before."""
    kernel, model = _engine(profile).run(sc), ModelEngine(profile).run(sc)
    assert [s.fault for s in kernel.steps] == [s.fault for s in model.steps]
    diffs = disagreements(kernel, model)
    assert not diffs, "\n".join(str(d) for d in diffs)
    _RO_SEEN.update(s.fault or "none" for s in model.steps[1:])


_RO_SEEN: set[str] = set()


def test_read_only_property_saw_faults_and_clean_runs() -> None:
    """The property above is not vacuous: it met both faulting and clean klp steps."""
    if not _RO_SEEN:
        pytest.skip("test_read_only_faults_agree did not run (tree or gcc missing, or deselected)")
    assert _RO_SEEN == {"SIGSEGV", "none"}
