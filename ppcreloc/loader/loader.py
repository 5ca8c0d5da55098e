"""The generic module loader: kernel/module/main.c load_module's relocation-relevant sequence.

Order (6.1 and 6.12): rewrite_section_headers (drop SHF_ALLOC from __versions and .modinfo) ->
layout_and_allocate (module_frob_arch_sections, module_enforce_rwx_sections, the percpu section
set aside, layout and move_module: :mod:`ppcreloc.loader.layout`) -> simplify_symbols ->
apply_relocations -> post_relocation (module_finalize -> module_finalize_ftrace, arch/powerpc/kernel/module.c).
module_finalize_ftrace therefore runs *after* the load-time relocations: the ftrace stubs take
the `.stubs` slots after every plain and ``.klp.rela.vmlinux.*`` call stub. After a successful
load, :func:`module_enable_ro` (complete_formation, then do_init_module for ro_after_init) makes
text, rodata and ro_after_init read-only when ``Config.strict_module_rwx`` is on: every later
(klp_module_coming/going) plain store there faults, as the kernel oopses (kernel-facts 4.9).
A "coming" step is a target module loaded after the livepatch module's init, so ro_after_init
is read-only by then; klp_enable_patch for targets already loaded (run from the patch module's
init, when only text and rodata are read-only) is not a step of its own.

Checked up front: the ELF header (elf_validity_ehdr) and that a symbol table exists; after frob,
module_enforce_rwx_sections. Not modelled: signature, modinfo and version checks, the
section-header validity checks and feature fixups.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TypeVar

from ppcreloc.bits import M64
from ppcreloc.elf.model import (
    EM_PPC64,
    ET_REL,
    SHF_ALLOC,
    SHF_EXECINSTR,
    SHF_RELA_LIVEPATCH,
    SHF_WRITE,
    SHN_ABS,
    SHN_COMMON,
    SHN_LIVEPATCH,
    SHN_UNDEF,
    SHT_RELA,
    STB_WEAK,
    ElfObject,
)
from ppcreloc.errno import ENOENT, ENOEXEC
from ppcreloc.loader.layout import (
    AFTER_STUBS,
    MOD_MEM_ALIGN,
    SHF_RO_AFTER_INIT,
    ModuleAllocFailed,
    place_sections,
    section_size,
)
from ppcreloc.loader.livepatch import klp_apply_section_relocs
from ppcreloc.loader.memory import KernelFault, ModuleMemory
from ppcreloc.loader.module import ArchBackend, ModuleState
from ppcreloc.records import Config, Layout, Placement, RelocRef, World

SHT_REL = 9  # include/uapi/linux/elf.h
ENOMEM = 12
#: sections rewrite_section_headers keeps out of module memory (info->index.vers / .info)
UNKEPT_SECTIONS = ("__versions", ".modinfo")
PERCPU_SECTION = ".data..percpu"
_T = TypeVar("_T")


@dataclass
class LoadResult:
    """What load_module produced: the module (also after a failure), its rc and placement."""

    mod: ModuleState
    rc: int
    placements: list[Placement] = field(default_factory=list)
    failed_reloc: RelocRef | None = None
    #: the kernel function that failed ("" on success)
    failed_in: str = ""
    pcpu_section: int = 0
    #: the fault that ended the load (the kernel would have oopsed), None when it did not fault
    fault: KernelFault | None = None


def new_module(
    obj: ElfObject, world: World, config: Config, name: str
) -> ModuleState:
    """The ModuleState of a fresh load: the module's own copy of ``obj`` and empty memory."""
    return ModuleState(name, copy_object(obj), config, world, ModuleMemory())


