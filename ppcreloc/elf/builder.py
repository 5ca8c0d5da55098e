"""Build an :class:`ElfObject` piece by piece, with ELF's bookkeeping done for you.

Locals are placed before globals (``.symtab``'s sh_info is the first global), every RELA section
gets sh_link = .symtab and sh_info = its target, and the derived sections (.symtab, .strtab,
.shstrtab) are appended last. Symbols are referred to by the handle :meth:`add_symbol` returns,
because final symbol indices are known only at :meth:`build` time.
"""

from __future__ import annotations

from dataclasses import dataclass

from ppcreloc.elf.model import (
    EF_PPC64_ABI_V1,
    EF_PPC64_ABI_V2,
    RELA_ENTSIZE,
    SHF_ALLOC,
    SHF_EXECINSTR,
    SHF_INFO_LINK,
    SHF_RELA_LIVEPATCH,
    SHN_UNDEF,
    SHT_NOBITS,
    SHT_PROGBITS,
    SHT_RELA,
    SHT_STRTAB,
    SHT_SYMTAB,
    STB_LOCAL,
    STT_NOTYPE,
    STT_SECTION,
    SYM_ENTSIZE,
    ElfObject,
    Rela,
    Section,
    Symbol,
)


@dataclass(frozen=True)
class SymRef:
    """A handle to a symbol added to an :class:`ObjectBuilder`."""

    key: int


@dataclass
class _PendingRela:
    rela_section: int
    offset: int
    sym: SymRef | None
    type: int
    addend: int


class ObjectBuilder:
    """Accumulates sections, symbols and relocations; :meth:`build` returns the ElfObject."""

    def __init__(self, big_endian: bool = False) -> None:
        self.big_endian = big_endian
        self.sections: list[Section] = [Section("", 0)]
        self._symbols: list[Symbol] = []
        self._relas: list[_PendingRela] = []
        self._rela_for: dict[str, int] = {}
        self._section_syms: dict[int, SymRef] = {}

    # -- sections ----------------------------------------------------------------------------
    def add_section(
        self,
        name: str,
        data: bytes = b"",
        *,
        type: int = SHT_PROGBITS,
        flags: int = SHF_ALLOC | SHF_EXECINSTR,
        size: int | None = None,
        addralign: int = 4,
        entsize: int = 0,
    ) -> int:
        """Append a section and return its index."""
        self.sections.append(
            Section(name, type, flags, data, size, addralign, entsize)
        )
        return len(self.sections) - 1

    def add_stubs(self) -> int:
        """The empty `.stubs` every module gets (asm/module.h: SHT_NOBITS "ax", .align 3)."""
        return self.add_section(
            ".stubs", type=SHT_NOBITS, flags=SHF_ALLOC | SHF_EXECINSTR, size=0, addralign=8
        )

    def index(self, name: str) -> int:
        """Index of the section called ``name`` (KeyError when absent)."""
        for i, sec in enumerate(self.sections):
            if i and sec.name == name:
                return i
        raise KeyError(name)

    # -- symbols -----------------------------------------------------------------------------
    def add_symbol(
        self,
        name: str,
        value: int = 0,
        *,
        size: int = 0,
        bind: int = STB_LOCAL,
        type: int = STT_NOTYPE,
        other: int = 0,
        shndx: int = SHN_UNDEF,
    ) -> SymRef:
        """Add a symbol; returns its handle (locals are sorted before globals at build time)."""
        self._symbols.append(Symbol(name, value, size, bind, type, other, shndx))
        return SymRef(len(self._symbols) - 1)

    def section_symbol(self, section: int) -> SymRef:
        """The STT_SECTION symbol of ``section`` (created on first use)."""
        if section not in self._section_syms:
            self._section_syms[section] = self.add_symbol(
                "", type=STT_SECTION, shndx=section
            )
        return self._section_syms[section]

    # -- relocations -------------------------------------------------------------------------
    def rela_section(self, target: int, name: str | None = None, flags: int | None = None) -> int:
        """The RELA section ``name`` (default ``.rela<target name>``) for ``target``, created once.

        A name starting with ``.klp.rela.`` defaults to SHF_ALLOC | SHF_INFO_LINK |
        SHF_RELA_LIVEPATCH, as Documentation/livepatch/module-elf-format.rst requires.
        """
        name = name or ".rela" + self.sections[target].name
        if name not in self._rela_for:
            if flags is None:
                flags = SHF_INFO_LINK
                if name.startswith(".klp.rela."):
                    flags |= SHF_ALLOC | SHF_RELA_LIVEPATCH
            idx = self.add_section(
                name, type=SHT_RELA, flags=flags, addralign=8, entsize=RELA_ENTSIZE
            )
            self.sections[idx].info = target
            self._rela_for[name] = idx
        return self._rela_for[name]

    def add_rela(
        self,
        target: int,
        offset: int,
        sym: SymRef | None,
        type: int,
        addend: int = 0,
        *,
        section: str | None = None,
    ) -> None:
        """Add one relocation against ``target`` (``sym`` None means symbol index 0)."""
        self._relas.append(
            _PendingRela(self.rela_section(target, section), offset, sym, type, addend)
        )

    # -- build -------------------------------------------------------------------------------
    def build(self) -> ElfObject:
        """Order symbols, wire sh_link/sh_info, append .symtab/.strtab/.shstrtab."""
        order = sorted(
            range(len(self._symbols)), key=lambda k: self._symbols[k].bind != STB_LOCAL
        )
        index_of = {key: i + 1 for i, key in enumerate(order)}
        symbols = [Symbol("")] + [self._symbols[k] for k in order]
        n_local = 1 + sum(1 for s in self._symbols if s.bind == STB_LOCAL)

        sections = [Section(**vars(s)) for s in self.sections]
        symtab = len(sections)
        sections.append(
            Section(".symtab", SHT_SYMTAB, 0, b"", None, 8, SYM_ENTSIZE, symtab + 1, n_local)
        )
        sections.append(Section(".strtab", SHT_STRTAB, addralign=1))
        sections.append(Section(".shstrtab", SHT_STRTAB, addralign=1))
        relocs: dict[int, list[Rela]] = {idx: [] for idx in self._rela_for.values()}
        for idx in relocs:
            sections[idx].link = symtab
        for r in self._relas:
            sym = index_of[r.sym.key] if r.sym is not None else 0
            relocs[r.rela_section].append(Rela(r.offset, sym, r.type, r.addend))
        return ElfObject(
            sections=sections,
            symbols=symbols,
            relocs=relocs,
            big_endian=self.big_endian,
            flags=EF_PPC64_ABI_V1 if self.big_endian else EF_PPC64_ABI_V2,
            shstrndx=len(sections) - 1,
        )
