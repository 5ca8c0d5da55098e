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
from typing import Literal

from ppcreloc.elf.errors import ElfFormatError
from ppcreloc.elf.format import (
    EHDR_SIZE,
    ELFCLASS64,
    ELFDATA2LSB,
    ELFDATA2MSB,
    ELFMAG,
    SHDR_SIZE,
    SHN_LORESERVE,
    ByteOrderPrefix,
    Elf64_Ehdr,
    Elf64_Rela,
    Elf64_Shdr,
    Elf64_Sym,
    codec,
)
from ppcreloc.elf.layout import Derived, derived_sections
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
from ppcreloc.inputs import MAX_OBJECT_SIZE, InputError, read_object_bytes

#: Overlap guard: file-backed sections may total at most this many times the file size.
_MAX_OVERLAP = 4


def _header(data: bytes) -> tuple[ByteOrderPrefix, Elf64_Ehdr]:
    if len(data) < EHDR_SIZE:
        raise ElfFormatError(f"truncated: {len(data)} bytes, an ELF64 header needs {EHDR_SIZE}")
    if data[:4] != ELFMAG:
        raise ElfFormatError(f"bad magic {data[:4].hex()} (not an ELF file)")
    if data[4] != ELFCLASS64:
        raise ElfFormatError(f"EI_CLASS {data[4]}: only ELFCLASS64 (2) is supported")
    if data[5] not in (ELFDATA2LSB, ELFDATA2MSB):
        raise ElfFormatError(f"EI_DATA {data[5]}: endianness must be 1 (LSB) or 2 (MSB)")
    e: ByteOrderPrefix = "<" if data[5] == ELFDATA2LSB else ">"
    return e, Elf64_Ehdr._make(codec(Elf64_Ehdr, e).unpack_from(data))


def _section_headers(data: bytes, e: ByteOrderPrefix, ehdr: Elf64_Ehdr) -> list[Elf64_Shdr]:
    shoff, shnum = ehdr.e_shoff, ehdr.e_shnum
    if shoff == 0:
        raise ElfFormatError("no section header table (e_shoff is 0)")
    if shnum == 0:
        raise ElfFormatError("extended section numbering (e_shnum 0) is not supported")
    if ehdr.e_shentsize != SHDR_SIZE:
        raise ElfFormatError(f"e_shentsize {ehdr.e_shentsize}, expected {SHDR_SIZE}")
    end = shoff + shnum * SHDR_SIZE
    if end > len(data):
        raise ElfFormatError(
            f"section header table past end of file (e_shoff {shoff:#x} + e_shnum {shnum} * "
            f"{SHDR_SIZE} = {end:#x} > {len(data):#x})"
        )
    make = Elf64_Shdr._make
    return [make(f) for f in codec(Elf64_Shdr, e).iter_unpack(data[shoff:end])]


def _in_file(sh: Elf64_Shdr, size: int, label: str) -> None:
    if sh.sh_type != SHT_NOBITS and sh.sh_offset + sh.sh_size > size:
        raise ElfFormatError(
            f"{label}: sh_offset+sh_size past end of file ({sh.sh_offset:#x}+{sh.sh_size:#x} > {size:#x})"
        )


def _check_bounds(shdrs: list[Elf64_Shdr], size: int, label: list[str]) -> None:
    total = 0
    for i, sh in enumerate(shdrs[1:], 1):
        _in_file(sh, size, label[i])
        if sh.sh_type != SHT_NOBITS:
            total += sh.sh_size
    if total > _MAX_OVERLAP * size:
        raise ElfFormatError(
            f"sections overlap: file-backed sections total {total:#x} bytes in a {size:#x}-byte file"
        )


def _table(data: bytes, sh: Elf64_Shdr, entsize: int, what: str) -> bytes:
    if sh.sh_entsize != entsize:
        raise ElfFormatError(f"{what}: sh_entsize {sh.sh_entsize}, expected {entsize}")
    if sh.sh_size % entsize:
        raise ElfFormatError(f"{what}: sh_size {sh.sh_size:#x} is not a multiple of {entsize}")
    return data[sh.sh_offset : sh.sh_offset + sh.sh_size]


def _symbols(
    data: bytes, e: ByteOrderPrefix, sh: Elf64_Shdr, strtab: StringTable | None, nsec: int, what: str
) -> list[Symbol]:
    raw = _table(data, sh, SYM_ENTSIZE, what)
    syms: list[Symbol] = []
    # the fields of Elf64_Sym, in its order (unpacked as a plain tuple: one per symbol)
    for i, (st_name, st_info, st_other, st_shndx, st_value, st_size) in enumerate(
        codec(Elf64_Sym, e).iter_unpack(raw)
    ):
        if st_name and strtab is None:
            raise ElfFormatError(
                f"symbol {i}: st_name {st_name:#x} but {what} sh_link names no SHT_STRTAB"
            )
        if nsec <= st_shndx < SHN_LORESERVE:
            raise ElfFormatError(f"symbol {i}: st_shndx {st_shndx} out of range ({nsec} sections)")
        sym_name = strtab.get(st_name, f"symbol {i}") if st_name and strtab is not None else ""
        syms.append(Symbol(sym_name, st_value, st_size, st_info >> 4, st_info & 0xF, st_other,
                           st_shndx))
    if sh.sh_info > len(syms):
        raise ElfFormatError(f"{what}: sh_info {sh.sh_info} out of range ({len(syms)} symbols)")
    return syms


