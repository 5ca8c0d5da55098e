"""The generic loader: kernel/module/main.c order, simplify_symbols, apply_relocations' filters."""

from __future__ import annotations

import pytest

from ppcreloc.elf.builder import ObjectBuilder
from ppcreloc.elf.model import (
    SHF_ALLOC,
    SHF_EXECINSTR,
    SHF_WRITE,
    SHN_COMMON,
    SHN_LIVEPATCH,
    SHN_UNDEF,
    STB_GLOBAL,
    STB_WEAK,
    ElfObject,
)
from ppcreloc.loader.loader import load_module
from ppcreloc.loader.world import PERCPU_BASE, SymbolWorld
from ppcreloc.profiles import get_profile
from ppcreloc.records import Config, Layout

R_PPC64_NONE = 0
R_PPC64_ADDR64 = 38
R_PPC_REL24 = 10
BL = 0x48000001
NOP = 0x60000000
LD_R2 = 0xE8410018
STUB_SIZE = 40
FUNCDATA = 32


def _words(*ws: int) -> bytes:
    return b"".join(w.to_bytes(4, "little") for w in ws)


def _load(obj: ElfObject, world: SymbolWorld | None = None, profile: str = "v6.12", **cfg):
    return load_module(get_profile(profile), obj, world or SymbolWorld.synthetic(), Layout(),
                       Config(**cfg), "lp")


def _funcdata(mod, slot: int) -> int:
    stubs = mod.memory.section(mod.arch.stubs_section)
    off = slot * STUB_SIZE + FUNCDATA
    return int.from_bytes(stubs.buf[off : off + 8], "little")


def _word(mod, section: str, offset: int) -> int:
    region = mod.memory.section(mod.obj.section_index(section))
    return int.from_bytes(region.buf[offset : offset + 4], "little")


def test_finalize_ftrace_runs_after_the_load_time_relocations():
    b = ObjectBuilder()
    text = b.add_section(".text", _words(BL, NOP))
    b.add_stubs()
    b.add_rela(text, 0, b.add_symbol("printk", bind=STB_GLOBAL), R_PPC_REL24)
    world = SymbolWorld.synthetic()
    res = _load(b.build(), world)
    assert res.rc == 0
    assert _funcdata(res.mod, 0) == world.resolve_export("printk")
    assert _funcdata(res.mod, 1) == world.vmlinux_symbol("ftrace_caller")
    assert _funcdata(res.mod, 2) == world.vmlinux_symbol("ftrace_regs_caller")
    assert _word(res.mod, ".text", 4) == LD_R2


def test_relocations_for_non_alloc_targets_are_skipped():
    def obj(target_flags: int) -> ElfObject:
        b = ObjectBuilder()
        b.add_section(".text", _words(NOP))
        b.add_stubs()
        dbg = b.add_section(".debug_info", bytes(16), flags=target_flags)
        b.add_rela(dbg, 0, None, R_PPC64_NONE)  # "Unknown ADD relocation" if it were applied
        return b.build()

    skipped = _load(obj(0))
    assert skipped.rc == 0 and skipped.mod.messages == []
    applied = _load(obj(SHF_ALLOC | SHF_WRITE))
    assert applied.rc == -8
    assert [(m.fmt, m.args) for m in applied.mod.messages] == [
        ("%s: Unknown ADD relocation: %lu\n", ("lp", 0))
    ]
    assert applied.failed_in == "apply_relocations"
    assert applied.failed_reloc is not None and applied.failed_reloc.type == R_PPC64_NONE


def _klp_object() -> ElfObject:
    b = ObjectBuilder()
    text = b.add_section(".text", _words(BL, NOP, BL, NOP))
    b.add_stubs()
    vm = b.add_symbol(".klp.sym.vmlinux.printk,0", bind=STB_GLOBAL, shndx=SHN_LIVEPATCH)
    ext = b.add_symbol(".klp.sym.ext4.foo,0", bind=STB_GLOBAL, shndx=SHN_LIVEPATCH)
    b.add_rela(text, 0, vm, R_PPC_REL24, section=".klp.rela.vmlinux..text")
    b.add_rela(text, 8, ext, R_PPC_REL24, section=".klp.rela.ext4..text")
    return b.build()


