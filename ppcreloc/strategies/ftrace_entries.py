"""Traced functions as a CONFIG_PPC_FTRACE_OUT_OF_LINE kernel's build compiles them.

A 6.13+ ppc64 kernel with out-of-line ftrace builds modules with ``-fpatchable-function-entry=1``
(arch/powerpc/Makefile, CC_FLAGS_FTRACE under CONFIG_PPC_FTRACE_OUT_OF_LINE) instead of
``-mprofile-kernel``: a traced function gets one ``nop`` at its local entry point (after the
global-entry prologue) and no ``mflr r0; bl _mcount``; GCC records the nop's address in
``__patchable_function_entries`` (``"awo"``, one ``.8byte`` per function, an ADDR64 against the
function's section symbol once assembled). :func:`livepatch_objects` uses this when called with
``patchable_entries=True``; :func:`compiler_knobs` says when an engine's kernel builds modules
that way, so a campaign draws the objects that kernel's modules are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ppcreloc.elf.builder import ObjectBuilder, SymRef
from ppcreloc.elf.model import SHF_ALLOC, SHF_WRITE
from ppcreloc.records import Config
from ppcreloc.strategies import _ppc as P

SECTION = "__patchable_function_entries"


@dataclass
class PatchableEntries:
    """The traced functions' patchable nops, then their ``__patchable_function_entries``."""

    sites: list[tuple[int, int]] = field(default_factory=list)

    def entry(self, section: int, at: int) -> list[int]:
        """The patchable entry at byte ``at`` of ``section``: one nop, recorded."""
        self.sites.append((section, at))
        return [P.NOP]

    def emit(self, b: ObjectBuilder, rela: Any) -> None:
        """The section (zeroed, 8 bytes a site) and one ADDR64 per site, through ``rela``
        (the emitter's ``rela(target, offset, sym, type, addend, kind)``)."""
        if not self.sites:
            return
        idx = b.add_section(SECTION, bytes(8 * len(self.sites)), flags=SHF_ALLOC | SHF_WRITE,
                            addralign=8)
        for k, (sec, at) in enumerate(self.sites):
            sym: SymRef = b.section_symbol(sec)
            rela(idx, 8 * k, sym, P.R_PPC64_ADDR64, at, "section")


def compiler_knobs(engine: Any, config: Config | None = None) -> dict[str, Any]:
    """``livepatch_objects`` knobs for the modules ``engine``'s kernel builds: patchable entries
    when its profile models CONFIG_PPC_FTRACE_OUT_OF_LINE and ``config`` turns it on."""
    profile = getattr(engine, "profile", None)
    ool = getattr(profile, "builds_patchable_entries", None)
    return {"patchable_entries": bool(ool(config or Config()))} if callable(ool) else {}
