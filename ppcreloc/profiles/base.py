"""The base profile: arch/powerpc/kernel/module_64.c as in upstream 6.3-6.12 (Debian's linux-source-6.12;
read at 6.12.117, unchanged in later 6.12.y packages as far as the kernel-engine diff shows).

Other profiles subclass it and override the seams where their kernel differs:
``sort_relocs`` (lib/sort.c version), ``pcrel`` (PCREL support), ``restore_r2`` /
``restore_r2_failed`` (return convention), ``stub_entry_ok`` (alignment check),
``stub_word_primitive`` (patch primitive for stub data) and ``clear_relocate_add``.
"""

from __future__ import annotations

from typing import ClassVar

from ppcreloc.arch.frob import FrobMixin
from ppcreloc.arch.relocate import RelocateMixin
from ppcreloc.arch.sort import SORTS, relacmp
from ppcreloc.arch.stubs import StubsMixin
from ppcreloc.elf.model import Rela
from ppcreloc.loader.module import ModuleState


class Base(FrobMixin, StubsMixin, RelocateMixin):
    """Upstream module_64.c 6.3-6.12 (Debian linux-source-6.12, any 6.12.y), the current behaviour.

    restore_r2 returns 0/-errno and accepts an existing ``ld r2,24(r1)`` (37251c7114e1,
    bc2c6f5695ff); stub funcdata/magic go through patch_u32 (the 6.x patch_u32
    conversion of module_64.c); create_stub/create_ftrace_stub refuse a stub entry that is not 8-byte aligned
    (PCREL series, 6.4); CONFIG_PPC_KERNEL_PCREL is supported; lib/sort.c is 6.12's; there is no
    ppc64 clear_relocate_add (core.c's weak empty one).
    """

    name: ClassVar[str] = "base"
    summary: ClassVar[str] = "upstream module_64.c 6.3-6.12 (Debian linux-source-6.12)"
    #: kernel/livepatch/core.c runs klp_resolve_symbols before clear (only the v7 proposal did)
    resolve_before_clear: ClassVar[bool] = False
    #: which lib/sort.c (see ppcreloc.arch.sort.SORTS)
    sort_version: ClassVar[str] = "6.12"
    #: modelled from patch and mail text only, not from a kernel tree Debian packages (v6.13,
    #: v6.18): no real-module or kernel-engine comparison exists for it
    patch_text_only: ClassVar[bool] = False

    def sort_relocs(self, rela: list[Rela]) -> None:
        """lib/sort.c sort(rela, n, sizeof(Elf64_Rela), relacmp, NULL), in place."""
        SORTS[self.sort_version](rela, relacmp)

    def pcrel(self, mod: ModuleState) -> bool:
        """CONFIG_PPC_KERNEL_PCREL, from the configuration (supported since 6.4)."""
        return mod.config.pcrel

    def stub_entry_ok(self, mod: ModuleState, entry: int) -> bool:
        """create_stub / create_ftrace_stub (6.4+): the entry must be 8-byte aligned."""
        if entry % 8:
            mod.pr("err", "%s: Address of stub entry is not 8-byte aligned\n", mod.name)
            return False
        return True

    #: stub funcdata and magic words are written with patch_u32 (6.12)
    stub_word_primitive = "patch_u32"

    def module_elf_check_arch(self, mod: ModuleState) -> bool:
        """module_elf_check_arch (6.12): e_flags ABI level 2 on ELFv2, < 2 on ELFv1."""
        level = mod.obj.flags & 3
        return level < 2 if mod.config.abi == "elfv1" else level == 2
