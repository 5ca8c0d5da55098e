"""Kernel engine faults (issue 16 point 4, issue 17 point 2): hostile trees and harness children.

Each hostile tree is a copy of the needed files of Debian's extracted 6.12 tree (the include
directories linked, not copied) with one edit made here at test time: a module_64.c that does not
compile, a top Makefile with hostile version fields, or an apply_relocate_add that loops forever
or kills its process with SIGSEGV past the harness's fault guard, or prints more arguments than
the shim records (chosen by $PPCR_HOSTILE, which the child inherits). A failing build or a bad Makefile is bad input (one line, exit 2); a child
that hangs or dies is the tool's own failure (ToolError "hang" / "fault", one line, exit 3) and
never an invariant verdict, and the next scenario gets a new child.
"""

from __future__ import annotations

import shutil
import struct
import time
from pathlib import Path

import pytest

from ppcreloc.cli import EXIT_TOOL, main
from ppcreloc.elf.builder import ObjectBuilder
from ppcreloc.elf.model import SHN_LIVEPATCH, STB_GLOBAL
from ppcreloc.elf.writer import write_elf
from ppcreloc.loader.world import SymbolWorld
from ppcreloc.records import Layout, Scenario, Step
from ppcreloc.reference.kernel.build import (
    CODE_PATCHING,
    MODULE_64,
    SORT_C,
    KernelHarnessError,
    build,
    resolve_tree,
    tree_version,
)
from ppcreloc.reference.kernel.engine import (
    TIMEOUT_ENV,
    KernelEngine,
    KernelToolError,
    TimeLimit,
    user_layout,
)

TARBALL = Path("/usr/src/linux-source-6.12.tar.xz")
BL, NOP = 0x48000001, 0x60000000
#: inserted at the top of apply_relocate_add's body (C the test writes, not kernel code)
HOSTILE_BODY = """
	{
		const char *how = ppcr_hostile_getenv("PPCR_HOSTILE");

		if (how && how[0] == 'h')
			for (;;)
				__asm__ __volatile__("");
		if (how && how[0] == 'a')
			pr_err("%d %d %d %d %d %d %d %d %d\\n", 1, 2, 3, 4, 5, 6, 7, 8, 9);
		if (how && how[0] == 's') {
			ppcr_hostile_signal(11, 0);
			*(volatile int *)8 = 0;
		}
	}
"""
HOSTILE_DECLS = """
extern char *ppcr_hostile_getenv(const char *name) __asm__("getenv");
extern void *ppcr_hostile_signal(int sig, void *handler) __asm__("signal");
"""


def _source_tree() -> Path:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed (the kernel engine compiles module_64.c)")
    if not TARBALL.is_file():
        pytest.skip(f"{TARBALL} missing (apt-get install linux-source-6.12)")
    return resolve_tree(TARBALL)


def hostile_tree(dest: Path, module_64: bytes | None = None, makefile: bytes | None = None) -> Path:
    """A tree at ``dest``: the 6.12 tree's sources copied (module_64.c / Makefile replaced when
    given), its include directories symlinked."""
    src = _source_tree()
    for rel in (MODULE_64, CODE_PATCHING, SORT_C, "Makefile"):
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src / rel, dest / rel)
    for rel in ("include", "arch/powerpc/include"):
        (dest / rel).symlink_to(src / rel, target_is_directory=True)
    if module_64 is not None:
        (dest / MODULE_64).write_bytes(module_64)
    if makefile is not None:
        (dest / "Makefile").write_bytes(makefile)
    return dest