def test_only_vmlinux_klp_sections_are_applied_at_load():
    world = SymbolWorld.synthetic()
    res = _load(_klp_object(), world)
    assert res.rc == 0
    mod = res.mod
    values = {s.name: s.value for s in mod.obj.symbols}
    assert values[".klp.sym.vmlinux.printk,0"] == world.lookup(None, "printk")[0]
    assert values[".klp.sym.ext4.foo,0"] == 0
    assert _word(mod, ".text", 0) != BL and _word(mod, ".text", 4) == LD_R2
    assert (_word(mod, ".text", 8), _word(mod, ".text", 12)) == (BL, NOP)
    assert _funcdata(mod, 0) == world.lookup(None, "printk")[0]


def test_simplify_symbols():
    b = ObjectBuilder()
    b.add_section(".text", _words(NOP, NOP))
    b.add_stubs()
    data = b.add_section(".data", bytes(16), flags=SHF_ALLOC | SHF_WRITE, addralign=8)
    b.add_symbol("local", 8, shndx=data)
    b.add_symbol("weakling", bind=STB_WEAK)
    b.add_symbol("__gnu_lto_v1", bind=STB_GLOBAL, shndx=SHN_COMMON)
    obj = b.build()
    world = SymbolWorld(fallback=False)
    res = _load(obj, world)
    assert res.rc == 0
    sym = {s.name: s for s in res.mod.obj.symbols}
    assert sym["local"].value == res.mod.obj.sections[data].addr + 8
    assert sym["weakling"].value == 0
    assert next(s for s in obj.symbols if s.name == "local").value == 8  # caller's copy untouched


@pytest.mark.parametrize(
    ("symbol", "rc", "message"),
    [
        (dict(name="missing", bind=STB_GLOBAL, shndx=SHN_UNDEF), -2,
         ("warn", "%s: Unknown symbol %s (err %d)\n", ("lp", "missing", -2))),
        (dict(name="common", bind=STB_GLOBAL, shndx=SHN_COMMON), -8,
         ("warn", "%s: please compile with -fno-common\n", ("lp",))),
        (dict(name="odd", bind=STB_GLOBAL, shndx=0xFF10), -8,
         ("err", "%s: Symbol %s has an invalid section index %u (max %u)\n",
          ("lp", "odd", 0xFF10, 5))),
    ],
)
def test_simplify_symbols_errors(symbol, rc, message):
    b = ObjectBuilder()
    b.add_section(".text", _words(NOP))
    b.add_stubs()
    b.add_symbol(**symbol)
    res = _load(b.build(), SymbolWorld(fallback=False))
    assert (res.rc, res.failed_in) == (rc, "simplify_symbols")
    assert [(m.level, m.fmt, m.args) for m in res.mod.messages] == [message]


def test_simplify_symbols_visits_every_symbol_and_keeps_the_last_error():
    b = ObjectBuilder()
    b.add_section(".text", _words(NOP))
    b.add_stubs()
    b.add_symbol("common", bind=STB_GLOBAL, shndx=SHN_COMMON)
    b.add_symbol("missing", bind=STB_GLOBAL)
    res = _load(b.build(), SymbolWorld(fallback=False))
    assert res.rc == -2
    assert [(m.fmt, m.args) for m in res.mod.messages] == [
        ("%s: please compile with -fno-common\n", ("lp",)),
        ("%s: Unknown symbol %s (err %d)\n", ("lp", "missing", -2)),
    ]


