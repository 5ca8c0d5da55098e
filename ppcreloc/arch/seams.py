"""The seams the arch mixins call on each other and on the profile.

FrobMixin, StubsMixin and RelocateMixin are mixins over :class:`ArchSeams`: each may call
any seam, and a profile class (ppcreloc.profiles.base.Base and its overrides) combines them. A
seam a mixin implements (``my_r2`` in RelocateMixin, ``stub_for_addr`` in StubsMixin, ...)
comes before ArchSeams in the profile's method order, so the bodies here only name the seam;
they run only on a class that misses one, and say so.
"""

from __future__ import annotations

from ppcreloc.elf.model import Rela
from ppcreloc.loader.module import ModuleState


class ArchSeams:
    """The module_64.c functions and build options one part of the arch model asks another."""

    def _missing(self, seam: str) -> NotImplementedError:
        return NotImplementedError(f"{type(self).__name__} does not provide {seam}")

    def pcrel(self, mod: ModuleState) -> bool:
        """Whether the modelled kernel is a CONFIG_PPC_KERNEL_PCREL build (the profile)."""
        raise self._missing("pcrel")

    def sort_relocs(self, rela: list[Rela]) -> None:
        """lib/sort.c sort() of one RELA array with relacmp (the profile)."""
        raise self._missing("sort_relocs")

    def stub_entry_ok(self, mod: ModuleState, entry: int) -> bool:
        """create_stub's entry alignment check, 6.4+ (the profile)."""
        raise self._missing("stub_entry_ok")

    def stub_entry_size(self, mod: ModuleState) -> int:
        """sizeof(struct ppc64_stub_entry) (StubsMixin)."""
        raise self._missing("stub_entry_size")

    def stub_for_addr(self, mod: ModuleState, addr: int, name: str) -> int:
        """stub_for_addr (StubsMixin)."""
        raise self._missing("stub_for_addr")

    def got_for_addr(self, mod: ModuleState, got_section: int, addr: int) -> int:
        """got_for_addr, 6.4+ PCREL (StubsMixin)."""
        raise self._missing("got_for_addr")

    def is_mprofile_ftrace_call(self, mod: ModuleState, name: str) -> bool:
        """is_mprofile_ftrace_call (StubsMixin)."""
        raise self._missing("is_mprofile_ftrace_call")

    def my_r2(self, mod: ModuleState) -> int:
        """my_r2: the module's TOC pointer (RelocateMixin)."""
        raise self._missing("my_r2")
