"""Fixture files: a minimal failing object as `.o` plus a JSON sidecar that replays it.

Layout: ``<dir>/<engine>/<invariant>-<sha256 prefix>.o`` and ``….json`` beside it. Writes are
atomic (a temporary file in the same directory, then ``os.replace``) and deduplicated by the
object's content hash, so a crash never leaves a half-written fixture and the same failure found
twice is stored once.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ppcreloc.errors import PpcrelocError

DEFAULT_DIR = Path("tests/fixtures")
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
    """Store ``elf`` and its sidecar; returns the `.o` path (existing identical files are kept)."""
    path = fixture_path(directory, record.engine, record.invariant, elf)
    sidecar = path.with_suffix(".json")
    if not (path.exists() and path.read_bytes() == elf):
        _atomic_write(path, elf)
    text = record.to_json().encode()
    if not (sidecar.exists() and sidecar.read_bytes() == text):
        _atomic_write(sidecar, text)
    return path


def load_fixture(path: Path) -> tuple[bytes, FixtureRecord]:
    """Read a fixture `.o` and its sidecar; FixtureError with one line on any problem."""
    path = Path(path)
    sidecar = path.with_suffix(".json")
    try:
        elf = path.read_bytes()
    except OSError as exc:
        raise FixtureError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        data = json.loads(sidecar.read_text())
    except OSError as exc:
        raise FixtureError(f"cannot read sidecar {sidecar}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise FixtureError(f"{sidecar}: invalid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise FixtureError(f"{sidecar}: not a ppcreloc fixture sidecar (not an object)")
    return elf, FixtureRecord.from_dict(data, str(sidecar))


def iter_fixtures(directory: Path = DEFAULT_DIR) -> list[Path]:
    """Every fixture `.o` under ``directory`` that has a sidecar, sorted."""
    return sorted(p for p in Path(directory).rglob("*.o") if p.with_suffix(".json").exists())
