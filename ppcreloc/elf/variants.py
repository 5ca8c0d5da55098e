"""Adversarial variants of a valid object by in-place byte edits: every other byte stays put.

Edits: a relocation's r_offset / symbol / type / r_addend, a symbol's st_value / st_shndx /
st_other, and same-size section bytes. They patch the exact file bytes with ``struct`` rather
than through LIEF: LIEF 1.0's writer re-sorts relocations by r_offset and redistributes them over
RELA sections that share a target (so `.rela.text` and `.klp.rela.vmlinux..text` get mixed), even
for an unedited object; see the README section ``elf`` for the measurement. LIEF remains the
independent reader the tests use to check every variant.

Field values may be anything the field holds (e.g. a symbol index past the table): the point is
to feed the engine and the reader inputs a compiler would never produce.
"""

from __future__ import annotations

import struct

from ppcreloc.elf.format import (
    RELA_SIZE,
    SYM_SIZE,
    ByteOrderPrefix,
    Elf64_Rela,
    Elf64_Sym,
    codec,
    field_code,
    offset_of,
)
from ppcreloc.elf.model import SHT_NOBITS, SHT_RELA, SHT_SYMTAB
from ppcreloc.elf.reader import _header, _section_headers, read_elf
from ppcreloc.errors import PpcrelocError


class VariantError(PpcrelocError):
    """An edit that does not fit the object (no such section, entry or byte range)."""


def _locate(
    data: bytes, section: int, want_type: int | None
) -> tuple[ByteOrderPrefix, int, int]:
    """Validate ``data`` (ElfFormatError if malformed) and return (byte order, sh_offset,
    sh_size) of ``section``; SHT_NOBITS sections have no bytes and are refused."""
    read_elf(data)  # raises ElfFormatError for anything malformed
    e, ehdr = _header(data)
    shdrs = _section_headers(data, e, ehdr)
    if not 0 < section < len(shdrs):
        raise VariantError(f"no section {section} (the object has {len(shdrs)})")
    sh = shdrs[section]
    if want_type is not None and sh.sh_type != want_type:
        raise VariantError(f"section {section} has sh_type {sh.sh_type}, not {want_type}")
    if sh.sh_type == SHT_NOBITS:
        raise VariantError(f"section {section} is SHT_NOBITS: it has no bytes to edit")
    return e, sh.sh_offset, sh.sh_size


def _symtab(data: bytes) -> int:
    e, ehdr = _header(data)
    for i, sh in enumerate(_section_headers(data, e, ehdr)):
        if sh.sh_type == SHT_SYMTAB:
            return i
    raise VariantError("the object has no SHT_SYMTAB")


def _entry(size: int, index: int, entsize: int, what: str) -> int:
    if not 0 <= index < size // entsize:
        raise VariantError(f"no {what} {index} (the table has {size // entsize})")
    return entsize * index


def _pack(buf: bytearray, e: str, cls: type[tuple[object, ...]], pos: int, field: str,
          value: int) -> None:
    """Store ``value`` into ``field`` of the ``cls`` entry at ``pos``."""
    try:
        struct.pack_into(e + field_code(cls, field), buf, pos + offset_of(cls, field), value)
    except struct.error as exc:
        raise VariantError(f"{field} {value} does not fit the field ({exc})") from None


def set_rela(
    data: bytes,
    section: int,
    index: int,
    *,
    offset: int | None = None,
    sym: int | None = None,
    type: int | None = None,
    addend: int | None = None,
) -> bytes:
    """``data`` with entry ``index`` of RELA section ``section`` changed in the given fields."""
    e, base, size = _locate(data, section, SHT_RELA)
    pos = base + _entry(size, index, RELA_SIZE, "relocation")
    buf = bytearray(data)
    rela = Elf64_Rela._make(codec(Elf64_Rela, e).unpack_from(buf, pos))
    r_offset, r_info, r_addend = rela.r_offset, rela.r_info, rela.r_addend
    new_sym = r_info >> 32 if sym is None else sym
    new_type = r_info & 0xFFFFFFFF if type is None else type
    if not (0 <= new_sym < 2**32 and 0 <= new_type < 2**32):
        raise VariantError(f"symbol {new_sym} / type {new_type} must each fit 32 bits")
    _pack(buf, e, Elf64_Rela, pos, "r_offset", r_offset if offset is None else offset)
    _pack(buf, e, Elf64_Rela, pos, "r_info", new_sym << 32 | new_type)
    _pack(buf, e, Elf64_Rela, pos, "r_addend", r_addend if addend is None else addend)
    return bytes(buf)


def set_symbol(
    data: bytes,
    index: int,
    *,
    value: int | None = None,
    shndx: int | None = None,
    other: int | None = None,
) -> bytes:
    """``data`` with .symtab entry ``index`` changed (st_value, st_shndx, st_other)."""
    e, base, size = _locate(data, _symtab(data), SHT_SYMTAB)
    pos = base + _entry(size, index, SYM_SIZE, "symbol")
    buf = bytearray(data)
    if other is not None:
        _pack(buf, e, Elf64_Sym, pos, "st_other", other)
    if shndx is not None:
        _pack(buf, e, Elf64_Sym, pos, "st_shndx", shndx)
    if value is not None:
        _pack(buf, e, Elf64_Sym, pos, "st_value", value)
    return bytes(buf)


def patch_section(data: bytes, section: int, at: int, new: bytes) -> bytes:
    """``data`` with ``new`` written over section ``section``'s bytes at ``at`` (same size)."""
    _, base, size = _locate(data, section, None)
    if not (0 <= at and at + len(new) <= size):
        raise VariantError(f"bytes {at}..{at + len(new)} are outside section {section} (size {size})")
    return data[: base + at] + bytes(new) + data[base + at + len(new) :]


def flip_bits(data: bytes, section: int, at: int, mask: int = 0xFF) -> bytes:
    """``data`` with one byte of section ``section`` XORed with ``mask``."""
    _, base, size = _locate(data, section, None)
    if not 0 <= at < size:
        raise VariantError(f"byte {at} is outside section {section} (size {size})")
    return patch_section(data, section, at, bytes([data[base + at] ^ (mask & 0xFF)]))


__all__ = ["VariantError", "set_rela", "set_symbol", "patch_section", "flip_bits"]
