"""module_enable_ro in the model: which memory becomes read-only after the load, which writes
fault there (plain stores and memcpy, not the text-patching primitives), and how a fault ends a
step and the run (kernel-facts 4.9)."""

from __future__ import annotations

import pytest

from ppcreloc.elf.builder import ObjectBuilder
from ppcreloc.elf.model import SHF_ALLOC, SHF_EXECINSTR, SHF_WRITE, SHN_LIVEPATCH, STB_GLOBAL
from ppcreloc.engines import ModelEngine
from ppcreloc.loader.layout import MOD_MEM_ALIGN
from ppcreloc.loader.loader import load_module, read_only_ranges
from ppcreloc.loader.memory import KernelFault, ModuleMemory, Region
from ppcreloc.loader.world import SymbolWorld
from ppcreloc.profiles import get_profile
from ppcreloc.records import Config, Layout, Scenario, Step

R_PPC64_ADDR64 = 38
R_PPC_REL24 = 10
BL, NOP = 0x48000001, 0x60000000
BASE = Layout().base
AX, A, WA = SHF_ALLOC | SHF_EXECINSTR, SHF_ALLOC, SHF_ALLOC | SHF_WRITE


def _words(*ws: int) -> bytes:
    return b"".join(w.to_bytes(4, "little") for w in ws)


def _module(pins: dict[str, int] | None = None, **cfg: bool):
    """text, rodata, ro_after_init and data sections, loaded (no relocations) on ``pins``."""
    b = ObjectBuilder()
    b.add_section(".text", _words(BL, NOP, 0, 0), flags=AX)
    b.add_section(".rodata", bytes(16), flags=A)
    b.add_section(".data..ro_after_init", bytes(16), flags=WA, addralign=8)
    b.add_section(".data", bytes(16), flags=WA, addralign=8)
    b.add_stubs()
    layout = Layout(addresses={n: BASE + off for n, off in (pins or {}).items()})
    res = load_module(get_profile("v6.12"), b.build(), SymbolWorld.synthetic(), layout,
                      Config(**cfg), "lp")
    assert res.rc == 0 and res.fault is None
    return res.mod


def _addr(mod, name: str) -> int:
    idx = mod.obj.section_index(name)
    assert idx is not None
    return mod.obj.sections[idx].addr


def test_text_rodata_ro_after_init_become_read_only_after_the_load():
    mod = _module()
    ro = {r.name for r in mod.memory.regions if r.read_only}
    assert {".text", ".rodata", ".data..ro_after_init", ".stubs"} <= ro
    assert ".data" not in ro
    for name in (".text", ".rodata", ".data..ro_after_init"):
        assert mod.memory.read_only_byte(_addr(mod, name), 1) == _addr(mod, name), name
    assert mod.memory.read_only_byte(_addr(mod, ".data"), 16) is None
    assert all(lo % MOD_MEM_ALIGN == 0 and hi % MOD_MEM_ALIGN == 0
               for lo, hi in mod.memory.read_only)


def test_no_strict_module_rwx_leaves_everything_writable():
    mod = _module(strict_module_rwx=False)
    assert mod.memory.read_only == [] and not any(r.read_only for r in mod.memory.regions)


def test_a_page_shared_with_writable_data_stays_writable():
    mod = _module({".text": 0, ".data": 0x400, ".rodata": 0x1FFF8})
    text, rodata = _addr(mod, ".text"), _addr(mod, ".rodata")
    assert mod.memory.read_only_byte(text, 4) is None  # .data lives on text's page
    # .rodata straddles two pages holding nothing writable: both read-only
    assert mod.memory.read_only_byte(rodata, 16) == rodata
    assert mod.memory.read_only_byte(rodata + 8, 8) == rodata + 8
    assert (BASE + 0x10000, BASE + 0x30000) in [
        (lo, hi) for lo, hi in read_only_ranges(mod) if lo <= rodata < hi]


@pytest.mark.parametrize("primitive", ["store", "memcpy"])
def test_plain_writes_fault_before_writing(primitive):
    mem = ModuleMemory()
    mem.add_region(Region(".text", 0x10000, bytearray(16), index=1))
    mem.add_region(Region(".data", 0x20000, bytearray(16), index=2))
    mem.protect([(0x10000, 0x20000)])
    with pytest.raises(KernelFault) as info:
        mem.write(0x10008, b"\xff" * 8, primitive, "ADDR64")
    f = info.value
    assert (f.signal, f.addr) == ("SIGSEGV", 0x10008)
    assert f.what == f"plain {primitive} into read-only .text (ADDR64)"
    assert mem.writes == [] and mem.section(1).buf == bytearray(16)  # nothing stored
    mem.write(0x20000, b"\x01" * 8, primitive, "data")  # writable data: fine
    assert mem.section(2).buf[:8] == b"\x01" * 8


