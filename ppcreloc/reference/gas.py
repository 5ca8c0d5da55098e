"""Serialise a simple ppc64le :class:`ElfObject` with GNU as, an ELF producer independent of ours.

Each section becomes a ``.section`` with its bytes from ``.incbin``, each symbol a ``.set``, and
each relocation a ``.reloc OFFSET, R_PPC64_xxx, sym+addend`` directive (gas writes them verbatim).
Only what the link copies of :mod:`ppcreloc.reference.linkers` contain is supported: PROGBITS/NOBITS
sections without SHF_MERGE, global symbols with unique names, section symbols, and relocation
types gas knows by name (:data:`ppcreloc.reference.formulas.NAMES`). About 2-3 ms per object plus a process
launch: a cross-check for our writer, too slow for every example.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from ppcreloc.bits import M64 as _M64
from ppcreloc.elf.model import (
    SHF_ALLOC,
    SHF_EXECINSTR,
    SHF_WRITE,
    SHN_ABS,
    SHN_UNDEF,
    SHT_NOBITS,
    SHT_PROGBITS,
    STB_LOCAL,
    STB_WEAK,
    STT_FUNC,
    STT_OBJECT,
    STT_SECTION,
    ElfObject,
)
from ppcreloc.errors import PpcrelocError
from ppcreloc.reference.formulas import NAMES, local_entry_offset

GAS = "powerpc64le-linux-gnu-as"


class GasError(PpcrelocError):
    """GNU as is missing or rejected the generated assembly."""


def _flags(flags: int) -> str:
    return "".join(c for bit, c in ((SHF_ALLOC, "a"), (SHF_WRITE, "w"), (SHF_EXECINSTR, "x"))
                   if flags & bit)


def _label(i: int) -> str:
    return f".Lsec{i}"


def to_assembly(obj: ElfObject, workdir: Path) -> str:
    """The assembly for ``obj``; section bytes are written to ``workdir`` for ``.incbin``."""
    if obj.big_endian:
        raise GasError("gas serialiser: only little-endian (ELFv2) objects are supported")
    lines: list[str] = []
    for i, sec in enumerate(obj.sections):
        if i == 0 or sec.type not in (SHT_PROGBITS, SHT_NOBITS):
            continue
        kind = "@nobits" if sec.type == SHT_NOBITS else "@progbits"
        lines.append(f'\t.section {sec.name},"{_flags(sec.flags)}",{kind}')
        align = max(sec.addralign, 1)
        if align & (align - 1):
            raise GasError(f"section {sec.name}: alignment {align} is not a power of two")
        lines.append(f"\t.balign {align}")
        lines.append(f"{_label(i)}:")
        if sec.type == SHT_NOBITS:
            lines.append(f"\t.zero {sec.sh_size}" if sec.sh_size else "")
        elif sec.data:
            blob = workdir / f"sec{i}.bin"
            blob.write_bytes(sec.data)
            lines.append(f'\t.incbin "{blob}"')
    names: dict[int, str] = {}
    for k, sym in enumerate(obj.symbols):
        if k == 0:
            continue
        if sym.type == STT_SECTION:
            names[k] = _label(sym.shndx)
            continue
        names[k] = sym.name
        if sym.shndx == SHN_UNDEF:
            continue
        if sym.shndx == SHN_ABS:
            lines.append(f"\t.set {sym.name}, {sym.value & _M64:#x}")
        else:
            lines.append(f"\t.set {sym.name}, {_label(sym.shndx)}+{sym.value:#x}")
        if sym.bind == STB_WEAK:
            lines.append(f"\t.weak {sym.name}")
        elif sym.bind != STB_LOCAL:
            lines.append(f"\t.globl {sym.name}")
        if sym.type in (STT_FUNC, STT_OBJECT):
            kind = "@function" if sym.type == STT_FUNC else "@object"
            lines.append(f"\t.type {sym.name}, {kind}")
        k_bits = (sym.other >> 5) & 7
        if k_bits:
            lines.append(f"\t.localentry {sym.name}, {local_entry_offset(sym.other) or 1}")
    for relsec, relas in obj.relocs.items():
        target = obj.sections[relsec].info
        lines.append(f"\t.section {obj.sections[target].name}")
        for r in relas:
            name = NAMES.get(r.type)
            if name is None:
                raise GasError(f"gas serialiser: relocation type {r.type} has no gas name")
            base = names[r.sym] + "+" if r.sym else ""
            lines.append(f"\t.reloc {_label(target)}+{r.offset:#x}, {name}, "
                         f"{base}{r.addend & _M64:#x}")
    return "\n".join(lines) + "\n"


def assemble(obj: ElfObject, workdir: Path) -> bytes:
    """Assemble ``obj`` with GNU as in ``workdir`` and return the object file's bytes."""
    exe = shutil.which(GAS)
    if exe is None:
        raise GasError(f"{GAS} not found (Debian package binutils-powerpc64le-linux-gnu)")
    src = workdir / "gas_input.s"
    out = workdir / "gas_output.o"
    src.write_text(to_assembly(obj, workdir))
    proc = subprocess.run([exe, "-a64", "-mlittle", "-mpower10", "-o", str(out), str(src)],
                          capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise GasError(f"{GAS} failed: {proc.stderr.strip().splitlines()[:3]}")
    return out.read_bytes()
