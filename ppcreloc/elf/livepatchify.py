"""Turn a real module into a livepatch module for target modules it links against (klp-convert).

A module's undefined symbols that a target module defines are what klp-convert (and kpatch)
rewrite for a livepatch of that module: each becomes ``.klp.sym.<objname>.<name>,<sympos>``
with st_shndx SHN_LIVEPATCH, and its relocations move into ``.klp.rela.<objname>.<section>``
(Documentation/livepatch/module-elf-format.rst; resolved by kernel/livepatch/core.c,
klp_resolve_symbols, 6.12). ``<objname>`` is the target's ``name=`` in ``.modinfo`` (what
klp_find_object_symbol compares with mod->name), else its file stem with '-' as '_'.

sympos: 0 when the name is unique in the target's symbol table (kpatch's choice), else the
1-based position of the global definition among the same-named symbols, in symbol table order
(kallsyms lists a module's symbols in that order, kernel/module/kallsyms.c).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass

from ppcreloc.elf.livepatch import KLP_SYM_PREFIX, to_livepatch
from ppcreloc.elf.model import (
    SHN_LIVEPATCH,
    SHN_UNDEF,
    STB_LOCAL,
    STT_FILE,
    STT_SECTION,
    ElfObject,
)
from ppcreloc.errors import UsageError


@dataclass(frozen=True)
class Target:
    """A target module: the objname klp uses and its symbol table."""

    objname: str
    obj: ElfObject


@dataclass
class Converted:
    """The livepatch object and what changed: (objname, name, sympos) per renamed symbol."""

    obj: ElfObject
    renamed: list[tuple[str, str, int]]

    @property
    def klp_relocs(self) -> int:
        """Relocations in `.klp.rela.*` sections."""
        return sum(len(v) for k, v in self.obj.relocs.items()
                   if self.obj.sections[k].name.startswith(".klp.rela."))


def modinfo_name(obj: ElfObject) -> str | None:
    """``name=`` of the module's ``.modinfo`` (modpost writes it), or None."""
    idx = obj.section_index(".modinfo")
    if idx is None:
        return None
    for entry in obj.sections[idx].data.split(b"\0"):
        if entry.startswith(b"name="):
            return entry[5:].decode("utf-8", "replace") or None
    return None


def _definitions(obj: ElfObject) -> dict[str, int]:
    """name -> sympos for every named symbol the target defines (functions, data, notype)."""
    named = [(k, s) for k, s in enumerate(obj.symbols) if k and s.name
             and s.shndx not in (SHN_UNDEF, SHN_LIVEPATCH) and s.type not in (STT_SECTION, STT_FILE)]
    counts = Counter(s.name for _, s in named)
    out: dict[str, int] = {}
    seen: Counter[str] = Counter()
    for _k, s in named:
        seen[s.name] += 1
        if counts[s.name] == 1:
            out[s.name] = 0
        elif s.bind != STB_LOCAL and s.name not in out:
            out[s.name] = seen[s.name]
    return out


def livepatchify(mod: ElfObject, targets: list[Target], modname: str = "module") -> Converted:
    """A copy of ``mod`` whose undefined symbols defined by ``targets`` are klp symbols.

    The first target defining a name wins. Raises UsageError when a target defines none of the
    symbols ``mod`` leaves undefined (nothing to convert for it).
    """
    out = _copy(mod)
    undefined = {s.name for s in out.symbols[1:]
                 if s.shndx == SHN_UNDEF and s.name and not s.name.startswith(KLP_SYM_PREFIX)
                 and s.name != ".TOC."}
    plan: dict[str, tuple[str, int]] = {}
    for t in targets:
        defs = _definitions(t.obj)
        used = sorted(n for n in undefined if n in defs and n not in plan)
        if not used:
            raise UsageError(f"target {t.objname} defines none of the {len(undefined)} symbols "
                             f"{modname} leaves undefined")
        plan.update((n, (t.objname, defs[n])) for n in used)
    renamed: list[tuple[str, str, int]] = []
    for sym in out.symbols[1:]:
        if sym.shndx == SHN_UNDEF and sym.name in plan:
            objname, pos = plan[sym.name]
            renamed.append((objname, sym.name, pos))
            sym.name = f"{KLP_SYM_PREFIX}{objname}.{sym.name},{pos}"
    return Converted(to_livepatch(out, in_place=True), renamed)


def _copy(obj: ElfObject) -> ElfObject:
    """A copy whose sections, symbols and RELA lists may be changed (a real module has tens of
    thousands of relocations: deepcopy would take seconds; Rela entries are only moved)."""
    return dataclasses.replace(
        obj, sections=[dataclasses.replace(s) for s in obj.sections],
        symbols=[dataclasses.replace(s) for s in obj.symbols],
        relocs={k: list(v) for k, v in obj.relocs.items()})
