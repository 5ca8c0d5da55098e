"""Writer/reader properties: read(write(x)) == x, write(read(b)) == b, and pyelftools and LIEF
parse every written object exactly as our reader does."""

from __future__ import annotations

from elf_crosscheck import lief_disagreements, model_view_for_pyelftools, pyelftools_view
from elf_objects import elf_objects
from hypothesis import given
from hypothesis import strategies as st

from ppcreloc.elf.builder import ObjectBuilder
from ppcreloc.elf.model import (
    SHF_ALLOC,
    SHF_INFO_LINK,
    SHF_RELA_LIVEPATCH,
    SHF_WRITE,
    SHN_LIVEPATCH,
    SHT_NOBITS,
    STB_GLOBAL,
    STT_FUNC,
)
from ppcreloc.elf.reader import read_elf
from ppcreloc.elf.writer import write_elf

any_objects = st.one_of(elf_objects(wellformed=True), elf_objects(wellformed=False))


@given(any_objects)
def test_read_of_write_is_identity(obj):
    assert read_elf(write_elf(obj)) == obj


@given(any_objects)
def test_write_of_read_reproduces_our_bytes(obj):
    data = write_elf(obj)
    assert write_elf(read_elf(data)) == data


@given(any_objects)
def test_pyelftools_agrees_on_every_field(obj):
    data = write_elf(obj)
    assert pyelftools_view(data) == model_view_for_pyelftools(obj, data)


@given(any_objects)
def test_lief_agrees_on_every_field(obj):
    assert lief_disagreements(obj, write_elf(obj)) == []


def _livepatch_object(big_endian: bool = False):
    b = ObjectBuilder(big_endian=big_endian)
    text = b.add_section(".text", bytes(range(64)))
    b.add_stubs()
    toc = b.add_section(".toc", bytes(16), flags=SHF_ALLOC | SHF_WRITE, addralign=8)
    f = b.add_symbol("f", 0, size=16, bind=STB_GLOBAL, type=STT_FUNC, other=0x60, shndx=text)
    klp = b.add_symbol(".klp.sym.vmlinux.printk,0", bind=STB_GLOBAL, shndx=SHN_LIVEPATCH)
    b.add_rela(text, 8, klp, 10, 0, section=".klp.rela.vmlinux..text")
    b.add_rela(text, 12, f, 10, 4)
    b.add_rela(toc, 0, b.section_symbol(text), 38, 0x20)
    return b.build()


def test_livepatch_object_layout_is_what_the_kernel_expects():
    obj = _livepatch_object()
    data = write_elf(obj)
    back = read_elf(data)
    assert back == obj
    klp = back.sections[back.section_index(".klp.rela.vmlinux..text")]
    assert klp.flags == SHF_ALLOC | SHF_INFO_LINK | SHF_RELA_LIVEPATCH
    assert back.sections[klp.info].name == ".text"
    assert back.sections[klp.link].name == ".symtab"
    stubs = back.sections[back.section_index(".stubs")]
    assert (stubs.type, stubs.size, stubs.data) == (SHT_NOBITS, 0, b"")
    names = {s.name: s for s in back.symbols}
    assert names[".klp.sym.vmlinux.printk,0"].shndx == SHN_LIVEPATCH
    assert names["f"].other == 0x60
    symtab = back.sections[back.symtab_index]
    assert all(s.bind == 0 for s in back.symbols[: symtab.info])
    assert all(s.bind != 0 for s in back.symbols[symtab.info :])
    assert data[:4] == b"\x7fELF" and data[5] == 1 and int.from_bytes(data[48:52], "little") == 2


def test_big_endian_elfv1():
    obj = _livepatch_object(big_endian=True)
    data = write_elf(obj)
    assert data[5] == 2  # ELFDATA2MSB
    assert int.from_bytes(data[18:20], "big") == 21 and int.from_bytes(data[48:52], "big") == 1
    assert read_elf(data) == obj
    assert lief_disagreements(obj, data) == []


def test_layout_is_deterministic_and_aligned():
    obj = _livepatch_object()
    a, b = write_elf(obj), write_elf(obj.clone())
    assert a == b
    import struct

    shoff, shnum = struct.unpack_from("<Q", a, 40)[0], struct.unpack_from("<H", a, 60)[0]
    assert shoff % 8 == 0
    for i in range(1, shnum):
        off, align = struct.unpack_from("<Q", a, shoff + 64 * i + 24)[0], struct.unpack_from(
            "<Q", a, shoff + 64 * i + 48
        )[0]
        assert off % max(1, align) == 0, (i, off, align)
