"""ctypes glue: the kernel's own module_64.c as an :class:`~ppcreloc.loader.module.ArchBackend`.

:class:`KernelArch` marshals a :class:`~ppcreloc.loader.module.ModuleState` into the C view the
kernel functions expect (an Elf64_Ehdr image with its section headers, section names, symtab,
strtab and RELA arrays; module memory mapped at the layout's real addresses), calls the function
under a fault guard, and syncs the results back: sorted RELA arrays, the `.stubs` size and `.toc`
alignment module_frob_arch_sections sets, dedotified symbols, the .TOC. value, the
mod_arch_specific fields, every write (patch primitives as recorded by the shim, plain stores
found by diffing memory), printk calls and WARN_ONs.

Module memory must lie at user addresses (the code dereferences them): this module mmaps each
page the layout needs with MAP_FIXED_NOREPLACE and refuses kernel addresses. Use it in a child
process (ppcreloc/reference/kernel/child.py): a fault or a wild store can leave the process unusable.
"""

from __future__ import annotations

import bisect
import ctypes
import mmap
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from ppcreloc.arch.stubs import FUNCDATA_OFFSET, MAGIC_OFFSET
from ppcreloc.bits import M64
from ppcreloc.elf.format import Elf64_Ehdr, Elf64_Rela, Elf64_Shdr, Elf64_Sym, codec
from ppcreloc.elf.model import (
    SHF_ALLOC,
    SHT_NOBITS,
    SHT_RELA,
    SHT_STRTAB,
    SHT_SYMTAB,
    ElfObject,
    Rela,
)
from ppcreloc.errors import PpcrelocError, ToolError
from ppcreloc.loader.loader import read_only_ranges
from ppcreloc.loader.memory import KernelFault as MemoryFault
from ppcreloc.loader.memory import ModuleMemory, reloc_ref
from ppcreloc.loader.module import ModuleState
from ppcreloc.ppc64.reloctypes import RELOC_TYPES
from ppcreloc.records import OobAccess, Primitive, RelocRef, Write

PAGE = mmap.PAGESIZE
#: highest address a user mapping may use (x86-64 / ppc64 user space is below 2**47 here)
USER_LIMIT = 1 << 47
#: the ELF structures the shim's little-endian image uses (declared in ppcreloc.elf.format)
EHDR = codec(Elf64_Ehdr, "<")
SHDR = codec(Elf64_Shdr, "<")
SYM = codec(Elf64_Sym, "<")
RELA = codec(Elf64_Rela, "<")
#: pr_fmt's prefix in module_64.c (KBUILD_MODNAME ": "), stripped so formats match the model's
KBUILD_PREFIX = "module_64: "
#: the shim's primitive numbers; patch_ulong (never called by module_64.c) counts as patch_u32
PRIMITIVES: dict[int, Primitive] = {0: "patch_instruction", 1: "patch_u32", 2: "patch_u32"}
_NONZERO = re.compile(rb"[^\x00]+")
SIGNALS = {7: "SIGBUS", 4: "SIGILL", 8: "SIGFPE", 11: "SIGSEGV"}

libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [
    ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long,
]
libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
MAP_FIXED_NOREPLACE = 0x100000


class KernelFault(MemoryFault):
    """The kernel code faulted (the real code would oops); ``signal`` names the signal.

    A :class:`ppcreloc.loader.memory.KernelFault`, so the generic loader ends the step with it.
    """

    def __init__(self, signal: str, addr: int, function: str, what: str = "") -> None:
        super().__init__(signal, addr, what or f"{function} faulted")
        self.function = function


class LayoutError(PpcrelocError):
    """Module memory cannot be mapped where the layout puts it."""


class _Write(ctypes.Structure):
    _fields_ = [
        ("addr", ctypes.c_ulong), ("old", ctypes.c_ulong), ("new", ctypes.c_ulong),
        ("size", ctypes.c_int), ("primitive", ctypes.c_int), ("ok", ctypes.c_int),
        ("reloc", ctypes.c_int),
    ]


