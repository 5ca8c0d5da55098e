"""Symbol-world specs: vmlinux plus target modules as plain, hashable data the loader reads.

The strategies generate them (``ppcreloc.strategies.worlds`` re-exports the classes), fixtures store them
(:meth:`WorldSpec.to_dict`), and :func:`world_from_spec` turns one into the loader's
:class:`~ppcreloc.loader.world.SymbolWorld`. Addresses follow a ppc64 kernel: vmlinux in the
linear map at 0xc000000000000000, modules in the vmalloc'd module area at 0xc008000000000000
(arch/powerpc/include/asm/book3s/64/pgtable.h, MODULES_VADDR), each load of a target module at
its own base (``bases[generation]``), as klp_module_coming sees a reloaded module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ppcreloc.loader.world import KERNEL_TOC, VMLINUX, VMLINUX_BASE, SymbolWorld


@dataclass(frozen=True)
class WorldSymbol:
    """One kallsyms entry: ``offset`` from its object's base; ``exported`` for EXPORT_SYMBOL."""

    name: str
    offset: int
    exported: bool = False
    kind: str = "func"


@dataclass(frozen=True)
class ObjectSpec:
    """vmlinux or one target module: its symbols (duplicates allowed) and a base per load."""

    name: str
    symbols: tuple[WorldSymbol, ...]
    bases: tuple[int, ...]

    def count(self, name: str) -> int:
        """How many symbols are called ``name`` (what sympos 0 requires to be 1)."""
        return sum(1 for s in self.symbols if s.name == name)

    def address(self, name: str, pos: int, generation: int = 0) -> int | None:
        """The address klp_find_object_symbol would return for (name, sympos), or None."""
        matches = [s for s in self.symbols if s.name == name]
        if pos == 0:
            hit = matches[0] if len(matches) == 1 else None
        else:
            hit = matches[pos - 1] if pos <= len(matches) else None
        if hit is None:
            return None
        return self.bases[generation % len(self.bases)] + hit.offset


@dataclass(frozen=True)
class WorldSpec:
    """vmlinux and the target modules a livepatch may reference."""

    vmlinux: ObjectSpec
    modules: tuple[ObjectSpec, ...] = ()
    kernel_toc: int = KERNEL_TOC

    def object(self, name: str) -> ObjectSpec:
        """vmlinux or the module called ``name`` (KeyError when absent)."""
        if name == VMLINUX:
            return self.vmlinux
        for m in self.modules:
            if m.name == name:
                return m
        raise KeyError(name)

    @property
    def module_names(self) -> tuple[str, ...]:
        """Names of the target modules."""
        return tuple(m.name for m in self.modules)

    def exports(self) -> dict[str, int]:
        """vmlinux's exported symbols (what simplify_symbols resolves SHN_UNDEF against)."""
        out: dict[str, int] = {}
        for s in self.vmlinux.symbols:
            if s.exported:
                out.setdefault(s.name, self.vmlinux.bases[0] + s.offset)
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (fixtures store it)."""
        def obj(o: ObjectSpec) -> dict[str, Any]:
            return {
                "name": o.name,
                "bases": [hex(b) for b in o.bases],
                "symbols": [[s.name, hex(s.offset), s.exported, s.kind] for s in o.symbols],
            }

        return {
            "kernel_toc": hex(self.kernel_toc),
            "vmlinux": obj(self.vmlinux),
            "modules": [obj(m) for m in self.modules],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WorldSpec:
        """Inverse of :meth:`to_dict`."""
        def obj(d: dict[str, Any]) -> ObjectSpec:
            return ObjectSpec(
                d["name"],
                tuple(WorldSymbol(n, int(o, 16), bool(e), k) for n, o, e, k in d["symbols"]),
                tuple(int(b, 16) for b in d["bases"]),
            )

        return cls(obj(data["vmlinux"]), tuple(obj(m) for m in data["modules"]),
                   int(data["kernel_toc"], 16))


def world_from_spec(spec: WorldSpec) -> SymbolWorld:
    """The loader's world for ``spec``.

    Symbols keep their order (sympos), modules their per-generation bases; vmlinux symbols sit
    at ``vmlinux.bases[0] + offset``. The world falls back to synthetic addresses for names the
    spec lacks, as the tool's default worlds do.
    """
    s = spec
    world = SymbolWorld(toc=s.kernel_toc)
    vbase = s.vmlinux.bases[0] if s.vmlinux.bases else VMLINUX_BASE
    for sym in s.vmlinux.symbols:
        letter = "d" if sym.kind == "data" else "t"
        world.add_symbol(None, sym.name, vbase + sym.offset,
                         type=letter.upper() if sym.exported else letter, exported=sym.exported)
    for mod in s.modules:
        world.set_module_bases(mod.name, mod.bases)
        base0 = mod.bases[0] if mod.bases else world.module_base(mod.name, 0)
        for sym in mod.symbols:
            letter = "d" if sym.kind == "data" else "t"
            world.add_symbol(mod.name, sym.name, base0 + sym.offset,
                             type=letter.upper() if sym.exported else letter,
                             exported=sym.exported)
    return world
