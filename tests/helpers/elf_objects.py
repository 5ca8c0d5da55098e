"""A Hypothesis strategy for :class:`ElfObject`s, for the ELF I/O tests only.

``elf_objects(wellformed=True)`` draws objects a linker would accept: ET_REL, locals before
globals with .symtab sh_info = first global, RELA sections linked to .symtab and pointing at a
real section, section symbols, `.stubs`, `.toc`, `.klp.rela.*` with SHN_LIVEPATCH symbols.
``wellformed=False`` also draws arbitrary names, types, flags, addresses, alignments, e_flags and
e_type, and symbols in any order -- everything the writer must carry through unchanged.
"""

from __future__ import annotations

from hypothesis import strategies as st

from ppcreloc.elf.model import (
    EF_PPC64_ABI_V1,
    EF_PPC64_ABI_V2,
    RELA_ENTSIZE,
    SHF_ALLOC,
    SHF_EXECINSTR,
    SHF_INFO_LINK,
    SHF_RELA_LIVEPATCH,
    SHF_WRITE,
    SHN_ABS,
    SHN_COMMON,
    SHN_LIVEPATCH,
    SHN_UNDEF,
    SHT_NOBITS,
    SHT_PROGBITS,
    SHT_RELA,
    SHT_STRTAB,
    SHT_SYMTAB,
    STB_GLOBAL,
    STB_LOCAL,
    STB_WEAK,
    STT_FUNC,
    STT_NOTYPE,
    STT_OBJECT,
    STT_SECTION,
    SYM_ENTSIZE,
    ElfObject,
    Rela,
    Section,
    Symbol,
)

U64 = st.integers(0, 2**64 - 1)
S64 = st.integers(-(2**63), 2**63 - 1)
U32 = st.integers(0, 2**32 - 1)
#: Relocation types the engine handles (ppc64 psABI numbers).
ENGINE_RELOC_TYPES = (1, 10, 26, 38, 44, 47, 48, 50, 51, 63, 64, 109, 116, 118, 132, 133, 250, 252)

_name_chars = st.characters(blacklist_categories=("Cs",), blacklist_characters="\0")
_any_name = st.text(_name_chars, max_size=12)
_ident = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.]{0,15}", fullmatch=True)
# sh_types that are not derived (SYMTAB, STRTAB, RELA are placed by the strategy itself).
_plain_types = st.one_of(
    st.sampled_from([SHT_PROGBITS, SHT_NOBITS, 7, 0x6FFFFFFA]),
    U32.filter(lambda t: t not in (SHT_SYMTAB, SHT_STRTAB, SHT_RELA)),
)

_CONTENT_SECTIONS = [
    (".text", SHF_ALLOC | SHF_EXECINSTR, 4),
    (".data", SHF_ALLOC | SHF_WRITE, 8),
    (".toc", SHF_ALLOC | SHF_WRITE, 8),
    (".rodata", SHF_ALLOC, 8),
    (".init.text", SHF_ALLOC | SHF_EXECINSTR, 4),
    (".text.unlikely", SHF_ALLOC | SHF_EXECINSTR, 4),
    ("__patchable_function_entries", SHF_ALLOC | SHF_WRITE, 8),
]


@st.composite
def _content_section(draw: st.DrawFn, wellformed: bool) -> Section:
    if wellformed:
        name, flags, align = draw(st.sampled_from(_CONTENT_SECTIONS))
        data = draw(st.binary(max_size=256))
        return Section(name, SHT_PROGBITS, flags, data, None, align)
    type_ = draw(_plain_types)
    nobits = type_ == SHT_NOBITS
    return Section(
        draw(_any_name),
        type_,
        draw(U64),
        b"" if nobits else draw(st.binary(max_size=128)),
        draw(U64) if nobits else None,
        draw(st.one_of(st.sampled_from([0, 1, 4, 8, 16, 4096, 8192]), U64)),
        draw(st.one_of(st.just(0), U64)),
        draw(U32),
        draw(U32),
        draw(st.one_of(st.just(0), U64)),
    )


@st.composite
def _symbol(draw: st.DrawFn, nsec: int, wellformed: bool, bind: int) -> Symbol:
    shndx = draw(
        st.one_of(
            st.integers(1, nsec - 1) if nsec > 1 else st.just(SHN_UNDEF),
            st.sampled_from([SHN_UNDEF, SHN_LIVEPATCH, SHN_ABS, SHN_COMMON]),
            st.just(SHN_UNDEF) if wellformed else st.integers(0xFF00, 0xFFFF),
        )
    )
    type_ = draw(st.sampled_from([STT_NOTYPE, STT_FUNC, STT_OBJECT]) if wellformed else st.integers(0, 15))
    if type_ == STT_SECTION:
        type_ = STT_NOTYPE
    other = draw(st.sampled_from([0, 0x20, 0x40, 0x60, 0x80, 0xA0, 0xC0, 0xE0]) if wellformed else st.integers(0, 255))
    name = draw(_ident if wellformed else _any_name)
    if shndx == SHN_LIVEPATCH and wellformed:
        name = f".klp.sym.vmlinux.{name},0"
    return Symbol(name, draw(U64), draw(U64), bind, type_, other, shndx)