@pytest.fixture(scope="module")
def misbehaving_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tree whose apply_relocate_add hangs or dies as $PPCR_HOSTILE says (built once)."""
    src = _source_tree()
    text = (src / MODULE_64).read_text()
    head = "int apply_relocate_add(Elf64_Shdr *sechdrs,"
    at = text.index("{\n", text.index(head)) + 2
    edited = HOSTILE_DECLS + text[:at] + HOSTILE_BODY + text[at:]
    tree = hostile_tree(tmp_path_factory.mktemp("hostile"), module_64=edited.encode())
    build(tree)
    return tree


def _klp_object() -> bytes:
    ob = ObjectBuilder()
    text = ob.add_section(".text", struct.pack("<II", BL, NOP))
    ob.add_stubs()
    target = ob.add_symbol(".klp.sym.target.func,0", bind=STB_GLOBAL, shndx=SHN_LIVEPATCH)
    ob.add_rela(text, 0, target, 10, section=".klp.rela.target.text")
    return write_elf(ob.build())


def _scenario() -> Scenario:
    from ppcreloc.elf.reader import read_elf

    steps = [Step("load"), Step("coming", "target", 0)]
    return Scenario(read_elf(_klp_object()), SymbolWorld.synthetic(), steps, user_layout(Layout()))


# -- bad trees: one line, exit 2 ------------------------------------------------------------------
def test_module_64_that_does_not_compile(tmp_path, capsys):
    src = _source_tree()
    broken = (src / MODULE_64).read_bytes().replace(b"int apply_relocate_add(",
                                                     b"int apply_relocate_add(@", 1)
    tree = hostile_tree(tmp_path / "tree", module_64=broken)
    obj = tmp_path / "klp.o"
    obj.write_bytes(_klp_object())
    assert main(["check", str(obj), "--engine", f"kernel:{tree}"]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and "module_64.c" in err[0] and "error" in err[0], err
    assert "Traceback" not in captured.err and captured.out == ""


HOSTILE_VERSIONS = [
    b"$(shell touch {marker})",
    b"12; touch {marker}",
    b"`touch {marker}`",
    b"../../../../../../{marker}",
    b"\xff\xfe\x00 not utf-8",
    b"9" * 100_000,
]


@pytest.mark.parametrize("value", HOSTILE_VERSIONS, ids=range(len(HOSTILE_VERSIONS)))
def test_hostile_makefile_version(tmp_path, capsys, value):
    """The version fields are read, never evaluated or used in a path: a non-number is a
    one-line error naming the field, and nothing it says is run."""
    marker = tmp_path / "pwned"
    field = value.replace(b"{marker}", str(marker).encode())
    makefile = b"# top Makefile of a test tree\nVERSION = 6\nPATCHLEVEL = " + field + b"\nSUBLEVEL = 0\nEXTRAVERSION =\n"
    tree = hostile_tree(tmp_path / "tree", makefile=makefile)
    with pytest.raises(KernelHarnessError, match="PATCHLEVEL = .* is not a version number"):
        tree_version(tree)
    obj = tmp_path / "klp.o"
    obj.write_bytes(_klp_object())
    assert main(["check", str(obj), "--engine", f"kernel:{tree}"]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and "PATCHLEVEL" in err[0] and len(err[0]) < 300, err
    assert "Traceback" not in captured.err and not marker.exists()


def test_plain_makefile_version_still_reads(tmp_path):
    makefile = b"VERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 7\nEXTRAVERSION = -rc1\n"
    assert tree_version(hostile_tree(tmp_path / "tree", makefile=makefile)) == "6.12.7"


# -- children that hang or die: ToolError, never a verdict -----------------------------------------
def test_child_that_hangs_is_a_tool_error(misbehaving_tree, monkeypatch):
    monkeypatch.setenv("PPCR_HOSTILE", "hang")
    engine = KernelEngine(misbehaving_tree, timeout=2)
    sc = _scenario()
    with engine:
        started = time.monotonic()
        with pytest.raises(KernelToolError, match="exceeded its 2 s limit") as info:
            engine.run(sc)
        assert info.value.outcome == "hang" and time.monotonic() - started < 20
        monkeypatch.delenv("PPCR_HOSTILE")
        run = engine.run(sc)  # a new child serves the next scenario: the campaign goes on
    assert [s.rc for s in run.steps] == [0, 0] and run.steps[1].fault is None


def test_child_that_segfaults_is_a_tool_error(misbehaving_tree, monkeypatch):
    monkeypatch.setenv("PPCR_HOSTILE", "segv")
    with pytest.raises(KernelToolError, match="killed by SIGSEGV") as info:
        KernelEngine(misbehaving_tree).run(_scenario())
    assert info.value.outcome == "fault"


def test_record_the_shim_cannot_keep_is_a_tool_error(misbehaving_tree, monkeypatch):
    """A printk with more arguments than the shim keeps: the call's log would be incomplete, so
    the case fails loudly (ToolError "truncated") instead of being compared."""
    monkeypatch.setenv("PPCR_HOSTILE", "args")
    with pytest.raises(KernelToolError, match="printk arguments") as info:
        KernelEngine(misbehaving_tree).run(_scenario())
    assert info.value.outcome == "truncated"


def test_check_reports_a_hang_as_a_tool_error(misbehaving_tree, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PPCR_HOSTILE", "hang")
    monkeypatch.setenv(TIMEOUT_ENV, "2")
    obj = tmp_path / "klp.o"
    obj.write_bytes(_klp_object())
    assert main(["check", str(obj), "--engine", f"kernel:{misbehaving_tree}"]) == EXIT_TOOL
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ppcreloc: tool error (hang): "), err
    assert "VIOLATED" not in captured.out and "holds" not in captured.out


def test_fuzz_campaign_stops_on_a_hang(misbehaving_tree, tmp_path, monkeypatch, capsys):
    """A hang inside a Hypothesis batch is not shrunk (each shrink step would wait for the
    limit again): the campaign stops at once with exit 3 and writes no fixture."""
    monkeypatch.setenv("PPCR_HOSTILE", "hang")
    monkeypatch.setenv(TIMEOUT_ENV, "2")
    fixtures = tmp_path / "fixtures"
    started = time.monotonic()
    code = main(["fuzz", "--engine", f"kernel:{misbehaving_tree}", "--examples", "5",
                 "--seed", "1", "--fixtures", str(fixtures)])
    assert code == EXIT_TOOL and time.monotonic() - started < 30
    err = capsys.readouterr().err.strip().splitlines()
    assert err and err[-1].startswith("ppcreloc: tool error (hang): "), err
    assert not fixtures.exists() or not any(fixtures.rglob("*.o"))


# -- the time limit --------------------------------------------------------------------------------
def test_time_limit_scales_with_work_and_is_overridable(monkeypatch):
    small = _scenario()
    big = Scenario(small.obj, small.world, small.steps * 50, small.layout)
    limit = TimeLimit()
    assert limit.seconds(big) > limit.seconds(small) >= limit.base
    assert TimeLimit.work(big) == 50 * TimeLimit.work(small)
    monkeypatch.setenv(TIMEOUT_ENV, "7.5")
    assert TimeLimit.from_env().seconds(big) == 7.5
    assert TimeLimit.from_env(3).seconds(big) == 3  # the constructor's value wins
    for bad in ("soon", "-1", "0", "nan"):
        monkeypatch.setenv(TIMEOUT_ENV, bad)
        with pytest.raises(KernelHarnessError, match=TIMEOUT_ENV if bad == "soon" else "positive"):
            TimeLimit.from_env()


def test_bad_timeout_is_a_usage_error(tmp_path, monkeypatch, capsys):
    _source_tree()
    monkeypatch.setenv(TIMEOUT_ENV, "soon")
    obj = tmp_path / "klp.o"
    obj.write_bytes(_klp_object())
    assert main(["check", str(obj), "--engine", f"kernel:{TARBALL}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and TIMEOUT_ENV in err[0]
