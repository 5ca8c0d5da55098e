"""apply_relocate_add, one relocation type at a time, against hand-computed values (6.12 base)."""

from __future__ import annotations

import pytest

from ppcreloc.arch.testbed import load
from ppcreloc.elf.builder import ObjectBuilder
from ppcreloc.elf.model import (
    SHF_ALLOC,
    SHF_WRITE,
    SHN_ABS,
    SHN_LIVEPATCH,
    STB_GLOBAL,
    STT_FUNC,
)
from ppcreloc.loader.module import ModuleState
from ppcreloc.ppc64 import reloctypes as rt
from ppcreloc.profiles import get_profile
from ppcreloc.records import Config, KernelMessage

M64 = (1 << 64) - 1
TEXT = 1  # section index of .text in every object below
BL = 0x48000001
NOP = 0x60000000


def build(rtype: int, *, offset: int = 0x10, addend: int = 0, text: bytes | None = None,
          defined: bool = True, other: int = 0, mygot: bool = False, shndx: int | None = None,
          extra: list[tuple[int, int, int]] | None = None):
    """.text (64 bytes), .toc, [.mygot], .stubs and one relocation against symbol "sym"."""
    b = ObjectBuilder()
    text_i = b.add_section(".text", text if text is not None else bytes(64))
    assert text_i == TEXT
    b.add_section(".toc", bytes(16), flags=SHF_ALLOC | SHF_WRITE, addralign=8)
    if mygot:
        b.add_section(".mygot", type=8, flags=SHF_ALLOC | SHF_WRITE, size=0, addralign=8)
    b.add_stubs()
    if shndx is None:
        shndx = TEXT if defined else 0
    sym = b.add_symbol("sym", bind=STB_GLOBAL, type=STT_FUNC, other=other, shndx=shndx)
    b.add_rela(text_i, offset, sym, rtype, addend)
    for off, typ, add in extra or []:
        b.add_rela(text_i, off, sym, typ, add)
    return b.build()


def run(obj, value: int, *, profile: str = "v6.12", config: Config | None = None,
        toc_addr: int | None = None):
    """Load, set sym's st_value, apply .rela.text; returns (rc, mod)."""
    prof = get_profile(profile)
    mod, rc = load(prof, obj, config=config)
    assert rc == 0
    idx = next(i for i, s in enumerate(mod.obj.symbols) if s.name == "sym")
    mod.obj.symbols[idx].value = value & M64
    if toc_addr is not None:
        mod.obj.sections[mod.obj.section_index(".toc")].addr = toc_addr
    relsec = mod.obj.section_index(".rela.text")
    return prof.apply_relocate_add(mod, mod.obj.symtab_index, relsec), mod


def applied(mod: ModuleState) -> list:
    """The writes apply_relocate_add made (finalize_ftrace's stub writes have no reloc)."""
    return [w for w in mod.memory.writes if w.reloc is not None]


def text_addr(mod: ModuleState) -> int:
    return mod.obj.sections[TEXT].addr


def r2(mod: ModuleState) -> int:
    return (mod.obj.sections[mod.obj.section_index(".toc")].addr & ~0xFF) + 0x8000


def word(mod: ModuleState, off: int, size: int = 4) -> int:
    return int.from_bytes(mod.memory.read(text_addr(mod) + off, size, "test"), "little")


def probe(rtype: int, **kw):
    """Apply once with S=0 to learn the addresses, then the caller recomputes values."""
    rc, mod = run(build(rtype, **kw.pop("build", {})), 0, **kw)
    return mod


# -- data relocations ---------------------------------------------------------------------------
def test_addr32_truncates_silently():
    rc, mod = run(build(rt.R_PPC64_ADDR32, addend=0x10), 0x1_2345_6780)
    assert rc == 0 and word(mod, 0x10) == 0x2345_6790
    assert mod.memory.writes[-1].primitive == "store"


def test_addr64_and_unaligned_p():
    rc, mod = run(build(rt.R_PPC64_ADDR64, offset=0x13, addend=-1), 0xC000_0000_0000_1000)
    assert rc == 0 and word(mod, 0x13, 8) == 0xC000_0000_0000_0FFF


def test_toc_stores_my_r2_ignoring_s_and_a():
    rc, mod = run(build(rt.R_PPC64_TOC, addend=123), 0xDEAD)
    assert rc == 0 and word(mod, 0x10, 8) == r2(mod)