@st.composite
def elf_objects(
    draw: st.DrawFn,
    wellformed: bool = True,
    max_sections: int = 8,
    max_symbols: int = 16,
    max_relocs: int = 64,
) -> ElfObject:
    """An ElfObject with up to ``max_sections`` content sections, symbols and relocations."""
    big = draw(st.booleans())
    sections = [Section("", 0)]
    for sec in draw(st.lists(_content_section(wellformed), min_size=1, max_size=max_sections)):
        sections.append(sec)
    if draw(st.booleans()):
        sections.append(Section(".stubs", SHT_NOBITS, SHF_ALLOC | SHF_EXECINSTR, b"", 0, 8))
    ncontent = len(sections)

    # Symbols: null, section symbols, locals, then globals (any order when not wellformed).
    sec_syms = [
        Symbol("", 0, 0, STB_LOCAL, STT_SECTION, 0, i)
        for i in draw(st.lists(st.integers(1, ncontent - 1), unique=True, max_size=4))
    ]
    n_rela_secs = draw(st.integers(0, 3))
    nsec_total = ncontent + n_rela_secs + 3
    locals_ = draw(st.lists(_symbol(nsec_total, wellformed, STB_LOCAL), max_size=max_symbols // 2))
    globals_ = draw(
        st.lists(
            st.sampled_from([STB_GLOBAL, STB_WEAK]).flatmap(
                lambda b: _symbol(nsec_total, wellformed, b)
            ),
            max_size=max_symbols // 2,
        )
    )
    symbols = [Symbol("")] + sec_syms + locals_
    n_local = len(symbols)
    symbols += globals_
    if not wellformed and draw(st.booleans()):
        rest = symbols[1:]
        symbols = [Symbol("")] + draw(st.permutations(rest))
        n_local = draw(st.integers(0, len(symbols)))

    symtab = ncontent + n_rela_secs
    relocs: dict[int, list[Rela]] = {}
    for k in range(n_rela_secs):
        target = draw(st.integers(1, ncontent - 1))
        klp = draw(st.booleans())
        tname = sections[target].name
        name = f".klp.rela.vmlinux.{tname}" if klp else f".rela{tname}"
        flags = SHF_INFO_LINK | (SHF_ALLOC | SHF_RELA_LIVEPATCH if klp else 0)
        sections.append(Section(name, SHT_RELA, flags, b"", None, 8, RELA_ENTSIZE, symtab, target))
        relocs[ncontent + k] = draw(
            st.lists(
                st.builds(
                    Rela,
                    offset=st.integers(0, 512) if wellformed else U64,
                    sym=st.integers(0, len(symbols) - 1),
                    type=st.sampled_from(ENGINE_RELOC_TYPES) if wellformed else U32,
                    addend=S64,
                ),
                max_size=max_relocs // max(1, n_rela_secs),
            )
        )
    sections.append(Section(".symtab", SHT_SYMTAB, 0, b"", None, 8, SYM_ENTSIZE, symtab + 1, n_local))
    sections.append(Section(".strtab", SHT_STRTAB, 0, b"", None, 1))
    sections.append(Section(".shstrtab", SHT_STRTAB, 0, b"", None, 1))
    return ElfObject(
        sections=sections,
        symbols=symbols,
        relocs=relocs,
        big_endian=big,
        flags=(EF_PPC64_ABI_V1 if big else EF_PPC64_ABI_V2) if wellformed else draw(U32),
        type=1 if wellformed else draw(st.integers(0, 0xFFFF)),
        shstrndx=len(sections) - 1,
    )


def sweep_object(nsec: int, nsym: int, nrel: int, big_endian: bool = False) -> ElfObject:
    """A deterministic well-formed object with ``nsec`` content sections, ``nsym`` symbols (half
    local, a quarter SHN_LIVEPATCH) and ``nrel`` relocations of every engine type, spread over
    `.rela*` and `.klp.rela.*` sections -- the size sweep's subject."""
    from ppcreloc.elf.builder import ObjectBuilder

    b = ObjectBuilder(big_endian=big_endian)
    secs = []
    for i in range(nsec):
        name, flags, align = _CONTENT_SECTIONS[i % len(_CONTENT_SECTIONS)]
        secs.append(b.add_section(f"{name}.{i}" if i >= len(_CONTENT_SECTIONS) else name,
                                  bytes([i & 0xFF]) * 64, flags=flags, addralign=align))  # fmt: skip
    b.add_stubs()
    syms = []
    for k in range(nsym):
        bind = STB_LOCAL if k < nsym // 2 else STB_GLOBAL
        if k % 4 == 3 and bind == STB_GLOBAL:
            syms.append(b.add_symbol(f".klp.sym.vmlinux.s{k},0", bind=bind, shndx=SHN_LIVEPATCH))
        else:
            shndx = secs[k % nsec] if k % 3 else SHN_UNDEF
            syms.append(b.add_symbol(f"s{k}", 4 * k, size=4, bind=bind, type=STT_FUNC, other=(k % 8) << 5, shndx=shndx))  # fmt: skip
    for r in range(nrel):
        target = secs[r % nsec]
        klp = r % 5 == 4
        name = f".klp.rela.vmlinux.{b.sections[target].name}" if klp else None
        sym = syms[r % nsym] if r % 7 else b.section_symbol(target)
        b.add_rela(target, (8 * r) % 4096, sym, ENGINE_RELOC_TYPES[r % len(ENGINE_RELOC_TYPES)], r - nrel // 2, section=name)  # fmt: skip
    return b.build()
