"""Seed objects: sub-objects of real livepatch-format modules, as campaign cases.

A seed directory holds livepatch objects made from real compiler output (``ppcreloc
livepatchify MOD.ko --target OTHER.ko -o DIR/MOD-klp.o``; ``.o``, ``.ko``, ``.ko.xz`` and ``.ko.gz``
are read). :func:`seed_objects` draws one of them and a few of its relocations: at least one
from a ``.klp.rela.<target>.*`` section, and some plain ones. The drawn object is consistent and
small: only the kept relocations, the sections they patch, the sections defining the symbols
they use, ``.toc`` (my_r2 depends on it) and ``.stubs``, with every section's bytes, flags and
alignment and every kept symbol's value, type, binding and st_other as the compiler left them.
Its symbol world defines what it needs: each undefined symbol as a vmlinux export, each
``.klp.sym.<obj>.<name>,<pos>`` as ``pos`` (or one) same-named symbols of module ``obj``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from hypothesis import strategies as st

from ppcreloc.elf.builder import ObjectBuilder, SymRef
from ppcreloc.elf.livepatch import KLP_RELA_PREFIX, KLP_SYM_PREFIX
from ppcreloc.elf.model import (
    SHF_ALLOC,
    SHF_RELA_LIVEPATCH,
    SHN_LIVEPATCH,
    SHN_UNDEF,
    STT_FUNC,
    STT_SECTION,
    ElfObject,
    Rela,
)
from ppcreloc.elf.reader import read_elf_file
from ppcreloc.errors import UsageError
from ppcreloc.records import Layout
from ppcreloc.strategies._draw import count, draw_index, draw_space
from ppcreloc.strategies.objects import Case, note
from ppcreloc.strategies.worlds import (
    FTRACE_NAMES,
    VMLINUX,
    VMLINUX_BASE,
    ObjectSpec,
    WorldSpec,
    WorldSymbol,
    _bases,
)

#: file names a seed directory may hold (cli.load_object decompresses .xz and .gz)
SEED_SUFFIXES = (".o", ".ko", ".ko.xz", ".ko.gz")
#: target module loads per world (as symbol_worlds draws by default)
GENERATIONS = 4


@dataclass(frozen=True)
class Seed:
    """One seed object: its name, the object, and its (relsec, index) pairs by kind."""

    name: str
    obj: ElfObject
    klp: tuple[tuple[int, int], ...]
    plain: tuple[tuple[int, int], ...]


def _klp_objname(section: str) -> str:
    """<objname> of ``.klp.rela.<objname>.<section>``."""
    return section[len(KLP_RELA_PREFIX):].split(".", 1)[0]


def read_seed(path: Path) -> Seed:
    """A seed from one file; UsageError when it is unreadable or has no klp relocation."""
    obj = read_elf_file(path)
    klp: list[tuple[int, int]] = []
    plain: list[tuple[int, int]] = []
    for sec, relas in sorted(obj.relocs.items()):
        s = obj.sections[sec]
        livepatch = s.name.startswith(KLP_RELA_PREFIX) and s.flags & SHF_RELA_LIVEPATCH
        if livepatch and _klp_objname(s.name) == VMLINUX:
            continue  # applied at load like plain ones, but the campaign needs a target object
        if s.info >= len(obj.sections) or not obj.sections[s.info].flags & SHF_ALLOC:
            continue
        (klp if livepatch else plain).extend((sec, i) for i in range(len(relas)))
    if not klp:
        raise UsageError(f"{path}: no .klp.rela.<module>.* relocations (make seeds with "
                         "ppcreloc livepatchify MOD.ko --target OTHER.ko -o OUT.o)")
    return Seed(path.name, obj, tuple(klp), tuple(plain))


@lru_cache(maxsize=8)
def load_seeds(directory: str) -> tuple[Seed, ...]:
    """Every seed object in ``directory`` (sorted by name); UsageError when there is none."""
    d = Path(directory)
    if not d.is_dir():
        raise UsageError(f"--seed-objects {directory}: not a directory")
    files = sorted(p for p in d.iterdir() if p.is_file() and p.name.endswith(SEED_SUFFIXES))
    if not files:
        raise UsageError(f"--seed-objects {directory}: no {', '.join(SEED_SUFFIXES)} files")
    return tuple(read_seed(p) for p in files)


def sub_object(seed: Seed, keep: list[tuple[int, int]]) -> ElfObject:
    """The consistent sub-object of ``seed`` with only the relocations ``keep``."""
    src = seed.obj
    b = ObjectBuilder(src.big_endian)
    new_sec: dict[int, int] = {}

    def section(i: int) -> int:
        if i not in new_sec:
            s = src.sections[i]
            new_sec[i] = b.add_section(s.name, s.data, type=s.type, flags=s.flags, size=s.size,
                                       addralign=s.addralign, entsize=s.entsize)
        return new_sec[i]

    for name in (".toc", ".stubs"):
        idx = src.section_index(name)
        if idx is not None:
            section(idx)
    new_sym: dict[int, SymRef | None] = {0: None}

    def symbol(k: int) -> SymRef | None:
        if k not in new_sym:
            s = src.symbols[k]
            if s.type == STT_SECTION and 0 < s.shndx < len(src.sections):
                new_sym[k] = b.section_symbol(section(s.shndx))
            else:
                shndx = s.shndx
                if 0 < shndx < len(src.sections):
                    shndx = section(shndx)
                new_sym[k] = b.add_symbol(s.name, s.value, size=s.size, bind=s.bind,
                                          type=s.type, other=s.other, shndx=shndx)
        return new_sym[k]

    for relsec, i in sorted(keep):
        rs = src.sections[relsec]
        r: Rela = src.relocs[relsec][i]
        target = section(rs.info)
        b.add_rela(target, r.offset, symbol(r.sym), r.type, r.addend,
                   section=rs.name if rs.name.startswith(KLP_RELA_PREFIX) else None)
    obj = b.build()
    obj.flags = src.flags
    return obj


def _klp_parts(name: str) -> tuple[str, str, int] | None:
    """(objname, symname, sympos) of ``.klp.sym.<obj>.<name>,<pos>``, or None."""
    if not name.startswith(KLP_SYM_PREFIX) or "," not in name:
        return None
    rest, pos = name[len(KLP_SYM_PREFIX):].rsplit(",", 1)
    if "." not in rest or not pos.isdigit():
        return None
    objname, sym = rest.split(".", 1)
    return objname, sym, int(pos)


def world_for(obj: ElfObject) -> WorldSpec:
    """A symbol world defining every symbol ``obj`` needs resolved (see the module docstring)."""
    vm = [WorldSymbol(n, 0x10_0000 + i * 0x100, True) for i, n in enumerate(FTRACE_NAMES)]
    modules: dict[str, list[WorldSymbol]] = {}
    for s in obj.symbols[1:]:
        kind = "func" if s.type == STT_FUNC else "data"
        parts = _klp_parts(s.name) if s.shndx == SHN_LIVEPATCH else None
        if parts is not None:
            objname, name, pos = parts
            syms = vm if objname == VMLINUX else modules.setdefault(objname, [])
            have = sum(1 for w in syms if w.name == name)
            base = 0x20_0000 if objname == VMLINUX else 0x100
            for _ in range(max(pos, 1) - have):
                syms.append(WorldSymbol(name, base + 0x1000 * len(syms), False, kind))
        elif s.shndx == SHN_UNDEF and s.name and s.name != ".TOC." \
                and all(w.name != s.name for w in vm):
            vm.append(WorldSymbol(s.name, 0x40_0000 + 0x100 * len(vm), True, kind))
    mods = tuple(ObjectSpec(n, tuple(syms), _bases((0x20 + 0x40 * k,), GENERATIONS))
                 for k, (n, syms) in enumerate(sorted(modules.items())))
    return WorldSpec(ObjectSpec(VMLINUX, tuple(vm), (VMLINUX_BASE,)), mods)


def _targets(obj: ElfObject) -> tuple[str, ...]:
    names = {_klp_objname(obj.sections[k].name) for k in obj.relocs
             if obj.sections[k].name.startswith(KLP_RELA_PREFIX) and obj.relocs[k]}
    return tuple(sorted(names - {VMLINUX}))


@st.composite
def seed_objects(draw: st.DrawFn, directory: str, *, max_klp: int = 4,
                 max_plain: int = 4) -> Case:
    """A sub-object of one seed in ``directory``: 1..``max_klp`` klp relocations and
    0..``max_plain`` plain ones, each drawn by index (shrinking toward the first ones)."""
    seeds = load_seeds(directory)
    seed = seeds[draw_index(draw, len(seeds))] if len(seeds) > 1 else seeds[0]
    n_klp = draw_space(draw, count(1, max_klp))
    n_plain = draw_space(draw, count(0, max_plain)) if seed.plain else 0
    keep = {seed.klp[draw_index(draw, len(seed.klp))] for _ in range(n_klp)}
    keep |= {seed.plain[draw_index(draw, len(seed.plain))] for _ in range(n_plain)}
    obj = sub_object(seed, sorted(keep))
    knobs = (f"seed {seed.name}", f"seed relocations {len(keep)}")
    for text in knobs:
        note(text)
    return Case(obj, world_for(obj), Layout(), "compiler", _targets(obj), knobs=knobs)

