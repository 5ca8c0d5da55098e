"""What a replay runs on: a fixture's object, symbol world, layout, configuration and cycles.

Shared by ``ppcreloc replay``, ``ppcreloc diff`` (its two-engine fixtures) and ``explain``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ppcreloc.elf.errors import ElfFormatError
from ppcreloc.elf.model import ElfObject
from ppcreloc.elf.reader import read_elf
from ppcreloc.fixtures import FixtureError, FixtureRecord
from ppcreloc.loader.world import SymbolWorld, WorldError
from ppcreloc.loader.worldspec import WorldSpec, world_from_spec
from ppcreloc.oracle import INVARIANTS
from ppcreloc.records import Config, Layout


@dataclass
class ReplayInputs:
    """What a fixture's check runs on."""

    obj: ElfObject
    world: SymbolWorld
    layout: Layout
    config: Config
    cycles: int


def _hex(value: Any, what: str, source: str) -> int:
    try:
        return int(str(value), 16)
    except ValueError:
        raise FixtureError(f"{source}: bad {what} {value!r}") from None


def replay_inputs(elf: bytes, record: FixtureRecord, source: str) -> ReplayInputs:
    """Rebuild the object, world, layout and config a fixture records (FixtureError if bad)."""
    try:
        obj = read_elf(elf)
    except ElfFormatError as exc:
        raise FixtureError(f"{source}: {exc}") from None
    if record.invariant not in (*INVARIANTS, "diff"):  # "diff": ppcreloc.diff's fixtures
        raise FixtureError(f"{source}: unknown invariant {record.invariant!r}")
    lay = record.layout if isinstance(record.layout, dict) else {}
    try:
        layout = Layout(
            base=_hex(lay.get("base", hex(Layout().base)), "layout base", source),
            addresses={str(k): _hex(v, "section address", source)
                       for k, v in dict(lay.get("addresses", {})).items()},
            after_stubs=bytes.fromhex(str(lay.get("after_stubs", Layout().after_stubs.hex()))),
        )
        config = Config(**record.config)
    except (TypeError, ValueError) as exc:
        raise FixtureError(f"{source}: bad layout or config ({exc})") from None
    if not isinstance(record.cycles, int) or record.cycles < 0:
        raise FixtureError(f"{source}: bad cycles {record.cycles!r}")
    spec = lay.get("world_spec")
    if spec is not None:
        try:
            world = world_from_spec(WorldSpec.from_dict(spec))
        except (KeyError, TypeError, ValueError) as exc:
            raise FixtureError(f"{source}: bad world_spec ({exc})") from None
    else:
        try:
            world = SymbolWorld.from_kallsyms(record.world if "\n" in record.world
                                              else record.world + "\n")
        except WorldError as exc:
            raise FixtureError(f"{source}: bad symbol world ({exc})") from None
    return ReplayInputs(obj, world, layout, config, record.cycles)


def fixture_paths(path: Path) -> Path:
    """The fixture's `.o` path, given the `.o` or its `.json` sidecar."""
    path = Path(path)
    return path.with_suffix(".o") if path.suffix == ".json" else path
