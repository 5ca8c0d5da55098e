"""In-place variants: each edit changes exactly the intended field (our reader and LIEF agree on
the result) and nothing else; bad edit requests are one-line PpcrelocErrors."""

from __future__ import annotations

import pytest
from elf_crosscheck import lief_disagreements
from elf_objects import S64, U32, U64, elf_objects, sweep_object
from hypothesis import assume, given
from hypothesis import strategies as st

from ppcreloc.elf.errors import ElfFormatError
from ppcreloc.elf.reader import read_elf
from ppcreloc.elf.variants import VariantError, flip_bits, patch_section, set_rela, set_symbol
from ppcreloc.elf.writer import write_elf


@given(elf_objects(wellformed=True), st.data())
def test_set_rela_changes_exactly_one_field(obj, data):
    assume(any(obj.relocs.values()))
    sec = data.draw(st.sampled_from(sorted(k for k, v in obj.relocs.items() if v)))
    idx = data.draw(st.integers(0, len(obj.relocs[sec]) - 1))
    field = data.draw(st.sampled_from(["offset", "sym", "type", "addend"]))
    value = data.draw(
        {"offset": U64, "sym": st.integers(0, len(obj.symbols) - 1), "type": U32, "addend": S64}[field]
    )
    out = set_rela(write_elf(obj), sec, idx, **{field: value})
    want = obj.clone()
    setattr(want.relocs[sec][idx], field, value)
    assert read_elf(out) == want
    assert lief_disagreements(want, out) == []


@given(elf_objects(wellformed=True), st.data())
def test_set_symbol_and_patch_section(obj, data):
    k = data.draw(st.integers(1, len(obj.symbols) - 1)) if len(obj.symbols) > 1 else None
    want = obj.clone()
    out = write_elf(obj)
    if k is not None and want.symbols[k].type != 3:
        shndx = data.draw(st.sampled_from([0, 0xFF20, 0xFFF1]))
        other, value = data.draw(st.integers(0, 255)), data.draw(U64)
        out = set_symbol(out, k, value=value, shndx=shndx, other=other)
        want.symbols[k].shndx, want.symbols[k].other, want.symbols[k].value = shndx, other, value
    with_bytes = [i for i, s in enumerate(want.sections) if s.data]
    if with_bytes:
        i = data.draw(st.sampled_from(with_bytes))
        at = data.draw(st.integers(0, len(want.sections[i].data) - 1))
        mask = data.draw(st.integers(1, 255))
        out = flip_bits(out, i, at, mask)
        d = bytearray(want.sections[i].data)
        d[at] ^= mask
        want.sections[i].data = bytes(d)
    assert read_elf(out) == want
    assert lief_disagreements(want, out) == []


def test_variant_of_livepatch_object_keeps_rela_sections_apart():
    """The case LIEF's writer gets wrong: two RELA sections for .text, relocations unsorted."""
    obj = sweep_object(2, 8, 40)
    klp = obj.section_index(".klp.rela.vmlinux..text")
    out = set_rela(write_elf(obj), klp, 0, addend=-1)
    obj.relocs[klp][0].addend = -1
    assert read_elf(out) == obj


def test_bad_edit_requests():
    data = write_elf(sweep_object(1, 2, 2))
    obj = read_elf(data)
    rela = obj.rela_sections()[0]
    text = obj.section_index(".text")
    stubs = obj.section_index(".stubs")
    cases = [
        (lambda: set_rela(data, 999, 0, addend=1), r"no section 999"),
        (lambda: set_rela(data, text, 0, addend=1), r"sh_type 1, not 4"),
        (lambda: set_rela(data, rela, 99, addend=1), r"no relocation 99"),
        (lambda: set_rela(data, rela, 0, sym=2**32), r"must each fit 32 bits"),
        (lambda: set_rela(data, rela, 0, offset=-1), r"r_offset -1 does not fit"),
        (lambda: set_symbol(data, 99, value=0), r"no symbol 99"),
        (lambda: patch_section(data, text, 60, b"12345"), r"outside section"),
        (lambda: flip_bits(data, stubs, 0), r"SHT_NOBITS"),
    ]
    for call, pattern in cases:
        with pytest.raises(VariantError, match=pattern) as info:
            call()
        assert "\n" not in str(info.value)
    with pytest.raises(ElfFormatError):
        set_rela(data[:100], rela, 0, addend=1)
