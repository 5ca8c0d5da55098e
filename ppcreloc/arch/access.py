"""Typed reads and the kernel write primitives on top of ModuleMemory's single recorded write.

patch_instruction models arch/powerpc/lib/code-patching.c (6.1 and 6.12): an instruction whose
primary opcode is 1 is prefixed, so the kernel stores 8 bytes (the word, then its suffix, which
ppc_inst() sets to 0). patch_u32 (6.12 patch_uint) always stores 4 bytes. "store" is a plain C
assignment and "memcpy" a memcpy.
"""

from __future__ import annotations

from ppcreloc.elf.model import ByteOrder
from ppcreloc.loader.module import ModuleState
from ppcreloc.ppc64.insn import M64, is_prefixed
from ppcreloc.records import Primitive


def endian(mod: ModuleState) -> ByteOrder:
    """Byte order of the configured kernel."""
    return mod.byteorder


def read_uint(mod: ModuleState, addr: int, size: int, what: str) -> int:
    """A native-endian load of ``size`` bytes (logged as OOB when outside the module)."""
    return int.from_bytes(mod.memory.read(addr & M64, size, what),
                          mod.byteorder)


def read_u32(mod: ModuleState, addr: int, what: str) -> int:
    """A u32 load (read_uint through ModuleMemory.load: the stub walk loads millions)."""
    return mod.memory.load(addr & M64, 4, mod.byteorder, what)


def read_u64(mod: ModuleState, addr: int, what: str) -> int:
    """A u64 load (read_uint through ModuleMemory.load: the stub walk loads millions)."""
    return mod.memory.load(addr & M64, 8, mod.byteorder, what)


def write_uint(
    mod: ModuleState, addr: int, value: int, size: int, primitive: Primitive, what: str
) -> None:
    """A native-endian store of the low ``size`` bytes of ``value`` through ``primitive``."""
    data = (value & ((1 << (8 * size)) - 1)).to_bytes(
        size, mod.byteorder)
    mod.memory.write(addr & M64, data, primitive, what)


def store(mod: ModuleState, addr: int, value: int, size: int, what: str) -> None:
    """A plain C store (``*(uN *)location = value``)."""
    write_uint(mod, addr, value, size, "store", what)


def patch_instruction_bytes(word: int, suffix: int, byteorder: ByteOrder) -> bytes:
    """The bytes patch_instruction stores for ``ppc_inst_prefix(word, suffix)``.

    A word with primary opcode 1 is a prefixed instruction: 8 bytes, the word then ``suffix``
    (ppc_inst_as_ulong in either byte order); any other word is 4 bytes.
    """
    word &= 0xFFFF_FFFF
    if is_prefixed(word):
        return word.to_bytes(4, byteorder) + (suffix & 0xFFFF_FFFF).to_bytes(4, byteorder)
    return word.to_bytes(4, byteorder)


def write_bytes(mod: ModuleState, addr: int, data: bytes, primitive: Primitive, what: str) -> None:
    """``data`` stored at ``addr`` by ``primitive`` (a memcpy, or a struct assignment)."""
    mod.memory.write(addr & M64, data, primitive, what)


def patch_instruction(mod: ModuleState, addr: int, word: int, what: str, suffix: int = 0) -> int:
    """patch_instruction(addr, ppc_inst(word)) or ppc_inst_prefix(word, suffix); returns 0.

    A word with primary opcode 1 is a prefixed instruction: 8 bytes are written, the word at
    ``addr`` and ``suffix`` at ``addr + 4`` (:func:`patch_instruction_bytes`).
    """
    data = patch_instruction_bytes(word, suffix, mod.byteorder)
    mod.memory.write(addr & M64, data, "patch_instruction", what)
    return 0


def patch_u32(mod: ModuleState, addr: int, word: int, what: str) -> int:
    """patch_u32 (6.12 patch_uint): always a 4-byte store; returns 0."""
    write_uint(mod, addr, word, 4, "patch_u32", what)
    return 0


def patch_word(mod: ModuleState, primitive: Primitive, addr: int, word: int, what: str) -> int:
    """The u32 ``word`` written by ``primitive``: patch_instruction (6.1's stub data, 8 bytes
    for a prefixed word) or patch_u32 (6.12); returns 0."""
    if primitive == "patch_instruction":
        return patch_instruction(mod, addr, word, what)
    write_uint(mod, addr, word, 4, primitive, what)
    return 0
