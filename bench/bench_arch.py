"""Throughput of the arch model: relocations applied per second, per profile (prints JSON).

A module with N external calls (bl; nop -> stub + restore_r2) and N data relocations (ADDR64,
TOC16_HA/LO_DS) is loaded with the arch testbed (frob + sort + place + finalize_ftrace), then one
apply_relocate_add of its RELA section is timed. Usage: python bench/bench_arch.py [N] [repeats]
"""

from __future__ import annotations

import json
import sys
import time

from ppcreloc.arch.testbed import load
from ppcreloc.elf.builder import ObjectBuilder
from ppcreloc.elf.model import SHF_ALLOC, SHF_WRITE, STB_GLOBAL
from ppcreloc.ppc64 import reloctypes as rt
from ppcreloc.profiles import PROFILES, get_profile


def module(n: int):
    b = ObjectBuilder()
    text = (0x48000001).to_bytes(4, "little") + (0x60000000).to_bytes(4, "little")
    t = b.add_section(".text", text * n)
    d = b.add_section(".data", bytes(8 * n), flags=SHF_ALLOC | SHF_WRITE, addralign=8)
    b.add_section(".toc", bytes(8), flags=SHF_ALLOC | SHF_WRITE, addralign=8)
    b.add_stubs()
    for i in range(n):
        f = b.add_symbol(f"f{i}", bind=STB_GLOBAL)
        b.add_rela(t, 8 * i, f, rt.R_PPC_REL24)
        b.add_rela(d, 8 * i, f, rt.R_PPC64_ADDR64, i)
    return b.build()


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    obj = module(n)
    out = {"relocations": 2 * n, "repeats": repeats, "profiles": {}}
    for name in PROFILES:
        best_load = best_apply = float("inf")
        for _ in range(repeats):
            prof = get_profile(name)
            t0 = time.perf_counter()
            mod, rc = load(prof, obj)
            t1 = time.perf_counter()
            for k, s in enumerate(mod.obj.symbols):
                if s.name.startswith("f"):
                    s.value = 0xC000_0000_0100_0000 + 16 * k
            total = 0
            for relsec in mod.obj.rela_sections():
                total |= prof.apply_relocate_add(mod, mod.obj.symtab_index, relsec)
            t2 = time.perf_counter()
            assert rc == 0 and total == 0, (name, rc, total, mod.messages[:2])
            best_load, best_apply = min(best_load, t1 - t0), min(best_apply, t2 - t1)
        out["profiles"][name] = {
            "load_s": round(best_load, 4),
            "apply_s": round(best_apply, 4),
            "relocs_per_s": round(2 * n / best_apply),
        }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
