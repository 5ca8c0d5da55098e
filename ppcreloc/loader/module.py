"""The state of one loaded module and the arch interface the generic loader calls.

:class:`ModuleState` is what the kernel spreads over ``struct module``, its ``mod_arch_specific``
(arch/powerpc/include/asm/module.h) and the section headers the arch code edits. The generic
loader (kernel/module/main.c order) and the livepatch driver (kernel/livepatch/core.c) work on it
and call an :class:`ArchBackend` (arch/powerpc/kernel/module_64.c) for the arch steps. A profile is
an ArchBackend.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from ppcreloc.elf.model import ByteOrder, ElfObject
from ppcreloc.loader.memory import ModuleMemory
from ppcreloc.records import Config, KernelMessage, World


@dataclass
class ModArch:
    """struct mod_arch_specific, ppc64 (asm/module.h, 6.1 to 6.18)."""

    stubs_section: int = 0
    toc_section: int = 0
    toc_fixed: bool = False
    tramp: int = 0
    tramp_regs: int = 0
    #: 6.18's explicit stub counter (b137312fbf2d); unused by the sentinel-scheme profiles
    stub_count: int = 0
    #: CONFIG_PPC_FTRACE_OUT_OF_LINE (6.13+, eec37961a56a): the address of the reserved
    #: ftrace_ool_stub[] block, how many entries get_stubs_size counted and how many
    #: ftrace_init_ool_stub has handed out
    ool_stubs: int = 0
    ool_stub_count: int = 0
    ool_stub_index: int = 0


@dataclass
class ModuleState:
    """A module being loaded or loaded: its (sorted, resolved) ELF view, memory and log.

    ``obj`` is the module's own copy: module_frob_arch_sections sorts its RELA arrays in place
    and symbol resolution writes st_value into ``obj.symbols``; ``obj.sections[i].addr`` is sh_addr
    after placement.
    """

    name: str
    obj: ElfObject
    config: Config
    world: World
    memory: ModuleMemory
    arch: ModArch = field(default_factory=ModArch)
    messages: list[KernelMessage] = field(default_factory=list)
    warns: int = 0
    #: each WARN that fired, as ``function: WARN_ON(condition)`` (module_64.c's own spelling)
    warn_sites: list[str] = field(default_factory=list)
    #: struct klp_modinfo once livepatch first needs it (ppcreloc.loader.livepatch.klp_modinfo)
    klp_info: Any = None
    #: the model's per-module state that struct module has no field for: memoised values that
    #: cannot change once the module is placed (the `.stubs` funcdata view the stub walk
    #: searches) and a proposal profile's bookkeeping (full-undo's journal)
    memo: dict[str, Any] = field(default_factory=dict)
    #: the configured kernel's byte order (Config.big_endian), read by every load and store;
    #: kept here because deriving it per access cost full-undo's engine 3-5% (compiled)
    byteorder: ByteOrder = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.byteorder = "big" if self.config.big_endian else "little"

    def pr(self, level: str, fmt: str, *args: int | str) -> None:
        """printk / pr_err / pr_debug and friends: record the format string and arguments."""
        self.messages.append(tuple.__new__(KernelMessage, (level, fmt, args)))

    def warn_on(self, cond: bool, site: str = "WARN_ON") -> bool:
        """WARN_ON(cond): count a warning when ``cond`` holds and return it, as the macro does;
        ``site`` names the function and condition (``stub_for_addr: WARN_ON(i >= num_stubs)``)."""
        if cond:
            self.warns += 1
            self.warn_sites.append(site)
        return cond


class ArchBackend(Protocol):
    """The module_64.c entry points, called by the generic loader in the kernel's order."""

    @property
    def name(self) -> str:
        """The engine's name (a profile's class attribute, or kernel:PATH's)."""
        ...

    def module_frob_arch_sections(self, mod: ModuleState) -> int:
        """Sort RELA sections, dedotify, find .toc/.stubs and size .stubs; 0 or -errno."""
        ...

    def module_finalize_ftrace(self, mod: ModuleState) -> int:
        """Allocate the ftrace_caller / ftrace_regs_caller stubs; 0 or -errno."""
        ...

    def apply_relocate_add(self, mod: ModuleState, symindex: int, relsec: int) -> int:
        """Apply one RELA section; 0 or -errno (first failure aborts, no rollback)."""
        ...

    def clear_relocate_add(self, mod: ModuleState, symindex: int, relsec: int) -> None:
        """Undo one livepatch RELA section on klp_module_going (a no-op where none exists)."""
        ...
