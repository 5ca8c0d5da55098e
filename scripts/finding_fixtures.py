"""Write the fixtures of two README findings the campaign's generators cannot reach.

The generators draw call addends from a few small values and never emit DQ-form loads, so two
findings of the README came from reading module_64.c, not from a campaign: count_relocs keeping
the previous addend in 32 bits (kernel-facts 4.5) and the DS mask on lxv's TX bit. This script
builds each as a minimal object, checks it on the profile, and writes the fixture with the
campaigns' own sidecar builder (ppcreloc.fixtures.case_record) into ``--fixtures`` (default
./ppcreloc-fixtures, untracked). Promote them into the corpus explicitly::

    .venv/bin/python scripts/finding_fixtures.py
    .venv/bin/ppcreloc promote ppcreloc-fixtures/v6.12/*.o

The symbol world is the one of the committed v6.12 reload_cycles fixture (a generated world).
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ppcreloc.elf.builder import ObjectBuilder  # noqa: E402
from ppcreloc.elf.model import SHF_ALLOC, SHF_WRITE, STB_GLOBAL, STT_FUNC, ElfObject  # noqa: E402
from ppcreloc.elf.reader import read_elf  # noqa: E402
from ppcreloc.elf.writer import write_elf  # noqa: E402
from ppcreloc.engines import get_engine  # noqa: E402
from ppcreloc.fixtures import case_record, write_fixture  # noqa: E402
from ppcreloc.oracle import DEFAULT_CYCLES, check  # noqa: E402
from ppcreloc.strategies import Case, WorldSpec, to_symbol_world  # noqa: E402

WORLD_FROM = ROOT / "tests/fixtures/v6.12/reload_cycles-0241ddc4c20f5dab.json"
BL, NOP, BLR = 0x4800_0001, 0x6000_0000, 0x4E80_0020
ADDIS_R9_R2, LXV_VS34_R9 = 0x3D22_0000, 0xF449_0009  # addis r9,r2,0 ; lxv vs34,0(r9)
R_PPC64_REL24, R_PPC64_TOC16_HA, R_PPC64_TOC16_LO_DS = 10, 50, 64


def _words(*words: int) -> bytes:
    return struct.pack(f"<{len(words)}I", *words)


def count_relocs_addend() -> ElfObject:
    """``bl printk; bl printk+0x100000000; bl kmalloc; bl kmalloc+0x100000000``: sorted, each
    pair's second addend equals the first's low 32 bits, so count_relocs counts one stub per
    symbol and `.stubs` is two slots short; the ftrace stubs go past it at load."""
    b = ObjectBuilder()
    calls = [("printk", 0), ("printk", 1 << 32), ("kmalloc", 0), ("kmalloc", 1 << 32)]
    text = b.add_section(".text.livepatch_fn0", _words(*[BL, NOP] * len(calls), BLR))
    b.add_symbol("livepatch_fn0", type=STT_FUNC, shndx=text)
    syms = {n: b.add_symbol(n, bind=STB_GLOBAL) for n in ("printk", "kmalloc")}
    for i, (name, addend) in enumerate(calls):
        b.add_rela(text, 8 * i, syms[name], R_PPC64_REL24, addend)
    b.add_stubs()
    return b.build()


def toc16_lo_ds_on_lxv() -> ElfObject:
    """``addis r9,r2,x@toc@ha; lxv vs34,x@toc@l(r9)`` (what gas emits for lxv: TOC16_HA,
    TOC16_LO_DS) with x 16-aligned, as a linker requires: the kernel's 0xfffc mask clears TX
    (bit 3), so the load goes to vs2. (At 4 mod 16 it would also set XO to 101: stxv.)"""
    b = ObjectBuilder()
    text = b.add_section(".text.livepatch_fn0", _words(ADDIS_R9_R2, LXV_VS34_R9, BLR))
    b.add_symbol("livepatch_fn0", type=STT_FUNC, shndx=text)
    toc = b.add_section(".toc", bytes(0x80), flags=SHF_ALLOC | SHF_WRITE, addralign=256)
    entry = 0x40 - 0x8000  # my_r2 = .toc + 0x8000
    b.add_rela(text, 0, b.section_symbol(toc), R_PPC64_TOC16_HA, entry)
    b.add_rela(text, 4, b.section_symbol(toc), R_PPC64_TOC16_LO_DS, entry)
    b.add_stubs()
    return b.build()


#: (builder, engine, invariant the finding violates)
FINDINGS: tuple[tuple[Callable[[], ElfObject], str, str], ...] = (
    (count_relocs_addend, "v6.12", "in_bounds"),
    (toc16_lo_ds_on_lxv, "v6.12", "abi_values"),
)


def main() -> int:
    """Build, check and write each finding's fixture; exit 1 if one does not violate."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fixtures", default="ppcreloc-fixtures", help="output directory")
    args = ap.parse_args()
    spec = WorldSpec.from_dict(json.loads(WORLD_FROM.read_text())["layout"]["world_spec"])
    status = 0
    for build, engine, invariant in FINDINGS:
        elf = write_elf(build())
        obj = read_elf(elf)  # what replay reads back
        case = Case(obj, spec)
        verdict = check(obj.clone(), get_engine(engine), to_symbol_world(spec),
                        cycles=DEFAULT_CYCLES)
        if verdict.invariants[invariant].holds:
            print(f"{build.__name__}: {invariant} holds on {engine}", file=sys.stderr)
            status = 1
            continue
        record = case_record(case, engine, invariant, verdict, None, DEFAULT_CYCLES)
        print(write_fixture(Path(args.fixtures), elf, record))
    return status


if __name__ == "__main__":
    sys.exit(main())
