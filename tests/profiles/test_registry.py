"""ppcreloc.registry: user profile files, entry-point profiles and engines, one-line errors."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ppcreloc.cli import main
from ppcreloc.engines import ModelEngine, engine_names, get_engine
from ppcreloc.errors import UsageError
from ppcreloc.fixtures import load_fixture
from ppcreloc.oracle import check
from ppcreloc.profiles import PROFILES
from ppcreloc.registry import ENGINE_GROUP, PROFILE_GROUP
from ppcreloc.replay import replay_inputs

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "my_clear.py"
#: a fixture whose clear leaves the applied call site behind on v6.12 (clear_restores fails)
FIXTURE = ROOT / "tests" / "fixtures" / "v6.12" / "clear_restores-0241ddc4c20f5dab.o"

#: a proposal file as a user writes it: v6.12 whose clear puts a marker word at P
PROPOSAL = '''
from ppcreloc.arch.access import patch_instruction
from ppcreloc.profiles.v6_12 import V6_12


class Marker(V6_12):
    """v6.12 whose clear_relocate_add patches 0x7fe00008 (trap) at each rela's P."""

    def clear_relocate_add(self, mod, symindex, relsec):
        base = mod.obj.sections[mod.obj.sections[relsec].info].addr
        for rela in mod.obj.relocs.get(relsec, []):
            patch_instruction(mod, base + rela.offset, 0x7FE00008, "marker")
'''


def _clear_writes(engine: ModelEngine) -> list[str]:
    """What the writes of every "going" step of the fixture's check are (clear_relocate_add)."""
    elf, record = load_fixture(FIXTURE)
    inputs = replay_inputs(elf, record, str(FIXTURE))
    verdict = check(inputs.obj, engine, inputs.world, cycles=1, layout=inputs.layout,
                    config=inputs.config)
    assert verdict.run is not None
    return [w.what for s in verdict.run.steps if s.step.kind == "going" for w in s.writes]


def test_a_profile_file_runs_without_install(tmp_path):
    path = tmp_path / "mine.py"
    path.write_text(PROPOSAL)
    engine = get_engine(f"{path}:Marker")
    assert isinstance(engine, ModelEngine) and engine.name == f"{path}:Marker"
    assert engine.profile.__name__ == "Marker" and engine.profile.__module__ in sys.modules
    assert "marker" in _clear_writes(engine)
    assert "marker" not in _clear_writes(ModelEngine("v6.12"))
    assert get_engine(f"{path}:Marker").profile is engine.profile  # the file runs once


def test_the_example_proposal_through_check_and_matrix(tmp_path, capsys):
    spec = f"{EXAMPLE}:ClearCallSites"
    assert main(["check", str(FIXTURE), "--engine", spec, "--json"]) in (0, 1)
    out = capsys.readouterr().out
    assert '"clear_restores"' in out and spec in out
    code = main(["matrix", "--engine", spec, "--examples", "5", "--json",
                 "--fixtures", str(tmp_path)])
    assert code in (0, 1)
    assert spec in capsys.readouterr().out
    # the proposal resets what v6.12 leaves behind: its clear writes the call sites
    whats = _clear_writes(ModelEngine(spec))
    assert "clear branch" in whats


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ppcreloc.cli", *argv], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "COLUMNS": "200"})


@pytest.mark.parametrize(("body", "spec", "expect"), [
    (None, "missing.py:X", "engine file"),
    ("def broken(:\n", "bad.py:X", "bad.py: cannot be loaded: SyntaxError"),
    ("raise RuntimeError('boom\\nagain')\n", "bad.py:X", "RuntimeError: boom again"),
    ("X = 1\n", "bad.py:Y", "has no class 'Y'"),
    ("class X:\n    pass\n", "bad.py:X", "is not a profile class"),
    ("from ppcreloc.profiles.v6_12 import V6_12\nclass X(V6_12):\n"
     "    def __init__(self):\n        raise ValueError('no')\n", "bad.py:X",
     "cannot be instantiated: ValueError: no"),
])
def test_bad_profile_files_are_one_line_errors(tmp_path, body, spec, expect):
    if body is not None:
        (tmp_path / "bad.py").write_text(body)
    target = str(tmp_path / spec)
    for argv in (["check", str(FIXTURE)], ["matrix", "--examples", "1", "--no-fixtures"],
                 ["fuzz", "--examples", "1"], ["replay", str(FIXTURE)],
                 ["explain", str(FIXTURE)]):
        proc = _run(*argv, "--engine", target)
        assert proc.returncode == 2, (argv, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert expect in lines[0], lines[0]


def _dist(root: Path, entry_points: str) -> None:
    """A tiny installed distribution under ``root``: a module and its dist-info."""
    (root / "ppcreloc_plugin_example.py").write_text(PROPOSAL + "\nNOT_A_FACTORY = 1\n")
    info = root / "ppcreloc_plugin_example-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ppcreloc-plugin-example\n"
                                   "Version: 0.1\n")
    (info / "entry_points.txt").write_text(entry_points)


def test_a_package_adds_a_profile_by_entry_point(tmp_path, monkeypatch):
    _dist(tmp_path, f"[{PROFILE_GROUP}]\nmarker = ppcreloc_plugin_example:Marker\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert engine_names() == [*PROFILES, "marker"]
    engine = get_engine("marker")
    assert isinstance(engine, ModelEngine) and engine.profile.__name__ == "Marker"
    assert "marker" in _clear_writes(engine)


def test_a_broken_entry_point_is_a_usage_error(tmp_path, monkeypatch):
    _dist(tmp_path, f"[{PROFILE_GROUP}]\nbroken = ppcreloc_plugin_example:Nope\n"
                    f"[{ENGINE_GROUP}]\nodd = ppcreloc_plugin_example:NOT_A_FACTORY\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(UsageError, match="^profile 'broken' .* not available: AttributeError"):
        get_engine("broken")
    with pytest.raises(UsageError, match="^entry point 'odd' .* is not callable"):
        get_engine("odd:x")
    with pytest.raises(UsageError, match="^odd engine needs a path: odd:PATH"):
        get_engine("odd:")


def test_kernel_is_an_entry_point_of_the_reference_package():
    from importlib.metadata import entry_points

    (ep,) = [e for e in entry_points(group=ENGINE_GROUP) if e.name == "kernel"]
    assert ep.value == "ppcreloc.reference.kernel.engine:KernelEngine"


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
    return names


def test_the_product_never_imports_reference():
    """ppcreloc.reference (the kernel harness, linkers, qemu) is reached only through its entry
    point: no module outside it imports it, and running an engine loads none of it."""
    offenders = [f"{p.relative_to(ROOT)}: {m}" for p in sorted((ROOT / "ppcreloc").rglob("*.py"))
                 if "reference" not in p.relative_to(ROOT / "ppcreloc").parts
                 for m in _imports(p)
                 if m == "ppcreloc.reference" or m.startswith("ppcreloc.reference.")]
    assert not offenders
    code = ("import sys, ppcreloc.cli, ppcreloc.engines, ppcreloc.matrix, ppcreloc.replay;"
            "from ppcreloc.engines import get_engine; get_engine('v6.12');"
            "print(sorted(m for m in sys.modules if m.startswith('ppcreloc.reference')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    assert out.strip() == "[]"
