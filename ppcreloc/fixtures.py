"""Fixture files: a minimal failing object as `.o` plus a JSON sidecar that replays it.

Layout: ``<dir>/<engine>/<invariant>-<sha256 prefix>.o`` and ``….json`` beside it. Writes are
atomic (a temporary file in the same directory, then ``os.replace``) and deduplicated by the
object's content hash, so a crash never leaves a half-written fixture and the same failure found
twice is stored once.

Campaigns (``matrix``, ``fuzz``) write to :data:`DEFAULT_DIR`, outside the tracked regression
corpus :data:`CORPUS_DIR`; only :func:`promote` (``ppcreloc promote``) copies a fixture into it.
:func:`case_record` is the one sidecar builder both campaigns use, so the same case found by
either gives the same sidecar.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ppcreloc.errors import PpcrelocError
from ppcreloc.inputs import MAX_SIDECAR_SIZE, InputError, read_object_bytes, read_text_bounded
from ppcreloc.loader.worldspec import world_from_spec

if TYPE_CHECKING:
    from ppcreloc.oracle import Verdict
    from ppcreloc.strategies import Case

#: where campaigns write fixtures by default: untracked (.gitignore), beside the working directory
DEFAULT_DIR = Path("ppcreloc-fixtures")
#: the committed regression corpus; written only by an explicit promote
CORPUS_DIR = Path("tests/fixtures")
#: the replay command a sidecar records (path-free, so a promoted copy stays byte-identical)
REPLAY_COMMAND = "ppcreloc replay <this .o>"
HASH_CHARS = 16
SIDECAR_VERSION = 1


class FixtureError(PpcrelocError):
    """A fixture or its sidecar is missing, unreadable or malformed."""


@dataclass
class FixtureRecord:
    """Everything needed to replay a check, and what it found.

    ``world`` is the symbol world in kallsyms text; ``layout`` holds ``base``, ``addresses`` and
    ``after_stubs`` (hex) and, when the case came from the strategies, ``world_spec`` (the exact
    per-generation symbol world, which replay prefers over the kallsyms text); ``violation`` is
    the oracle's violation as a dict (None for a fixture recorded as clean).
    """

    engine: str
    invariant: str
    holds: bool
    violation: dict[str, Any] | None
    world: str
    layout: dict[str, Any]
    cycles: int
    config: dict[str, Any] = field(default_factory=dict)
    hypothesis_version: str | None = None
    seed: int | None = None
    replay: str = ""
    version: int = SIDECAR_VERSION
    #: False for a failing case stored before shrinking finished (an interrupted fuzz campaign)
    minimal: bool = True
    #: the run's `.stubs` accounting (StubBudget.to_dict: capacity, in_use, per_reload,
    #: exhausts_at, seen, cycles, summary), None when the object has no target objects
    stubs: dict[str, Any] | None = None

    def module_base(self) -> int | None:
        """The module base the recorded run used (``layout["module_base"]``, the lowest placed
        address, else the requested ``layout["base"]``), if recorded."""
        lay = self.layout if isinstance(self.layout, dict) else {}
        base = lay.get("module_base", lay.get("base"))
        try:
            return int(str(base), 16) if base is not None else None
        except ValueError:
            return None

    def to_json(self) -> str:
        """The sidecar text (stable key order, so equal records give equal files)."""
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str) -> FixtureRecord:
        """Build a record from parsed JSON, naming ``source`` in any error."""
        try:
            record = cls(**data)
        except TypeError as exc:
            raise FixtureError(f"{source}: not a ppcreloc fixture sidecar ({exc})") from None
        if record.version != SIDECAR_VERSION:
            raise FixtureError(f"{source}: sidecar version {record.version} is not supported")
        return record


def _safe(part: str) -> str:
    """A path component from an engine or invariant name (``kernel:/x/y`` -> ``kernel_x_y``)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", part).strip("_") or "_"


