"""apply_relocate_add, restore_r2 and my_r2 (module_64.c, 6.12 unless a profile overrides).

apply_relocate_add is the kernel's loop and switch on ELF64_R_TYPE, case by case in the kernel's
order, each with its computation, check and pr_err text. Relocations are applied in the (sorted)
array order; the first failure returns its -errno and nothing done before it is rolled back.
Every access goes through mod.memory, and ``mod.memory.reloc`` names the relocation being
applied so each event points at it.
"""

from __future__ import annotations

from ppcreloc.arch.seams import ArchSeams
from ppcreloc.elf.model import SHN_LIVEPATCH, SHN_UNDEF, Symbol
from ppcreloc.errno import EFAULT, ENOENT, ENOEXEC
from ppcreloc.loader.memory import reloc_ref
from ppcreloc.loader.module import ModuleState
from ppcreloc.ppc64.insn import (
    M64,
    NOP,
    PPC_LI_MASK,
    add,
    addi,
    addis,
    imm_h18,
    imm_l,
    is_relative_link_branch,
    ld,
    ld_toc,
    local_entry_offset,
    ppc_ha,
    ppc_lo,
    signed,
)
from ppcreloc.ppc64.reloctypes import (
    R_PPC64_ADDR32,
    R_PPC64_ADDR64,
    R_PPC64_ENTRY,
    R_PPC64_GOT_PCREL34,
    R_PPC64_PCREL34,
    R_PPC64_REL16_HA,
    R_PPC64_REL16_LO,
    R_PPC64_REL24_NOTOC,
    R_PPC64_REL32,
    R_PPC64_REL64,
    R_PPC64_TOC,
    R_PPC64_TOC16,
    R_PPC64_TOC16_DS,
    R_PPC64_TOC16_HA,
    R_PPC64_TOC16_LO,
    R_PPC64_TOC16_LO_DS,
    R_PPC64_TOCSAVE,
    R_PPC_REL24,
)

from .access import patch_instruction, read_u32, read_uint, store
from .frob import find_dot_toc, last_section

#: sizeof(Elf64_Sym)
SYM_SIZE = 24
#: PPC_RAW_LD(_R2, _R12, 0) and PPC_RAW_ADD(_R2, _R2, _R12): the ELFv2 large-model prologue
LD_R2_R12 = ld(2, 12, 0)
ADD_R2_R2_R12 = add(2, 2, 12)


