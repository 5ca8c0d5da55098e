"""The v6.18 profile: the explicit stub counter that replaced the zero-funcdata sentinel."""

from __future__ import annotations

from ppcreloc.arch.access import read_u64
from ppcreloc.arch.stubs import FUNCDATA_OFFSET
from ppcreloc.loader.module import ModuleState
from ppcreloc.profiles.v6_12 import V6_12


class V6_18(V6_12):
    """v6.12 plus b137312fbf2d "powerpc64/modules: replace stub allocation sentinel with an
    explicit counter" (v2 of 2025-09-12, merged for 6.18).

    get_stubs_size starts at 0 (no terminator slot); stub_for_addr inspects only the first
    ``mod.arch.stub_count`` entries (WARN_ON(i >= num_stubs) still inside the loop), creates the
    new stub at index stub_count with no capacity check and then increments the counter. Modelled
    from the patch text only (no 6.18 tree read); CONFIG_PPC_FTRACE_OUT_OF_LINE is taken as off,
    and no other 6.13-6.18 change is modelled.
    """

    name = "v6.18"
    summary = "6.18: explicit stub counter, no terminator slot (patch text only)"
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
