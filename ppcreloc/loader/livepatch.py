"""The livepatch driver: kernel/livepatch/core.c's relocation paths, for one patch module.

Models (6.1 and 6.12 unless noted): the sscanf parsing of ``.klp.rela.<obj>.<sec>`` and
``.klp.sym.<obj>.<name>,<pos>`` names, klp_find_object_symbol (sympos), klp_resolve_symbols,
klp_write_section_relocs / klp_apply_section_relocs, klp_write_object_relocs and the
klp_module_coming / klp_module_going paths that re-apply and clear a target module's
relocations. Not modelled: struct klp_func (old_func lookups, ftrace patching), callbacks,
transitions, and patches other than the one module under test.

Messages record the format string as written in core.c, without pr_fmt's "livepatch: " prefix
(module_64.c's messages are recorded the same way).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from ppcreloc.bits import M64
from ppcreloc.elf.model import SHF_RELA_LIVEPATCH, SHN_LIVEPATCH, Symbol
from ppcreloc.errno import EINVAL
from ppcreloc.loader.memory import reloc_ref
from ppcreloc.loader.module import ArchBackend, ModuleState

SYM_SIZE = 24
#: MODULE_NAME_LEN - 1 and KSYM_NAME_LEN - 1: the sscanf field widths core.c hard-codes
OBJNAME_WIDTH = 55
SYMNAME_WIDTH = 511
VMLINUX = "vmlinux"
#: isspace() in lib/ctype.c: \t \n \v \f \r, space and Latin-1 NBSP
_SPACES = frozenset(b"\t\n\v\f\r \xa0")


# -- sscanf, as lib/vsprintf.c vsscanf does it for the formats core.c uses ---------------------
def _cstr(name: str) -> bytes:
    """The bytes strtab + st_name points at, up to the NUL."""
    return name.encode("utf-8", "surrogateescape").split(b"\0", 1)[0]


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _literal(s: bytes, pos: int, lit: bytes) -> int | None:
    """Match ``lit`` exactly (vsscanf: non-conversion characters must match); new pos or None."""
    if s[pos : pos + len(lit)] == lit:
        return pos + len(lit)
    return None


def _scan_set(s: bytes, pos: int, width: int, stop: int) -> tuple[bytes, int] | None:
    """``%<width>[^<stop>]``: 1..width bytes other than ``stop`` and NUL; None when empty."""
    end = pos
    while end < len(s) and s[end] != stop and end - pos < width:
        end += 1
    if end == pos:
        return None
    return s[pos:end], end


def _scan_lu(s: bytes, pos: int) -> int | None:
    """``%lu``: skip spaces, then decimal digits, wrapping mod 2**64; None without a digit."""
    while pos < len(s) and s[pos] in _SPACES:
        pos += 1
    if pos >= len(s) or not 0x30 <= s[pos] <= 0x39:
        return None
    value = 0
    while pos < len(s) and 0x30 <= s[pos] <= 0x39:
        value = (value * 10 + s[pos] - 0x30) & M64
        pos += 1
    return value


@lru_cache(maxsize=4096)
def scan_klp_rela_name(name: str) -> tuple[int, str | None]:
    """sscanf(name, ".klp.rela.%55[^.]", sec_objname): (count, objname).

    An objname longer than 55 bytes is silently truncated (count is still 1). Pure, so cached.
    """
    s = _cstr(name)
    pos = _literal(s, 0, b".klp.rela.")
    if pos is None:
        return 0, None
    got = _scan_set(s, pos, OBJNAME_WIDTH, ord("."))
    if got is None:
        return 0, None
    return 1, _text(got[0])


@lru_cache(maxsize=4096)
def scan_klp_sym_name(name: str) -> tuple[int, str | None, str | None, int | None]:
    """sscanf(name, ".klp.sym.%55[^.].%511[^,],%lu", ...): (count, objname, symname, sympos).

    Over-long fields stop the scan at the next literal (count 1 or 2); text after the number is
    ignored; the number skips leading spaces, takes no sign and wraps modulo 2**64. A pure
    function of ``name`` (an immutable tuple back), so results are cached: every coming step
    re-resolves the same names.
    """
    s = _cstr(name)
    pos = _literal(s, 0, b".klp.sym.")
    if pos is None:
        return 0, None, None, None
    got = _scan_set(s, pos, OBJNAME_WIDTH, ord("."))
    if got is None:
        return 0, None, None, None
    objname, pos = _text(got[0]), got[1]
    pos = _literal(s, pos, b".")
    if pos is None:
        return 1, objname, None, None
    got = _scan_set(s, pos, SYMNAME_WIDTH, ord(","))
    if got is None:
        return 1, objname, None, None
    symname, pos = _text(got[0]), got[1]
    pos = _literal(s, pos, b",")
    if pos is None:
        return 2, objname, symname, None
    sympos = _scan_lu(s, pos)
    if sympos is None:
        return 2, objname, symname, None
    return 3, objname, symname, sympos


def klp_target_objects(mod: ModuleState) -> list[str]:
    """The objnames of the module's ``.klp.rela.<obj>.*`` sections other than vmlinux, in order."""
    out: list[str] = []
    for sec in mod.obj.sections[1:]:
        if sec.flags & SHF_RELA_LIVEPATCH:
            cnt, objname = scan_klp_rela_name(sec.name)
            if cnt == 1 and objname is not None and objname != VMLINUX and objname not in out:
                out.append(objname)
    return out


