"""Bounded input (ppcreloc.inputs): compressed objects stream with an ELF-header check and a size
limit, so decompression bombs exit 2 with one line and little memory; symbol maps and sidecars
are capped too."""

from __future__ import annotations

import gzip
import json
import lzma
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import zstandard

from ppcreloc import cli
from ppcreloc.elf.writer import write_elf
from ppcreloc.errors import PpcrelocError
from ppcreloc.inputs import InputError, read_object_bytes

ROOT = Path(__file__).resolve().parents[2]
GIB3 = 3_000_000_000
#: one compressed member per format; concatenated members are one valid stream of the sum
COMPRESS: dict[str, Callable[[bytes], bytes]] = {
    ".xz": lambda d: lzma.compress(d, preset=1),
    ".gz": lambda d: gzip.compress(d, compresslevel=1),
    ".zst": lambda d: zstandard.ZstdCompressor(level=1).compress(d),
}
MEMBER = 32 << 20


def bomb(path: Path, head: bytes = b"", total: int = GIB3) -> Path:
    """``head`` then zeros up to ``total`` bytes, compressed by ``path``'s suffix as repeated
    members (a few hundred KB on disk, built in well under a second)."""
    pack = COMPRESS[path.suffix]
    first = pack(head + bytes(MEMBER - len(head)))
    rest = pack(bytes(MEMBER))
    path.write_bytes(first + rest * (total // MEMBER - 1))
    return path


def peak_check(*argv: str) -> tuple[int, str, float]:
    """Run ``ppcreloc check ARGV`` in a fresh wrapper process; its exit code, stderr and peak
    RSS in MB (getrusage RUSAGE_CHILDREN of the wrapper sees only that one child)."""
    code = (
        "import resource, subprocess, sys, json\n"
        "p = subprocess.run([sys.executable, '-m', 'ppcreloc.cli', 'check', *sys.argv[1:]],"
        " capture_output=True, text=True)\n"
        "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
        "print(json.dumps([p.returncode, p.stderr, rss]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    rc, err, rss = json.loads(proc.stdout)
    return rc, err, rss


@pytest.fixture(scope="module")
def elf() -> bytes:
    from elf_objects import sweep_object

    return write_elf(sweep_object(2, 8, 16, False))


@pytest.mark.parametrize("suffix", sorted(COMPRESS))
def test_bomb_of_zeros_stops_at_the_elf_header(tmp_path: Path, suffix: str) -> None:
    """3 GB of zeros compressed: the first 64 bytes are not ELF, so check exits 2 at once."""
    path = bomb(tmp_path / f"bomb.ko{suffix}")
    assert path.stat().st_size < GIB3 // 200  # gzip tops out near 1000:1, xz and zstd far above
    rc, err, rss = peak_check(str(path))
    assert rc == 2 and err == f"ppcreloc: error: {path}: not an ELF file (bad magic 00000000)\n"
    assert rss < 200, f"peak RSS {rss:.0f} MB"


@pytest.mark.parametrize("suffix", sorted(COMPRESS))
def test_bomb_with_an_elf_header_stops_at_the_size_limit(tmp_path: Path, elf: bytes,
                                                          suffix: str) -> None:
    path = bomb(tmp_path / f"elf.ko{suffix}", head=elf[:64])
    rc, err, rss = peak_check(str(path), "--max-object-size", "4M")
    assert rc == 2 and err == (f"ppcreloc: error: {path}: decompressed object larger than 4 MiB "
                               "(--max-object-size raises the limit)\n")
    assert rss < 200, f"peak RSS {rss:.0f} MB"


@pytest.mark.parametrize("suffix", ["", *sorted(COMPRESS)])
def test_every_container_gives_the_same_object(tmp_path: Path, elf: bytes, suffix: str) -> None:
    (tmp_path / "plain.o").write_bytes(elf)
    path = tmp_path / f"m.ko{suffix}"
    path.write_bytes(COMPRESS[suffix](elf) if suffix else elf)
    assert read_object_bytes(path) == elf
    assert cli.load_object(str(path)) == cli.load_object(str(tmp_path / "plain.o"))
    assert cli.module_name(str(path)) == "m"
    # the limit is exact: the object's own size passes, one byte less does not
    assert read_object_bytes(path, len(elf)) == elf
    with pytest.raises(InputError, match="larger than"):
        read_object_bytes(path, len(elf) - 1)


def test_plain_object_over_the_limit_and_the_flag(tmp_path: Path, elf: bytes, capsys) -> None:
    path = tmp_path / "m.o"
    path.write_bytes(elf)
    assert cli.main(["check", str(path), "--max-object-size", "1K"]) == 2
    assert capsys.readouterr().err == (f"ppcreloc: error: {path}: object larger than 1024 bytes "
                                       "(--max-object-size raises the limit)\n")
    assert cli.main(["check", str(path), "--max-object-size", "1M", "--json"]) in (0, 1)
    capsys.readouterr()
    for bad in ("0", "x", "-5", "1T"):
        with pytest.raises(SystemExit) as exc:
            cli.main(["check", str(path), "--max-object-size", bad])
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert "not a positive size" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize(("name", "data", "message"), [
    ("a.ko.xz", gzip.compress(b"x"), "cannot decompress: not xz data"),
    ("a.ko.zst", zstandard.ZstdCompressor().compress(b"\x7fELF" + bytes(range(256)))[:6]
     + b"\xff" * 30, "cannot decompress zstd data (zstd decompress error: Data corruption"),
    ("a.ko.gz", b"\x1f\x8b\x08\x00" + bytes(range(7, 60)), "cannot decompress gzip data"),
    ("a.ko.xz", lzma.compress(b"\x7fELF")[:-8], "cannot decompress xz data"),
    ("a.ko.gz", gzip.compress(b""), "not an ELF file (empty once decompressed)"),
])
def test_bad_compressed_data_is_one_line(tmp_path: Path, capsys, name: str, data: bytes,
                                         message: str) -> None:
    (tmp_path / name).write_bytes(data)
    assert cli.main(["check", str(tmp_path / name)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.splitlines()) == 1, err


def test_symbol_map_and_sidecar_are_capped(tmp_path: Path, monkeypatch) -> None:
    import ppcreloc.fixtures
    import ppcreloc.inputs
    from ppcreloc.fixtures import CORPUS_DIR, iter_fixtures, load_fixture
    from ppcreloc.loader.world import SymbolWorld

    kallsyms = tmp_path / "kallsyms"
    kallsyms.write_text("c000000000001000 T _stext\n" * 100)
    import ppcreloc.loader.world

    monkeypatch.setattr(ppcreloc.loader.world, "MAX_MAP_SIZE", 1000)  # where from_kallsyms reads it
    with pytest.raises(PpcrelocError, match=f"{kallsyms}: symbol map larger than 1000 bytes"):
        SymbolWorld.from_kallsyms(kallsyms)
    fixture = iter_fixtures(ROOT / CORPUS_DIR)[0]
    load_fixture(fixture)
    monkeypatch.setattr(ppcreloc.fixtures, "MAX_SIDECAR_SIZE", 100)
    with pytest.raises(PpcrelocError, match="sidecar larger than 100 bytes"):
        load_fixture(fixture)
