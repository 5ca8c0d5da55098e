"""The ELF64 structures, each declared once with its field names (the gABI's, as pyelftools does).

A structure is a NamedTuple whose annotations are the gABI types (``Elf64_Half`` ...), each an
``int`` (or ``bytes``) annotated with its ``struct`` code. :func:`codec` turns a declaration into
the ``struct.Struct`` of one byte order, so the reader gets named fields (``ehdr.e_shoff``) and
the writer builds a header by keyword. Field names and types follow the System V gABI (ELF-64
Object File Format) and include/uapi/linux/elf.h.
"""

from __future__ import annotations

import struct
from typing import Annotated, Literal, NamedTuple, get_type_hints

#: "<" little-endian (ELFDATA2LSB), ">" big-endian (ELFDATA2MSB): a struct byte-order prefix
ByteOrderPrefix = Literal["<", ">"]

Elf64_Half = Annotated[int, "H"]
Elf64_Word = Annotated[int, "I"]
Elf64_Xword = Annotated[int, "Q"]
Elf64_Sxword = Annotated[int, "q"]
Elf64_Addr = Annotated[int, "Q"]
Elf64_Off = Annotated[int, "Q"]
UnsignedChar = Annotated[int, "B"]
#: unsigned char e_ident[EI_NIDENT], EI_NIDENT = 16
Ident = Annotated[bytes, "16s"]


class Elf64_Ehdr(NamedTuple):
    """The ELF header."""

    e_ident: Ident
    e_type: Elf64_Half
    e_machine: Elf64_Half
    e_version: Elf64_Word
    e_entry: Elf64_Addr
    e_phoff: Elf64_Off
    e_shoff: Elf64_Off
    e_flags: Elf64_Word
    e_ehsize: Elf64_Half
    e_phentsize: Elf64_Half
    e_phnum: Elf64_Half
    e_shentsize: Elf64_Half
    e_shnum: Elf64_Half
    e_shstrndx: Elf64_Half


class Elf64_Shdr(NamedTuple):
    """A section header."""

    sh_name: Elf64_Word
    sh_type: Elf64_Word
    sh_flags: Elf64_Xword
    sh_addr: Elf64_Addr
    sh_offset: Elf64_Off
    sh_size: Elf64_Xword
    sh_link: Elf64_Word
    sh_info: Elf64_Word
    sh_addralign: Elf64_Xword
    sh_entsize: Elf64_Xword


class Elf64_Sym(NamedTuple):
    """A symbol table entry."""

    st_name: Elf64_Word
    st_info: UnsignedChar
    st_other: UnsignedChar
    st_shndx: Elf64_Half
    st_value: Elf64_Addr
    st_size: Elf64_Xword


class Elf64_Rela(NamedTuple):
    """A relocation with addend; ``r_info`` is ELF64_R_SYM << 32 | ELF64_R_TYPE."""

    r_offset: Elf64_Addr
    r_info: Elf64_Xword
    r_addend: Elf64_Sxword


def struct_format(cls: type[tuple[object, ...]]) -> str:
    """The ``struct`` codes of ``cls``'s fields in order (no byte-order prefix)."""
    hints = get_type_hints(cls, include_extras=True)
    return "".join(str(hints[name].__metadata__[0]) for name in cls._fields)  # type: ignore[attr-defined]


_CODECS: dict[tuple[type, str], struct.Struct] = {}


def codec(cls: type[tuple[object, ...]], e: ByteOrderPrefix) -> struct.Struct:
    """The ``struct.Struct`` that packs and unpacks ``cls`` in byte order ``e`` (cached)."""
    st = _CODECS.get((cls, e))
    if st is None:
        st = _CODECS[(cls, e)] = struct.Struct(e + struct_format(cls))
    return st


def offset_of(cls: type[tuple[object, ...]], field: str) -> int:
    """offsetof(cls, field): the byte offset of ``field`` (ELF64 structures have no padding)."""
    fields: tuple[str, ...] = cls._fields  # type: ignore[attr-defined]
    hints = get_type_hints(cls, include_extras=True)
    head = "".join(str(hints[name].__metadata__[0]) for name in fields[: fields.index(field)])
    return struct.calcsize("<" + head)


def field_code(cls: type[tuple[object, ...]], field: str) -> str:
    """The ``struct`` code of one field of ``cls`` (``"q"`` for Elf64_Rela.r_addend)."""
    return str(get_type_hints(cls, include_extras=True)[field].__metadata__[0])


EHDR_SIZE = codec(Elf64_Ehdr, "<").size  # 64
SHDR_SIZE = codec(Elf64_Shdr, "<").size  # 64
SYM_SIZE = codec(Elf64_Sym, "<").size  # 24
RELA_SIZE = codec(Elf64_Rela, "<").size  # 24

ELFMAG = b"\x7fELF"
ELFCLASS64 = 2
ELFDATA2LSB = 1
ELFDATA2MSB = 2
EV_CURRENT = 1
SHN_LORESERVE = 0xFF00