# -- symbol resolution -------------------------------------------------------------------------
def klp_find_object_symbol(
    mod: ModuleState, objname: str | None, name: str, sympos: int, generation: int
) -> tuple[int, int]:
    """klp_find_object_symbol: (0, address) or (-EINVAL, 0), with the kernel's messages.

    Counts kallsyms matches of ``name`` in ``objname`` (None: vmlinux) and stops at the
    ``sympos``-th one, or at the second one when sympos is 0 (which demands uniqueness). A match
    at address 0 counts, but "found" means a nonzero address, as in the kernel.
    """
    addr = 0
    count = 0
    for a in mod.world.lookup(objname, name, generation):
        addr, count = a, count + 1
        if (sympos and count == sympos) or (not sympos and count > 1):
            break
    if addr == 0:
        mod.pr("err", "symbol '%s' not found in symbol table\n", name)
    elif count > 1 and sympos == 0:
        mod.pr("err", "unresolvable ambiguity for symbol '%s' in object '%s'\n", name,
               objname if objname is not None else "(null)")
    elif sympos != count and sympos > 0:
        mod.pr("err", "symbol position %lu for symbol '%s' in object '%s' not found\n", sympos,
               name, objname if objname is not None else VMLINUX)
    else:
        return 0, addr
    return -EINVAL, 0


def _symbol(mod: ModuleState, symndx: int, index: int) -> Symbol:
    """``(Elf_Sym *)sechdrs[symndx].sh_addr + ELF_R_SYM``: unchecked; past the end reads zeros."""
    if index < len(mod.obj.symbols):
        return mod.obj.symbols[index]
    base = mod.obj.sections[symndx].addr
    mod.memory.read(base + SYM_SIZE * index, SYM_SIZE, "symtab entry")
    return Symbol("")


