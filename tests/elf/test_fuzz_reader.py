"""fuzz/fuzz_reader.py's one-input function on its seeds and a few hostile inputs, without
atheris, so the long-running harness cannot rot between fuzzing runs."""

from __future__ import annotations

import importlib.util
import lzma
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def harness() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fuzz_reader", ROOT / "fuzz" / "fuzz_reader.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["fuzz_reader"] = module
    spec.loader.exec_module(module)
    return module


def test_one_input_over_the_seeds_and_hostile_inputs(harness: ModuleType, monkeypatch,
                                                     tmp_path: Path) -> None:
    monkeypatch.setenv("FUZZ_STATS", str(tmp_path / "stats.json"))
    monkeypatch.setattr(harness, "CHECK_EVERY", 3)
    seeds = harness.seeds()
    assert {name.rsplit("-", 1)[-1].split(".", 1)[-1] for name in seeds} >= {
        "ko", "ko.xz", "ko.gz", "ko.zst"}
    hostile = [b"", b"\x00", b"\x01" + lzma.compress(bytes(1 << 20)), b"\x02\x1f\x8b\x08",
               b"\x03\x28\xb5\x2f\xfd\xff\xff", b"\x00\x7fELF\x02\x01\x01" + bytes(100)]
    inputs = [*seeds.values(), *(d[: len(d) // 2] for d in seeds.values()), *hostile]
    for data in inputs:
        harness.test_one_input(data)  # raises on a traceback-worthy input
    stats = harness.STATS
    assert stats["inputs"] == len(inputs)
    assert stats["accepted"] >= len(seeds)  # every seed parses with both readers
    assert stats["checked"] >= len(seeds) and set(stats["check_exit"]) <= {"0", "1", "2"}
    assert stats["readers_disagree"] == 0
    harness.write_stats()
    assert '"peak_rss_mb"' in (tmp_path / "stats.json").read_text()


def test_one_input_fails_on_a_crash_or_a_multiline_error(harness: ModuleType,
                                                         monkeypatch) -> None:
    """The properties are live: a reader raising anything but ElfFormatError propagates (a
    crash for libFuzzer), and a container error spanning lines is a failure."""
    from ppcreloc.inputs import InputError

    seed = next(iter(harness.seeds().values()))

    def crash(data: bytes, reader: str = "struct") -> None:
        raise IndexError("tuple index out of range")

    monkeypatch.setattr(harness, "read_elf", crash)
    with pytest.raises(IndexError):
        harness.test_one_input(seed)

    def two_lines(*_args: object) -> bytes:
        raise InputError("two\nlines")

    monkeypatch.setattr(harness, "read_object_from", two_lines)
    with pytest.raises(AssertionError, match="not one line"):
        harness.test_one_input(seed)
