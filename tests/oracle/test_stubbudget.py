"""Reload verdicts that do not depend on the cycle count (ppcreloc.stubbudget, oracle.check).

The object: ``m`` text sections, each one ``bl .klp.sym.target.foo,0; nop`` in its own
``.klp.rela.target..text.<n>``. By hand, from module_64.c (6.12, 6.1): get_stubs_size counts
count_relocs per RELA section (1 each: m), the two ftrace trampolines
(CONFIG_DYNAMIC_FTRACE, _WITH_REGS) and the terminator slot, so `.stubs` has m + 3 slots; the
load's module_finalize_ftrace takes 2 and the first coming 1 (every call is the same address):
3 in use. A reload puts foo at a fresh address: 1 new stub (the old one is never freed by
6.12, 6.1 or klp-clear-v7). Reload k uses slot 2 + k, so the first out of bounds is k = m + 1.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from ppcreloc import oracle
from ppcreloc.cli import main
from ppcreloc.elf.builder import ObjectBuilder
from ppcreloc.elf.model import SHN_LIVEPATCH, STB_GLOBAL, ElfObject
from ppcreloc.elf.writer import write_elf
from ppcreloc.engines import get_engine
from ppcreloc.explain import explain, render
from ppcreloc.loader.world import SymbolWorld
from ppcreloc.oracle import DEFAULT_CYCLES, check
from ppcreloc.stubbudget import StubBudget

BL, NOP = 0x48000001, 0x60000000
R_PPC64_REL24 = 10


def sections_object(m: int) -> ElfObject:
    """``m`` sections calling the same klp function (see the module docstring)."""
    ob = ObjectBuilder()
    ob.add_stubs()
    foo = ob.add_symbol(".klp.sym.target.foo,0", bind=STB_GLOBAL, shndx=SHN_LIVEPATCH)
    for n in range(m):
        t = ob.add_section(f".text.{n}", struct.pack("<2I", BL, NOP))
        ob.add_rela(t, 0, foo, R_PPC64_REL24, section=f".klp.rela.target..text.{n}")
    return ob.build()


def _check(m: int, engine: str, cycles: int | None = None) -> oracle.Verdict:
    return check(sections_object(m), get_engine(engine), SymbolWorld.synthetic(), cycles=cycles)


@pytest.mark.parametrize("engine", ["v6.12", "v6.1", "klp-clear-v7"])
@pytest.mark.parametrize("m", [1, 12])
def test_exhausting_reload_is_the_hand_computed_one(engine: str, m: int) -> None:
    v = _check(m, engine)
    # m = 12 exhausts past the default 8 reloads: the check ran exactly up to reload 13
    assert v.stubs == StubBudget(m + 3, 3, 1, m + 1, True,
                                 max(DEFAULT_CYCLES, m + 1))
    assert v.cycles == max(DEFAULT_CYCLES, m + 1)
    assert v.stubs.summary() == f"exhausts `.stubs` at reload {m + 1}"
    reload = v.invariants["reload_cycles"]
    if engine == "v6.1":  # its second apply fails ("Expected nop"), so reloads are not judged
        assert reload.state == "not judged"
    else:
        assert reload.state == "violated"
        assert reload.violations[0].step_desc == f"coming(target, gen {m + 1})"


def test_full_undo_never_exhausts() -> None:
    v = _check(12, "full-undo")
    assert v.stubs == StubBudget(15, 3, 0, None, False, DEFAULT_CYCLES)
    assert v.stubs.summary().startswith("never exhausts")
    assert v.holds and v.cycles == DEFAULT_CYCLES


def test_explicit_cycles_run_exactly_and_still_name_the_reload() -> None:
    v = _check(12, "v6.12", cycles=8)
    assert v.cycles == 8 and v.invariants["reload_cycles"].state == "holds"
    assert v.stubs == StubBudget(15, 3, 1, 13, False, 8)
    assert "exhausts `.stubs` at reload 13 (from the stub accounting" in v.stubs.describe()


def test_exhaustion_beyond_the_auto_limit_comes_from_the_accounting(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(oracle, "MAX_AUTO_CYCLES", 10)
    v = _check(12, "v6.12")
    assert v.cycles == DEFAULT_CYCLES
    reload = v.invariants["reload_cycles"]
    assert reload.state == "violated"
    assert "exhausts `.stubs` at reload 13 (from the stub accounting" in (reload.message or "")


def test_check_text_and_json_name_the_reload(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "sections.o"
    path.write_bytes(write_elf(sections_object(12)))
    assert main(["check", str(path)]) == 1
    assert "exhausts `.stubs` at reload 13" in capsys.readouterr().out.replace("\n", " ")
    assert main(["check", str(path), "--json", "--cycles", "3"]) == 1  # clear_restores
    doc = json.loads(capsys.readouterr().out)
    assert doc["stubs"]["exhausts_at"] == 13 and doc["stubs"]["cycles"] == 3
    assert doc["invariants"]["reload_cycles"]["state"] == "holds"


def test_explain_names_the_reload(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "sections.o"
    path.write_bytes(write_elf(sections_object(12)))
    render(explain(path))
    assert "exhausts `.stubs` at reload 13" in capsys.readouterr().out.replace("\n", " ")


def test_matrix_cell_and_sidecar_name_the_reload(tmp_path: Path) -> None:
    from ppcreloc.matrix import run_matrix

    (cell,) = run_matrix([get_engine("v6.12")], examples=5, invariants=("reload_cycles",),
                         fixture_dir=tmp_path)
    assert cell.state == "violated" and cell.fixture is not None
    assert (cell.stubs or "").startswith("exhausts `.stubs` at reload ")
    sidecar = json.loads(Path(cell.fixture).with_suffix(".json").read_text())
    assert sidecar["stubs"]["summary"] == cell.stubs
    assert sidecar["cycles"] == max(DEFAULT_CYCLES, sidecar["stubs"]["exhausts_at"])
