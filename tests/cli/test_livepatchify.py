"""``ppcreloc livepatchify`` and the seed-object strategy (ppcreloc/strategies/seeds.py).

A synthetic module/target pair (built here, no cache needed) checks the conversion, the input
formats, the one-line errors, and that seed sub-objects are consistent and flow through
``fuzz`` and ``diff``. The ``realmodules`` tier converts Debian's nfsd->sunrpc, ext4->jbd2 and
xfs->libcrc32c and runs seed campaigns from them (against the kernel's C under ``reference``).
"""

from __future__ import annotations

import gzip
import json
import lzma
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from realmodules import SERIES_PARAMS, package

from ppcreloc.cli import load_object, load_world, main
from ppcreloc.elf.builder import ObjectBuilder
from ppcreloc.elf.livepatchify import Target, livepatchify
from ppcreloc.elf.model import (
    SHF_ALLOC,
    SHF_RELA_LIVEPATCH,
    SHF_WRITE,
    SHN_LIVEPATCH,
    SHN_UNDEF,
    STB_GLOBAL,
    STT_FUNC,
    STT_OBJECT,
    ElfObject,
)
from ppcreloc.elf.reader import read_elf
from ppcreloc.elf.writer import write_elf
from ppcreloc.errors import UsageError
from ppcreloc.matrix import run_check
from ppcreloc.oracle import check
from ppcreloc.replay import resolve_engine
from ppcreloc.strategies import _ppc as P
from ppcreloc.strategies.seeds import load_seeds, seed_objects, sub_object, world_for
from ppcreloc.strategies.worlds import to_symbol_world


def _words(*w: int) -> bytes:
    return struct.pack(f"<{len(w)}I", *w)


def target_object() -> ElfObject:
    """Module "tgt_mod": global foo and bar, and 'dup' twice static, once global (third)."""
    b = ObjectBuilder()
    text = b.add_section(".text", _words(P.NOP, P.BLR, P.NOP, P.BLR, P.BLR, P.BLR))
    data = b.add_section(".data", bytes(16), flags=SHF_ALLOC | SHF_WRITE, addralign=8)
    b.add_section(".modinfo", b"description=test target\0name=tgt_mod\0", flags=SHF_ALLOC, addralign=1)
    b.add_symbol("dup", 16, type=STT_FUNC, shndx=text)
    b.add_symbol("dup", 20, type=STT_FUNC, shndx=text)
    b.add_symbol("foo", 0, bind=STB_GLOBAL, type=STT_FUNC, shndx=text)
    b.add_symbol("dup", 8, bind=STB_GLOBAL, type=STT_FUNC, shndx=text)
    b.add_symbol("bar", 0, bind=STB_GLOBAL, type=STT_OBJECT, shndx=data)
    b.add_stubs()
    return b.build()


def module_object() -> ElfObject:
    """Calls foo, dup (the target's) and printk (vmlinux); .data points at bar."""
    b = ObjectBuilder()
    text = b.add_section(".text", _words(P.BL, P.NOP, P.BL, P.NOP, P.BL, P.NOP, P.BLR))
    data = b.add_section(".data", bytes(8), flags=SHF_ALLOC | SHF_WRITE, addralign=8)
    b.add_symbol("caller", 0, bind=STB_GLOBAL, type=STT_FUNC, shndx=text)
    for k, name in enumerate(("foo", "printk", "dup")):
        b.add_rela(text, 8 * k, b.add_symbol(name, bind=STB_GLOBAL), P.R_PPC_REL24, 0)
    b.add_rela(data, 0, b.add_symbol("bar", bind=STB_GLOBAL), P.R_PPC64_ADDR64, 0)
    b.add_stubs()
    return b.build()


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    mod = tmp_path / "mymod.ko"
    mod.write_bytes(write_elf(module_object()))
    tgt = tmp_path / "tgt-mod.ko.xz"
    tgt.write_bytes(lzma.compress(write_elf(target_object())))
    return mod, tgt


