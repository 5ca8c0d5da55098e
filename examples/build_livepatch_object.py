"""Build a livepatch-format object from assembly: gas -> read_elf -> to_livepatch -> write_elf.

    .venv/bin/python examples/build_livepatch_object.py [SOURCE.s] [OUT.o]

SOURCE defaults to tests/data/asm/relocs.s; relocations against `.klp.sym.<obj>.<sym>,<pos>`
symbols end up in `.klp.rela.<obj>.<section>` with the symbols marked SHN_LIVEPATCH. Inspect the
result with `readelf -aW OUT.o`. Errors are one line on stderr, exit status 2.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from ppcreloc.elf.livepatch import to_livepatch
from ppcreloc.elf.reader import read_elf_file
from ppcreloc.elf.writer import write_elf
from ppcreloc.errors import PpcrelocError, UsageError

ROOT = Path(__file__).resolve().parents[1]


def build(source: Path, out: Path) -> None:
    gas = shutil.which("powerpc64le-linux-gnu-as")
    if gas is None:
        raise UsageError("powerpc64le-linux-gnu-as not found (apt-get install binutils-powerpc64le-linux-gnu)")
    if not source.is_file():
        raise UsageError(f"no such source file: {source}")
    with tempfile.TemporaryDirectory() as tmp:
        obj_path = Path(tmp) / "in.o"
        res = subprocess.run([gas, "-a64", "-mpower10", str(source), "-o", str(obj_path)],
                             capture_output=True, text=True, check=False)  # fmt: skip
        if res.returncode:
            first = (res.stderr.strip().splitlines() or ["(no message)"])[-1]
            raise UsageError(f"gas failed on {source}: {first}")
        klp = to_livepatch(read_elf_file(obj_path))
    out.write_bytes(write_elf(klp))
    moved = sum(len(v) for k, v in klp.relocs.items() if klp.sections[k].name.startswith(".klp.rela."))
    print(f"{out}: {moved} livepatch relocations in "
          f"{sorted(s.name for s in klp.sections if s.name.startswith('.klp.rela.'))}")  # fmt: skip


def main() -> int:
    args = sys.argv[1:]
    source = Path(args[0]) if args else ROOT / "tests" / "data" / "asm" / "relocs.s"
    out = Path(args[1]) if len(args) > 1 else Path("livepatch.o")
    try:
        build(source, out)
    except PpcrelocError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
