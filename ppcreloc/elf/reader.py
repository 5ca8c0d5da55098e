"""Read ELF64 ppc64 bytes into an :class:`ElfObject`, rejecting malformed input with one error type.

Every header, table and array is parsed with ``struct`` from the file bytes, after bounds checks
that run before anything is allocated, so a hostile 1 MB input is rejected (or read) quickly and
only :class:`ElfFormatError` ever escapes. Derived sections (the first SHT_SYMTAB, its string
table, .shstrtab, every SHT_RELA; see :mod:`ppcreloc.elf.layout`) come back with ``data=b""`` and
``size=None``; their content is in ``ElfObject.symbols`` / ``ElfObject.relocs``. SHT_NOBITS
sections keep ``size``. ``read_elf(data, reader="pyelftools")`` builds the same model from
pyelftools' parse instead (:mod:`ppcreloc.elf.pyelftools_reader`, several times slower). pyelftools
and LIEF are also the independent readers the tests compare against (see the README section ``elf``
for why the hot path does not build pyelftools' structs per file).

What is *not* rejected, because the kernel must be exercised with it: r_offset past its section,
symbols in any order (.symtab sh_info is kept as is), relocation types the engine does not know.
"""

from __future__ import annotations

import os
import struct
from typing import Literal

from ppcreloc.elf.errors import ElfFormatError
from ppcreloc.elf.layout import (
    EHDR_FMT,
    EHDR_SIZE,
    ELFCLASS64,
    ELFDATA2LSB,
    ELFDATA2MSB,
    ELFMAG,
    SHDR_FMT,
    SHDR_SIZE,
    SHN_LORESERVE,
    SYM_FMT,
    Derived,
    derived_sections,
)
from ppcreloc.elf.model import (
    EM_PPC64,
    RELA_ENTSIZE,
    SHT_NOBITS,
    STT_SECTION,
    SYM_ENTSIZE,
    ElfObject,
    Rela,
    Section,
    Symbol,
)
from ppcreloc.elf.strtab import StringTable

#: Overlap guard: file-backed sections may total at most this many times the file size.
_MAX_OVERLAP = 4


class _Shdr:
    __slots__ = ("name", "type", "flags", "addr", "offset", "size", "link", "info", "align", "entsize")

    def __init__(self, fields: tuple[int, ...]) -> None:
        (self.name, self.type, self.flags, self.addr, self.offset, self.size,
         self.link, self.info, self.align, self.entsize) = fields  # fmt: skip


def _header(data: bytes) -> tuple[str, tuple[int, ...]]:
    if len(data) < EHDR_SIZE:
        raise ElfFormatError(f"truncated: {len(data)} bytes, an ELF64 header needs {EHDR_SIZE}")
    if data[:4] != ELFMAG:
        raise ElfFormatError(f"bad magic {data[:4].hex()} (not an ELF file)")
    if data[4] != ELFCLASS64:
        raise ElfFormatError(f"EI_CLASS {data[4]}: only ELFCLASS64 (2) is supported")
    if data[5] not in (ELFDATA2LSB, ELFDATA2MSB):
        raise ElfFormatError(f"EI_DATA {data[5]}: endianness must be 1 (LSB) or 2 (MSB)")
    e = "<" if data[5] == ELFDATA2LSB else ">"
    return e, struct.unpack_from(e + EHDR_FMT, data)


def _section_headers(data: bytes, e: str, ehdr: tuple[int, ...]) -> list[_Shdr]:
    shoff, shentsize, shnum = ehdr[6], ehdr[11], ehdr[12]
    if shoff == 0:
        raise ElfFormatError("no section header table (e_shoff is 0)")
    if shnum == 0:
        raise ElfFormatError("extended section numbering (e_shnum 0) is not supported")
    if shentsize != SHDR_SIZE:
        raise ElfFormatError(f"e_shentsize {shentsize}, expected {SHDR_SIZE}")
    end = shoff + shnum * SHDR_SIZE
    if end > len(data):
        raise ElfFormatError(
            f"section header table past end of file (e_shoff {shoff:#x} + e_shnum {shnum} * "
            f"{SHDR_SIZE} = {end:#x} > {len(data):#x})"
        )
    return [_Shdr(f) for f in struct.iter_unpack(e + SHDR_FMT, data[shoff:end])]