class _Msg(ctypes.Structure):
    _fields_ = [
        ("level", ctypes.c_char_p), ("fmt", ctypes.c_char_p), ("nargs", ctypes.c_int),
        ("is_str", ctypes.c_int * 8), ("ival", ctypes.c_ulong * 8),
        ("sval", ctypes.c_ulong * 8),
    ]


#: the shim's record-loss bits (runtime.c PPCR_LOST_*)
LOST = {1: "patch writes (out of memory)", 2: "printk records (out of memory)",
        4: "printk arguments (more than 8)", 8: "mapped ranges (more than 256)"}


class RecordsLost(ToolError):
    """The shim could not keep every record of a call: its log is incomplete, so the call's
    results are refused (never compared truncated)."""

    def __init__(self, function: str, bits: int) -> None:
        what = ", ".join(v for k, v in LOST.items() if bits & k) or f"records (bits {bits:#x})"
        super().__init__("truncated", f"kernel engine lost {what} in {function}: the harness's "
                         "log of this call is incomplete")


def load_library(path: Path) -> ctypes.CDLL:
    """Open a built library and declare the harness entry points."""
    lib = ctypes.CDLL(str(path))
    vp, ul, ui = ctypes.c_void_p, ctypes.c_ulong, ctypes.c_uint
    sigs: dict[str, tuple[type | None, list[type]]] = {
        "ppcr_guard_frob": (ctypes.c_int, [vp, vp, vp, vp]),
        "ppcr_guard_finalize_ftrace": (ctypes.c_int, [vp, vp]),
        "ppcr_guard_apply": (ctypes.c_int, [vp, vp, ui, ui, vp]),
        "ppcr_guard_clear": (ctypes.c_int, [vp, vp, ui, ui, vp]),
        "ppcr_fault_signal": (ctypes.c_int, []),
        "ppcr_fault_addr": (ul, []),
        "ppcr_has_clear_relocate_add": (ctypes.c_int, []),
        "ppcr_module": (vp, []),
        "ppcr_arch_get": (None, [ctypes.POINTER(ul)]),
        "ppcr_arch_set": (None, [ctypes.POINTER(ul), ctypes.c_char_p, ul, ul]),
        "ppcr_set_kernel": (None, [ul, ul, ul]),
        "ppcr_set_kallsyms": (None, [vp, ui, vp]),
        "ppcr_reset_ranges": (None, []),
        "ppcr_add_range": (ctypes.c_int, [ul, ul, ctypes.c_int]),
        "ppcr_reset_records": (None, []),
        "ppcr_nwrites": (ctypes.c_int, []),
        "ppcr_write_at": (ctypes.POINTER(_Write), [ctypes.c_int]),
        "ppcr_nmsgs": (ctypes.c_int, []),
        "ppcr_msg_at": (ctypes.POINTER(_Msg), [ctypes.c_int]),
        "ppcr_msg_str": (ctypes.c_char_p, [ctypes.c_int, ctypes.c_int]),
        "ppcr_lost": (ctypes.c_int, []),
        "ppcr_nwarns": (ctypes.c_int, []),
        "ppcr_reloc_index": (ctypes.c_int, []),
    }
    for name, (res, args) in sigs.items():
        fn = getattr(lib, name)
        fn.restype = res
        fn.argtypes = args
    return lib