class RelocateMixin(ArchSeams):
    """apply_relocate_add and friends for a profile."""

    # -- small kernel helpers ----------------------------------------------------------------
    def my_r2(self, mod: ModuleState) -> int:
        """my_r2: (.toc's sh_addr & ~0xff) + 0x8000 (.stubs if no .toc); -1 under PCREL."""
        if self.pcrel(mod):
            return M64
        return ((mod.obj.sections[mod.arch.toc_section].addr & ~0xFF) + 0x8000) & M64

    def restore_r2(self, mod: ModuleState, name: str, insn: int) -> int:
        """restore_r2 (6.3+, 37251c7114e1 + bc2c6f5695ff): 0 or -errno.

        ``insn_val = *instruction`` is read first (before the compile-time PCREL return, which
        compiles the whole body out, load included); mprofile ftrace names and non-link
        branches at P need no r2 restore; an existing ``ld r2,R2_STACK_OFFSET(r1)`` is
        accepted (a re-applied livepatch); anything but nop is "Expected nop after call";
        otherwise PPC_INST_LD_TOC is written by patch_instruction.
        """
        if self.pcrel(mod):  # IS_ENABLED(CONFIG_PPC_KERNEL_PCREL): the load is compiled out too
            return 0
        insn_val = read_u32(mod, insn, "restore_r2 P+4")
        if self.is_mprofile_ftrace_call(mod, name):
            return 0
        if not is_relative_link_branch(read_u32(mod, insn - 4, "restore_r2 P")):
            return 0
        ld_r2 = ld_toc(mod.config.abi == "elfv1")  # PPC_INST_LD_TOC
        if insn_val == ld_r2:
            return 0
        if insn_val != NOP:
            mod.pr("err", "%s: Expected nop after call, got %08x at %pS\n", mod.name, insn_val,
                   insn)
            return -ENOEXEC
        return patch_instruction(mod, insn, ld_r2, "restore_r2")

    def restore_r2_failed(self, rc: int) -> bool:
        """How apply_relocate_add reads restore_r2's result: nonzero is failure (6.3+)."""
        return rc != 0

    def symbol(self, mod: ModuleState, symindex: int, index: int) -> Symbol:
        """``(Elf64_Sym *)sechdrs[symindex].sh_addr + ELF64_R_SYM``: not bounds-checked.

        An index past the table is an out-of-bounds read of the symbol table (logged); the model
        then sees an all-zero symbol.
        """
        syms = mod.obj.symbols
        if index < len(syms):
            return syms[index]
        base = mod.obj.sections[symindex].addr if symindex < len(mod.obj.sections) else 0
        mod.memory.read(base + SYM_SIZE * index, SYM_SIZE, "symtab entry")
        return Symbol("")

    # -- apply_relocate_add ------------------------------------------------------------------
    def apply_relocate_add(self, mod: ModuleState, symindex: int, relsec: int) -> int:
        """apply_relocate_add (6.12): fix up .TOC. on the first call, then the switch per rela.

        The ``#ifdef CONFIG_PPC_KERNEL_PCREL`` cases are taken only when the profile's build is
        PCREL (``self.pcrel``), the ``#ifndef`` ones only when it is not; a type the build does
        not compile in falls to ``default`` ("Unknown ADD relocation"). The 16-bit stores
        ``(*loc & ~0xffff) | (value & 0xffff)`` keep no old bit and compile to a plain store, so
        only the DS forms (``~0xfffc``) read the old halfword.
        """
        obj = mod.obj
        pcrel = self.pcrel(mod)
        if not pcrel and not mod.arch.toc_fixed:  # #ifndef CONFIG_PPC_KERNEL_PCREL
            sym = find_dot_toc(obj.symbols)
            if sym is not None:
                sym.value = self.my_r2(mod)
            mod.arch.toc_fixed = True
        target = obj.sections[relsec].info
        base = obj.sections[target].addr if target < len(obj.sections) else 0
        elfv1 = mod.config.abi == "elfv1"
        memory = mod.memory
        try:
            for i, rela in enumerate(obj.relocs.get(relsec, [])):
                # This is where to make the change
                location = (base + rela.offset) & M64
                # This is the symbol it is referring to
                sym = self.symbol(mod, symindex, rela.sym)
                memory.reloc = reloc_ref(relsec, i, rela, sym.name)
                # `Everything is relative'.
                value = (sym.value + rela.addend) & M64
                r_type = rela.type  # ELF64_R_TYPE(rela[i].r_info)

                if r_type == R_PPC64_ADDR32:
                    store(mod, location, value, 4, "R_PPC64_ADDR32")

                elif r_type == R_PPC64_ADDR64:
                    store(mod, location, value, 8, "R_PPC64_ADDR64")

                elif r_type == R_PPC64_TOC and not pcrel:
                    store(mod, location, self.my_r2(mod), 8, "R_PPC64_TOC")

                elif r_type == R_PPC64_TOC16 and not pcrel:
                    value = (value - self.my_r2(mod)) & M64
                    if ((value + 0x8000) & M64) > 0xFFFF:
                        mod.pr("err", "%s: bad TOC16 relocation (0x%lx)\n", mod.name, value)
                        return -ENOEXEC
                    store(mod, location, value & 0xFFFF, 2, "R_PPC64_TOC16")

                elif r_type == R_PPC64_TOC16_LO and not pcrel:
                    value = (value - self.my_r2(mod)) & M64
                    store(mod, location, value & 0xFFFF, 2, "R_PPC64_TOC16_LO")

                elif r_type == R_PPC64_TOC16_DS and not pcrel:
                    value = (value - self.my_r2(mod)) & M64
                    if (value & 3) != 0 or ((value + 0x8000) & M64) > 0xFFFF:
                        mod.pr("err", "%s: bad TOC16_DS relocation (0x%lx)\n", mod.name, value)
                        return -ENOEXEC
                    old = read_uint(mod, location, 2, "R_PPC64_TOC16_DS")
                    store(mod, location, (old & ~0xFFFC) | (value & 0xFFFC), 2,
                          "R_PPC64_TOC16_DS")

                elif r_type == R_PPC64_TOC16_LO_DS and not pcrel:
                    value = (value - self.my_r2(mod)) & M64
                    if (value & 3) != 0:
                        mod.pr("err", "%s: bad TOC16_LO_DS relocation (0x%lx)\n", mod.name,
                               value)
                        return -ENOEXEC
                    old = read_uint(mod, location, 2, "R_PPC64_TOC16_LO_DS")
                    store(mod, location, (old & ~0xFFFC) | (value & 0xFFFC), 2,
                          "R_PPC64_TOC16_LO_DS")

                elif r_type == R_PPC64_TOC16_HA and not pcrel:
                    value = (value - self.my_r2(mod)) & M64
                    value = ((value + 0x8000) & M64) >> 16
                    store(mod, location, value & 0xFFFF, 2, "R_PPC64_TOC16_HA")

                elif r_type == R_PPC_REL24 or (r_type == R_PPC64_REL24_NOTOC and pcrel):
                    # PCREL still generates REL24 for mcount
                    if sym.shndx == SHN_UNDEF or sym.shndx == SHN_LIVEPATCH:
                        # External: go via stub
                        value = self.stub_for_addr(mod, value, sym.name)
                        if not value:
                            return -ENOENT
                        if self.restore_r2_failed(
                            self.restore_r2(mod, sym.name, (location + 4) & M64)
                        ):
                            return -ENOEXEC
                    else:
                        value = (value + local_entry_offset(sym.other, elfv1)) & M64
                    # Convert value to relative
                    value = (value - location) & M64
                    if ((value + 0x2000000) & M64) > 0x3FFFFFF or (value & 3) != 0:
                        mod.pr("err", "%s: REL24 %li out of range!\n", mod.name, signed(value))
                        return -ENOEXEC
                    # Only replace bits 2 through 26
                    value = ((read_u32(mod, location, "REL24 branch") & ~PPC_LI_MASK)
                             | (value & PPC_LI_MASK))
                    if patch_instruction(mod, location, value, "REL24"):
                        return -EFAULT

                elif r_type == R_PPC64_REL64:
                    # 64 bits relative (used by features fixups)
                    store(mod, location, value - location, 8, "R_PPC64_REL64")

                elif r_type == R_PPC64_REL32:
                    # 32 bits relative (used by relative exception tables)
                    value = (value - location) & M64
                    if ((value + 0x80000000) & M64) > 0xFFFFFFFF:
                        mod.pr("err", "%s: REL32 %li out of range!\n", mod.name, signed(value))
                        return -ENOEXEC
                    store(mod, location, value, 4, "R_PPC64_REL32")

                elif r_type == R_PPC64_PCREL34 and pcrel:
                    absvalue = value
                    value = (value - location) & M64
                    if ((value + 0x200000000) & M64) > 0x3FFFFFFFF:
                        if sym.shndx != last_section(obj, ".data..percpu"):
                            mod.pr("err", "%s: REL34 %li out of range!\n", mod.name,
                                   signed(value))
                            return -ENOEXEC
                        # per-cpu is moved during loading, so it is converted to use the GOT
                        value = self.got_for_addr(mod, last_section(obj, ".mygot"), absvalue)
                        if not value:
                            return -ENOENT
                        value = (value - location) & M64
                        # Turn pla into pld
                        prefix = read_u32(mod, location, "PCREL34 prefix")
                        suffix = read_u32(mod, location + 4, "PCREL34 suffix")
                        if patch_instruction(mod, location, prefix & ~0x02000000,
                                             "PCREL34 pla->pld",
                                             (suffix & ~0xF8000000) | 0xE4000000):
                            return -EFAULT
                    prefix = read_u32(mod, location, "PCREL34 prefix")
                    suffix = read_u32(mod, location + 4, "PCREL34 suffix")
                    if patch_instruction(mod, location, (prefix & ~0x3FFFF) | imm_h18(value),
                                         "PCREL34", (suffix & ~0xFFFF) | imm_l(value)):
                        return -EFAULT

                elif r_type == R_PPC64_TOCSAVE and not pcrel:
                    # Marker reloc: the kernel does not have to save r2 and ignores it
                    pass

                elif r_type == R_PPC64_ENTRY:
                    if pcrel:  # IS_ENABLED(CONFIG_PPC_KERNEL_PCREL)
                        continue
                    # Optimise the ELFv2 large code model entry point if the TOC is within 2GB
                    value = (self.my_r2(mod) - location) & M64
                    if ((value + 0x80008000) & M64) > 0xFFFFFFFF:
                        continue
                    # the large code model prologue: ld r2,...(r12); add r2,r2,r12
                    if read_u32(mod, location, "ENTRY word 0") & ~0xFFFC != LD_R2_R12:
                        continue
                    if read_u32(mod, location + 4, "ENTRY word 1") != ADD_R2_R2_R12:
                        continue
                    # becomes addis r2,r12,(.TOC.-func)@ha; addi r2,r2,(.TOC.-func)@l
                    store(mod, location, addis(2, 12, ppc_ha(value)), 4, "ENTRY addis")
                    store(mod, location + 4, addi(2, 2, ppc_lo(value)), 4, "ENTRY addi")

                elif r_type == R_PPC64_REL16_HA:
                    # Subtract location pointer
                    value = (value - location) & M64
                    value = ((value + 0x8000) & M64) >> 16
                    store(mod, location, value & 0xFFFF, 2, "R_PPC64_REL16_HA")

                elif r_type == R_PPC64_REL16_LO:
                    # Subtract location pointer
                    value = (value - location) & M64
                    store(mod, location, value & 0xFFFF, 2, "R_PPC64_REL16_LO")

                elif r_type == R_PPC64_GOT_PCREL34 and pcrel:
                    value = self.got_for_addr(mod, last_section(obj, ".mygot"), value)
                    if not value:
                        return -ENOENT
                    value = (value - location) & M64
                    word0 = read_u32(mod, location, "GOT_PCREL34 prefix")
                    store(mod, location, (word0 & ~0x3FFFF) | ((value >> 16) & 0x3FFFF), 4,
                          "GOT_PCREL34 prefix")
                    word1 = read_u32(mod, location + 4, "GOT_PCREL34 suffix")
                    store(mod, location + 4, (word1 & ~0xFFFF) | (value & 0xFFFF), 4,
                          "GOT_PCREL34 suffix")

                else:
                    mod.pr("err", "%s: Unknown ADD relocation: %lu\n", mod.name, r_type & M64)
                    return -ENOEXEC
        finally:
            memory.reloc = None
        return 0

    def clear_relocate_add(self, mod: ModuleState, symindex: int, relsec: int) -> None:
        """The weak, empty clear_relocate_add of kernel/livepatch/core.c (6.3+): nothing."""
        return None
