"""Long-running coverage-guided fuzzing of the input path with atheris (libFuzzer).

Properties, for any input bytes:

* the container layer (:func:`ppcreloc.inputs.read_object_from`, as ``.ko``, ``.ko.xz``,
  ``.ko.gz`` or ``.ko.zst`` by the input's first byte) returns bytes or raises InputError;
* both ELF readers (struct and pyelftools) either return an ElfObject or raise ElfFormatError
  with a one-line message (nothing else); whatever the struct reader accepts, ``write_elf``
  writes and it reads back identically; an input both accept as different objects is counted
  (``readers_disagree``) and kept as ``disagree-N.bin``;
* on a sample (every :data:`CHECK_EVERY`-th input, and every input both readers accept while
  fewer than :data:`CHECK_ACCEPTED` have been checked), ``ppcreloc check`` on the file exits 0,
  1 or 2, with any error on one line;
* no input takes longer than :data:`SLOW` seconds of CPU time (``over_1s_cpu``; wall-clock
  time, which a loaded machine stretches, is counted too as ``over_1s_wall``); inputs over
  either are kept as ``slow-N.bin`` beside the stats file, to replay.

Seeds are written objects (our writer, every size class) in each container, plus any files given.

    .venv/bin/python fuzz/fuzz_reader.py -runs=1000000 -timeout=10 -rss_limit_mb=2048 [CORPUS_DIR]

Every :data:`STATS_EVERY` inputs and at exit the harness writes its counters (inputs, accepted,
checked, slowest input, inputs over 1 s, peak RSS) as JSON to ``$FUZZ_STATS`` (default
``fuzz-reader-stats.json``). Crashes are saved by libFuzzer as crash-<sha1> in the working
directory; replay one with ``.venv/bin/python fuzz/fuzz_reader.py crash-<sha1>``.
"""

from __future__ import annotations

import atexit
import contextlib
import gzip
import io
import json
import lzma
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

try:
    import atheris
except ImportError:  # the default test suite runs test_one_input without atheris
    atheris = None

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # ppcreloc, and the tests' object strategies

with atheris.instrument_imports() if atheris is not None else contextlib.nullcontext():
    import zstandard

    from ppcreloc import cli
    from ppcreloc.elf.errors import ElfFormatError
    from ppcreloc.elf.reader import read_elf
    from ppcreloc.elf.writer import write_elf
    from ppcreloc.inputs import InputError, read_object_from

#: the container an input is read as, by its first byte modulo 4
CONTAINERS = (".ko", ".ko.xz", ".ko.gz", ".ko.zst")
PACK = {
    ".ko": lambda d: d,
    ".ko.xz": lambda d: lzma.compress(d, preset=1),
    ".ko.gz": lambda d: gzip.compress(d, compresslevel=1),
    ".ko.zst": lambda d: zstandard.ZstdCompressor(level=1).compress(d),
}
#: ppcreloc check runs on every CHECK_EVERY-th input ...
CHECK_EVERY = 200
#: ... and on each of the first CHECK_ACCEPTED inputs both readers accept
CHECK_ACCEPTED = 2000
#: an input slower than this (seconds) is counted as a hang
SLOW = 1.0
STATS_EVERY = 10_000
#: decompressed inputs are bounded like the CLI's, but small: libFuzzer's -rss_limit_mb guards
LIMIT = 16 << 20

STATS = {"inputs": 0, "accepted": 0, "readers_disagree": 0, "checked": 0, "check_exit": {},
         "slowest_cpu_s": 0.0, "slowest_wall_s": 0.0, "over_1s_cpu": 0, "over_1s_wall": 0,
         "peak_rss_mb": 0.0}
_CHECK_FILE = Path(tempfile.mkdtemp(prefix="fuzz-reader-")) / "input"


def _one_line(exc: Exception) -> None:
    if "\n" in str(exc) or not str(exc):
        raise AssertionError(f"error message not one line: {exc!r}") from None


def _check_cli(data: bytes, suffix: str) -> None:
    """``ppcreloc check`` on the input file (stdout and stderr swallowed): exit 0, 1 or 2."""
    path = _CHECK_FILE.with_suffix(suffix)
    path.write_bytes(data)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli.main(["check", str(path), "--cycles", "1", "--max-object-size", str(LIMIT)])
    STATS["checked"] += 1
    STATS["check_exit"][str(rc)] = STATS["check_exit"].get(str(rc), 0) + 1
    if rc not in (0, 1, 2) or (rc == 2 and len(err.getvalue().splitlines()) != 1):
        raise AssertionError(f"check exited {rc}: {err.getvalue()!r}")