class AddressSpace:
    """The pages this process mapped for module memory (fixed addresses, zero-filled).

    One per process (:data:`SPACE`): every KernelArch in the process shares it.
    """

    def __init__(self) -> None:
        self.pages: set[int] = set()
        self.ro: set[int] = set()

    def zero(self) -> None:
        """Clear every mapped page and make it writable again (a new load starts afresh)."""
        self.protect(set())
        for start, end in self.spans():
            ctypes.memset(start, 0, end - start)

    def protect(self, pages: set[int]) -> None:
        """Make exactly ``pages`` (page numbers) read-only; every other mapped page read-write."""
        for page in self.ro ^ pages:
            prot = mmap.PROT_READ | (0 if page in pages else mmap.PROT_WRITE)
            if libc.mprotect(page * PAGE, PAGE, prot) != 0:
                raise LayoutError(f"cannot change protection of {page * PAGE:#x}")
        self.ro = set(pages)

    def runs(self) -> list[tuple[int, int, bool]]:
        """Mapped memory as (start, end, read-only) runs of contiguous, equally protected pages."""
        out: list[tuple[int, int, bool]] = []
        for page in sorted(self.pages):
            start, ro = page * PAGE, page in self.ro
            if out and out[-1][1] == start and out[-1][2] == ro:
                out[-1] = (out[-1][0], start + PAGE, ro)
            else:
                out.append((start, start + PAGE, ro))
        return out

    def ensure(self, addr: int, size: int) -> None:
        """Map every page of [addr, addr+size) not mapped yet, at its exact address."""
        if size <= 0:
            return
        if addr < PAGE or addr + size > USER_LIMIT:
            raise LayoutError(
                f"module memory at {addr:#x} is not a user address: the kernel engine needs a "
                "user-range Layout (e.g. base 0x7e0000000000)"
            )
        first, last = addr // PAGE, (addr + size - 1) // PAGE
        for page in range(first, last + 1):
            if page in self.pages:
                continue
            want = page * PAGE
            got = libc.mmap(want, PAGE, mmap.PROT_READ | mmap.PROT_WRITE,
                            mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0)
            if got != want:
                raise LayoutError(f"cannot map module memory at {want:#x}: address in use")
            self.pages.add(page)

    def spans(self) -> list[tuple[int, int]]:
        """Mapped memory as sorted (start, end) runs of contiguous pages."""
        out: list[tuple[int, int]] = []
        for page in sorted(self.pages):
            start = page * PAGE
            if out and out[-1][1] == start:
                out[-1] = (out[-1][0], start + PAGE)
            else:
                out.append((start, start + PAGE))
        return out


@dataclass
class _Image:
    """One call's C view of the module: keeps the buffers alive while C uses them."""

    buf: ctypes.Array[ctypes.c_char]
    base: int
    shdr_off: int
    shstr_off: int
    sym_off: int
    str_off: int
    rela_off: dict[int, int]
    str_offsets: dict[str, int]
    versions_off: int | None

    @property
    def hdr(self) -> int:
        return self.base

    @property
    def sechdrs(self) -> int:
        return self.base + self.shdr_off

    @property
    def secstrings(self) -> int:
        return self.base + self.shstr_off

    @property
    def strtab(self) -> int:
        return self.base + self.str_off


SPACE = AddressSpace()


def _strtab(names: list[str]) -> tuple[bytes, dict[str, int]]:
    data = bytearray(b"\0")
    offsets = {"": 0}
    for n in names:
        if n not in offsets:
            offsets[n] = len(data)
            data += n.encode("utf-8", "surrogateescape") + b"\0"
    return bytes(data), offsets


