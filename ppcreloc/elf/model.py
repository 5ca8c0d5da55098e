"""The object model every part of ppcreloc shares: sections, symbols, relocations.

It is independent of any ELF library. An :class:`ElfObject` holds the *full* section header table
(index 0 is the null section), so section indices in the model are the file's indices. The
contents of `.symtab`, its string table, `.shstrtab` and every SHT_RELA section are *derived*:
the writer serialises them from :attr:`ElfObject.symbols` and :attr:`ElfObject.relocs`, and the
reader fills those fields and leaves the derived sections' ``data`` empty.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Literal

#: int.to_bytes / int.from_bytes byte order of an object or a configured kernel
ByteOrder = Literal["little", "big"]

# ELF constants used across the project (include/uapi/linux/elf.h, the ELF gABI, the ppc64 psABI).
EM_PPC64 = 21
ET_REL = 1

SHT_NULL = 0
SHT_PROGBITS = 1
SHT_SYMTAB = 2
SHT_STRTAB = 3
SHT_RELA = 4
SHT_NOTE = 7
SHT_NOBITS = 8
SHT_GROUP = 17

SHF_WRITE = 0x1
SHF_ALLOC = 0x2
SHF_EXECINSTR = 0x4
SHF_MERGE = 0x10
SHF_STRINGS = 0x20
SHF_INFO_LINK = 0x40
SHF_RELA_LIVEPATCH = 0x00100000  # include/uapi/linux/elf.h

SHN_UNDEF = 0
SHN_LIVEPATCH = 0xFF20  # include/uapi/linux/elf.h
SHN_ABS = 0xFFF1
SHN_COMMON = 0xFFF2

STB_LOCAL = 0
STB_GLOBAL = 1
STB_WEAK = 2

STT_NOTYPE = 0
STT_OBJECT = 1
STT_FUNC = 2
STT_SECTION = 3
STT_FILE = 4

SYM_ENTSIZE = 24
RELA_ENTSIZE = 24

#: e_flags ABI level: 2 for ELFv2 (little endian default), 1 for ELFv1 (big endian).
EF_PPC64_ABI_V2 = 2
EF_PPC64_ABI_V1 = 1


@dataclass
class Section:
    """One section header plus its bytes. For SHT_NOBITS, ``size`` is the size and data is empty."""

    name: str
    type: int
    flags: int = 0
    data: bytes = b""
    size: int | None = None
    addralign: int = 1
    entsize: int = 0
    link: int = 0
    info: int = 0
    addr: int = 0

    @property
    def sh_size(self) -> int:
        """The section's sh_size: ``size`` when set (NOBITS, derived sections), else len(data)."""
        return self.size if self.size is not None else len(self.data)


@dataclass
class Symbol:
    """One Elf64_Sym. ``other`` holds st_other (ELFv2 local-entry bits 5..7)."""

    name: str
    value: int = 0
    size: int = 0
    bind: int = STB_LOCAL
    type: int = STT_NOTYPE
    other: int = 0
    shndx: int = SHN_UNDEF

    @property
    def info(self) -> int:
        """st_info as stored in the file."""
        return (self.bind << 4) | (self.type & 0xF)


@dataclass
class Rela:
    """One Elf64_Rela: r_offset, symbol index, relocation type, signed addend."""

    offset: int
    sym: int
    type: int
    addend: int = 0

    @property
    def info(self) -> int:
        """r_info as stored in the file: symbol index << 32 | type."""
        return ((self.sym & 0xFFFFFFFF) << 32) | (self.type & 0xFFFFFFFF)


@dataclass
class ElfObject:
    """A ppc64 ET_REL object.

    ``sections[0]`` is the null section. ``symbols[0]`` is the null symbol; ``symbols`` is the
    content of the (single) SHT_SYMTAB section. ``relocs`` maps the index of each SHT_RELA section
    to its entries in file order.
    """

    sections: list[Section] = field(default_factory=lambda: [Section("", SHT_NULL)])
    symbols: list[Symbol] = field(default_factory=lambda: [Symbol("")])
    relocs: dict[int, list[Rela]] = field(default_factory=dict)
    big_endian: bool = False
    flags: int = EF_PPC64_ABI_V2
    machine: int = EM_PPC64
    type: int = ET_REL
    shstrndx: int = 0

    # -- lookups -----------------------------------------------------------------------------
    def section_index(self, name: str) -> int | None:
        """Index of the first section called ``name``, or None."""
        for i, sec in enumerate(self.sections):
            if i and sec.name == name:
                return i
        return None

    @property
    def symtab_index(self) -> int | None:
        """Index of the SHT_SYMTAB section, or None."""
        for i, sec in enumerate(self.sections):
            if sec.type == SHT_SYMTAB:
                return i
        return None

    def rela_sections(self) -> list[int]:
        """Indices of every SHT_RELA section, in section order."""
        return [i for i, s in enumerate(self.sections) if s.type == SHT_RELA]

    @property
    def endian(self) -> ByteOrder:
        """"little" or "big", for int.from_bytes / struct."""
        return "big" if self.big_endian else "little"

    def clone(self) -> ElfObject:
        """A deep copy, for variants and for engines that sort relocations in place."""
        return copy.deepcopy(self)
