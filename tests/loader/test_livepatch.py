"""The livepatch driver: klp name parsing (sscanf semantics), sympos, resolve, coming/going."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ppcreloc.elf.builder import ObjectBuilder
from ppcreloc.elf.model import SHN_LIVEPATCH, SHN_UNDEF, STB_GLOBAL
from ppcreloc.loader.livepatch import (
    EINVAL,
    KlpPatch,
    klp_find_object_symbol,
    klp_resolve_symbols,
    klp_target_objects,
    klp_write_section_relocs,
    scan_klp_rela_name,
    scan_klp_sym_name,
)
from ppcreloc.loader.memory import ModuleMemory
from ppcreloc.loader.module import ModuleState
from ppcreloc.loader.world import SymbolWorld
from ppcreloc.loader.worldspec import world_from_spec
from ppcreloc.records import Config
from ppcreloc.strategies.worlds import symbol_worlds

R_PPC_REL24 = 10


@pytest.mark.parametrize(
    ("name", "want"),
    [
        (".klp.sym.vmlinux.printk,0", (3, "vmlinux", "printk", 0)),
        (".klp.sym.ext4.foo.part.0,2", (3, "ext4", "foo.part.0", 2)),  # symname may hold dots
        (".klp.sym.ext4.foo,2junk", (3, "ext4", "foo", 2)),  # text after %lu is ignored
        (".klp.sym.ext4.foo, \t7", (3, "ext4", "foo", 7)),  # %lu skips spaces
        (".klp.sym.ext4.foo,18446744073709551617", (3, "ext4", "foo", 1)),  # wraps mod 2**64
        (".klp.sym.ext4.foo", (2, "ext4", "foo", None)),  # no ",pos"
        (".klp.sym.ext4.foo,", (2, "ext4", "foo", None)),
        (".klp.sym.ext4.foo,-1", (2, "ext4", "foo", None)),  # %lu takes no sign
        (".klp.sym.ext4.foo,+1", (2, "ext4", "foo", None)),
        (".klp.sym.ext4.,1", (1, "ext4", None, None)),  # empty symname
        (".klp.sym.ext4", (1, "ext4", None, None)),
        (".klp.sym..foo,1", (0, None, None, None)),  # empty objname
        (".klp.sym.", (0, None, None, None)),
        (".klp.syms.ext4.foo,1", (0, None, None, None)),
        ("klp.sym.ext4.foo,1", (0, None, None, None)),
        (".klp.sym.ext4.fo\0o,1", (2, "ext4", "fo", None)),  # the C string ends at NUL
        (".klp.sym." + "m" * 55 + ".f,1", (3, "m" * 55, "f", 1)),
        (".klp.sym." + "m" * 56 + ".f,1", (1, "m" * 55, None, None)),  # 56th char is no '.'
        (".klp.sym.m." + "s" * 511 + ",1", (3, "m", "s" * 511, 1)),
        (".klp.sym.m." + "s" * 512 + ",1", (2, "m", "s" * 511, None)),  # 512th char is no ','
        (".klp.sym.m." + "é" * 256 + ",1", (2, "m", "é" * 255 + "\udcc3", None)),  # widths count bytes
    ],
)
def test_klp_sym_names(name, want):
    assert scan_klp_sym_name(name) == want


@pytest.mark.parametrize(
    ("name", "want"),
    [
        (".klp.rela.ext4.text", (1, "ext4")),
        (".klp.rela.vmlinux..text.unlikely", (1, "vmlinux")),
        (".klp.rela.ext4", (1, "ext4")),  # the rest of the name is ignored
        (".klp.rela." + "b" * 60 + ".text", (1, "b" * 55)),  # silently truncated
        (".klp.rela..text", (0, None)),
        (".klp.rela.", (0, None)),
        (".rela.text", (0, None)),
    ],
)
def test_klp_rela_names(name, want):
    assert scan_klp_rela_name(name) == want


@given(st.from_regex(r"[a-z_]{1,55}", fullmatch=True), st.from_regex(r"[a-z_.]{1,80}", fullmatch=True),
       st.integers(0, 2**64 - 1))
def test_well_formed_names_round_trip(obj, sym, pos):
    assert scan_klp_sym_name(f".klp.sym.{obj}.{sym},{pos}") == (3, obj, sym, pos)


def _mod(world: SymbolWorld, obj=None) -> ModuleState:
    return ModuleState("lp", obj or ObjectBuilder().build(), Config(), world, ModuleMemory())


def _dup_world() -> SymbolWorld:
    w = SymbolWorld(fallback=False)
    w.add_symbol("ext4", "uniq", 0xC008000000A00100)
    for k in range(3):
        w.add_symbol("ext4", "dup", 0xC008000000A00200 + 0x10 * k)
        w.add_symbol(None, "vdup", 0xC000000000100000 + 0x10 * k)
    w.add_symbol("ext4", "zero", 0)
    return w


@pytest.mark.parametrize(
    ("obj", "name", "pos", "rc", "addr", "message"),
    [
        ("ext4", "uniq", 0, 0, 0xC008000000A00100, None),
        ("ext4", "uniq", 1, 0, 0xC008000000A00100, None),
        ("ext4", "dup", 2, 0, 0xC008000000A00210, None),
        ("ext4", "dup", 3, 0, 0xC008000000A00220, None),
        ("ext4", "dup", 0, -EINVAL, 0,
         ("unresolvable ambiguity for symbol '%s' in object '%s'\n", ("dup", "ext4"))),
        (None, "vdup", 0, -EINVAL, 0,
         ("unresolvable ambiguity for symbol '%s' in object '%s'\n", ("vdup", "(null)"))),
        ("ext4", "dup", 4, -EINVAL, 0,
         ("symbol position %lu for symbol '%s' in object '%s' not found\n", (4, "dup", "ext4"))),
        (None, "vdup", 9, -EINVAL, 0,
         ("symbol position %lu for symbol '%s' in object '%s' not found\n", (9, "vdup", "vmlinux"))),
        ("ext4", "uniq", 2, -EINVAL, 0,
         ("symbol position %lu for symbol '%s' in object '%s' not found\n", (2, "uniq", "ext4"))),
        ("ext4", "none", 0, -EINVAL, 0, ("symbol '%s' not found in symbol table\n", ("none",))),
        ("ext4", "zero", 0, -EINVAL, 0, ("symbol '%s' not found in symbol table\n", ("zero",))),
    ],
)
def test_sympos(obj, name, pos, rc, addr, message):
    mod = _mod(_dup_world())
    assert klp_find_object_symbol(mod, obj, name, pos, 0) == (rc, addr)
    assert [(m.fmt, m.args) for m in mod.messages] == ([message] if message else [])
    assert all(m.level == "err" for m in mod.messages)


def test_sympos_follows_the_generation():
    w = _dup_world()
    w.set_module_bases("ext4", [0xC008000000A00000, 0xC008100000000000])
    mod = _mod(w)
    assert klp_find_object_symbol(mod, "ext4", "dup", 2, 1) == (0, 0xC008100000000210)


def _klp_object(symnames: list[str], section: str = ".klp.rela.ext4..text", shndx=SHN_LIVEPATCH):
    b = ObjectBuilder()
    text = b.add_section(".text", bytes(8 * len(symnames)))
    b.add_stubs()
    for k, name in enumerate(symnames):
        s = b.add_symbol(name, bind=STB_GLOBAL, shndx=shndx)
        b.add_rela(text, 8 * k, s, R_PPC_REL24, section=section)
    return b.build()


@pytest.mark.parametrize(
    ("symname", "section", "shndx", "message"),
    [
        (".klp.sym.ext4.uniq,0", ".klp.rela.ext4..text", SHN_UNDEF,
         ("symbol %s is not marked as a livepatch symbol\n", (".klp.sym.ext4.uniq,0",))),
        (".klp.sym.ext4.uniq", ".klp.rela.ext4..text", SHN_LIVEPATCH,
         ("symbol %s has an incorrectly formatted name\n", (".klp.sym.ext4.uniq",))),
        (".klp.sym.vmlinux.vdup,1", ".klp.rela.ext4..text", SHN_LIVEPATCH,
         ("invalid access to vmlinux symbol '%s' from module-specific livepatch relocation "
          "section\n", ("vdup",))),
    ],
)
def test_resolve_errors(symname, section, shndx, message):
    obj = _klp_object([symname], section, shndx)
    mod = _mod(_dup_world(), obj)
    relsec = obj.section_index(section)
    assert klp_resolve_symbols(mod, relsec, "ext4", {}) == -EINVAL
    assert [(m.fmt, m.args) for m in mod.messages] == [message]


def test_resolve_writes_st_value_and_reads_past_the_symtab_as_oob():
    obj = _klp_object([".klp.sym.ext4.dup,3", ".klp.sym.vmlinux.vdup,1"], ".klp.rela.vmlinux..text")
    mod = _mod(_dup_world(), obj)
    relsec = obj.section_index(".klp.rela.vmlinux..text")
    assert klp_resolve_symbols(mod, relsec, "vmlinux", {}) == 0
    values = {s.name: s.value for s in obj.symbols}
    assert values[".klp.sym.ext4.dup,3"] == 0xC008000000A00220
    assert values[".klp.sym.vmlinux.vdup,1"] == 0xC000000000100000
    obj.relocs[relsec][0].sym = 99
    assert klp_resolve_symbols(mod, relsec, "vmlinux", {}) == -EINVAL
    assert mod.messages[-1].args == ("",)
    assert [(e.kind, e.what) for e in mod.memory.oob] == [("read", "symtab entry")]
    assert mod.memory.oob[0].reloc is not None and mod.memory.oob[0].reloc.sym == 99


def test_badly_named_klp_section():
    obj = _klp_object([".klp.sym.ext4.uniq,0"], ".klp.rela..text")
    mod = _mod(_dup_world(), obj)
    rc = klp_write_section_relocs(_Recorder(), mod, obj.section_index(".klp.rela..text"), "ext4", True)
    assert rc == -EINVAL
    assert [(m.fmt, m.args) for m in mod.messages] == [
        ("section %s has an incorrectly formatted name\n", (".klp.rela..text",))
    ]


@dataclass
class _Recorder:
    """A test double implementing the ArchBackend protocol: records calls and symbol values."""

    name: str = "recorder"
    resolve_before_clear: bool = False
    fail_apply: int = 0
    calls: list[tuple[str, int, tuple[int, ...]]] = field(default_factory=list)

    def module_frob_arch_sections(self, mod: ModuleState) -> int:
        return 0

    def module_finalize_ftrace(self, mod: ModuleState) -> int:
        return 0

    def apply_relocate_add(self, mod: ModuleState, symindex: int, relsec: int) -> int:
        self.calls.append(("apply", relsec, tuple(s.value for s in mod.obj.symbols)))
        return self.fail_apply

    def clear_relocate_add(self, mod: ModuleState, symindex: int, relsec: int) -> None:
        self.calls.append(("clear", relsec, tuple(s.value for s in mod.obj.symbols)))


def _patch(backend, world=None):
    b = ObjectBuilder()
    text = b.add_section(".text", bytes(16))
    b.add_stubs()
    for obj, name in (("ext4", "uniq"), ("xfs", "f"), ("vmlinux", "printk")):
        s = b.add_symbol(f".klp.sym.{obj}.{name},0", bind=STB_GLOBAL, shndx=SHN_LIVEPATCH)
        b.add_rela(text, 0, s, R_PPC_REL24, section=f".klp.rela.{obj}..text")
    mod = _mod(world or _dup_world(), b.build())
    return KlpPatch.for_module(backend, mod), mod


def test_target_objects_exclude_vmlinux():
    patch, mod = _patch(_Recorder())
    assert klp_target_objects(mod) == ["ext4", "xfs"] == patch.objects


@pytest.mark.parametrize("resolve_before_clear", [False, True])
def test_coming_applies_and_going_clears_only_that_object(resolve_before_clear):
    rec = _Recorder(resolve_before_clear=resolve_before_clear)
    world = SymbolWorld.synthetic()
    patch, mod = _patch(rec, world)
    ext4 = mod.obj.section_index(".klp.rela.ext4..text")
    sym = next(i for i, s in enumerate(mod.obj.symbols) if s.name == ".klp.sym.ext4.uniq,0")
    assert patch.klp_module_coming("ext4", 1) == 0
    assert [c[:2] for c in rec.calls] == [("apply", ext4)]
    assert rec.calls[0][2][sym] == world.lookup("ext4", "uniq", 1)[0]
    assert mod.messages[-1].fmt == "applying patch '%s' to loading module '%s'\n"
    mod.obj.symbols[sym].value = 0  # does clear re-resolve?
    patch.klp_module_going("ext4")
    assert [c[:2] for c in rec.calls] == [("apply", ext4), ("clear", ext4)]
    want = world.lookup("ext4", "uniq", 1)[0] if resolve_before_clear else 0
    assert rec.calls[1][2][sym] == want
    assert (mod.messages[-1].fmt, mod.messages[-1].args) == (
        "reverting patch '%s' on unloading module '%s'\n", ("lp", "ext4"))


def test_failed_coming_is_not_cleared_and_going_is_skipped():
    rec = _Recorder(fail_apply=-8)
    patch, mod = _patch(rec)
    assert patch.klp_module_coming("ext4", 0) == -8
    assert [(m.level, m.fmt, m.args) for m in mod.messages] == [
        ("warn", "failed to initialize patch '%s' for module '%s' (%d)\n", ("lp", "ext4", -8)),
        ("warn", "patch '%s' failed for module '%s', refusing to load module '%s'\n",
         ("lp", "ext4", "ext4")),
    ]
    patch.klp_module_going("ext4")  # the kernel never calls klp_module_going for it
    assert [c[0] for c in rec.calls] == ["apply"]
    assert patch.loaded == {}


def test_unrelated_and_vmlinux_objects():
    rec = _Recorder()
    patch, mod = _patch(rec)
    assert patch.klp_module_coming("btrfs", 0) == 0
    assert rec.calls == [] and mod.messages == []
    assert patch.klp_module_coming("vmlinux", 0) == -EINVAL
    assert mod.messages[-1].fmt == "vmlinux.ko: invalid module name\n"


def test_resolution_failure_on_coming_stops_before_apply():
    rec = _Recorder()
    patch, mod = _patch(rec, SymbolWorld(fallback=False))
    assert patch.klp_module_coming("ext4", 0) == -EINVAL
    assert rec.calls == []
    assert mod.messages[0].fmt == "symbol '%s' not found in symbol table\n"


@given(symbol_worlds(max_dups=3), st.data())
def test_sympos_agrees_with_the_world_spec(spec, data):
    """klp_find_object_symbol against ppcreloc.strategies.worlds' independent sympos rule."""
    world = world_from_spec(spec)
    world.fallback = False
    mod = _mod(world)
    obj = data.draw(st.sampled_from(spec.modules))
    name = data.draw(st.sampled_from([s.name for s in obj.symbols] + ["absent"]))
    pos = data.draw(st.integers(0, 4))
    gen = data.draw(st.integers(0, len(obj.bases) - 1))
    want = obj.address(name, pos, gen)
    rc, addr = klp_find_object_symbol(mod, obj.name, name, pos, gen)
    assert (rc, addr) == ((0, want) if want is not None else (-EINVAL, 0))
    assert len(mod.messages) == (0 if want is not None else 1)


