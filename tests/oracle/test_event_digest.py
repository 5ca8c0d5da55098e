"""bench/event_digest.py: the refactoring check hashes behaviour, and only behaviour."""

from __future__ import annotations

from bench import event_digest as ed
from ppcreloc.elf.model import SHF_ALLOC
from ppcreloc.elf.reader import read_elf
from ppcreloc.elf.writer import write_elf


def test_digest_repeats_and_tells_profiles_and_configs_apart() -> None:
    cases = ed._cases("compiler", 12)
    assert len(cases) == 12
    v612 = ed.digest(cases, "v6.12", ed.CONFIGS["default"])
    assert v612 == ed.digest(cases, "v6.12", ed.CONFIGS["default"])
    # v6.18 differs from v6.12 only in how it counts stubs: the logs still differ somewhere
    others = {name: ed.digest(cases, name, ed.CONFIGS["default"])
              for name in ("v6.1", "klp-clear-v7", "full-undo", "v6.18")}
    assert v612 not in others.values()
    assert len(set(others.values())) == len(others)
    assert v612 != ed.digest(cases, "v6.12", ed.CONFIGS["elfv1"])


def test_digest_sees_a_single_changed_byte() -> None:
    data, world, layout = ed._cases("compiler", 3)[0]
    base = ed.digest([(data, world, layout)], "v6.12", ed.CONFIGS["default"])
    obj = read_elf(data)
    i = next(i for i, s in enumerate(obj.sections) if s.flags & SHF_ALLOC and s.data)
    obj.sections[i].data = bytes([obj.sections[i].data[0] ^ 0x80]) + obj.sections[i].data[1:]
    changed = write_elf(obj)
    assert changed != data
    assert ed.digest([(changed, world, layout)], "v6.12", ed.CONFIGS["default"]) != base
