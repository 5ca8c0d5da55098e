"""module_frob_arch_sections and its helpers (module_64.c, 6.1 and 6.12).

Runs on the module's own ElfObject before placement: finds .stubs/.toc (.mygot/.data..percpu
under PCREL), dedotifies the symbol table, sorts every SHT_RELA section in place with lib/sort.c
and relacmp, and writes the computed .stubs (and .mygot) size into the section header.
"""

from __future__ import annotations

from ppcreloc.arch.seams import ArchSeams
from ppcreloc.elf.model import SHN_ABS, SHN_UNDEF, SHT_RELA, SHT_SYMTAB, ElfObject, Rela, Symbol
from ppcreloc.errno import ENOEXEC
from ppcreloc.loader.module import ModuleState
from ppcreloc.ppc64.reloctypes import R_PPC64_GOT_PCREL34, R_PPC64_REL24_NOTOC, R_PPC_REL24

MODVERSION_INFO_SIZE = 64  # struct modversion_info: unsigned long crc; char name[56]


def count_relocs(rela: list[Rela], r_type: int) -> int:
    """count_relocs: runs of distinct (symbol, addend) among ``r_type`` entries of a sorted array.

    The remembered symbol index and addend are C ``unsigned int``s starting at 0: the addend is
    stored truncated to 32 bits and compared, zero-extended, with the full signed 64-bit addend.
    """
    count = 0
    last_sym = 0
    last_addend = 0
    for r in rela:
        if r.type == r_type and (last_sym != (r.sym & 0xFFFF_FFFF) or last_addend != r.addend):
            count += 1
            last_sym = r.sym & 0xFFFF_FFFF
            last_addend = r.addend & 0xFFFF_FFFF
    return count


def count_pcpu_relocs(obj: ElfObject, rela: list[Rela], pcpu: int) -> int:
    """count_pcpu_relocs (6.12, PCREL): runs of distinct (symbol, addend) against .data..percpu."""
    count = 0
    last_sym = 0
    last_addend = 0
    for r in rela:
        shndx = obj.symbols[r.sym].shndx if r.sym < len(obj.symbols) else 0
        if shndx == pcpu and (last_sym != r.sym or last_addend != r.addend):
            count += 1
            last_sym = r.sym & 0xFFFF_FFFF
            last_addend = r.addend & 0xFFFF_FFFF
    return count


def dedotify(symbols: list[Symbol]) -> None:
    """dedotify: SHN_UNDEF ".name" loses its dot; ".TOC." also becomes SHN_ABS ("TOC.")."""
    for sym in symbols[1:]:
        if sym.shndx == SHN_UNDEF and sym.name.startswith("."):
            if sym.name[1:] == "TOC.":
                sym.shndx = SHN_ABS
            sym.name = sym.name[1:]


def dedotify_versions(data: bytes) -> bytes:
    """dedotify_versions: strip a leading '.' from each __versions entry's name (memmove)."""
    out = bytearray(data)
    for off in range(0, len(out) - MODVERSION_INFO_SIZE + 1, MODVERSION_INFO_SIZE):
        name = off + 8
        if out[name] == ord("."):
            end = out.find(0, name, off + MODVERSION_INFO_SIZE)
            strlen = (end if end >= 0 else off + MODVERSION_INFO_SIZE) - name
            out[name : name + strlen] = out[name + 1 : name + 1 + strlen]
    return bytes(out)


def find_dot_toc(symbols: list[Symbol]) -> Symbol | None:
    """find_dot_toc: the first SHN_ABS symbol named "TOC." (index 0 skipped)."""
    for sym in symbols[1:]:
        if sym.shndx == SHN_ABS and sym.name == "TOC.":
            return sym
    return None


class FrobMixin(ArchSeams):
    """module_frob_arch_sections, get_stubs_size, get_got_size for a profile."""

    #: get_stubs_size's starting count: 1 = the zero terminator slot (6.18 starts at 0)
    stubs_initial_count: int = 1

    def _rela_arrays(self, obj: ElfObject) -> list[tuple[int, list[Rela]]]:
        out = []
        for i, sec in enumerate(obj.sections):
            if i and sec.type == SHT_RELA:
                out.append((i, obj.relocs.setdefault(i, [])))
        return out

    def get_stubs_size(self, mod: ModuleState) -> int:
        """get_stubs_size: sort every SHT_RELA section in place, count REL24 runs, + ftrace slots."""
        relocs = self.stubs_initial_count
        for _, rela in self._rela_arrays(mod.obj):
            self.sort_relocs(rela)
            relocs += count_relocs(rela, R_PPC_REL24)
            if self.pcrel(mod):
                relocs += count_relocs(rela, R_PPC64_REL24_NOTOC)
        if mod.config.dynamic_ftrace:
            relocs += 1
            if mod.config.dynamic_ftrace_with_regs:
                relocs += 1
        return relocs * self.stub_entry_size(mod)

    def get_got_size(self, mod: ModuleState, pcpu_section: int) -> int:
        """get_got_size (6.12, PCREL): 8 * (1 + GOT_PCREL34 runs + per-cpu runs), sorting too."""
        relocs = 1
        has_symtab = mod.obj.symtab_index is not None
        mod.warn_on(not has_symtab, "get_got_size: WARN_ON_ONCE(!symindex)")
        for _, rela in self._rela_arrays(mod.obj):
            self.sort_relocs(rela)
            relocs += count_relocs(rela, R_PPC64_GOT_PCREL34)
            if has_symtab:
                relocs += count_pcpu_relocs(mod.obj, rela, pcpu_section)
        return relocs * 8

    def module_frob_arch_sections(self, mod: ModuleState) -> int:
        """module_frob_arch_sections: find sections, dedotify, size .stubs (and .mygot); 0/-errno.

        The section loop keeps the last match of each name, as the kernel's does.
        """
        obj, arch, pcrel = mod.obj, mod.arch, self.pcrel(mod)
        got = pcpu = 0
        for i, sec in enumerate(obj.sections):
            if not i:
                continue
            if sec.name == ".stubs":
                arch.stubs_section = i
            elif pcrel and sec.name == ".data..percpu":
                pcpu = i
            elif pcrel and sec.name == ".mygot":
                got = i
                sec.addralign = max(sec.addralign, 8)
            elif not pcrel and sec.name == ".toc":
                arch.toc_section = i
                sec.addralign = max(sec.addralign, 8)
            elif not pcrel and sec.name == "__versions":
                sec.data = dedotify_versions(sec.data)
            if not pcrel and sec.type == SHT_SYMTAB:
                dedotify(obj.symbols)
        if not arch.stubs_section:
            mod.pr("err", "%s: doesn't contain .stubs.\n", mod.name)
            return -ENOEXEC
        if pcrel:
            if not got:
                mod.pr("err", "%s: doesn't contain .mygot.\n", mod.name)
                return -ENOEXEC
            obj.sections[got].size = self.get_got_size(mod, pcpu)
        elif not arch.toc_section:
            arch.toc_section = arch.stubs_section
        obj.sections[arch.stubs_section].size = self.get_stubs_size(mod)
        return 0


def last_section(obj: ElfObject, name: str) -> int:
    """Index of the last section called ``name`` (0 if none): what frob would have remembered.

    ModArch has no got_section/pcpu_section fields, so the PCREL code looks them up this way.
    """
    found = 0
    for i, sec in enumerate(obj.sections):
        if i and sec.name == name:
            found = i
    return found
