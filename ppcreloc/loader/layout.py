"""Placement: give every SHF_ALLOC section an address and map it into :class:`ModuleMemory`.

Models layout_and_allocate / layout_sections / move_module (kernel/module/main.c, 6.1 and 6.12):
sections are packed in the order of __layout_sections' mask table (text, read-only data,
ro_after_init, writable data), each kind in section-index order and aligned to its
sh_addralign. 6.12 allocates each kind separately (module_memory_alloc, zero-filled); 6.1 puts
text in core_layout and the rest in data_layout, page-aligning every kind boundary
(strict_align under CONFIG_STRICT_MODULE_RWX). The model starts each kind on a fresh 64 KiB
(ppc64 page) boundary, which is both. ppc64 has no init sections
(module_init_section() is always false in module_64.c), so everything is core.

On top of the kernel's order, a :class:`~ppcreloc.records.Layout` may pin sections by name, and
reserves ``after_stubs`` bytes right after `.stubs` (a non-module region: the stub walk may read
it and an exhausted `.stubs` may be written into it). Packed sections never go into that gap; a
pinned section may, and then the gap ends where that section starts.
"""

from __future__ import annotations

import struct

from ppcreloc.bits import M64
from ppcreloc.elf.model import (
    RELA_ENTSIZE,
    SHF_ALLOC,
    SHF_EXECINSTR,
    SHF_WRITE,
    SHT_NOBITS,
    SHT_RELA,
    ElfObject,
)
from ppcreloc.errors import PpcrelocError
from ppcreloc.loader.memory import ModuleMemory, Region
from ppcreloc.records import Layout, Placement

#: include/linux/module.h (6.1, 6.12): marks sections that become read-only after init
SHF_RO_AFTER_INIT = 0x00200000
#: sections layout_and_allocate marks SHF_RO_AFTER_INIT (kernel/module/main.c, 6.12)
RO_AFTER_INIT_SECTIONS = (".data..ro_after_init", "__jump_table")
#: each module memory kind (text, rodata, ro_after_init, data) starts on this boundary
MOD_MEM_ALIGN = 0x1_0000
#: name of the region after .stubs in ModuleMemory
AFTER_STUBS = "<after .stubs>"

#: __layout_sections' masks (kernel/module/main.c): (flags required, flags excluded); ppc64's
#: ARCH_SHF_SMALL is 0, so the kernel's fifth row (small data) never matches anything new
LAYOUT_MASKS: tuple[tuple[str, int, int], ...] = (
    ("text", SHF_EXECINSTR | SHF_ALLOC, 0),
    ("rodata", SHF_ALLOC, SHF_WRITE),
    ("ro_after_init", SHF_RO_AFTER_INIT | SHF_ALLOC, 0),
    ("data", SHF_WRITE | SHF_ALLOC, 0),
)


#: the largest module memory kind the model allocates; beyond it module_memory_alloc's
#: execmem_alloc/vmalloc fails (-ENOMEM). The kernel's 32-bit mem[type].size truncation for
#: sizes of 4 GiB and more is not modelled: the model refuses them the same way.
MAX_MOD_MEM = 0x4000_0000


class LayoutError(PpcrelocError):
    """A Layout that cannot be realised (unknown or overlapping pinned sections, overflow)."""


class ModuleAllocFailed(Exception):
    """module_memory_alloc would fail: a memory kind is larger than :data:`MAX_MOD_MEM`."""


def section_size(obj: ElfObject, index: int) -> int:
    """sh_size, with SHT_RELA sizes derived from ``obj.relocs`` when the model leaves them empty."""
    sec = obj.sections[index]
    if sec.type == SHT_RELA and sec.size is None and not sec.data:
        return len(obj.relocs.get(index, ())) * RELA_ENTSIZE
    return sec.sh_size


def section_bytes(obj: ElfObject, index: int) -> bytes:
    """What move_module copies: file bytes (RELA entries serialised), zeros for SHT_NOBITS."""
    sec = obj.sections[index]
    size = section_size(obj, index)
    if sec.type == SHT_NOBITS:
        return bytes(size)
    if sec.type == SHT_RELA and not sec.data:
        fmt = (">" if obj.big_endian else "<") + "QQQ"
        return b"".join(
            struct.pack(fmt, r.offset & M64, r.info & M64, r.addend & M64)
            for r in obj.relocs.get(index, ())
        )
    return sec.data[:size].ljust(size, b"\0")


def mark_ro_after_init(obj: ElfObject) -> None:
    """Set SHF_RO_AFTER_INIT on the first ALLOC section of each name find_sec() looks for."""
    for name in RO_AFTER_INIT_SECTIONS:
        for sec in obj.sections[1:]:
            if sec.flags & SHF_ALLOC and sec.name == name:
                sec.flags |= SHF_RO_AFTER_INIT
                break


def _align(value: int, align: int) -> int:
    """The kernel's ALIGN(value, sh_addralign ?: 1): a mask, so a non-power-of-two alignment
    gives the same odd result it gives in module_get_offset_and_type."""
    a = align or 1
    return (value + a - 1) & ~(a - 1)


