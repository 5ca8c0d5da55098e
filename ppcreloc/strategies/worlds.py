"""Symbol worlds: vmlinux plus a few target modules, each module at a fresh address per load.

A :class:`WorldSpec` is plain, hashable data (so a fixture can store it and Hypothesis can shrink
it), declared by the loader (:mod:`ppcreloc.loader.worldspec`) and drawn here. :func:`to_symbol_world` turns it into the loader's ``SymbolWorld``. Addresses follow a ppc64
kernel: vmlinux in the linear map at 0xc000000000000000, modules in the vmalloc'd module area at
0xc008000000000000 (arch/powerpc/include/asm/book3s/64/pgtable.h, MODULES_VADDR), each load of a
target module at its own base (``bases[generation]``), as klp_module_coming sees a reloaded module.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache

from hypothesis import strategies as st

from ppcreloc.loader.world import KERNEL_TOC as KERNEL_TOC  # r2 in the kernel, one value
from ppcreloc.loader.world import VMLINUX as VMLINUX
from ppcreloc.loader.world import VMLINUX_BASE as VMLINUX_BASE
from ppcreloc.loader.world import SymbolWorld
from ppcreloc.loader.worldspec import ObjectSpec as ObjectSpec
from ppcreloc.loader.worldspec import WorldSpec as WorldSpec
from ppcreloc.loader.worldspec import WorldSymbol as WorldSymbol
from ppcreloc.loader.worldspec import world_from_spec
from ppcreloc.strategies._draw import Pick, Prod, count, draw_space

MODULE_AREA = 0xC008_0000_0000_0000
#: the livepatch module's own default base (engine.Layout.base); target bases stay clear of it
LIVEPATCH_BASE = 0xC008_0000_0010_0000
#: ftrace entry points every mprofile kernel has (arch/powerpc/kernel/trace/ftrace_64_mprofile.S)
FTRACE_NAMES = ("_mcount", "ftrace_caller", "ftrace_regs_caller")

#: plausible C identifiers; few enough that duplicates (sympos > 1) appear often
FUNC_NAMES = (
    "do_work", "init_one", "cleanup", "show_stats", "read_page", "write_page", "get_ctx",
    "put_ctx", "lookup", "release",
)
DATA_NAMES = ("counter", "table", "state", "ops")
VMLINUX_EXPORTS = ("printk", "kmalloc", "kfree", "memcpy", "schedule", "mutex_lock")
MODULE_NAMES = ("ext4", "xfs", "nfsd", "btrfs", "kvm")


def to_symbol_world(spec: WorldSpec) -> SymbolWorld:
    """The loader's SymbolWorld for ``spec`` (:func:`ppcreloc.loader.worldspec.world_from_spec`)."""
    return world_from_spec(spec)


# -- strategies -------------------------------------------------------------------------------
def _symbols_space(names: tuple[str, ...], max_symbols: int) -> Prod:
    """How many extra names (most significant), the first function, then the extra names."""
    funcs = tuple(n for n in names if n not in DATA_NAMES)
    return Prod(count(0, max_symbols - 1), Pick(funcs),
                *[Pick(names) for _ in range(max_symbols - 1)])


def _object_symbols(
    decoded: tuple[object, ...], max_dups: int
) -> tuple[WorldSymbol, ...]:
    """Decoded :func:`_symbols_space` digits as symbols, up to ``max_dups`` copies per name.

    The first symbol is always a function, so every object has something to call. Offsets are
    not drawn (4 KiB apart): only distinctness and range matter to the loader.
    """
    extra = int(decoded[0])  # type: ignore[call-overload]
    chosen = [str(n) for n in decoded[1 : 2 + extra]]
    out: list[WorldSymbol] = []
    seen: dict[str, int] = {}
    for name in chosen:
        if seen.get(name, 0) >= max_dups:
            continue
        seen[name] = seen.get(name, 0) + 1
        kind = "data" if name in DATA_NAMES else "func"
        out.append(WorldSymbol(name, 0x100 + 0x1000 * len(out), False, kind))
    return tuple(out)


#: 64 KiB slots in the module area for target module bases; GENERATION_SLOTS apart per load
BASE_SLOTS = 0x2000
GENERATION_SLOTS = 0x400
_SLOT = count(0x20, BASE_SLOTS)


