"""The v6.18 profile: the three OOL fixes and the explicit stub counter that replaced the sentinel."""

from __future__ import annotations

from ppcreloc.arch import ftrace_ool as ool
from ppcreloc.arch.access import read_u64
from ppcreloc.arch.stubs import FUNCDATA_OFFSET
from ppcreloc.loader.module import ModuleState
from ppcreloc.profiles.v6_13 import V6_13


class V6_18(V6_13):
    """v6.13 plus the series "powerpc/ftrace: Fix livepatch module OOL ftrace corruption" (v2,
    2025-09-12, merged for 6.18), by its three commits:

    * 5337609a3148 "powerpc/ftrace: ensure ftrace record ops are always set for NOPs":
      ftrace_init_nop ends with ftrace_rec_set_nop_ops, which (CALL_OPS) writes
      &ftrace_nop_ops into the record's ftrace_ool_stub.ftrace_op.
    * f6b4df37ebfe "powerpc64/modules: correctly iterate over stubs in setup_ftrace_ool_stubs":
      the reservation loop writes every reserved entry's funcdata (superseded here by:)
    * b137312fbf2d "powerpc64/modules: replace stub allocation sentinel with an explicit counter":
      get_stubs_size starts at 0 (no terminator slot); stub_for_addr inspects only the first
      ``mod->arch.stub_count`` entries (WARN_ON(i >= num_stubs) still inside the loop), creates
      the new stub at index stub_count with no capacity check and then counts it;
      setup_ftrace_ool_stubs checks WARN_ON(stub_count + num_stubs > total_stubs), points
      ool_stubs at stubs[stub_count] and advances stub_count by num_stubs.

    Modelled from the v2 patch text only (no 6.18 tree read or compiled); unverified against
    compiled code: that nothing else in 6.14-6.18 changed module_64.c's stub handling.
    """

    name = "v6.18"
    patch_text_only = True
    summary = "6.18: OOL fixes, explicit stub counter, no terminator slot (patch text)"
    stubs_initial_count = 0

    def stub_for_addr(self, mod: ModuleState, addr: int, name: str) -> int:
        """stub_for_addr (6.18): walk i < stub_count, then create at stub_count and count it."""
        size = self.stub_entry_size(mod)
        base, num_stubs = self.stubs_base(mod)
        target: int | None = None
        i = 0
        while i < mod.arch.stub_count:
            if mod.warn_on(i >= num_stubs, "stub_for_addr: WARN_ON(i >= num_stubs)"):
                return 0
            if target is None:
                target = self.func_addr(mod, addr)
            fd = read_u64(mod, base + i * size + FUNCDATA_OFFSET, f"stubs[{i}].funcdata")
            if fd == target:
                return base + i * size
            i += 1
        if not self.create_stub(mod, base + i * size, addr, name):
            return 0
        mod.arch.stub_count += 1
        return base + i * size

    def setup_ftrace_ool_stubs(self, mod: ModuleState) -> int:
        """setup_ftrace_ool_stubs (6.18): reserve num_stubs slots at stub_count; 0/-1."""
        size = self.stub_entry_size(mod)
        stubs, total_stubs = self.stubs_base(mod)
        num_stubs = self.ool_stub_slots(mod)
        if mod.warn_on(mod.arch.stub_count + num_stubs > total_stubs,
                       "setup_ftrace_ool_stubs: WARN_ON(stub_count + num_stubs > total_stubs)"):
            return -1
        mod.arch.ool_stubs = stubs + mod.arch.stub_count * size
        mod.arch.stub_count += num_stubs
        return 0

    def ftrace_rec_set_nop_ops(self, mod: ModuleState, index: int) -> int:
        """ftrace_rec_set_nop_ops (5337609a3148): with CALL_OPS, patch_ulong &ftrace_nop_ops
        into the record's ftrace_op."""
        if not mod.config.ftrace_call_ops:
            return 0
        op = mod.arch.ool_stubs + index * ool.ftrace_ool_stub_size(mod.config)
        return ool.patch_ulong(mod, op, self._vmlinux(mod, "ftrace_nop_ops"),
                               f"ftrace_ool_stub[{index}].ftrace_op")