@pytest.mark.parametrize(
    ("v", "ok", "stored"),
    [(0x7FFF, True, 0x7FFF), (0x8000, False, None), (-0x8000, True, 0x8000),
     (-0x8001, False, None)],
)
def test_toc16_boundaries(v: int, ok: bool, stored: int | None):
    mod = probe(rt.R_PPC64_TOC16)
    rc, mod = run(build(rt.R_PPC64_TOC16, text=bytes([0xAA] * 64)), r2(mod) + v)
    if ok:
        assert rc == 0 and word(mod, 0x10, 2) == stored
        assert word(mod, 0x12, 2) == 0xAAAA  # only two bytes written
    else:
        assert rc == -8
        assert mod.messages == [KernelMessage("err", "%s: bad TOC16 relocation (0x%lx)\n",
                                              ("testmod", v & M64))]
        assert word(mod, 0x10, 2) == 0xAAAA


def test_toc16_lo_and_ha_have_no_range_check():
    mod = probe(rt.R_PPC64_TOC16_LO)
    rc, mod = run(build(rt.R_PPC64_TOC16_LO), r2(mod) + 0x1234_5678)
    assert rc == 0 and word(mod, 0x10, 2) == 0x5678
    mod = probe(rt.R_PPC64_TOC16_HA)
    rc, mod = run(build(rt.R_PPC64_TOC16_HA), r2(mod) + 0x1234_8000)
    assert rc == 0 and word(mod, 0x10, 2) == 0x1235  # @ha rounds up when bit 15 is set
    rc, mod = run(build(rt.R_PPC64_TOC16_HA), r2(mod) - 0x10)
    assert rc == 0 and word(mod, 0x10, 2) == 0x0000


def test_toc16_ds_keeps_low_two_bits_and_checks():
    text = bytearray(64)
    text[0x10:0x12] = (0x0003).to_bytes(2, "little")
    mod = probe(rt.R_PPC64_TOC16_DS)
    rc, m = run(build(rt.R_PPC64_TOC16_DS, text=bytes(text)), r2(mod) + 0x7FFC)
    assert rc == 0 and word(m, 0x10, 2) == 0x7FFF
    rc, m = run(build(rt.R_PPC64_TOC16_DS, text=bytes(text)), r2(mod) + 0x12)
    assert rc == -8 and m.messages[0].fmt == "%s: bad TOC16_DS relocation (0x%lx)\n"
    assert m.messages[0].args == ("testmod", 0x12)
    rc, m = run(build(rt.R_PPC64_TOC16_DS, text=bytes(text)), r2(mod) + 0x8000)
    assert rc == -8


def test_toc16_lo_ds_checks_alignment_only():
    mod = probe(rt.R_PPC64_TOC16_LO_DS)
    rc, m = run(build(rt.R_PPC64_TOC16_LO_DS), r2(mod) + 0x1234_5678)
    assert rc == 0 and word(m, 0x10, 2) == 0x5678
    rc, m = run(build(rt.R_PPC64_TOC16_LO_DS), r2(mod) + 0x1234_5679)
    assert rc == -8 and m.messages[0].fmt == "%s: bad TOC16_LO_DS relocation (0x%lx)\n"


def test_rel64_rel32_and_rel32_range():
    mod = probe(rt.R_PPC64_REL64)
    p = text_addr(mod) + 0x10
    rc, m = run(build(rt.R_PPC64_REL64, addend=8), p - 0x100)
    assert rc == 0 and word(m, 0x10, 8) == (-0xF8) & M64
    for d, ok in [(0x7FFF_FFFF, True), (0x8000_0000, False), (-0x8000_0000, True),
                  (-0x8000_0001, False)]:
        rc, m = run(build(rt.R_PPC64_REL32), p + d)
        assert (rc == 0) == ok, hex(d)
        if ok:
            assert word(m, 0x10) == d & 0xFFFF_FFFF
        else:
            assert m.messages[0] == KernelMessage("err", "%s: REL32 %li out of range!\n",
                                                  ("testmod", d))


def test_rel16_ha_lo():
    mod = probe(rt.R_PPC64_REL16_HA)
    p = text_addr(mod) + 0x10
    rc, m = run(build(rt.R_PPC64_REL16_HA), p + 0x1_8000)
    assert rc == 0 and word(m, 0x10, 2) == 0x2
    rc, m = run(build(rt.R_PPC64_REL16_LO), p - 2)
    assert rc == 0 and word(m, 0x10, 2) == 0xFFFE


