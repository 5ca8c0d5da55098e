"""Each profile's signature behaviour on small objects, and the .stubs exhaustion scenario.

Driven at the arch level: load (frob, place, finalize_ftrace) once, then per cycle set the
livepatch symbols' st_value (as klp_resolve_symbols would, the target reloaded at a new address)
and call apply_relocate_add / clear_relocate_add on the relocation section.
"""

from __future__ import annotations

import pytest

from ppcreloc.arch.testbed import load
from ppcreloc.elf.builder import ObjectBuilder
from ppcreloc.elf.model import (
    SHF_ALLOC,
    SHF_WRITE,
    SHN_LIVEPATCH,
    STB_GLOBAL,
    STT_FUNC,
    STT_SECTION,
)
from ppcreloc.errors import UsageError
from ppcreloc.loader.module import ModuleState
from ppcreloc.ppc64 import reloctypes as rt
from ppcreloc.profiles import PROFILES, get_profile
from ppcreloc.records import KernelMessage

BL, NOP, LD_R2 = 0x48000001, 0x60000000, 0xE8410018
TARGET = 0xC008_0000_0200_0000  # the patched module's function, generation 0
STRIDE = 0x10_0000  # each reload puts the target module 1 MiB further


def test_registry():
    assert list(PROFILES) == ["v6.1", "klp-clear-v7", "v6.12", "full-undo", "v6.13", "v6.18"]
    for key, cls in PROFILES.items():
        assert cls.name == key and cls.summary and "\n" not in cls.summary
        assert get_profile(key).name == key
    assert [k for k, c in PROFILES.items() if c.resolve_before_clear] == ["klp-clear-v7"]
    assert [k for k, c in PROFILES.items() if c.patch_text_only] == ["v6.13", "v6.18"]
    with pytest.raises(UsageError, match=r"unknown engine 'x' \(known: v6.1, klp-clear-v7, "
                                         r"v6.12, full-undo, v6.13, v6.18\)"):
        get_profile("x")


def klp_object(extra_types: bool = False, big_text: bool = False):
    """.text: an external bl;nop at 0x10 (REL24 to a SHN_LIVEPATCH symbol), optionally data types
    with non-zero placeholders; .data, .toc, .stubs."""
    text = bytearray(b"\x5a" * 64)
    text[0x10:0x18] = BL.to_bytes(4, "little") + NOP.to_bytes(4, "little")
    text[0x20:0x24] = BL.to_bytes(4, "little")
    b = ObjectBuilder()
    t = b.add_section(".text", bytes(text))
    d = b.add_section(".data", b"\xa5" * 32, flags=SHF_ALLOC | SHF_WRITE, addralign=8)
    b.add_section(".toc", bytes(8), flags=SHF_ALLOC | SHF_WRITE, addralign=8)
    b.add_stubs()
    fn = b.add_symbol(".klp.sym.target.fn,0", bind=STB_GLOBAL, type=STT_FUNC,
                      shndx=SHN_LIVEPATCH)
    klp = ".klp.rela.target.text"
    b.add_rela(t, 0x10, fn, rt.R_PPC_REL24, section=klp)
    if extra_types:
        var = b.add_symbol(".klp.sym.target.var,0", bind=STB_GLOBAL, shndx=SHN_LIVEPATCH)
        b.add_rela(d, 0, var, rt.R_PPC64_ADDR64, 8, section=klp)
        b.add_rela(d, 8, var, rt.R_PPC64_REL32, 0, section=klp)
        b.add_rela(t, 0x20, b.section_symbol(t), rt.R_PPC_REL24, 0x30, section=klp)
        b.add_rela(t, 0x28, var, rt.R_PPC64_TOC16_LO_DS, 4, section=klp)
    return b.build()


