"""The strategies generate what they promise: loadable, compiler-like, covering, reproducible."""

from __future__ import annotations

import collections
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ppcreloc.elf.model import (
    SHF_RELA_LIVEPATCH,
    SHF_WRITE,
    SHN_LIVEPATCH,
    SHN_UNDEF,
    SHT_NOBITS,
    ElfObject,
)
from ppcreloc.elf.reader import read_elf
from ppcreloc.elf.writer import write_elf
from ppcreloc.loader.worldspec import world_from_spec
from ppcreloc.strategies import MUTATIONS, Case, livepatch_objects, symbol_worlds
from ppcreloc.strategies import _ppc as P
from ppcreloc.strategies.worlds import WorldSpec, resolvable

ROOT = Path(__file__).resolve().parents[2]
KLP_SYM = ".klp.sym."
#: data relocation types the kernel applies with plain stores (kernel-facts 4.9): a klp section
#: may only use them on writable sections, since late application runs with text/rodata RO
PLAIN_STORE = {P.R_PPC64_ADDR32, P.R_PPC64_ADDR64, P.R_PPC64_REL32, P.R_PPC64_REL64,
               P.R_PPC64_TOC, P.R_PPC64_TOC16, P.R_PPC64_TOC16_LO, P.R_PPC64_TOC16_HA,
               P.R_PPC64_TOC16_DS, P.R_PPC64_TOC16_LO_DS, P.R_PPC64_REL16_HA,
               P.R_PPC64_REL16_LO, P.R_PPC64_ENTRY}
WIDTH = {P.R_PPC64_ADDR32: 4, P.R_PPC64_ADDR64: 8, P.R_PPC64_REL32: 4, P.R_PPC64_REL64: 8,
         P.R_PPC64_TOC: 8, P.R_PPC_REL24: 4, P.R_PPC64_ENTRY: 8, P.R_PPC64_TOCSAVE: 4}

