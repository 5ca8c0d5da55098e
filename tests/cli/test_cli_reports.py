"""What the CLI tells a user and a program: violations in `check --json` and `replay --json`,
result states (holds / violated / not judged), the matrix at 80 columns with whole names and
paths, help and error texts that name every engine form, bytes as words with their byte order,
ABI type names with the kernel's alias, and what differs in a replay."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ppcreloc import cli
from ppcreloc.elf.builder import ObjectBuilder
from ppcreloc.elf.model import SHF_ALLOC, SHF_WRITE, SHN_LIVEPATCH, STB_GLOBAL
from ppcreloc.elf.writer import write_elf
from ppcreloc.engines import engine_names
from ppcreloc.matrix import PREDICTED
from ppcreloc.oracle import INVARIANTS, plural, show_bytes
from ppcreloc.ppc64 import reloctypes as rt
from ppcreloc.replay import replay

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "fixtures"
(V61,) = sorted((CORPUS / "v6.1").glob("apply_clear_apply-*.o"))


def _run(*argv: str, columns: int = 80) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": str(columns)}
    return subprocess.run([sys.executable, "-m", "ppcreloc.cli", *argv], capture_output=True,
                          text=True, timeout=300, env=env)


@pytest.fixture(scope="module")
def bad_toc16_lo_ds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A livepatch object whose TOC16_LO_DS value is misaligned (addend 1): 'bad TOC16_LO_DS'."""
    b = ObjectBuilder()
    t = b.add_section(".text", bytes(16))
    b.add_section(".toc", bytes(8), flags=SHF_ALLOC | SHF_WRITE, addralign=8)
    b.add_stubs()
    var = b.add_symbol(".klp.sym.target.var,0", bind=STB_GLOBAL, shndx=SHN_LIVEPATCH)
    b.add_rela(t, 2, var, rt.R_PPC64_TOC16_LO_DS, 1, section=".klp.rela.target..text")
    path = tmp_path_factory.mktemp("toc") / "toc.o"
    path.write_bytes(write_elf(b.build()))
    return path