def test_percpu_versions_and_modinfo_are_not_placed():
    b = ObjectBuilder()
    b.add_section(".text", _words(NOP))
    b.add_stubs()
    pcpu = b.add_section(".data..percpu", bytes(8), flags=SHF_ALLOC | SHF_WRITE)
    b.add_section("__versions", bytes(64), flags=SHF_ALLOC)
    b.add_section(".modinfo", b"description=test\0", flags=SHF_ALLOC)
    b.add_symbol("counter", 4, shndx=pcpu)
    world = SymbolWorld.synthetic()
    res = _load(b.build(), world)
    assert res.rc == 0
    placed = {p.name for p in res.placements}
    assert placed == {".text", ".stubs"}
    counter = next(s for s in res.mod.obj.symbols if s.name == "counter")
    assert counter.value == world.percpu_base("lp") + 4
    assert PERCPU_BASE <= counter.value < PERCPU_BASE + 0x1000_0000


def _minimal(**changes) -> ElfObject:
    b = ObjectBuilder()
    b.add_section(".text", _words(NOP))
    b.add_stubs()
    obj = b.build()
    for k, v in changes.items():
        setattr(obj, k, v)
    return obj


@pytest.mark.parametrize(
    ("obj", "profile", "message"),
    [
        (_minimal(type=3), "v6.12", ("Invalid ELF header type: %u != %u\n", (3, 1))),
        (_minimal(machine=20), "v6.12", ("Invalid architecture in ELF header: %u\n", (20,))),
        (_minimal(flags=1), "v6.12", ("Invalid module architecture in ELF header: %u\n", (21,))),
    ],
)
def test_elf_header_checks(obj, profile, message):
    res = _load(obj, profile=profile)
    assert res.rc == -8
    assert [(m.fmt, m.args) for m in res.mod.messages] == [message]


def test_v6_1_has_no_module_elf_check_arch():
    assert _load(_minimal(flags=1), profile="v6.1").rc == 0


def test_stripped_rel_and_wx_modules():
    stripped = _minimal()
    stripped.sections = [s for s in stripped.sections if s.name != ".symtab"]
    res = _load(stripped)
    assert (res.rc, res.mod.messages[0].fmt) == (-8, "%s: module has no symbols (stripped?)\n")

    b = ObjectBuilder()
    text = b.add_section(".text", _words(NOP))
    b.add_stubs()
    b.add_rela(text, 0, None, R_PPC64_ADDR64)
    obj = b.build()
    obj.sections[obj.section_index(".rela.text")].type = 9  # SHT_REL
    res = _load(obj)
    assert (res.rc, res.mod.messages[0].fmt) == (-8, "module %s: REL relocation unsupported\n")

    b = ObjectBuilder()
    b.add_section(".text", _words(NOP), flags=SHF_ALLOC | SHF_EXECINSTR | SHF_WRITE)
    b.add_stubs()
    res = _load(b.build())
    assert (res.rc, res.failed_in) == (-8, "module_enforce_rwx_sections")
    assert res.mod.messages[0].args == ("lp", ".text", 1)


def test_missing_stubs_fails_in_frob():
    b = ObjectBuilder()
    b.add_section(".text", _words(NOP))
    res = _load(b.build())
    assert (res.rc, res.failed_in, res.placements) == (-8, "module_frob_arch_sections", [])
    assert res.mod.messages[0].fmt == "%s: doesn't contain .stubs.\n"


def test_oversized_module_memory_is_enomem():
    b = ObjectBuilder()
    b.add_section(".text", _words(NOP))
    b.add_stubs()
    b.add_section(".bss", type=8, flags=SHF_ALLOC | SHF_WRITE, size=1 << 45)
    res = _load(b.build())
    assert (res.rc, res.failed_in, res.placements) == (-12, "move_module", [])
    assert res.mod.memory.regions == []


def test_the_callers_object_is_never_modified():
    obj = _klp_object()
    before = obj.clone()
    res = _load(obj)
    assert res.rc == 0 and res.mod.obj != before  # the module's copy was sorted/resolved/placed
    assert obj == before
