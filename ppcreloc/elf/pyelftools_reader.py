"""Read ELF64 ppc64 bytes into an :class:`ElfObject` with pyelftools: the same model, another parser.

The struct reader (:func:`ppcreloc.elf.reader.read_elf`) validates the bytes first, so malformed
input gets the same one-line ElfFormatError and table sizes are bounded by the file before
pyelftools reads them: time is linear in the input (pyelftools parses about 50,000 Elf64_Sym a
second, so a 1 MB symbol table takes about 1 s). The model is then built from pyelftools' parse
only: Elf64_Ehdr, Elf64_Shdr, Elf64_Sym and Elf64_Rela through pyelftools' construct structs
(``ELFFile.structs``, enum names mapped back to integers) and section bytes through pyelftools'
``Section.data()``. Typed sections (``ELFFile.get_section``) are not built: for some sh_types they
resolve sh_link eagerly, and they inflate SHF_COMPRESSED data, which arbitrary headers must not
trigger. Anything pyelftools still raises becomes ``ElfFormatError("pyelftools: ...")``.

Two things pyelftools decodes lossily are read around it, still with pyelftools:

* st_other: its ppc64 Elf_Sym keeps bits 5..7 (local entry) and 0..2 (visibility) and drops bits
  3..4 as padding; those two bits come from the symbol table's bytes (pyelftools' ``data()``).
* names: ``StringTableSection.get_string`` decodes UTF-8 with ``errors="replace"``; names here are
  looked up in the string table's bytes and decoded with ``surrogateescape``, as the struct reader
  does (:class:`~ppcreloc.elf.strtab.StringTable`), so non-UTF-8 names survive a round trip.
"""

from __future__ import annotations

import io
from collections.abc import Mapping

from elftools.common.utils import struct_parse
from elftools.construct.lib.container import Container
from elftools.elf import enums
from elftools.elf.constants import SH_FLAGS
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import Section as PyelftoolsSection

from ppcreloc.elf.errors import ElfFormatError
from ppcreloc.elf.format import Elf64_Sym, offset_of
from ppcreloc.elf.layout import Derived, derived_sections
from ppcreloc.elf.model import SHT_NOBITS, ElfObject, Rela, Section, Symbol
from ppcreloc.elf.strtab import StringTable

#: Offset of st_other in an Elf64_Sym (st_name: 4 bytes, st_info: 1).
_ST_OTHER = offset_of(Elf64_Sym, "st_other")
#: The st_other bits pyelftools' ppc64 Elf_Sym drops (``Padding(2)`` between visibility and local).
_ST_OTHER_PADDING = 0x18


def read_elf_pyelftools(data: bytes) -> ElfObject:
    """Parse ELF64 ppc64 relocatable bytes with pyelftools into the :class:`ElfObject` that
    :func:`~ppcreloc.elf.reader.read_elf` returns (raises only ElfFormatError).

    ``data`` must already have passed the struct reader's checks: call it as
    ``read_elf(data, reader="pyelftools")``, which runs them first (this module does not import
    the struct reader, which imports it).
    """
    data = bytes(data)
    try:
        return _build(ELFFile(io.BytesIO(data)))
    except ElfFormatError:
        raise
    except Exception as exc:  # ELFError, ELFParseError, construct errors: never past this line
        raise ElfFormatError(f"pyelftools: {str(exc) or type(exc).__name__}") from None


def _int(value: object, names: Mapping[str, int]) -> int:
    """pyelftools decodes known enum values to names; map them back to integers."""
    return names[value] if isinstance(value, str) else int(value)  # type: ignore[call-overload]


def _stored(elf: ELFFile, sh: Container) -> bytes:
    """A section's bytes as stored in the file."""
    if sh["sh_flags"] & SH_FLAGS.SHF_COMPRESSED:  # data() would inflate them
        elf.stream.seek(sh["sh_offset"])
        return elf.stream.read(sh["sh_size"])
    return PyelftoolsSection(sh, "", elf).data()


