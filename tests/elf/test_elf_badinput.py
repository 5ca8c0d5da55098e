"""Bad input: every class of malformed ELF raises ElfFormatError with a one-line message naming
the problem, fast, and nothing else escapes the reader (a byte-mutation property)."""

from __future__ import annotations

import re
import struct
import time

import pytest
from elf_objects import elf_objects
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ppcreloc.elf.builder import ObjectBuilder
from ppcreloc.elf.errors import ElfFormatError
from ppcreloc.elf.model import SHN_LIVEPATCH, STB_GLOBAL, STT_FUNC
from ppcreloc.elf.reader import read_elf, read_elf_file
from ppcreloc.elf.writer import write_elf
from ppcreloc.errors import PpcrelocError

# Offsets of fields inside Elf64_Ehdr / Elf64_Shdr / Elf64_Sym / Elf64_Rela, and their formats.
EHDR = {"e_machine": (18, "H"), "e_shoff": (40, "Q"), "e_shentsize": (58, "H"),
        "e_shnum": (60, "H"), "e_shstrndx": (62, "H")}  # fmt: skip
SHDR = {"sh_name": (0, "I"), "sh_type": (4, "I"), "sh_offset": (24, "Q"), "sh_size": (32, "Q"),
        "sh_link": (40, "I"), "sh_info": (44, "I"), "sh_entsize": (56, "Q")}  # fmt: skip
SYM = {"st_name": (0, "I"), "st_info": (4, "B"), "st_shndx": (6, "H")}
RELA = {"r_info": (8, "Q")}


def base() -> tuple[bytes, dict[str, int]]:
    """A small valid livepatch object and its section indices by name."""
    b = ObjectBuilder()
    text = b.add_section(".text", bytes(64))
    b.add_stubs()
    f = b.add_symbol("f", 0, size=8, bind=STB_GLOBAL, type=STT_FUNC, shndx=text)
    k = b.add_symbol(".klp.sym.vmlinux.printk,0", bind=STB_GLOBAL, shndx=SHN_LIVEPATCH)
    b.add_rela(text, 0, f, 10)
    b.add_rela(text, 4, b.section_symbol(text), 10)
    b.add_rela(text, 8, k, 10, section=".klp.rela.vmlinux..text")
    obj = b.build()
    return write_elf(obj), {s.name: i for i, s in enumerate(obj.sections) if i}


DATA, IDX = base()


def u(data: bytes, off: int, fmt: str) -> int:
    return struct.unpack_from("<" + fmt, data, off)[0]


def put(data: bytes, off: int, fmt: str, value: int) -> bytes:
    out = bytearray(data)
    struct.pack_into("<" + fmt, out, off, value)
    return bytes(out)


def ehdr(field: str, value: int, data: bytes = DATA) -> bytes:
    return put(data, EHDR[field][0], EHDR[field][1], value)


def shdr_off(i: int, data: bytes = DATA) -> int:
    return u(data, 40, "Q") + 64 * i


def shdr(sec: str, field: str, value: int, data: bytes = DATA) -> bytes:
    off, fmt = SHDR[field]
    return put(data, shdr_off(IDX[sec], data) + off, fmt, value)


def shdr_get(sec: str, field: str, data: bytes = DATA) -> int:
    off, fmt = SHDR[field]
    return u(data, shdr_off(IDX[sec], data) + off, fmt)


def sym(k: int, field: str, value: int) -> bytes:
    off, fmt = SYM[field]
    return put(DATA, shdr_get(".symtab", "sh_offset") + 24 * k + off, fmt, value)


def rela(k: int, field: str, value: int) -> bytes:
    off, fmt = RELA[field]
    return put(DATA, shdr_get(".rela.text", "sh_offset") + 24 * k + off, fmt, value)


def rejects(data: bytes, pattern: str) -> str:
    with pytest.raises(ElfFormatError, match=pattern) as info:
        read_elf(data)
    msg = str(info.value)
    assert "\n" not in msg and msg
    assert isinstance(info.value, PpcrelocError)
    return msg


NSYMS = shdr_get(".symtab", "sh_size") // 24
NSECS = u(DATA, 60, "H")