def test_tocsave_does_nothing():
    rc, m = run(build(rt.R_PPC64_TOCSAVE), 0x1234)
    assert rc == 0 and applied(m) == []


# -- REL24 ----------------------------------------------------------------------------------------
def bl_text(extra: dict[int, int] | None = None) -> bytes:
    t = bytearray(64)
    for off, w in {0x10: BL, 0x14: NOP, **(extra or {})}.items():
        t[off : off + 4] = w.to_bytes(4, "little")
    return bytes(t)


def test_rel24_local_with_local_entry_offset():
    mod = probe(rt.R_PPC_REL24, build={"text": bl_text()})
    p = text_addr(mod) + 0x10
    rc, m = run(build(rt.R_PPC_REL24, text=bl_text(), other=3 << 5), p + 0x100)
    assert rc == 0 and word(m, 0x10) == BL | 0x108  # st_other k=3: +8
    assert word(m, 0x14) == NOP  # local call: no restore_r2
    assert m.memory.writes[-1].primitive == "patch_instruction"
    assert m.memory.writes[-1].reloc is not None and m.memory.writes[-1].reloc.type == 10


@pytest.mark.parametrize(
    ("d", "ok"),
    [(0x1FF_FFFC, True), (0x200_0000, False), (-0x200_0000, True), (-0x200_0004, False),
     (0x102, False)],
)
def test_rel24_range_and_alignment(d: int, ok: bool):
    mod = probe(rt.R_PPC_REL24, build={"text": bl_text()})
    p = text_addr(mod) + 0x10
    rc, m = run(build(rt.R_PPC_REL24, text=bl_text()), p + d)
    if ok:
        assert rc == 0 and word(m, 0x10) == BL | (d & 0x03FF_FFFC)
    else:
        assert rc == -8
        assert m.messages == [KernelMessage("err", "%s: REL24 %li out of range!\n",
                                            ("testmod", d))]


def test_rel24_keeps_opcode_aa_lk_of_any_word():
    odd = 0xFC00_0003  # not a branch: opcode 63, AA and LK set
    mod = probe(rt.R_PPC_REL24, build={"text": bl_text({0x10: odd})})
    p = text_addr(mod) + 0x10
    rc, m = run(build(rt.R_PPC_REL24, text=bl_text({0x10: odd})), p + 0x40)
    assert rc == 0 and word(m, 0x10) == odd | 0x40


def test_rel24_external_goes_via_stub_and_restores_r2():
    rc, m = run(build(rt.R_PPC_REL24, text=bl_text(), defined=False), 0xC000_0000_0123_4560)
    assert rc == 0
    stubs = m.obj.sections[m.arch.stubs_section]
    # slots: 2 ftrace (tramp, tramp_regs) then the call stub
    stub = stubs.addr + 2 * 40
    assert word(m, 0x10) == BL | ((stub - (text_addr(m) + 0x10)) & 0x03FF_FFFC)
    assert word(m, 0x14) == 0xE841_0018
    funcdata = int.from_bytes(m.memory.read(stub + 32, 8, "t"), "little")
    assert funcdata == 0xC000_0000_0123_4560


def test_rel24_livepatch_symbol_counts_as_external():
    rc, m = run(build(rt.R_PPC_REL24, text=bl_text(), shndx=SHN_LIVEPATCH), 0xC000_0000_0000_4000)
    assert rc == 0 and word(m, 0x14) == 0xE841_0018


def test_rel24_abs_symbol_is_local():
    mod = probe(rt.R_PPC_REL24, build={"text": bl_text(), "shndx": SHN_ABS})
    p = text_addr(mod) + 0x10
    rc, m = run(build(rt.R_PPC_REL24, text=bl_text(), shndx=SHN_ABS), p + 0x20)
    assert rc == 0 and word(m, 0x10) == BL | 0x20 and word(m, 0x14) == NOP


# -- ENTRY ------------------------------------------------------------------------------------------
LD_R2_R12 = 0xE84C_0000
ADD_R2 = 0x7C42_6214


def entry_text(w0: int = LD_R2_R12 | 0x18, w1: int = ADD_R2) -> bytes:
    return bl_text({0x10: w0, 0x14: w1})


