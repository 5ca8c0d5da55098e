"""`ppcreloc diff`: two engines on the same generated objects, as a kernel developer uses it.

Two profiles that differ (v6.1 against v6.12) must disagree, shrink, and leave a fixture whose
sidecar names the first differing step, field, relocation and both values, which ``replay`` and
``explain`` show side by side (exit 1); two identical engines agree (exit 0); ``--jobs 2`` and
``--json``; bad arguments are one-line errors (exit 2); ``--against`` defaults to the profile of
the kernel tree's version; and a copy of Debian's 6.12 tree with one line of module_64.c edited
(the @ha rounding of TOC16_HA) disagrees with v6.12 on exactly that relocation.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from ppcreloc.cli import main
from ppcreloc.diff import VERSION_PROFILES, profile_for_version
from ppcreloc.errors import UsageError
from ppcreloc.fixtures import load_fixture

TARBALLS = {"6.1": Path("/usr/src/linux-source-6.1.tar.xz"),
            "6.12": Path("/usr/src/linux-source-6.12.tar.xz")}
#: the edit a developer might make: drop the +0x8000 rounding of TOC16_HA's @ha
#: (arch/powerpc/kernel/module_64.c, apply_relocate_add, 6.12); the needle is unique in the file
HA_NEEDLE = "my_r2(sechdrs, me);\n\t\t\tvalue = ((value + 0x8000) >> 16);"
HA_EDIT = "my_r2(sechdrs, me);\n\t\t\tvalue = (value >> 16);"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``ppcreloc ARGV`` in process: (exit code, stdout, stderr); argparse's exits included."""
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def diff_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict]:
    code, out, err = run(capsys, "diff", *argv, "--json")
    assert code in (0, 1), err
    return code, json.loads(out)


