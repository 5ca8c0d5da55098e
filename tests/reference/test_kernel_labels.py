"""Kernel-engine writes are named as the model names them (issue 12 point 6): an out-of-bounds
stub write on ``kernel:PATH`` names its relocation, the stub fields it covers and its true size,
exactly as the v6.12 profile's report does, instead of "patch primitive".

The case is the committed `.stubs` exhaustion fixture of v6.12 (a one-call object: the second
fresh address writes a stub past `.stubs`). The kernel engine runs at user-range addresses, so
the messages are compared with the addresses taken out.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ppcreloc.replay import replay

TARBALL = Path("/usr/src/linux-source-6.12.tar.xz")
FIXTURE = Path(__file__).parents[1] / "fixtures" / "v6.12" / "reload_cycles-0241ddc4c20f5dab.o"


def _oob_writes(engine: str | None) -> list[tuple[str, str | None, int | None]]:
    """(message without its address, relocation section, index) of each out-of-bounds write."""
    verdict = replay(FIXTURE, engine).verdict
    return [(re.sub(r"0x[0-9a-f]+", "ADDR", v.message), v.section, v.index)
            for v in verdict.invariants["reload_cycles"].violations
            if "out-of-bounds write" in v.message]


def test_kernel_engine_labels_an_out_of_bounds_stub_write_as_the_model() -> None:
    if not TARBALL.is_file():
        pytest.skip(f"{TARBALL} missing (apt-get install linux-source-6.12)")
    model = _oob_writes(None)
    assert model == [
        ("coming(ext4, gen 2): out-of-bounds write of 24 bytes at ADDR (stub jump[0] .. stub "
         "jump[5])", ".klp.rela.ext4..text.livepatch_fn0", 0),
        ("coming(ext4, gen 2): out-of-bounds write of 12 bytes at ADDR (stub magic .. stub "
         "funcdata)", ".klp.rela.ext4..text.livepatch_fn0", 0),
    ]
    assert _oob_writes(f"kernel:{TARBALL}") == model