def test_entry_rewrites_large_model_prologue():
    rc, m = run(build(rt.R_PPC64_ENTRY, text=entry_text()), 0)
    assert rc == 0
    v = (r2(m) - (text_addr(m) + 0x10)) & M64
    ha, lo = ((v + 0x8000) >> 16) & 0xFFFF, v & 0xFFFF
    assert word(m, 0x10) == 0x3C4C_0000 | ha
    assert word(m, 0x14) == 0x3842_0000 | lo
    assert {w.primitive for w in applied(m)} == {"store"}


@pytest.mark.parametrize("words", [(0xE84B_0018, ADD_R2), (LD_R2_R12 | 3, ADD_R2),
                                   (LD_R2_R12, ADD_R2 + 1)])
def test_entry_pattern_mismatch_leaves_bytes(words: tuple[int, int]):
    rc, m = run(build(rt.R_PPC64_ENTRY, text=entry_text(*words)), 0)
    assert rc == 0 and applied(m) == []


def test_entry_window():
    mod = probe(rt.R_PPC64_ENTRY, build={"text": entry_text()})
    p = text_addr(mod) + 0x10
    assert text_addr(mod) % 256 == 0
    # v = TOC - P with TOC = (toc_addr & ~0xff) + 0x8000, so v = -0x10 mod 256 here: the closest
    # values on each side of the window [-0x80008000, 0x7fff7fff]
    for v, rewritten in [(0x7FFF_7FF0, True), (0x7FFF_80F0, False), (-0x8000_7F10, True),
                         (-0x8000_8010, False)]:
        toc_addr = (p + v - 0x8000) & M64
        rc, m = run(build(rt.R_PPC64_ENTRY, text=entry_text()), 0, toc_addr=toc_addr)
        assert rc == 0 and bool(applied(m)) == rewritten, hex(v)


# -- unknown and PCREL ------------------------------------------------------------------------------
@pytest.mark.parametrize("rtype", [0, 3, 49, 249, 251, rt.R_PPC64_REL24_NOTOC,
                                   rt.R_PPC64_PCREL34])
def test_unknown_types(rtype: int):
    rc, m = run(build(rtype), 0x1000)
    assert rc == -8
    assert m.messages == [KernelMessage("err", "%s: Unknown ADD relocation: %lu\n",
                                        ("testmod", rtype))]


PCREL = Config(pcrel=True)


def test_pcrel_toc_types_are_unknown():
    rc, m = run(build(rt.R_PPC64_TOC16, mygot=True), 0, config=PCREL)
    assert rc == -8 and m.messages[0].fmt == "%s: Unknown ADD relocation: %lu\n"


def test_pcrel34_in_range_and_out_of_range():
    text = bl_text({0x10: 0x0610_0000, 0x14: 0x3860_0000})  # pla r3,0
    mod = probe(rt.R_PPC64_PCREL34, build={"text": text, "mygot": True}, config=PCREL)
    p = text_addr(mod) + 0x10
    d = 0x1_2345_6788
    rc, m = run(build(rt.R_PPC64_PCREL34, text=text, mygot=True), p + d, config=PCREL)
    assert rc == 0
    assert word(m, 0x10) == 0x0610_0000 | ((d >> 16) & 0x3FFFF)
    assert word(m, 0x14) == 0x3860_0000 | (d & 0xFFFF)
    assert m.memory.writes[-1].primitive == "patch_instruction"
    assert len(m.memory.writes[-1].new) == 8
    rc, m = run(build(rt.R_PPC64_PCREL34, text=text, mygot=True), p + (1 << 33), config=PCREL)
    assert rc == -8
    assert m.messages[0] == KernelMessage("err", "%s: REL34 %li out of range!\n",
                                          ("testmod", 1 << 33))


def test_got_pcrel34_allocates_got_entry():
    text = bl_text({0x10: 0x0410_0000, 0x14: 0xE460_0000})  # pld r3,0
    rc, m = run(build(rt.R_PPC64_GOT_PCREL34, text=text, mygot=True), 0xC000_0000_0000_5000,
                config=PCREL)
    assert rc == 0
    got = m.obj.sections[m.obj.section_index(".mygot")]
    assert got.sh_size == 8 * 2  # 1 terminator + 1 run
    assert int.from_bytes(m.memory.read(got.addr, 8, "t"), "little") == 0xC000_0000_0000_5000
    d = got.addr - (text_addr(m) + 0x10)
    assert word(m, 0x10) == 0x0410_0000 | ((d >> 16) & 0x3FFFF)
    assert word(m, 0x14) == 0xE460_0000 | (d & 0xFFFF)


