"""Digest of every event and verdict for seeded runs: prove a refactor changed no behaviour.

For ``--examples`` seeded cases per mode (compiler-like and adversarial), every profile (those
of ``EXTRA_PROFILES`` included) and each configuration (default, PCREL, ELFv1), it runs the oracle's check
with the default cycle count (``cycles=DEFAULT_CYCLES``, so a case that exhausts `.stubs` later is
not run further) and hashes, per step, the rc, the messages, the WARN count, every write, every out-of-bounds access,
the memory afterwards, the bytes after `.stubs`, the fault and the failing relocation, plus the
whole verdict with its violations (not its `stubs` record, which the memory determines) and the
final `.stubs` extent. It prints JSON: one SHA-256 per
(configuration, mode, engine). Run it before and after a change; equal digests mean equal event
logs and verdicts.

    .venv/bin/python bench/event_digest.py [--examples N] [--config default|pcrel|elfv1 ...]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hypothesis import given, seed  # noqa: E402, I001

from bench.bench_e2e import generate_only  # noqa: E402
from ppcreloc.elf.reader import read_elf  # noqa: E402
from ppcreloc.elf.writer import write_elf  # noqa: E402
from ppcreloc.records import Config, RunResult, Scenario  # noqa: E402
from ppcreloc.engines import engine_names, run_scenario  # noqa: E402
from ppcreloc.oracle import DEFAULT_CYCLES, check  # noqa: E402
from ppcreloc.profiles import EXTRA_PROFILES, get_profile  # noqa: E402
from ppcreloc.strategies import livepatch_objects, to_symbol_world  # noqa: E402

CONFIGS = {"default": Config(), "pcrel": Config(pcrel=True), "elfv1": Config(abi="elfv1")}
MODES = ("compiler", "adversarial")


class _Profile:
    """Any profile as an engine, the extra ones (v6.18) included."""

    def __init__(self, name: str) -> None:
        self.name = name

    def run(self, scenario: Scenario) -> RunResult:
        """The profile's run of ``scenario`` (what ModelEngine does for the main profiles)."""
        return run_scenario(scenario, get_profile(self.name), self.name)


def _cases(mode: str, n: int) -> list[tuple[bytes, object, object]]:
    """``n`` cases drawn with seed 7: (ELF bytes, world spec, layout)."""
    out: list[tuple[bytes, object, object]] = []

    @seed(7)
    @generate_only(n)
    @given(livepatch_objects(require_targets=True, placeholders=mode))
    def draw(case: object) -> None:
        out.append((write_elf(case.obj), case.world, case.layout))  # type: ignore[attr-defined]

    draw()
    return out


def digest(cases: list[tuple[bytes, object, object]], engine_name: str, config: Config) -> str:
    """SHA-256 over every case's verdict and per-step events under one engine."""
    engine = _Profile(engine_name)
    h = hashlib.sha256()
    for data, world, layout in cases:
        v = check(read_elf(data), engine, to_symbol_world(world), layout=layout,  # type: ignore[arg-type]
                  config=config, cycles=DEFAULT_CYCLES)
        verdict = v.to_dict(details=True)
        verdict.pop("stubs", None)  # derived from the memory hashed below (ppcreloc.stubbudget)
        h.update(repr(verdict).encode())
        run = v.run
        if run is None:
            continue
        for s in run.steps:
            h.update(repr((s.rc, s.messages, s.warns, [tuple(w) for w in s.writes], s.oob,
                           sorted(s.memory.items()), s.after_stubs, s.fault, s.failed_reloc,
                           s.fault_addr, s.fault_what)).encode())
        h.update(repr(run.stubs).encode())
    return h.hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=400)
    ap.add_argument("--config", action="append", choices=sorted(CONFIGS),
                    help="configuration(s) to run (default: all three)")
    args = ap.parse_args()
    engines = [*engine_names(), *EXTRA_PROFILES]
    out: dict[str, object] = {"examples": args.examples, "digests": {}}
    digests: dict[str, str] = {}
    for mode in MODES:
        cases = _cases(mode, args.examples)
        for cfg in args.config or list(CONFIGS):
            for name in engines:
                digests[f"{cfg}/{mode}/{name}"] = digest(cases, name, CONFIGS[cfg])
    out["digests"] = digests
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
