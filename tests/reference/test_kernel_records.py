"""The kernel engine's records are complete and attributed as the model's (issue 17 points 3, 4).

Point 3: the shim keeps every patch write, message and string argument (its buffers grow; a
record it cannot keep fails the case, tests/reference/test_kernel_faults.py), so a module making more than
65,536 patch writes (amdgpu makes 65,606) agrees with the model. Point 4: a plain store found by
diffing memory is one store of the relocation's whole field, as the model records it, even where
the value has zero bytes the diff would split around, so in_bounds reports the same bytes.
"""

from __future__ import annotations

import re
import shutil
import struct
from pathlib import Path

import pytest

from ppcreloc.elf.builder import ObjectBuilder
from ppcreloc.elf.model import SHF_ALLOC, SHF_WRITE, SHN_LIVEPATCH, STB_GLOBAL, STT_FUNC
from ppcreloc.engines import ModelEngine
from ppcreloc.loader.world import SymbolWorld
from ppcreloc.oracle import check
from ppcreloc.records import Layout, Scenario, Step
from ppcreloc.reference.kernel.compare import disagreements
from ppcreloc.reference.kernel.engine import KernelEngine, user_layout

TREES = {"v6.1": Path("/usr/src/linux-source-6.1.tar.xz"),
         "v6.12": Path("/usr/src/linux-source-6.12.tar.xz")}
NOP = 0x60000000
R_PPC_REL24, R_PPC64_ADDR64 = 10, 38


def _engine(profile: str) -> KernelEngine:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed (the kernel engine compiles module_64.c)")
    if not TREES[profile].is_file():
        pytest.skip(f"{TREES[profile]} missing (apt-get install {TREES[profile].name[:-7]})")
    return KernelEngine(TREES[profile])


@pytest.mark.parametrize("profile", list(TREES))
def test_more_patch_writes_than_the_old_buffer(profile: str) -> None:
    n = 70_000  # the shim kept 65,536 before its buffers grew
    ob = ObjectBuilder()
    text = ob.add_section(".text", struct.pack("<I", 0x48000001) * n + struct.pack("<I", NOP))
    ob.add_stubs()
    fn = ob.add_symbol("local_fn", 4 * n, shndx=text, type=STT_FUNC)
    for i in range(n):
        ob.add_rela(text, 4 * i, fn, R_PPC_REL24)
    sc = Scenario(ob.build(), SymbolWorld.synthetic(), [Step("load")], user_layout(Layout()))
    kernel = _engine(profile).run(sc)
    model = ModelEngine(profile).run(sc)
    (load,) = kernel.steps
    assert load.rc == 0
    assert sum(w.primitive == "patch_instruction" for w in load.writes) == n
    diffs = disagreements(kernel, model)
    assert not diffs, "\n".join(str(d) for d in diffs[:5])


def _oob_addr64() -> tuple[ObjectBuilder, int]:
    """A klp ADDR64 just past an 8-byte .data: the target's address has zero bytes inside."""
    ob = ObjectBuilder()
    data = ob.add_section(".data", bytes(8), flags=SHF_ALLOC | SHF_WRITE, addralign=8)
    ob.add_stubs()
    var = ob.add_symbol(".klp.sym.target.var,0", bind=STB_GLOBAL, shndx=SHN_LIVEPATCH)
    ob.add_rela(data, 8, var, R_PPC64_ADDR64, section=".klp.rela.target.data")
    return ob, data


@pytest.mark.parametrize("profile", list(TREES))
def test_memory_diff_store_is_the_relocations_field(profile: str) -> None:
    ob, _data = _oob_addr64()
    obj = ob.build()
    world = SymbolWorld.synthetic()
    layout = user_layout(Layout())
    engine = _engine(profile)
    sc = Scenario(obj.clone(), world, [Step("load"), Step("coming", "target", 0)], layout)
    coming = engine.run(sc).steps[1]
    value = next(w.new for w in ModelEngine(profile).run(sc).steps[1].writes)
    assert 0 in value[1:-1]  # a diff alone would split this store around its zero bytes
    stores = [w for w in coming.writes if w.primitive == "store"]
    assert [(len(w.new), w.new, w.in_bounds, w.what) for w in stores] == [
        (8, value, False, "R_PPC64_ADDR64")]
    assert stores[0].reloc is not None and stores[0].reloc.type == R_PPC64_ADDR64
    verdicts = [check(obj.clone(), e, world, cycles=2, layout=layout)
                for e in (engine, ModelEngine(profile))]
    kernel, model = (v.invariants["in_bounds"] for v in verdicts)
    assert not kernel.holds and "of 8 bytes" in kernel.message
    assert kernel.message == model.message
    assert re.findall(r"\d+ bytes", kernel.message) == re.findall(r"\d+ bytes", model.message)


@pytest.mark.parametrize("profile", list(TREES))
def test_unattributed_bytes_stay_a_memory_diff(profile: str) -> None:
    """A memory change no relocation field covers (none here: the loop never reached the
    relocation after a failing one) is still recorded, unattributed."""
    ob, data = _oob_addr64()
    ob.add_rela(data, 0, ob.add_symbol(".klp.sym.target.x,0", bind=STB_GLOBAL,
                                       shndx=SHN_LIVEPATCH), 0xFE, section=".klp.rela.target.data")
    sc = Scenario(ob.build(), SymbolWorld.synthetic(), [Step("load"), Step("coming", "target", 0)],
                  user_layout(Layout()))
    kernel = _engine(profile).run(sc)
    model = ModelEngine(profile).run(sc)
    assert kernel.steps[1].rc == model.steps[1].rc != 0
    diffs = disagreements(kernel, model)
    assert not diffs, "\n".join(str(d) for d in diffs[:5])