def test_rel24_notoc_under_pcrel_uses_pld_stub_without_r2_restore():
    rc, m = run(build(rt.R_PPC64_REL24_NOTOC, text=bl_text(), defined=False, mygot=True),
                0xC000_0000_0000_6000, config=PCREL)
    assert rc == 0
    assert word(m, 0x14) == NOP  # PCREL: restore_r2 returns at once
    stubs = m.obj.sections[m.arch.stubs_section]
    stub = stubs.addr + 2 * 40
    words = [int.from_bytes(m.memory.read(stub + 4 * i, 4, "t"), "little") for i in range(4)]
    assert words == [0x0410_0000, 0xE580_0020, 0x7D89_03A6, 0x4E80_0420]


# -- order of side effects -------------------------------------------------------------------------
def test_first_failure_aborts_without_rollback():
    # sorted descending by r_info then addend: the REL32 (type 26) runs before the ADDR32 (type 1)
    obj = build(rt.R_PPC64_ADDR32, extra=[(0x20, rt.R_PPC64_REL32, 1 << 40)])
    rc, m = run(obj, 0x1234)
    assert rc == -8 and applied(m) == []
    obj = build(rt.R_PPC64_REL32, extra=[(0x20, rt.R_PPC64_ADDR64, 0)])
    rc, m = run(obj, 1 << 40)
    assert rc == -8 and len(applied(m)) == 1  # the ADDR64 (type 38) stayed applied
    assert word(m, 0x20, 8) == 1 << 40


def test_toc_symbol_fixed_up_on_first_call_only():
    b = ObjectBuilder()
    t = b.add_section(".text", bytes(32))
    b.add_section(".toc", bytes(16), flags=SHF_ALLOC | SHF_WRITE, addralign=8)
    b.add_stubs()
    toc = b.add_symbol(".TOC.", bind=STB_GLOBAL)
    b.add_rela(t, 0, toc, rt.R_PPC64_ADDR64)
    prof = get_profile("v6.12")
    m, rc = load(prof, b.build())
    assert rc == 0
    sym = next(s for s in m.obj.symbols if s.name == "TOC.")
    assert sym.shndx == SHN_ABS  # dedotify
    relsec = m.obj.section_index(".rela.text")
    assert prof.apply_relocate_add(m, m.obj.symtab_index, relsec) == 0
    assert word(m, 0, 8) == r2(m) and m.arch.toc_fixed
    sym.value = 5  # not fixed again on the second call
    assert prof.apply_relocate_add(m, m.obj.symtab_index, relsec) == 0
    assert word(m, 0, 8) == 5


def test_out_of_section_offset_is_logged_not_fatal():
    rc, m = run(build(rt.R_PPC64_ADDR64, offset=0x1000), 0x42)
    assert rc == 0
    assert m.memory.oob and m.memory.oob[0].kind == "write" and not applied(m)[0].in_bounds




def test_pcrel34_percpu_out_of_range_goes_via_got_and_becomes_pld():
    b = ObjectBuilder()
    text = bl_text({0x10: 0x0610_0000, 0x14: 0x3860_0000})  # pla r3,0
    t = b.add_section(".text", text)
    pcpu = b.add_section(".data..percpu", bytes(16), flags=SHF_WRITE)  # not placed (set aside)
    b.add_section(".mygot", type=8, flags=SHF_ALLOC | SHF_WRITE, size=0, addralign=8)
    b.add_stubs()
    var = b.add_symbol("pcpu_var", shndx=pcpu)
    b.add_rela(t, 0x10, var, rt.R_PPC64_PCREL34)
    prof = get_profile("v6.12")
    mod, rc = load(prof, b.build(), config=PCREL)
    assert rc == 0
    mod.obj.symbols[-1].value = 0xC000_0000_0400_0000  # the per-cpu base: > 2^33 away
    rc = prof.apply_relocate_add(mod, mod.obj.symtab_index, mod.obj.section_index(".rela.text"))
    assert rc == 0
    got = mod.obj.sections[mod.obj.section_index(".mygot")]
    assert int.from_bytes(mod.memory.read(got.addr, 8, "t"), "little") == 0xC000_0000_0400_0000
    d = got.addr - (text_addr(mod) + 0x10)
    assert word(mod, 0x10) == 0x0410_0000 | ((d >> 16) & 0x3FFFF)  # pla prefix -> pld prefix
    assert word(mod, 0x14) == 0xE460_0000 | (d & 0xFFFF)  # pld r3,d(0),1