def _kind(flags: int) -> int | None:
    for k, (_, need, skip) in enumerate(LAYOUT_MASKS):
        if flags & need == need and not flags & skip:
            return k
    return None


class _Packer:
    """A cursor that skips reserved intervals (pinned sections, the gap after .stubs)."""

    def __init__(self, base: int) -> None:
        self.cursor = base
        self.reserved: list[tuple[int, int]] = []

    def fit(self, size: int, align: int) -> int:
        addr = _align(self.cursor, align)
        moved = True
        while moved:
            moved = False
            for lo, hi in self.reserved:
                if size and lo < hi and addr < hi and lo < addr + size:
                    addr, moved = _align(hi, align), True
        self.cursor = addr + size
        return addr


def place_sections(obj: ElfObject, layout: Layout, memory: ModuleMemory) -> list[Placement]:
    """Place every SHF_ALLOC section of ``obj`` and map it (and the gap after .stubs) in memory.

    Sets ``obj.sections[i].addr``; returns the placements in section order. Raises
    :class:`ModuleAllocFailed` (before mapping anything) when a memory kind is too large and
    :class:`LayoutError` for an unusable Layout; a pinned section larger than MAX_MOD_MEM fails
    the same way.
    """
    mark_ro_after_init(obj)
    alloc = [i for i in range(1, len(obj.sections)) if obj.sections[i].flags & SHF_ALLOC]
    sizes = {i: section_size(obj, i) for i in alloc}
    addr: dict[int, int] = {}
    pinned_names = dict(layout.addresses)
    for name, where in pinned_names.items():
        idx = next((i for i in alloc if obj.sections[i].name == name), None)
        if idx is None:
            raise LayoutError(
                f"layout pins section {name!r}, which is not an SHF_ALLOC section of the object"
            )
        if not (0 <= where and where + sizes[idx] <= 1 << 64):
            raise LayoutError(f"layout address {where:#x} for {name!r} is outside the address space")
        addr[idx] = where
    pinned = sorted(addr)
    if any(sizes[i] > MAX_MOD_MEM for i in pinned):
        raise ModuleAllocFailed("pinned")
    for a, i in enumerate(pinned):
        for j in pinned[a + 1 :]:
            lo_i, hi_i, lo_j, hi_j = addr[i], addr[i] + sizes[i], addr[j], addr[j] + sizes[j]
            if lo_i < hi_j and lo_j < hi_i:
                raise LayoutError(
                    f"pinned sections {obj.sections[i].name!r} and {obj.sections[j].name!r} overlap"
                )
    packer = _Packer(layout.base)
    packer.reserved = [(addr[i], addr[i] + sizes[i]) for i in pinned]
    stubs = obj.section_index(".stubs")
    if stubs is not None and not obj.sections[stubs].flags & SHF_ALLOC:
        stubs = None
    if stubs is not None and stubs in addr:
        packer.reserved.append(_after_stubs_gap(addr[stubs] + sizes[stubs], layout, addr, sizes))
    for k in range(len(LAYOUT_MASKS)):
        members = [i for i in alloc if i not in addr and _kind(obj.sections[i].flags) == k]
        if not members:
            continue
        packer.cursor = start = _align(packer.cursor, MOD_MEM_ALIGN)
        if sum(sizes[i] for i in members) > MAX_MOD_MEM:
            raise ModuleAllocFailed(LAYOUT_MASKS[k][0])
        for i in members:
            addr[i] = packer.fit(sizes[i], obj.sections[i].addralign)
            if i == stubs:
                packer.reserved.append(_after_stubs_gap(addr[i] + sizes[i], layout, addr, sizes))
                packer.cursor = max(packer.cursor, packer.reserved[-1][1])
        if packer.cursor - start > MAX_MOD_MEM:
            raise ModuleAllocFailed(LAYOUT_MASKS[k][0])
    placements: list[Placement] = []
    for i in alloc:
        if i not in addr:  # no kind matched: cannot happen for SHF_ALLOC, kept for safety
            continue
        if addr[i] + sizes[i] > 1 << 64:
            raise LayoutError(f"section {obj.sections[i].name!r} does not fit below 2**64")
        obj.sections[i].addr = addr[i]
        memory.add_region(Region(obj.sections[i].name, addr[i], bytearray(section_bytes(obj, i)), i))
        placements.append(Placement(i, obj.sections[i].name, addr[i], sizes[i]))
    if stubs is not None and layout.after_stubs:
        lo, hi = _after_stubs_gap(addr[stubs] + sizes[stubs], layout, addr, sizes, exclude=stubs)
        if hi > lo:
            memory.add_region(
                Region(AFTER_STUBS, lo, bytearray(layout.after_stubs[: hi - lo]), None, False)
            )
    return placements


def _after_stubs_gap(
    start: int,
    layout: Layout,
    addr: dict[int, int],
    sizes: dict[int, int],
    exclude: int | None = None,
) -> tuple[int, int]:
    """[start, start + len(after_stubs)), cut short where an already placed section begins."""
    end = start + len(layout.after_stubs)
    for i, a in addr.items():
        if i != exclude and sizes[i] and start <= a < end:
            end = a
    return start, end