def _in_file(sh: _Shdr, size: int, label: str) -> None:
    if sh.type != SHT_NOBITS and sh.offset + sh.size > size:
        raise ElfFormatError(
            f"{label}: sh_offset+sh_size past end of file ({sh.offset:#x}+{sh.size:#x} > {size:#x})"
        )


def _check_bounds(shdrs: list[_Shdr], size: int, label: list[str]) -> None:
    total = 0
    for i, sh in enumerate(shdrs[1:], 1):
        _in_file(sh, size, label[i])
        if sh.type != SHT_NOBITS:
            total += sh.size
    if total > _MAX_OVERLAP * size:
        raise ElfFormatError(
            f"sections overlap: file-backed sections total {total:#x} bytes in a {size:#x}-byte file"
        )


def _table(data: bytes, sh: _Shdr, entsize: int, what: str) -> bytes:
    if sh.entsize != entsize:
        raise ElfFormatError(f"{what}: sh_entsize {sh.entsize}, expected {entsize}")
    if sh.size % entsize:
        raise ElfFormatError(f"{what}: sh_size {sh.size:#x} is not a multiple of {entsize}")
    return data[sh.offset : sh.offset + sh.size]


def _symbols(
    data: bytes, e: str, sh: _Shdr, strtab: StringTable | None, nsec: int, what: str
) -> list[Symbol]:
    raw = _table(data, sh, SYM_ENTSIZE, what)
    syms: list[Symbol] = []
    for i, (name, info, other, shndx, value, size) in enumerate(struct.iter_unpack(e + SYM_FMT, raw)):
        if name and strtab is None:
            raise ElfFormatError(f"symbol {i}: st_name {name:#x} but {what} sh_link names no SHT_STRTAB")
        if nsec <= shndx < SHN_LORESERVE:
            raise ElfFormatError(f"symbol {i}: st_shndx {shndx} out of range ({nsec} sections)")
        sym_name = strtab.get(name, f"symbol {i}") if name and strtab is not None else ""
        syms.append(Symbol(sym_name, value, size, info >> 4, info & 0xF, other, shndx))
    if sh.info > len(syms):
        raise ElfFormatError(f"{what}: sh_info {sh.info} out of range ({len(syms)} symbols)")
    return syms


def _relas(data: bytes, e: str, sh: _Shdr, nsyms: int, what: str) -> list[Rela]:
    raw = _table(data, sh, RELA_ENTSIZE, what)
    entries = list(struct.iter_unpack(e + "QQq", raw))
    for k, (_, info, _) in enumerate(entries):
        if info >> 32 >= nsyms:
            raise ElfFormatError(
                f"{what}: relocation {k}: symbol index {info >> 32} out of range ({nsyms} symbols)"
            )
    return [Rela(off, info >> 32, info & 0xFFFFFFFF, addend) for off, info, addend in entries]


#: The readers :func:`read_elf` can use: this module's, or pyelftools (the same ElfObject).
Reader = Literal["struct", "pyelftools"]
READERS: tuple[Reader, ...] = ("struct", "pyelftools")


def read_elf(data: bytes, reader: Reader = "struct") -> ElfObject:
    """Parse ELF64 ppc64 relocatable bytes into an :class:`ElfObject` (raises ElfFormatError).

    ``reader`` picks the parser; both return the same object and the same errors. An unknown
    ``reader`` raises ValueError.
    """
    if reader == "struct":
        return _read_struct(data)
    if reader == "pyelftools":
        from ppcreloc.elf.pyelftools_reader import read_elf_pyelftools

        return read_elf_pyelftools(data)
    raise ValueError(f"unknown ELF reader {reader!r} (choose from: {', '.join(READERS)})")