def tree_or_skip(series: str) -> Path:
    """Debian's linux-source-SERIES tarball (CI installs it), else skip naming the package."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed (the kernel engine compiles module_64.c)")
    if not TARBALLS[series].is_file():
        pytest.skip(f"{TARBALLS[series]} missing (apt-get install linux-source-{series})")
    return TARBALLS[series]


# -- two profiles ---------------------------------------------------------------------------------
def test_profiles_that_differ_disagree_shrink_and_replay(tmp_path, capsys):
    """v6.1 cannot re-apply (restore_r2 refuses its own ld r2), v6.12 can: diff finds it, shrinks
    it to one call, and the fixture replays and explains with both engines side by side."""
    fx = tmp_path / "fx"
    code, out, err = run(capsys, "diff", "--engine", "v6.1", "--against", "v6.12",
                         "--examples", "100", "--seed", "1", "--fixtures", str(fx))
    assert code == 1, err
    assert "v6.1 vs v6.12" in out and "1 disagreement(s)" in out
    [obj] = list((fx / "v6.1").glob("diff-*.o"))
    _elf, record = load_fixture(obj)
    v = record.violation
    assert record.invariant == "diff" and record.engine == "v6.1" and record.minimal
    assert v["against"] == "v6.12"
    assert isinstance(v["step"], int) and v["step_desc"].startswith(("load", "coming", "going"))
    assert v["field"] in ("patch writes", "rc", "messages") and v["a"] != v["b"]
    assert v["relocation"]["type_name"] == "R_PPC64_REL24"
    assert v["relocation"]["symbol"].startswith(".klp.sym.")
    assert v["relocs"] <= 2  # shrunk: one external call (and at most one more relocation)
    assert str(obj) in out

    code, out, _ = run(capsys, "replay", str(obj))
    assert code == 1
    assert "A = v6.1" in out and "B = v6.12" in out
    assert "Expected nop after call" in out  # v6.1's restore_r2 on the re-apply, in A's row
    assert any(line.startswith("!! step") for line in out.splitlines())
    assert "differs: step" in out and "R_PPC64_REL24" in out and "reproduces:" in out

    code, out, _ = run(capsys, "explain", str(obj))
    assert code == 1
    assert "A = v6.1" in out and "differs: step" in out
    rel_rows = [ln for ln in out.splitlines() if "R_PPC64_REL24" in ln and "[0] +0x" in ln]
    assert rel_rows, out  # the per-relocation table: its bytes after each step, A and B
    assert any(ln.lstrip().startswith("!! step") and " A " in ln and " B " in ln
               for ln in out.splitlines())


def test_identical_engines_agree(tmp_path, capsys):
    fx = tmp_path / "fx"
    code, out, err = run(capsys, "diff", "--engine", "v6.12", "--against", "v6.12",
                         "--examples", "30", "--seed", "2", "--fixtures", str(fx))
    assert code == 0, err
    assert "30 examples" in out and "0 disagreement(s)" in out
    assert not fx.exists()  # nothing found, nothing written


def test_json_document(tmp_path, capsys):
    code, doc = diff_json(capsys, "--engine", "full-undo", "--against", "full-undo",
                          "--examples", "12", "--seed", "3", "--placeholders", "adversarial",
                          "--fixtures", str(tmp_path))
    assert code == 0
    assert set(doc) == {"engine", "against", "seed", "jobs", "placeholders", "examples",
                        "disagreements", "elapsed_s"}
    assert doc["jobs"] == 1  # auto: 12 examples are too few to share
    assert (doc["engine"], doc["against"], doc["seed"]) == ("full-undo", "full-undo", 3)
    assert doc["placeholders"] == "adversarial" and doc["examples"] == 12
    assert doc["disagreements"] == []

    code, doc = diff_json(capsys, "--engine", "v6.1", "--against", "v6.12", "--examples", "50",
                          "--seed", "1", "--fixtures", str(tmp_path))
    assert code == 1
    [found] = doc["disagreements"]
    assert set(found) == {"fixture", "step", "step_desc", "field", "a", "b", "relocation",
                          "relocs"}
    assert Path(found["fixture"]).is_file()


def test_jobs_two(tmp_path, capsys):
    """Two worker processes share the example count; a disagreement is still found."""
    code, doc = diff_json(capsys, "--engine", "v6.12", "--against", "v6.12", "--examples", "20",
                          "--seed", "4", "--jobs", "2", "--fixtures", str(tmp_path))
    assert code == 0 and doc["examples"] == 20
    code, doc = diff_json(capsys, "--engine", "v6.1", "--against", "v6.12", "--examples", "60",
                          "--seed", "4", "--jobs", "2", "--fixtures", str(tmp_path))
    assert code == 1 and doc["disagreements"] and doc["jobs"] == 2
    assert all(Path(f["fixture"]).is_file() for f in doc["disagreements"])


@pytest.mark.parametrize(("argv", "message"), [
    (["--against", "v6.12"], "required: --engine"),
    (["--engine", "no-such-engine"], "no-such-engine"),
    (["--engine", "v6.12"], "--against is required"),
    (["--engine", "v6.12", "--against", "v6.1", "--examples", "0"], "--examples must be"),
    (["--engine", "v6.12", "--against", "v6.1", "--budget", "-1"], "--budget must be"),
    (["--engine", "v6.12", "--against", "v6.1", "--examples", "5", "--budget", "5"],
     "not both"),
    (["--engine", "v6.12", "--against", "v6.1", "--jobs", "0"], "must be between 1 and 64"),
    (["--engine", "v6.12", "--against", "v6.1", "--jobs", "many"], "or 'auto'"),
    (["--engine", "v6.12", "--against", "v6.1", "--cycles", "-1"], "--cycles must be"),
    (["--engine", "v6.12", "--against", "v6.1", "--placeholders", "odd"], "invalid choice"),
    (["--engine", "v6.12", "--against", "v6.1", "--examples", "many"], "invalid int"),
    (["--engine", "kernel:/no/such/tree", "--against", "v6.12"], "no such file"),
])
def test_bad_arguments_are_one_line_errors(argv, message, capsys):
    code, out, err = run(capsys, "diff", *argv)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], err
    assert "Traceback" not in err


def test_bad_tree_directory_is_one_line(tmp_path, capsys):
    code, _out, err = run(capsys, "diff", "--engine", f"kernel:{tmp_path}")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "not a kernel tree" in err


# -- the default --against ------------------------------------------------------------------------
def _version(*parts: int) -> str:
    """A made-up VERSION.PATCHLEVEL[.SUBLEVEL] (never a real Debian patch version)."""
    return ".".join(str(p) for p in parts)


def test_profile_for_version():
    assert profile_for_version(_version(6, 1, 7)) == "v6.1"
    assert profile_for_version(_version(6, 12, 7)) == "v6.12"
    assert profile_for_version(_version(6, 3)) == "v6.12"
    for version in (_version(6, 2, 7), _version(5, 15, 7), _version(7, 0, 7), "unknown"):
        with pytest.raises(UsageError, match="give --against PROFILE"):
            profile_for_version(version)
    assert [p for *_r, p in VERSION_PROFILES] == ["v6.1", "v6.12"]


@pytest.mark.parametrize("series", ["6.1", "6.12"])
def test_default_against_is_the_trees_profile(series, tmp_path, capsys):
    """No --against: the profile matching the tree's Makefile version; the real code agrees."""
    tarball = tree_or_skip(series)
    code, doc = diff_json(capsys, "--engine", f"kernel:{tarball}", "--examples", "20",
                          "--seed", "5", "--fixtures", str(tmp_path))
    assert doc["against"] == f"v{series}"
    assert code == 0 and doc["examples"] == 20, doc["disagreements"]


# -- a tree the developer edited ------------------------------------------------------------------
@pytest.fixture(scope="session")
def extracted_6_12() -> Path:
    """Debian's 6.12 tree, extracted once into the ppcreloc cache (shared with the harness
    tests)."""
    from ppcreloc.reference.kernel.build import resolve_tree

    return resolve_tree(tree_or_skip("6.12"))