def test_livepatchify_converts_what_the_target_defines(pair, tmp_path, capsys) -> None:
    mod, tgt = pair
    out = tmp_path / "seeds" / "mymod-klp.o"
    out.parent.mkdir()
    assert main(["livepatchify", str(mod), "--target", str(tgt), "-o", str(out)]) == 0
    assert "3 klp symbols (tgt_mod 3), 3 relocations in 2 .klp.rela sections" in \
        capsys.readouterr().out
    obj = read_elf(out.read_bytes())
    klp = {s.name: s for s in obj.symbols if s.shndx == SHN_LIVEPATCH}
    # unique names get sympos 0; 'dup' is the third same-named symbol of the target
    assert set(klp) == {".klp.sym.tgt_mod.foo,0", ".klp.sym.tgt_mod.bar,0",
                        ".klp.sym.tgt_mod.dup,3"}
    assert [s.name for s in obj.symbols if s.shndx == SHN_UNDEF and s.name] == ["printk"]
    secs = {obj.sections[k].name: (obj.sections[k].flags, v) for k, v in obj.relocs.items()}
    assert [r.offset for r in secs[".klp.rela.tgt_mod..text"][1]] == [0, 16]
    assert [r.offset for r in secs[".klp.rela.tgt_mod..data"][1]] == [0]
    assert [r.offset for r in secs[".rela.text"][1]] == [8]
    assert secs[".klp.rela.tgt_mod..text"][0] & SHF_RELA_LIVEPATCH
    # the result loads: every relocation applies and holds the ABI values
    v = check(obj, resolve_engine("v6.12"), to_symbol_world(world_for(obj)), cycles=1)
    assert v.targets == ["tgt_mod"]
    assert all(v.invariants[n].holds for n in ("apply", "in_bounds", "abi_values"))


def test_livepatchify_reads_every_compression_and_prints_json(pair, tmp_path, capsys) -> None:
    mod, tgt = pair
    raw = lzma.decompress(tgt.read_bytes())
    for name, data in (("t.ko", raw), ("t.ko.gz", gzip.compress(raw))):
        (tmp_path / name).write_bytes(data)
        gz_mod = tmp_path / "m.ko.gz"
        gz_mod.write_bytes(gzip.compress(mod.read_bytes()))
        out = tmp_path / f"{name}.o"
        assert main(["livepatchify", str(gz_mod), "--target", str(tmp_path / name),
                     "-o", str(out), "--json"]) == 0
        doc = json.loads(capsys.readouterr().out)
        assert doc["symbols"] == {"tgt_mod": 3} and doc["klp_relocations"] == 3


def test_livepatchify_errors_are_one_line(pair, tmp_path, capsys) -> None:
    mod, tgt = pair
    out = str(tmp_path / "o.o")
    other = tmp_path / "other.ko"
    b = ObjectBuilder()
    b.add_symbol("unrelated", bind=STB_GLOBAL, type=STT_FUNC, shndx=b.add_section(".text"))
    other.write_bytes(write_elf(b.build()))
    bad_xz = tmp_path / "bad.ko.xz"
    bad_xz.write_bytes(b"not xz")
    cases = [
        ([str(mod), "--target", str(other), "-o", out], "target other defines none of"),
        ([str(tmp_path / "none.ko"), "--target", str(tgt), "-o", out], "cannot read"),
        ([str(mod), "--target", str(bad_xz), "-o", out], "cannot decompress"),
        ([str(mod), "--target", str(tgt), "--target", str(tgt), "-o", out],
         "names one module twice"),
        ([str(mod), "--target", str(tgt), "-o", str(tmp_path / "no" / "o.o")], "cannot write"),
    ]
    for argv, text in cases:
        assert main(["livepatchify", *argv]) == 2, argv
        err = capsys.readouterr().err
        assert text in err and err.count("\n") == 1 and "Traceback" not in err, err
    with pytest.raises(SystemExit) as exc:  # argparse: the usage error, one line, exit 2
        main(["livepatchify", str(mod), "-o", out])
    assert exc.value.code == 2 and "--target" in capsys.readouterr().err
    assert not Path(out).exists()