def copy_object(obj: ElfObject) -> ElfObject:
    """What ``obj.clone()`` gives, faster: new Section/Symbol objects and RELA arrays.

    Frob sorts the RELA arrays (moving entries within the list, ppcreloc.arch.sort) and
    resolution writes st_value in the copy; the caller's object is never touched. Section data
    is immutable ``bytes`` and nothing writes a Rela, so both are shared.
    """
    return dataclasses.replace(
        obj,
        sections=[_shallow(s) for s in obj.sections],
        symbols=[_shallow(s) for s in obj.symbols],
        relocs={k: list(v) for k, v in obj.relocs.items()},
    )


def _shallow(item: _T) -> _T:
    """``copy.copy`` of a plain (dict-backed) dataclass instance, without the reduce protocol."""
    new = object.__new__(type(item))
    new.__dict__.update(item.__dict__)
    return new


def elf_validity_ehdr(backend: ArchBackend, mod: ModuleState) -> int:
    """elf_validity_ehdr (6.12; 6.1 has the same checks inline): ET_REL, EM_PPC64, and the arch
    hook module_elf_check_arch (ABI level in e_flags, 6.12 only) when the backend has one."""
    obj = mod.obj
    if obj.type != ET_REL:
        mod.pr("err", "Invalid ELF header type: %u != %u\n", obj.type, ET_REL)
        return -ENOEXEC
    if obj.machine != EM_PPC64:
        mod.pr("err", "Invalid architecture in ELF header: %u\n", obj.machine)
        return -ENOEXEC
    check = getattr(backend, "module_elf_check_arch", None)
    if check is not None and not check(mod):
        mod.pr("err", "Invalid module architecture in ELF header: %u\n", obj.machine)
        return -ENOEXEC
    return 0


def rewrite_section_headers(mod: ModuleState) -> None:
    """Drop SHF_ALLOC from the first __versions and .modinfo sections (find_any_sec)."""
    for name in UNKEPT_SECTIONS:
        idx = mod.obj.section_index(name)
        if idx is not None:
            mod.obj.sections[idx].flags &= ~SHF_ALLOC


def module_enforce_rwx_sections(mod: ModuleState) -> int:
    """module_enforce_rwx_sections (kernel/module/strict_rwx.c, 6.1 and 6.12): with
    CONFIG_STRICT_MODULE_RWX (Debian ppc64el: y) no section may be both writable and executable.

    Reads ``Config.strict_module_rwx`` when the configuration has that knob (default on).
    """
    if not getattr(mod.config, "strict_module_rwx", True):
        return 0
    wx = SHF_WRITE | SHF_EXECINSTR
    for i, sec in enumerate(mod.obj.sections):
        if sec.flags & wx == wx:
            mod.pr("err", "%s: section %s (index %d) has invalid WRITE|EXEC flags\n", mod.name,
                   sec.name, i)
            return -ENOEXEC
    return 0


def set_aside_percpu(mod: ModuleState) -> int:
    """layout_and_allocate: the SHF_ALLOC .data..percpu (find_pcpusec) loses SHF_ALLOC; its index."""
    for i, sec in enumerate(mod.obj.sections):
        if i and sec.flags & SHF_ALLOC and sec.name == PERCPU_SECTION:
            sec.flags &= ~SHF_ALLOC
            return i
    return 0


def simplify_symbols(mod: ModuleState, pcpu: int) -> int:
    """simplify_symbols: resolve SHN_UNDEF, relocate defined symbols; 0 or the last -errno.

    Every symbol is visited even after an error (the kernel's loop only records ``ret``).
    """
    obj = mod.obj
    world = mod.world
    nsec = len(obj.sections)
    percpu = world.percpu_base(mod.name) if pcpu else 0
    ret = 0
    for sym in obj.symbols[1:]:
        shndx = sym.shndx
        if shndx == SHN_COMMON:
            if sym.name.startswith("__gnu_lto"):
                continue
            mod.pr("warn", "%s: please compile with -fno-common\n", mod.name)
            ret = -ENOEXEC
        elif shndx in (SHN_ABS, SHN_LIVEPATCH):
            continue
        elif shndx == SHN_UNDEF:
            addr = world.resolve_export(sym.name)
            if addr is not None:
                sym.value = addr
            elif sym.bind != STB_WEAK:
                ret = -ENOENT
                mod.pr("warn", "%s: Unknown symbol %s (err %d)\n", mod.name, sym.name, ret)
        elif shndx >= nsec:
            mod.pr("err", "%s: Symbol %s has an invalid section index %u (max %u)\n", mod.name,
                   sym.name, shndx, nsec - 1)
            ret = -ENOEXEC
        else:
            base = percpu if shndx == pcpu else obj.sections[shndx].addr
            sym.value = (sym.value + base) & M64
    return ret


