"""The engine interface: what every engine (a Python profile or the kernel's own C) takes and returns.

An engine runs a :class:`Scenario` (an object, where it goes in memory, a symbol world, the kernel
configuration and a script of loader steps) and returns a :class:`RunResult`: per step the return
code, the kernel messages and WARNs, every write with the kernel primitive it models, every
out-of-bounds access, and the memory afterwards. The oracle judges RunResults only, so a Python
profile and ``kernel:PATH`` are interchangeable everywhere.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal, NamedTuple, Protocol

from ppcreloc.bits import M64
from ppcreloc.elf.model import ElfObject


class World(Protocol):
    """What the loader, the livepatch driver and the arch code ask of the symbol world: a
    ppcreloc.loader.world.SymbolWorld (the arch unit tests give ModuleState a smaller one,
    TinyWorld)."""

    def kernel_toc_addr(self) -> int:
        """The kernel's TOC pointer (paca->kernel_toc)."""
        ...

    def vmlinux_symbol(self, name: str) -> int | None:
        """A vmlinux symbol's address."""
        ...

    def read_func_desc(self, addr: int) -> tuple[int, int, int]:
        """The ELFv1 function descriptor at ``addr`` outside the module."""
        ...

    def lookup(self, objname: str | None, name: str, generation: int = 0) -> list[int]:
        """klp_find_object_symbol's candidates for ``name`` in ``objname``."""
        ...

    def resolve_export(self, name: str) -> int | None:
        """simplify_symbols' resolve_symbol: an exported symbol's address."""
        ...

    def percpu_base(self, modname: str) -> int:
        """The module's per-cpu area."""
        ...

    def module_base(self, objname: str, generation: int = 0) -> int:
        """Where target module ``objname`` is loaded the ``generation``-th time."""
        ...


class _PickledByFields:
    """Pickles a frozen dataclass by its fields: a compiled (mypyc) frozen record cannot be
    restored attribute by attribute, and the kernel harness sends records to its child."""

    def __reduce__(self) -> tuple[type, tuple[Any, ...]]:
        record: Any = self
        return (type(self), tuple(getattr(self, f.name) for f in fields(record)))


@dataclass(frozen=True)
class Config(_PickledByFields):
    """Kernel configuration knobs that change module_64.c's behaviour.

    Defaults follow a Debian ppc64el kernel: ELFv2 little endian, CONFIG_MPROFILE_KERNEL,
    CONFIG_DYNAMIC_FTRACE, CONFIG_DYNAMIC_FTRACE_WITH_REGS, CONFIG_PPC_PSERIES (paca kernel_toc at
    offset 16), CONFIG_PPC_KERNEL_PCREL off.
    """

    abi: Literal["elfv2", "elfv1"] = "elfv2"
    pcrel: bool = False
    mprofile_kernel: bool = True
    dynamic_ftrace: bool = True
    dynamic_ftrace_with_regs: bool = True
    paca_kernel_toc_offset: int = 16
    #: CONFIG_STRICT_MODULE_RWX (on in Debian ppc64el): module_enforce_rwx_sections refuses W+X
    strict_module_rwx: bool = True
    #: CONFIG_PPC_FTRACE_OUT_OF_LINE (6.13+, def_bool on ppc64 with patchable function entries):
    #: read only by the profiles of kernels that have it (v6.13, v6.18); the OOL stub count is
    #: derived from the module's ``__patchable_function_entries`` as get_stubs_size derives it
    ftrace_out_of_line: bool = True
    #: CONFIG_DYNAMIC_FTRACE_WITH_CALL_OPS (arch/powerpc/Kconfig selects its HAVE_ with
    #: PPC_FTRACE_OUT_OF_LINE, 6.13): struct ftrace_ool_stub starts with an ftrace_ops pointer,
    #: 24 bytes instead of 16
    ftrace_call_ops: bool = True

    @property
    def big_endian(self) -> bool:
        """ELFv1 is big endian, ELFv2 little endian (the combinations Debian ships)."""
        return self.abi == "elfv1"


@dataclass(frozen=True)
class Layout(_PickledByFields):
    """Where the module's SHF_ALLOC sections go, and what lies right after `.stubs`.

    ``addresses`` pins sections by name; the rest are placed from ``base`` by the loader's
    default placement. ``after_stubs`` is the content of the memory that follows `.stubs`
    (zeroed by default, as module memory is): the stub walk may read it and an exhausted
    `.stubs` may be written into it.
    """

    base: int = 0xC008_0000_0010_0000
    addresses: Mapping[str, int] = field(default_factory=dict)
    after_stubs: bytes = bytes(64)


StepKind = Literal["load", "coming", "going"]


