"""Real modules turned livepatch-style exhaust `.stubs` on v6.12 at the reload the kernel's C
does (issue 17 point 6), with default settings; full-undo holds on them.

nfsd becomes a livepatch object for sunrpc and ext4 one for jbd2: every undefined symbol the
target module defines is `.klp.sym.<target>.<name>,0` and its relocations move to
`.klp.rela.<target>.<sec>` (:func:`klp_against`, then ppcreloc.elf.livepatch.to_livepatch). Each reload of the target puts
it at a fresh address, so every distinct function called there needs a new stub; 6.12 never
frees one. The reloads (checked on the 6.12.118 image; ``--engine kernel:`` on
linux-source-6.12 gives the same): nfsd->sunrpc 6, ext4->jbd2 14.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from realmodules import module_bytes, package

from ppcreloc.cli import main
from ppcreloc.elf.livepatch import KLP_SYM_PREFIX, to_livepatch
from ppcreloc.elf.model import SHN_UNDEF, STB_GLOBAL, STB_WEAK, ElfObject
from ppcreloc.elf.reader import read_elf
from ppcreloc.elf.writer import write_elf

pytestmark = pytest.mark.realmodules

#: (livepatch module, target module, the reload that exhausts `.stubs` on 6.12)
CASES = [("nfsd", "sunrpc", 6), ("ext4", "jbd2", 14)]


def klp_against(obj: ElfObject, target: ElfObject, objname: str) -> ElfObject:
    """``obj`` with every undefined symbol that ``target`` defines (global or weak) renamed
    `.klp.sym.<objname>.<name>,0`, then :func:`to_livepatch` (SHN_LIVEPATCH, `.klp.rela.*`)."""
    names = {s.name for s in target.symbols
             if s.name and s.shndx != SHN_UNDEF and s.bind in (STB_GLOBAL, STB_WEAK)}
    out = obj.clone()
    for sym in out.symbols:
        if sym.shndx == SHN_UNDEF and sym.name in names:
            sym.name = f"{KLP_SYM_PREFIX}{objname}.{sym.name},0"
    return to_livepatch(out)


def klp_file(tmp: Path, series: str, module: str, target: str) -> Path:
    """``module`` of the cached ``series`` image as a livepatch object for ``target``."""
    pkg = package(series)
    obj = read_elf(module_bytes(pkg.find(module)))
    path = tmp / f"{module}.ko"
    path.write_bytes(write_elf(klp_against(obj, read_elf(module_bytes(pkg.find(target))), target)))
    return path


@pytest.mark.parametrize(("module", "target", "reload"), CASES, ids=[c[0] for c in CASES])
def test_default_check_reports_the_exhausting_reload(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], module: str, target: str,
        reload: int) -> None:
    path = klp_file(tmp_path, "6.12", module, target)
    kallsyms = str(package("6.12").system_map)
    assert main(["check", str(path), "--kallsyms", kallsyms, "--engine", "v6.12",
                 "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["stubs"]["exhausts_at"] == reload and doc["stubs"]["seen"]
    assert doc["stubs"]["summary"] == f"exhausts `.stubs` at reload {reload}"
    cycles = doc["invariants"]["reload_cycles"]
    assert cycles["state"] == "violated"
    assert cycles["violations"][0]["step_desc"] == f"coming({target}, gen {reload})"
    assert main(["check", str(path), "--kallsyms", kallsyms, "--engine", "full-undo"]) == 0
    text = capsys.readouterr().out.replace("\n", " ")
    assert "never exhausts `.stubs`" in text