class Cycle:
    """A loaded livepatch module and its klp relocation section."""

    def __init__(self, profile: str, after_stubs: bytes = bytes(64), **kw: bool) -> None:
        self.prof = get_profile(profile)
        self.mod, rc = load(self.prof, klp_object(**kw), after_stubs=after_stubs)
        assert rc == 0, self.mod.messages
        self.relsec = self.mod.obj.section_index(".klp.rela.target.text")
        for sym in self.mod.obj.symbols:  # simplify_symbols: section symbols get sh_addr
            if sym.type == STT_SECTION:
                sym.value = self.mod.obj.sections[sym.shndx].addr

    @property
    def m(self) -> ModuleState:
        return self.mod

    def resolve(self, generation: int) -> None:
        for s in self.mod.obj.symbols:
            if s.name.startswith(".klp.sym.target."):
                s.value = TARGET + generation * STRIDE + (0x800 if "var" in s.name else 0)

    def apply(self, generation: int) -> int:
        self.resolve(generation)
        return self.prof.apply_relocate_add(self.mod, self.mod.obj.symtab_index, self.relsec)

    def clear(self) -> None:
        self.prof.clear_relocate_add(self.mod, self.mod.obj.symtab_index, self.relsec)

    def word(self, off: int) -> int:
        text = self.mod.obj.sections[1].addr
        return int.from_bytes(self.mod.memory.read(text + off, 4, "t"), "little")

    def funcdata(self, slot: int) -> int:
        base = self.mod.obj.sections[self.mod.arch.stubs_section].addr
        return int.from_bytes(self.mod.memory.read(base + 40 * slot + 32, 8, "t"), "little")

    def outside_stubs(self) -> dict[int, bytes]:
        snap = self.mod.memory.snapshot()
        snap.pop(self.mod.arch.stubs_section)
        return snap


# -- signatures: apply, (clear), apply again ------------------------------------------------------
def test_v6_1_second_apply_fails_expected_nop():
    c = Cycle("v6.1")
    assert c.apply(0) == 0 and c.word(0x14) == LD_R2
    assert c.apply(0) == -8
    text = c.mod.obj.sections[1].addr
    assert c.mod.messages[-1] == KernelMessage(
        "err", "%s: Expected nop after call, got %08x at %pS\n", ("testmod", LD_R2, text + 0x14))
    assert c.mod.messages[-1].render().startswith("testmod: Expected nop after call, got e8410018")


def test_v6_12_second_apply_succeeds_and_bytes_unchanged():
    c = Cycle("v6.12", extra_types=True)
    assert c.apply(0) == 0
    before = c.mod.memory.snapshot()
    n = len(c.mod.memory.writes)
    assert c.apply(0) == 0
    assert c.mod.memory.snapshot() == before
    assert all(w.old == w.new for w in c.mod.memory.writes[n:])


def test_v6_12_clear_is_a_no_op():
    c = Cycle("v6.12")
    assert c.apply(0) == 0
    n = len(c.mod.memory.writes)
    c.clear()
    assert len(c.mod.memory.writes) == n


def test_klp_clear_v7_writes_nop_at_p_plus_4_only():
    c = Cycle("klp-clear-v7", extra_types=True)
    assert c.apply(0) == 0
    applied = c.mod.memory.snapshot()
    n = len(c.mod.memory.writes)
    c.clear()
    new = c.mod.memory.writes[n:]
    text = c.mod.obj.sections[1].addr
    assert [(w.addr, w.new, w.primitive) for w in new] == [
        (text + 0x14, NOP.to_bytes(4, "little"), "patch_instruction")]
    after = c.mod.memory.snapshot()
    assert after[1][:0x14] == applied[1][:0x14] and after[1][0x18:] == applied[1][0x18:]
    assert after[2] == applied[2]  # data relocations stay applied
    assert c.apply(1) == 0 and c.word(0x14) == LD_R2  # 6.1 restore_r2 sees its nop again


def test_klp_clear_v7_skips_non_link_and_local_calls():
    c = Cycle("klp-clear-v7", extra_types=True)
    assert c.apply(0) == 0
    c.mod.memory.write(c.mod.obj.sections[1].addr + 0x10, (0x48000000).to_bytes(4, "little"),
                       "store", "turn bl into b")
    n = len(c.mod.memory.writes)
    c.clear()
    assert c.mod.memory.writes[n:] == []  # the local REL24 at 0x20 is not SHN_UNDEF/LIVEPATCH


def test_full_undo_clear_restores_pre_apply_bytes_exactly():
    c = Cycle("full-undo", extra_types=True)
    pristine = c.outside_stubs()
    assert c.apply(0) == 0
    assert c.outside_stubs() != pristine
    c.clear()
    assert c.outside_stubs() == pristine
    assert c.apply(3) == 0 and c.word(0x14) == LD_R2


# -- .stubs exhaustion: 4 slots (2 ftrace, 1 call, 1 spare), target at a new address each cycle ----
def cycles(profile: str, n: int, after_stubs: bytes = bytes(64), clear: bool = False):
    c = Cycle(profile, after_stubs=after_stubs)
    assert c.mod.obj.sections[c.mod.arch.stubs_section].sh_size == 4 * 40
    out = []
    for gen in range(n):
        w0, o0, warns0 = len(c.mod.memory.writes), len(c.mod.memory.oob), c.mod.warns
        rc = c.apply(gen)
        writes = c.mod.memory.writes[w0:]
        oob_writes = [o for o in c.mod.memory.oob[o0:] if o.kind == "write"]
        out.append((rc, c.mod.warns - warns0, writes, oob_writes))
        if clear:
            c.clear()
    return c, out


