"""The pyelftools reader (``read_elf(data, reader="pyelftools")``) returns exactly what the struct
reader returns: generated objects in both byte orders, gas/clang objects, every bad-input class
(same ElfFormatError), mutated bytes, ``ppcreloc check --reader``, and (slow) real modules."""

from __future__ import annotations

import json
import re
import struct
import time

import pytest
from cli_run import one_line_error, run
from elf_crosscheck import pyelftools_view
from elf_objects import elf_objects, sweep_object
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from realmodules import module_bytes, package
from test_elf_badinput import (
    CASES,
    DATA,
    EXPECTED,
    MB,
    _file_with_sections,
    _shdr_bytes,
    hostile_inputs,
    mutated,
)
from test_elf_realmodules import SAMPLE
from test_elf_tools import assemble

from ppcreloc.cli import main
from ppcreloc.elf import pyelftools_reader
from ppcreloc.elf.builder import ObjectBuilder
from ppcreloc.elf.errors import ElfFormatError
from ppcreloc.elf.livepatch import to_livepatch
from ppcreloc.elf.model import (
    EF_PPC64_ABI_V1,
    EF_PPC64_ABI_V2,
    SHF_ALLOC,
    SHN_LIVEPATCH,
    STB_GLOBAL,
    STT_FUNC,
)
from ppcreloc.elf.reader import READERS, read_elf, read_elf_file
from ppcreloc.elf.writer import write_elf

any_objects = st.one_of(elf_objects(wellformed=True), elf_objects(wellformed=False))


def outcome(data: bytes, reader: str) -> object:
    """The object ``reader`` reads from ``data``, or ``"error: <message>"``."""
    try:
        return read_elf(data, reader=reader)  # type: ignore[arg-type]
    except ElfFormatError as exc:
        return f"error: {exc}"


# -- generated objects ------------------------------------------------------------------------------
@given(any_objects)
def test_pyelftools_reader_reads_what_the_writer_wrote(obj):
    data = write_elf(obj)
    got = read_elf(data, reader="pyelftools")
    assert got == read_elf(data)
    assert got == obj


@pytest.mark.parametrize("big_endian", [False, True], ids=["LE-ELFv2", "BE-ELFv1"])
@given(obj=elf_objects(wellformed=True))
def test_property_in_each_byte_order(big_endian, obj):
    obj.big_endian = big_endian
    obj.flags = EF_PPC64_ABI_V1 if big_endian else EF_PPC64_ABI_V2
    data = write_elf(obj)
    assert data[5] == (2 if big_endian else 1)  # EI_DATA
    assert read_elf(data, reader="pyelftools") == read_elf(data) == obj


@pytest.mark.parametrize("big_endian", [False, True], ids=["LE-ELFv2", "BE-ELFv1"])
def test_default_size_object_in_each_byte_order(big_endian):
    obj = sweep_object(8, 16, 64, big_endian=big_endian)
    assert obj.flags == (EF_PPC64_ABI_V1 if big_endian else EF_PPC64_ABI_V2)
    data = write_elf(obj)
    got = read_elf(data, reader="pyelftools")
    assert got == read_elf(data) == obj
    assert got.big_endian is big_endian and sum(len(v) for v in got.relocs.values()) == 64


def test_st_other_bits_pyelftools_drops_are_kept():
    """pyelftools' ppc64 Elf_Sym parses st_other bits 3..4 as padding; the reader keeps them."""
    b = ObjectBuilder()
    text = b.add_section(".text", bytes(16))
    for other in (0x18, 0xFF, 0x67):
        b.add_symbol(f"f{other:x}", 0, size=4, bind=STB_GLOBAL, type=STT_FUNC, other=other, shndx=text)
    obj = b.build()
    data = write_elf(obj)
    assert {s[5] for s in pyelftools_view(data)["symbols"][1:]} == {0x00, 0xE7, 0x67}  # type: ignore[index]
    got = read_elf(data, reader="pyelftools")
    assert [s.other for s in got.symbols[1:]] == [0x18, 0xFF, 0x67]
    assert got == obj


def test_non_utf8_names_survive():
    """pyelftools' get_string decodes with errors="replace"; names keep their bytes here."""
    b = ObjectBuilder()
    text = b.add_section(".t\udcccxt", bytes(8))
    k = b.add_symbol(".klp.sym.t\udcccrget.foo,0", bind=STB_GLOBAL, shndx=SHN_LIVEPATCH)
    b.add_rela(text, 0, k, 38, section=".klp.rela.t\udcccrget..t\udcccxt")
    obj = b.build()
    data = write_elf(obj)
    assert b"\xcc" in data
    got = read_elf(data, reader="pyelftools")
    assert got == read_elf(data) == obj
    assert write_elf(got) == data


def test_compressed_flag_keeps_the_stored_bytes():
    """SHF_COMPRESSED on a plain section: pyelftools' data() would inflate; the model keeps bytes."""
    b = ObjectBuilder()
    b.add_section(".data", b"not zlib at all", flags=SHF_ALLOC | 0x800)
    obj = b.build()
    data = write_elf(obj)
    assert read_elf(data, reader="pyelftools") == read_elf(data) == obj


