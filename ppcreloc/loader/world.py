"""The symbol world: vmlinux's and the target modules' symbols, as kallsyms would list them.

A :class:`SymbolWorld` answers what the loader and the livepatch driver ask the running kernel:

* simplify_symbols (kernel/module/main.c) resolves SHN_UNDEF against exported symbols
  (:meth:`SymbolWorld.resolve_export`);
* klp_find_object_symbol (kernel/livepatch/core.c) walks every kallsyms match of a name within one
  object, in kallsyms order (:meth:`SymbolWorld.lookup`), which is what sympos counts;
* module_64.c asks for the kernel TOC (kernel_toc_addr()), the ftrace entry points and, on ELFv1,
  function descriptors (:meth:`kernel_toc_addr`, :meth:`vmlinux_symbol`, :meth:`read_func_desc`).

Addresses follow a ppc64 kernel: vmlinux in the linear map at 0xc000000000000000, modules in the
module area at 0xc008000000000000 (asm/book3s/64/pgtable.h, MODULES_VADDR). A target module is
loaded once per *generation*; each generation has its own base and symbol offsets inside a module
are stable, so a reloaded module's symbols all move by the same delta.

Names the world does not list get a *synthetic* address: a hash of (seed, object, name), so the
address does not depend on the order of queries (the model and ``kernel:PATH`` ask in different
orders). Generations without a known base get a fresh base in a per-module lane above
:data:`TARGET_AREA`, so the livepatch module's own layout (at :data:`MODULE_AREA` and up, below
TARGET_AREA) is never hit and no base repeats.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

from ppcreloc.bits import M64
from ppcreloc.errors import WorldError as WorldError
from ppcreloc.inputs import MAX_MAP_SIZE, InputError, read_text_bounded

VMLINUX = "vmlinux"
VMLINUX_BASE = 0xC000_0000_0000_0000
#: synthetic vmlinux symbols lie in [VMLINUX_BASE + 64 KiB, + 1 GiB): all within 2**31 of the TOC
VMLINUX_SYNTH_START = VMLINUX_BASE + 0x1_0000
VMLINUX_SYNTH_SPAN = 0x4000_0000 - 0x1_0000
#: r2 in the kernel when no map gives ".TOC.": kernel_toc_addr() (asm/sections.h, 6.1 and 6.12)
#: returns r2, which is vmlinux's .TOC., the linker's TOC base + 0x8000 (the ELF ABI bias that
#: lets a signed 16-bit offset reach 64 KiB; module_64.c's my_r2 adds the same 0x8000). The
#: synthetic vmlinux has its TOC (.got with .toc, vmlinux.lds.S) 32 MiB in. create_ftrace_stub
#: needs |target - kernel_toc| < 2**31.
KERNEL_TOC = VMLINUX_BASE + 0x0200_0000 + 0x8000
#: where module percpu areas are (mod_percpu(); kernel/module/main.c percpu_modalloc)
PERCPU_BASE = VMLINUX_BASE + 0x7000_0000
MODULE_AREA = 0xC008_0000_0000_0000
#: target modules' synthetic bases start here; the livepatch module's layout goes below it
TARGET_AREA = 0xC008_1000_0000_0000
MODULE_AREA_END = 0xC010_0000_0000_0000
LANE_SIZE = 1 << 40
N_LANES = (MODULE_AREA_END - TARGET_AREA) // LANE_SIZE
GENERATION_STRIDE = 1 << 28
MAX_GENERATION = LANE_SIZE // GENERATION_STRIDE - 1
SUBSLOT = 1 << 20
N_SUBSLOTS = GENERATION_STRIDE // SUBSLOT
#: synthetic symbol offsets inside a module: [0x100, 1 MiB), 16-byte aligned
MODULE_SYNTH_START = 0x100
MODULE_SYNTH_SPAN = SUBSLOT - MODULE_SYNTH_START
SYNTH_GRANULE = 16
#: ELFv1 synthetic function descriptors: the entry point lies this far after the descriptor
FUNC_DESC_ENTRY_DELTA = 0x100
#: names the arch code must always be able to resolve (module_finalize_ftrace, restore_r2;
#: ftrace_nop_ops: 6.18's ftrace_rec_set_nop_ops)
FTRACE_NAMES = ("_mcount", "ftrace_caller", "ftrace_regs_caller", "ftrace_nop_ops")


class Ksym(NamedTuple):
    """One kallsyms line: generation-0 address, type letter, name, module (None for vmlinux)."""

    addr: int
    type: str
    name: str
    obj: str | None = None
    exported: bool = False


@lru_cache(maxsize=65536, typed=True)
def _hash(*parts: object) -> int:
    """A stable 64-bit hash (Python's hash() is salted per process); pure, so memoised."""
    text = "\0".join(str(p) for p in parts).encode("utf-8", "surrogateescape")
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little")


@dataclass(eq=False)
class SymbolWorld:
    """vmlinux and target-module symbol tables, with per-generation module bases.

    ``fallback``: give unlisted names synthetic addresses (True for every world the tool builds
    by default); with False an unlisted name is not found (for "Unknown symbol" / sympos tests),
    except the ftrace entry points, which always resolve.
    """

    seed: int = 0
    fallback: bool = True
    entries: list[Ksym] = field(default_factory=list)
    toc: int | None = None
    bases: dict[str, list[int]] = field(default_factory=dict)
    func_descs: dict[int, tuple[int, int, int]] = field(default_factory=dict)
    # -- indexes and caches (not part of equality) ---------------------------------------------
    _by_name: dict[tuple[str | None, str], list[int]] = field(default_factory=dict, repr=False)
    _exports: dict[str, int] = field(default_factory=dict, repr=False)
    _globals: dict[str, int] = field(default_factory=dict, repr=False)
    _synth: dict[tuple[str | None, str], int] = field(default_factory=dict, repr=False)
    _used: dict[str | None, set[int]] = field(default_factory=dict, repr=False)
    _mod_min: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        entries, self.entries = self.entries, []
        for e in entries:
            self._add(e)

    # -- construction --------------------------------------------------------------------------
    @classmethod
    def synthetic(cls, seed: int = 0) -> SymbolWorld:
        """A world that lists nothing and gives every name a deterministic address on demand."""
        return cls(seed=seed)

    @classmethod
    def from_kallsyms(
        cls, source: str | os.PathLike[str], *, seed: int = 0, fallback: bool = True
    ) -> SymbolWorld:
        """Read /proc/kallsyms (``address type name [module]``), System.map or ``nm`` output
        (no module column; nm's address-less undefined lines are skipped).

        ``source`` is a path, or the text itself when it is a str containing a newline. Names
        the map lacks fall back to synthetic addresses (unless ``fallback`` is False).
        """
        if isinstance(source, str) and "\n" in source:
            text, where = source, "<kallsyms text>"
        else:
            where = os.fspath(source)
            try:
                text = read_text_bounded(where, MAX_MAP_SIZE, "symbol map")
            except InputError as e:
                raise WorldError(str(e)) from None
        world = cls(seed=seed, fallback=fallback)
        world._parse(text, where)
        return world

    def _parse(self, text: str, where: str) -> None:
        nonzero = False
        for lineno, line in enumerate(text.splitlines(), 1):
            fields = line.split()
            if not fields or (len(fields) == 2 and fields[0] in ("U", "w", "v")):
                continue  # blank, or an undefined symbol in nm output (no address)
            if len(fields) not in (3, 4):
                raise WorldError(
                    f"{where}:{lineno}: expected 'address type name [module]', got {line.strip()!r}"
                )
            addr_s, typ, name = fields[:3]
            try:
                addr = int(addr_s, 16)
            except ValueError:
                raise WorldError(f"{where}:{lineno}: bad address {addr_s!r}") from None
            if addr >= 1 << 64 or len(typ) != 1 or not typ.isalpha() and typ not in "?-":
                raise WorldError(f"{where}:{lineno}: bad address or type in {line.strip()!r}")
            obj = None
            if len(fields) == 4:
                mod = fields[3]
                if not (mod.startswith("[") and mod.endswith("]") and len(mod) > 2):
                    raise WorldError(f"{where}:{lineno}: bad module column {mod!r}")
                obj = mod[1:-1]
            nonzero |= addr != 0
            self._add(Ksym(addr, typ, name, obj, exported=typ.isupper()))
        if not self.entries:
            raise WorldError(f"{where}: no symbols")
        if not nonzero:
            raise WorldError(
                f"{where}: every address is zero (read /proc/kallsyms as root or set "
                "kernel.kptr_restrict=0)"
            )

    def add_symbol(
        self, obj: str | None, name: str, addr: int, *, type: str = "t", exported: bool = False
    ) -> None:
        """List ``name`` in ``obj`` (None or "vmlinux": vmlinux) at its generation-0 ``addr``.

        Duplicates are kept in the order added, as kallsyms lists static functions.
        """
        self._add(Ksym(addr, type, name, None if obj in (None, VMLINUX) else obj, exported))

    def set_module_bases(self, obj: str, bases: Iterable[int]) -> None:
        """Pin ``obj``'s base per generation (later generations get fresh synthetic bases).

        Listed symbols of ``obj`` keep their offset from ``bases[0]``.
        """
        self.bases[obj] = list(bases)

    def add_func_desc(self, addr: int, entry: int, toc: int, env: int = 0) -> None:
        """An explicit ELFv1 function descriptor at ``addr``."""
        self.func_descs[addr] = (entry, toc, env)

    def _add(self, e: Ksym) -> None:
        self.entries.append(e)
        self._by_name.setdefault((e.obj, e.name), []).append(e.addr)
        self._used.setdefault(e.obj, set()).add(e.addr)
        if e.obj is None:
            self._globals.setdefault(e.name, e.addr)
        else:
            self._mod_min[e.obj] = min(e.addr, self._mod_min.get(e.obj, e.addr))
        if e.exported:
            self._exports.setdefault(e.name, e.addr)

    # -- equality ------------------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SymbolWorld):
            return NotImplemented
        return (self.seed, self.fallback, self.entries, self.toc, self.bases, self.func_descs) == (
            other.seed, other.fallback, other.entries, other.toc, other.bases, other.func_descs
        )

    def __repr__(self) -> str:
        mods = sorted({e.obj for e in self.entries if e.obj is not None} | set(self.bases))
        return (
            f"SymbolWorld(seed={self.seed}, fallback={self.fallback}, "
            f"symbols={len(self.entries)}, modules={mods})"
        )

    # -- synthetic addresses -------------------------------------------------------------------
    def _synthetic(self, obj: str | None, name: str) -> int:
        """vmlinux: an address; a module: an offset from its base. Collisions probe onwards."""
        key = (obj, name)
        if key in self._synth:
            return self._synth[key]
        used = self._used.setdefault(obj, set())
        base = 0 if obj is None else self._listed_base(obj)
        start, span = (
            (VMLINUX_SYNTH_START, VMLINUX_SYNTH_SPAN) if obj is None
            else (MODULE_SYNTH_START, MODULE_SYNTH_SPAN)
        )
        attempt = 0
        while True:
            value = start + (_hash(self.seed, "sym", obj, name, attempt) % span) // SYNTH_GRANULE * SYNTH_GRANULE
            if base + value not in used:
                break
            attempt += 1
        used.add(base + value)
        self._synth[key] = value
        return value

    def _listed_base(self, obj: str) -> int:
        """The generation-0 base of ``obj``: pinned, else from its listed symbols, else synthetic."""
        if self.bases.get(obj):
            return self.bases[obj][0]
        if obj in self._mod_min:
            return self._mod_min[obj] & ~0xFFFF
        return self._fresh_base(obj, 0)

    def _fresh_base(self, obj: str, generation: int) -> int:
        lane = _hash(self.seed, "lane", obj) % N_LANES
        sub = _hash(self.seed, "sub", obj) % N_SUBSLOTS
        return TARGET_AREA + lane * LANE_SIZE + generation * GENERATION_STRIDE + sub * SUBSLOT

    # -- what the loader and livepatch ask -----------------------------------------------------
    def module_base(self, objname: str, generation: int = 0) -> int:
        """Where target module ``objname`` is loaded the ``generation``-th time."""
        if not 0 <= generation <= MAX_GENERATION:
            raise WorldError(f"generation {generation} out of range 0..{MAX_GENERATION}")
        if objname == VMLINUX:
            raise WorldError("vmlinux has no module base")
        pinned = self.bases.get(objname, [])
        if generation < len(pinned):
            return pinned[generation]
        if generation == 0:
            return self._listed_base(objname)
        return self._fresh_base(objname, generation)

    def lookup(self, objname: str | None, name: str, generation: int = 0) -> list[int]:
        """Every kallsyms match of ``name`` in ``objname`` (None/"vmlinux": vmlinux), in order.

        What klp_find_object_symbol's callback sees (kernel/livepatch/core.c): vmlinux matches
        in address order (the kallsyms table is address-sorted: kallsyms_on_each_symbol in 6.1,
        kallsyms_on_each_match_symbol in 6.12), module matches in the order listed (the module's
        symtab order, module_kallsyms_on_each_symbol) at the object's ``generation``-th base; an
        unlisted name gets one synthetic match.
        """
        obj = None if objname in (None, VMLINUX) else objname
        listed = self._by_name.get((obj, name))
        if obj is None:
            if listed:
                return sorted(listed)
            return [self._synthetic(None, name)] if self.fallback else []
        base = self.module_base(obj, generation)
        if listed:
            delta = base - self._listed_base(obj)
            return [(a + delta) & M64 for a in listed]
        return [base + self._synthetic(obj, name)] if self.fallback else []

    def resolve_export(self, name: str) -> int | None:
        """An exported symbol's address (resolve_symbol in kernel/module/main.c), else None.

        Order: exported listed symbols (vmlinux before modules, first listed wins), then any
        listed vmlinux symbol, then a synthetic vmlinux address when ``fallback`` is on.
        """
        if name in self._exports:
            return self._exports[name]
        if name in self._globals:
            return self._globals[name]
        if self.fallback or name in FTRACE_NAMES:
            return self._synthetic(None, name)
        return None

    def vmlinux_symbol(self, name: str) -> int | None:
        """A vmlinux symbol's address (the ftrace entry points always resolve)."""
        if name in self._globals:
            return self._globals[name]
        if self.fallback or name in FTRACE_NAMES:
            return self._synthetic(None, name)
        return None

    def kernel_toc_addr(self) -> int:
        """r2 in the kernel (kernel_toc_addr(), asm/sections.h): ".TOC." when listed."""
        if self.toc is not None:
            return self.toc
        return self._globals.get(".TOC.", KERNEL_TOC)

    def read_func_desc(self, addr: int) -> tuple[int, int, int]:
        """The ELFv1 function descriptor {entry, toc, env} at ``addr`` (func_desc() in module_64.c).

        Synthetic: the entry lies FUNC_DESC_ENTRY_DELTA after the descriptor, toc is the kernel
        TOC for vmlinux addresses and base + 0x8000 of the 1 MiB slot for module addresses.
        """
        if addr in self.func_descs:
            return self.func_descs[addr]
        entry = (addr + FUNC_DESC_ENTRY_DELTA) & M64
        toc = self.kernel_toc_addr() if addr < MODULE_AREA else (addr & ~(SUBSLOT - 1)) + 0x8000
        return entry, toc, 0

    def percpu_base(self, modname: str) -> int:
        """mod_percpu(mod): where the loading module's .data..percpu lives."""
        return PERCPU_BASE + (_hash(self.seed, "percpu", modname) % 0x1000) * 0x1_0000

    # -- serialisation -------------------------------------------------------------------------
    def to_kallsyms_text(self, generation_map: Mapping[str, int] | None = None) -> str:
        """/proc/kallsyms text for vmlinux plus each module at its generation in the map.

        Every listed symbol and every synthetic address handed out so far is included, so a
        fixture records what a run saw. Without a map, each known module at generation 0.
        """
        lines: list[str] = []
        for e in self.entries:
            if e.obj is None:
                lines.append(f"{e.addr:016x} {e.type} {e.name}")
        for (obj, name), value in self._synth.items():
            if obj is None:
                lines.append(f"{value:016x} T {name}")
        if self.toc is not None and ".TOC." not in self._globals:
            lines.append(f"{self.toc:016x} d .TOC.")
        mods: dict[str, int] = dict(generation_map or {})
        if generation_map is None:
            for e in self.entries:
                if e.obj is not None:
                    mods.setdefault(e.obj, 0)
            for obj, _ in self._synth:
                if obj is not None:
                    mods.setdefault(obj, 0)
        for obj, gen in mods.items():
            base = self.module_base(obj, gen)
            delta = base - self._listed_base(obj)
            for e in self.entries:
                if e.obj == obj:
                    lines.append(f"{(e.addr + delta) & M64:016x} {e.type} {e.name}\t[{obj}]")
            for (o, name), off in self._synth.items():
                if o == obj:
                    lines.append(f"{base + off:016x} t {name}\t[{obj}]")
        return "\n".join(lines) + "\n"
