"""abi_values, the value oracle: it holds on what the kernel's profiles compute, and it catches
the wrong values the six consistency invariants cannot see (mutants of the v6.12 profile)."""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, seed, settings

from ppcreloc.abi import FORMULAS, ha, lo, local_entry_offset
from ppcreloc.elf.builder import ObjectBuilder
from ppcreloc.elf.model import (
    SHF_ALLOC,
    SHF_WRITE,
    SHN_LIVEPATCH,
    STB_GLOBAL,
    STT_FUNC,
    ElfObject,
    Symbol,
)
from ppcreloc.loader.module import ModuleState
from ppcreloc.loader.world import SymbolWorld
from ppcreloc.matrix import run_check
from ppcreloc.oracle import INVARIANTS, Verdict, check
from ppcreloc.profiles import PROFILES
from ppcreloc.profiles.v6_12 import V6_12
from ppcreloc.records import RunResult, Scenario
from ppcreloc.run import run_scenario
from ppcreloc.strategies import Case, livepatch_objects

BL, NOP, LD_R2 = 0x48000001, 0x60000000, 0xE8410018
R = {"REL24": 10, "TOC16": 47, "TOC16_HA": 50, "TOC16_LO_DS": 64, "ADDR64": 38, "ENTRY": 118}


class _Engine:
    """A profile instance (here: a mutant) behind the Engine interface."""

    def __init__(self, backend: V6_12, name: str = "mutant") -> None:
        self.backend, self.name = backend, name

    def run(self, scenario: Scenario) -> RunResult:
        return run_scenario(scenario, self.backend, self.name)


def _object() -> ElfObject:
    """A local call (entry offset 8), an external call, a klp call, TOC16_HA/LO_DS, ENTRY."""
    ob = ObjectBuilder()
    words = [BL, NOP, BL, NOP, BL, NOP, 0x3D220000, 0xE9290000,
             0xE84C0000 | 0x10, 0x7C426214] + [0x60000000] * 6
    t = ob.add_section(".text", struct.pack(f"<{len(words)}I", *words))
    ob.add_section(".data", bytes(16), flags=SHF_ALLOC | SHF_WRITE, addralign=8)
    toc = ob.add_section(".toc", bytes(32), flags=SHF_ALLOC | SHF_WRITE, addralign=8)
    ob.add_stubs()
    lfunc = ob.add_symbol("lfunc", 0x30, type=STT_FUNC, other=0x60, shndx=t)
    tsym = ob.add_symbol("tsym", 0x10, shndx=toc)
    ext = ob.add_symbol("printk", bind=STB_GLOBAL)
    klp = ob.add_symbol(".klp.sym.target.func,0", bind=STB_GLOBAL, shndx=SHN_LIVEPATCH)
    ob.add_rela(t, 0, lfunc, R["REL24"])
    ob.add_rela(t, 8, ext, R["REL24"])
    ob.add_rela(t, 24, tsym, R["TOC16_HA"], 8)
    ob.add_rela(t, 28, tsym, R["TOC16_LO_DS"], 8)
    ob.add_rela(t, 32, lfunc, R["ENTRY"])
    ob.add_rela(t, 16, klp, R["REL24"], section=".klp.rela.target.text")
    return ob.build()


def _verdict(backend: V6_12, obj: ElfObject | None = None) -> Verdict:
    return check(obj or _object(), _Engine(backend), SymbolWorld.synthetic(), cycles=2)


def test_holds_on_the_profiles_and_judges_every_relocation() -> None:
    for name, cls in PROFILES.items():
        res = _verdict(cls()).invariants["abi_values"]
        assert res.holds, (name, res.message)
    res = _verdict(V6_12()).invariants["abi_values"]
    assert res.message is None  # every relocation judged, none skipped


def test_abi_values_is_listed_with_the_invariants() -> None:
    assert INVARIANTS[-1] == "abi_values" and len(INVARIANTS) == 7


class _LostLocalEntry(V6_12):
    def symbol(self, mod: ModuleState, symindex: int, index: int) -> Symbol:
        sym = super().symbol(mod, symindex, index)  # st_other only matters to REL24
        return replace(sym, other=0) if sym.other else sym