def klp_resolve_symbols(
    mod: ModuleState, relsec: int, sec_objname: str, generations: dict[str, int],
    symndx: int | None = None,
) -> int:
    """klp_resolve_symbols: write st_value of every SHN_LIVEPATCH symbol the section uses.

    ``generations`` gives the loaded generation of each module (absent: generation 0);
    ``symndx`` the symbol table's section index when the caller has it (else looked up).
    """
    if symndx is None:
        symndx = mod.obj.symtab_index or 0
    sec_vmlinux = sec_objname == VMLINUX
    syms, memory = mod.obj.symbols, mod.memory
    try:
        for i, rela in enumerate(mod.obj.relocs.get(relsec, [])):
            r_sym = rela.sym
            symname = syms[r_sym].name if r_sym < len(syms) else ""
            memory.reloc = reloc_ref(relsec, i, rela, symname)
            sym = _symbol(mod, symndx, r_sym)  # past the table: an OOB read of this relocation
            if sym.shndx != SHN_LIVEPATCH:
                mod.pr("err", "symbol %s is not marked as a livepatch symbol\n", sym.name)
                return -EINVAL
            cnt, sym_objname, sym_name, sympos = scan_klp_sym_name(sym.name)
            if cnt != 3 or sym_objname is None or sym_name is None or sympos is None:
                mod.pr("err", "symbol %s has an incorrectly formatted name\n", sym.name)
                return -EINVAL
            sym_vmlinux = sym_objname == VMLINUX
            if not sec_vmlinux and sym_vmlinux:
                mod.pr("err", "invalid access to vmlinux symbol '%s' from module-specific "
                       "livepatch relocation section\n", sym_name)
                return -EINVAL
            obj = None if sym_vmlinux else sym_objname
            ret, addr = klp_find_object_symbol(
                mod, obj, sym_name, sympos, generations.get(sym_objname, 0)
            )
            if ret:
                return ret
            sym.value = addr
    finally:
        memory.reloc = None
    return 0


# -- writing relocations ----------------------------------------------------------------------
def klp_write_section_relocs(
    backend: ArchBackend,
    mod: ModuleState,
    secndx: int,
    objname: str | None,
    apply: bool,
    generations: dict[str, int] | None = None,
    symndx: int | None = None,
) -> int:
    """klp_write_section_relocs (6.12; 6.1's klp_apply_section_relocs is the apply half).

    Does nothing unless the section's objname is ``objname`` ("vmlinux" for None). Apply:
    resolve, then apply_relocate_add. Clear: clear_relocate_add, no re-resolve, except for a
    backend with ``resolve_before_clear`` (the v7 series' core.c), which resolves first.
    """
    gens = generations or {}
    mod.memory.forget_reloc()  # failed_reloc must name a relocation of this section
    sec = mod.obj.sections[secndx]
    cnt, sec_objname = scan_klp_rela_name(sec.name)
    if cnt != 1 or sec_objname is None:
        mod.pr("err", "section %s has an incorrectly formatted name\n", sec.name)
        return -EINVAL
    if (objname if objname is not None else VMLINUX) != sec_objname:
        return 0
    if symndx is None:
        symndx = mod.obj.symtab_index or 0
    if apply or getattr(backend, "resolve_before_clear", False):
        ret = klp_resolve_symbols(mod, secndx, sec_objname, gens, symndx)
        if ret:
            return ret
    if apply:
        return backend.apply_relocate_add(mod, symndx, secndx)
    backend.clear_relocate_add(mod, symndx, secndx)
    return 0


def klp_apply_section_relocs(
    backend: ArchBackend, mod: ModuleState, secndx: int, objname: str | None
) -> int:
    """klp_apply_section_relocs: what apply_relocations calls for SHF_RELA_LIVEPATCH sections."""
    return klp_write_section_relocs(backend, mod, secndx, objname, True)


@dataclass(frozen=True)
class KlpModInfo:
    """struct klp_modinfo: what copy_module_elf keeps of a livepatch module's ELF after the load
    (kernel/module/main.c, 6.12): info->symndx, and of the saved section headers the indices of
    the SHF_RELA_LIVEPATCH ones, in order (the only ones klp_write_object_relocs acts on)."""

    symndx: int
    relasecs: tuple[int, ...]


