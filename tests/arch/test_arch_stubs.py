"""Stubs and restore_r2: exact stub words, primitives, reuse, range/alignment failures."""

from __future__ import annotations

import pytest

from ppcreloc.arch.testbed import FTRACE_CALLER, KERNEL_TOC, TinyWorld, load
from ppcreloc.elf.builder import ObjectBuilder
from ppcreloc.elf.model import SHF_ALLOC, SHF_WRITE, STB_GLOBAL
from ppcreloc.loader.module import ModuleState
from ppcreloc.ppc64 import reloctypes as rt
from ppcreloc.profiles import get_profile
from ppcreloc.records import Config, KernelMessage

M64 = (1 << 64) - 1
BL, NOP, LD_R2 = 0x48000001, 0x60000000, 0xE8410018
TARGET = 0xC000_0000_0123_4560


def obj_calls(calls: list[tuple[int, str, int]], words: dict[int, int] | None = None, *,
              big_endian: bool = False, text_size: int = 64, stubs_align: int = 8,
              toc: bool = True):
    """.text with bl;nop pairs at each call offset (or ``words``), .toc, .stubs."""
    e = "big" if big_endian else "little"
    text = bytearray(text_size)
    for off, _, _ in calls:
        text[off : off + 8] = BL.to_bytes(4, e) + NOP.to_bytes(4, e)
    for off, w in (words or {}).items():
        text[off : off + 4] = w.to_bytes(4, e)
    b = ObjectBuilder(big_endian=big_endian)
    t = b.add_section(".text", bytes(text[:text_size]))
    if toc:
        b.add_section(".toc", bytes(8), flags=SHF_ALLOC | SHF_WRITE, addralign=8)
    s = b.add_stubs()
    b.sections[s].addralign = stubs_align
    syms: dict[str, object] = {}
    for off, name, addend in calls:
        if name not in syms:
            syms[name] = b.add_symbol(name, bind=STB_GLOBAL)
        b.add_rela(t, off, syms[name], rt.R_PPC_REL24, addend)  # type: ignore[arg-type]
    return b.build()


def run(obj, values: dict[str, int], profile: str = "v6.12", config: Config | None = None,
        world: TinyWorld | None = None):
    prof = get_profile(profile)
    mod, rc = load(prof, obj, config=config, world=world)
    assert rc == 0, mod.messages
    for s in mod.obj.symbols:
        if s.name in values:
            s.value = values[s.name]
    relsec = mod.obj.section_index(".rela.text")
    return prof, mod, prof.apply_relocate_add(mod, mod.obj.symtab_index, relsec)


def u32(mod: ModuleState, addr: int) -> int:
    return int.from_bytes(mod.memory.read(addr, 4, "t"), "big" if mod.config.big_endian else "little")


def u64(mod: ModuleState, addr: int) -> int:
    return int.from_bytes(mod.memory.read(addr, 8, "t"), "big" if mod.config.big_endian else "little")


def stub(mod: ModuleState, i: int) -> int:
    size = 56 if mod.config.abi == "elfv1" else 40
    return mod.obj.sections[mod.arch.stubs_section].addr + i * size


def r2(mod: ModuleState) -> int:
    return (mod.obj.sections[mod.arch.toc_section].addr & ~0xFF) + 0x8000


def ha(v: int) -> int:
    return ((v + 0x8000) >> 16) & 0xFFFF


def test_call_stub_words_elfv2():
    prof, mod, rc = run(obj_calls([(0x10, "f", 0)]), {"f": TARGET})
    assert rc == 0
    e = stub(mod, 2)
    rel = e - r2(mod)
    words = [u32(mod, e + 4 * i) for i in range(8)]
    assert words == [0x3D620000 | ha(rel), 0x396B0000 | (rel & 0xFFFF), 0xF8410018, 0xE98B0020,
                     0x7D8903A6, 0x4E800420, 0, 0x73747562]
    assert u64(mod, e + 32) == TARGET
    prims = {w.what: w.primitive for w in mod.memory.writes if w.reloc is not None}
    assert prims["stub jump[0]"] == "patch_instruction"
    assert prims["stub funcdata"] == prims["stub magic"] == "patch_u32"


