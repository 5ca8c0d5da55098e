"""Time one reference link per linker and object producer; prints JSON.

``python -m ppcreloc.reference.linkbench [--repeat N]``: median milliseconds per :func:`link_gnu_ld` /
:func:`link_lld` / :func:`link_zig_lld` call (serialise, link, read back, follow stubs) on an
object with one relocation of each kernel-handled type and one external call, kernel layout.
Linkers that are not installed are reported as null.
"""

from __future__ import annotations

import argparse
import json
import statistics
import struct
import time

from ppcreloc.elf.builder import ObjectBuilder
from ppcreloc.elf.model import SHF_ALLOC, SHF_WRITE, STB_GLOBAL, STT_OBJECT, ElfObject
from ppcreloc.reference import linkers

KERNEL_TYPES = (1, 10, 26, 38, 44, 47, 48, 50, 51, 63, 64, 250, 252)
TEXT, TOC = 0xC008_0000_0010_0000, 0xC008_0000_0011_0000


def bench_object() -> ElfObject:
    """One 16-byte slot per kernel-handled type, then a bl/nop to an external symbol."""
    b = ObjectBuilder()
    words = [0x4800_0001 if t == 10 else 0xE862_0000 for t in KERNEL_TYPES]
    text = b.add_section(".text", b"".join(struct.pack("<4I", w, 0x6000_0000, 0x6000_0000,
                                                       0x6000_0000) for w in words)
                         + struct.pack("<2I", 0x4800_0001, 0x6000_0000))
    toc = b.add_section(".toc", bytes(0x100), flags=SHF_ALLOC | SHF_WRITE, addralign=256)
    b.add_stubs()
    ent = b.add_symbol("ent", 0x18, shndx=toc, type=STT_OBJECT)
    ext = b.add_symbol("ext", bind=STB_GLOBAL)
    for i, t in enumerate(KERNEL_TYPES):
        b.add_rela(text, 16 * i, ent, t, 0 if t == 51 else 8)
    b.add_rela(text, 16 * len(KERNEL_TYPES), ext, 10)
    return b.build()


def main(argv: list[str] | None = None) -> None:
    """Print {"median_ms_per_link": {"<linker>/<producer>": ms or null}, "repeat": N}."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args(argv)
    obj = bench_object()
    placements = {obj.section_index(".text"): TEXT, obj.section_index(".toc"): TOC}
    out: dict[str, float | None] = {}
    for name, link in linkers.LINKERS.items():
        for producer in ("writer", "gas"):
            if linkers.available(name):
                out[f"{name}/{producer}"] = None
                continue
            times = []
            for _ in range(max(args.repeat, 1)):
                t0 = time.perf_counter()
                link(obj, placements, {"ext": 0xC000_0000_0012_3450}, TOC + 0x8000,
                     producer=producer)
                times.append(time.perf_counter() - t0)
            out[f"{name}/{producer}"] = round(statistics.median(times) * 1000, 1)
    print(json.dumps({"median_ms_per_link": out, "repeat": args.repeat}))


if __name__ == "__main__":
    main()