CASES = {
    "empty file": (b"", r"truncated: 0 bytes"),
    "truncated header": (DATA[:40], r"truncated: 40 bytes"),
    "truncated section headers": (DATA[:-10], r"section header table past end of file"),
    "bad magic": (b"\x7fELG" + DATA[4:], r"bad magic"),
    "bad class": (DATA[:4] + b"\x01" + DATA[5:], r"EI_CLASS 1"),
    "bad endianness": (DATA[:5] + b"\x03" + DATA[6:], r"EI_DATA 3"),
    "bad machine": (ehdr("e_machine", 62), r"e_machine 62: not EM_PPC64"),
    "no section headers": (ehdr("e_shoff", 0), r"no section header table"),
    "extended numbering": (ehdr("e_shnum", 0), r"extended section numbering"),
    "wrong e_shentsize": (ehdr("e_shentsize", 40), r"e_shentsize 40"),
    "absurd e_shnum": (ehdr("e_shnum", 0xFEFF), r"section header table past end of file"),
    "absurd e_shoff": (ehdr("e_shoff", 2**63), r"section header table past end of file"),
    "e_shstrndx out of range": (ehdr("e_shstrndx", NSECS), r"e_shstrndx \d+ out of range"),
    "section offset past end": (shdr(".text", "sh_offset", len(DATA)), r"section \d+ \(\.text\): sh_offset\+sh_size past end of file"),
    "section size past end": (shdr(".text", "sh_size", 2**40), r"section \d+ \(\.text\): sh_offset\+sh_size past end of file"),
    "rela size 2^40 entries": (shdr(".rela.text", "sh_size", 24 * 2**40), r"\(\.rela\.text\): sh_offset\+sh_size past end of file"),
    "rela sh_link out of range": (shdr(".rela.text", "sh_link", NSECS), r"\(\.rela\.text\): sh_link \d+ out of range"),
    "rela sh_info out of range": (shdr(".rela.text", "sh_info", 1000), r"\(\.rela\.text\): sh_info 1000 out of range"),
    "symtab sh_link out of range": (shdr(".symtab", "sh_link", 0xFFFF), r"\(\.symtab\): sh_link 65535 out of range"),
    "symtab sh_info out of range": (shdr(".symtab", "sh_info", NSYMS + 1), r"\(\.symtab\): sh_info \d+ out of range"),
    "rela wrong entsize": (shdr(".rela.text", "sh_entsize", 16), r"\(\.rela\.text\): sh_entsize 16, expected 24"),
    "symtab wrong entsize": (shdr(".symtab", "sh_entsize", 0), r"\(\.symtab\): sh_entsize 0, expected 24"),
    "rela size not a multiple": (shdr(".rela.text", "sh_size", 25), r"sh_size 0x19 is not a multiple of 24"),
    "section name out of range": (shdr(".text", "sh_name", 0x10000), r"section \d+: name offset 0x10000 past end"),
    "shstrtab not NUL-terminated": (
        put(DATA, shdr_get(".shstrtab", "sh_offset") + shdr_get(".shstrtab", "sh_size") - 1, "B", 0x58),
        r"section \d+: name at offset 0x\w+ in section \d+ \(e_shstrndx\) not NUL-terminated",
    ),
    "shstrtab past end": (shdr(".shstrtab", "sh_offset", len(DATA) - 4), r"section \d+ \(e_shstrndx\): sh_offset\+sh_size past end"),
    "symbol name out of range": (sym(2, "st_name", 0xFFFFFF), r"symbol 2: name offset 0xffffff past end"),
    "symbol shndx out of range": (sym(2, "st_shndx", 0x1234), r"symbol 2: st_shndx 4660 out of range"),
    "section symbol shndx reserved": (sym(1, "st_shndx", SHN_LIVEPATCH), r"symbol 1: section symbol with st_shndx 0xff20"),
    "relocation symbol out of range": (rela(0, "r_info", (NSYMS << 32) | 10), rf"relocation 0: symbol index {NSYMS} out of range"),
    "relocation symbol 2^32-1": (rela(1, "r_info", (0xFFFFFFFF << 32) | 10), r"symbol index 4294967295 out of range"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_class(case):
    data, pattern = CASES[case]
    rejects(data, pattern)


def test_the_base_object_is_valid():
    """The mutations above start from an object the reader accepts."""
    assert read_elf(DATA).section_index(".klp.rela.vmlinux..text") is not None


def test_r_offset_past_the_section_is_not_a_format_error():
    """The kernel must be fed such objects (a kernel-side check), so the reader keeps them."""
    obj = read_elf(DATA)
    obj.relocs[IDX[".rela.text"]][0].offset = 2**64 - 8
    assert read_elf(write_elf(obj)) == obj


def test_read_elf_file_turns_os_errors_into_format_errors(tmp_path):
    with pytest.raises(ElfFormatError, match=r"cannot read .*missing\.o: No such file"):
        read_elf_file(tmp_path / "missing.o")
    with pytest.raises(ElfFormatError, match=r"cannot read .*: Is a directory"):
        read_elf_file(tmp_path)
    (tmp_path / "ok.o").write_bytes(DATA)
    assert read_elf_file(tmp_path / "ok.o") == read_elf(DATA)


# -- hostile 1 MB inputs: rejected or read well within the hang guard ----------------------------
MB = 1 << 20


def _shdr_bytes(name, type_, offset, size, link=0, info=0, entsize=0) -> bytes:
    return struct.pack("<IIQQQQIIQQ", name, type_, 0, 0, offset, size, link, info, 8, entsize)


def _file_with_sections(shdrs: list[bytes], body: bytes, shstrndx: int = 0) -> bytes:
    head = bytearray(DATA[:64])
    struct.pack_into("<Q", head, 40, len(body) + 64)
    struct.pack_into("<HHH", head, 58, 64, len(shdrs), shstrndx)
    return bytes(head) + body + b"".join(shdrs)


def hostile_inputs() -> dict[str, bytes]:
    n = (MB // 2) // 64
    overlapping_relas = _file_with_sections(
        [_shdr_bytes(0, 0, 0, 0)] + [_shdr_bytes(0, 4, 64, MB // 2, 0, 0, 24)] * (n - 1), bytes(MB // 2)
    )
    # 43k symbols all naming offsets into one 0.5 MB string without a NUL.
    nsym = (MB // 2) // 24
    syms = b"".join(struct.pack("<IBBHQQ", k, 0, 0, 0, 0, 0) for k in range(nsym))
    strtab = b"\0" + b"A" * (MB // 2 - 24 * nsym + MB // 4)
    body = syms + strtab
    no_nul = _file_with_sections(
        [_shdr_bytes(0, 0, 0, 0), _shdr_bytes(0, 2, 64, len(syms), 2, 1, 24),
         _shdr_bytes(0, 3, 64 + len(syms), len(strtab))],
        body,
    )  # fmt: skip
    # 43k valid symbols each with a long name, then a read that must succeed quickly.
    names = b"\0" + b"".join(b"s%07d" % k + b"\0" for k in range(nsym))
    syms = b"".join(struct.pack("<IBBHQQ", 1 + 9 * k if k else 0, 0, 0, 0, 0, 0) for k in range(nsym))
    many_syms = _file_with_sections(
        [_shdr_bytes(0, 0, 0, 0), _shdr_bytes(0, 2, 64, len(syms), 2, nsym, 24),
         _shdr_bytes(0, 3, 64 + len(syms), len(names))],
        syms + names,
    )  # fmt: skip
    # 20k symbols named by every offset of one NUL-terminated 0.5 MB string: each distinct name
    # is a copy, about 5 GB in all unless the names' total is bounded.
    nsym = 20_000
    syms = b"".join(struct.pack("<IBBHQQ", k, 0, 0, 0, 0, 0) for k in range(nsym))
    strtab = b"\0" + b"A" * (MB // 2) + b"\0"
    overlapping_names = _file_with_sections(
        [_shdr_bytes(0, 0, 0, 0), _shdr_bytes(0, 2, 64, len(syms), 2, 1, 24),
         _shdr_bytes(0, 3, 64 + len(syms), len(strtab))],
        syms + strtab,
    )  # fmt: skip
    max_shnum = DATA[:64] + bytes(MB - 64)
    max_shnum = ehdr("e_shnum", (MB - 64) // 64, ehdr("e_shoff", 64, max_shnum))
    return {"overlapping relas": overlapping_relas, "no NUL": no_nul, "many symbols": many_syms,
            "16383 null section headers": max_shnum,
            "overlapping names": overlapping_names}  # fmt: skip


EXPECTED = {"overlapping relas": r"sections overlap", "no NUL": r"not NUL-terminated",
            "many symbols": r"^$", "16383 null section headers": r"^$",
            "overlapping names": r"overlapping names"}  # fmt: skip


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_hostile_1mb_inputs_finish_quickly(name):
    data = hostile_inputs()[name]
    assert len(data) <= 2 * MB
    start = time.perf_counter()
    try:
        obj = read_elf(data)
    except ElfFormatError as exc:
        assert "\n" not in str(exc)
        assert re.search(EXPECTED[name], str(exc)), str(exc)
        obj = None
    elapsed = time.perf_counter() - start
    assert elapsed < 5, f"{name}: {elapsed:.2f} s"  # generous hang guard, not a speed target
    if name == "many symbols":
        assert obj is not None and len(obj.symbols) == (MB // 2) // 24
    if name in ("overlapping relas", "no NUL", "overlapping names"):
        assert obj is None


# -- the reader never lets anything but ElfFormatError escape ------------------------------------
@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(write_elf(draw(elf_objects(wellformed=draw(st.booleans()), max_relocs=16))))
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["byte", "word", "truncate"]))
        if kind == "truncate":
            del data[draw(st.integers(0, len(data))) :]
        elif data and kind == "byte":
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        elif len(data) >= 8:
            # Header and section-header fields are where structure lives: aim there often.
            shoff = u(bytes(data), 40, "Q") if len(data) >= 64 else 0
            pos = draw(st.one_of(st.integers(0, 56), st.integers(shoff, shoff + 64 * 16), st.integers(0, len(data) - 8)))
            pos = min(pos, len(data) - 8)
            val = draw(st.one_of(st.integers(0, 64), st.integers(0, 2**64 - 1), st.sampled_from([2**32 - 1, 2**40, 2**63])))
            struct.pack_into("<Q", data, pos, val)
    return bytes(data)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_objects_raise_only_elf_format_error(data):
    try:
        obj = read_elf(data)
    except ElfFormatError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    # Whatever the reader accepts, the writer can write and the reader reads back the same.
    again = write_elf(obj)
    assert read_elf(again) == obj
