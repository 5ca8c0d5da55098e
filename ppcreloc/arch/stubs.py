"""Call stubs and the PCREL GOT: stub_for_addr, create_stub, create_ftrace_stub, got_for_addr.

Models module_64.c (6.12; 6.1 differences are profile seams): struct ppc64_stub_entry is
``u32 jump[7]; u32 magic; func_desc_t funcdata`` (40 bytes ELFv2, 56 ELFv1), `.stubs` is an array
of them terminated by the first entry whose funcdata.addr is 0 (the sentinel scheme, <= 6.17).
"""

from __future__ import annotations

from ppcreloc.arch.seams import ArchSeams
from ppcreloc.errno import ENOENT
from ppcreloc.errors import WorldError
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
from ppcreloc.records import Primitive

from .access import (
    endian,
    patch_instruction,
    patch_word,
    read_u32,
    read_u64,
    store,
    write_bytes,
)

MAGIC_OFFSET = 28
FUNCDATA_OFFSET = 32
#: KERNELBASE of a ppc64 kernel (paca->kernelbase), used by PCREL ftrace stubs when the world
#: does not provide kernelbase()
DEFAULT_KERNELBASE = 0xC000_0000_0000_0000


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

    def stubs_base(self, mod: ModuleState) -> tuple[int, int]:
        """(address, number of entries) of `.stubs`: num_stubs = sh_size / sizeof(entry)."""
        sec = mod.obj.sections[mod.arch.stubs_section]
        return sec.addr, (sec.sh_size // self.stub_entry_size(mod)) & 0xFFFF_FFFF

    # -- the kernel functions ----------------------------------------------------------------
    def stub_for_addr(self, mod: ModuleState, addr: int, name: str) -> int:
        """stub_for_addr (6.12): reuse the stub whose funcdata is func_addr(addr), else create one.

        The loop condition reads stubs[i].funcdata (through memory, so a read past `.stubs` is
        an OOB read); WARN_ON(i >= num_stubs) comes after it; the first zero funcdata ends the
        walk and create_stub fills that entry, in bounds or not. Returns the stub or 0.
        """
        size = self.stub_entry_size(mod)
        stubs, num_stubs = self.stubs_base(mod)
        i = 0
        while funcdata := read_u64(mod, stubs + i * size + FUNCDATA_OFFSET, f"stubs[{i}].funcdata"):
            if mod.warn_on(i >= num_stubs, "stub_for_addr: WARN_ON(i >= num_stubs)"):
                return 0
            if funcdata == self.func_addr(mod, addr):
                return stubs + i * size
            i += 1
        if not self.create_stub(mod, stubs + i * size, addr, name):
            return 0
        return stubs + i * size

    def create_stub(self, mod: ModuleState, entry: int, addr: int, name: str) -> int:
        """create_stub (6.12): the template by patch_instruction, then its HA/LO (TOC) or pld
        (PCREL) fields, then funcdata and magic by the profile's ``stub_word_primitive``.

        The r2 range check comes after the template is written (funcdata stays 0). Returns 1/0.
        """
        if self.is_mprofile_ftrace_call(mod, name):
            return self.create_ftrace_stub(mod, entry, addr)
        if not self.stub_entry_ok(mod, entry):
            return 0
        pcrel = self.pcrel(mod)
        for i, insn in enumerate(ppc64_stub_insns(mod.config.abi == "elfv1", pcrel)):
            if patch_instruction(mod, entry + 4 * i, insn, f"stub jump[{i}]"):
                return 0
        if pcrel:  # the stub addresses its funcdata relative to itself
            reladdr = FUNCDATA_OFFSET
            jump0 = read_u32(mod, entry, "stub jump[0]")
            jump1 = read_u32(mod, entry + 4, "stub jump[1]")
            if patch_instruction(mod, entry, jump0 | imm_h18(reladdr), "stub pld",
                                 jump1 | imm_l(reladdr)):
                return 0
        else:  # relative to r2
            reladdr = signed(entry - self.my_r2(mod))
            if not fits_signed(reladdr, 32):
                mod.pr("err", "%s: Address %p of stub out of range of %p.\n", mod.name,
                       reladdr & M64, "my_r2")
                return 0
            jump0 = read_u32(mod, entry, "stub jump[0]")
            if patch_instruction(mod, entry, jump0 | ppc_ha(reladdr), "stub jump[0]"):
                return 0
            jump1 = read_u32(mod, entry + 4, "stub jump[1]")
            if patch_instruction(mod, entry + 4, jump1 | ppc_lo(reladdr), "stub jump[1]"):
                return 0
        desc = self.func_desc(mod, addr)
        e = endian(mod)
        for i in range(len(desc) // 4):
            word = int.from_bytes(desc[4 * i : 4 * i + 4], e)
            if patch_word(mod, self.stub_word_primitive, entry + FUNCDATA_OFFSET + 4 * i, word,
                          "stub funcdata"):
                return 0
        if patch_word(mod, self.stub_word_primitive, entry + MAGIC_OFFSET, STUB_MAGIC,
                      "stub magic"):
            return 0
        return 1

    def create_ftrace_stub(self, mod: ModuleState, entry: int, addr: int) -> int:
        """create_ftrace_stub (6.12, mprofile): memcpy the template, ``|=`` the address fields
        (relative to the paca's kernelbase under PCREL, else to the kernel TOC), then plain
        stores of funcdata and magic; no patch_instruction, no r2 save. Returns 1/0.
        """
        if not mod.config.mprofile_kernel:
            return 0
        if not self.stub_entry_ok(mod, entry):
            return 0
        insns = ftrace_stub_insns(self.pcrel(mod), mod.config.paca_kernel_toc_offset)
        e = endian(mod)
        write_bytes(mod, entry, b"".join(w.to_bytes(4, e) for w in insns), "memcpy",
                    "ftrace stub template")
        if self.pcrel(mod):
            kernelbase = getattr(mod.world, "kernelbase", None)
            reladdr = signed(addr - (kernelbase() if callable(kernelbase) else DEFAULT_KERNELBASE))
            if not fits_signed(reladdr, 34):
                mod.pr("err", "%s: Address of %ps out of range of 34-bit relative address.\n",
                       mod.name, addr & M64)
                return 0
            fields = ((2, imm_h18(reladdr)), (3, imm_l(reladdr)))
        else:
            reladdr = signed(addr - mod.world.kernel_toc_addr())
            if not fits_signed(reladdr, 32):
                mod.pr("err", "%s: Address of %ps out of range of kernel_toc.\n", mod.name,
                       addr & M64)
                return 0
            fields = ((1, ppc_ha(reladdr)), (2, ppc_lo(reladdr)))
        for i, bits in fields:  # entry->jump[i] |= bits
            what = f"ftrace stub jump[{i}]"
            store(mod, entry + 4 * i, read_u32(mod, entry + 4 * i, what) | bits, 4, what)
        write_bytes(mod, entry + FUNCDATA_OFFSET, self.func_desc(mod, addr), "store",
                    "ftrace stub funcdata")
        store(mod, entry + MAGIC_OFFSET, STUB_MAGIC, 4, "ftrace stub magic")
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