def test_ftrace_stub_words():
    mod, rc = load(get_profile("v6.12"), obj_calls([]))
    assert rc == 0
    assert mod.arch.tramp == stub(mod, 0) and mod.arch.tramp_regs == stub(mod, 1)
    d = FTRACE_CALLER - KERNEL_TOC
    e = stub(mod, 0)
    assert [u32(mod, e + 4 * i) for i in range(5)] == [
        0xE98D0010, 0x3D8C0000 | ha(d), 0x398C0000 | (d & 0xFFFF), 0x7D8903A6, 0x4E800420]
    assert u64(mod, e + 32) == FTRACE_CALLER and u32(mod, e + 28) == 0x73747562
    assert {w.primitive for w in mod.memory.writes} == {"memcpy", "store"}


def test_stub_reuse_is_by_target_address_only():
    calls = [(0x10, "f", 0), (0x18, "g", 0), (0x20, "f", 8)]
    prof, mod, rc = run(obj_calls(calls), {"f": TARGET, "g": TARGET + 8})
    assert rc == 0
    # f+0 gets a stub; g (== f+8) and f+8 share the second one
    funcs = [u64(mod, stub(mod, i) + 32) for i in range(2, 5)]
    assert funcs == [TARGET + 8, TARGET, 0]


def test_v6_1_writes_prefix_looking_funcdata_as_8_bytes():
    target = 0xC000_0000_0500_0000  # low word 0x05000000: primary opcode 1
    prof, mod, rc = run(obj_calls([(0x10, "f", 0)]), {"f": target}, profile="v6.1")
    assert rc == 0 and u64(mod, stub(mod, 2) + 32) == target
    fd = [w for w in mod.memory.writes if w.what == "stub funcdata"]
    assert [len(w.new) for w in fd] == [8, 4] and fd[0].primitive == "patch_instruction"
    prof, mod, rc = run(obj_calls([(0x10, "f", 0)]), {"f": target}, profile="v6.12")
    assert [len(w.new) for w in mod.memory.writes if w.what == "stub funcdata"] == [4, 4]


def test_elfv1_stub_and_descriptor():
    cfg = Config(abi="elfv1", mprofile_kernel=False)
    world = TinyWorld(descs={TARGET: (0xC000_0000_0200_0000, 0xC000_0000_0300_8000, 7)})
    prof, mod, rc = run(obj_calls([(0x10, "f", 0)], big_endian=True), {"f": TARGET}, config=cfg,
                        world=world)
    assert rc == 0
    # non-mprofile: the two ftrace stubs are ordinary stubs; the call stub is third
    e = stub(mod, 2)
    rel = e - r2(mod)
    assert [u32(mod, e + 4 * i) for i in range(8)] == [
        0x3D620000 | ha(rel), 0x396B0000 | (rel & 0xFFFF), 0xF8410028, 0xE98B0020, 0xE84B0028,
        0x7D8903A6, 0x4E800420, 0x73747562]
    assert [u64(mod, e + 32 + 8 * i) for i in range(3)] == list(world.descs[TARGET])
    text = mod.obj.sections[1].addr
    assert u32(mod, text + 0x14) == 0xE8410028  # ld r2,40(r1)


def test_stub_alignment_check_since_6_4():
    obj = obj_calls([], text_size=4, stubs_align=4, toc=False)
    mod, rc = load(get_profile("v6.12"), obj, config=Config())
    assert mod.obj.sections[mod.arch.stubs_section].addr % 8 == 4
    assert rc == -2
    assert mod.messages[0] == KernelMessage(
        "err", "%s: Address of stub entry is not 8-byte aligned\n", ("testmod",))
    mod, rc = load(get_profile("v6.1"), obj, config=Config())
    assert rc == 0 and mod.messages == []


def test_stub_out_of_range_of_r2_writes_template_then_fails():
    prof = get_profile("v6.12")
    mod, rc = load(prof, obj_calls([(0x10, "f", 0)]))
    mod.obj.symbols[-1].value = TARGET
    mod.obj.sections[mod.arch.toc_section].addr += 1 << 32  # my_r2 now 4 GiB away
    rc = prof.apply_relocate_add(mod, mod.obj.symtab_index, mod.obj.section_index(".rela.text"))
    assert rc == -2
    assert mod.messages[-1].fmt == "%s: Address %p of stub out of range of %p.\n"
    e = stub(mod, 2)
    assert u32(mod, e + 8) == 0xF8410018 and u64(mod, e + 32) == 0  # slot still looks free