def _build(elf: ELFFile) -> ElfObject:
    h = elf.header
    shstrndx = h["e_shstrndx"]
    shdrs = [elf._get_section_header(i) for i in range(h["e_shnum"])]
    # pyelftools names sh_type with the base table on EM_PPC64 (machine tables: ARM, MIPS, ...).
    types = [_int(sh["sh_type"], enums.ENUM_SH_TYPE_BASE) for sh in shdrs]
    derived = derived_sections(types, [sh["sh_link"] for sh in shdrs], shstrndx)

    def strtab(i: int, what: str) -> StringTable:
        return StringTable(_stored(elf, shdrs[i]), what)

    shstr = strtab(shstrndx, f"section {shstrndx} (e_shstrndx)") if shstrndx in derived else None
    names = [
        shstr.get(sh["sh_name"], f"section {i}") if shstr is not None and sh["sh_name"] else ""
        for i, sh in enumerate(shdrs)
    ]

    symbols = [Symbol("")]
    symtab = next((i for i, k in derived.items() if k is Derived.SYMTAB), None)
    if symtab is not None:
        sh = shdrs[symtab]
        link = sh["sh_link"]
        strs = None
        if derived.get(link) in (Derived.STRTAB, Derived.SHARED_STRTAB):
            strs = shstr if link == shstrndx else strtab(link, f"section {link} ({names[link]})")
        table = _stored(elf, sh)  # for the st_other bits pyelftools' Elf_Sym drops
        sym_struct, stream, entsize = elf.structs.Elf_Sym, elf.stream, sh["sh_entsize"]
        symbols = []
        for k in range(sh["sh_size"] // entsize):
            e = struct_parse(sym_struct, stream, sh["sh_offset"] + k * entsize)
            info, st_other = e["st_info"], e["st_other"]
            other = (
                _int(st_other["local"], enums.ENUM_ST_LOCAL) << 5
                | table[k * entsize + _ST_OTHER] & _ST_OTHER_PADDING
                | _int(st_other["visibility"], enums.ENUM_ST_VISIBILITY)
            )
            name = strs.get(e["st_name"], f"symbol {k}") if strs is not None and e["st_name"] else ""
            symbols.append(
                Symbol(name, e["st_value"], e["st_size"], _int(info["bind"], enums.ENUM_ST_INFO_BIND),
                       _int(info["type"], enums.ENUM_ST_INFO_TYPE), other,
                       _int(e["st_shndx"], enums.ENUM_ST_SHNDX))  # fmt: skip
            )

    relocs: dict[int, list[Rela]] = {}
    rela_struct = elf.structs.Elf_Rela
    for i, kind in derived.items():
        if kind is Derived.RELA:
            sh = shdrs[i]
            entries = (
                struct_parse(rela_struct, elf.stream, sh["sh_offset"] + k * sh["sh_entsize"])
                for k in range(sh["sh_size"] // sh["sh_entsize"])
            )
            relocs[i] = [
                Rela(r["r_offset"], r["r_info_sym"], r["r_info_type"], r["r_addend"]) for r in entries
            ]

    sections = []
    for i, sh in enumerate(shdrs):
        if i == 0:  # the null section: no contents; sh_size kept when non-zero
            sec_data, size = b"", sh["sh_size"] or None
        elif i in derived:
            sec_data, size = b"", None
        elif types[i] == SHT_NOBITS:
            sec_data, size = b"", sh["sh_size"]
        else:
            sec_data, size = _stored(elf, sh), None
        sections.append(
            Section(names[i], types[i], sh["sh_flags"], sec_data, size, sh["sh_addralign"],
                    sh["sh_entsize"], sh["sh_link"], sh["sh_info"], sh["sh_addr"])  # fmt: skip
        )
    return ElfObject(
        sections=sections,
        symbols=symbols,
        relocs=relocs,
        big_endian=not elf.little_endian,
        flags=h["e_flags"],
        machine=_int(h["e_machine"], enums.ENUM_E_MACHINE),
        type=_int(h["e_type"], enums.ENUM_E_TYPE),
        shstrndx=shstrndx,
    )
