"""SymbolWorld: kallsyms/System.map parsing, synthetic addresses, generations, serialisation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ppcreloc.errors import PpcrelocError
from ppcreloc.loader.world import (
    FTRACE_NAMES,
    KERNEL_TOC,
    MODULE_AREA,
    TARGET_AREA,
    VMLINUX_BASE,
    SymbolWorld,
    WorldError,
)
from ppcreloc.loader.worldspec import world_from_spec
from ppcreloc.strategies.worlds import resolvable, symbol_worlds

KALLSYMS = """\
c000000000000000 T _stext
c000000000010000 T printk
c000000000020000 t helper
c000000000030000 t helper
c000000001c00000 d .TOC.
c008000000a10000 t ext4_foo\t[ext4]
c008000000a10100 T ext4_bar\t[ext4]
c008000000a10200 t ext4_foo\t[ext4]
c008000000b20000 t xfs_foo\t[xfs]
"""

SYSTEM_MAP = """\
c000000000000000 T _stext
c000000000010000 T printk
c000000001c00000 d .TOC.
"""


def test_kallsyms_lists_duplicates_in_order():
    w = SymbolWorld.from_kallsyms(KALLSYMS)
    assert w.lookup(None, "helper") == [0xC000000000020000, 0xC000000000030000]
    assert w.lookup("vmlinux", "printk") == [0xC000000000010000]
    assert w.lookup("ext4", "ext4_foo", 0) == [0xC008000000A10000, 0xC008000000A10200]
    assert w.module_base("ext4", 0) == 0xC008000000A10000
    assert w.kernel_toc_addr() == 0xC000000001C00000
    assert w.resolve_export("printk") == 0xC000000000010000
    assert w.resolve_export("ext4_bar") == 0xC008000000A10100


def test_system_map_and_file_source(tmp_path):
    path = tmp_path / "System.map"
    path.write_text(SYSTEM_MAP)
    w = SymbolWorld.from_kallsyms(path)
    assert w.vmlinux_symbol("printk") == 0xC000000000010000
    assert w == SymbolWorld.from_kallsyms(str(path))
    assert w == SymbolWorld.from_kallsyms(SYSTEM_MAP)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("c000000000000000 T\n", "<kallsyms text>:1: expected 'address type name [module]'"),
        ("c000000000000000 T a\nzzzz T b\n", "<kallsyms text>:2: bad address 'zzzz'"),
        ("c000000000000000 T a\nc0 T b ext4\n", "<kallsyms text>:2: bad module column 'ext4'"),
        ("c000000000000000 TT a\n", "<kallsyms text>:1: bad address or type"),
        ("1c000000000000000 T a\n", "<kallsyms text>:1: bad address or type"),
        ("0000000000000000 T a\n0000000000000000 T b\n", "every address is zero"),
        ("\n\n", "no symbols"),
    ],
)
def test_bad_maps_give_one_line_errors(text, fragment):
    with pytest.raises(WorldError) as e:
        SymbolWorld.from_kallsyms(text)
    assert fragment in str(e.value)
    assert "\n" not in str(e.value)
    assert isinstance(e.value, PpcrelocError)


def test_bad_line_names_the_file(tmp_path):
    path = tmp_path / "kallsyms"
    path.write_text("c000000000000000 T ok\nnot a kallsyms line at all\n")
    with pytest.raises(WorldError, match=rf"^{path}:2: expected"):
        SymbolWorld.from_kallsyms(path)
    with pytest.raises(WorldError, match="cannot read symbol map"):
        SymbolWorld.from_kallsyms(tmp_path / "missing")


def test_generations_get_fresh_bases_and_keep_offsets():
    for w in (SymbolWorld.synthetic(), SymbolWorld.from_kallsyms(KALLSYMS)):
        bases = [w.module_base("ext4", g) for g in range(40)]
        assert len(set(bases)) == len(bases)
        assert all(b >= TARGET_AREA for b in bases[1:])
        first = w.lookup("ext4", "ext4_foo", 0)
        for g in range(1, 40):
            delta = bases[g] - bases[0]
            assert w.lookup("ext4", "ext4_foo", g) == [a + delta for a in first]
            # unlisted names shift with the base too
            assert w.lookup("ext4", "other", g)[0] - bases[g] == w.lookup("ext4", "other", 0)[0] - bases[0]
    with pytest.raises(WorldError, match="generation"):
        SymbolWorld.synthetic().module_base("ext4", -1)


@given(st.lists(st.text("abcdefgh_", min_size=1, max_size=8), min_size=1, max_size=6, unique=True),
       st.integers(0, 3))
def test_module_bases_never_repeat_or_touch_the_livepatch_window(names, seed):
    w = SymbolWorld.synthetic(seed)
    seen: set[int] = set()
    for name in names:
        for g in range(6):
            base = w.module_base(name, g)
            assert base not in seen
            assert not MODULE_AREA <= base < TARGET_AREA
            seen.add(base)


@given(st.lists(st.text("abcxyz_.", min_size=1, max_size=6), min_size=1, max_size=12, unique=True))
def test_synthetic_addresses_do_not_depend_on_query_order(names):
    a, b = SymbolWorld.synthetic(7), SymbolWorld.synthetic(7)
    fwd = {n: (a.lookup(None, n), a.lookup("m", n, 2)) for n in names}
    back = {n: (b.lookup(None, n), b.lookup("m", n, 2)) for n in reversed(names)}
    assert fwd == back
    vm = [v[0][0] for v in fwd.values()]
    assert all(VMLINUX_BASE <= x < VMLINUX_BASE + 0x4000_0000 for x in vm)
    assert len(set(vm)) == len(vm)


def test_seed_changes_synthetic_addresses():
    names = ["a", "b", "c", "d"]
    assert [SymbolWorld.synthetic(1).lookup(None, n) for n in names] != [
        SymbolWorld.synthetic(2).lookup(None, n) for n in names
    ]


def test_strict_world_finds_only_listed_names_but_always_ftrace():
    w = SymbolWorld(fallback=False)
    w.add_symbol("ext4", "f", 0xC008000000A00000)
    assert w.lookup("ext4", "g") == []
    assert w.lookup(None, "g") == []
    assert w.resolve_export("g") is None
    for name in FTRACE_NAMES:
        addr = w.vmlinux_symbol(name)
        assert addr is not None and abs(addr - w.kernel_toc_addr()) < 2**31
    assert w.kernel_toc_addr() == KERNEL_TOC


def test_func_descs():
    w = SymbolWorld.synthetic()
    w.add_func_desc(0xC000000000001000, 0xC000000000002000, 0xC000000001C08000, 5)
    assert w.read_func_desc(0xC000000000001000) == (0xC000000000002000, 0xC000000001C08000, 5)
    entry, toc, env = w.read_func_desc(0xC000000000003000)
    assert (entry, toc, env) == (0xC000000000003100, KERNEL_TOC, 0)
    base = w.module_base("ext4", 1)
    assert w.read_func_desc(base + 0x40)[1] == base + 0x8000


def test_kallsyms_text_records_a_generation():
    w = SymbolWorld.from_kallsyms(KALLSYMS)
    synth = w.lookup("ext4", "not_listed", 3)[0]
    vm = w.lookup(None, "not_listed_either")[0]
    again = SymbolWorld.from_kallsyms(w.to_kallsyms_text({"ext4": 3}))
    assert again.lookup("ext4", "ext4_foo", 0) == w.lookup("ext4", "ext4_foo", 3)
    assert again.lookup("ext4", "not_listed", 0) == [synth]
    assert again.lookup(None, "not_listed_either") == [vm]
    assert again.lookup(None, "helper") == w.lookup(None, "helper")
    assert again.kernel_toc_addr() == w.kernel_toc_addr()


def test_equality_and_repr():
    a = SymbolWorld.from_kallsyms(KALLSYMS)
    b = SymbolWorld.from_kallsyms(KALLSYMS)
    a.lookup(None, "cache_does_not_count")
    assert a == b
    b.add_symbol(None, "extra", 0xC000000000040000)
    assert a != b
    assert SymbolWorld.synthetic(1) != SymbolWorld.synthetic(2)
    assert repr(a) == "SymbolWorld(seed=0, fallback=True, symbols=9, modules=['ext4', 'xfs'])"


@given(symbol_worlds())
def test_world_from_spec_agrees_with_the_spec(spec):
    w = world_from_spec(spec)
    assert w.kernel_toc_addr() == spec.kernel_toc
    for mod in spec.modules:
        for g, base in enumerate(mod.bases):
            assert w.module_base(mod.name, g) == base
        for choice in resolvable(spec, mod.name):
            for g in range(len(mod.bases)):
                hits = w.lookup(mod.name, choice.name, g)
                want = mod.address(choice.name, choice.pos, g)
                pos = choice.pos or 1
                assert hits[pos - 1] == want
    for name, addr in spec.exports().items():
        assert w.resolve_export(name) == addr


def test_names_that_are_not_utf8():
    w = SymbolWorld.synthetic()
    name = b"t\xccrget".decode("utf-8", "surrogateescape")
    assert w.module_base(name, 1) != w.module_base(name, 0)
    assert len(w.lookup(name, b"f\xffo".decode("utf-8", "surrogateescape"), 1)) == 1


def test_vmlinux_matches_come_in_address_order_module_matches_in_listed_order():
    w = SymbolWorld(fallback=False)
    for addr in (0xC000000000300000, 0xC000000000100000, 0xC000000000200000):
        w.add_symbol(None, "dup", addr)
        w.add_symbol("ext4", "dup", addr + 0xC008000000000000 - 0xC000000000000000)
    assert w.lookup(None, "dup") == [0xC000000000100000, 0xC000000000200000, 0xC000000000300000]
    assert w.lookup("ext4", "dup") == [0xC008000000300000, 0xC008000000100000, 0xC008000000200000]


def test_nm_output_with_undefined_lines():
    w = SymbolWorld.from_kallsyms("                 U printk\nc000000000001000 T _stext\n                 w weak\n")
    assert w.lookup(None, "_stext") == [0xC000000000001000]
    assert len(w.entries) == 1
