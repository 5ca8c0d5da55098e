"""The klp-clear-v7 profile: 6.1 plus the seed thread's v6/v7 ppc64 clear_relocate_add (never merged)."""

from __future__ import annotations

from ppcreloc.arch.access import patch_instruction, read_u32
from ppcreloc.elf.model import SHN_LIVEPATCH, SHN_UNDEF
from ppcreloc.loader.memory import reloc_ref
from ppcreloc.loader.module import ModuleState
from ppcreloc.ppc64.insn import M64, NOP, is_relative_link_branch
from ppcreloc.ppc64.reloctypes import R_PPC_REL24
from ppcreloc.profiles.v6_1 import V6_1


class KlpClearV7(V6_1):
    """6.1 with "livepatch: Clear relocation targets on a module removal" v7 (2022-12-14).

    clear_relocate_add writes a nop at P+4 with patch_instruction for every rela that is exactly
    R_PPC_REL24, whose symbol is SHN_UNDEF or SHN_LIVEPATCH, not an mprofile ftrace name, and whose
    word at P is a relative link branch; nothing else (no LI reset, no stub release, no check of
    what P+4 held). v7's core.c also re-runs klp_resolve_symbols before clearing.
    """

    name = "klp-clear-v7"
    summary = "6.1 + seed-thread v7 clear: nop at P+4 after external bl"
    resolve_before_clear = True

    def clear_relocate_add(self, mod: ModuleState, symindex: int, relsec: int) -> None:
        """The v7 ppc64 clear_relocate_add (seed thread, v7 of 2022-12-14; ../shared/docs)."""
        obj = mod.obj
        target = obj.sections[relsec].info
        base = obj.sections[target].addr if target < len(obj.sections) else 0
        try:
            for i, rela in enumerate(obj.relocs.get(relsec, [])):
                location = (base + rela.offset) & M64
                sym = self.symbol(mod, symindex, rela.sym)
                mod.memory.reloc = reloc_ref(relsec, i, rela, sym.name)
                if rela.type != R_PPC_REL24:
                    continue
                if sym.shndx not in (SHN_UNDEF, SHN_LIVEPATCH):
                    continue
                if self.is_mprofile_ftrace_call(mod, sym.name):
                    continue
                if not is_relative_link_branch(read_u32(mod, location, "clear P")):
                    continue
                patch_instruction(mod, location + 4, NOP, "clear nop")
        finally:
            mod.memory.reloc = None
