"""Follow a branch through call stubs to its final destination by interpreting the stub code.

Used on both sides of a comparison: the kernel's ppc64_stub_entry (addis/addi r11 from r2, std
r2, ld r12 from funcdata, mtctr, bctr), GNU ld's long_branch/plt_branch stubs and lld's
long-branch thunks (b, or addis/ld from a .branch_lt slot, mtctr, bctr). Only the handful of
instructions these stubs use is interpreted (Power ISA 3.1 encodings); anything else stops the
walk with a :class:`StubWalkError`, never a guess.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ppcreloc.bits import M64
from ppcreloc.elf.model import ByteOrder
from ppcreloc.errors import PpcrelocError

#: Reads ``size`` bytes at an address, or None where nothing is mapped.
Reader = Callable[[int, int], bytes | None]


class StubWalkError(PpcrelocError):
    """A stub contained an instruction this interpreter does not model, or unmapped memory."""


@dataclass(frozen=True)
class Hop:
    """Where a walk ended: the stub entered (None for a direct branch) and the destination."""

    stub: int | None
    destination: int


def _sext(v: int, bits: int) -> int:
    return v - (1 << bits) if v >> (bits - 1) & 1 else v


def branch_target(insn: int, pc: int) -> int:
    """The target a REL24 field encodes: ``pc`` + the sign-extended LI field (0x03fffffc).

    The opcode and the AA bit are not looked at: a loader or linker fills LI with the
    displacement whatever word holds it, and that displacement is what is compared.
    """
    return (pc + _sext(insn & 0x03FF_FFFC, 26)) & M64


def follow(pc: int, insn: int, read: Reader, in_stub: Callable[[int], bool], toc: int,
           endian: ByteOrder = "little", max_steps: int = 32,
           regs: Mapping[int, int] | None = None) -> Hop:
    """Follow the I-form branch ``insn`` at ``pc``; where it lands in a stub, run the stub.

    Registers start as r2 = ``toc`` (the caller's TOC, as in a module) plus ``regs`` (e.g. r13,
    the paca, for the kernel's ftrace stubs); a read of any other register stops the walk.
    """
    target = branch_target(insn, pc)
    if not in_stub(target):
        return Hop(None, target)
    stub = target
    regs = {**(regs or {}), 2: toc & M64}
    ctr: int | None = None

    def reg(n: int) -> int:
        if n not in regs:
            raise StubWalkError(f"stub at {stub:#x} reads r{n} before setting it")
        return regs[n]

    ip = target
    for _ in range(max_steps):
        raw = read(ip, 4)
        if raw is None:
            raise StubWalkError(f"stub instruction at {ip:#x} is not mapped")
        insn = int.from_bytes(raw, endian)
        op, rt, ra = insn >> 26, (insn >> 21) & 31, (insn >> 16) & 31
        si = _sext(insn & 0xFFFF, 16)
        base = 0 if ra == 0 else None
        if op == 15:  # addis rt,ra,si
            regs[rt] = ((base if base is not None else reg(ra)) + (si << 16)) & M64
        elif op == 14:  # addi rt,ra,si
            regs[rt] = ((base if base is not None else reg(ra)) + si) & M64
        elif op == 24:  # ori (nop is ori 0,0,0)
            if insn != 0x6000_0000:
                regs[ra] = reg(rt) | (insn & 0xFFFF)
        elif op == 25:  # oris
            regs[ra] = reg(rt) | ((insn & 0xFFFF) << 16)
        elif op == 58 and insn & 3 == 0:  # ld rt,ds(ra)
            addr = ((base if base is not None else reg(ra)) + _sext(insn & 0xFFFC, 16)) & M64
            data = read(addr, 8)
            if data is None:
                raise StubWalkError(f"stub at {stub:#x} loads from unmapped {addr:#x}")
            regs[rt] = int.from_bytes(data, endian)
        elif op == 62 and insn & 3 == 0:  # std: saves r2 to the stack, no effect on the walk
            pass
        elif insn & 0xFC1F_FFFF == 0x7C09_03A6:  # mtctr rs
            ctr = reg(rt)
        elif insn == 0x4E80_0420:  # bctr
            if ctr is None:
                raise StubWalkError(f"stub at {stub:#x} branches to an unset ctr")
            return Hop(stub, ctr)
        elif op == 18 and insn & 3 == 0:  # b (no link): a long_branch stub or a stub chain
            nxt = branch_target(insn, ip)
            if not in_stub(nxt):
                return Hop(stub, nxt)
            ip = nxt
            continue
        else:
            raise StubWalkError(f"stub at {stub:#x}: instruction {insn:#010x} at {ip:#x} "
                                "is not modelled")
        ip += 4
    raise StubWalkError(f"stub at {stub:#x} did not branch within {max_steps} instructions")
