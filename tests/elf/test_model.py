"""The object model and builder keep ELF's bookkeeping right."""

from ppcreloc.elf.builder import ObjectBuilder
from ppcreloc.elf.model import (
    SHF_ALLOC,
    SHF_RELA_LIVEPATCH,
    SHN_LIVEPATCH,
    SHT_RELA,
    SHT_SYMTAB,
    STB_GLOBAL,
    STB_LOCAL,
)


def test_builder_orders_locals_first_and_wires_links():
    b = ObjectBuilder()
    text = b.add_section(".text", b"\0" * 16)
    b.add_stubs()
    g = b.add_symbol(".klp.sym.vmlinux.foo,0", bind=STB_GLOBAL, shndx=SHN_LIVEPATCH)
    loc = b.add_symbol("local", 4, shndx=text)
    b.add_rela(text, 0, g, 10, section=".klp.rela.vmlinux..text")
    b.add_rela(text, 8, loc, 38)
    obj = b.build()

    symtab = obj.symtab_index
    assert obj.sections[symtab].type == SHT_SYMTAB
    assert [s.bind for s in obj.symbols[1:]] == [STB_LOCAL, STB_GLOBAL]
    assert obj.sections[symtab].info == 2  # first global
    klp = obj.section_index(".klp.rela.vmlinux..text")
    assert obj.sections[klp].type == SHT_RELA
    assert obj.sections[klp].flags & (SHF_ALLOC | SHF_RELA_LIVEPATCH) == SHF_ALLOC | SHF_RELA_LIVEPATCH
    assert obj.sections[klp].info == text and obj.sections[klp].link == symtab
    assert obj.relocs[klp][0].sym == 2 and obj.relocs[klp][0].info == (2 << 32) | 10
    plain = obj.section_index(".rela.text")
    assert obj.relocs[plain][0].sym == 1
    assert obj.sections[obj.shstrndx].name == ".shstrtab"
