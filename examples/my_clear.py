"""A clear_relocate_add proposal, as a user would write one: run it with

    ppcreloc check  --engine examples/my_clear.py:ClearCallSites livepatch.o
    ppcreloc matrix --engine examples/my_clear.py:ClearCallSites --examples 50

No install is needed: the file is loaded as it is, and the class is a subclass of a shipped
profile (here v6.12), so only the function the proposal changes is written out.
"""

from __future__ import annotations

from ppcreloc.arch.access import patch_instruction, read_u32
from ppcreloc.elf.model import SHN_LIVEPATCH, SHN_UNDEF
from ppcreloc.loader.module import ModuleState
from ppcreloc.ppc64.insn import M64, NOP, PPC_LI_MASK, is_relative_link_branch, ld_toc
from ppcreloc.ppc64.reloctypes import R_PPC_REL24
from ppcreloc.profiles.v6_12 import V6_12


class ClearCallSites(V6_12):
    """v6.12 plus a clear_relocate_add that undoes what apply did at each external call site.

    For every R_PPC_REL24 to an undefined or livepatch symbol whose word at P is a relative
    link branch: the branch's LI field goes back to 0 and an ``ld r2,24(r1)`` that restore_r2
    wrote at P+4 goes back to nop, both by patch_instruction. Stubs are left in place (a later
    apply finds and reuses them).
    """

    name = "clear-call-sites"
    summary = "example proposal: reset LI at P and the nop at P+4 of each external call"

    def clear_relocate_add(self, mod: ModuleState, symindex: int, relsec: int) -> None:
        """Walk the section's relas as apply_relocate_add does and reset each call site."""
        obj = mod.obj
        base = obj.sections[obj.sections[relsec].info].addr
        for rela in obj.relocs.get(relsec, []):
            location = (base + rela.offset) & M64
            sym = self.symbol(mod, symindex, rela.sym)
            if rela.type != R_PPC_REL24 or sym.shndx not in (SHN_UNDEF, SHN_LIVEPATCH):
                continue
            if self.is_mprofile_ftrace_call(mod, sym.name):
                continue
            insn = read_u32(mod, location, "clear P")
            if not is_relative_link_branch(insn):
                continue
            patch_instruction(mod, location, insn & ~PPC_LI_MASK, "clear branch")
            if read_u32(mod, location + 4, "clear P+4") == ld_toc(mod.config.abi == "elfv1"):
                patch_instruction(mod, location + 4, NOP, "clear nop")