def _relas(data: bytes, e: ByteOrderPrefix, sh: Elf64_Shdr, nsyms: int, what: str) -> list[Rela]:
    raw = _table(data, sh, RELA_ENTSIZE, what)
    # (r_offset, r_info, r_addend) of Elf64_Rela, as plain tuples
    entries = list(codec(Elf64_Rela, e).iter_unpack(raw))
    for k, (_, r_info, _) in enumerate(entries):
        if r_info >> 32 >= nsyms:
            raise ElfFormatError(
                f"{what}: relocation {k}: symbol index {r_info >> 32} out of range ({nsyms} symbols)"
            )
    return [Rela(r_offset, r_info >> 32, r_info & 0xFFFFFFFF, r_addend)
            for r_offset, r_info, r_addend in entries]


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
        _read_struct(data)  # the struct reader's checks and error messages come first
        # imported here: pyelftools costs ~0.2 s to import and only this reader needs it
        from ppcreloc.elf.pyelftools_reader import read_elf_pyelftools

        return read_elf_pyelftools(data)
    raise ValueError(f"unknown ELF reader {reader!r} (choose from: {', '.join(READERS)})")


def _read_struct(data: bytes) -> ElfObject:
    data = bytes(data)
    e, ehdr = _header(data)
    machine, shstrndx = ehdr.e_machine, ehdr.e_shstrndx
    if machine != EM_PPC64:
        raise ElfFormatError(f"e_machine {machine}: not EM_PPC64 ({EM_PPC64})")
    shdrs = _section_headers(data, e, ehdr)
    n = len(shdrs)
    if shstrndx >= n:
        raise ElfFormatError(f"e_shstrndx {shstrndx} out of range ({n} sections)")
    derived = derived_sections([s.sh_type for s in shdrs], [s.sh_link for s in shdrs], shstrndx)

    def strtab(i: int, what: str) -> StringTable:
        sh = shdrs[i]
        return StringTable(data[sh.sh_offset : sh.sh_offset + sh.sh_size], what)

    shstr = None
    if shstrndx in derived:
        _in_file(shdrs[shstrndx], len(data), f"section {shstrndx} (e_shstrndx)")
        shstr = strtab(shstrndx, f"section {shstrndx} (e_shstrndx)")
    names = []
    for i, sh in enumerate(shdrs):
        if shstr is None:
            if sh.sh_name:
                raise ElfFormatError(f"section {i}: sh_name {sh.sh_name:#x} but e_shstrndx names no SHT_STRTAB")
            names.append("")
        else:
            names.append(shstr.get(sh.sh_name, f"section {i}") if sh.sh_name else "")
    label = [f"section {i} ({nm})" for i, nm in enumerate(names)]
    _check_bounds(shdrs, len(data), label)

    for i, sh in enumerate(shdrs[1:], 1):
        kind = derived.get(i)
        if kind is Derived.RELA or kind is Derived.SYMTAB:
            if sh.sh_link >= n:
                raise ElfFormatError(f"{label[i]}: sh_link {sh.sh_link} out of range ({n} sections)")
        if kind is Derived.RELA and sh.sh_info >= n:
            raise ElfFormatError(f"{label[i]}: sh_info {sh.sh_info} out of range ({n} sections)")

    symbols = [Symbol("")]
    symtab = next((i for i, k in derived.items() if k is Derived.SYMTAB), None)
    if symtab is not None:
        sh = shdrs[symtab]
        link = sh.sh_link if derived.get(sh.sh_link) in (Derived.STRTAB, Derived.SHARED_STRTAB) else None
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
            total_rela += shdrs[i].sh_size
            if total_rela > len(data):
                raise ElfFormatError(f"{label[i]}: relocation sections overlap (total {total_rela:#x} bytes > file size {len(data):#x})")
            relocs[i] = _relas(data, e, shdrs[i], nsyms, label[i])

    sections = []
    for i, sh in enumerate(shdrs):
        if i == 0:  # the null section: no contents; sh_size kept when non-zero
            sec_data, size = b"", sh.sh_size or None
        elif i in derived:
            sec_data, size = b"", None
        elif sh.sh_type == SHT_NOBITS:
            sec_data, size = b"", sh.sh_size
        else:
            sec_data, size = data[sh.sh_offset : sh.sh_offset + sh.sh_size], None
        sections.append(
            Section(names[i], sh.sh_type, sh.sh_flags, sec_data, size, sh.sh_addralign, sh.sh_entsize,
                    sh.sh_link, sh.sh_info, sh.sh_addr)  # fmt: skip
        )
    return ElfObject(
        sections=sections,
        symbols=symbols,
        relocs=relocs,
        big_endian=e == ">",
        flags=ehdr.e_flags,
        machine=machine,
        type=ehdr.e_type,
        shstrndx=shstrndx,
    )


def read_elf_file(path: str | os.PathLike[str], reader: Reader = "struct",
                  max_size: int = MAX_OBJECT_SIZE) -> ElfObject:
    """Read the ELF file at ``path`` (plain or ``.xz``/``.gz``/``.zst`` compressed, streaming at
    most ``max_size`` bytes: :func:`ppcreloc.inputs.read_object_bytes`) with ``reader``; an
    unreadable, oversized or malformed file raises ElfFormatError naming ``path``."""
    if reader not in READERS:
        raise ValueError(f"unknown ELF reader {reader!r} (choose from: {', '.join(READERS)})")
    try:
        data = read_object_bytes(path, max_size)
    except InputError as exc:
        raise ElfFormatError(str(exc)) from None
    try:
        return read_elf(data, reader)
    except ElfFormatError as exc:
        raise ElfFormatError(f"{os.fspath(path)}: {exc}") from None
