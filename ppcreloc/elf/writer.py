"""Serialise an :class:`ElfObject` to ELF64 bytes with ``struct`` (the structures of
:mod:`ppcreloc.elf.format`; no ELF library).

Layout (deterministic): the ELF header, then each section's contents in section order, each at a
file offset aligned to its sh_addralign (see :func:`ppcreloc.elf.layout.file_align`; SHT_NOBITS
take an offset but no bytes), then the section header table aligned to 8. The derived sections
(.symtab, its string table, .shstrtab, every SHT_RELA) are serialised from ``obj.symbols`` and
``obj.relocs``; every other field is written exactly as the model holds it (sh_addr, sh_link,
sh_info, sh_entsize, .symtab's sh_info...), so adversarial objects can be written too.

Why not LIEF (README section ``elf``, measured by ``bench/bench_elf.py --lief``): LIEF 1.0 grows
an object fine, but an added LOCAL symbol lands after .symtab's sh_info, and rewriting one of our
objects unedited sorts relocations by r_offset and moves them between RELA sections that share a
target. LIEF is only a second, independent reader in the tests; variants
(:mod:`ppcreloc.elf.variants`) patch bytes in place with ``struct``.
"""

from __future__ import annotations

import struct

from ppcreloc.bits import M64
from ppcreloc.elf.errors import ElfFormatError
from ppcreloc.elf.format import (
    EHDR_SIZE,
    ELFCLASS64,
    ELFDATA2LSB,
    ELFDATA2MSB,
    ELFMAG,
    EV_CURRENT,
    SHDR_SIZE,
    SHN_LORESERVE,
    ByteOrderPrefix,
    Elf64_Ehdr,
    Elf64_Shdr,
    Elf64_Sym,
    codec,
)
from ppcreloc.elf.layout import Derived, derived_sections, file_align
from ppcreloc.elf.model import SHT_NOBITS, ElfObject, Rela, Symbol


class _StrTab:
    """A string table built in order of first use, each distinct string stored once."""

    def __init__(self) -> None:
        self.blob = bytearray(b"\0")
        self.offsets: dict[str, int] = {"": 0}

    def add(self, s: str, what: str) -> int:
        off = self.offsets.get(s)
        if off is None:
            raw = s.encode("utf-8", "surrogateescape")
            if b"\0" in raw:
                raise ElfFormatError(f"{what}: name {s!r} contains a NUL byte")
            off = self.offsets[s] = len(self.blob)
            self.blob += raw + b"\0"
        return off


def _pack_symbols(e: ByteOrderPrefix, symbols: list[Symbol], names: list[int]) -> bytes:
    st = codec(Elf64_Sym, e)
    out = bytearray()
    for i, (sym, name) in enumerate(zip(symbols, names, strict=True)):
        try:
            # Elf64_Sym's fields in order: st_name, st_info, st_other, st_shndx, st_value,
            # st_size (positional: a keyword NamedTuple per symbol costs ~10x the pack)
            out += st.pack(name, sym.info, sym.other, sym.shndx, sym.value & M64, sym.size & M64)
        except struct.error as exc:
            raise ElfFormatError(f"symbol {i} ({sym.name!r}): field out of range ({exc})") from None
    return bytes(out)


def _pack_relas(e: ByteOrderPrefix, relas: list[Rela], where: str) -> bytes:
    """Every Elf64_Rela (r_offset, r_info, r_addend) of one section in one pack, r_addend as
    its 64-bit two's complement (the same bytes as its Sxword)."""
    flat: list[int] = []
    for r in relas:
        flat += (r.offset & M64, r.info, r.addend & M64)
    try:
        return struct.pack(f"{e}{len(flat)}Q", *flat)
    except struct.error as exc:  # only reachable with non-int fields
        raise ElfFormatError(f"{where}: relocation field out of range ({exc})") from None


def _section_names(obj: ElfObject, tab: _StrTab | None) -> list[int]:
    names = []
    for i, sec in enumerate(obj.sections):
        if tab is None:
            if sec.name:
                raise ElfFormatError(
                    f"section {i} ({sec.name}): has a name but e_shstrndx names no SHT_STRTAB"
                )
            names.append(0)
        else:
            names.append(tab.add(sec.name, f"section {i}"))
    return names