def apply_relocations(backend: ArchBackend, mod: ModuleState) -> int:
    """apply_relocations: every relocation section whose target is SHF_ALLOC, in section order.

    SHF_RELA_LIVEPATCH sections go to klp_apply_section_relocs with objname NULL (so only
    ``.klp.rela.vmlinux.*`` is applied now); SHT_REL gets ppc64's "REL relocation unsupported"
    (moduleloader.h, no CONFIG_MODULES_USE_ELF_REL); SHT_RELA goes to apply_relocate_add. The
    first error stops the loop.
    """
    obj = mod.obj
    symndx = obj.symtab_index or 0
    n = len(obj.sections)
    err = 0
    for i in range(1, n):
        sec = obj.sections[i]
        infosec = sec.info
        if infosec >= n or not obj.sections[infosec].flags & SHF_ALLOC:
            continue
        mod.memory.forget_reloc()
        if sec.flags & SHF_RELA_LIVEPATCH:
            err = klp_apply_section_relocs(backend, mod, i, None)
        elif sec.type == SHT_REL:
            mod.pr("err", "module %s: REL relocation unsupported\n", mod.name)
            err = -ENOEXEC
        elif sec.type == SHT_RELA:
            err = backend.apply_relocate_add(mod, symndx, i)
        if err < 0:
            break
    return err


def load_module(
    backend: ArchBackend,
    obj: ElfObject,
    world: World,
    layout: Layout,
    config: Config,
    name: str = "livepatch_test",
) -> LoadResult:
    """Load ``obj`` as module ``name``: frob, place, resolve, apply, finalize (in main.c order),
    then module_enable_ro. A :class:`KernelFault` (the kernel engine's C code can fault during
    the load) ends it with rc 0 and ``fault`` set."""
    mod = new_module(obj, world, config, name)
    placements: list[Placement] = []
    try:
        return _load(backend, mod, layout, placements)
    except KernelFault as f:
        return LoadResult(mod, 0, placements, f.reloc or mod.memory.last_reloc, "fault", fault=f)


def _load(
    backend: ArchBackend, mod: ModuleState, layout: Layout, placements: list[Placement]
) -> LoadResult:
    """load_module's steps on a fresh ``mod``; fills ``placements`` once sections are placed."""
    memory = mod.memory
    name = mod.name
    rc = elf_validity_ehdr(backend, mod)
    if rc:
        return LoadResult(mod, rc, failed_in="elf_validity_ehdr")
    if mod.obj.symtab_index is None:
        mod.pr("warn", "%s: module has no symbols (stripped?)\n", name)
        return LoadResult(mod, -ENOEXEC, failed_in="elf_validity_cache_copy")
    rewrite_section_headers(mod)
    rc = backend.module_frob_arch_sections(mod)
    if rc < 0:
        return LoadResult(mod, rc, failed_in="module_frob_arch_sections")
    rc = module_enforce_rwx_sections(mod)
    if rc < 0:
        return LoadResult(mod, rc, failed_in="module_enforce_rwx_sections")
    pcpu = set_aside_percpu(mod)
    try:
        placements += place_sections(mod.obj, layout, memory)
    except ModuleAllocFailed:
        return LoadResult(mod, -ENOMEM, failed_in="move_module", pcpu_section=pcpu)
    rc = simplify_symbols(mod, pcpu)
    if rc < 0:
        return LoadResult(mod, rc, placements, failed_in="simplify_symbols", pcpu_section=pcpu)
    memory.forget_reloc()
    rc = apply_relocations(backend, mod)
    if rc < 0:
        return LoadResult(mod, rc, placements, memory.last_reloc, "apply_relocations", pcpu)
    rc = backend.module_finalize_ftrace(mod)
    if rc:
        return LoadResult(mod, rc, placements, failed_in="module_finalize_ftrace",
                          pcpu_section=pcpu)
    if getattr(mod.config, "strict_module_rwx", True):
        module_enable_ro(mod)
    return LoadResult(mod, 0, placements, pcpu_section=pcpu)