def test_livepatchify_module_api_keeps_the_input() -> None:
    mod = module_object()
    before = write_elf(mod)
    conv = livepatchify(mod, [Target("tgt_mod", target_object())])
    assert write_elf(mod) == before and conv.klp_relocs == 3
    with pytest.raises(UsageError, match="defines none"):
        livepatchify(mod, [Target("x", module_object())])


# -- seed objects ---------------------------------------------------------------------------
@pytest.fixture
def seed_dir(pair, tmp_path: Path) -> Path:
    mod, tgt = pair
    d = tmp_path / "seeds"
    d.mkdir()
    assert main(["livepatchify", str(mod), "--target", str(tgt), "-o", str(d / "m-klp.o")]) == 0
    return d


def test_seed_sub_objects_are_consistent_and_load(seed_dir: Path) -> None:
    """Every drawn sub-object keeps at least one klp relocation, survives an ELF round trip,
    and applies with ABI values in its own world."""
    engine = resolve_engine("v6.12")
    sizes: set[int] = set()

    @settings(max_examples=40, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(seed_objects(str(seed_dir)))
    def draw(case) -> None:  # type: ignore[no-untyped-def]
        assert case.targets == ("tgt_mod",) and case.knobs[0] == "seed m-klp.o"
        again = read_elf(write_elf(case.obj))
        assert sum(map(len, again.relocs.values())) == case.reloc_count
        sizes.add(case.reloc_count)
        v = run_check(case, engine, 1)
        assert all(v.invariants[n].holds for n in ("apply", "in_bounds", "abi_values")), \
            v.violations()[:1]

    draw()
    assert min(sizes) == 1 and max(sizes) >= 3


def test_sub_object_keeps_only_what_its_relocations_need(seed_dir: Path) -> None:
    (seed,) = load_seeds(str(seed_dir))
    obj = sub_object(seed, [seed.klp[0]])
    names = [s.name for s in obj.sections]
    assert ".text" in names and ".data" not in names and ".stubs" in names
    assert sum(map(len, obj.relocs.values())) == 1
    assert [s.name for s in obj.symbols if s.name] == [".klp.sym.tgt_mod.foo,0"]


def test_seed_directory_errors(tmp_path: Path, capsys) -> None:
    with pytest.raises(UsageError, match="not a directory"):
        load_seeds(str(tmp_path / "missing"))
    with pytest.raises(UsageError, match="no .o, .ko"):
        load_seeds(str(tmp_path))
    (tmp_path / "plain.o").write_bytes(write_elf(module_object()))
    with pytest.raises(UsageError, match="livepatchify"):
        load_seeds(str(tmp_path))
    for cmd in (["fuzz"], ["diff", "--engine", "v6.12"]):
        assert main([*cmd, "--examples", "1", "--seed-objects", str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert "no .klp.rela.<module>.* relocations" in err and err.count("\n") == 1


def test_campaigns_start_from_seed_objects(seed_dir: Path, tmp_path: Path, capsys) -> None:
    """fuzz and diff take --seed-objects; a profile agrees with itself on every seed case."""
    fx = str(tmp_path / "fx")
    assert main(["diff", "--engine", "v6.12", "--against", "v6.12", "--examples", "30",
                 "--seed", "3", "--seed-objects", str(seed_dir), "--fixtures", fx]) == 0
    assert main(["fuzz", "--examples", "30", "--seed", "3", "--seed-objects", str(seed_dir),
                 "--fixtures", fx, "--json"]) in (0, 1)
    doc = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert doc["examples"] == 30
    assert not {v["invariant"] for v in doc["violations"]} & {"apply", "in_bounds", "abi_values"}


# -- real modules -------------------------------------------------------------------------
#: (module, target) pairs a new user would try (module_64.c users with cross-module calls)
REAL_PAIRS = (("nfsd", "sunrpc"), ("ext4", "jbd2"), ("xfs", "libcrc32c"))


_SEEDS: dict[str, Path] = {}


def _real_seeds(series: str, tmp_path: Path) -> Path:
    """The converted pairs of ``series`` (converted once per test session)."""
    pkg = package(series)
    if series in _SEEDS:
        return _SEEDS[series]
    d = tmp_path / "seeds"
    d.mkdir(exist_ok=True)
    for mod, tgt in REAL_PAIRS:
        out = d / f"{mod}-klp.o"
        assert main(["livepatchify", str(pkg.find(mod)), "--target", str(pkg.find(tgt)),
                     "-o", str(out)]) == 0
    _SEEDS[series] = d
    return d


@pytest.mark.realmodules
@pytest.mark.parametrize("series", SERIES_PARAMS)
def test_real_modules_livepatchify(series: str, tmp_path_factory) -> None:
    """Each converted module has klp relocations against its target only, through klp symbols
    naming what the target defines."""
    d = _real_seeds(series, tmp_path_factory.mktemp("seeds"))
    pkg = package(series)
    for mod, tgt in REAL_PAIRS:
        obj = load_object(str(d / f"{mod}-klp.o"))
        klp = [k for k in obj.relocs if obj.sections[k].name.startswith(".klp.rela.")]
        assert klp and all(obj.sections[k].name.startswith(f".klp.rela.{tgt}.") for k in klp)
        defined = {s.name for s in load_object(str(pkg.find(tgt))).symbols
                   if s.shndx not in (SHN_UNDEF, SHN_LIVEPATCH)}
        names = [s.name for s in obj.symbols if s.shndx == SHN_LIVEPATCH]
        assert names and all(n.startswith(f".klp.sym.{tgt}.") for n in names)
        assert {n[len(f".klp.sym.{tgt}."):].rsplit(",", 1)[0] for n in names} <= defined


@pytest.mark.slow
@pytest.mark.realmodules
@pytest.mark.parametrize("series", SERIES_PARAMS)
def test_real_livepatchified_modules_load(series: str, tmp_path_factory) -> None:
    """The whole converted modules load with apply, in_bounds and abi_values holding through
    a coming/going cycle (slow: 25 s to 2 min per module on the model)."""
    d = _real_seeds(series, tmp_path_factory.mktemp("seeds"))
    engine = resolve_engine(f"v{series}")
    for mod, tgt in REAL_PAIRS:
        obj = load_object(str(d / f"{mod}-klp.o"))
        v = check(obj, engine, load_world(None), cycles=1)  # the world `ppcreloc check` uses
        assert v.targets == [tgt]
        assert all(v.invariants[n].holds for n in ("apply", "in_bounds", "abi_values")), \
            (mod, v.violations()[:1])


@pytest.mark.realmodules
@pytest.mark.parametrize("series", SERIES_PARAMS)
def test_real_seed_campaign(series: str, tmp_path: Path, tmp_path_factory, capsys) -> None:
    d = _real_seeds(series, tmp_path_factory.mktemp("seeds"))
    capsys.readouterr()
    assert main(["fuzz", "--engine", f"v{series}", "--examples", "40", "--seed", "1",
                 "--boundaries", "off", "--seed-objects", str(d),
                 "--fixtures", str(tmp_path / "fx"), "--json"]) in (0, 1)
    doc = json.loads(capsys.readouterr().out)
    assert not {v["invariant"] for v in doc["violations"]} & {"apply", "in_bounds", "abi_values"}


@pytest.mark.reference
@pytest.mark.realmodules
@pytest.mark.parametrize("series", SERIES_PARAMS)
def test_real_seed_diff_against_the_kernel(series: str, tmp_path: Path,
                                           tmp_path_factory) -> None:
    """kernel:<the image's tree> and v<series> agree on sub-objects of the real seeds."""
    pkg = package(series)
    if not pkg.tree.is_file():
        pytest.skip(f"{pkg.tree} missing (apt-get install linux-source-{series})")
    d = _real_seeds(series, tmp_path_factory.mktemp("seeds"))
    assert main(["diff", "--engine", f"kernel:{pkg.tree}", "--against", pkg.profile,
                 "--examples", "30", "--seed", "2", "--boundaries", "off",
                 "--seed-objects", str(d), "--fixtures", str(tmp_path / "fx")]) == 0
