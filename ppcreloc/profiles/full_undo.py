"""The full-undo profile: a proposal where clear_relocate_add undoes everything apply did."""

from __future__ import annotations

from dataclasses import dataclass, field

from ppcreloc.arch.access import patch_u32, read_u64, write_bytes
from ppcreloc.arch.stubs import FUNCDATA_OFFSET, MAGIC_OFFSET
from ppcreloc.loader.module import ModuleState
from ppcreloc.profiles.v6_12 import V6_12
from ppcreloc.records import Write


@dataclass
class UndoState:
    """What the proposal would keep in mod_arch_specific: a write journal and slot ownership."""

    #: relsec -> the writes its applies made outside `.stubs`, in order
    journal: dict[int, list[Write]] = field(default_factory=dict)
    #: relsec -> the stub slots its applies used (created or reused)
    slots: dict[int, set[int]] = field(default_factory=dict)
    #: slot -> number of users (relsecs, or the ftrace trampolines, which are never released)
    refs: dict[int, int] = field(default_factory=dict)
    #: released slots still holding a stub, inside the walk (reused before the terminator)
    free: set[int] = field(default_factory=set)


class FullUndo(V6_12):
    """v6.12 plus a clear_relocate_add that restores every byte apply changed (a proposal).

    apply_relocate_add journals, per RELA section, the writes it makes outside `.stubs`; clear
    restores their old bytes in reverse order (same primitive) and releases the stub slots the
    section used. A slot is reference-counted (a stub found by another section stays alive).
    Freed slots below the last live one are kept in a free set so the sentinel walk still
    reaches every live stub; stub_for_addr skips them when matching and reuses the first one
    before the terminator; freed slots at the end of the walk are zeroed (funcdata and magic, by
    patch_u32) so the array is re-terminated right after the last live stub.
    """

    name = "full-undo"
    summary = "proposal: clear restores every applied byte and releases stub slots"

    def __init__(self) -> None:
        self._current: int | None = None  # relsec being applied

    def state(self, mod: ModuleState) -> UndoState:
        """This module's undo bookkeeping, kept with the module (created on first use)."""
        st = mod.memo.get("full_undo")
        if not isinstance(st, UndoState):
            st = mod.memo["full_undo"] = UndoState()
        return st

    def _stub_area(self, mod: ModuleState) -> tuple[int, int]:
        base, _ = self.stubs_base(mod)
        return base, base + mod.obj.sections[mod.arch.stubs_section].sh_size

    def apply_relocate_add(self, mod: ModuleState, symindex: int, relsec: int) -> int:
        """apply_relocate_add of v6.12, journaling its writes and stub slots for clear."""
        st = self.state(mod)
        start = len(mod.memory.writes)
        self._current = relsec
        try:
            rc = super().apply_relocate_add(mod, symindex, relsec)
        finally:
            self._current = None
        lo, hi = self._stub_area(mod)
        st.journal.setdefault(relsec, []).extend(
            w for w in mod.memory.writes[start:] if not lo <= w.addr < hi
        )
        return rc

    def _use(self, st: UndoState, slot: int) -> None:
        relsec = self._current
        if relsec is None:  # module_finalize_ftrace: pinned for the module's lifetime
            st.refs[slot] = st.refs.get(slot, 0) + 1
            return
        used = st.slots.setdefault(relsec, set())
        if slot not in used:
            used.add(slot)
            st.refs[slot] = st.refs.get(slot, 0) + 1

    def stub_for_addr(self, mod: ModuleState, addr: int, name: str) -> int:
        """stub_for_addr of v6.12 that skips released slots when matching and creates the new
        stub in the first released slot before the terminator, if there is one."""
        st = self.state(mod)
        size = self.stub_entry_size(mod)
        stubs, num_stubs = self.stubs_base(mod)
        reuse: int | None = None
        i = 0
        while funcdata := read_u64(mod, stubs + i * size + FUNCDATA_OFFSET, f"stubs[{i}].funcdata"):
            if mod.warn_on(i >= num_stubs, "stub_for_addr: WARN_ON(i >= num_stubs)"):
                return 0
            if i in st.free:
                reuse = i if reuse is None else reuse
            elif funcdata == self.func_addr(mod, addr):
                self._use(st, i)
                return stubs + i * size
            i += 1
        slot = reuse if reuse is not None else i
        if not self.create_stub(mod, stubs + slot * size, addr, name):
            return 0
        st.free.discard(slot)
        self._use(st, slot)
        return stubs + slot * size

    def clear_relocate_add(self, mod: ModuleState, symindex: int, relsec: int) -> None:
        """Restore the section's journaled writes in reverse, then release its stub slots."""
        st = self.state(mod)
        for w in reversed(st.journal.pop(relsec, [])):
            write_bytes(mod, w.addr, w.old, w.primitive, f"undo {w.what}")
        for slot in sorted(st.slots.pop(relsec, set())):
            st.refs[slot] -= 1
            if not st.refs[slot]:
                del st.refs[slot]
                st.free.add(slot)
        self._retruncate(mod, st)

    def _retruncate(self, mod: ModuleState, st: UndoState) -> None:
        """Zero released slots at the end of the walk (funcdata and magic, by patch_u32) so it
        stops after the last live stub."""
        size = self.stub_entry_size(mod)
        stubs, num_stubs = self.stubs_base(mod)
        end = 0
        while end < num_stubs and read_u64(mod, stubs + end * size + FUNCDATA_OFFSET,
                                           f"stubs[{end}].funcdata"):
            end += 1
        while end and (end - 1) in st.free:
            end -= 1
            for off in range(MAGIC_OFFSET, size, 4):
                patch_u32(mod, stubs + end * size + off, 0, "release stub")
            st.free.discard(end)