def test_v6_12_exhaustion_with_zeroed_memory_after_stubs():
    c, out = cycles("v6.12", 4)
    assert [(rc, warns) for rc, warns, _, _ in out] == [(0, 0), (0, 0), (0, 0), (-2, 1)]
    assert c.funcdata(3) == TARGET + STRIDE  # cycle 2 filled the last (terminator) slot
    assert not out[1][3]
    # cycle 3: a whole 40-byte stub written past the end of .stubs, silently
    end = c.mod.obj.sections[c.mod.arch.stubs_section].addr + 160
    oob = out[2][3]
    assert oob and min(o.addr for o in oob) == end and max(o.addr + o.size for o in oob) == end + 40
    assert c.funcdata(4) == TARGET + 2 * STRIDE
    stub4 = end
    d = stub4 - (c.mod.obj.sections[1].addr + 0x10)
    assert c.word(0x10) == BL | (d & 0x03FFFFFC)  # the branch points at the out-of-bounds stub
    # cycle 4: the walk reaches i == num_stubs with non-zero funcdata -> WARN_ON, -ENOENT
    assert out[3][2] == []


def test_v6_12_exhaustion_with_nonzero_memory_after_stubs():
    c, out = cycles("v6.12", 3, after_stubs=b"\xff" * 64)
    assert [(rc, warns) for rc, warns, _, _ in out] == [(0, 0), (0, 0), (-2, 1)]
    assert all(not o for _, _, _, o in out)
    assert any(o.kind == "read" for o in c.mod.memory.oob)  # stubs[4].funcdata was read


def test_v6_1_consumes_a_stub_on_failed_apply():
    c, out = cycles("v6.1", 2)
    assert [rc for rc, *_ in out] == [0, -8]
    assert c.funcdata(3) == TARGET + STRIDE  # allocated before restore_r2 failed


def test_klp_clear_v7_still_exhausts_stubs():
    c, out = cycles("klp-clear-v7", 4, clear=True)
    assert [(rc, warns) for rc, warns, _, _ in out] == [(0, 0), (0, 0), (0, 0), (-2, 1)]
    assert out[2][3]  # the out-of-bounds stub write of cycle 3


def test_full_undo_reload_cycles_stay_in_bounds():
    c, out = cycles("full-undo", 12, clear=True)
    assert all(rc == 0 and warns == 0 and not oob for rc, warns, _, oob in out)
    assert all(w.in_bounds for _, _, writes, _ in out for w in writes)
    assert c.funcdata(3) == 0  # the terminator slot stays free


def test_full_undo_shared_stub_survives_other_sections_clear():
    """A stub found by a second section stays allocated when the first section is cleared."""
    b = ObjectBuilder()
    t = b.add_section(".text", bytes(64))
    u = b.add_section(".text.u", bytes(64))
    b.add_stubs()
    for sec in (t, u):
        words = BL.to_bytes(4, "little") + NOP.to_bytes(4, "little")
        b.sections[sec].data = words + bytes(56)
    fn = b.add_symbol("fn", bind=STB_GLOBAL)
    b.add_rela(t, 0, fn, rt.R_PPC_REL24)
    b.add_rela(u, 0, fn, rt.R_PPC_REL24)
    prof = get_profile("full-undo")
    mod, rc = load(prof, b.build())
    for s in mod.obj.symbols:
        if s.name == "fn":
            s.value = TARGET
    r_t, r_u = mod.obj.section_index(".rela.text"), mod.obj.section_index(".rela.text.u")
    assert prof.apply_relocate_add(mod, mod.obj.symtab_index, r_t) == 0
    assert prof.apply_relocate_add(mod, mod.obj.symtab_index, r_u) == 0
    prof.clear_relocate_add(mod, mod.obj.symtab_index, r_t)
    stubs = mod.obj.sections[mod.arch.stubs_section].addr
    slot2 = int.from_bytes(mod.memory.read(stubs + 80 + 32, 8, "t"), "little")
    assert slot2 == TARGET  # still used by .text.u
    prof.clear_relocate_add(mod, mod.obj.symtab_index, r_u)
    assert int.from_bytes(mod.memory.read(stubs + 80 + 32, 8, "t"), "little") == 0