def fixture_path(directory: Path, engine: str, invariant: str, elf: bytes) -> Path:
    """Where the fixture for ``elf`` failing ``invariant`` under ``engine`` lives."""
    digest = hashlib.sha256(elf).hexdigest()[:HASH_CHARS]
    return Path(directory) / _safe(engine) / f"{_safe(invariant)}-{digest}.o"


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_fixture(directory: Path, elf: bytes, record: FixtureRecord) -> Path:
    """Store ``elf`` and its sidecar; returns the `.o` path (existing identical files are kept).

    Each file is written atomically; when the sidecar cannot be written (a full disk) a `.o`
    this call created is removed again, so no fixture is left without its sidecar."""
    path = fixture_path(directory, record.engine, record.invariant, elf)
    sidecar = path.with_suffix(".json")
    created = not path.exists()
    if not _same_file(path, elf):
        _atomic_write(path, elf)
    text = record.to_json().encode()
    try:
        if not _same_file(sidecar, text):
            _atomic_write(sidecar, text)
    except OSError:  # e.g. a full disk: leave no `.o` without its sidecar
        if created and not sidecar.exists():
            path.unlink(missing_ok=True)
        raise
    return path


def _same_file(path: Path, data: bytes) -> bool:
    """Whether ``path`` holds exactly ``data`` (its size is compared before its bytes are read)."""
    try:
        return path.stat().st_size == len(data) and path.read_bytes() == data
    except OSError:
        return False


def load_fixture(path: Path) -> tuple[bytes, FixtureRecord]:
    """Read a fixture `.o` and its sidecar (each bounded: :mod:`ppcreloc.inputs`); FixtureError
    with one line on any problem."""
    path = Path(path)
    sidecar = path.with_suffix(".json")
    try:
        elf = read_object_bytes(path)
        data = json.loads(read_text_bounded(sidecar, MAX_SIDECAR_SIZE, "sidecar"))
    except InputError as exc:
        raise FixtureError(str(exc)) from None
    except json.JSONDecodeError as exc:
        raise FixtureError(f"{sidecar}: invalid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise FixtureError(f"{sidecar}: not a ppcreloc fixture sidecar (not an object)")
    return elf, FixtureRecord.from_dict(data, str(sidecar))


def case_record(case: Case, engine: str, invariant: str, verdict: Verdict, seed: int | None,
                cycles: int, *, minimal: bool = True) -> FixtureRecord:
    """The sidecar for a generated case: its invariant's first violation, the symbol world (as
    kallsyms text and the exact per-generation ``world_spec``), the layout, the cycles and
    ``seed``, the campaign seed the run printed."""
    import hypothesis
    result = verdict.invariants[invariant]
    layout = case.describe()["layout"]
    layout["world_spec"] = case.world.to_dict()
    if verdict.run is not None and verdict.run.placements:  # kernel:PATH moves the module
        layout["module_base"] = hex(min(p.addr for p in verdict.run.placements))
    return FixtureRecord(
        engine=engine,
        invariant=invariant,
        holds=result.holds,
        violation=result.violations[0].to_dict() if result.violations
        else {"message": result.message},
        world=world_from_spec(case.world).to_kallsyms_text(),
        layout=layout,
        cycles=cycles,
        hypothesis_version=hypothesis.__version__,
        seed=seed,
        replay=REPLAY_COMMAND,
        minimal=minimal,
        stubs=verdict.stubs.to_dict() if verdict.stubs is not None else None,
    )


def promote(path: Path, corpus: Path = CORPUS_DIR) -> Path:
    """Copy the fixture ``path`` (its `.o` or `.json`) and its sidecar into ``corpus``, under its
    recorded engine, byte for byte; returns the new `.o` path (FixtureError on a bad fixture)."""
    path = Path(path)
    path = path.with_suffix(".o") if path.suffix == ".json" else path
    elf, record = load_fixture(path)
    dest = Path(corpus) / _safe(record.engine) / path.name
    sidecar = path.with_suffix(".json").read_bytes()
    if dest.resolve() == path.resolve():
        return dest
    _atomic_write(dest, elf)
    _atomic_write(dest.with_suffix(".json"), sidecar)
    return dest


def iter_fixtures(directory: Path = CORPUS_DIR) -> list[Path]:
    """Every fixture `.o` under ``directory`` that has a sidecar, sorted."""
    return sorted(p for p in Path(directory).rglob("*.o") if p.with_suffix(".json").exists())
