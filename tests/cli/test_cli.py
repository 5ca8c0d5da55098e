"""`ppcreloc check` / `ppcreloc profiles`: exit codes, JSON shape, errors, a gas-made livepatch."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cli_run import one_line_error, run

from ppcreloc.cli import DEFAULT_ENGINE, main, module_name
from ppcreloc.elf.builder import ObjectBuilder
from ppcreloc.elf.model import (
    SHF_ALLOC,
    SHF_RELA_LIVEPATCH,
    SHN_LIVEPATCH,
    SHN_UNDEF,
    SHT_RELA,
    STB_GLOBAL,
)
from ppcreloc.elf.reader import read_elf_file
from ppcreloc.elf.writer import write_elf
from ppcreloc.oracle import INVARIANTS

GAS = shutil.which("powerpc64le-linux-gnu-as")
R_PPC64_ADDR64 = 38

#: A livepatch function calling foo() in module "target", as a new user would write it. Every
#: module has an (empty) .stubs section: asm/module.h emits it into each module object; and
#: `.abiversion 2` sets e_flags as gcc does (6.12's module_elf_check_arch refuses 0 on ELFv2).
CALLER_S = """\
\t.abiversion 2
\t.section .stubs,"ax",@nobits
\t.align 3
\t.text
\t.globl caller
caller:
\tbl foo
\tnop
\tblr
"""


def klpify(path: Path, target: str) -> None:
    """Turn a gas object into a livepatch object for ``target`` (the README recipe).

    .rela.text becomes .klp.rela.<target>..text with SHF_ALLOC | SHF_RELA_LIVEPATCH, and each
    undefined symbol it uses becomes SHN_LIVEPATCH ``.klp.sym.<target>.<name>,0``
    (Documentation/livepatch/module-elf-format.rst).
    """
    obj = read_elf_file(path)
    for idx, sec in enumerate(obj.sections):
        if sec.type == SHT_RELA and sec.name == ".rela.text":
            sec.name = f".klp.rela.{target}..text"
            sec.flags |= SHF_ALLOC | SHF_RELA_LIVEPATCH
            for rela in obj.relocs[idx]:
                sym = obj.symbols[rela.sym]
                if sym.shndx == SHN_UNDEF and not sym.name.startswith(".klp.sym."):
                    sym.name = f".klp.sym.{target}.{sym.name},0"
                    sym.shndx = SHN_LIVEPATCH
    path.write_bytes(write_elf(obj))


@pytest.fixture(scope="module")
def livepatch_o(tmp_path_factory) -> Path:
    if GAS is None:
        pytest.skip("powerpc64le-linux-gnu-as not installed (Debian binutils-powerpc64le-linux-gnu)")
    d = tmp_path_factory.mktemp("gas")
    (d / "caller.s").write_text(CALLER_S)
    out = d / "livepatch_caller.o"
    subprocess.run([GAS, "-o", str(out), str(d / "caller.s")], check=True)
    klpify(out, "target")
    return out


@pytest.fixture(scope="module")
def plain_o(tmp_path_factory) -> Path:
    """A module with one ADDR64 to a vmlinux symbol and no klp targets (built, not assembled)."""
    b = ObjectBuilder()
    data = b.add_section(".data", bytes(8), flags=SHF_ALLOC)
    b.add_stubs()
    sym = b.add_symbol("printk", bind=STB_GLOBAL)
    b.add_rela(data, 0, sym, R_PPC64_ADDR64)
    path = tmp_path_factory.mktemp("plain") / "plain.o"
    path.write_bytes(write_elf(b.build()))
    return path


# -- usage and input errors -----------------------------------------------------------------------
def test_no_command_is_usage_error():
    line = one_line_error(run())
    assert line.startswith("ppcreloc: error:")


@pytest.mark.parametrize("cycles", ["-1", "x", "4096", "1.5"])
def test_bad_cycles(plain_o, cycles):
    line = one_line_error(run("check", str(plain_o), "--cycles", cycles))
    assert "--cycles" in line


def test_max_cycles_is_the_worlds_last_generation(livepatch_o, capsys):
    from ppcreloc.loader.world import MAX_GENERATION

    assert MAX_GENERATION == 4095
    code = main(["check", str(livepatch_o), "--engine", "full-undo", "--cycles", "4095", "--json"])
    assert code == 0, capsys.readouterr().out


def test_unknown_option():
    assert "unrecognized" in one_line_error(run("check", "x.o", "--frobnicate"))


def test_missing_file(tmp_path):
    line = one_line_error(run("check", str(tmp_path / "nope.o")))
    assert "nope.o" in line


def test_malformed_file(tmp_path):
    junk = tmp_path / "junk.o"
    junk.write_bytes(b"\x7fELF" + os.urandom(200))
    line = one_line_error(run("check", str(junk)))
    assert line.startswith("ppcreloc: error:")
    empty = tmp_path / "empty.o"
    empty.write_bytes(b"")
    one_line_error(run("check", str(empty)))


def test_directory_as_object(tmp_path):
    one_line_error(run("check", str(tmp_path)))


def test_unknown_engine(plain_o):
    line = one_line_error(run("check", str(plain_o), "--engine", "v9.99"))
    assert "v9.99" in line and DEFAULT_ENGINE in line


@pytest.mark.parametrize(
    "content",
    ["this is not a symbol map\n", "zzzz T foo\n", "", "0000000000000000 T foo\n"],
)
def test_bad_kallsyms(plain_o, tmp_path, content):
    bad = tmp_path / "kallsyms"
    bad.write_text(content)
    line = one_line_error(run("check", str(plain_o), "--kallsyms", str(bad)))
    assert "kallsyms" in line


def test_missing_kallsyms(plain_o, tmp_path):
    assert "nomap" in one_line_error(run("check", str(plain_o), "--kallsyms",
                                         str(tmp_path / "nomap")))


def test_module_name():
    assert module_name("/x/nfsd.ko") == "nfsd"
    assert module_name("a/livepatch-foo.ko.xz") == "livepatch_foo"
    assert module_name("t.o") == "t"


# -- profiles ---------------------------------------------------------------------------------------
def test_profiles_lists_each_profile(capsys):
    from ppcreloc.profiles import PROFILES

    assert main(["profiles"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(PROFILES)
    for line, (name, profile) in zip(lines, PROFILES.items(), strict=True):
        assert line.split()[0] == name and line.endswith(profile.summary)
    for name in ("v6.1", "klp-clear-v7", "v6.12", "full-undo"):
        assert name in PROFILES


# -- check ------------------------------------------------------------------------------------------
def test_plain_module_holds_json(plain_o, capsys):
    assert main(["check", str(plain_o), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["engine"] == DEFAULT_ENGINE
    assert list(doc["invariants"]) == list(INVARIANTS)
    for name, res in doc["invariants"].items():
        assert set(res) == {"state", "holds", "message", "violations"}
        if name in ("apply", "in_bounds", "abi_values"):
            assert res["state"] == "holds" and res["holds"] is True
        else:  # not judged is neither a pass nor a failure for a program reading the JSON
            assert res["state"] == "not judged" and res["holds"] is None
            assert "vacuously" in res["message"]


def test_check_all_engines_json(livepatch_o, capsys):
    from ppcreloc.engines import engine_names

    code = main(["check", str(livepatch_o), "--engine", "all", "--json"])
    docs = json.loads(capsys.readouterr().out)
    assert isinstance(docs, list) and [d["engine"] for d in docs] == list(engine_names())
    assert code == 1  # v6.1 at least violates apply_clear_apply


EXPECTED = {
    # profile: the invariants it violates on `bl foo; nop` (all others hold). v6.1 must violate
    # apply_clear_apply (clear_restores too: it has no clear); klp-clear-v7 frees no stubs, so
    # it exhausts them like v6.12.
    "v6.1": {"apply_clear_apply", "clear_restores"},
    "klp-clear-v7": {"clear_restores", "reload_cycles"},
    "v6.12": {"clear_restores", "reload_cycles"},
    "full-undo": set(),
}


@pytest.mark.parametrize("engine", list(EXPECTED))
def test_gas_livepatch_verdicts(livepatch_o, capsys, engine):
    code = main(["check", str(livepatch_o), "--engine", engine, "--json"])
    doc = json.loads(capsys.readouterr().out)
    violated = {n for n, r in doc["invariants"].items() if r["state"] == "violated"}
    assert violated == EXPECTED[engine], doc
    assert violated == {n for n, r in doc["invariants"].items() if r["holds"] is False}
    assert code == (1 if violated else 0)
    if engine != "v6.1":
        assert doc["invariants"]["apply_clear_apply"] == {
            "state": "holds", "holds": True, "message": None, "violations": []}


def test_gas_livepatch_human_output(livepatch_o):
    proc = run("check", str(livepatch_o), "--engine", "v6.12")
    assert proc.returncode == 1, proc.stderr
    out = proc.stdout
    for name in INVARIANTS:
        assert name in out
    assert "VIOLATED" in out
    # the violation names the relocation, the address, the bytes
    assert ".klp.rela.target..text[0] R_PPC64_REL24 (kernel: R_PPC_REL24) sym .klp.sym.target.foo,0" in out
    assert "expected:" in out and "address: 0x" in out


def test_full_undo_exit_zero_human(livepatch_o):
    proc = run("check", str(livepatch_o), "--engine", "full-undo", "--cycles", "3")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "VIOLATED" not in proc.stdout


def test_cycles_zero_hides_stub_exhaustion(livepatch_o, capsys):
    assert main(["check", str(livepatch_o), "--engine", "v6.12", "--cycles", "0", "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["invariants"]["reload_cycles"] == {
        "state": "not judged", "holds": None, "message": "holds vacuously: cycles=0",
        "violations": [],
    }


def test_kallsyms_world(livepatch_o, tmp_path, capsys):
    ks = tmp_path / "kallsyms"
    ks.write_text(
        "c000000000001000 T _mcount\n"
        "c008000000100000 t foo\t[target]\n"
        "c008000000100100 t bar\t[target]\n"
    )
    code = main(["check", str(livepatch_o), "--engine", "full-undo", "--kallsyms", str(ks),
                 "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and all(r["state"] == "holds" for r in doc["invariants"].values()), doc


def test_compressed_objects_load(plain_o, tmp_path):
    import gzip
    import lzma

    from ppcreloc.cli import load_object

    raw = plain_o.read_bytes()
    (tmp_path / "m.ko.xz").write_bytes(lzma.compress(raw))
    (tmp_path / "m.ko.gz").write_bytes(gzip.compress(raw))
    ref = load_object(str(plain_o))
    assert load_object(str(tmp_path / "m.ko.xz")) == ref
    assert load_object(str(tmp_path / "m.ko.gz")) == ref
    (tmp_path / "bad.ko.xz").write_bytes(b"not xz")
    (tmp_path / "bad.ko.gz").write_bytes(b"\x1f\x8b\x08\x00" + bytes(range(7, 60)))
    for bad in ("bad.ko.xz", "bad.ko.gz"):
        assert "decompress" in one_line_error(run("check", str(tmp_path / bad)))


# -- subcommand registration -------------------------------------------------------------------
def test_registered_module_adds_a_subcommand(tmp_path, monkeypatch, capsys):
    (tmp_path / "fake_cmd.py").write_text(
        "def add_subcommand(subparsers):\n"
        "    p = subparsers.add_parser('fake', help='a test command')\n"
        "    p.add_argument('--code', type=int, default=0)\n"
        "    p.set_defaults(func=lambda args: args.code)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import ppcreloc.cli as cli

    monkeypatch.setattr(cli, "SUBCOMMAND_MODULES", ("fake_cmd",))
    assert main(["fake", "--code", "1"]) == 1
    assert main(["fake"]) == 0
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0 and "a test command" in capsys.readouterr().out


def test_builtin_command_does_not_import_registered_modules():
    code = ("import sys; from ppcreloc.cli import main; main(['profiles']); "
            "print('ppcreloc.matrix' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip().splitlines()[-1] == "False"
    assert "matrix" in run("--help").stdout


# -- malformed input found by mutating the gas object: never a traceback ---------------------------
def check_exit_code(path: Path) -> int:
    """main() on ``path`` for every engine; any exception escaping is a bug."""
    return main(["check", str(path), "--engine", "all", "--cycles", "2", "--json"])


def test_non_utf8_klp_object_name(livepatch_o, tmp_path, capsys):
    """Regression: world.py hashed names with strict UTF-8 (UnicodeEncodeError)."""
    data = livepatch_o.read_bytes()
    assert data.count(b".target.") == 2  # .klp.rela.target..text and .klp.sym.target.foo,0
    bad = tmp_path / "nonutf8.o"
    bad.write_bytes(data.replace(b".target.", b".t\xccrget."))
    assert check_exit_code(bad) in (1, 2)


def test_huge_nobits_section(tmp_path, capsys):
    """Regression: layout.py allocated 2**45 zero bytes (MemoryError); the kernel gets -ENOMEM."""
    b = ObjectBuilder()
    b.add_section(".text", bytes(8))
    b.add_stubs()
    b.add_section(".bss", type=8, flags=SHF_ALLOC, size=1 << 45)
    path = tmp_path / "huge.o"
    path.write_bytes(write_elf(b.build()))
    assert check_exit_code(path) == 1
    for doc in json.loads(capsys.readouterr().out):
        apply = doc["invariants"]["apply"]
        assert (apply["state"], apply["holds"]) == ("violated", False)
        assert apply["message"] == "load failed with rc -12"
        assert apply["violations"][0]["rc"] == -12


# -- the kernel's own module_64.c agrees with its profile on the gas object ------------------------
KERNEL_TREES = {"v6.1": Path("/usr/src/linux-source-6.1.tar.xz"),
                "v6.12": Path("/usr/src/linux-source-6.12.tar.xz")}


@pytest.mark.reference
@pytest.mark.parametrize("profile", list(KERNEL_TREES))
def test_gas_livepatch_kernel_engine_agrees(livepatch_o, capsys, profile):
    tree = KERNEL_TREES[profile]
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed (the kernel engine compiles module_64.c)")
    if not tree.exists():
        pytest.skip(f"{tree} missing (apt-get install {tree.name.removesuffix('.tar.xz')})")
    code = main(["check", str(livepatch_o), "--engine", f"kernel:{tree}", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert {n for n, r in doc["invariants"].items()
            if r["state"] == "violated"} == EXPECTED[profile], doc
    assert code == 1