def test_v6_18_counter_scheme_overflows_once_without_warning_then_warns():
    c = Cycle("v6.18")
    stubs = c.mod.obj.sections[c.mod.arch.stubs_section]
    assert stubs.sh_size == 3 * 40  # no terminator slot: 2 ftrace + 1 call
    assert c.mod.arch.stub_count == 2
    assert c.apply(0) == 0 and c.mod.arch.stub_count == 3
    o0, w0 = len(c.mod.memory.oob), c.mod.warns
    assert c.apply(1) == 0 and c.mod.warns == w0  # stub 3 written past .stubs, silently
    oob = [o for o in c.mod.memory.oob[o0:] if o.kind == "write"]
    assert oob and min(o.addr for o in oob) == stubs.addr + 120
    assert c.mod.arch.stub_count == 4
    assert c.apply(0) == 0  # an address already stubbed is still found (i < stub_count)
    assert c.apply(2) == -2 and c.mod.warns == w0 + 1


def test_full_undo_reuses_a_freed_slot_in_the_middle_of_the_walk():
    b = ObjectBuilder()
    secs = []
    for name in (".text.a", ".text.b"):
        words = BL.to_bytes(4, "little") + NOP.to_bytes(4, "little")
        secs.append(b.add_section(name, words + bytes(8)))
    b.add_stubs()
    fa = b.add_symbol("fa", bind=STB_GLOBAL)
    fb = b.add_symbol("fb", bind=STB_GLOBAL)
    b.add_rela(secs[0], 0, fa, rt.R_PPC_REL24)
    b.add_rela(secs[1], 0, fb, rt.R_PPC_REL24)
    prof = get_profile("full-undo")
    mod, rc = load(prof, b.build())
    syms = {s.name: s for s in mod.obj.symbols}
    ra, rb = mod.obj.section_index(".rela.text.a"), mod.obj.section_index(".rela.text.b")
    stubs = mod.obj.sections[mod.arch.stubs_section].addr

    def fd(slot: int) -> int:
        return int.from_bytes(mod.memory.read(stubs + 40 * slot + 32, 8, "t"), "little")

    syms["fa"].value, syms["fb"].value = TARGET, TARGET + 0x100
    assert prof.apply_relocate_add(mod, mod.obj.symtab_index, ra) == 0  # slot 2
    assert prof.apply_relocate_add(mod, mod.obj.symtab_index, rb) == 0  # slot 3
    prof.clear_relocate_add(mod, mod.obj.symtab_index, ra)
    assert fd(2) == TARGET and fd(3) == TARGET + 0x100  # hole kept non-zero: walk reaches 3
    syms["fa"].value = TARGET + STRIDE
    assert prof.apply_relocate_add(mod, mod.obj.symtab_index, ra) == 0
    assert fd(2) == TARGET + STRIDE and fd(4) == 0  # the hole was reused
    prof.clear_relocate_add(mod, mod.obj.symtab_index, rb)
    assert fd(3) == 0  # slot 3 was last: zeroed, the walk ends after slot 2
    prof.clear_relocate_add(mod, mod.obj.symtab_index, ra)
    assert fd(2) == 0 and mod.warns == 0 and not mod.memory.oob


@pytest.mark.parametrize(("abi", "flags", "v612", "v61"),
                         [("elfv2", 2, True, True), ("elfv2", 1, False, True),
                          ("elfv1", 1, True, True), ("elfv1", 2, False, True),
                          ("elfv1", 0, True, True)])
def test_module_elf_check_arch(abi: str, flags: int, v612: bool, v61: bool):
    from ppcreloc.arch.testbed import TinyWorld
    from ppcreloc.loader.memory import ModuleMemory
    from ppcreloc.records import Config

    obj = klp_object()
    obj.flags = flags
    mod = ModuleState("m", obj, Config(abi=abi), TinyWorld(), ModuleMemory())  # type: ignore[arg-type]
    assert get_profile("v6.12").module_elf_check_arch(mod) is v612
    assert get_profile("v6.1").module_elf_check_arch(mod) is v61


def test_klp_clear_v7_writes_nop_even_where_apply_never_put_ld_r2():
    """kernel-facts 4.6: the v7 clear does not check what P+4 held; after a failed apply
    ("Expected nop") it overwrites the original instruction with a nop."""
    c = Cycle("klp-clear-v7")
    text = c.mod.obj.sections[1].addr
    c.mod.memory.write(text + 0x14, (0x7C0802A6).to_bytes(4, "little"), "store", "mflr r0")
    assert c.apply(0) == -8
    c.clear()
    assert c.word(0x14) == NOP
