"""Linker scripts that pin every section at the model's address, and the -Map parsers that check it.

One output section ``.o<i>`` per input section ``.s<i>`` (``i`` is the section's index in the
original object). GNU ld puts its call stubs in front of the first input section of an output
section, so a section that may need stubs starts ``gap`` bytes early with an empty hook section
``.h<i>`` followed by ``. = gap``: the stubs land in the gap and the real section stays put.
lld puts its thunks after the input section, so it needs no hook; lld cannot define ``.TOC.`` in
a script and computes it as .got + 0x8000, so ``.got`` is placed (NOLOAD) at toc - 0x8000.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

INPUT = "m.o"


@dataclass(frozen=True)
class OutSection:
    """One pinned section: original index, address, and the stub gap in front of it (ld)."""

    index: int
    addr: int
    gap: int = 0


def _phdrs(body: list[str]) -> list[str]:
    """Give every output section its own PT_LOAD: sections (and ld's stub gaps, lld's thunks)
    may overlap in address, and within one segment overlapping sections would overwrite each
    other in the file."""
    heads = [f"  seg{n} PT_LOAD;" for n in range(len(body))]
    tagged = [f"{line} :seg{n}" for n, line in enumerate(body)]
    return ["PHDRS", "{", *heads, "}", "SECTIONS", "{", *tagged]


def _assignments(symbols: Mapping[str, int]) -> list[str]:
    return [f"{name} = {value:#x};" for name, value in sorted(symbols.items())]


_DISCARD = "  /DISCARD/ : { *(.text) *(.data) *(.bss) *(.comment) *(.note.GNU-stack) " \
           "*(.gnu.attributes) }"


def gnu_ld_script(sections: Iterable[OutSection], branch_lt: int, tocref: int, toc: int,
                  symbols: Mapping[str, int]) -> str:
    """The GNU ld script: hooked output sections, `.branch_lt`, the `.tocref` probe (a TOC
    relocation that reads back the linker's TOC base), `.TOC.` and the externals."""
    body = []
    for s in sections:
        if s.gap:
            body.append(f"  .o{s.index} {s.addr - s.gap:#x} : {{ */{INPUT}(.h{s.index}) "
                        f". = {s.gap:#x}; */{INPUT}(.s{s.index}) }}")
        else:
            body.append(f"  .o{s.index} {s.addr:#x} : {{ */{INPUT}(.s{s.index}) }}")
    body.append(f"  .tocref {tocref:#x} : {{ */{INPUT}(.tocref) }}")
    body.append(f"  .branch_lt {branch_lt:#x} : {{ *(.branch_lt) }}")
    lines = [*_phdrs(body), _DISCARD, "}", f".TOC. = {toc:#x};"]
    return "\n".join(lines + _assignments(symbols)) + "\n"


def lld_script(sections: Iterable[OutSection], branch_lt: int, tocref: int, toc: int,
               symbols: Mapping[str, int]) -> str:
    """The lld script: output sections in address order, `.got` NOLOAD at toc - 0x8000 (the
    `.tocref` probe's TOC relocation also keeps lld from dropping an empty .got)."""
    entries = [(s.addr, f"  .o{s.index} {s.addr:#x} : {{ */{INPUT}(.s{s.index}) }}")
               for s in sections]
    entries.append((toc - 0x8000, f"  .got {toc - 0x8000:#x} (NOLOAD) : {{ *(.got) }}"))
    entries.append((tocref, f"  .tocref {tocref:#x} : {{ */{INPUT}(.tocref) }}"))
    entries.append((branch_lt, f"  .branch_lt {branch_lt:#x} : {{ *(.branch_lt) }}"))
    body = [text for _, text in sorted(entries)]
    lines = [*_phdrs(body), _DISCARD, "}"]
    return "\n".join(lines + _assignments(symbols)) + "\n"


@dataclass(frozen=True)
class MapEntry:
    """An input section as the -Map file reports it (``.s<i>`` or a stub/thunk section), and
    the output section it went into."""

    name: str
    addr: int
    size: int
    out: str


# GNU ld: ".o3             0xc008000000100000       0x20" (an output section).
_LD_OUT = re.compile(r"^(\S+)(\s+0x[0-9a-f]+\s+0x[0-9a-f]+)?$")
# GNU ld: " .s3            0xc008000000100000       0x20 /tmp/x/m.o" (also "linker stubs").
_LD_LINE = re.compile(r"^ (\S+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+) (.+)$")
# lld: "c008000000100000 c008000000100000       20     4         /tmp/x/m.o:(.s1)".
_LLD_OUT = re.compile(r"^\s*[0-9a-f]+\s+[0-9a-f]+\s+[0-9a-f]+\s+\d+ (\S+)$")
_LLD_LINE = re.compile(r"^\s*([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)\s+\d+\s+(\S+):\((\S+)\)$")


def parse_gnu_ld_map(text: str) -> list[MapEntry]:
    """Input sections (ours and ld's stub sections) with their addresses, from a GNU ld map."""
    out = []
    started = False
    section = ""
    for line in text.splitlines():
        if line.startswith("Linker script and memory map"):
            started = True
            continue
        if not started:
            continue
        o = _LD_OUT.match(line)
        if o:
            section = o.group(1)
            continue
        m = _LD_LINE.match(line)
        if m and (m.group(4).endswith("/" + INPUT) or m.group(4) == "linker stubs"):
            out.append(MapEntry(m.group(1), int(m.group(2), 16), int(m.group(3), 16), section))
    return out


def parse_lld_map(text: str) -> list[MapEntry]:
    """Input sections (ours and lld's thunk sections) with their addresses, from an lld map."""
    out = []
    section = ""
    for line in text.splitlines():
        o = _LLD_OUT.match(line)
        if o:
            section = o.group(1)
            continue
        m = _LLD_LINE.match(line)
        if m and (m.group(3).endswith("/" + INPUT) or m.group(3) == "<internal>"):
            out.append(MapEntry(m.group(4), int(m.group(1), 16), int(m.group(2), 16), section))
    return out