def read_only_sections(mod: ModuleState) -> list[int]:
    """Indexes of the placed sections module_enable_ro covers: executable (text), not writable
    (rodata) or SHF_RO_AFTER_INIT (ro_after_init) — __layout_sections' first three kinds."""
    out = []
    for i, sec in enumerate(mod.obj.sections):
        if not i or not sec.flags & SHF_ALLOC or not sec.addr:
            continue
        if sec.flags & (SHF_EXECINSTR | SHF_RO_AFTER_INIT) or not sec.flags & SHF_WRITE:
            out.append(i)
    return out


def read_only_ranges(mod: ModuleState, page: int = MOD_MEM_ALIGN) -> list[tuple[int, int]]:
    """The address ranges module_enable_ro protects, in whole ``page``-sized pages.

    6.1 module_enable_ro(mod, after_init) and 6.12 module_enable_text_rox +
    module_enable_rodata_ro(mod, after_init) (kernel/module/strict_rwx.c) set whole pages of
    the text, rodata and (after do_init_module) ro_after_init memory read-only; the kernel
    page-aligns each kind, the model's layout aligns them to MOD_MEM_ALIGN (64 KiB, ppc64el's
    PAGE_SIZE). Where a layout pins sections so that a page holds writable data too, the page
    stays writable. The memory after `.stubs` is text (the rest of the text allocation).
    """
    obj = mod.obj
    ro_idx = set(read_only_sections(mod))
    ro: set[int] = set()
    rw: set[int] = set()
    for i, sec in enumerate(obj.sections):
        if not i or not sec.flags & SHF_ALLOC or not sec.addr:
            continue
        end = sec.addr + max(sec.sh_size, 1)
        (ro if i in ro_idx else rw).update(range(sec.addr // page, (end - 1) // page + 1))
    if obj.section_index(".stubs") is not None:
        for r in mod.memory.regions:
            if r.name == AFTER_STUBS and r.buf:
                ro.update(range(r.addr // page, (r.end - 1) // page + 1))
    pages = sorted(ro - rw)
    out: list[tuple[int, int]] = []
    for p in pages:
        if out and out[-1][1] == p * page:
            out[-1] = (out[-1][0], (p + 1) * page)
        else:
            out.append((p * page, (p + 1) * page))
    return out


def module_enable_ro(mod: ModuleState) -> None:
    """module_enable_ro after the load and after init (see :func:`read_only_ranges`): flag the
    covered regions and protect their pages in the module's memory."""
    ro_idx = set(read_only_sections(mod))
    for r in mod.memory.regions:
        r.read_only = r.index in ro_idx or r.name == AFTER_STUBS
    mod.memory.protect(read_only_ranges(mod))


def stubs_extent(mod: ModuleState) -> tuple[int, int]:
    """(address, size) of `.stubs` after frob and placement; (0, 0) when there is none."""
    idx = mod.arch.stubs_section
    if not idx or idx >= len(mod.obj.sections):
        return 0, 0
    return mod.obj.sections[idx].addr, section_size(mod.obj, idx)