def klp_modinfo(mod: ModuleState) -> KlpModInfo:
    """``mod->klp_info``: taken from the loaded module once (section flags and the symbol table
    index do not change after the load)."""
    info = mod.klp_info
    if not isinstance(info, KlpModInfo):
        secs = mod.obj.sections
        info = mod.klp_info = KlpModInfo(
            mod.obj.symtab_index or 0,
            tuple(i for i in range(1, len(secs)) if secs[i].flags & SHF_RELA_LIVEPATCH),
        )
    return info


def klp_write_object_relocs(
    backend: ArchBackend, mod: ModuleState, objname: str, apply: bool, generations: dict[str, int]
) -> int:
    """klp_write_object_relocs: every SHF_RELA_LIVEPATCH section in order; first error stops.

    Iterates the saved section headers (copy_module_elf, :func:`klp_modinfo`), so the target
    section's SHF_ALLOC and the section type are not checked here, unlike apply_relocations.
    """
    info = klp_modinfo(mod)
    for i in info.relasecs:
        ret = klp_write_section_relocs(backend, mod, i, objname, apply, generations, info.symndx)
        if ret:
            return ret
    return 0


def klp_apply_object_relocs(
    backend: ArchBackend, mod: ModuleState, objname: str, generations: dict[str, int]
) -> int:
    """klp_apply_object_relocs: klp_write_object_relocs(apply=true)."""
    return klp_write_object_relocs(backend, mod, objname, True, generations)


def klp_clear_object_relocs(
    backend: ArchBackend, mod: ModuleState, objname: str, generations: dict[str, int]
) -> None:
    """klp_clear_object_relocs: klp_write_object_relocs(apply=false); its result is dropped."""
    klp_write_object_relocs(backend, mod, objname, False, generations)


@dataclass
class KlpPatch:
    """One livepatch module with its target objects, and which of them are loaded now.

    ``loaded`` maps an objname to the generation klp_module_coming attached (obj->mod set).
    """

    backend: ArchBackend
    mod: ModuleState
    objects: list[str] = field(default_factory=list)
    loaded: dict[str, int] = field(default_factory=dict)

    @classmethod
    def for_module(cls, backend: ArchBackend, mod: ModuleState) -> KlpPatch:
        """The patch for a loaded livepatch module: its objects are its klp target objnames."""
        return cls(backend, mod, klp_target_objects(mod))

    def klp_module_coming(self, objname: str, generation: int) -> int:
        """klp_module_coming: resolve + apply the object's relocations; refuse it on error.

        On failure the partly applied relocations stay as they are (the failing patch is not
        cleaned up: klp_cleanup_module_patches_limited stops before it).
        """
        mod = self.mod
        if objname == VMLINUX:
            mod.pr("err", "vmlinux.ko: invalid module name\n")
            return -EINVAL
        if objname not in self.objects:
            return 0
        self.loaded[objname] = generation
        ret = klp_apply_object_relocs(self.backend, mod, objname, self.loaded)
        if ret:
            mod.pr("warn", "failed to initialize patch '%s' for module '%s' (%d)\n", mod.name,
                   objname, ret)
            mod.pr("warn", "patch '%s' failed for module '%s', refusing to load module '%s'\n",
                   mod.name, objname, objname)
            del self.loaded[objname]
            return ret
        mod.pr("notice", "applying patch '%s' to loading module '%s'\n", mod.name, objname)
        return 0

    def klp_module_going(self, objname: str) -> None:
        """klp_module_going: klp_cleanup_module_patches_limited(mod, NULL) for this patch.

        The module loader only calls it for a module that finished coming, so an object that is
        not loaded (never came, or its coming failed) is left alone.
        """
        if objname not in self.objects or objname not in self.loaded:
            return
        mod = self.mod
        mod.pr("notice", "reverting patch '%s' on unloading module '%s'\n", mod.name, objname)
        klp_clear_object_relocs(self.backend, mod, objname, self.loaded)
        del self.loaded[objname]