# -- objects from other tools ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "tool,source", [("gas", "relocs.s"), ("gas", "relocs_gas_only.s"), ("clang", "relocs.s")],
    ids=["gas", "gas-only-types", "clang"],
)  # fmt: skip
def test_assembled_objects_read_identically(tool, source, tmp_path):
    path = assemble(tool, source, tmp_path / "x.o")
    obj = read_elf_file(path, reader="pyelftools")
    assert obj == read_elf_file(path)
    assert obj.relocs and ".note.GNU-stack" in {s.name for s in obj.sections}
    klp = to_livepatch(obj)
    data = write_elf(klp)
    assert read_elf(data, reader="pyelftools") == read_elf(data) == klp


# -- bad input --------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_class_gives_the_same_error(case):
    data, pattern = CASES[case]
    with pytest.raises(ElfFormatError, match=pattern) as info:
        read_elf(data, reader="pyelftools")
    msg = str(info.value)
    assert msg and "\n" not in msg
    assert f"error: {msg}" == outcome(data, "struct")


def _one_mb_symbol_table() -> bytes:
    nsym = (MB - 64 - 2 * 64) // 24
    syms = b"".join(struct.pack("<IBBHQQ", 0, 0x12, 0x18 * (k & 1), 0, k, k) for k in range(nsym))
    return _file_with_sections([_shdr_bytes(0, 0, 0, 0), _shdr_bytes(0, 2, 64, len(syms), 0, 1, 24)], syms)


@pytest.mark.parametrize("name", [*sorted(EXPECTED), "1 MB symbol table"])
def test_hostile_1mb_inputs_finish_with_the_same_outcome(name):
    data = _one_mb_symbol_table() if name == "1 MB symbol table" else hostile_inputs()[name]
    assert len(data) <= 2 * MB
    start = time.perf_counter()
    got = outcome(data, "pyelftools")
    elapsed = time.perf_counter() - start
    # A hang guard, not a speed target (bench/bench_elf.py measures speed): pyelftools parses
    # about 50,000 Elf64_Sym a second, so a 1 MB table takes under a second alone; the bound
    # leaves room for a loaded 2-core CI machine and still catches a reader that loops.
    assert elapsed < 30, f"{name}: {elapsed:.2f} s"
    assert got == outcome(data, "struct")
    if isinstance(got, str):
        assert re.search(EXPECTED.get(name, "^$"), got), got


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_bytes_give_the_same_outcome(data):
    """Nothing but ElfFormatError escapes, and both readers agree on accept/reject and result."""
    got = outcome(data, "pyelftools")
    assert got == outcome(data, "struct")
    if isinstance(got, str):
        assert "\n" not in got and got != "error: "


def test_pyelftools_exceptions_become_one_line_format_errors(monkeypatch):
    from elftools.common.exceptions import ELFParseError

    def broken(stream):
        raise ELFParseError("expected 64 bytes,\nfound 3")

    monkeypatch.setattr(pyelftools_reader, "ELFFile", broken)
    with pytest.raises(ElfFormatError, match=r"^pyelftools: expected 64 bytes, found 3$"):
        read_elf(DATA, reader="pyelftools")

    def empty(stream):
        raise KeyError

    monkeypatch.setattr(pyelftools_reader, "ELFFile", empty)
    with pytest.raises(ElfFormatError, match=r"^pyelftools: KeyError$"):
        read_elf(DATA, reader="pyelftools")


def test_unknown_reader_is_a_value_error(tmp_path):
    assert READERS == ("struct", "pyelftools")
    with pytest.raises(ValueError, match="unknown ELF reader 'lief'"):
        read_elf(DATA, reader="lief")  # type: ignore[arg-type]
    (tmp_path / "x.o").write_bytes(DATA)
    with pytest.raises(ValueError, match="unknown ELF reader"):
        read_elf_file(tmp_path / "x.o", reader="lief")  # type: ignore[arg-type]
    assert read_elf_file(tmp_path / "x.o", reader="pyelftools") == read_elf(DATA)
    with pytest.raises(ElfFormatError, match="cannot read"):
        read_elf_file(tmp_path / "missing.o", reader="pyelftools")


# -- the command line -------------------------------------------------------------------------------
@pytest.mark.parametrize("engine", ["v6.12", "all"])
def test_cli_reader_flag_gives_identical_json(engine, tmp_path, capsys):
    path = tmp_path / "klp.o"
    path.write_bytes(DATA)
    results = []
    for extra in ([], ["--reader", "struct"], ["--reader", "pyelftools"]):
        code = main(["check", str(path), "--engine", engine, "--json", *extra])
        out, err = capsys.readouterr()
        results.append((code, out, err))
    assert results[0] == results[1] == results[2]
    assert json.loads(results[0][1])


def test_cli_malformed_object_same_error_with_either_reader(tmp_path, capsys):
    path = tmp_path / "bad.o"
    path.write_bytes(CASES["relocation symbol out of range"][0])
    lines = []
    for reader in READERS:
        assert main(["check", str(path), "--reader", reader]) == 2
        lines.append(capsys.readouterr().err)
    assert lines[0] == lines[1] and lines[0].count("\n") == 1 and "symbol index" in lines[0]


def test_cli_bogus_reader_is_a_usage_error(tmp_path):
    path = tmp_path / "klp.o"
    path.write_bytes(DATA)
    line = one_line_error(run("check", str(path), "--reader", "bogus"))
    assert "--reader" in line and "invalid choice: 'bogus'" in line


# -- real modules -----------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.realmodules
@pytest.mark.parametrize(("series", "path"), SAMPLE)
def test_real_modules_read_identically(series, path):
    package(series)
    data = module_bytes(path)
    obj = read_elf(data, reader="pyelftools")
    assert obj == read_elf(data)
    assert obj.machine == 21 and obj.relocs
