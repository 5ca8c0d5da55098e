"""ELF I/O benchmark; prints JSON.

Default: median (and p90) write_elf+read_elf time of a default-size object (8 content sections,
16 symbols, 64 relocations; target <= 1 ms), and write/read times of a 65536-relocation object.
``--lief``: the measurements behind the writer decision -- what LIEF 1.0 keeps and breaks when it
writes ET_REL objects (growing one, adding a local symbol, rewriting ours unchanged).

    .venv/bin/python bench/bench_elf.py [--lief] [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # ppcreloc, and the tests' object strategies

from elf_objects import sweep_object  # noqa: E402

from ppcreloc.caches import ppc64el_cache  # noqa: E402
from ppcreloc.elf.builder import ObjectBuilder  # noqa: E402
from ppcreloc.elf.errors import ElfFormatError  # noqa: E402
from ppcreloc.elf.reader import read_elf  # noqa: E402
from ppcreloc.elf.writer import write_elf  # noqa: E402


def _times(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def timing(repeat: int) -> dict[str, object]:
    small = sweep_object(8, 16, 64)
    t = sorted(_times(lambda: read_elf(write_elf(small)), repeat))
    big = sweep_object(64, 4096, 65536)
    data = write_elf(big)
    w = _times(lambda: write_elf(big), 5)
    r = _times(lambda: read_elf(data), 5)
    return {
        "default_object": {"sections": len(small.sections), "symbols": len(small.symbols),
                           "relocations": 64, "bytes": len(write_elf(small))},
        "write_read_median_ms": round(statistics.median(t) * 1e3, 4),
        "write_read_p90_ms": round(t[int(0.9 * len(t))] * 1e3, 4),
        "repeat": repeat,
        "big_object": {"sections": len(big.sections), "symbols": len(big.symbols),
                       "relocations": 65536, "bytes": len(data)},
        "big_write_median_ms": round(statistics.median(w) * 1e3, 1),
        "big_read_median_ms": round(statistics.median(r) * 1e3, 1),
        **_nfsd(),
    }  # fmt: skip


def _nfsd() -> dict[str, object]:
    """read_elf time of Debian's nfsd module (each cached series) when
    scripts/fetch-ppc64el-modules.sh has cached the images; compressed files are unpacked first."""
    import gzip
    import lzma

    cache = ppc64el_cache()
    found = sorted(p for d in cache.glob("*/root/lib/modules/*/") for p in d.rglob("nfsd.ko*"))
    if not found:
        return {"nfsd_ko": "not cached (scripts/fetch-ppc64el-modules.sh)"}
    unpack = {".xz": lzma.decompress, ".gz": gzip.decompress}
    out: dict[str, object] = {}
    for path in found:
        series = path.relative_to(cache).parts[0]
        data = path.read_bytes()
        data = unpack[path.suffix](data) if path.suffix in unpack else data
        obj = read_elf(data)
        out[f"nfsd_ko_{series}"] = {
            "sections": len(obj.sections), "symbols": len(obj.symbols),
            "relocations": sum(len(v) for v in obj.relocs.values()),
            "read_median_ms": round(statistics.median(_times(partial(read_elf, data), 7)) * 1e3, 1),
        }  # fmt: skip
    return out


# -- LIEF measurements ---------------------------------------------------------------------------
def _readelf_warnings(data: bytes) -> int:
    readelf = shutil.which("powerpc64le-linux-gnu-readelf") or shutil.which("readelf")
    if readelf is None:
        return -1
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "x.o"
        p.write_bytes(data)
        err = subprocess.run([readelf, "-aW", str(p)], capture_output=True, text=True).stderr
    return len(err.splitlines())


def lief_measurements() -> dict[str, object]:
    import lief

    lief.logging.disable()
    warnings.simplefilter("ignore")
    R = lief.ELF.Relocation
    b = ObjectBuilder()
    text = b.add_section(".text", bytes(4096))
    b.add_rela(text, 0, b.add_symbol("base", bind=1), 10)
    base = write_elf(b.build())

    def grow(nsym: int, nrel: int, local: bool = False) -> bytes:
        binary = lief.ELF.parse(list(base))
        sec = binary.get_section(".text")
        syms = []
        for k in range(nsym):
            s = lief.ELF.Symbol()
            s.name = f"g{k}"
            s.binding = lief.ELF.Symbol.BINDING.LOCAL if local else lief.ELF.Symbol.BINDING.GLOBAL
            syms.append(binary.add_symtab_symbol(s))
        for k in range(nrel):
            r = R((4 * (k + 1)) % 4096, R.TYPE.PPC64_ADDR64, R.ENCODING.RELA)
            r.addend = k
            binary.add_object_relocation(r, sec).symbol = syms[k % nsym]
        return bytes(binary.write_to_bytes())

    grow_rows = []
    for nsym, nrel in [(1, 1), (16, 16), (17, 17), (64, 64), (4096, 4096), (4096, 65536)]:
        t0 = time.perf_counter()
        out = grow(nsym, nrel)
        dt = time.perf_counter() - t0
        try:
            o = read_elf(out)
            relas = [r for v in o.relocs.values() for r in v]
            wrong = sum(1 for r in relas if r.offset and o.symbols[r.sym].name != f"g{r.addend % nsym}")
            row = {"relocations": len(relas) - 1, "wrong_symbol": wrong}
        except ElfFormatError as exc:
            row = {"reader_error": str(exc)}
        grow_rows.append({"added_symbols": nsym, "added_relocations": nrel, "seconds": round(dt, 3),
                          "readelf_warning_lines": _readelf_warnings(out), **row})  # fmt: skip

    local = grow(1, 1, local=True)
    lo = read_elf(local)
    symtab = lo.sections[lo.symtab_index]
    local_row = {"symtab_sh_info": symtab.info,
                 "locals_after_sh_info": sum(1 for s in lo.symbols[symtab.info:] if s.bind == 0),
                 "readelf_warning_lines": _readelf_warnings(local)}  # fmt: skip

    rewrite_rows = []
    for nsec, nsym, nrel in [(1, 1, 1), (1, 17, 17), (8, 64, 64), (64, 4096, 4096)]:
        obj = sweep_object(nsec, nsym, nrel)
        data = write_elf(obj)
        out = bytes(lief.ELF.parse(list(data)).write_to_bytes())
        back = read_elf(out)
        moved = sum(
            1
            for k, relas in obj.relocs.items()
            for i, r in enumerate(relas)
            if i >= len(back.relocs.get(k, [])) or back.relocs[k][i] != r
        )
        rewrite_rows.append({"sections": nsec, "symbols": nsym, "relocations": nrel,
                             "model_preserved": back == obj, "relocations_moved": moved})  # fmt: skip
    return {
        "lief_version": lief.__version__,
        "grow_one_rela_section": grow_rows,
        "add_local_symbol": local_row,
        "unedited_rewrite_of_our_objects": rewrite_rows,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=2000)
    ap.add_argument("--lief", action="store_true", help="also measure LIEF's writer")
    args = ap.parse_args()
    out: dict[str, object] = {"timing": timing(args.repeat)}
    if args.lief:
        out["lief"] = lief_measurements()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
