"""Which sections are *derived* (serialised from the model's symbols/relocs), shared by writer and reader.

The ELF structures themselves are declared in :mod:`ppcreloc.elf.format`.

A section is derived when it is the first SHT_SYMTAB, the SHT_STRTAB that symtab's sh_link names,
the SHT_STRTAB that e_shstrndx names, or any SHT_RELA section. Every other section is stored as is.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum

from ppcreloc.elf.model import SHT_RELA, SHT_STRTAB, SHT_SYMTAB


class Derived(Enum):
    """Why a section's content is derived rather than stored."""

    SYMTAB = "symtab"
    STRTAB = "strtab"  # the symbol string table
    SHSTRTAB = "shstrtab"
    SHARED_STRTAB = "shared strtab"  # one table serving both symbol and section names
    RELA = "rela"


def derived_sections(
    types: Sequence[int], links: Sequence[int], shstrndx: int
) -> dict[int, Derived]:
    """Map section index -> :class:`Derived` for the sections whose content is derived.

    ``types``/``links`` are sh_type/sh_link per section index (index 0 is the null section).
    """
    n = len(types)
    out: dict[int, Derived] = {}
    symtab = next((i for i in range(1, n) if types[i] == SHT_SYMTAB), None)
    strtab = None
    if symtab is not None:
        out[symtab] = Derived.SYMTAB
        link = links[symtab]
        if 0 < link < n and types[link] == SHT_STRTAB:
            strtab = link
            out[link] = Derived.STRTAB
    if 0 < shstrndx < n and types[shstrndx] == SHT_STRTAB:
        out[shstrndx] = Derived.SHARED_STRTAB if shstrndx == strtab else Derived.SHSTRTAB
    for i in range(1, n):
        if types[i] == SHT_RELA:
            out[i] = Derived.RELA
    return out


def file_align(addralign: int) -> int:
    """The file-offset alignment the writer uses for a section: sh_addralign if a power of two
    no larger than 4096, else 1 (so absurd alignments cannot blow up the file)."""
    if 0 < addralign <= 4096 and addralign & (addralign - 1) == 0:
        return addralign
    return 1