class _Bias(V6_12):
    def my_r2(self, mod: ModuleState) -> int:
        return super().my_r2(mod) - 0x10


class _NoRestore(V6_12):
    def restore_r2(self, mod: ModuleState, name: str, insn: int) -> int:
        return 0


MUTANTS: list[tuple[str, Callable[[], V6_12], str]] = [
    ("lost local entry offset", _LostLocalEntry, "R_PPC64_REL24"),
    ("my_r2 bias", _Bias, "TOC16_LO_DS"),
    ("restore_r2 keeps the nop", _NoRestore, "restore_r2 gives e8410018"),
]


@pytest.mark.parametrize("name,mutant,needle", MUTANTS, ids=[m[0] for m in MUTANTS])
def test_mutants_are_caught(name: str, mutant: Callable[[], V6_12], needle: str) -> None:
    verdict = _verdict(mutant())
    res = verdict.invariants["abi_values"]
    assert not res.holds, name
    assert any(needle in v.message for v in res.violations), res.message
    v = res.violations[0]
    assert v.section is not None and v.type_name is not None  # names the relocation
    # the consistency invariants cannot see it: wrong the same way every time
    assert verdict.invariants["reapply_identical"].holds


def test_a_corrupted_stub_is_caught() -> None:
    """funcdata of the external call's stub overwritten after the fact."""
    obj = _object()
    engine = _Engine(V6_12())
    verdict = check(obj, engine, SymbolWorld.synthetic(), cycles=0)
    assert verdict.invariants["abi_values"].holds
    run = verdict.run
    assert run is not None
    stubs = next(p for p in run.placements if p.name == ".stubs")
    mem = bytearray(run.steps[0].memory[stubs.index])
    mem[32:40] = bytes(8)
    mem[32] = 1
    run.steps[0].memory = {**run.steps[0].memory, stubs.index: bytes(mem)}
    from ppcreloc.oracle import build_script, judge, target_objects

    again = judge(obj, build_script(target_objects(obj), 0), run, world=SymbolWorld.synthetic())
    res = again.invariants["abi_values"]
    assert not res.holds and "funcdata" in str(res.message)


def test_formulas_read_like_the_abi() -> None:
    assert ha(0x7FFF) == 0 and ha(0x8000) == 1 and lo(0x12345) == 0x2345
    assert [local_entry_offset(k << 5) for k in range(8)] == [0, 0, 4, 8, 16, 32, 64, 128]
    assert FORMULAS[R["TOC16"]].check is not None and not FORMULAS[R["TOC16"]].check(0x8000)
    assert FORMULAS[R["TOC16"]].check(-0x8000 & (2**64 - 1))


@seed(20261203)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=livepatch_objects())
def test_holds_for_v6_12_on_compiler_like_objects(case: Case) -> None:
    from ppcreloc.engines import ModelEngine

    res = run_check(case, ModelEngine("v6.12"), 2).invariants["abi_values"]
    assert res.holds, res.message


# -- DS relocations on DQ-form words ------------------------------------------------------------
def _ds_word(word: int, value: int) -> ElfObject:
    """``addis r9,r2,x@toc@ha`` then ``word`` with ``x@toc@l`` (TOC16_HA, TOC16_LO_DS), where x
    is at TOC offset ``value`` (my_r2 = .toc + 0x8000)."""
    ob = ObjectBuilder()
    t = ob.add_section(".text", struct.pack("<III", 0x3D220000, word, 0x4E800020))
    toc = ob.add_section(".toc", bytes(0x80), flags=SHF_ALLOC | SHF_WRITE, addralign=256)
    ob.add_stubs()
    ob.add_rela(t, 0, ob.section_symbol(toc), R["TOC16_HA"], value - 0x8000)
    ob.add_rela(t, 4, ob.section_symbol(toc), R["TOC16_LO_DS"], value - 0x8000)
    return ob.build()


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_ds_mask_on_lxv_is_a_violation(profile):
    """lxv vs34 (DQ-form): a linker keeps the low 4 bits (TX set), module_64.c's 0xfffc clears
    TX; abi_values reports that, and a 4 mod 16 value as unaligned. ``ld`` (DS-form) holds."""
    from ppcreloc.engines import get_engine

    lxv, ld = 0xF4490009, 0xE9290000
    world = SymbolWorld.synthetic()
    v = check(_ds_word(lxv, 0x40), get_engine(profile), world).invariants["abi_values"]
    assert not v.holds
    assert (v.violations[0].expected, v.violations[0].actual) == (b"\x49\x00", b"\x41\x00")
    v = check(_ds_word(lxv, 0x44), get_engine(profile), world).invariants["abi_values"]
    assert not v.holds and "not 16-aligned" in v.message
    assert check(_ds_word(ld, 0x48), get_engine(profile), world).invariants["abi_values"].holds