def _disagreement(data: bytes) -> None:
    """Both readers accepted different objects: counted, and the first few inputs kept in
    ``$FUZZ_STATS``'s directory (a finding to report, not a crash that ends the run)."""
    STATS["readers_disagree"] += 1
    _keep("disagree", STATS["readers_disagree"], data)


def _keep(kind: str, number: int, data: bytes) -> None:
    """Keep the first few inputs of a kind beside the stats file (``slow-3.bin``)."""
    if number <= 20:
        where = Path(os.environ.get("FUZZ_STATS", "fuzz-reader-stats.json")).parent
        (where / f"{kind}-{number}.bin").write_bytes(data)


def test_one_input(data: bytes) -> None:
    """One fuzz input: container, both readers, the round trip, and sometimes the CLI."""
    start, cpu = time.perf_counter(), time.process_time()
    STATS["inputs"] += 1
    suffix = CONTAINERS[data[0] % 4] if data else ".ko"
    body = data[1:]
    try:
        elf = read_object_from(io.BytesIO(body), "input" + suffix, LIMIT)
    except InputError as exc:
        _one_line(exc)
        elf = None
    objs: dict[str, object] = {}
    for reader in ("struct", "pyelftools") if elf is not None else ():
        try:
            objs[reader] = read_elf(elf, reader)  # type: ignore[arg-type]
        except ElfFormatError as exc:
            _one_line(exc)
    accepted = len(objs) == 2
    STATS["accepted"] += accepted
    if accepted and objs["struct"] != objs["pyelftools"]:
        _disagreement(data)
    obj = objs.get("struct")
    if obj is not None and read_elf(write_elf(obj)) != obj:  # type: ignore[arg-type]
        raise AssertionError("read(write(read(data))) != read(data)")
    if STATS["inputs"] % CHECK_EVERY == 0 or (accepted and STATS["checked"] < CHECK_ACCEPTED):
        _check_cli(body, suffix)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    STATS["slowest_wall_s"] = max(STATS["slowest_wall_s"], round(wall, 4))
    STATS["slowest_cpu_s"] = max(STATS["slowest_cpu_s"], round(cpu, 4))
    STATS["over_1s_wall"] += wall > SLOW
    STATS["over_1s_cpu"] += cpu > SLOW
    if max(wall, cpu) > SLOW:
        _keep("slow", STATS["over_1s_wall"] + STATS["over_1s_cpu"], data)
    if STATS["inputs"] % STATS_EVERY == 0:
        write_stats()


def write_stats() -> None:
    """The counters as JSON to ``$FUZZ_STATS`` (atomically)."""
    STATS["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    path = Path(os.environ.get("FUZZ_STATS", "fuzz-reader-stats.json"))
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(STATS, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)


def seeds() -> dict[str, bytes]:
    """A few valid objects in every container, named for the corpus (first byte: container)."""
    from elf_objects import sweep_object

    out: dict[str, bytes] = {}
    for nsec, nsym, nrel, big in [(1, 1, 1, False), (2, 8, 16, False), (3, 8, 16, True),
                                  (8, 16, 64, False)]:
        elf = write_elf(sweep_object(nsec, nsym, nrel, big))
        for index, suffix in enumerate(CONTAINERS):
            name = f"seed-{nsec}-{nsym}-{nrel}-{'be' if big else 'le'}{suffix}"
            out[name] = bytes([index]) + PACK[suffix](elf)
    return out


def seed_corpus(directory: Path) -> None:
    """Write :func:`seeds` into ``directory`` so fuzzing starts from real structure."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in seeds().items():
        (directory / name).write_bytes(data)


def warm_up() -> None:
    """Run the CLI once so its first-use imports (engines, oracle) are not timed as a slow
    input; the counters start afterwards."""
    data = next(iter(seeds().values()))
    _check_cli(data[1:], CONTAINERS[data[0] % 4])
    STATS.update(checked=0, check_exit={})


def main() -> None:
    if atheris is None:
        sys.exit("fuzz_reader.py needs atheris: pip install -e '.[fuzz]'")
    corpus = [a for a in sys.argv[1:] if not a.startswith("-")]
    if not corpus:
        default = ROOT / "cache" / "fuzz-reader-corpus"  # gitignored
        seed_corpus(default)
        sys.argv.append(str(default))
    elif Path(corpus[0]).is_dir() and not any(Path(corpus[0]).iterdir()):
        seed_corpus(Path(corpus[0]))
    warm_up()
    atexit.register(write_stats)
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
