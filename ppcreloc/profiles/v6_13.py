"""The v6.13 profile: out-of-line ftrace stubs reserved inside `.stubs` (6.13-6.17)."""

from __future__ import annotations

from ppcreloc.arch import ftrace_ool as ool
from ppcreloc.arch.access import patch_u32, read_u64
from ppcreloc.arch.stubs import FUNCDATA_OFFSET
from ppcreloc.errno import ENOENT
from ppcreloc.loader.module import ModuleState
from ppcreloc.ppc64.insn import NOP
from ppcreloc.profiles.v6_12 import V6_12
from ppcreloc.records import Config


class V6_13(V6_12):
    """v6.12 plus eec37961a56a "powerpc64/ftrace: Move ftrace sequence out of line" (6.13, with
    CONFIG_PPC_FTRACE_OUT_OF_LINE; unchanged in module_64.c up to 6.17).

    * get_stubs_size adds roundup(ool_stub_count * sizeof(struct ftrace_ool_stub),
      sizeof(struct ppc64_stub_entry)) / sizeof(struct ppc64_stub_entry) slots, where
      ool_stub_count = sh_size / 8 of the first ``__patchable_function_entries`` section.
    * module_finalize_ftrace then calls setup_ftrace_ool_stubs: walk to the first zero funcdata
      (WARN_ON(i >= total_stubs) -> -1), WARN_ON(i + num_stubs > total_stubs) -> -1, set
      ``mod->arch.ool_stubs = &stub[i]``, and "reserve" the block with a loop that writes a nop
      into ``stub->funcdata`` num_stubs times: always the first entry's, never the others' (the
      bug f6b4df37ebfe fixed). Any failure is -ENOENT.
    * ftrace_module_init (after module_finalize, before complete_formation) fills one
      ftrace_ool_stub per record (:mod:`ppcreloc.arch.ftrace_ool`), its ftrace_op NULL.

    A later klp REL24 (klp_module_coming) walks the sentinel scheme over the block: a slot whose
    funcdata word is still zero (never reserved, or a NULL ftrace_op under it) ends the walk
    inside ftrace_ool_stub[] and create_stub writes a 40-byte stub there (the 2025 corruption,
    "[PATCH v2 0/3] powerpc/ftrace: Fix livepatch module OOL ftrace corruption").

    Modelled from the patch and mail text only (no 6.13-6.17 tree compiled or read whole):
    unverified against compiled code are the record order and NULL skipping of
    ftrace_process_locs, ftrace_init_nop's failure path (ftrace_bug) and the exact template bytes.
    """

    name = "v6.13"
    patch_text_only = True
    summary = "6.13-6.17: OOL ftrace stubs in .stubs, reservation loop as merged (patch text)"

    @staticmethod
    def builds_patchable_entries(config: Config) -> bool:
        """CONFIG_PPC_FTRACE_OUT_OF_LINE (needs CONFIG_DYNAMIC_FTRACE) in ``config``: modules
        are then built with -fpatchable-function-entry=1 (ppcreloc.strategies.ftrace_entries)."""
        return config.dynamic_ftrace and config.ftrace_out_of_line

    def ftrace_out_of_line(self, mod: ModuleState) -> bool:
        """CONFIG_PPC_FTRACE_OUT_OF_LINE for this module's kernel configuration."""
        return self.builds_patchable_entries(mod.config)

    def ool_stub_slots(self, mod: ModuleState) -> int:
        """How many ppc64_stub_entry slots ``ool_stub_count`` ftrace_ool_stubs take (roundup)."""
        size = self.stub_entry_size(mod)
        return -(-mod.arch.ool_stub_count * ool.ftrace_ool_stub_size(mod.config) // size)

    def get_stubs_size(self, mod: ModuleState) -> int:
        """get_stubs_size (6.13): the 6.12 count plus the OOL slots of the first
        ``__patchable_function_entries`` (setting ool_stub_count, ool_stub_index = 0)."""
        size = super().get_stubs_size(mod)
        idx = ool.patchable_section(mod) if self.ftrace_out_of_line(mod) else 0
        if idx:
            mod.arch.ool_stub_count = (mod.obj.sections[idx].sh_size // 8) & 0xFFFF_FFFF
            mod.arch.ool_stub_index = 0
            size += self.ool_stub_slots(mod) * self.stub_entry_size(mod)
        return size

    def setup_ftrace_ool_stubs(self, mod: ModuleState) -> int:
        """setup_ftrace_ool_stubs (6.13): find the first free slot, reserve the block; 0/-1."""
        size = self.stub_entry_size(mod)
        stubs, total_stubs = self.stubs_base(mod)
        num_stubs = self.ool_stub_slots(mod)
        i = 0
        while read_u64(mod, stubs + i * size + FUNCDATA_OFFSET, f"stubs[{i}].funcdata"):
            if mod.warn_on(i >= total_stubs, "setup_ftrace_ool_stubs: WARN_ON(i >= total_stubs)"):
                return -1
            i += 1
        if mod.warn_on(i + num_stubs > total_stubs,
                       "setup_ftrace_ool_stubs: WARN_ON(i + num_stubs > total_stubs)"):
            return -1
        mod.arch.ool_stubs = stubs + i * size
        return self.reserve_ool_stubs(mod, num_stubs)

    def reserve_ool_stubs(self, mod: ModuleState, num_stubs: int) -> int:
        """6.13's "reserve stubs" loop: patch_u32(&stub->funcdata, nop), num_stubs times over
        the first reserved entry only; 0/-1."""
        for _ in range(num_stubs):
            if patch_u32(mod, mod.arch.ool_stubs + FUNCDATA_OFFSET, NOP, "reserve ool stub"):
                return -1
        return 0

    def ftrace_rec_set_nop_ops(self, mod: ModuleState, index: int) -> int:
        """6.13 leaves the record's ftrace_op as the template wrote it (NULL)."""
        return 0

    def ftrace_module_init(self, mod: ModuleState) -> None:
        """ftrace_module_init: ftrace_init_nop per record; the first failure disables ftrace
        (ftrace_bug), so later records are not initialised. The load goes on either way."""
        for ip in ool.ftrace_records(mod):
            index = mod.arch.ool_stub_index
            if ool.ftrace_init_nop(mod, ip) or self.ftrace_rec_set_nop_ops(mod, index):
                mod.pr("warn", "ftrace failed to modify %pS\n", ip)
                return

    def module_finalize_ftrace(self, mod: ModuleState) -> int:
        """module_finalize_ftrace (6.13): the tramp stubs, then setup_ftrace_ool_stubs (nonzero
        -> -ENOENT); then the module's ftrace records (ftrace_module_init, which load_module
        runs next: nothing in between touches `.stubs`)."""
        rc = super().module_finalize_ftrace(mod)
        if rc or not self.ftrace_out_of_line(mod):
            return rc
        if self.setup_ftrace_ool_stubs(mod):
            return -ENOENT
        self.ftrace_module_init(mod)
        return 0