@dataclass(frozen=True)
class Step(_PickledByFields):
    """One loader action.

    ``load``: load the livepatch module (frob, placement, resolution, finalize_ftrace, apply of
    plain RELA and ``.klp.rela.vmlinux.*`` sections). ``coming``: target object ``objname`` is
    loaded at its ``generation``-th address (klp_module_coming: resolve + apply). ``going``: it is
    unloaded (klp_module_going: clear).
    """

    kind: StepKind
    objname: str | None = None
    generation: int = 0


class RelocRef(NamedTuple):
    """Which relocation caused an event: RELA section index, index in the (sorted) array."""

    relsec: int
    index: int  # type: ignore[assignment]  # shadows tuple.index, on purpose
    offset: int
    type: int
    sym: int
    symname: str


_PRINTK_SPEC = re.compile(r"%%|%p[SsB]?|%0?\d*(?:ll|l|z|h)?[dixuXs]")


class KernelMessage(NamedTuple):
    """A printk/pr_* call: format string and its integer/string arguments (no %p rendering)."""

    level: str
    fmt: str
    args: tuple[int | str, ...] = ()

    def render(self) -> str:
        """Best-effort rendering for humans (pointer formats shown as hex).

        Conversions are taken in the order they appear in the format, one argument each.
        """
        return render_printk(self.fmt, self.args)


def render_printk(fmt: str, args: tuple[int | str, ...]) -> str:
    """:meth:`KernelMessage.render` of ``fmt`` with ``args`` (one per conversion, in order)."""
    pending = iter(args)

    def conv(m: re.Match[str]) -> str:
        spec = m.group(0)
        if spec == "%%":
            return "%"
        a = next(pending, None)
        if a is None:
            return spec
        if not isinstance(a, int):
            return str(a)
        if spec.startswith("%p"):
            return hex(a)
        if spec[-1] in "xXu" and a < 0:
            a &= M64  # unsigned long, as printk prints it
        return re.sub(r"ll|l|z|h", "", spec) % a

    return _PRINTK_SPEC.sub(conv, fmt).rstrip("\n")


Primitive = Literal["patch_instruction", "patch_u32", "store", "memcpy"]


class Write(NamedTuple):
    """One write to module memory, through the kernel primitive it models.

    A NamedTuple rather than a frozen dataclass: every modelled store builds one (about 200
    per checked case), and a tuple is about three times cheaper to construct.
    """

    addr: int
    old: bytes
    new: bytes
    primitive: Primitive
    step: int
    reloc: RelocRef | None
    in_bounds: bool
    what: str = ""


class OobAccess(NamedTuple):
    """A read or write outside the module's sections (the kernel would touch foreign memory)."""

    kind: Literal["read", "write"]
    addr: int
    size: int
    step: int
    reloc: RelocRef | None
    what: str


@dataclass
class StepResult:
    """What one :class:`Step` did."""

    step: Step
    rc: int
    messages: list[KernelMessage] = field(default_factory=list)
    warns: int = 0
    #: which WARNs fired (``function: WARN_ON(condition)``), when the engine knows
    warn_sites: list[str] = field(default_factory=list)
    writes: list[Write] = field(default_factory=list)
    oob: list[OobAccess] = field(default_factory=list)
    memory: dict[int, bytes] = field(default_factory=dict)
    after_stubs: bytes = b""
    #: the signal when the step faulted (the kernel would oops): the step ended there, its
    #: rc is 0 and means nothing, and no later step ran
    fault: str | None = None
    #: the relocation being applied when the step failed (rc != 0 or fault), when known
    failed_reloc: RelocRef | None = None
    #: where the fault hit and which access it was (e.g. a plain store into read-only text)
    fault_addr: int | None = None
    fault_what: str = ""


@dataclass(frozen=True)
class Placement(_PickledByFields):
    """Where one SHF_ALLOC section ended up."""

    index: int
    name: str
    addr: int
    size: int


@dataclass
class RunResult:
    """Every step's result, plus the final placement of the module's sections."""

    engine: str
    steps: list[StepResult]
    placements: list[Placement] = field(default_factory=list)
    stubs: tuple[int, int] = (0, 0)  # (address, size) of .stubs after sizing
    #: (address, size) of the ftrace_ool_stub[] block setup_ftrace_ool_stubs reserved inside
    #: `.stubs` (CONFIG_PPC_FTRACE_OUT_OF_LINE, 6.13+); (0, 0) when none was reserved
    ool_stubs: tuple[int, int] = (0, 0)


@dataclass
class Scenario:
    """Everything an engine needs to run, so a run is reproducible from it alone."""

    obj: ElfObject
    world: World
    steps: list[Step]
    layout: Layout = field(default_factory=Layout)
    config: Config = field(default_factory=Config)
    modname: str = "livepatch_test"


class Engine(Protocol):
    """Anything that runs scenarios: Python profiles and ``kernel:PATH`` alike."""

    name: str

    def run(self, scenario: Scenario) -> RunResult:
        """Run every step of ``scenario`` in order and report what happened."""
        ...
