"""Call stubs and the PCREL GOT: stub_for_addr, create_stub, create_ftrace_stub, got_for_addr.

Models module_64.c (6.12; 6.1 differences are profile seams): struct ppc64_stub_entry is
``u32 jump[7]; u32 magic; func_desc_t funcdata`` (40 bytes ELFv2, 56 ELFv1), `.stubs` is an array
of them terminated by the first entry whose funcdata.addr is 0 (the sentinel scheme, <= 6.17).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from mypy_extensions import trait

from ppcreloc.arch.errno import ENOENT
from ppcreloc.arch.seams import ArchSeams
from ppcreloc.elf.model import ByteOrder
from ppcreloc.engine import Primitive
from ppcreloc.errors import PpcrelocError
from ppcreloc.loader.module import ModuleState
from ppcreloc.ppc64.insn import (
    M64,
    STUB_MAGIC,
    fits_signed,
    ftrace_stub_insns,
    imm_h18,
    imm_l,
    ppc64_stub_insns,
    ppc_ha,
    ppc_lo,
    signed,
)

from .access import (
    endian,
    patch_instruction_bytes,
    primitive_bytes,
    read_u32,
    read_u64,
    store,
)

MAGIC_OFFSET = 28
FUNCDATA_OFFSET = 32
#: KERNELBASE of a ppc64 kernel (paca->kernelbase), used by PCREL ftrace stubs when the world
#: does not provide kernelbase()
DEFAULT_KERNELBASE = 0xC000_0000_0000_0000


_ZERO_FUNCDATA = bytes(8)


class FuncdataTable:
    """stubs[i].funcdata.addr for the ``count`` entries whose funcdata lies inside `.stubs`.

    Searches the section's bytes for the walk's answers (C-speed ``bytearray.find``) instead of
    reading entry by entry: the first zero funcdata, the first equal to a target. Every entry
    counted here has ``i < num_stubs``, so the walk's WARN_ON cannot fire inside it.
    """

    def __init__(self, buf: bytearray, size: int, count: int, byteorder: ByteOrder) -> None:
        self.buf, self.size, self.count, self.byteorder = buf, size, count, byteorder

    def _first(self, pattern: bytes, start: int, limit: int) -> int:
        """The first ``start <= i < limit`` whose funcdata bytes are ``pattern``, else ``limit``."""
        if start >= limit:
            return limit
        buf, size = self.buf, self.size
        end = FUNCDATA_OFFSET + (limit - 1) * size + 8
        pos = buf.find(pattern, FUNCDATA_OFFSET + start * size, end)
        while pos != -1:
            i, rem = divmod(pos - FUNCDATA_OFFSET, size)
            if not rem:
                return i
            pos = buf.find(pattern, FUNCDATA_OFFSET + (i + 1) * size, end)
        return limit

    def first_zero(self) -> int:
        """The first entry whose funcdata is 0 (the end of the walk), else ``count``."""
        return self._first(_ZERO_FUNCDATA, 0, self.count)

    def first_equal(self, value: int, limit: int, start: int = 0) -> int:
        """The first entry in [start, limit) whose funcdata is ``value``, else ``limit``."""
        return self._first((value & M64).to_bytes(8, self.byteorder), start, limit)


@cache
def stub_template(
    elfv1: bool, pcrel: bool, byteorder: ByteOrder
) -> tuple[tuple[tuple[int, bytes, str], ...], int, int]:
    """(offset, bytes, what) of each create_stub template patch_instruction in order, and words
    0 and 1 of the entry once they are all stored (the words create_stub reads back to patch).

    One write per word of ppc64_stub_insns, as patch_instruction(entry + 4*i, ppc_inst(word))
    stores it: 8 bytes, suffix 0, for a prefixed word, whose suffix the next word overwrites.
    Pure, so computed once per template.
    """
    writes = tuple(
        (4 * i, patch_instruction_bytes(word, 0, byteorder), f"stub jump[{i}]")
        for i, word in enumerate(ppc64_stub_insns(elfv1, pcrel))
    )
    image = bytearray(max(off + len(data) for off, data, _ in writes))
    for off, data, _ in writes:
        image[off : off + len(data)] = data
    return (writes, int.from_bytes(image[0:4], byteorder), int.from_bytes(image[4:8], byteorder))


#: one access of create_stub to its entry: a write (addr, data, primitive, what), or a read-back
#: (addr, what) of a u32 just written (StubsMixin.write_entry)
StubAccess = tuple[int, bytes, Primitive, str] | tuple[int, str]


class WorldError(PpcrelocError):
    """The symbol world lacks something the arch code needs (e.g. ftrace_caller)."""


@trait
class StubsMixin(ArchSeams):
    """Stub and GOT allocation for a profile."""

    #: the primitive create_stub writes funcdata and magic with (set by the profile)
    stub_word_primitive: Primitive

    # -- helpers -----------------------------------------------------------------------------
    def stub_entry_size(self, mod: ModuleState) -> int:
        """sizeof(struct ppc64_stub_entry): 28 + 4 + sizeof(func_desc_t), 8-aligned."""
        return 56 if mod.config.abi == "elfv1" else 40

    def func_desc(self, mod: ModuleState, addr: int) -> bytes:
        """func_desc(addr) as stored in funcdata: {addr} on ELFv2, the OPD's 3 words on ELFv1."""
        e = endian(mod)
        if mod.config.abi != "elfv1":
            return (addr & M64).to_bytes(8, e)
        if mod.memory.in_module(addr, 24):
            return mod.memory.read(addr, 24, "func_desc")
        entry, toc, env = mod.world.read_func_desc(addr)
        return b"".join((v & M64).to_bytes(8, e) for v in (entry, toc, env))

    def func_addr(self, mod: ModuleState, addr: int) -> int:
        """func_addr: the entry address (addr itself on ELFv2, the descriptor's first word on v1)."""
        if mod.config.abi != "elfv1":
            return addr & M64
        return int.from_bytes(self.func_desc(mod, addr)[:8], endian(mod))

    def is_mprofile_ftrace_call(self, mod: ModuleState, name: str) -> bool:
        """is_mprofile_ftrace_call: "_mcount", and the ftrace callers the config builds in."""
        cfg = mod.config
        if not cfg.mprofile_kernel:
            return False
        if name == "_mcount":
            return True
        if cfg.dynamic_ftrace and name == "ftrace_caller":
            return True
        return cfg.dynamic_ftrace and cfg.dynamic_ftrace_with_regs and name == "ftrace_regs_caller"

    def funcdata_reader(self, mod: ModuleState) -> Callable[[int, int], int]:
        """A reader of stubs[i].funcdata.addr: inside `.stubs` straight from its bytes (in-module
        reads are not events), anywhere else through mod.memory so OOB reads are logged."""
        e = endian(mod)
        try:
            region = mod.memory.section(mod.arch.stubs_section)
        except KeyError:
            region = None

        lo, hi = (region.addr, region.end) if region is not None else (0, -1)
        buf = region.buf if region is not None else bytearray()

        def read(addr: int, i: int) -> int:
            if lo <= addr and addr + 8 <= hi:
                off = addr - lo
                return int.from_bytes(buf[off : off + 8], e)
            return read_u64(mod, addr, f"stubs[{i}].funcdata")

        return read

    def funcdata_table(self, mod: ModuleState) -> FuncdataTable | None:
        """The part of the sentinel walk that reads inside `.stubs` (reads there are not
        events): a :class:`FuncdataTable` over its bytes, or None when `.stubs` is not placed.
        Memoised once placed (the section's address, size and buffer never change after)."""
        table = mod.memo.get("funcdata_table")
        if isinstance(table, FuncdataTable):
            return table
        base, num_stubs = self.stubs_base(mod)
        try:
            region = mod.memory.section(mod.arch.stubs_section)
        except KeyError:
            return None
        if region.addr != base:
            return None
        size = self.stub_entry_size(mod)
        span = len(region.buf) - FUNCDATA_OFFSET - 8
        count = min(num_stubs, span // size + 1) if span >= 0 else 0
        table = mod.memo["funcdata_table"] = FuncdataTable(region.buf, size, count, endian(mod))
        return table

    def stubs_base(self, mod: ModuleState) -> tuple[int, int]:
        """(address, number of entries) of `.stubs`: num_stubs = sh_size / sizeof(entry)."""
        sec = mod.obj.sections[mod.arch.stubs_section]
        return sec.addr, (sec.sh_size // self.stub_entry_size(mod)) & 0xFFFF_FFFF

    # -- the kernel functions ----------------------------------------------------------------
    def stub_for_addr(self, mod: ModuleState, addr: int, name: str) -> int:
        """stub_for_addr: reuse the stub whose funcdata equals func_addr(addr), else create one.

        The loop reads stubs[i].funcdata first (through memory, so reading past `.stubs` is an
        OOB read), then WARN_ON(i >= num_stubs) returns 0; the first zero funcdata ends the walk
        and create_stub fills that entry, in bounds or not. Returns the stub address or 0.
        The entries inside `.stubs` are searched in their bytes (:class:`FuncdataTable`); the
        walk goes on entry by entry past them.
        """
        size = self.stub_entry_size(mod)
        base, num_stubs = self.stubs_base(mod)
        target: int | None = None
        i, walking = 0, True
        table = self.funcdata_table(mod)
        if table is not None and table.count:
            zero = table.first_zero()
            if zero:
                target = self.func_addr(mod, addr)
                hit = table.first_equal(target, zero)
                if hit < zero:
                    return base + hit * size
            i, walking = zero, zero == table.count
        read_funcdata = self.funcdata_reader(mod) if walking else None
        while read_funcdata is not None:
            entry = base + i * size
            fd = read_funcdata(entry + FUNCDATA_OFFSET, i)
            if not fd:
                break
            if mod.warn_on(i >= num_stubs, "stub_for_addr: WARN_ON(i >= num_stubs)"):
                return 0
            if target is None:
                target = self.func_addr(mod, addr)
            if fd == target:
                return entry
            i += 1
        entry = base + i * size
        if not self.create_stub(mod, entry, addr, name):
            return 0
        return entry

    def create_stub(self, mod: ModuleState, entry: int, addr: int, name: str) -> int:
        """create_stub: template words by patch_instruction, r2-relative HA/LO, funcdata, magic.

        The r2 range check comes after the template is written (funcdata stays 0); funcdata and
        magic go through the profile's ``stub_word_primitive``. Returns 1/0. The words patched
        after the template are read back first, as the kernel does (:meth:`write_entry`).
        """
        if self.is_mprofile_ftrace_call(mod, name):
            return self.create_ftrace_stub(mod, entry, addr)
        if not self.stub_entry_ok(mod, entry):
            return 0
        pcrel = self.pcrel(mod)
        e = endian(mod)
        template, w0, w1 = stub_template(mod.config.abi == "elfv1", pcrel, e)
        ops: list[StubAccess] = [(entry + off, data, "patch_instruction", what)
                                 for off, data, what in template]
        if pcrel:
            ops += [(entry, "stub jump[0]"), (entry + 4, "stub jump[1]"),
                    (entry, patch_instruction_bytes(w0 | imm_h18(FUNCDATA_OFFSET),
                                                    w1 | imm_l(FUNCDATA_OFFSET), e),
                     "patch_instruction", "stub pld")]
        else:
            reladdr = signed(entry - self.my_r2(mod))
            if not fits_signed(reladdr, 32):
                self.write_entry(mod, entry, ops)
                mod.pr("err", "%s: Address %p of stub out of range of %p.\n", mod.name,
                       reladdr & M64, "my_r2")
                return 0
            ops += [(entry, "stub jump[0]"),
                    (entry, patch_instruction_bytes(w0 | ppc_ha(reladdr), 0, e),
                     "patch_instruction", "stub jump[0]"),
                    (entry + 4, "stub jump[1]"),
                    (entry + 4, patch_instruction_bytes(w1 | ppc_lo(reladdr), 0, e),
                     "patch_instruction", "stub jump[1]")]
        ops = self._before_func_desc(mod, entry, ops)
        prim = self.stub_word_primitive
        desc = self.func_desc(mod, addr)
        words = [(FUNCDATA_OFFSET + 4 * i, int.from_bytes(desc[4 * i : 4 * i + 4], e),
                  "stub funcdata") for i in range(len(desc) // 4)]
        words.append((MAGIC_OFFSET, STUB_MAGIC, "stub magic"))
        ops += [(entry + off, primitive_bytes(prim, word, e), prim, what)
                for off, word, what in words]
        self.write_entry(mod, entry, ops)
        return 1

    def _before_func_desc(self, mod: ModuleState, entry: int, ops: list[StubAccess]
                          ) -> list[StubAccess]:
        """The accesses still to do once func_desc has run: func_desc reads module memory for
        an ELFv1 descriptor inside the module, so there the accesses so far are done first;
        on ELFv2 it reads none, and they go with the rest in one :meth:`write_entry`."""
        if mod.config.abi != "elfv1":
            return ops
        self.write_entry(mod, entry, ops)
        return []

    def write_entry(self, mod: ModuleState, entry: int, ops: list[StubAccess]) -> None:
        """The accesses of create_stub / create_ftrace_stub (and full-undo's slot release) to
        the stub entry at ``entry``, in order: writes ``(addr, data, primitive, what)`` and
        read-backs ``(addr, what)`` of a u32 written just before.

        A read-back returns the word as written wherever the entry lies (a region or unbacked
        memory keeps what was stored), so the callers patch the template's own words; it is
        performed only for its event. Inside the module the writes go by one
        ModuleMemory.write_run (in-module reads are not events); elsewhere every access goes
        through memory on its own, so each out-of-bounds one is logged in order.
        """
        memory = mod.memory
        region = memory.in_module_region(entry, self.stub_entry_size(mod))
        if region is not None:
            memory.write_run(region, [op for op in ops if len(op) == 4])
            return
        for op in ops:
            if len(op) == 2:
                read_u32(mod, op[0], op[1])
            else:
                memory.write(op[0] & M64, op[1], op[2], op[3])

    def create_ftrace_stub(self, mod: ModuleState, entry: int, addr: int) -> int:
        """create_ftrace_stub (mprofile): memcpy the template, patch HA/LO of addr - kernel TOC.

        Plain stores throughout (no patch_instruction); no r2 save. Returns 1/0.
        """
        if not mod.config.mprofile_kernel:
            return 0
        if not self.stub_entry_ok(mod, entry):
            return 0
        pcrel = self.pcrel(mod)
        words = ftrace_stub_insns(pcrel, mod.config.paca_kernel_toc_offset)
        e = endian(mod)
        ops: list[StubAccess] = [(entry, b"".join(w.to_bytes(4, e) for w in words), "memcpy",
                                  "ftrace stub template")]
        if pcrel:
            kernelbase = getattr(mod.world, "kernelbase", None)
            base = kernelbase() if callable(kernelbase) else DEFAULT_KERNELBASE
            reladdr = signed(addr - base)
            fields = ((2, imm_h18(reladdr)), (3, imm_l(reladdr)))
            error = ("%s: Address of %ps out of range of 34-bit relative address.\n"
                     if not fits_signed(reladdr, 34) else None)
        else:
            reladdr = signed(addr - mod.world.kernel_toc_addr())
            fields = ((1, ppc_ha(reladdr)), (2, ppc_lo(reladdr)))
            error = ("%s: Address of %ps out of range of kernel_toc.\n"
                     if not fits_signed(reladdr, 32) else None)
        if error is not None:
            self.write_entry(mod, entry, ops)
            mod.pr("err", error, mod.name, addr & M64)
            return 0
        for idx, bits in fields:
            what = f"ftrace stub jump[{idx}]"
            ops += [(entry + 4 * idx, what),
                    (entry + 4 * idx, ((words[idx] | bits) & 0xFFFF_FFFF).to_bytes(4, e), "store",
                     what)]
        ops = self._before_func_desc(mod, entry, ops)
        ops += [
            (entry + FUNCDATA_OFFSET, self.func_desc(mod, addr), "store", "ftrace stub funcdata"),
            (entry + MAGIC_OFFSET, STUB_MAGIC.to_bytes(4, e), "store", "ftrace stub magic"),
        ]
        self.write_entry(mod, entry, ops)
        return 1

    def module_finalize_ftrace(self, mod: ModuleState) -> int:
        """module_finalize_ftrace: tramp (ftrace_caller) and tramp_regs stubs; -ENOENT on 0."""
        if not mod.config.dynamic_ftrace:
            return 0
        mod.memory.reloc = None
        mod.arch.tramp = self.stub_for_addr(mod, self._vmlinux(mod, "ftrace_caller"),
                                            "ftrace_caller")
        if mod.config.dynamic_ftrace_with_regs:
            mod.arch.tramp_regs = self.stub_for_addr(
                mod, self._vmlinux(mod, "ftrace_regs_caller"), "ftrace_regs_caller"
            )
            if not mod.arch.tramp_regs:
                return -ENOENT
        if not mod.arch.tramp:
            return -ENOENT
        return 0

    @staticmethod
    def _vmlinux(mod: ModuleState, name: str) -> int:
        addr = mod.world.vmlinux_symbol(name)
        if addr is None:
            raise WorldError(f"the symbol world has no vmlinux symbol '{name}'")
        return addr

    def got_for_addr(self, mod: ModuleState, got_section: int, addr: int) -> int:
        """got_for_addr (6.12, PCREL): reuse the .mygot entry holding addr, else the first zero.

        Same sentinel walk as stub_for_addr (read first, then WARN_ON(i >= num_got)).
        """
        sec = mod.obj.sections[got_section]
        num_got = (sec.sh_size // 8) & 0xFFFF_FFFF
        i = 0
        while True:
            slot = sec.addr + 8 * i
            val = read_u64(mod, slot, f"got[{i}]")
            if not val:
                break
            if mod.warn_on(i >= num_got, "got_for_addr: WARN_ON(i >= num_got)"):
                return 0
            if val == addr & M64:
                return slot
            i += 1
        store(mod, slot, addr, 8, f"got[{i}]")
        return slot
