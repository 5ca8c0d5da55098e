"""A minimal loader for driving the arch code directly (tests, benchmarks, experiments).

Not the project's loader (ppcreloc.loader does placement, symbol resolution and livepatch): this
only runs module_frob_arch_sections, places SHF_ALLOC sections one after another from ``base``
with `.stubs` last (so ``after_stubs`` can follow it), and runs module_finalize_ftrace. Symbol
values are whatever the object says; tests set them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ppcreloc.elf.model import SHF_ALLOC, SHT_NOBITS, ElfObject
from ppcreloc.loader.memory import ModuleMemory, Region
from ppcreloc.loader.module import ArchBackend, ModuleState
from ppcreloc.loader.world import KERNEL_TOC as KERNEL_TOC
from ppcreloc.records import Config

FTRACE_CALLER = 0xC000_0000_0008_1000
FTRACE_REGS_CALLER = 0xC000_0000_0008_2000


@dataclass
class TinyWorld:
    """The three world methods the arch code calls, with fixed kernel addresses."""

    kernel_toc: int = KERNEL_TOC
    vmlinux: dict[str, int] = field(
        default_factory=lambda: {"ftrace_caller": FTRACE_CALLER,
                                 "ftrace_regs_caller": FTRACE_REGS_CALLER}
    )
    descs: dict[int, tuple[int, int, int]] = field(default_factory=dict)

    def kernel_toc_addr(self) -> int:
        """The kernel's TOC pointer (r2 in the kernel)."""
        return self.kernel_toc

    def vmlinux_symbol(self, name: str) -> int | None:
        """A vmlinux symbol's address, or None."""
        return self.vmlinux.get(name)

    def read_func_desc(self, addr: int) -> tuple[int, int, int]:
        """An ELFv1 function descriptor (entry, toc, env); unknown ones describe themselves."""
        return self.descs.get(addr, (addr, 0, 0))


def place(mod: ModuleState, base: int, after_stubs: bytes) -> None:
    """Give every SHF_ALLOC section an address and a memory region (.stubs last, then the tail)."""
    obj = mod.obj
    stubs = mod.arch.stubs_section
    order = [i for i, s in enumerate(obj.sections) if i and s.flags & SHF_ALLOC and i != stubs]
    if stubs:
        order.append(stubs)
    addr = base
    for i in order:
        sec = obj.sections[i]
        align = max(sec.addralign, 1)
        addr = (addr + align - 1) // align * align
        sec.addr = addr
        data = bytes(sec.sh_size) if sec.type == SHT_NOBITS else sec.data.ljust(sec.sh_size, b"\0")
        mod.memory.add_region(Region(sec.name, addr, bytearray(data), i))
        addr += sec.sh_size
    if stubs and after_stubs:
        mod.memory.add_region(Region("after .stubs", addr, bytearray(after_stubs), None, False))


def load(
    profile: ArchBackend,
    obj: ElfObject,
    *,
    config: Config | None = None,
    world: TinyWorld | None = None,
    base: int = 0xC008_0000_0010_0000,
    after_stubs: bytes = bytes(64),
    name: str = "testmod",
) -> tuple[ModuleState, int]:
    """frob, place, finalize_ftrace; returns the module and the first nonzero rc (or 0)."""
    mod = ModuleState(name, obj.clone(), config or Config(), world or TinyWorld(),  # type: ignore[arg-type]
                      ModuleMemory())
    rc = profile.module_frob_arch_sections(mod)
    if rc:
        return mod, rc
    place(mod, base, after_stubs)
    return mod, profile.module_finalize_ftrace(mod)


def apply_all(profile: ArchBackend, mod: ModuleState) -> int:
    """apply_relocate_add on every RELA section in section order; the first nonzero rc."""
    symindex = mod.obj.symtab_index or 0
    for relsec in mod.obj.rela_sections():
        rc = profile.apply_relocate_add(mod, symindex, relsec)
        if rc:
            return rc
    return 0
