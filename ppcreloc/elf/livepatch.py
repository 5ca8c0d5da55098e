"""Turn an ordinary object (e.g. from gas or clang) into a livepatch-format object, in the model.

Assemblers cannot emit SHN_LIVEPATCH symbols or `.klp.rela.*` sections directly (gas puts every
`.reloc` into `.rela<section>` and cannot set st_shndx 0xff20). The livepatch module format
(Documentation/livepatch/module-elf-format.rst; kernel/livepatch/core.c, klp_resolve_symbols and
klp_write_section_relocs) needs: symbols named `.klp.sym.<objname>.<symname>,<sympos>` with
st_shndx SHN_LIVEPATCH, and their relocations in SHT_RELA sections named
`.klp.rela.<objname>.<secname>` flagged SHF_ALLOC | SHF_INFO_LINK | SHF_RELA_LIVEPATCH.
"""

from __future__ import annotations

from ppcreloc.elf.model import (
    RELA_ENTSIZE,
    SHF_ALLOC,
    SHF_INFO_LINK,
    SHF_RELA_LIVEPATCH,
    SHN_LIVEPATCH,
    SHN_UNDEF,
    SHT_RELA,
    ElfObject,
    Section,
)

KLP_SYM_PREFIX = ".klp.sym."
KLP_RELA_PREFIX = ".klp.rela."
KLP_RELA_FLAGS = SHF_ALLOC | SHF_INFO_LINK | SHF_RELA_LIVEPATCH


def klp_object_name(symbol_name: str) -> str:
    """The <objname> of `.klp.sym.<objname>.<symname>,<sympos>` (the text up to the next '.')."""
    return symbol_name[len(KLP_SYM_PREFIX) :].split(".", 1)[0]


def to_livepatch(obj: ElfObject) -> ElfObject:
    """A copy of ``obj`` where every undefined `.klp.sym.*` symbol is SHN_LIVEPATCH and every
    relocation against one moves from `.rela<sec>` to `.klp.rela.<objname>.<sec>` (new SHT_RELA
    sections appended at the end, so existing section and symbol indices stay valid)."""
    out = obj.clone()
    klp = set()
    for i, sym in enumerate(out.symbols):
        if sym.name.startswith(KLP_SYM_PREFIX) and sym.shndx in (SHN_UNDEF, SHN_LIVEPATCH):
            sym.shndx = SHN_LIVEPATCH
            klp.add(i)
    created: dict[str, int] = {}
    for idx in list(out.relocs):
        rela = out.sections[idx]
        if rela.flags & SHF_RELA_LIVEPATCH:
            continue
        keep = []
        for r in out.relocs[idx]:
            if r.sym not in klp:
                keep.append(r)
                continue
            target = out.sections[rela.info].name
            name = f"{KLP_RELA_PREFIX}{klp_object_name(out.symbols[r.sym].name)}.{target}"
            if name not in created:
                out.sections.append(
                    Section(name, SHT_RELA, KLP_RELA_FLAGS, b"", None, 8, RELA_ENTSIZE, rela.link, rela.info)
                )
                created[name] = len(out.sections) - 1
                out.relocs[created[name]] = []
            out.relocs[created[name]].append(r)
        out.relocs[idx] = keep
    return out