# -- stubs and words the oracle must not misjudge -----------------------------------------------
def _calls(words: list[int], relas: list[tuple[int, str]], size: int | None = None) -> ElfObject:
    """One .text of ``words`` (``size`` bytes, default all) with a REL24 per (offset, name);
    names starting .klp.sym are SHN_LIVEPATCH, the others undefined."""
    ob = ObjectBuilder()
    data = struct.pack(f"<{len(words)}I", *words)
    t = ob.add_section(".text", data[: size if size is not None else len(data)])
    ob.add_stubs()
    syms: dict[str, int] = {}
    for off, name in relas:
        if name not in syms:
            klp = name.startswith(".klp.sym.")
            syms[name] = ob.add_symbol(name, bind=STB_GLOBAL,
                                       shndx=SHN_LIVEPATCH if klp else 0)
        obj = name.split(".")[3] if name.startswith(".klp.sym.") else None
        section = f".klp.rela.{obj}.text" if obj else None
        if section:
            ob.add_rela(t, off, syms[name], R["REL24"], section=section)
        else:
            ob.add_rela(t, off, syms[name], R["REL24"])
    return ob.build()


def test_mcount_gets_the_ftrace_stub_and_its_reuse_is_either_form() -> None:
    """create_stub hands _mcount to create_ftrace_stub (6.1, 6.12 MPROFILE_KERNEL): abi_values
    expects that form by the name, and accepts either form for a stub reused by address."""
    obj = _calls([BL, NOP, BL, NOP, 0x4E800020],
                 [(0, "_mcount"), (8, ".klp.sym.vmlinux._mcount,0")])
    verdict = check(obj, _Engine(V6_12()), SymbolWorld.synthetic(), cycles=0)
    assert verdict.invariants["apply"].holds
    res = verdict.invariants["abi_values"]
    assert res.holds, res.message


def test_a_stub_a_stray_relocation_overwrote_is_not_create_stubs_fault() -> None:
    """A REL24 whose r_offset lies past its section lands in `.stubs` (never checked against
    sh_size): the stub's changed word is that write's doing, not a wrong create_stub."""
    words = [BL, NOP, 0x4E800020]
    # .text is 12 bytes at the module base, .stubs follows 16-aligned: the kmalloc call's stub
    # is stubs[0], its sixth word (bctr) at .stubs + 20; the stray printk REL24 rewrites it
    obj = _calls(words, [(0x10 + 20, "printk"), (0, "kmalloc")])
    verdict = check(obj, _Engine(V6_12()), SymbolWorld.synthetic(), cycles=0)
    run = verdict.run
    assert run is not None
    stubs = next(p for p in run.placements if p.name == ".stubs")
    assert any(w.addr == stubs.addr + 20 and w.what == "REL24" for w in run.steps[0].writes)
    res = verdict.invariants["abi_values"]
    assert res.holds and "stub overwritten" in str(res.message), res.message


def test_rel24_on_a_prefix_word_zeroes_the_next_word() -> None:
    """ppc_inst(value) keeps a primary opcode of 1, so patch_instruction stores 8 bytes with a
    zero suffix: reported as a finding of the kernel, naming the prefix."""
    obj = _calls([0x04000000, NOP, 0x4E800020], [(0, ".klp.sym.target.func,0")])
    verdict = check(obj, _Engine(V6_12()), SymbolWorld.synthetic(), cycles=0)
    res = verdict.invariants["abi_values"]
    assert not res.holds and "primary opcode 1" in str(res.message), res.message