def build_image(obj: ElfObject, relas: Iterable[int] | None = None) -> _Image:
    """The Elf64_Ehdr image module_frob_arch_sections and apply_relocate_add read.

    Placed SHF_ALLOC sections get sh_addr = their address; before placement (addr 0) and for
    everything else sh_addr points into the image, as layout_and_allocate leaves it
    (kernel/module/main.c). ``relas``: the RELA sections whose entries the call reads (default
    all); the others keep their sh_size but get sh_addr 0, so a stray read faults visibly.
    """
    shstr, shoff = _strtab([s.name for s in obj.sections])
    symstr, stroff = _strtab([s.name for s in obj.symbols])
    symtab = b"".join(
        SYM.pack(stroff[s.name], s.info, s.other, s.shndx & 0xFFFF, s.value & M64,
                 s.size & M64)
        for s in obj.symbols
    )
    n = len(obj.sections)
    off = EHDR.size
    shdr_off = off
    off += n * SHDR.size
    chunks: list[tuple[int, bytes]] = []

    def put(data: bytes, align: int = 8) -> int:
        nonlocal off
        off = (off + align - 1) // align * align
        at = off
        chunks.append((at, data))
        off += len(data)
        return at

    shstr_off = put(shstr, 1)
    sym_off = put(symtab)
    str_off = put(symstr, 1)
    wanted = obj.rela_sections() if relas is None else list(relas)
    rela_off = {
        i: put(b"".join(RELA.pack(r.offset & M64, r.info, r.addend)
                        for r in obj.relocs.get(i, [])))
        for i in wanted
    }
    versions = obj.section_index("__versions")
    data_off: dict[int, int] = {}
    for i, s in enumerate(obj.sections):
        if i and s.type not in (SHT_NOBITS, SHT_RELA, SHT_SYMTAB, SHT_STRTAB) and s.data:
            data_off[i] = put(s.data)
    buf = ctypes.create_string_buffer(max(off, 1) + 64)
    base = ctypes.addressof(buf)
    for at, data in chunks:
        ctypes.memmove(base + at, data, len(data))
    symtab_idx = obj.symtab_index
    strtab_idx = obj.sections[symtab_idx].link if symtab_idx is not None else 0
    for i, s in enumerate(obj.sections):
        if i == 0:
            hdr = SHDR.pack(0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        else:
            size, offset = s.sh_size, data_off.get(i, 0)
            if s.type == SHT_RELA:
                offset, size = rela_off.get(i, 0), len(obj.relocs.get(i, [])) * RELA.size
            elif i == symtab_idx:
                offset, size = sym_off, len(symtab)
            elif i == strtab_idx:
                offset, size = str_off, len(symstr)
            elif i == obj.shstrndx:
                offset, size = shstr_off, len(shstr)
            addr = s.addr if (s.flags & SHF_ALLOC and s.addr and s.type != SHT_RELA) else 0
            if not addr and not (s.type == SHT_RELA and i not in rela_off):
                addr = base + offset
            hdr = SHDR.pack(shoff[s.name], s.type, s.flags, addr, offset, size, s.link, s.info,
                            s.addralign, s.entsize)
        ctypes.memmove(base + shdr_off + i * SHDR.size, hdr, SHDR.size)
    ehdr = EHDR.pack(b"\x7fELF\x02\x01\x01" + bytes(9), obj.type, obj.machine, 1, 0, 0,
                     shdr_off, obj.flags, EHDR.size, 0, 0, SHDR.size, n, obj.shstrndx)
    ctypes.memmove(base, ehdr, EHDR.size)
    return _Image(buf, base, shdr_off, shstr_off, sym_off, str_off, rela_off, stroff,
                  data_off.get(versions) if versions is not None else None)


def _shdr(img: _Image, i: int) -> tuple[int, ...]:
    return SHDR.unpack(ctypes.string_at(img.sechdrs + i * SHDR.size, SHDR.size))


class KernelArch:
    """The ArchBackend whose four methods run the kernel tree's own C functions."""

    def __init__(self, library: Path, name: str = "kernel", read_only: bool | None = None) -> None:
        self.name = name
        #: module_enable_ro after the load: None follows the generic loader (module memory's
        #: read-only ranges, set when Config.strict_module_rwx), True always, False never
        self.read_only = read_only
        self._ro_pages: set[int] = set()
        self.library = library
        self.lib = load_library(library)
        self.space = SPACE
        self.has_clear = bool(self.lib.ppcr_has_clear_relocate_add())
        #: a tree carrying the v7 ppc64 clear also carries v7's core.c, which resolves first
        self.resolve_before_clear = self.has_clear
        self._check_arch: Callable[[int], bool] | None = None
        try:
            check_arch = self.lib.module_elf_check_arch
        except AttributeError:  # 6.1 has no ppc64 module_elf_check_arch
            pass
        else:
            check_arch.restype = ctypes.c_bool
            check_arch.argtypes = [ctypes.c_void_p]
            self._check_arch = check_arch

    def module_elf_check_arch(self, mod: ModuleState) -> bool:
        """6.12 module_elf_check_arch (ABI level in e_flags); trees without one accept all."""
        if self._check_arch is None:
            return True
        img = build_image(mod.obj, ())
        return bool(self._check_arch(img.hdr))

    # -- ArchBackend ------------------------------------------------------------------------
    def module_frob_arch_sections(self, mod: ModuleState) -> int:
        """v6.1/v6.12 module_frob_arch_sections: sort RELA, dedotify, size .stubs."""
        self.space.zero()  # a new load: nothing of an earlier run may linger between sections
        self._ro_pages = set()
        img = build_image(mod.obj)
        rc = self._call(mod, img, "module_frob_arch_sections", self.lib.ppcr_guard_frob,
                        img.hdr, img.sechdrs, img.secstrings, self.lib.ppcr_module())
        obj = mod.obj
        for i in obj.rela_sections():
            raw = ctypes.string_at(img.base + img.rela_off[i], len(obj.relocs.get(i, [])) * 24)
            obj.relocs[i] = [
                Rela(off, info >> 32, info & 0xFFFFFFFF, add) for off, info, add in RELA.iter_unpack(raw)
            ]
        for i, s in enumerate(obj.sections):
            if i:
                sh = _shdr(img, i)
                s.addralign = sh[8]
                if s.type == SHT_NOBITS or sh[5] != s.sh_size:
                    s.size = sh[5]
        if img.versions_off is not None:
            v = obj.section_index("__versions")
            assert v is not None
            sec = obj.sections[v]
            sec.data = ctypes.string_at(img.base + img.versions_off, len(sec.data))
        return rc

    def module_finalize_ftrace(self, mod: ModuleState) -> int:
        """v6.1/v6.12 module_finalize_ftrace: stubs for ftrace_caller and ftrace_regs_caller."""
        img = build_image(mod.obj, ())
        rc = self._call(mod, img, "module_finalize_ftrace", self.lib.ppcr_guard_finalize_ftrace,
                        self.lib.ppcr_module(), img.sechdrs)
        if rc == 0:  # the load's last arch step: every later call comes after module_enable_ro
            self.module_enable_ro(mod)
        return rc

    def apply_relocate_add(self, mod: ModuleState, symindex: int, relsec: int) -> int:
        """v6.1/v6.12 apply_relocate_add over one RELA section."""
        img = build_image(mod.obj, (relsec,))
        return self._call(mod, img, "apply_relocate_add", self.lib.ppcr_guard_apply,
                          img.sechdrs, img.strtab, symindex, relsec, self.lib.ppcr_module(),
                          relsec=relsec)

    def clear_relocate_add(self, mod: ModuleState, symindex: int, relsec: int) -> None:
        """The tree's ppc64 clear_relocate_add when it has one; else kernel/livepatch/core.c's
        weak, empty default (true of every 6.1-6.12 tree: powerpc defines none)."""
        if not self.has_clear:
            return
        img = build_image(mod.obj, (relsec,))
        self.lib.ppcr_set_kallsyms(img.base + img.sym_off, len(mod.obj.symbols), img.strtab)
        self._call(mod, img, "clear_relocate_add", self.lib.ppcr_guard_clear,
                   img.sechdrs, img.strtab, symindex, relsec, self.lib.ppcr_module())

    # -- marshalling ------------------------------------------------------------------------
    def module_enable_ro(self, mod: ModuleState) -> None:
        """After load_module: module_enable_ro (6.1) / module_enable_text_rox +
        module_enable_rodata_ro (6.12) and, once init has run, ro_after_init. With
        ``read_only`` True the pages ppcreloc.loader.loader.read_only_ranges names become
        read-only whatever the configuration says (None: as the generic loader protects the
        module memory): a plain store there faults as it would oops in the kernel; patch
        primitives still write."""
        if self.read_only:
            self._ro_pages = self._pages(read_only_ranges(mod))

    @staticmethod
    def _pages(ranges: list[tuple[int, int]]) -> set[int]:
        return {p for lo, hi in ranges for p in range(lo // PAGE, (hi - 1) // PAGE + 1)}

    def _protected(self, mod: ModuleState) -> set[int]:
        """The host pages to make read-only for this call."""
        if self.read_only is None:
            return self._pages(mod.memory.read_only)
        return self._ro_pages if self.read_only else set()

    def _enter(self, mod: ModuleState) -> dict[int, bytes]:
        """Map and fill module memory, set struct module and the kernel's values."""
        mem = mod.memory
        lib = self.lib
        for r in mem.regions:
            self.space.ensure(r.addr, len(r.buf))
        self.space.protect(set())
        for r in mem.regions:
            if r.buf:
                ctypes.memmove(r.addr, bytes(r.buf), len(r.buf))
        snapshot = {s: ctypes.string_at(s, e - s) for s, e in self.space.spans()}
        self.space.protect(self._protected(mod) & self.space.pages)
        lib.ppcr_reset_ranges()
        for start, end, ro in self.space.runs():
            if lib.ppcr_add_range(start, end, int(ro)) != 0:
                raise RecordsLost("module memory setup", 8)
        lib.ppcr_reset_records()
        a = mod.arch
        arch = (ctypes.c_ulong * 5)(a.stubs_section, a.toc_section, int(a.toc_fixed),
                                     a.tramp, a.tramp_regs)
        core = [r for r in mem.regions if r.in_module] or mem.regions
        lo = min((r.addr for r in core), default=0)
        hi = max((r.end for r in core), default=0)
        lib.ppcr_arch_set(arch, mod.name.encode(), lo, hi - lo)
        w = mod.world
        lib.ppcr_set_kernel(w.kernel_toc_addr(), w.vmlinux_symbol("ftrace_caller") or 0,
                            w.vmlinux_symbol("ftrace_regs_caller") or 0)
        return snapshot

    def _call(self, mod: ModuleState, img: _Image, fname: str, fn: Callable[..., int],
              *args: object, relsec: int | None = None) -> int:
        before = self._enter(mod)
        protected = self._protected(mod)
        rc = fn(*args)
        sig = self.lib.ppcr_fault_signal()
        if lost := self.lib.ppcr_lost():
            raise RecordsLost(fname, lost)
        self._leave(mod, img, before, relsec)
        if sig:
            addr = int(self.lib.ppcr_fault_addr())
            what = ""
            if addr // PAGE in protected:  # the store hit a page module_enable_ro protected
                r = next((r for r in mod.memory.regions if r.addr <= addr < r.end), None)
                what = (f"plain store into read-only {r.name if r else 'module memory'} "
                        f"({fname})")
            raise KernelFault(SIGNALS.get(sig, f"signal {sig}"), addr, fname, what)
        return int(rc)

    def _leave(self, mod: ModuleState, img: _Image, before: dict[int, bytes],
               relsec: int | None) -> None:
        """Record writes, messages and WARNs; copy memory, symbols and arch fields back."""
        lib = self.lib
        mem = mod.memory
        refs = _RelocRefs(mod, relsec)
        labels = _PatchLabels(mod)
        expected = {s: bytearray(b) for s, b in before.items()}
        for i in range(lib.ppcr_nwrites()):
            w = lib.ppcr_write_at(i).contents
            new = w.new.to_bytes(8, "little")[: w.size]
            old = w.old.to_bytes(8, "little")[: w.size]
            ref = refs.get(w.reloc)
            what = labels.what(w.addr, ref)
            self._record(mem, w.addr, old, new, PRIMITIVES.get(w.primitive, "patch_u32"),
                         what if w.ok else f"{what} (unmapped: -EFAULT)", ref)
            for s in expected:
                if w.ok and s <= w.addr and w.addr + w.size <= s + len(expected[s]):
                    expected[s][w.addr - s : w.addr - s + w.size] = new
        fields = _Fields(mod, relsec, lib.ppcr_reloc_index()) if relsec is not None else None
        recorded: set[tuple[int, int]] = set()
        for s, exp in expected.items():
            after = ctypes.string_at(s, len(exp))
            for lo, hi in _diff_runs(exp, after):
                rest = [(s + lo, s + hi)]
                if fields is not None:  # a relocation's field: one store of the whole field
                    rest = []
                    covered = s + lo
                    for addr, size, what, index in fields.overlapping(s + lo, s + hi):
                        f_lo, f_hi = addr - s, addr - s + size
                        if 0 <= f_lo and f_hi <= len(exp):
                            if (addr, size) not in recorded:  # a diff run per nonzero stretch
                                recorded.add((addr, size))
                                self._record(mem, addr, bytes(before[s][f_lo:f_hi]),
                                             after[f_lo:f_hi], "store", what, refs.get(index))
                            if addr > covered:
                                rest.append((covered, addr))
                            covered = max(covered, addr + size)
                    if covered < s + hi:
                        rest.append((covered, s + hi))
                for r_lo, r_hi in rest:
                    self._record(mem, r_lo, bytes(before[s][r_lo - s : r_hi - s]),
                                 after[r_lo - s : r_hi - s], "store", "plain store (memory diff)",
                                 None)
        for r in mem.regions:
            if r.buf:
                r.buf[:] = ctypes.string_at(r.addr, len(r.buf))
        for i in range(lib.ppcr_nmsgs()):
            m = lib.ppcr_msg_at(i).contents
            fmt = (m.fmt or b"").decode("utf-8", "replace")
            if fmt.startswith(KBUILD_PREFIX):
                fmt = fmt[len(KBUILD_PREFIX):]
            args: list[int | str] = []
            for k in range(m.nargs):
                if m.is_str[k] == 1:
                    args.append((lib.ppcr_msg_str(i, k) or b"").decode("utf-8", "replace"))
                elif m.is_str[k] == 2:  # %d / %i / %li: a signed long
                    args.append(ctypes.c_long(m.ival[k]).value)
                else:
                    args.append(int(m.ival[k]))
            mod.pr((m.level or b"").decode(), fmt, *args)
        mod.warns += lib.ppcr_nwarns()
        last = refs.get(lib.ppcr_reloc_index())
        if last is not None:  # the relocation the loop was at: the failing one if rc != 0
            mem.reloc = last
            mem.reloc = None
        out = (ctypes.c_ulong * 5)()
        lib.ppcr_arch_get(out)
        a = mod.arch
        a.stubs_section, a.toc_section = int(out[0]), int(out[1])
        a.toc_fixed, a.tramp, a.tramp_regs = bool(out[2]), int(out[3]), int(out[4])
        raw = ctypes.string_at(img.base + img.sym_off, len(mod.obj.symbols) * SYM.size)
        for sym, (st_name, _info, _other, shndx, value, _size) in zip(
            mod.obj.symbols, SYM.iter_unpack(raw), strict=True
        ):
            sym.value = value
            sym.shndx = shndx
            if st_name != img.str_offsets.get(sym.name):  # dedotify skipped a leading dot
                sym.name = ctypes.string_at(img.strtab + st_name).decode("utf-8", "surrogateescape")

    @staticmethod
    def _record(mem: ModuleMemory, addr: int, old: bytes, new: bytes, primitive: Primitive,
                what: str, reloc: RelocRef | None) -> None:
        ok = mem.in_module(addr, len(new))
        mem.writes.append(Write(addr, old, new, primitive, mem.step, reloc, ok, what))
        if not ok:
            mem.oob.append(OobAccess("write", addr, len(new), mem.step, reloc, what))


class _PatchLabels:
    """What a patch primitive's write is, named as the model names it (ppcreloc.arch.stubs,
    create_stub: ``stub jump[i]``, ``stub magic``, ``stub funcdata``; ppcreloc.arch.relocate:
    ``REL24`` for the branch, ``restore_r2`` for the word after it), from its address: in
    `.stubs` or past its end (an exhausted `.stubs`), the field of the stub entry it falls in
    (struct ppc64_stub_entry, module_64.c 6.12); at the relocation's place, that relocation's.
    Anything else stays ``patch primitive``."""

    def __init__(self, mod: ModuleState) -> None:
        self.mod = mod
        sec = mod.obj.sections[mod.arch.stubs_section] if mod.arch.stubs_section else None
        self.stubs = (sec.addr, sec.sh_size) if sec is not None else None
        self.entry = 56 if mod.config.abi == "elfv1" else 40

    def _in_stubs(self, addr: int) -> bool:
        if self.stubs is None:
            return False
        lo, size = self.stubs
        return lo <= addr < lo + size or (addr >= lo + size and not self.mod.memory.in_module(
            addr, 1))

    def what(self, addr: int, ref: RelocRef | None) -> str:
        """The label of a patch write at ``addr`` made while applying ``ref``."""
        if ref is not None and self._in_stubs(addr) and self.stubs is not None:
            off = (addr - self.stubs[0]) % self.entry
            if off < MAGIC_OFFSET:
                return f"stub jump[{off // 4}]"
            return "stub magic" if off < FUNCDATA_OFFSET else "stub funcdata"
        if ref is not None:
            secs = self.mod.obj.sections
            info = secs[ref.relsec].info if 0 <= ref.relsec < len(secs) else 0
            loc = secs[info].addr + ref.offset if 0 < info < len(secs) else None
            row = RELOC_TYPES.get(ref.type)
            if loc is not None and row is not None and row.handler == "rel24":
                if addr == loc:
                    return "REL24"
                if addr == loc + 4:
                    return "restore_r2"
        return "patch primitive"


class _RelocRefs:
    """RelocRef by index into one (sorted) RELA section; None outside apply_relocate_add."""

    def __init__(self, mod: ModuleState, relsec: int | None) -> None:
        self.mod = mod
        self.relsec = relsec
        self.relocs = mod.obj.relocs.get(relsec, []) if relsec is not None else []

    def get(self, index: int) -> RelocRef | None:
        if self.relsec is None or not 0 <= index < len(self.relocs):
            return None
        r = self.relocs[index]
        syms = self.mod.obj.symbols
        name = syms[r.sym].name if r.sym < len(syms) else ""
        return reloc_ref(self.relsec, index, r, name)


class _Fields:
    """Where apply_relocate_add's plain stores go: each relocation's field (R_PPC64_ENTRY's two
    words), as the model's stores record them (ppcreloc.arch.relocate: ``store(mod, loc, new,
    row.size, row.name)``), for the relocations the loop reached (index <= ``last``). A byte
    two fields share belongs to the later relocation (its store came last)."""

    def __init__(self, mod: ModuleState, relsec: int, last: int) -> None:
        obj = mod.obj
        base = obj.sections[obj.sections[relsec].info].addr
        spans: dict[tuple[int, int], tuple[str, int]] = {}
        for index, r in enumerate(obj.relocs.get(relsec, [])[: max(last + 1, 0)]):
            row = RELOC_TYPES.get(r.type)
            if row is None:
                continue
            loc = (base + r.offset) & M64
            if row.handler == "entry":
                spans[(loc, 4)] = ("ENTRY addis", index)
                spans[(loc + 4, 4)] = ("ENTRY addi", index)
            elif row.handler == "field" and row.size:
                spans[(loc, row.size)] = (row.name, index)
        self.fields = sorted((addr, size, what, index)
                             for (addr, size), (what, index) in spans.items())
        self.addrs = [f[0] for f in self.fields]

    def overlapping(self, lo: int, hi: int) -> list[tuple[int, int, str, int]]:
        """Fields meeting [lo, hi), by address; of overlapping fields the later relocation's."""
        out: list[tuple[int, int, str, int]] = []
        for f in self.fields[bisect.bisect_left(self.addrs, lo - 8):]:
            addr, size, _what, index = f
            if addr >= hi:
                break
            if addr + size <= lo:
                continue
            if out and addr < out[-1][0] + out[-1][1]:  # overlaps the previous field
                if index > out[-1][3]:
                    out[-1] = f
                continue
            out.append(f)
        return out


def _diff_runs(a: bytes | bytearray, b: bytes) -> list[tuple[int, int]]:
    """Maximal [lo, hi) runs where ``a`` and ``b`` differ."""
    if a == b:
        return []
    n = len(a)
    xor = (int.from_bytes(a, "little") ^ int.from_bytes(b, "little")).to_bytes(n, "little")
    return [m.span() for m in _NONZERO.finditer(xor)]
