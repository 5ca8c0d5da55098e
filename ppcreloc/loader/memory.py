"""Simulated module memory: placed sections, the bytes after `.stubs`, and one write primitive.

Every write goes through :meth:`ModuleMemory.write`, which records the address, old and new bytes,
the kernel primitive it models, the step and the relocation being applied. Reads and writes
outside the module's sections are recorded as :class:`~ppcreloc.records.OobAccess` events (the
kernel would touch foreign memory there), never a crash of the tool.

After the load, module_enable_ro makes the module's text, rodata and ro_after_init read-only
(:meth:`ModuleMemory.protect`): the text-patching primitives still write there, a plain store
or memcpy raises :class:`KernelFault` (the kernel would oops), which ends the step.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mypy_extensions import mypyc_attr

from ppcreloc.elf.model import ByteOrder, Rela
from ppcreloc.errors import PpcrelocError
from ppcreloc.records import OobAccess, Primitive, RelocRef, Write

#: primitives that are ordinary CPU stores: they fault on read-only pages (patch_instruction and
#: patch_u32 write through a temporary writable mapping, arch/powerpc/lib/code-patching.c)
PLAIN_PRIMITIVES: tuple[Primitive, ...] = ("store", "memcpy")


#: builds a Write (or OobAccess) from its fields without NamedTuple.__new__'s argument handling
_tuple_new = tuple.__new__


def reloc_ref(relsec: int, index: int, rela: Rela, symname: str) -> RelocRef:
    """The RelocRef of ``rela``, entry ``index`` of RELA section ``relsec`` (built with
    ``tuple.__new__``, without NamedTuple's argument handling: one is made per relocation)."""
    return _tuple_new(RelocRef, (relsec, index, rela.offset, rela.type, rela.sym, symname))


def make_write(addr: int, old: bytes, data: bytes, primitive: Primitive, step: int,
               reloc: RelocRef | None, in_bounds: bool, what: str) -> Write:
    """``Write(addr, old, data, primitive, step, reloc, in_bounds, what)``, cheaper."""
    return _tuple_new(Write, (addr, old, data, primitive, step, reloc, in_bounds, what))


@mypyc_attr(allow_interpreted_subclasses=True)  # the kernel harness raises its own kind
class KernelFault(PpcrelocError):
    """An access the kernel would oops on: the step ends here, StepResult.fault names ``signal``.

    ``addr`` is the faulting address, ``what`` says which access it was and ``reloc`` the
    relocation being applied (None when not known where the fault was raised).
    """

    def __init__(self, signal: str, addr: int, what: str, reloc: RelocRef | None = None) -> None:
        super().__init__(f"{what}: {signal} at {addr:#x}")
        self.signal = signal
        self.addr = addr
        self.what = what
        self.reloc = reloc


@dataclass
class Region:
    """One contiguous piece of memory: a placed section, or the area after `.stubs`."""

    name: str
    addr: int
    buf: bytearray
    index: int | None = None  # section index; None for the area after .stubs
    in_module: bool = True
    #: module_enable_ro covers this section (text, rodata, ro_after_init) once the load is done
    read_only: bool = False

    @property
    def end(self) -> int:
        """One past the last byte."""
        return self.addr + len(self.buf)


@dataclass
class ModuleMemory:
    """The module's memory image and the event log of everything that touched it.

    ``step`` and ``reloc`` are the context the loader sets before calling into the arch code, so
    each recorded event names the step and relocation that caused it; ``last_reloc`` keeps the
    last relocation set until :meth:`forget_reloc` (StepResult.failed_reloc names it).
    """

    regions: list[Region] = field(default_factory=list)
    writes: list[Write] = field(default_factory=list)
    oob: list[OobAccess] = field(default_factory=list)
    step: int = 0
    _reloc: RelocRef | None = field(default=None, repr=False)
    #: the relocation last set as ``reloc`` since the last :meth:`forget_reloc`
    last_reloc: RelocRef | None = field(default=None, repr=False)
    #: what an out-of-bounds read returns where no region backs the address (and nothing wrote)
    oob_fill: int = 0
    #: bytes written where no region backs the address: foreign memory keeps what the kernel
    #: wrote there, so a later read or write in another step sees it, as with the real code
    unbacked: dict[int, int] = field(default_factory=dict)
    #: [start, end) address ranges that are read-only (set by :meth:`protect`), sorted
    read_only: list[tuple[int, int]] = field(default_factory=list)
    #: the region _find last returned: read and write try it first (the stub walk and the stub
    #: writes hit one region many times in a row); regions never move, so it stays valid
    _hit: Region | None = field(default=None, repr=False, compare=False)

    @property
    def reloc(self) -> RelocRef | None:
        """The relocation being applied (None between relocations); setting one also makes it
        ``last_reloc``."""
        return self._reloc

    @reloc.setter
    def reloc(self, value: RelocRef | None) -> None:
        self._reloc = value
        if value is not None:
            self.last_reloc = value

    def forget_reloc(self) -> None:
        """A new section or phase starts: nothing has been applied in it yet."""
        self.last_reloc = None

    def protect(self, ranges: list[tuple[int, int]]) -> None:
        """Make ``ranges`` read-only for plain stores (module_enable_ro's set_memory_ro)."""
        self.read_only = sorted(ranges)

    def read_only_byte(self, addr: int, size: int) -> int | None:
        """The first address of [addr, addr+size) that lies in a read-only range, if any."""
        end = addr + size
        for lo, hi in self.read_only:
            if lo < end and addr < hi:
                return max(lo, addr)
        return None

    def add_region(self, region: Region) -> None:
        """Map a region (regions must not overlap)."""
        for r in self.regions:
            if region.addr < r.end and r.addr < region.end:
                raise ValueError(f"region {region.name} overlaps {r.name}")
        self.regions.append(region)

    def section(self, index: int) -> Region:
        """The region of section ``index`` (KeyError when it is not placed)."""
        for r in self.regions:
            if r.index == index:
                return r
        raise KeyError(index)

    def _find(self, addr: int) -> Region | None:
        r = self._hit
        if r is not None and r.addr <= addr < r.addr + len(r.buf):
            return r
        for r in self.regions:
            if r.addr <= addr < r.addr + len(r.buf):
                self._hit = r
                return r
        return None

    def in_module(self, addr: int, size: int) -> bool:
        """True when [addr, addr+size) lies inside one of the module's own sections."""
        return self.in_module_region(addr, size) is not None

    def read(self, addr: int, size: int, what: str) -> bytes:
        """Read ``size`` bytes; out-of-module bytes are logged (and read as backed or fill)."""
        r = self._hit
        if r is None or not r.addr <= addr < r.addr + len(r.buf):
            r = self._find(addr)
        if r is not None:
            lo = addr - r.addr
            if lo + size <= len(r.buf):
                if not r.in_module:
                    self.oob.append(_tuple_new(OobAccess, ("read", addr, size, self.step,
                                                           self.reloc, what)))
                return bytes(r.buf[lo : lo + size])
        self.oob.append(_tuple_new(OobAccess, ("read", addr, size, self.step, self.reloc,
                                               what)))
        out = bytearray()
        for a in range(addr, addr + size):
            r = self._find(a)
            out.append(r.buf[a - r.addr] if r is not None else self.unbacked.get(a, self.oob_fill))
        return bytes(out)

    def load(self, addr: int, size: int, byteorder: ByteOrder, what: str) -> int:
        """:meth:`read` as an integer (the arch code's loads): within the region hit last, one
        slice and no bytes object in between; anything else goes through :meth:`read`."""
        r = self._hit
        if r is not None and r.in_module and r.addr <= addr and addr - r.addr + size <= len(r.buf):
            lo = addr - r.addr
            return int.from_bytes(r.buf[lo : lo + size], byteorder)
        return int.from_bytes(self.read(addr, size, what), byteorder)

    def write(self, addr: int, data: bytes, primitive: Primitive, what: str) -> None:
        """The one write primitive: record, then store (out-of-module bytes go where backed).

        A plain store or memcpy touching a read-only range raises :class:`KernelFault`
        ("SIGSEGV", the first read-only byte) before anything is written or recorded: the
        kernel oopses on the store itself.
        """
        if self.read_only and primitive in PLAIN_PRIMITIVES:
            hit = self.read_only_byte(addr, len(data))
            if hit is not None:
                r = self._find(hit)
                where = r.name if r is not None else "module memory"
                raise KernelFault("SIGSEGV", hit, f"plain {primitive} into read-only {where} "
                                  f"({what})", self.reloc)
        # one region lookup (the last one hit first); in bounds exactly when in_module holds
        r = self._hit
        if r is None or not r.addr <= addr < r.addr + len(r.buf):
            r = self._find(addr)
        n = len(data)
        if r is not None and addr - r.addr + n <= len(r.buf):
            # one region holds every byte: slice it (out of the module, it is also an OOB event)
            lo = addr - r.addr
            buf = r.buf
            old_b = bytes(buf[lo : lo + n])
            buf[lo : lo + n] = data
            if not r.in_module:
                self.oob.append(_tuple_new(OobAccess, ("write", addr, n, self.step, self.reloc,
                                                       what)))
            self.writes.append(_tuple_new(Write, (addr, old_b, bytes(data), primitive,
                                                  self.step, self.reloc, r.in_module, what)))
            return
        # slow path: across regions or into unbacked memory, byte by byte
        old = bytearray()
        for i, byte in enumerate(data):
            r = self._find(addr + i)
            if r is None:
                old.append(self.unbacked.get(addr + i, self.oob_fill))
                self.unbacked[addr + i] = byte
                continue
            old.append(r.buf[addr + i - r.addr])
            r.buf[addr + i - r.addr] = byte
        self.oob.append(_tuple_new(OobAccess, ("write", addr, n, self.step, self.reloc,
                                               what)))
        self.writes.append(
            make_write(addr, bytes(old), bytes(data), primitive, self.step, self.reloc, False, what)
        )

    def in_module_region(self, addr: int, size: int) -> Region | None:
        """The in-module region holding all of [addr, addr+size), if one does."""
        r = self._find(addr)
        if r is not None and r.in_module and addr + size <= r.addr + len(r.buf):
            return r
        return None

    def snapshot(self) -> dict[int, bytes]:
        """The bytes of every placed section, by section index."""
        return {r.index: bytes(r.buf) for r in self.regions if r.index is not None}
