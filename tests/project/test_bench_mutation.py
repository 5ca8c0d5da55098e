"""bench/mutation.py's mutant table: well-formed, covering every part of module_64.c the issue
names, and every needle (known by its hash) found exactly once in the installed 6.12 tree (so no mutant silently
stops applying when Debian moves the package); the runner's mutant trees build, and one mutant
goes through the benchmark end to end."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path

import pytest

from bench import mutation
from bench.mutants import MUTANTS, Mutant, Needle

TARBALL_6_12 = Path("/usr/src/linux-source-6.12.tar.xz")
#: what the table must cover: every case apply_relocate_add handles without PCREL (6.12), the
#: default, restore_r2, the stub functions, count_relocs and the sort
COVERED = (
    "R_PPC64_ADDR32", "R_PPC64_ADDR64", "R_PPC64_TOC", "R_PPC64_TOC16", "R_PPC64_TOC16_LO",
    "R_PPC64_TOC16_DS", "R_PPC64_TOC16_LO_DS", "R_PPC64_TOC16_HA", "R_PPC_REL24",
    "R_PPC64_REL64", "R_PPC64_REL32", "R_PPC64_TOCSAVE", "R_PPC64_ENTRY", "R_PPC64_REL16_HA",
    "R_PPC64_REL16_LO", "unknown type", "restore_r2", "stub_for_addr", "create_stub",
    "count_relocs", "get_stubs_size", "relacmp", "my_r2", "local_entry_offset", "dedotify",
)


def test_table_is_well_formed():
    names = [m.name for m in MUTANTS]
    assert len(names) == len(set(names))
    for m in MUTANTS:
        assert isinstance(m, Mutant)
        assert re.fullmatch(r"[a-z0-9_]+(-[a-z0-9_]+)*", m.name), m.name
        assert isinstance(m.needle, Needle), m.name
        assert 0 < m.needle.length <= 80, f"{m.name}: keep needles short"
        assert re.fullmatch(r"[0-9a-f]{16}", m.needle.sha256), m.name
        assert 0 <= m.at and m.at + m.cut <= m.needle.length, m.name
        assert m.cut or m.insert, f"{m.name}: no change"
        assert m.covers.strip(), m.name
        assert m.equivalent is None or len(m.equivalent) > 20, m.name
    assert sum(m.equivalent is not None for m in MUTANTS) >= 3


def test_table_covers_every_case_and_function():
    covers = " ".join(f"{m.covers} " for m in MUTANTS)
    for what in COVERED:
        assert re.search(rf"(?<![\w]){re.escape(what)}(?![\w])", covers), what
    live = [m for m in MUTANTS if m.equivalent is None]
    for case in COVERED[:15]:  # each relocation case has a mutant that is not equivalent
        assert any(re.search(rf"{case}(?![\w])", m.covers) for m in live), case


def _module_64_6_12() -> str:
    if shutil.which("gcc") is None or not TARBALL_6_12.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{TARBALL_6_12} missing under CI (scripts/bootstrap.sh installs "
                        "linux-source-6.12)")
        pytest.skip(f"{TARBALL_6_12} missing (apt-get install linux-source-6.12)")
    from ppcreloc.reference.kernel.build import resolve_tree

    tree = resolve_tree(TARBALL_6_12)
    return (tree / mutation.MODULE_64).read_text(encoding="utf-8", errors="surrogateescape")


def test_every_needle_occurs_once_in_the_installed_6_12_tree():
    source = _module_64_6_12()
    counts = {m.name: len(mutation.find_needle(source, m.needle)) for m in MUTANTS}
    assert {k: v for k, v in counts.items() if v != 1} == {}
    for m in MUTANTS:
        assert mutation.apply_mutant(source, m) != source


def _needle(text: str) -> Needle:
    return Needle(len(text), hashlib.sha256(text.encode()).hexdigest()[:16])


def test_apply_mutant_refuses_a_missing_or_repeated_needle():
    m = Mutant("x", "restore_r2", _needle("needle"), at=0, cut=6, insert="pin")
    with pytest.raises(mutation.BenchError, match="occurs 0 times"):
        mutation.apply_mutant("no such text", m)
    with pytest.raises(mutation.BenchError, match="occurs 2 times"):
        mutation.apply_mutant("needle needle", m)
    assert mutation.apply_mutant("a needle b", m) == "a pin b"
    inside = Mutant("y", "restore_r2", _needle("needle"), at=2, cut=1, insert="EE")
    assert mutation.apply_mutant("a needle b", inside) == "a neEEdle b"


def test_show_prints_the_changed_lines_from_the_tree():
    source = "first line\n\tif (x > 3)\n\t\treturn 0;\nlast\n"
    m = Mutant("x", "restore_r2", _needle("x > 3)\n\t\treturn"), at=4, cut=1,
               insert="7")
    assert mutation.show(source, m) == ("\tif (x > 3)\n\t\treturn 0;",
                                        "\tif (x > 7)\n\t\treturn 0;")
    grow = Mutant("z", "restore_r2", _needle("last"), at=4, cut=0, insert="\nmore")
    assert mutation.show(source, grow) == ("last", "last\nmore")


def test_show_lists_every_mutant_from_the_installed_6_12_tree(capsys):
    _module_64_6_12()
    assert mutation.main(["--show", "--only", "rel24-li-mask", "addr32-u16-store"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "addr32-u16-store (apply_relocate_add R_PPC64_ADDR32)"
    assert any(line.startswith("+") and "u16" in line for line in out)
    assert any(line.startswith("rel24-li-mask (") for line in out)


def test_one_mutant_end_to_end(capsys, monkeypatch):
    """The REL24 LI-mask mutant (bl becomes b) through diff (compiler objects, 20 examples):
    caught, named, shrunk to the one call; the user's cache gets no mutant build."""
    _module_64_6_12()
    before = os.environ.get("PPCRELOC_CACHE")
    code = mutation.main(["--only", "rel24-li-mask", "--campaigns", "diff",
                          "--placeholders", "compiler", "--examples", "20"])
    assert code == 0 and os.environ.get("PPCRELOC_CACHE") == before
    doc = json.loads(capsys.readouterr().out)
    assert doc["against"] == "v6.12" and doc["baseline"]["diff"] == {"compiler": 20}
    [row] = doc["mutants"]
    hit = row["diff"]["compiler"]
    assert row["status"] == "caught" and hit["caught"] and hit["relocation"] == "R_PPC64_REL24"
    assert 1 <= hit["examples"] <= 20 and hit["relocs"] == 1
    assert doc["score"]["diff"]["compiler"] == {"caught": 1, "of": 1, "score": 1.0}


def test_bad_input_is_one_line(capsys):
    assert mutation.main(["--only", "no-such-mutant"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no such mutant: no-such-mutant" in err[0]
    assert mutation.main(["/no/such/tree"]) == 2
    assert "no such file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        mutation.main(["--examples", "many"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "invalid int value" in err[0]