def _read_struct(data: bytes) -> ElfObject:
    data = bytes(data)
    e, ehdr = _header(data)
    machine, shstrndx = ehdr[2], ehdr[13]
    if machine != EM_PPC64:
        raise ElfFormatError(f"e_machine {machine}: not EM_PPC64 ({EM_PPC64})")
    shdrs = _section_headers(data, e, ehdr)
    n = len(shdrs)
    if shstrndx >= n:
        raise ElfFormatError(f"e_shstrndx {shstrndx} out of range ({n} sections)")
    derived = derived_sections([s.type for s in shdrs], [s.link for s in shdrs], shstrndx)

    def strtab(i: int, what: str) -> StringTable:
        sh = shdrs[i]
        return StringTable(data[sh.offset : sh.offset + sh.size], what)

    shstr = None
    if shstrndx in derived:
        _in_file(shdrs[shstrndx], len(data), f"section {shstrndx} (e_shstrndx)")
        shstr = strtab(shstrndx, f"section {shstrndx} (e_shstrndx)")
    names = []
    for i, sh in enumerate(shdrs):
        if shstr is None:
            if sh.name:
                raise ElfFormatError(f"section {i}: sh_name {sh.name:#x} but e_shstrndx names no SHT_STRTAB")
            names.append("")
        else:
            names.append(shstr.get(sh.name, f"section {i}") if sh.name else "")
    label = [f"section {i} ({nm})" for i, nm in enumerate(names)]
    _check_bounds(shdrs, len(data), label)

    for i, sh in enumerate(shdrs[1:], 1):
        kind = derived.get(i)
        if kind is Derived.RELA or kind is Derived.SYMTAB:
            if sh.link >= n:
                raise ElfFormatError(f"{label[i]}: sh_link {sh.link} out of range ({n} sections)")
        if kind is Derived.RELA and sh.info >= n:
            raise ElfFormatError(f"{label[i]}: sh_info {sh.info} out of range ({n} sections)")

    symbols = [Symbol("")]
    symtab = next((i for i, k in derived.items() if k is Derived.SYMTAB), None)
    if symtab is not None:
        sh = shdrs[symtab]
        link = sh.link if derived.get(sh.link) in (Derived.STRTAB, Derived.SHARED_STRTAB) else None
        strs = None
        if link is not None:
            strs = shstr if link == shstrndx else strtab(link, label[link])
        symbols = _symbols(data, e, sh, strs, n, label[symtab])
        if not symbols:
            raise ElfFormatError(f"{label[symtab]}: empty (the null symbol is missing)")
        # Section symbols must name a real section, not a reserved index.
        for k, s in enumerate(symbols):
            if s.type == STT_SECTION and not 0 < s.shndx < n:
                raise ElfFormatError(f"symbol {k}: section symbol with st_shndx {s.shndx:#x} out of range")
    nsyms = len(symbols)  # without a .symtab only symbol index 0 is valid

    relocs: dict[int, list[Rela]] = {}
    total_rela = 0
    for i, kind in derived.items():
        if kind is Derived.RELA:
            total_rela += shdrs[i].size
            if total_rela > len(data):
                raise ElfFormatError(f"{label[i]}: relocation sections overlap (total {total_rela:#x} bytes > file size {len(data):#x})")
            relocs[i] = _relas(data, e, shdrs[i], nsyms, label[i])

    sections = []
    for i, sh in enumerate(shdrs):
        if i == 0:  # the null section: no contents; sh_size kept when non-zero
            sec_data, size = b"", sh.size or None
        elif i in derived:
            sec_data, size = b"", None
        elif sh.type == SHT_NOBITS:
            sec_data, size = b"", sh.size
        else:
            sec_data, size = data[sh.offset : sh.offset + sh.size], None
        sections.append(
            Section(names[i], sh.type, sh.flags, sec_data, size, sh.align, sh.entsize,
                    sh.link, sh.info, sh.addr)  # fmt: skip
        )
    return ElfObject(
        sections=sections,
        symbols=symbols,
        relocs=relocs,
        big_endian=e == ">",
        flags=ehdr[7],
        machine=machine,
        type=ehdr[1],
        shstrndx=shstrndx,
    )


def read_elf_file(path: str | os.PathLike[str], reader: Reader = "struct") -> ElfObject:
    """Read the ELF file at ``path`` (plain or compressed, bounded: :mod:`ppcreloc.inputs`) with
    ``reader``; an unreadable or oversized path raises ElfFormatError too."""
    if reader not in READERS:
        raise ValueError(f"unknown ELF reader {reader!r} (choose from: {', '.join(READERS)})")
    from ppcreloc.inputs import InputError, read_object_bytes

    try:
        data = read_object_bytes(path)
    except InputError as exc:
        raise ElfFormatError(str(exc)) from None
    return read_elf(data, reader)
