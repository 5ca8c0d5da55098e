"""The regression corpus: every committed fixture under tests/fixtures/ replays to its recorded
verdict (the same first violation, field for field apart from prose), is minimal, and is an ELF
file binutils' readelf accepts. The starter corpus is `ppcreloc matrix --seed 0 --examples 60`
(compiler-like and adversarial objects): the minimal counterexample of each failing cell.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from ppcreloc import fixtures, matrix
from ppcreloc.elf.model import SHN_LIVEPATCH
from ppcreloc.engines import engine_names
from ppcreloc.fixtures import iter_fixtures, load_fixture
from ppcreloc.ppc64.reloctypes import BY_NAME
from ppcreloc.replay import comparable, replay

CORPUS_DIR = Path(__file__).parents[1] / "fixtures"
CORPUS = iter_fixtures(CORPUS_DIR)
IDS = [str(p.relative_to(CORPUS_DIR)) for p in CORPUS]
READELF = [t for t in ("readelf", "powerpc64le-linux-gnu-readelf") if shutil.which(t)]


def test_matrix_and_fuzz_write_to_the_same_default_directory_outside_the_corpus() -> None:
    from ppcreloc.cli import build_parser

    assert matrix.DEFAULT_FIXTURE_DIR == fixtures.DEFAULT_DIR == Path("ppcreloc-fixtures")
    assert fixtures.CORPUS_DIR == Path("tests/fixtures")
    ignored = (Path(__file__).parents[2] / ".gitignore").read_text().split()
    assert "/ppcreloc-fixtures/" in ignored
    args = build_parser(["fuzz"]).parse_args(["fuzz"])
    assert Path(args.fixtures) == fixtures.DEFAULT_DIR


def test_corpus_covers_every_predicted_failure() -> None:
    """Each cell the kernel's code predicts to fail (compiler-like objects) has a fixture."""
    have = {(p.parent.name, load_fixture(p)[1].invariant) for p in CORPUS}
    cells = {(e, i) for (e, i), holds in matrix.PREDICTED.items()
             if not holds and e in engine_names()}
    assert cells and cells <= have, sorted(cells - have)


@pytest.mark.parametrize("path", CORPUS, ids=IDS)
def test_fixture_replays_to_its_recorded_verdict(path: Path) -> None:
    result = replay(path)
    rec = result.record
    assert path.parent.name == rec.engine and path.name.startswith(rec.invariant + "-")
    assert rec.minimal
    assert result.holds == rec.holds, result.verdict.invariants[rec.invariant].message
    if not rec.holds:
        assert comparable(result.first) == comparable(rec.violation)


def test_reload_failure_fixture_is_one_rel24_against_a_livepatch_symbol() -> None:
    """The seed thread's defect: v6.1 cannot re-apply; its minimal object is one klp REL24."""
    (path,) = [p for p in CORPUS if p.parent.name == "v6.1"
               and p.name.startswith("apply_clear_apply-")]
    obj = replay(path).inputs.obj
    relocs = [r for rs in obj.relocs.values() for r in rs]
    assert [r.type for r in relocs] == [BY_NAME["R_PPC_REL24"].num]
    assert obj.symbols[relocs[0].sym].shndx == SHN_LIVEPATCH
    assert "Expected nop after call" in (load_fixture(path)[1].violation or {})["kernel_message"]


@pytest.mark.parametrize("tool", READELF or ["readelf"])
def test_binutils_readelf_accepts_every_fixture(tool: str) -> None:
    if not READELF:
        pytest.skip("binutils readelf is not installed (apt-get install binutils)")
    for path in CORPUS:
        proc = subprocess.run([tool, "-W", "-a", str(path)], capture_output=True, text=True,
                              timeout=60)
        assert proc.returncode == 0, (path, proc.stderr)
        assert "Error" not in proc.stderr and "Warning" not in proc.stderr, (path, proc.stderr)
        assert "R_PPC64_" in proc.stdout or "There are no relocations" in proc.stdout
