"""`ppcreloc report FIXTURE`: a plain-text bug report on every committed fixture, the committed
reports in docs/reports regenerate to the same text, and bad input is one line with exit 2."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from ppcreloc.bugreport import EXPECTED, render, rerun
from ppcreloc.cli import main
from ppcreloc.fixtures import CORPUS_DIR, iter_fixtures, load_fixture
from ppcreloc.oracle import describe_step
from ppcreloc.ppc64.reloctypes import type_name

ROOT = Path(__file__).resolve().parents[2]
CORPUS = iter_fixtures(ROOT / CORPUS_DIR)
REPORTS = sorted((ROOT / "docs" / "reports").glob("*.txt"))
V61 = ROOT / "tests/fixtures/v6.1/apply_clear_apply-0241ddc4c20f5dab.o"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


@pytest.mark.parametrize("path", CORPUS, ids=[f"{p.parent.name}/{p.name}" for p in CORPUS])
def test_report_on_every_committed_fixture(path: Path) -> None:
    """Each section carries the case's own content: the subject for its invariant, every
    relocation type and the symbol of each relocated word, every step of the script with its
    rc, every kernel message the run printed, the violations, and the commands on a tree."""
    text, violated = render(path)
    rp, _ = rerun(path)
    rec = rp.record
    assert violated == (not rec.holds) == (not rp.holds)
    title, should = EXPECTED[rec.invariant]
    assert text.startswith("Subject: [BUG] powerpc/module_64 (") and title in text.splitlines()[0]
    assert " ".join(should.split()[:6]) in " ".join(text.split())
    for heading in ("Kernel", "The module (the fixture, as assembly)", "Loads and unloads",
                    "What the kernel does", "What it should do", "How to reproduce"):
        assert f"\n{heading}\n{'-' * len(heading)}\n" in text
    obj = rp.inputs.obj
    for relsec in obj.rela_sections():
        assert obj.sections[relsec].name in text
        for r in obj.relocs[relsec]:
            assert f"#   {type_name(r.type)} " in text
    for sec in obj.sections:
        if sec.flags & 0x2 and sec.type != 4:
            assert f".section {sec.name}," in text
    run = rp.verdict.run
    assert run is not None
    for i, step in enumerate(rp.verdict.script):
        sr = run.steps[i] if i < len(run.steps) else None
        line = next(x for x in text.splitlines() if re.match(rf"\s*{i}  {re.escape(describe_step(step))} ", x))
        assert sr is None or line.endswith(f"rc {sr.rc}") or "fault" in line
        for m in sr.messages if sr else []:
            assert f"{m.level}: {m.render()}" in text
    first = rp.verdict.invariants[rec.invariant]
    if violated:
        assert f"First violation: {first.message}." in " ".join(text.split())
        assert f"  - {first.violations[0].message}" in text
        if first.violations[0].addr is not None:
            assert f"address: {first.violations[0].addr:#x}" in text
    assert f"ppcreloc replay {path} --engine kernel:" in text
    assert f"ppcreloc check {path} --engine kernel:" in text


def test_report_names_the_kernel_and_the_tree() -> None:
    text, _ = render(ROOT / "tests/fixtures/v6.12/reload_cycles-0241ddc4c20f5dab.o")
    assert "engine:  v6.12 (" in text and "CONFIG_DYNAMIC_FTRACE_WITH_REGS=y" in text
    assert "--engine kernel:/usr/src/linux-source-6.12.tar.xz" in text
    assert "bl .klp.sym.ext4.do_work,0" in text  # the call, with its relocation below it
    assert "#   R_PPC64_REL24 .klp.sym.ext4.do_work,0" in text
    assert "WARN fired: stub_for_addr: WARN_ON(i >= num_stubs)" in text
    assert "Stub bytes written past the end of .stubs (0xc008000000100010 .. 0xc0080000001000b0" \
        in text
    text, _ = render(ROOT / "tests/fixtures/klp-clear-v7/reload_cycles-0241ddc4c20f5dab.o")
    assert "--engine kernel:/usr/src/linux-source-6.1.tar.xz" in text  # v7 builds on 6.1
    assert text.startswith("Subject: [BUG] powerpc/module_64 (6.1 + klp-clear-v7): ")
    assert "klp-clear-v7 models a change on top of 6.1" in text


def test_report_on_another_engine_says_it_no_longer_reproduces(capsys, tmp_path) -> None:
    out = tmp_path / "r.txt"
    rc, stdout, err = _run(capsys, "report", str(V61), "--engine", "full-undo", "-o", str(out))
    assert (rc, stdout, err) == (0, "", "")
    text = out.read_text()
    assert "the invariant holds: the case no longer reproduces" in " ".join(text.split())
    assert "engine:  full-undo" in text
    rc, stdout, _ = _run(capsys, "report", str(V61))
    assert rc == 1 and "Expected nop after call, got e8410018" in stdout


@pytest.mark.parametrize("report", REPORTS, ids=[p.name for p in REPORTS])
def test_committed_reports_regenerate(report: Path, monkeypatch) -> None:
    """docs/reports/*.txt are `ppcreloc report FIXTURE` output (FIXTURE is named in the text,
    relative to the repository): regenerating gives the committed text."""
    monkeypatch.chdir(ROOT)
    committed = report.read_text()
    fixture = re.search(r"^file: (\S+) \(", committed, re.M)
    assert fixture is not None
    assert render(Path(fixture.group(1)))[0] == committed, \
        f"stale: ppcreloc report {fixture.group(1)} -o {report.relative_to(ROOT)}"


def test_the_three_findings_have_reports() -> None:
    names = {p.name for p in REPORTS}
    assert {"stubs-exhausted-on-reload.txt", "count-relocs-32-bit-addend.txt",
            "toc16-lo-ds-dq-form-tx-bit.txt"} <= names
    readme = (ROOT / "README.md").read_text()
    for name in names:
        assert f"docs/reports/{name}" in readme


def test_bad_input_is_one_line_exit_2(capsys, tmp_path) -> None:
    cases = [tmp_path / "missing.o", ROOT / "README.md"]
    lone = tmp_path / "lone.o"
    shutil.copy(V61, lone)  # an object without its sidecar
    cases.append(lone)
    junk = tmp_path / "junk.o"
    junk.write_bytes(b"not an ELF file")
    shutil.copy(V61.with_suffix(".json"), junk.with_suffix(".json"))
    cases.append(junk)
    notjson = tmp_path / "bad.o"
    shutil.copy(V61, notjson)
    notjson.with_suffix(".json").write_text("{\"engine\": 1}")
    cases.append(notjson)
    diff = tmp_path / "diff.o"  # a two-engine diff fixture: explain shows those
    shutil.copy(V61, diff)
    diff.with_suffix(".json").write_text(
        V61.with_suffix(".json").read_text().replace('"apply_clear_apply"', '"diff"'))
    cases.append(diff)
    for path in cases:
        rc, out, err = _run(capsys, "report", str(path))
        assert rc == 2 and out == "", path
        assert err.startswith("ppcreloc: error: ") and err.count("\n") == 1, err
    rc, _, err = _run(capsys, "report", str(V61), "-o", str(tmp_path / "no" / "dir" / "r.txt"))
    assert rc == 2 and err.startswith("ppcreloc: error: cannot write")
    rc, _, err = _run(capsys, "report", str(V61), "--engine", "v9.9")
    assert rc == 2 and "unknown engine" in err and err.count("\n") == 1


def test_sidecar_engine_is_the_default(tmp_path) -> None:
    """The rerun uses the engine the sidecar names (a later fixture of another profile works
    the same way)."""
    for path in CORPUS:
        rp, _ = rerun(path)
        assert rp.engine == load_fixture(path)[1].engine


def test_release_and_config_come_from_the_profile_and_the_sidecar() -> None:
    """A vX.Y profile is its release's model; a proposal names the release it builds on; a
    configuration knob without a CONFIG_ name here (a later profile's) is still printed."""
    from dataclasses import dataclass

    from ppcreloc.bugreport import config_lines, profile_release
    from ppcreloc.records import Config

    assert profile_release("v6.12") == ("6.12", True)
    assert profile_release("v6.18") == ("6.18", True)
    assert profile_release("klp-clear-v7") == ("6.1", False)
    assert profile_release("full-undo") == ("6.12", False)
    assert profile_release("kernel:/x") is None
    assert "CONFIG_PPC_KERNEL_PCREL=y" in config_lines(Config(pcrel=True))

    @dataclass(frozen=True)
    class Later:  # a later Config's shape (a compiled Config cannot be subclassed here)
        pcrel: bool = False
        ftrace_ool_stubs: int = 3

    assert config_lines(Later())[-1] == "ftrace_ool_stubs=3"  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["count-relocs-32-bit-addend.txt", "toc16-lo-ds-dq-form-tx-bit.txt",
                                  "stubs-exhausted-on-reload.txt"])
def test_report_on_the_kernel_tree_reproduces(name: str, monkeypatch) -> None:
    """The report's own reproduction command: the same fixture on Debian's 6.12 tree (the
    kernel's module_64.c compiled for the host) violates the same invariant."""
    tarball = Path("/usr/src/linux-source-6.12.tar.xz")
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed (the kernel engine compiles module_64.c)")
    if not tarball.is_file():
        pytest.skip(f"{tarball} missing (apt-get install linux-source-6.12)")
    monkeypatch.chdir(ROOT)
    fixture = re.search(r"^file: (\S+) \(", (ROOT / "docs/reports" / name).read_text(), re.M)
    assert fixture is not None
    text, violated = render(Path(fixture.group(1)), f"kernel:{tarball}")
    invariant = load_fixture(Path(fixture.group(1)))[1].invariant
    assert violated and f"\n{invariant} is violated " in text
    assert re.search(r"^kernel:  6\.12\.\d+ \(the tree's own module_64\.c", text, re.M)
    assert text.startswith("Subject: [BUG] powerpc/module_64 (6.12.")


def test_report_lists_the_stub_slots_with_their_targets() -> None:
    """The count_relocs finding at a glance: room for 5 entries, 6 filled, each target named
    (S+A with the addend above bit 31), the last one past the end."""
    text, _ = render(ROOT / "tests/fixtures/v6.12/in_bounds-4d5682babe2231aa.o")
    assert ".stubs: 200 bytes at 0xc008000000100028, room for 5 entries of 40 bytes; " \
        "the run filled 6:" in text
    assert "stub to 0xc000000100200000 (printk+0x100000000)" in text
    assert "stub to 0xc000000000200000 (printk)\n" in text
    assert "(ftrace_regs_caller)  past the end of .stubs" in text
    text, _ = render(ROOT / "tests/fixtures/v6.12/reload_cycles-0241ddc4c20f5dab.o")
    assert "coming(ext4, gen 2): slot 4 at 0xc0080000001000b0, stub to 0xc008000009200100 " \
        "(ext4:do_work (gen 2))  past the end of .stubs" in text
