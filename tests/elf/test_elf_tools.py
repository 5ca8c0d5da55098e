"""Objects from other tools read correctly: tests/data/asm/*.s assembled at test time with gas
(powerpc64le-linux-gnu-as) and with clang from the ziglang wheel; then turned into livepatch
objects (SHN_LIVEPATCH symbols, .klp.rela.vmlinux..text) through the model and written back."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from elf_crosscheck import (
    READELF,
    lief_disagreements,
    model_view_for_pyelftools,
    pyelftools_view,
    readelf_complaints,
)

from ppcreloc.elf.livepatch import KLP_RELA_FLAGS, to_livepatch
from ppcreloc.elf.model import SHN_LIVEPATCH, SHN_UNDEF, SHT_GROUP, SHT_RELA
from ppcreloc.elf.reader import read_elf, read_elf_file
from ppcreloc.elf.writer import write_elf

ASM = Path(__file__).parents[1] / "data" / "asm"
GAS = shutil.which("powerpc64le-linux-gnu-as")
HAVE_ZIG = importlib.util.find_spec("ziglang") is not None

# (target section, r_offset, r_type, symbol, addend), from tests/data/asm/relocs.s.
COMMON = [
    (".text", 0, 1, "ext_data", 4),
    (".text", 4, 10, "ext_func", 0),
    (".text", 8, 26, "ext_data", -8),
    (".text", 12, 47, "ext_data", 0),
    (".text", 16, 48, "ext_data", 16),
    (".text", 20, 50, "ext_data", 16),
    (".text", 24, 63, "ext_data", 8),
    (".text", 28, 64, "ext_data", 8),
    (".text", 36, 116, "ext_func", 0),
    (".text", 44, 132, "ext_data", 0),
    (".text", 52, 133, "ext_data", 0),
    (".text", 60, 250, "ext_data", -60),
    (".text", 64, 252, "ext_data", -64),
    (".text", 68, 10, ".klp.sym.vmlinux.printk,0", 0),
    (".text", 72, 116, ".klp.sym.vmlinux.memcpy,0", 8),
    (".text", 76, 50, ".klp.sym.vmlinux.jiffies,0", 0x7FF8),
    (".data", 0, 38, "ext_data", 0x100),
    (".data", 8, 44, "ext_func", -16),
    (".data", 16, 38, ".klp.sym.vmlinux.jiffies,0", 0),
    (".toc", 0, 51, "", 0),
]
GAS_ONLY = [
    (".text", 0, 118, "gas_func", 0),
    (".text", 8, 109, "gas_func", 12),
    (".text", 12, 10, ".klp.sym.vmlinux.printk,0", 0),
]
ENGINE_TYPES = {1, 10, 26, 38, 44, 47, 48, 50, 51, 63, 64, 109, 116, 118, 132, 133, 250, 252}


def assemble(tool: str, source: str, out: Path) -> Path:
    src = ASM / source
    if tool == "gas":
        if GAS is None:
            pytest.skip("powerpc64le-linux-gnu-as is not installed (binutils-powerpc64le-linux-gnu)")
        cmd = [GAS, "-a64", "-mpower10", str(src), "-o", str(out)]
    else:
        if not HAVE_ZIG:
            pytest.skip("the ziglang wheel (clang) is not installed")
        cmd = [sys.executable, "-m", "ziglang", "cc", "-target", "powerpc64le-linux-gnu", "-c", str(src), "-o", str(out)]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr
    return out


def relocations(obj, only_sections=(".text", ".data", ".toc")) -> list[tuple]:
    out = []
    for idx, relas in obj.relocs.items():
        target = obj.sections[obj.sections[idx].info].name
        if target in only_sections:
            out += [(target, r.offset, r.type, obj.symbols[r.sym].name, r.addend) for r in relas]
    return sorted(out)


CASES = [("gas", "relocs.s", COMMON), ("clang", "relocs.s", COMMON), ("gas", "relocs_gas_only.s", GAS_ONLY)]


@pytest.mark.parametrize("tool,source,expected", CASES, ids=["gas", "clang", "gas-only-types"])
def test_assembled_object_reads_with_the_source_relocations(tool, source, expected, tmp_path):
    obj = read_elf_file(assemble(tool, source, tmp_path / "x.o"))
    assert relocations(obj) == sorted(expected)
    data = (tmp_path / "x.o").read_bytes()
    assert pyelftools_view(data) == model_view_for_pyelftools(obj, data)
    assert lief_disagreements(obj, data) == []
    # Rewriting a foreign object keeps everything the model holds.
    assert read_elf(write_elf(obj)) == obj


def test_every_engine_relocation_type_is_covered():
    assert {t for _, _, t, _, _ in COMMON + GAS_ONLY} == ENGINE_TYPES


@pytest.mark.parametrize("tool", ["gas", "clang"])
def test_tool_specific_sections_survive(tool, tmp_path):
    obj = read_elf_file(assemble(tool, "relocs.s", tmp_path / "x.o"))
    names = {s.name for s in obj.sections}
    assert {".comment", ".note.GNU-stack", ".group", ".text.inline_helper"} <= names
    group = obj.sections[obj.section_index(".group")]
    assert group.type == SHT_GROUP and group.link == obj.symtab_index
    assert obj.symbols[group.info].name == "inline_helper"
    assert int.from_bytes(group.data[:4], "little") == 1  # GRP_COMDAT
    assert int.from_bytes(group.data[4:8], "little") == obj.section_index(".text.inline_helper")
    assert b"ppcreloc test object" in obj.sections[obj.section_index(".comment")].data
    my_func = next(s for s in obj.symbols if s.name == "my_func")
    assert my_func.other >> 5 == 3  # .localentry my_func, 8
    if READELF is not None:
        assert readelf_complaints(write_elf(obj)) == ""


@pytest.mark.parametrize("tool", ["gas", "clang"])
def test_livepatch_conversion_round_trips_and_readelf_accepts_it(tool, tmp_path):
    obj = read_elf_file(assemble(tool, "relocs.s", tmp_path / "x.o"))
    klp = to_livepatch(obj)
    for s in klp.symbols:
        want = SHN_LIVEPATCH if s.name.startswith(".klp.sym.") else s.shndx
        assert s.shndx == want
    assert any(s.shndx == SHN_UNDEF and s.name == "ext_func" for s in klp.symbols)
    text_klp = klp.section_index(".klp.rela.vmlinux..text")
    data_klp = klp.section_index(".klp.rela.vmlinux..data")
    assert text_klp is not None and data_klp is not None
    for idx, target in ((text_klp, ".text"), (data_klp, ".data")):
        sec = klp.sections[idx]
        assert (sec.type, sec.flags, sec.entsize) == (SHT_RELA, KLP_RELA_FLAGS, 24)
        assert klp.sections[sec.info].name == target and sec.link == klp.symtab_index
    moved = sorted(
        (klp.sections[klp.sections[i].info].name, r.offset, r.type, klp.symbols[r.sym].name, r.addend)
        for i in (text_klp, data_klp)
        for r in klp.relocs[i]
    )
    assert moved == sorted(e for e in COMMON if e[3].startswith(".klp.sym."))
    # The whole set of relocations is unchanged, only regrouped.
    assert relocations(klp) == relocations(obj)
    data = write_elf(klp)
    assert read_elf(data) == klp
    assert lief_disagreements(klp, data) == []
    if READELF is not None:
        assert readelf_complaints(data) == ""


def test_example_livepatch_builder(tmp_path):
    if GAS is None:
        pytest.skip("powerpc64le-linux-gnu-as is not installed (binutils-powerpc64le-linux-gnu)")
    script = ASM.parents[2] / "examples" / "build_livepatch_object.py"
    out = tmp_path / "klp.o"
    res = subprocess.run([sys.executable, str(script), str(ASM / "relocs.s"), str(out)],
                         capture_output=True, text=True, check=False)  # fmt: skip
    assert res.returncode == 0, res.stderr
    obj = read_elf_file(out)
    assert obj.section_index(".klp.rela.vmlinux..text") is not None
    bad = subprocess.run([sys.executable, str(script), str(tmp_path / "missing.s"), str(out)],
                         capture_output=True, text=True, check=False)  # fmt: skip
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "no such source file" in bad.stderr