def write_elf(obj: ElfObject) -> bytes:
    """Return the ELF64 bytes of ``obj``. Raises ElfFormatError when the model cannot be written."""
    e: ByteOrderPrefix = ">" if obj.big_endian else "<"
    secs = obj.sections
    n = len(secs)
    if n == 0:
        raise ElfFormatError("object has no sections (index 0 must be the null section)")
    if n >= SHN_LORESERVE:
        raise ElfFormatError(f"{n} sections: extended section numbering is not supported")
    if not 0 <= obj.shstrndx < n:
        raise ElfFormatError(f"e_shstrndx {obj.shstrndx} out of range ({n} sections)")
    derived = derived_sections([s.type for s in secs], [s.link for s in secs], obj.shstrndx)
    for idx in obj.relocs:
        if derived.get(idx) is not Derived.RELA:
            raise ElfFormatError(f"relocs given for section {idx}, which is not SHT_RELA")

    # String tables: section names first, then symbol names (one table if they are shared).
    shstr = _StrTab() if obj.shstrndx in derived else None
    sh_names = _section_names(obj, shstr)
    symtab = next((i for i, k in derived.items() if k is Derived.SYMTAB), None)
    strtab_idx = next(
        (i for i, k in derived.items() if k in (Derived.STRTAB, Derived.SHARED_STRTAB)), None
    )
    if symtab is None and len(obj.symbols) > 1:
        raise ElfFormatError(f"{len(obj.symbols)} symbols but no SHT_SYMTAB section")
    # strtab_idx == shstrndx means a shared table, so shstr was made above
    symstr = shstr if strtab_idx == obj.shstrndx and shstr is not None else _StrTab()
    sym_names = []
    for i, sym in enumerate(obj.symbols):
        if strtab_idx is None and sym.name:
            raise ElfFormatError(f"symbol {i} ({sym.name}): .symtab sh_link names no SHT_STRTAB")
        sym_names.append(symstr.add(sym.name, f"symbol {i}") if strtab_idx is not None else 0)

    contents: dict[int, bytes] = {}
    for i, kind in derived.items():
        if kind is Derived.SYMTAB:
            contents[i] = _pack_symbols(e, obj.symbols, sym_names)
        elif kind is Derived.RELA:
            contents[i] = _pack_relas(e, obj.relocs.get(i, []), f"section {i} ({secs[i].name})")
        elif kind is Derived.STRTAB:
            contents[i] = bytes(symstr.blob)
        else:
            assert shstr is not None
            contents[i] = bytes(shstr.blob)

    # Lay out the file.
    body = bytearray(EHDR_SIZE)
    offsets = [0] * n
    sizes = [0] * n
    for i in range(1, n):
        sec = secs[i]
        align = file_align(sec.addralign)
        pad = -len(body) % align
        body += bytes(pad)
        offsets[i] = len(body)
        if sec.type == SHT_NOBITS and i not in derived:
            if sec.data:
                raise ElfFormatError(f"section {i} ({sec.name}): SHT_NOBITS with data")
            sizes[i] = sec.sh_size
            continue
        data = contents.get(i)
        if data is None:
            data = sec.data
            if sec.size is not None and sec.size != len(data):
                raise ElfFormatError(
                    f"section {i} ({sec.name}): size {sec.size} differs from len(data) {len(data)}"
                )
        body += data
        sizes[i] = len(data)
    sizes[0] = secs[0].sh_size
    body += bytes(-len(body) % 8)
    shoff = len(body)

    shdr = codec(Elf64_Shdr, e)
    for i, sec in enumerate(secs):
        try:
            # Elf64_Shdr's fields in order: sh_name, sh_type, sh_flags, sh_addr, sh_offset,
            # sh_size, sh_link, sh_info, sh_addralign, sh_entsize
            body += shdr.pack(sh_names[i], sec.type, sec.flags, sec.addr, offsets[i], sizes[i],
                              sec.link, sec.info, sec.addralign, sec.entsize)
        except struct.error as exc:
            raise ElfFormatError(f"section {i} ({sec.name}): field out of range ({exc})") from None

    ident = ELFMAG + bytes(
        [ELFCLASS64, ELFDATA2MSB if obj.big_endian else ELFDATA2LSB, EV_CURRENT]
    )
    try:
        body[:EHDR_SIZE] = codec(Elf64_Ehdr, e).pack(*Elf64_Ehdr(
            e_ident=ident.ljust(16, b"\0"), e_type=obj.type, e_machine=obj.machine,
            e_version=EV_CURRENT, e_entry=0, e_phoff=0, e_shoff=shoff, e_flags=obj.flags,
            e_ehsize=EHDR_SIZE, e_phentsize=0, e_phnum=0, e_shentsize=SHDR_SIZE, e_shnum=n,
            e_shstrndx=obj.shstrndx,
        ))
    except struct.error as exc:
        raise ElfFormatError(f"ELF header field out of range ({exc})") from None
    return bytes(body)


