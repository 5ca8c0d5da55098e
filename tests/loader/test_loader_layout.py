"""Placement: kernel layout order, alignment, pinned sections, the gap after .stubs."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ppcreloc.elf.builder import ObjectBuilder
from ppcreloc.elf.model import SHF_ALLOC, SHF_EXECINSTR, SHF_WRITE, SHT_NOBITS, SHT_PROGBITS
from ppcreloc.loader.layout import (
    AFTER_STUBS,
    MOD_MEM_ALIGN,
    SHF_RO_AFTER_INIT,
    LayoutError,
    place_sections,
    section_bytes,
)
from ppcreloc.loader.memory import ModuleMemory
from ppcreloc.records import Layout

AX = SHF_ALLOC | SHF_EXECINSTR
A = SHF_ALLOC
WA = SHF_ALLOC | SHF_WRITE
BASE = 0xC008_0000_0010_0000


def _object(stubs_size: int = 80):
    b = ObjectBuilder()
    b.add_section(".data", b"\x11" * 12, flags=WA, addralign=8)
    b.add_section(".text", b"\x22" * 20, flags=AX, addralign=4)
    b.add_section(".rodata", b"\x33" * 3, flags=A, addralign=1)
    stubs = b.add_stubs()
    b.add_section(".text.unlikely", b"\x44" * 8, flags=AX, addralign=16)
    b.add_section(".bss", type=SHT_NOBITS, flags=WA, size=32, addralign=8)
    b.add_section(".data..ro_after_init", b"\x55" * 4, flags=WA, addralign=4)
    b.add_section(".comment", b"GCC", flags=0)
    obj = b.build()
    obj.sections[stubs].size = stubs_size
    return obj


def _addrs(obj):
    return {s.name: s.addr for s in obj.sections[1:] if s.flags & SHF_ALLOC}


def test_kernel_order_and_alignment():
    obj = _object()
    mem = ModuleMemory()
    placements = place_sections(obj, Layout(after_stubs=bytes(40)), mem)
    a = _addrs(obj)
    assert a[".text"] == BASE
    assert a[".stubs"] == BASE + 24  # 20 bytes of .text, aligned to 8
    assert a[".text.unlikely"] == BASE + 144  # past .stubs (ends at +104) and the 40-byte gap
    assert a[".rodata"] == BASE + MOD_MEM_ALIGN
    assert a[".data..ro_after_init"] == BASE + 2 * MOD_MEM_ALIGN
    assert obj.sections[obj.section_index(".data..ro_after_init")].flags & SHF_RO_AFTER_INIT
    assert a[".data"] == BASE + 3 * MOD_MEM_ALIGN
    assert a[".bss"] == BASE + 3 * MOD_MEM_ALIGN + 16
    assert [p.name for p in placements] == [
        ".data", ".text", ".rodata", ".stubs", ".text.unlikely", ".bss", ".data..ro_after_init"
    ]
    assert obj.sections[obj.section_index(".comment")].addr == 0
    regions = {r.name: r for r in mem.regions}
    assert ".comment" not in regions
    assert bytes(regions[".bss"].buf) == bytes(32)
    assert bytes(regions[".stubs"].buf) == bytes(80)
    assert bytes(regions[".data"].buf) == b"\x11" * 12
    gap = regions[AFTER_STUBS]
    assert (gap.addr, len(gap.buf), gap.in_module, gap.index) == (BASE + 104, 40, False, None)


def test_after_stubs_content_and_pinned_section_cuts_the_gap():
    obj = _object()
    mem = ModuleMemory()
    tail = bytes(range(1, 65))
    place_sections(obj, Layout(addresses={".text.unlikely": BASE + 24 + 80 + 16}, after_stubs=tail), mem)
    gap = next(r for r in mem.regions if r.name == AFTER_STUBS)
    assert (gap.addr, bytes(gap.buf)) == (BASE + 104, tail[:16])
    assert mem.in_module(BASE + 120, 8) and not mem.in_module(BASE + 104, 4)


def test_pinned_sections_are_avoided_by_packing():
    obj = _object()
    mem = ModuleMemory()
    place_sections(obj, Layout(addresses={".rodata": BASE + 8}), mem)
    a = _addrs(obj)
    assert a[".rodata"] == BASE + 8
    assert a[".text"] == BASE + 12  # first fit after the pinned bytes, 4-aligned
    _no_overlaps(mem)


@pytest.mark.parametrize(
    ("addresses", "message"),
    [
        ({".nope": BASE}, "layout pins section '.nope'"),
        ({".comment": BASE}, "layout pins section '.comment'"),
        ({".text": BASE, ".data": BASE + 4}, "pinned sections '.data' and '.text' overlap"),
        ({".text": 2**64 - 4}, "outside the address space"),
    ],
)
def test_bad_layouts(addresses, message):
    with pytest.raises(LayoutError, match=message):
        place_sections(_object(), Layout(addresses=addresses), ModuleMemory())


def test_rela_sections_are_placed_as_serialised_entries():
    b = ObjectBuilder()
    text = b.add_section(".text", bytes(8))
    b.add_stubs()
    s = b.add_symbol("x")
    b.add_rela(text, 4, s, 10, -2, section=".klp.rela.vmlinux..text")
    obj = b.build()
    idx = obj.section_index(".klp.rela.vmlinux..text")
    data = section_bytes(obj, idx)
    assert len(data) == 24
    assert int.from_bytes(data[:8], "little") == 4
    assert int.from_bytes(data[8:16], "little") == (obj.relocs[idx][0].sym << 32) | 10
    assert int.from_bytes(data[16:], "little", signed=True) == -2
    mem = ModuleMemory()
    place_sections(obj, Layout(), mem)
    assert bytes(mem.section(idx).buf) == data


def test_non_power_of_two_alignment_is_the_kernels_mask_arithmetic():
    b = ObjectBuilder()
    b.add_section(".text", bytes(5))
    b.add_section(".text.odd", bytes(4), addralign=3)
    b.add_stubs()
    obj = b.build()
    place_sections(obj, Layout(), ModuleMemory())
    # ALIGN(5, 3) = (5 + 2) & ~2 = 5: not a multiple of 3, as in the kernel
    assert obj.sections[obj.section_index(".text.odd")].addr == BASE + 5


def _no_overlaps(mem: ModuleMemory) -> None:
    spans = sorted((r.addr, r.end) for r in mem.regions if r.end > r.addr)
    for (_, hi), (lo, _) in zip(spans, spans[1:], strict=False):
        assert hi <= lo


_sections = st.lists(
    st.tuples(
        st.sampled_from([AX, A, WA, 0, WA | SHF_EXECINSTR]),
        st.integers(0, 300),
        st.sampled_from([0, 1, 2, 4, 8, 16, 64, 256, 3]),
        st.booleans(),
    ),
    max_size=12,
)


@given(_sections, st.integers(0, 200), st.integers(0, 128), st.integers(0, 2**20))
def test_placement_properties(specs, stubs_size, gap, base_off):
    b = ObjectBuilder()
    stubs = b.add_stubs()
    for k, (flags, size, align, nobits) in enumerate(specs):
        b.add_section(f".s{k}", type=SHT_NOBITS if nobits else SHT_PROGBITS,
                      data=b"" if nobits else bytes([k + 1]) * size, size=size if nobits else None,
                      flags=flags, addralign=align)
    obj = b.build()
    obj.sections[stubs].size = stubs_size
    mem = ModuleMemory()
    base = BASE + base_off
    placements = place_sections(obj, Layout(base=base, after_stubs=bytes(gap)), mem)
    _no_overlaps(mem)
    placed = {p.index for p in placements}
    assert placed == {i for i, s in enumerate(obj.sections) if i and s.flags & SHF_ALLOC}
    stubs_end = obj.sections[stubs].addr + stubs_size
    for p in placements:
        sec = obj.sections[p.index]
        assert p.addr == sec.addr >= base
        if sec.addralign & (sec.addralign - 1) == 0:  # powers of two: really aligned
            assert sec.addralign < 2 or p.addr % sec.addralign == 0
        if p.size:
            assert not stubs_end <= p.addr < stubs_end + gap  # nothing packed into the gap
    if gap:
        region = next(r for r in mem.regions if r.name == AFTER_STUBS)
        assert (region.addr, len(region.buf)) == (stubs_end, gap)