def test_object_relocs_stop_at_the_first_failing_section_and_ignore_target_flags():
    b = ObjectBuilder()
    text = b.add_section(".text", bytes(16))
    note = b.add_section(".klp.note", bytes(16), flags=0)  # not SHF_ALLOC
    b.add_stubs()
    ok = b.add_symbol(".klp.sym.ext4.uniq,0", bind=STB_GLOBAL, shndx=SHN_LIVEPATCH)
    bad = b.add_symbol(".klp.sym.ext4.none,0", bind=STB_GLOBAL, shndx=SHN_LIVEPATCH)
    b.add_rela(note, 0, ok, R_PPC_REL24, section=".klp.rela.ext4.klp.note")
    b.add_rela(text, 0, bad, R_PPC_REL24, section=".klp.rela.ext4..text")
    b.add_rela(text, 8, ok, R_PPC_REL24, section=".klp.rela.ext4..text.more")
    obj = b.build()
    rec = _Recorder()
    patch = KlpPatch.for_module(rec, _mod(_dup_world(), obj))
    assert patch.klp_module_coming("ext4", 0) == -EINVAL
    # the non-ALLOC target's section is applied (no SHF_ALLOC filter here, unlike at load);
    # the failing .text section stops the walk before .text.more
    assert [c[1] for c in rec.calls] == [obj.section_index(".klp.rela.ext4.klp.note")]