def _bases(slots: tuple[int, ...], generations: int) -> tuple[int, ...]:
    """Module bases in the module area, 64 KiB aligned, above the livepatch module's own base.

    One drawn slot: every load at a new address (a fixed stride per generation); one slot per
    generation: each load at its own slot, so vmalloc-style reuse of an address can happen.
    """
    if len(slots) == 1:
        slots = tuple(slots[0] + g * GENERATION_SLOTS for g in range(generations))
    return tuple(MODULE_AREA + 0x100_0000 + s * 0x1_0000 for s in slots)


@lru_cache(maxsize=64)
def _module_space(max_symbols: int, generations: int, fresh: bool) -> Prod:
    """A target module's symbols, then its base slot(s)."""
    syms = _symbols_space(FUNC_NAMES + DATA_NAMES, max_symbols)
    return Prod(*syms.parts, *([_SLOT] * (1 if fresh else generations)))


_VMLINUX_SPACE = _symbols_space(FUNC_NAMES + DATA_NAMES, 4)


def _vmlinux(draw: st.DrawFn) -> ObjectSpec:
    """vmlinux: the ftrace entry points, a few exports, and duplicated static names."""
    syms = [WorldSymbol(n, 0x10_0000 + i * 0x100, True) for i, n in enumerate(FTRACE_NAMES)]
    syms += [WorldSymbol(n, 0x20_0000 + i * 0x1000, True) for i, n in enumerate(VMLINUX_EXPORTS)]
    extra = _object_symbols(draw_space(draw, _VMLINUX_SPACE), 2)
    syms += [WorldSymbol(s.name, 0x100_0000 + s.offset, False, s.kind) for s in extra]
    return ObjectSpec(VMLINUX, tuple(syms), (VMLINUX_BASE,))


@lru_cache(maxsize=16)
def _names_space(max_modules: int) -> Prod:
    """How many modules, then each one's index among the names not taken yet."""
    n = len(MODULE_NAMES)
    return Prod(count(1, min(max_modules, n)), *[count(0, n - 1 - k) for k in range(max_modules)])


def _module_names(decoded: tuple[int, ...]) -> list[str]:
    left = list(MODULE_NAMES)
    return [left.pop(k) for k in decoded[1 : 1 + decoded[0]]]


@st.composite
def symbol_worlds(
    draw: st.DrawFn,
    *,
    max_modules: int = 3,
    generations: int = 4,
    max_symbols: int = 6,
    max_dups: int = 3,
    fresh: bool = True,
) -> WorldSpec:
    """A vmlinux and 1..``max_modules`` target modules, each with ``generations`` load addresses.

    Module names are unique; symbol names repeat within an object up to ``max_dups`` times, so
    sympos 0 is ambiguous for some of them, as for static functions in real kallsyms. Each object
    is one flat draw (:mod:`ppcreloc.strategies._draw`).
    """
    vmlinux = _vmlinux(draw)
    max_modules = min(max_modules, len(MODULE_NAMES))
    names = _module_names(draw_space(draw, _names_space(max_modules)))
    space = _module_space(max_symbols, generations, fresh)
    n_sym = len(space.parts) - (1 if fresh else generations)
    modules = []
    for name in names:
        digits = draw_space(draw, space)
        syms = _object_symbols(digits[:n_sym], max_dups)
        modules.append(ObjectSpec(name, syms, _bases(digits[n_sym:], generations)))
    return WorldSpec(vmlinux, tuple(modules))


@dataclass(frozen=True)
class SymbolChoice:
    """A symbol a relocation may reference, with the klp name that resolves to it."""

    objname: str
    name: str
    pos: int
    kind: str = field(default="func")

    @property
    def klp_name(self) -> str:
        """``.klp.sym.<objname>.<name>,<pos>`` (Documentation/livepatch/module-elf-format.rst)."""
        return f".klp.sym.{self.objname}.{self.name},{self.pos}"


def resolvable(world: WorldSpec, objname: str, kind: str | None = None) -> list[SymbolChoice]:
    """Every (name, sympos) in ``objname`` that klp_find_object_symbol resolves uniquely.

    Unique names get sympos 0 (as kpatch emits) and 1; duplicated names get 1..n.
    """
    obj = world.object(objname)
    out: list[SymbolChoice] = []
    counts = Counter(s.name for s in obj.symbols)
    seen: set[str] = set()
    for s in obj.symbols:
        if s.name in seen or (kind is not None and s.kind != kind):
            continue
        seen.add(s.name)
        n = counts[s.name]
        positions = [0, 1] if n == 1 else list(range(1, n + 1))
        out.extend(SymbolChoice(objname, s.name, p, s.kind) for p in positions)
    return out