@pytest.fixture
def edited_tree(extracted_6_12: Path, tmp_path: Path) -> Iterator[Path]:
    """A copy of the 6.12 tree with TOC16_HA's rounding removed; its library is built into a
    scratch cache, not the user's."""
    tree = tmp_path / "linux"
    shutil.copytree(extracted_6_12, tree, symlinks=True)
    module = tree / "arch/powerpc/kernel/module_64.c"
    text = module.read_text()
    assert text.count(HA_NEEDLE) == 1
    module.write_text(text.replace(HA_NEEDLE, HA_EDIT))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PPCRELOC_CACHE", str(tmp_path / "cache"))
        yield tree


def test_edited_tree_is_caught_and_named(edited_tree, tmp_path, capsys):
    """``diff --engine kernel:EDITED --against v6.12`` finds the edit, names TOC16_HA, and the
    fixture replays (exit 1) against the same edited tree; the unedited tree agrees."""
    fx = tmp_path / "fx"
    code, doc = diff_json(capsys, "--engine", f"kernel:{edited_tree}", "--against", "v6.12",
                          "--examples", "150", "--seed", "1", "--fixtures", str(fx))
    assert code == 1
    [found] = doc["disagreements"]
    assert found["relocation"]["type_name"] == "R_PPC64_TOC16_HA", found
    assert found["field"].startswith("section") and found["a"] != found["b"]
    code, out, _ = run(capsys, "replay", found["fixture"])
    assert code == 1 and f"A = kernel:{edited_tree}" in out and "R_PPC64_TOC16_HA" in out
    code, out, _ = run(capsys, "explain", found["fixture"])
    assert code == 1 and "TOC16_HA" in out and "!!" in out


# -- CI: scripts/ci-campaign.sh's diff of each Debian tree ------------------------------------
FAKE_PPCRELOC = """#!/bin/sh
# fuzz: nothing found; diff: a disagreement for a tree named bad*, none otherwise
if [ "$1" = fuzz ]; then
    echo '{"engine": "'"$3"'", "examples": 1, "violations": [], "elapsed_s": 0.1}'; exit 0
fi
case "$3" in
kernel:*bad*) found='[{"fixture": "f.o", "step": 1, "step_desc": "coming(t, gen 0)",
  "field": "patch writes", "a": "1", "b": "2", "relocs": 1, "relocation": {"section": ".klp",
  "index": 0, "type_name": "R_PPC64_REL24"}}]'; rc=1;;
*) found='[]'; rc=0;;
esac
echo '{"engine": "'"$3"'", "against": "v6.12", "placeholders": "compiler", "examples": 7,
  "disagreements": '"$found"', "elapsed_s": 0.1}'
exit $rc
"""


def test_ci_campaign_diff_fails_on_a_disagreement_or_a_missing_tree(tmp_path):
    """The script runs ``diff`` per tree and mode, fails (exit 1) naming the relocation of a
    disagreement, a missing tree, or a short run; a tree agreeing over every example is ok."""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    fake = tmp_path / "ppcreloc"
    fake.write_text(FAKE_PPCRELOC)
    fake.chmod(0o755)
    good, bad = tmp_path / "good.tar.xz", tmp_path / "bad.tar.xz"
    good.write_bytes(b"")
    bad.write_bytes(b"")
    env = {**os.environ, "PYTHONPATH": str(root), "PPCRELOC": str(fake),
           "PYTHON": sys.executable, "CAMPAIGN_FIXTURES": str(tmp_path / "fx"),
           "CAMPAIGN_DIFF_EXAMPLES": "7",
           "CAMPAIGN_DIFF_TREES": f"{good} {bad} {tmp_path / 'missing.tar.xz'}"}
    proc = subprocess.run(["bash", str(root / "scripts/ci-campaign.sh")], capture_output=True,
                          text=True, timeout=120, env=env)
    assert proc.returncode == 1
    assert f"ok   diff kernel:{good} vs v6.12 (compiler): 7 examples" in proc.stdout
    assert f"FAIL diff kernel:{bad} vs v6.12" in proc.stderr
    assert "at .klp[0] R_PPC64_REL24: A 1 B 2: f.o" in proc.stderr
    assert f"FAIL diff kernel:{tmp_path / 'missing.tar.xz'}: no such tree" in proc.stderr
    env["CAMPAIGN_DIFF_EXAMPLES"] = "8"  # the fake ran 7: a short run is not a pass
    env["CAMPAIGN_DIFF_TREES"] = str(good)
    proc = subprocess.run(["bash", str(root / "scripts/ci-campaign.sh")], capture_output=True,
                          text=True, timeout=120, env=env)
    assert f"FAIL diff kernel:{good} vs v6.12 (compiler): 7 examples" in proc.stderr
