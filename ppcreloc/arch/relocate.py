"""apply_relocate_add, restore_r2 and my_r2 (module_64.c, 6.12 unless a profile overrides).

Relocations are applied in the (sorted) array order; the first failure returns its -errno and
nothing done before it is rolled back. Every access goes through mod.memory, and
``mod.memory.reloc`` names the relocation being applied so each event points at it.
"""

from __future__ import annotations

from collections.abc import Callable

from ppcreloc.arch.errno import EFAULT, ENOENT, ENOEXEC
from ppcreloc.arch.seams import ArchSeams
from ppcreloc.elf.model import SHN_LIVEPATCH, SHN_UNDEF, Rela, Symbol
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
from ppcreloc.ppc64.reloctypes import REL34_CHECK, RELOC_TYPES, RelocType

from .access import patch_instruction, read_u32, read_uint, store
from .frob import find_dot_toc, last_section

SYM_SIZE = 24
#: (profile class, PCREL build) -> the cases of apply_relocate_add's switch (RelocateMixin._cases)
_CASES: dict[tuple[type, bool], dict[int, tuple[RelocType, Callable[..., int]]]] = {}
#: ld r2,X(r12) with the DS field masked, and add r2,r2,r12 (the ELFv2 large-model prologue)
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

        Reads P+4 first (after the compile-time PCREL return); skips mprofile ftrace names and
        non-link branches at P; accepts an existing ``ld r2,R2_STACK_OFFSET(r1)``; anything but
        nop is "Expected nop after call"; otherwise writes PPC_INST_LD_TOC by patch_instruction.
        """
        if self.pcrel(mod):  # IS_ENABLED(): the whole body, load included, is compiled out
            return 0
        insn_val = read_u32(mod, insn, "restore_r2 P+4")
        if self.is_mprofile_ftrace_call(mod, name):
            return 0
        if not is_relative_link_branch(read_u32(mod, insn - 4, "restore_r2 P")):
            return 0
        ldtoc = ld_toc(mod.config.abi == "elfv1")
        if insn_val == ldtoc:
            return 0
        if insn_val != NOP:
            mod.pr("err", "%s: Expected nop after call, got %08x at %pS\n", mod.name, insn_val,
                   insn)
            return -ENOEXEC
        return patch_instruction(mod, insn, ldtoc, "restore_r2")

    def restore_r2_failed(self, rc: int) -> bool:
        """How apply_relocate_add reads restore_r2's result: nonzero is failure (6.3+)."""
        return rc != 0

    def reloc_type(self, mod: ModuleState, r_type: int) -> RelocType | None:
        """The table row when this kernel build handles ``r_type``, else None ("Unknown")."""
        return self.reloc_type_for(self.pcrel(mod), r_type)

    def reloc_type_for(self, pcrel: bool, r_type: int) -> RelocType | None:
        """:meth:`reloc_type` for a PCREL (or TOC) build."""
        row = RELOC_TYPES.get(r_type)
        return row if row is not None and row.available(pcrel) else None

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
        """apply_relocate_add: fix up .TOC. on the first call, then each rela in array order."""
        obj = mod.obj
        if not self.pcrel(mod) and not mod.arch.toc_fixed:
            toc = find_dot_toc(obj.symbols)
            if toc is not None:
                toc.value = self.my_r2(mod)
            mod.arch.toc_fixed = True
        target = obj.sections[relsec].info
        base = obj.sections[target].addr if target < len(obj.sections) else 0
        syms = obj.symbols
        memory = mod.memory
        try:
            for i, rela in enumerate(obj.relocs.get(relsec, [])):
                location = (base + rela.offset) & M64
                r_sym = rela.sym
                sym = syms[r_sym] if r_sym < len(syms) else self.symbol(mod, symindex, r_sym)
                memory.reloc = reloc_ref(relsec, i, rela, sym.name)
                rc = self.apply_one(mod, rela, sym, location)
                if rc:
                    return rc
        finally:
            memory.reloc = None
        return 0

    def apply_one(self, mod: ModuleState, rela: Rela, sym: Symbol, location: int) -> int:
        """One case of the switch: 0 or -errno."""
        value = (sym.value + rela.addend) & M64
        case = self._cases(self.pcrel(mod)).get(rela.type)
        if case is None:
            mod.pr("err", "%s: Unknown ADD relocation: %lu\n", mod.name, rela.type & M64)
            return -ENOEXEC
        row, handler = case
        rc: int = handler(self, mod, row, rela, sym, location, value)
        return rc

    def _cases(self, pcrel: bool) -> dict[int, tuple[RelocType, Callable[..., int]]]:
        """r_type -> (table row, the class's ``_apply_<handler>``) for every type this build
        handles (the cases of the switch; :meth:`reloc_type` for one type), once per class."""
        key = (type(self), pcrel)
        cases = _CASES.get(key)
        if cases is None:
            cases = _CASES[key] = {
                num: (row, getattr(type(self), f"_apply_{row.handler}"))
                for num in RELOC_TYPES
                if (row := self.reloc_type_for(pcrel, num)) is not None
            }
        return cases

    def _apply_field(
        self, mod: ModuleState, row: RelocType, rela: Rela, sym: Symbol, loc: int, value: int
    ) -> int:
        """ADDR32/64, TOC, TOC16*, REL64, REL32, REL16_HA/LO: compute, check, masked plain store.

        The old bits are read only when the mask keeps some of them (the DS forms), as the C
        compiles to.
        """
        toc = self.my_r2(mod) if row.base in ("S+A-TOC", "TOC") else 0
        v = row.compute(value, loc, toc)
        if row.check is not None and not row.check.ok(v):
            mod.pr("err", row.check.fmt, mod.name, row.check.arg(v))
            return -ENOEXEC
        full = (1 << (8 * row.size)) - 1
        new = row.field(v) & row.mask
        if row.mask != full:
            new |= read_uint(mod, loc, row.size, row.name) & ~row.mask & full
        store(mod, loc, new, row.size, row.name)
        return 0

    def _apply_noop(self, *_: object) -> int:
        """TOCSAVE: a marker the kernel ignores."""
        return 0

    def _apply_rel24(
        self, mod: ModuleState, row: RelocType, rela: Rela, sym: Symbol, loc: int, value: int
    ) -> int:
        """REL24 (and REL24_NOTOC under PCREL): external via stub + restore_r2, then range check.

        The stub is allocated and P+4 patched before the range check; only the LI field of the
        word at P changes (opcode, AA and LK kept), written with patch_instruction.
        """
        if sym.shndx in (SHN_UNDEF, SHN_LIVEPATCH):
            value = self.stub_for_addr(mod, value, sym.name)
            if not value:
                return -ENOENT
            if self.restore_r2_failed(self.restore_r2(mod, sym.name, (loc + 4) & M64)):
                return -ENOEXEC
        else:
            value = (value + local_entry_offset(sym.other, mod.config.abi == "elfv1")) & M64
        value = (value - loc) & M64
        assert row.check is not None
        if not row.check.ok(value):
            mod.pr("err", row.check.fmt, mod.name, signed(value))
            return -ENOEXEC
        old = read_u32(mod, loc, "REL24 branch")
        if patch_instruction(mod, loc, (old & ~PPC_LI_MASK) | (value & PPC_LI_MASK), "REL24"):
            return -EFAULT
        return 0

    def _apply_entry(
        self, mod: ModuleState, row: RelocType, rela: Rela, sym: Symbol, loc: int, value: int
    ) -> int:
        """ENTRY: rewrite ``ld r2,X(r12); add r2,r2,r12`` to addis/addi of .TOC.-P when in range."""
        if self.pcrel(mod):
            return 0
        v = (self.my_r2(mod) - loc) & M64
        if ((v + 0x80008000) & M64) > 0xFFFF_FFFF:
            return 0
        if read_u32(mod, loc, "ENTRY word 0") & ~0xFFFC != LD_R2_R12:
            return 0
        if read_u32(mod, loc + 4, "ENTRY word 1") != ADD_R2_R2_R12:
            return 0
        store(mod, loc, addis(2, 12, ppc_ha(v)), 4, "ENTRY addis")
        store(mod, loc + 4, addi(2, 2, ppc_lo(v)), 4, "ENTRY addi")
        return 0

    def _apply_pcrel34(
        self, mod: ModuleState, row: RelocType, rela: Rela, sym: Symbol, loc: int, value: int
    ) -> int:
        """PCREL34 (6.4+, PCREL): 34-bit PC-relative; per-cpu symbols out of range go via GOT."""
        absvalue = value
        value = (value - loc) & M64
        if not REL34_CHECK.ok(value):
            pcpu = last_section(mod.obj, ".data..percpu")
            if sym.shndx != pcpu:
                mod.pr("err", REL34_CHECK.fmt, mod.name, signed(value))
                return -ENOEXEC
            value = self.got_for_addr(mod, last_section(mod.obj, ".mygot"), absvalue)
            if not value:
                return -ENOENT
            value = (value - loc) & M64
            p0 = read_u32(mod, loc, "PCREL34 prefix")
            p1 = read_u32(mod, loc + 4, "PCREL34 suffix")
            if patch_instruction(mod, loc, p0 & ~0x02000000, "PCREL34 pla->pld",
                                 (p1 & ~0xF8000000) | 0xE4000000):
                return -EFAULT
        p0 = read_u32(mod, loc, "PCREL34 prefix")
        p1 = read_u32(mod, loc + 4, "PCREL34 suffix")
        if patch_instruction(mod, loc, (p0 & ~0x3FFFF) | imm_h18(value), "PCREL34",
                             (p1 & ~0xFFFF) | imm_l(value)):
            return -EFAULT
        return 0

    def _apply_got_pcrel34(
        self, mod: ModuleState, row: RelocType, rela: Rela, sym: Symbol, loc: int, value: int
    ) -> int:
        """GOT_PCREL34 (6.4+, PCREL): GOT entry for S+A, both fields by plain stores, no check."""
        value = self.got_for_addr(mod, last_section(mod.obj, ".mygot"), value)
        if not value:
            return -ENOENT
        value = (value - loc) & M64
        w0 = read_u32(mod, loc, "GOT_PCREL34 prefix")
        store(mod, loc, (w0 & ~0x3FFFF) | ((value >> 16) & 0x3FFFF), 4, "GOT_PCREL34 prefix")
        w1 = read_u32(mod, loc + 4, "GOT_PCREL34 suffix")
        store(mod, loc + 4, (w1 & ~0xFFFF) | (value & 0xFFFF), 4, "GOT_PCREL34 suffix")
        return 0

    def clear_relocate_add(self, mod: ModuleState, symindex: int, relsec: int) -> None:
        """The weak, empty clear_relocate_add of kernel/livepatch/core.c (6.3+): nothing."""
        return None