def test_a_store_straddling_into_read_only_faults_at_the_first_read_only_byte():
    mem = ModuleMemory()
    mem.add_region(Region(".data", 0xFFF8, bytearray(8), index=2))
    mem.add_region(Region(".text", 0x10000, bytearray(8), index=1))
    mem.protect([(0x10000, 0x20000)])
    with pytest.raises(KernelFault) as info:
        mem.write(0xFFFC, bytes(8), "store", "REL64")
    assert info.value.addr == 0x10000


@pytest.mark.parametrize("primitive", ["patch_instruction", "patch_u32"])
def test_text_patching_writes_read_only_memory(primitive):
    mem = ModuleMemory()
    mem.add_region(Region(".text", 0x10000, bytearray(8), index=1))
    mem.protect([(0x10000, 0x20000)])
    mem.write(0x10000, _words(BL), primitive, "REL24")
    assert mem.section(1).buf[:4] == _words(BL) and len(mem.writes) == 1


def _klp_scenario(target: str, **cfg: bool) -> Scenario:
    """REL24 (patch_instruction) then ADDR64 (plain store) into ``target``, for object "t"."""
    b = ObjectBuilder()
    text = b.add_section(".text", _words(BL, NOP, 0, 0), flags=AX)
    data = b.add_section(".data", bytes(16), flags=WA, addralign=8)
    b.add_stubs()
    func = b.add_symbol(".klp.sym.t.func,0", bind=STB_GLOBAL, shndx=SHN_LIVEPATCH)
    var = b.add_symbol(".klp.sym.t.var,0", bind=STB_GLOBAL, shndx=SHN_LIVEPATCH)
    b.add_rela(text, 0, func, R_PPC_REL24, section=".klp.rela.t.text")
    where = text if target == ".text" else data
    b.add_rela(where, 8, var, R_PPC64_ADDR64, section=f".klp.rela.t.{target[1:]}x")
    steps = [Step("load"), Step("coming", "t", 0), Step("going", "t", 0), Step("coming", "t", 1)]
    return Scenario(b.build(), SymbolWorld.synthetic(), steps, config=Config(**cfg))


def test_faulting_step_ends_the_run_with_what_happened_before():
    run = ModelEngine("v6.12").run(_klp_scenario(".text"))
    assert [s.fault for s in run.steps] == [None, "SIGSEGV"]  # nothing runs after the oops
    coming = run.steps[1]
    assert coming.rc == 0 and coming.fault_what.startswith("plain store into read-only .text")
    text = next(p.addr for p in run.placements if p.name == ".text")
    assert coming.fault_addr == text + 8
    ref = coming.failed_reloc
    assert ref is not None and (ref.type, ref.offset) == (R_PPC64_ADDR64, 8)
    # the REL24 before it went through patch_instruction and is in the step's writes
    assert [w.primitive for w in coming.writes if w.addr == text] == ["patch_instruction"]
    assert not [w for w in coming.writes if w.addr == text + 8]  # the store never happened


def test_stores_into_data_and_without_strict_rwx_run_every_step():
    for sc in (_klp_scenario(".data"), _klp_scenario(".text", strict_module_rwx=False)):
        run = ModelEngine("v6.12").run(sc)
        assert [s.fault for s in run.steps] == [None] * 4
        assert [s.rc for s in run.steps] == [0, 0, 0, 0]


def test_load_time_relocations_write_text_freely():
    """.klp.rela.vmlinux.* and plain RELA are applied in load_module, before module_enable_ro."""
    b = ObjectBuilder()
    text = b.add_section(".text", _words(0, 0, 0, 0), flags=AX)
    b.add_stubs()
    vm = b.add_symbol(".klp.sym.vmlinux.jiffies,0", bind=STB_GLOBAL, shndx=SHN_LIVEPATCH)
    b.add_rela(text, 0, vm, R_PPC64_ADDR64, section=".klp.rela.vmlinux.text")
    b.add_rela(text, 8, b.add_symbol("printk", bind=STB_GLOBAL), R_PPC64_ADDR64)
    run = ModelEngine("v6.12").run(Scenario(b.build(), SymbolWorld.synthetic(), [Step("load")]))
    (load,) = run.steps
    assert load.rc == 0 and load.fault is None
    text_addr = next(p.addr for p in run.placements if p.name == ".text")
    assert [w.addr - text_addr for w in load.writes if w.primitive == "store"
            and text_addr <= w.addr < text_addr + 16] == [0, 8]