def budget(n: int) -> int:
    """``n`` examples under the dev/ci profiles (100), scaled up under ``fuzz`` (20,000)."""
    return max(1, n * settings.default.max_examples // 100)


fast = settings(max_examples=budget(60), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


def _word(obj: ElfObject, sec: int, off: int) -> int:
    return int.from_bytes(obj.sections[sec].data[off:off + 4], "little")


def _klp_parts(name: str) -> tuple[str, str, int]:
    objname, _, rest = name[len(KLP_SYM):].partition(".")
    sym, _, pos = rest.partition(",")
    return objname, sym, int(pos)


def check_loadable(case: Case) -> None:
    """What the kernel needs of a compiler-like object, checked statically."""
    obj, world = case.obj, world_from_spec(case.world)
    stubs = obj.section_index(".stubs")
    assert stubs is not None and obj.sections[stubs].type == SHT_NOBITS
    assert obj.sections[stubs].sh_size == 0
    toc_types = {P.R_PPC64_TOC16, P.R_PPC64_TOC16_LO, P.R_PPC64_TOC16_HA, P.R_PPC64_TOC16_DS,
                 P.R_PPC64_TOC16_LO_DS, P.R_PPC64_TOC}
    if any(r.type in toc_types for rs in obj.relocs.values() for r in rs):
        assert obj.section_index(".toc") is not None
    for relsec, relas in obj.relocs.items():
        rsec = obj.sections[relsec]
        target = rsec.info
        tsec = obj.sections[target]
        klp = rsec.name.startswith(".klp.rela.")
        assert bool(rsec.flags & SHF_RELA_LIVEPATCH) == klp
        for r in relas:
            sym = obj.symbols[r.sym]
            assert r.type in P.TYPE_NAMES
            assert 0 <= r.offset and r.offset + WIDTH.get(r.type, 2) <= tsec.sh_size
            if klp:
                # klp_resolve_symbols: every symbol is SHN_LIVEPATCH, parses, resolves uniquely
                assert sym.shndx == SHN_LIVEPATCH and sym.name.startswith(KLP_SYM)
                objname, name, pos = _klp_parts(sym.name)
                assert rsec.name.startswith(f".klp.rela.{objname}.")
                matches = world.lookup(objname, name)
                assert (len(matches) == 1) if pos == 0 else (pos <= len(matches))
                if r.type in PLAIN_STORE:
                    assert tsec.flags & SHF_WRITE, (rsec.name, r)
            else:
                assert sym.shndx != SHN_LIVEPATCH
                if sym.shndx == SHN_UNDEF and r.sym:
                    assert sym.name == ".TOC." or world.resolve_export(sym.name) is not None
            if r.type == P.R_PPC_REL24:
                word = _word(obj, target, r.offset)
                assert word in (P.BL, P.B)  # compiler placeholder: LI bits zero
                external = sym.shndx in (SHN_UNDEF, SHN_LIVEPATCH)
                if word == P.BL and external and sym.name != "_mcount":
                    assert _word(obj, target, r.offset + 4) == P.NOP  # bl sym; nop
    # every placeholder is zero except instruction opcodes and register fields
    for i in obj.rela_sections():
        tsec = obj.sections[obj.sections[i].info]
        if not tsec.flags & 0x4:  # data: zeroed words as the compiler emits
            assert set(tsec.data) <= {0}


@fast
@given(livepatch_objects())
def test_compiler_objects_are_loadable(case: Case) -> None:
    check_loadable(case)
    assert case.mutations == () and case.placeholders == "compiler"


@fast
@given(livepatch_objects())
def test_objects_round_trip_through_elf(case: Case) -> None:
    back = read_elf(write_elf(case.obj))
    assert back.symbols == case.obj.symbols
    assert back.relocs == case.obj.relocs
    assert [s.name for s in back.sections] == [s.name for s in case.obj.sections]


def test_default_run_covers_every_type_and_symbol_kind() -> None:
    """Seeded: 150 compiler-like examples cover every handled type, SHN_UNDEF and SHN_LIVEPATCH."""
    types: collections.Counter[int] = collections.Counter()
    kinds: collections.Counter[str] = collections.Counter()

    @settings(max_examples=150, derandomize=True, database=None, deadline=None)
    @given(livepatch_objects())
    def collect(case: Case) -> None:
        for relas in case.obj.relocs.values():
            for r in relas:
                types[r.type] += 1
                shndx = case.obj.symbols[r.sym].shndx
                kinds[{SHN_UNDEF: "undef", SHN_LIVEPATCH: "livepatch"}.get(shndx, "defined")] += 1
        other = {s.other >> 5 for s in case.obj.symbols}
        kinds.update(f"localentry{k}" for k in other)

    collect()
    assert set(P.TYPE_NAMES) <= set(types), set(P.TYPE_NAMES) - set(types)
    assert {"undef", "livepatch", "defined", "localentry0", "localentry3"} <= set(kinds)


@fast
@given(st.data(), st.sets(st.sampled_from(sorted(P.TYPE_NAMES)), min_size=1))
def test_types_knob_restricts_relocation_types(data: st.DataObject, types: set[int]) -> None:
    case = data.draw(livepatch_objects(types=types))
    used = {r.type for rs in case.obj.relocs.values() for r in rs}
    assert used <= types
    check_loadable(case)


@fast
@given(st.data(), symbol_worlds(max_modules=3))
def test_targets_knob_and_fixed_world(data: st.DataObject, world: WorldSpec) -> None:
    wanted = world.module_names[:1]
    case = data.draw(livepatch_objects(world=world, targets=wanted, klp_vmlinux=False))
    assert case.world is world
    assert set(case.targets) <= set(wanted)
    klp_objs = {n.split(".")[3] for n in (s.name for s in case.obj.sections)
                if n.startswith(".klp.rela.")}
    assert klp_objs <= set(wanted)


def test_bad_knobs_are_rejected() -> None:
    with pytest.raises(ValueError, match="placeholders"):
        livepatch_objects(placeholders="random")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_functions"):
        livepatch_objects(max_functions=0)
    world = WorldSpec.from_dict({"kernel_toc": "0x0", "modules": [],
                                 "vmlinux": {"name": "vmlinux", "bases": ["0x0"], "symbols": []}})
    with pytest.raises(ValueError, match="targets not in the symbol world"):
        livepatch_objects(world=world, targets=("no_such_module",))


@fast
@given(symbol_worlds())
def test_worlds_resolve_as_klp_find_object_symbol(world: WorldSpec) -> None:
    sw = world_from_spec(world)
    assert WorldSpec.from_dict(world.to_dict()) == world
    for m in world.modules:
        assert len(set(m.bases)) == len(m.bases)  # fresh address per load
        for choice in resolvable(world, m.name):
            for gen in range(len(m.bases)):
                matches = sw.lookup(m.name, choice.name, gen)
                want = world.object(m.name).address(choice.name, choice.pos, gen)
                idx = 0 if choice.pos == 0 else choice.pos - 1
                assert matches[idx] == want
    for name, addr in world.exports().items():
        assert sw.resolve_export(name) == addr


def test_worlds_have_duplicate_names() -> None:
    """sympos > 1 is exercised: some generated module lists a name twice."""
    seen = []

    @settings(max_examples=50, derandomize=True, database=None)
    @given(symbol_worlds())
    def collect(world: WorldSpec) -> None:
        seen.extend(m.count(s.name) for m in world.modules for s in m.symbols)

    collect()
    assert max(seen) >= 2


def test_adversarial_mutations_all_fire_and_still_serialise() -> None:
    fired: collections.Counter[str] = collections.Counter()

    @settings(max_examples=150, derandomize=True, database=None, deadline=None)
    @given(livepatch_objects(placeholders="adversarial"))
    def collect(case: Case) -> None:
        assert case.placeholders == "adversarial" and case.mutations
        fired.update(case.mutations)
        read_elf(write_elf(case.obj))

    collect()
    assert set(MUTATIONS) <= set(fired), set(MUTATIONS) - set(fired)


@pytest.mark.skipif(shutil.which("powerpc64le-linux-gnu-as") is None,
                    reason="powerpc64le-linux-gnu-as missing (apt binutils-powerpc64le-linux-gnu)")
def test_encodings_match_gnu_as(tmp_path: Path) -> None:
    """The instruction words the strategies emit are what GNU as assembles."""
    words = {
        "nop": P.NOP, "bl .": P.BL, "b .": P.B, "blr": P.BLR, "mflr 0": P.MFLR_R0,
        "addis 2,12,0": P.ADDIS_R2_R12, "addi 2,2,0": P.ADDI_R2_R2,
        "ld 2,-8(12)": P.LD_R2_M8_R12, "add 2,2,12": P.ADD_R2_R2_R12,
        "addis 9,2,0": P.ADDIS_R9_R2, "addi 9,9,0": P.ADDI_R9_R9, "ld 9,0(9)": P.LD_R9_R9,
        "ld 9,0(2)": P.LD_R9_R2, "addi 9,2,0": P.ADDI_R9_R2, "std 2,24(1)": P.STD_R2_24_R1,
        "ld 2,24(1)": P.LD_R2_24_R1,
    }
    src = tmp_path / "w.s"
    src.write_text("\t.text\n" + "".join(f"\t{k}\n" for k in words))
    out = tmp_path / "w.o"
    subprocess.run(["powerpc64le-linux-gnu-as", "-a64", "-mlittle", "-o", str(out), str(src)],
                   check=True)
    text = read_elf(out.read_bytes())
    sec = text.sections[text.section_index(".text")]
    got = [int.from_bytes(sec.data[i:i + 4], "little") for i in range(0, len(sec.data), 4)]
    assert got == list(words.values())


SEEDED_PROPERTY = """
import json, os
from hypothesis import given
from ppcreloc.strategies import livepatch_objects
from ppcreloc.elf.writer import write_elf
import hashlib

@given(livepatch_objects(placeholders=os.environ["PLACEHOLDERS"]))
def test_record(case):
    with open(os.environ["RECORD"], "a") as fh:
        fh.write(hashlib.sha256(write_elf(case.obj)).hexdigest() + "\\n")
"""


def _run_seeded(tmp: Path, seed: int, ci: bool, name: str) -> list[str]:
    test = tmp / "test_seeded_record.py"
    test.write_text(textwrap.dedent(SEEDED_PROPERTY))
    shutil.copy(ROOT / "tests" / "conftest.py", tmp / "conftest.py")
    record = tmp / f"{name}.txt"
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PPCRELOC_HYPOTHESIS_PROFILE")}
    env.update(RECORD=str(record), PLACEHOLDERS="compiler", PYTHONPATH=str(ROOT))
    if ci:
        env["CI"] = "true"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
         f"--hypothesis-seed={seed}", str(test)],
        cwd=tmp, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return record.read_text().split()


def test_seeded_runs_repeat_with_and_without_ci(tmp_path: Path) -> None:
    """`pytest --hypothesis-seed=N` generates the same objects with and without CI=true."""
    plain = _run_seeded(tmp_path, 12345, False, "plain")
    ci = _run_seeded(tmp_path, 12345, True, "ci")
    again = _run_seeded(tmp_path, 12345, False, "again")
    other = _run_seeded(tmp_path, 54321, True, "other")
    assert len(plain) >= 50
    assert plain == ci == again
    assert other != plain  # the seed matters under CI too
