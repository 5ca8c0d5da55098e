"""The v6.1 profile: Debian linux-source-6.1 (6.1.y), before the 2023 restore_r2 fixes."""

from __future__ import annotations

from ppcreloc.arch.access import patch_instruction, read_u32
from ppcreloc.loader.module import ModuleState
from ppcreloc.ppc64.insn import NOP, is_relative_link_branch, ld_toc
from ppcreloc.profiles.base import Base


class V6_1(Base):
    """module_64.c of Debian's linux-source-6.1 (6.1.y), diffed against the 6.12.y base.

    Read at 6.1.192; the kernel-engine diff (tests/reference/test_kernel_diff.py) re-checks it against
    whatever 6.1.y package is installed.

    * restore_r2 returns 1 on success and 0 on failure and has no ``ld r2`` acceptance: any
      word but nop after a link branch is "Expected nop after call" (pre bc2c6f5695ff and
      37251c7114e1), so re-applying a section fails.
    * stub funcdata/magic are written with patch_instruction (8 bytes for primary opcode 1).
    * no 8-byte alignment check in create_stub / create_ftrace_stub (added with PCREL, 6.4).
    * no CONFIG_PPC_KERNEL_PCREL support (77e69ee7ce07, 6.4): the model ignores config.pcrel.
    * no module_elf_check_arch; lib/sort.c is the single-pop heapsort.
    * no ppc64 clear_relocate_add (and core.c has none either).
    """

    name = "v6.1"
    summary = "6.1.y: restore_r2 rejects its own ld r2 (re-apply fails), no clear"
    sort_version = "6.1"

    def pcrel(self, mod: ModuleState) -> bool:
        """6.1 cannot build PCREL modules: always a TOC kernel."""
        return False

    def restore_r2(self, mod: ModuleState, name: str, insn: int) -> int:
        """restore_r2 (6.1): 1 = ok, 0 = failed; reads P+4 only after the branch test."""
        if self.is_mprofile_ftrace_call(mod, name):
            return 1
        if not is_relative_link_branch(read_u32(mod, insn - 4, "restore_r2 P")):
            return 1
        val = read_u32(mod, insn, "restore_r2 P+4")
        if val != NOP:
            mod.pr("err", "%s: Expected nop after call, got %08x at %pS\n", mod.name, val, insn)
            return 0
        if patch_instruction(mod, insn, ld_toc(mod.config.abi == "elfv1"), "restore_r2"):
            return 0
        return 1

    def restore_r2_failed(self, rc: int) -> bool:
        """6.1's caller: ``if (!restore_r2(...)) return -ENOEXEC``."""
        return rc == 0

    def stub_entry_ok(self, mod: ModuleState, entry: int) -> bool:
        """6.1 has no stub alignment check."""
        return True

    #: 6.1 writes stub funcdata/magic with patch_instruction (8 bytes when the opcode is 1)
    stub_word_primitive = "patch_instruction"

    def module_elf_check_arch(self, mod: ModuleState) -> bool:
        """6.1 has no ppc64 module_elf_check_arch: every ABI level is accepted."""
        return True