def test_check_json_carries_the_violation_and_both_kernel_messages(bad_toc16_lo_ds, capsys):
    assert cli.main(["check", str(bad_toc16_lo_ds), "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    apply = doc["invariants"]["apply"]
    assert apply["state"] == "violated" and apply["holds"] is False
    (v,) = apply["violations"]
    assert (v["section"], v["index"], v["type_name"], v["symbol"]) == (
        ".klp.rela.target..text", 0, "R_PPC64_TOC16_LO_DS", ".klp.sym.target.var,0")
    assert v["step_desc"] == "coming(target, gen 0)" and v["rc"] == -8
    assert "toc: bad TOC16_LO_DS relocation (0x" in v["kernel_message"]
    assert "failed to initialize patch 'toc' for module 'target' (-8)" in v["kernel_message"]
    # what the premise-failed invariants say: not judged, which is not a pass
    for name in ("apply_clear_apply", "clear_restores", "reapply_identical", "reload_cycles"):
        res = doc["invariants"][name]
        assert (res["state"], res["holds"]) == ("not judged", None), name
    assert doc["invariants"]["in_bounds"]["state"] == "holds"


def test_check_table_shows_not_judged(bad_toc16_lo_ds):
    out = _run("check", str(bad_toc16_lo_ds)).stdout
    rows = {line.split("│")[1].strip(): line.split("│")[2].strip()
            for line in out.splitlines() if line.count("│") >= 3}
    assert rows["apply"] == "VIOLATED" and rows["in_bounds"] == "holds"
    assert rows["reload_cycles"] == "not judged" and rows["clear_restores"] == "not judged"


def test_matrix_at_80_columns_keeps_names_and_paths_whole(tmp_path: Path):
    proc = _run("matrix", "--examples", "30", "--seed", "0", "--fixtures", str(tmp_path))
    assert proc.returncode == 0, proc.stderr  # every cell as the profiles predict
    lines = proc.stdout.splitlines()
    table = [line for line in lines if line.startswith(("┃", "│", "┏", "└"))]
    assert table and all(len(line) <= 80 for line in table)
    names = {line.split("│")[1].strip() for line in table if line.startswith("│")}
    assert names == set(INVARIANTS)  # each on one row, never cut
    fixtures = [line.split("fixture: ", 1)[1] for line in lines if "fixture: " in line]
    fails = [cell for cell, holds in PREDICTED.items() if not holds and cell[0] in engine_names()]
    assert len(fixtures) == len(fails) and all(Path(f).is_file() for f in fixtures)  # one a line
    assert sum(line.startswith("┏") for line in lines) == -(-len(engine_names()) // 4)
    assert any("kernel: livepatch_test: Expected nop after call, got e8410018" in line
               for line in lines)
    row = next(line for line in table if "reapply_identical" in line)
    assert row.split("│")[2].strip() == "not judged"  # v6.1 never judges it


def test_matrix_surprise_and_strict_exit_codes(capsys, monkeypatch, tmp_path: Path):
    from ppcreloc import matrix

    argv = ["matrix", "--examples", "10", "--seed", "0", "--engine", "v6.12", "--no-fixtures",
            "--json"]
    assert cli.main(argv) == 0
    rows = json.loads(capsys.readouterr().out)["results"]
    assert {r["state"] for r in rows} == {"holds", "violated"}
    assert cli.main([*argv, "--strict"]) == 1
    capsys.readouterr()
    # a profile that now holds where the kernel's code predicts a failure is a surprise
    monkeypatch.setitem(matrix.PREDICTED, ("v6.12", "clear_restores"), True)
    assert cli.main(argv) == 1
    rows = json.loads(capsys.readouterr().out)["results"]
    assert [r["invariant"] for r in rows if r["surprise"]] == ["clear_restores"]


@pytest.mark.parametrize("command", ["check", "matrix", "fuzz", "replay", "explain"])
def test_engine_help_names_profiles_and_kernel_path(command):
    from ppcreloc.cli import build_parser

    parser = build_parser([command])
    sub = parser._subparsers._group_actions[0].choices[command]  # type: ignore[union-attr]
    (action,) = [a for a in sub._actions if "--engine" in a.option_strings]
    assert "kernel:PATH" in action.help and "profiles" in action.help
    if command in ("check", "matrix"):
        assert "all" in action.help


@pytest.mark.parametrize("argv", [["check", "x.o", "--engine", "nope"],
                                  ["matrix", "--engine", "nope", "--no-fixtures"],
                                  ["replay", str(V61), "--engine", "nope"]])
def test_unknown_engine_errors_list_kernel_path(argv, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "unknown engine 'nope'" in err and "kernel:PATH" in err
    assert len(err.strip().splitlines()) == 1
    if argv[0] != "replay":
        assert "all, " in err


def test_bytes_are_words_in_the_objects_byte_order():
    assert show_bytes(bytes.fromhex("180041e8"), "little") == \
        "e8410018 (little-endian words; bytes 18 00 41 e8)"
    assert show_bytes(bytes.fromhex("e8410018"), "big").startswith("e8410018 (big-endian")
    assert show_bytes(b"\x01\x02", "little") == "bytes 01 02"
    assert show_bytes(None) == "-"
    assert plural(1, "byte") == "1 byte" and plural(8, "byte") == "8 bytes"


def test_reports_show_abi_type_names_with_the_kernel_alias(capsys):
    assert rt.type_name(10) == "R_PPC64_REL24" and rt.kernel_alias(10) == "R_PPC_REL24"
    assert rt.type_name(38) == "R_PPC64_ADDR64" and rt.kernel_alias(38) is None
    assert rt.BY_NAME["R_PPC_REL24"] is rt.BY_NAME["R_PPC64_REL24"]
    (cleared,) = sorted((CORPUS / "v6.12").glob("clear_restores-*.o"))
    assert cli.main(["replay", str(cleared)]) == 1
    out = capsys.readouterr().out
    assert "R_PPC64_REL24 (kernel: R_PPC_REL24)" in out
    assert "actual:   e8410018 (little-endian words; bytes 18 00 41 e8)" in out  # as the kernel
    assert "left 4 bytes at" in out


def test_replay_json_and_what_differs(tmp_path: Path, capsys):
    assert cli.main(["replay", str(V61), "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["outcome"] == "reproduces" and doc["differences"] == []
    assert doc["state"] == "violated"
    first = doc["verdict"]["invariants"]["apply_clear_apply"]["violations"][0]
    assert first["type_name"] == "R_PPC64_REL24" and "Expected nop" in first["kernel_message"]
    # an engine that puts the module elsewhere (kernel:PATH at a user address): the address
    # moves with the module base and is not a difference; a real change of place is
    dst = tmp_path / V61.name
    shutil.copy(V61, dst)
    side = json.loads(V61.with_suffix(".json").read_text())
    base = int(side["layout"]["base"], 16)
    side["layout"]["module_base"] = hex(0x7E00_0000_0000)
    addr = side["violation"]["addr"]
    side["violation"]["addr"] = None if addr is None else addr - base + 0x7E00_0000_0000
    side["violation"]["rc"] = -2
    dst.with_suffix(".json").write_text(json.dumps(side))
    result = replay(dst)
    assert result.differences == ["rc"] and result.outcome.endswith("different first violation")
    assert cli.main(["replay", str(dst)]) == 1
    assert "differs from the recorded one in: rc" in capsys.readouterr().out


class _Tty:
    """A stderr that says it is a terminal (or not) and keeps what was written."""

    def __init__(self, tty: bool) -> None:
        self.tty, self.text = tty, ""

    def isatty(self) -> bool:
        return self.tty

    def write(self, text: str) -> int:
        self.text += text
        return len(text)

    def flush(self) -> None:
        pass


@pytest.mark.parametrize("tty", [True, False])
def test_first_kernel_build_says_so_on_a_terminal(tmp_path, monkeypatch, tty):
    from kernel_trees import uncompilable_tree

    from ppcreloc.reference.kernel.build import KernelHarnessError, build

    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed (the kernel engine compiles module_64.c)")
    tree = uncompilable_tree(tmp_path)
    monkeypatch.setenv("PPCRELOC_CACHE", str(tmp_path / "cache"))
    err = _Tty(tty)
    monkeypatch.setattr(sys, "stderr", err)
    with pytest.raises(KernelHarnessError):
        build(tree)
    expected = f"building module_64.c from {tree} (once, ~15 s)\n"
    assert err.text == (expected if tty else "")


def test_kernel_engine_replay_moves_the_module_and_still_reproduces(capsys):
    """kernel:PATH puts the module at a user address: the recorded violation is the same one."""
    tarball = Path("/usr/src/linux-source-6.12.tar.xz")
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed (the kernel engine compiles module_64.c)")
    if not tarball.is_file():
        pytest.skip(f"{tarball} missing (apt-get install linux-source-6.12)")
    (path,) = sorted((CORPUS / "v6.12").glob("clear_restores-*.o"))
    result = replay(path, f"kernel:{tarball}")
    assert result.module_base != result.record.module_base()  # a different address ...
    assert result.outcome == "reproduces" and result.differences == []  # ... the same defect