def test_ftrace_stub_out_of_range_of_kernel_toc():
    mod, rc = load(get_profile("v6.12"), obj_calls([]), world=TinyWorld(kernel_toc=1 << 40))
    assert rc == -2
    assert mod.messages[0].fmt == "%s: Address of %ps out of range of kernel_toc.\n"
    assert mod.messages[0].args == ("testmod", FTRACE_CALLER)


# -- restore_r2 ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("branch", "after", "profile", "rc", "after_out"),
    [
        (BL, NOP, "v6.12", 0, LD_R2),
        (BL, LD_R2, "v6.12", 0, LD_R2),  # 37251c7114e1: already restored
        (BL, LD_R2, "v6.1", -8, LD_R2),  # 6.1: "Expected nop", got e8410018
        (BL, 0x7C0802A6, "v6.12", -8, 0x7C0802A6),
        (0x48000000, 0x7C0802A6, "v6.12", 0, 0x7C0802A6),  # b: sibling call, no check
        (0x48000003, 0x7C0802A6, "v6.12", 0, 0x7C0802A6),  # bla: absolute, not relative
        (0x42000001, NOP, "v6.12", 0, LD_R2),  # bcl: B-form link branch
        (0x4E800021, NOP, "v6.12", 0, NOP),  # blrl (opcode 19): not a relative branch
    ],
)
def test_restore_r2_cases(branch: int, after: int, profile: str, rc: int, after_out: int):
    obj = obj_calls([(0x10, "f", 0)], {0x10: branch, 0x14: after})
    prof, mod, got = run(obj, {"f": TARGET}, profile=profile)
    text = mod.obj.sections[1].addr
    assert got == rc
    assert u32(mod, text + 0x14) == after_out
    if rc:
        assert mod.messages[-1] == KernelMessage(
            "err", "%s: Expected nop after call, got %08x at %pS\n", ("testmod", after, text + 0x14))
        assert u64(mod, stub(mod, 2) + 32) == TARGET  # the stub was consumed anyway


def test_mcount_gets_ftrace_stub_and_no_r2_restore():
    prof, mod, rc = run(obj_calls([(0x10, "_mcount", 0)], {0x14: 0x7C0802A6}),
                        {"_mcount": 0xC000_0000_0008_3000})
    assert rc == 0
    text = mod.obj.sections[1].addr
    assert u32(mod, text + 0x14) == 0x7C0802A6
    assert u32(mod, stub(mod, 2)) == 0xE98D0010  # ld r12,16(r13): the ftrace template


def test_rel24_in_last_word_reads_past_the_section():
    # .text is 0x44 bytes and .toc (8-aligned) starts at 0x48: P+4 = 0x44 is in the gap
    prof, mod, rc = run(obj_calls([(0x40, "f", 0)], {0x40: BL}, text_size=0x44), {"f": TARGET})
    assert rc == -8 and mod.messages[-1].args[1] == 0  # the unbacked word reads as 0
    assert any(o.kind == "read" and o.what == "restore_r2 P+4" for o in mod.memory.oob)


def test_pcrel_ftrace_stub_words():
    b = ObjectBuilder()
    b.add_section(".text", bytes(16))
    b.add_section(".mygot", type=8, flags=SHF_ALLOC | SHF_WRITE, size=0, addralign=8)
    b.add_stubs()
    mod, rc = load(get_profile("v6.12"), b.build(), config=Config(pcrel=True))
    assert rc == 0
    d = FTRACE_CALLER - 0xC000_0000_0000_0000  # paca->kernelbase
    e = stub(mod, 0)
    assert [u32(mod, e + 4 * i) for i in range(6)] == [
        0xE98D0018, NOP, 0x06000000 | ((d >> 16) & 0x3FFFF), 0x398C0000 | (d & 0xFFFF),
        0x7D8903A6, 0x4E800420]

