"""Long-running coverage-guided fuzzing of the ELF reader with atheris (libFuzzer).

Property: for any input, ``read_elf`` either returns an ElfObject or raises ElfFormatError
(nothing else, no hang); whatever it accepts, ``write_elf`` writes and ``read_elf`` reads back
identically. Seeds are written objects (our writer, every size class) plus any files given.

    .venv/bin/python fuzz/fuzz_reader.py -max_total_time=3600 -timeout=5 -rss_limit_mb=2048 [CORPUS_DIR]

Crashes are saved by libFuzzer as crash-<sha1> in the working directory; replay one with
``.venv/bin/python fuzz/fuzz_reader.py crash-<sha1>``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from ppcreloc.elf.errors import ElfFormatError
    from ppcreloc.elf.reader import read_elf
    from ppcreloc.elf.writer import write_elf

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # ppcreloc, and the tests' object strategies


def test_one_input(data: bytes) -> None:
    try:
        obj = read_elf(data)
    except ElfFormatError as exc:
        if "\n" in str(exc) or not str(exc):
            raise AssertionError(f"error message not one line: {exc!r}") from None
        return
    again = write_elf(obj)
    if read_elf(again) != obj:
        raise AssertionError("read(write(read(data))) != read(data)")


def seed_corpus(directory: Path) -> None:
    """Write a few valid objects into ``directory`` so fuzzing starts from real structure."""
    from elf_objects import sweep_object

    directory.mkdir(parents=True, exist_ok=True)
    for nsec, nsym, nrel, big in [(1, 1, 1, False), (2, 8, 16, False), (3, 8, 16, True), (8, 16, 64, False)]:
        (directory / f"seed-{nsec}-{nsym}-{nrel}-{'be' if big else 'le'}.o").write_bytes(
            write_elf(sweep_object(nsec, nsym, nrel, big))
        )


def main() -> None:
    corpus = [a for a in sys.argv[1:] if not a.startswith("-")]
    if not corpus:
        default = Path(__file__).resolve().parents[1] / "cache" / "fuzz-reader-corpus"  # gitignored
        seed_corpus(default)
        sys.argv.append(str(default))
    elif Path(corpus[0]).is_dir() and not any(Path(corpus[0]).iterdir()):
        seed_corpus(Path(corpus[0]))
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
