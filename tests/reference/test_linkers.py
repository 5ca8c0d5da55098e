"""GNU ld and lld as references: hand-built objects through both linkers, against the ABI formulas
(ppcreloc/reference/formulas.py) and, in tests/test_linkers_model.py, against the kernel model."""

from __future__ import annotations

import struct

import pytest

import ppcreloc.reference.linkers as linkers
from ppcreloc.elf.builder import ObjectBuilder
from ppcreloc.elf.model import (
    SHF_ALLOC,
    SHF_WRITE,
    SHN_ABS,
    STB_GLOBAL,
    STT_FUNC,
    STT_OBJECT,
    ElfObject,
)
from ppcreloc.reference import lds
from ppcreloc.reference.formulas import TYPES, Expected, relocate
from ppcreloc.reference.linkers import LinkerError, LinkFailed, LinkResult, PlacementError

pytestmark = pytest.mark.reference

NOP = 0x6000_0000
BL = 0x4800_0001
LD = 0xE862_0000  # ld r3,0(r2): a DS-form word for the half16ds fields
BCL = 0x4000_0001  # bc 0,0 with LK: the REL14 word
EXT = 0xC000_0000_0012_3450

#: (text address, .toc address, .data address) layouts: kernel module area, user range,
#: and one with the TOC base right at a 64 KiB boundary
LAYOUTS = [
    (0xC008_0000_0010_0000, 0xC008_0000_0011_0000, 0xC008_0000_0012_0000),
    (0x1000_0000, 0x1001_0000, 0x1002_0000),
    (0xC008_0000_01FF_0000, 0xC008_0000_01FF_8000, 0xC008_0000_0200_8000),
]


@pytest.fixture(params=["gnu-ld", "lld", "zig-lld"])
def link(request: pytest.FixtureRequest):
    reason = linkers.available(request.param)
    if reason:
        pytest.skip(reason)
    return linkers.LINKERS[request.param]


def linker_name(link) -> str:
    return next(name for name, fn in linkers.LINKERS.items() if fn is link)


def toc_base(toc_addr: int) -> int:
    return (toc_addr & ~0xFF) + 0x8000


def all_types_object(types: list[int], ext_addends: tuple[int, ...] = (0,)) -> ElfObject:
    """One 16-byte slot per type (relocation at the slot start, so fields never overlap), then
    one bl/nop pair per external call. Branches go to a local-entry function, data relocations
    to an object in .toc and to one in .data; the TOC relocation has A = 0."""
    b = ObjectBuilder()
    words: list[int] = []
    for t in types:
        head = BL if t == 10 else BCL if t == 11 else LD
        words += [head, NOP, NOP, NOP]
    for _ in ext_addends:
        words += [BL, NOP]
    text = b.add_section(".text", struct.pack(f"<{len(words)}I", *words))
    toc = b.add_section(".toc", bytes(0x100), flags=SHF_ALLOC | SHF_WRITE, addralign=256)
    data = b.add_section(".data", bytes(0x40), flags=SHF_ALLOC | SHF_WRITE, addralign=8)
    b.add_stubs()
    fn = b.add_symbol("fn", 0x20, shndx=text, bind=STB_GLOBAL, type=STT_FUNC, other=3 << 5)
    tocsym = b.add_symbol("tocent", 0x18, shndx=toc, type=STT_OBJECT)
    datsym = b.add_symbol("dat", 0x8, shndx=data, bind=STB_GLOBAL, type=STT_OBJECT)
    ext = b.add_symbol("ext", bind=STB_GLOBAL)
    for i, t in enumerate(types):
        if t in (10, 11):
            sym, addend = fn, 4
        elif TYPES[t].name.startswith("R_PPC64_TOC16"):
            sym, addend = tocsym, 0x20
        else:
            sym, addend = datsym, 0x14
        b.add_rela(text, 16 * i, sym, t, 0 if t == 51 else addend)
    for j, addend in enumerate(ext_addends):
        b.add_rela(text, 16 * len(types) + 8 * j, ext, 10, addend)
    return b.build()


def place(obj: ElfObject, layout: tuple[int, int, int]) -> dict[int, int]:
    return dict(zip((obj.section_index(n) for n in (".text", ".toc", ".data")), layout,
                    strict=True))


def field_bytes(res: LinkResult, e: Expected) -> bytes:
    return res.sections[e.section][e.offset : e.offset + len(e.new)]


@pytest.mark.parametrize("layout", LAYOUTS, ids=["kernel", "user", "toc-edge"])
def test_every_type_matches_the_abi_formulas(link, layout):
    """Every type each linker knows stores what the ABI table says, at the model's layout."""
    probe = linkers._BY_NAME[linker_name(link)]
    types = sorted(set(TYPES) - probe.unknown)
    obj = all_types_object(types)
    placements = place(obj, layout)
    toc = toc_base(layout[1])
    res = link(obj, placements, {"ext": EXT}, toc)
    assert res.placements == placements
    expected = relocate(obj, placements, {"ext": EXT}, toc)
    checked = 0
    for e in expected:
        if e.external:
            assert res.branch_targets[(e.section, e.offset)].destination == EXT
        elif e.error is None:
            assert field_bytes(res, e) == e.new, TYPES[e.type].name
            checked += 1
        else:  # the ABI check failed: the linker must say so at that place
            assert any(d.section == e.section and d.offset == e.offset
                       for d in res.diagnostics), TYPES[e.type].name
    assert checked >= len(types) - 12  # most types fit at every layout; none is skipped silently
    changed = sum(e.new != e.old for e in expected if e.error is None and not e.external)
    assert changed > checked // 2  # the comparison is not between two unrelocated images


def test_gas_and_our_writer_give_the_same_link(link):
    """The link copy serialised by GNU as and by ppcreloc.elf.writer links to the same bytes."""
    import shutil

    from ppcreloc.reference.gas import GAS

    if shutil.which(GAS) is None:
        pytest.skip(f"{GAS} not installed (Debian binutils-powerpc64le-linux-gnu)")
    obj = all_types_object([1, 10, 26, 38, 44, 47, 48, 50, 51, 63, 64, 250, 252], (0, 8))
    placements = place(obj, LAYOUTS[0])
    toc = toc_base(LAYOUTS[0][1])
    a = link(obj, placements, {"ext": EXT}, toc, producer="gas")
    b = link(obj, placements, {"ext": EXT}, toc, producer="writer")
    assert a.sections == b.sections
    assert {k: v.destination for k, v in a.branch_targets.items()} == {
        k: v.destination for k, v in b.branch_targets.items()}


def test_external_calls_reach_the_symbol_through_the_linkers_stub(link):
    """A far external call goes through the linker's own stub, which the walk follows. GNU ld
    (2.40, measured) makes one stub per symbol, so calls to ext and ext+8 both reach ext;
    lld keys stubs by S + A, as the kernel does."""
    obj = all_types_object([38], (0, 8))
    placements = place(obj, LAYOUTS[0])
    res = link(obj, placements, {"ext": EXT}, toc_base(LAYOUTS[0][1]))
    text = obj.section_index(".text")
    plain, with_addend = res.branch_targets[(text, 16)], res.branch_targets[(text, 24)]
    assert plain.stub is not None and plain.stub_name and plain.destination == EXT
    assert any(lo <= plain.stub < hi for lo, hi in res.stub_ranges)
    assert with_addend.destination == (EXT if res.linker == "gnu-ld" else EXT + 8)


def test_near_external_call_is_direct(link):
    """An external symbol within branch range is called directly (no stub)."""
    obj = all_types_object([38], (0,))
    placements = place(obj, LAYOUTS[1])
    near = LAYOUTS[1][0] + 0x10_0000
    res = link(obj, placements, {"ext": near}, toc_base(LAYOUTS[1][1]))
    hop = res.branch_targets[(obj.section_index(".text"), 16)]
    assert hop.stub is None and hop.destination == near


def test_toc_relocation_adds_the_addend(link):
    """R_PPC64_TOC: both linkers store .TOC. + A; the ABI table (and the kernel) store .TOC.
    compare.py therefore compares it only with A = 0."""
    b = ObjectBuilder()
    text = b.add_section(".text", bytes(16))
    b.add_stubs()
    b.add_rela(text, 0, None, 51, 4)
    b.add_rela(text, 8, None, 51, 0)
    obj = b.build()
    res = link(obj, {text: 0x1000_0000}, {}, 0x1000_8000)
    assert res.sections[text] == struct.pack("<QQ", 0x1000_8004, 0x1000_8000)


def one_toc16(rtype: int, value: int, word: int = LD) -> tuple[ElfObject, dict[int, int], int]:
    """A single TOC16-family relocation on ``word`` whose S + A - .TOC. is ``value``."""
    b = ObjectBuilder()
    text = b.add_section(".text", struct.pack("<2I", word, NOP))
    toc = b.add_section(".toc", bytes(64), flags=SHF_ALLOC | SHF_WRITE, addralign=256)
    b.add_stubs()
    b.add_rela(text, 0, b.section_symbol(toc), rtype, value + 0x8000)
    obj = b.build()
    return obj, {text: 0xC008_0000_0010_0000, toc: 0xC008_0000_0011_0000}, 0xC008_0000_0011_8000


@pytest.mark.parametrize("rtype,value,ld_ok,lld_ok", [
    (47, 0x7FFC, True, True),
    (47, -0x8000, True, True),
    (47, 0x8000, False, True),  # lld accepts TOC16 up to 65535, the kernel and ld do not
    (47, -0x8004, False, False),
    (47, 0x10000, False, False),
    (63, 0x7FFC, True, True),
    (63, 0x8000, False, False),
])
def test_toc16_overflow_diagnosed_where_the_kernel_rejects(link, rtype, value, ld_ok, lld_ok):
    """TOC16 / TOC16_DS out of signed 16 bits: ld says "relocation truncated to fit" (the
    kernel says "bad TOC16 relocation"); the formula table flags the same relocations."""
    obj, placements, toc = one_toc16(rtype, value)
    res = link(obj, placements, {}, toc)
    [e] = relocate(obj, placements, {}, toc)
    assert (e.error is None) == (-0x8000 <= value < 0x8000)
    fits = ld_ok if res.linker == "gnu-ld" else lld_ok
    diag = [d for d in res.diagnostics if (d.section, d.offset) == (e.section, 0)]
    assert bool(diag) == (not fits)
    if res.linker == "gnu-ld" and diag:
        assert "relocation truncated to fit" in diag[0].text
    assert field_bytes(res, e) == e.new  # the low 16 bits are stored either way


@pytest.mark.parametrize("rtype", [63, 64])
def test_misaligned_ds_is_a_hard_error(link, rtype):
    """A DS-form value not a multiple of 4 is an error at that place, as the kernel fails the
    load ("bad TOC16_DS relocation")."""
    obj, placements, toc = one_toc16(rtype, 6)
    [e] = relocate(obj, placements, {}, toc)
    assert e.error == "misaligned"
    try:  # GNU ld and lld 14 fail the link; lld 22 (zig-lld) reports it and writes the output
        diags = link(obj, placements, {}, toc).diagnostics
        assert linker_name(link) == "zig-lld"
    except LinkFailed as failed:
        diags = failed.diagnostics
    assert any(d.section == e.section and d.offset == 0 and
               ("multiple of 4" in d.text or "aligned" in d.text) for d in diags)


def test_stub_gap_too_small_is_a_clear_error(monkeypatch):
    """When ld's stubs do not fit in front of a section the link fails with a one-line error
    instead of silently moving the section."""
    if linkers.available("gnu-ld"):
        pytest.skip(linkers.available("gnu-ld"))
    monkeypatch.setattr(linkers, "STUB_ROOM", 0)
    b = ObjectBuilder()
    n = 12
    text = b.add_section(".text", struct.pack(f"<{2 * n}I", *[BL, NOP] * n))
    b.add_stubs()
    syms = {}
    for i in range(n):
        s = b.add_symbol(f"ext{i}", bind=STB_GLOBAL)
        syms[f"ext{i}"] = EXT + 0x100 * i
        b.add_rela(text, 8 * i, s, 10)
    obj = b.build()
    with pytest.raises(LinkerError) as info:
        linkers.link_gnu_ld(obj, {text: 0xC008_0000_0010_0000}, syms, 0xC008_0000_0011_8000)
    assert isinstance(info.value, LinkFailed | PlacementError)
    assert "\n" not in str(info.value)


def test_placement_is_verified_from_the_map():
    """A map that puts a section elsewhere raises PlacementError (parsers on real map text)."""
    ld_map = ("Linker script and memory map\n\n.o1             0x0000000010000000       0x10\n"
              " */m.o(.s1)\n .s1            0x0000000010000004       0x10 /tmp/x/m.o\n")
    [entry] = lds.parse_gnu_ld_map(ld_map)
    assert (entry.name, entry.addr, entry.size, entry.out) == (".s1", 0x1000_0004, 0x10, ".o1")
    lld_map = ("             VMA              LMA     Size Align Out     In      Symbol\n"
               "        10000000         10000000       40     4 .o1\n"
               "        10000000         10000000       20     4         /tmp/x/m.o:(.s1)\n"
               "        10000020         10000020       20    16         "
               "<internal>:(.text.thunk)\n")
    assert [(e.name, e.addr, e.out) for e in lds.parse_lld_map(lld_map)] == [
        (".s1", 0x1000_0000, ".o1"), (".text.thunk", 0x1000_0020, ".o1")]
    obj = all_types_object([38], ())
    plan = linkers._plan(obj, {1: 0x1000_0000}, {}, linkers._LLD)
    toc = 0x1000_8000
    out = {".o1": (0x1000_0000, bytes(0x20)), ".tocref": (0x2000_0000, struct.pack("<Q", toc))}
    with pytest.raises(PlacementError, match="not 0x10000000"):
        linkers._collect(linkers._GNU_LD, obj, {1: 0x1000_0000}, toc, plan,
                         lds.parse_gnu_ld_map(ld_map), out, {}, [])
    with pytest.raises(PlacementError, match="TOC base is 0000000010008000, not 0x10009000"):
        linkers._collect(linkers._GNU_LD, obj, {1: 0x1000_0004}, toc + 0x1000, plan,
                         lds.parse_gnu_ld_map(ld_map), out, {}, [])


@pytest.mark.parametrize("placements,symbols,message", [
    ({99: 0x1000}, {}, "does not exist"),
    ({5: 0x1000}, {}, "not loaded"),  # .rela.text
    ({1: 0x1002}, {}, "alignment"),
    ({1: 0x1000_0000}, {}, "no value given for external symbol 'ext'"),
])
def test_bad_input_is_a_one_line_error(placements, symbols, message):
    obj = all_types_object([38], (0,))
    assert obj.section_index(".rela.text") == 5
    with pytest.raises(LinkerError, match=message) as info:
        linkers.link_gnu_ld(obj, placements, symbols, 0x1000_8000)
    assert "\n" not in str(info.value)


def test_big_endian_objects_are_refused():
    b = ObjectBuilder(big_endian=True)
    text = b.add_section(".text", bytes(8))
    obj = b.build()
    with pytest.raises(LinkerError, match="little-endian"):
        linkers.link_gnu_ld(obj, {text: 0x1000}, {}, 0x9000)


def test_absolute_symbols_and_symbol_zero(link):
    """SHN_ABS symbols keep their value; a relocation without a symbol uses S = 0."""
    b = ObjectBuilder()
    text = b.add_section(".text", bytes(16))
    b.add_stubs()
    a = b.add_symbol("abs", 0x1234_5678_9ABC_DEF0, bind=STB_GLOBAL, shndx=SHN_ABS)
    b.add_rela(text, 0, a, 38, 0x10)
    b.add_rela(text, 8, None, 38, 0x77)
    obj = b.build()
    res = link(obj, {text: 0x1000_0000}, {}, 0x1000_8000)
    assert res.sections[text] == struct.pack("<QQ", 0x1234_5678_9ABC_DF00, 0x77)


# -- against the kernel model (issue 2 item 10: every type against GNU ld where ld computes it
# the same way) -------------------------------------------------------------------------------

KERNEL_TYPES = [1, 10, 26, 38, 44, 47, 48, 50, 51, 63, 64, 250, 252]


def run_model(scenario):
    from ppcreloc.engines import get_engine

    return get_engine("v6.12").run(scenario)


def load_scenario(obj: ElfObject):
    from ppcreloc.loader.world import SymbolWorld
    from ppcreloc.records import Scenario, Step

    return Scenario(obj, SymbolWorld.synthetic(seed=7), [Step("load")])


def klp_object() -> ElfObject:
    """A livepatch module: plain relocations applied at load, plus a .klp.rela.target.text
    section (SHN_LIVEPATCH symbols) applied when module "target" comes."""
    from ppcreloc.elf.model import SHN_LIVEPATCH

    b = ObjectBuilder()
    words = [LD, NOP] * 4 + [BL, NOP] * 3 + [0, 0] * 3
    text = b.add_section(".text", struct.pack(f"<{len(words)}I", *words))
    toc = b.add_section(".toc", bytes(0x40), flags=SHF_ALLOC | SHF_WRITE, addralign=256)
    b.add_stubs()
    tocent = b.add_symbol("tocent", 0x10, shndx=toc, type=STT_OBJECT)
    b.add_rela(text, 0, tocent, 50, 0)  # TOC16_HA
    b.add_rela(text, 8, tocent, 64, 8)  # TOC16_LO_DS
    vm = b.add_symbol("printk", bind=STB_GLOBAL)
    b.add_rela(text, 32, vm, 10)
    sec = ".klp.rela.target.text"
    f1 = b.add_symbol(".klp.sym.target.helper,0", bind=STB_GLOBAL, shndx=SHN_LIVEPATCH)
    f2 = b.add_symbol(".klp.sym.target.state,1", bind=STB_GLOBAL, shndx=SHN_LIVEPATCH)
    b.add_rela(text, 40, f1, 10, 0, section=sec)
    b.add_rela(text, 48, f1, 10, 0x10, section=sec)
    b.add_rela(text, 56, f2, 38, 4, section=sec)
    b.add_rela(text, 64, f2, 44, 0, section=sec)
    b.add_rela(text, 72, f2, 1, 0, section=sec)
    b.add_rela(text, 16, f2, 48, 0, section=sec)  # TOC16_LO of a far symbol: low bits only
    return b.build()


def test_model_matches_the_linker_at_load(link):
    """Every kernel-handled type, local and external calls: the v6.12 model's bytes after the
    load step equal the linker's, external calls reach the same destination."""
    from ppcreloc.reference.compare import check, comparable, reference_inputs

    obj = all_types_object(KERNEL_TYPES, (0,))
    scenario = load_scenario(obj)
    result = run_model(scenario)
    assert result.steps[0].rc == 0, [m.render() for m in result.steps[0].messages]
    res, mismatches = check(scenario, result, linker_name(link))
    assert mismatches == []
    compared = comparable(reference_inputs(scenario, result), res)
    assert len(compared) == len(KERNEL_TYPES) + 1  # every type slot and the external call


def test_model_matches_the_linker_after_klp_coming(link):
    """.klp.rela.<obj> relocations applied by klp_module_coming (generation 1 of "target")
    against the linker given the same resolved livepatch symbols."""
    from ppcreloc.loader.world import SymbolWorld
    from ppcreloc.records import Config, Scenario, Step
    from ppcreloc.reference.compare import check, comparable, reference_inputs

    # ADDR64/REL64/ADDR32/TOC16_LO into .text at coming are plain stores into read-only text
    # (kernel-facts 4.9: they oops under CONFIG_STRICT_MODULE_RWX); compare the arithmetic only
    scenario = Scenario(klp_object(), SymbolWorld.synthetic(seed=3),
                        [Step("load"), Step("coming", "target", 1)],
                        config=Config(strict_module_rwx=False))
    result = run_model(scenario)
    assert [s.rc for s in result.steps] == [0, 0], [
        m.render() for s in result.steps for m in s.messages]
    name = linker_name(link)
    res, mismatches = check(scenario, result, name)
    assert mismatches == []
    ref = reference_inputs(scenario, result)
    compared = comparable(ref, res)
    klp = [k for k in compared if ref.obj.sections[k[0]].name.startswith(".klp.rela.")]
    assert len(klp) == (4 if name == "gnu-ld" else 6)  # ld: helper called with two addends
    assert ref.symbols[".klp.sym.target.helper,0"] == scenario.world.lookup("target", "helper",
                                                                            1)[0]


def test_compare_reports_a_corrupted_field_and_a_wrong_stub():
    """The comparison can fail: a flipped bit in a relocated field and a stub whose funcdata
    points elsewhere both show up as mismatches naming the relocation."""
    from ppcreloc.reference.compare import check

    if linkers.available("gnu-ld"):
        pytest.skip(linkers.available("gnu-ld"))
    obj = all_types_object(KERNEL_TYPES, (0,))
    scenario = load_scenario(obj)
    result = run_model(scenario)
    text = obj.section_index(".text")
    step = result.steps[0]
    mem = bytearray(step.memory[text])
    slot = KERNEL_TYPES.index(38) * 16
    mem[slot] ^= 1
    step.memory[text] = bytes(mem)
    stubs = obj.section_index(".stubs")
    smem = bytearray(step.memory[stubs])
    smem[32] ^= 0x40  # funcdata of the first stub (ELFv2 ppc64_stub_entry, offset 32)
    step.memory[stubs] = bytes(smem)
    _, mismatches = check(scenario, result, "gnu-ld")
    kinds = sorted((m.kind, m.type, m.offset) for m in mismatches)
    assert kinds == [("branch", 10, 16 * len(KERNEL_TYPES)), ("bytes", 38, slot)]
    assert "R_PPC64_ADDR64" in str(next(m for m in mismatches if m.kind == "bytes"))


@pytest.mark.parametrize("rtype,value,accepted", [
    (47, 0x7FF8, True), (47, 0x8000, False), (47, -0x8008, False),
    (63, 0x7FF8, True), (63, 0x8000, False), (63, 6, False), (64, 6, False), (64, 0x10000, True),
])
def test_kernel_rejections_match_gnu_ld(rtype, value, accepted):
    """TOC16/TOC16_DS overflow ("relocation truncated to fit") and misaligned DS (a hard ld
    error) are exactly the relocations the model rejects at load."""
    if linkers.available("gnu-ld"):
        pytest.skip(linkers.available("gnu-ld"))
    obj, _, _ = one_toc16(rtype, value)
    scenario = load_scenario(obj)
    result = run_model(scenario)
    assert (result.steps[0].rc == 0) == accepted, [m.render() for m in result.steps[0].messages]
    toc_sec, text = obj.section_index(".toc"), obj.section_index(".text")
    placements = {p.index: p.addr for p in result.placements if p.index in (toc_sec, text)}
    from ppcreloc.reference.compare import my_r2

    toc = my_r2(obj, placements)
    try:
        res = linkers.link_gnu_ld(obj, placements, {}, toc)
    except LinkFailed as e:
        assert not accepted and (rtype in (63, 64) and value % 4)
        assert any((d.section, d.offset) == (text, 0) for d in e.diagnostics)
        return
    flagged = any((d.section, d.offset) == (text, 0) for d in res.diagnostics)
    assert flagged == (not accepted)


# -- run-time oracle: the relocated module executed under qemu-ppc64le (ppcreloc/reference/qemu) ------

CALLER_ASM = r"""
  .abiversion 2
  .section .text.f,"ax",@progbits
  .globl f
  .type f,@function
f:
0: addis 2,12,.TOC.-0b@ha
   addi 2,2,.TOC.-0b@l
   .localentry f,.-f
   mflr 0
   std 0,16(1)
   stdu 1,-32(1)
   bl helper
   nop
   addis 9,2,val@toc@ha
   ld 9,val@toc@l(9)
   add 3,3,9
   addi 1,1,32
   ld 0,16(1)
   mtlr 0
   blr
  .section .toc,"aw"
val: .quad 0x1234
  .section .stubs,"ax",@nobits
  .p2align 3
"""
#: user-range addresses (qemu-user maps below 2**47; a static harness sits at 0x10000000)
MODULE_BASE = 0x1000_0000_0000
HELPER = 0x1100_0000_0000
TARGET_BASES = [0x1200_0000_0000, 0x1300_0000_0000]


def helper_code(result: int) -> bytes:
    """li r3,result; li r2,-1 (clobber the TOC pointer, as a callee in another module may);
    blr."""
    return struct.pack("<3I", 0x3860_0000 | result, 0x3840_FFFF, 0x4E80_0020)


@pytest.fixture
def qemu():
    from ppcreloc.reference.qemu import runner

    reason = runner.available()
    if reason:
        pytest.skip(reason)
    return runner


def caller_object(tmp_path, klp: bool) -> ElfObject:
    """f() calls helper() through a module stub, then reads .toc through r2: it returns
    helper() + 0x1234 only when the stub reached helper and r2 was restored after the call.
    With ``klp`` the call is a .klp.rela.target relocation to .klp.sym.target.helper,0."""
    import subprocess

    from ppcreloc.elf.model import (
        SHF_INFO_LINK,
        SHF_RELA_LIVEPATCH,
        SHN_LIVEPATCH,
        SHT_RELA,
        Section,
    )
    from ppcreloc.elf.reader import read_elf
    from ppcreloc.reference.gas import GAS

    (tmp_path / "f.s").write_text(CALLER_ASM)
    subprocess.run([GAS, "-a64", "-mlittle", "-o", str(tmp_path / "f.o"),
                    str(tmp_path / "f.s")], check=True)
    obj = read_elf((tmp_path / "f.o").read_bytes())
    if klp:
        text = obj.section_index(".text.f")
        rela = obj.section_index(".rela.text.f")
        [call] = [r for r in obj.relocs[rela] if r.type == 10]
        obj.relocs[rela].remove(call)
        obj.symbols[call.sym].name = ".klp.sym.target.helper,0"
        obj.symbols[call.sym].shndx = SHN_LIVEPATCH
        obj.sections.append(Section(".klp.rela.target..text.f", SHT_RELA,
                                    SHF_ALLOC | SHF_INFO_LINK | SHF_RELA_LIVEPATCH,
                                    addralign=8, entsize=24, link=obj.symtab_index, info=text))
        obj.relocs[len(obj.sections) - 1] = [call]
    return obj


def run_caller(profile: str, obj: ElfObject, steps):
    from ppcreloc.engines import get_engine
    from ppcreloc.loader.world import SymbolWorld
    from ppcreloc.records import Layout, Scenario

    world = SymbolWorld(seed=1)
    world.add_symbol(None, "helper", HELPER, exported=True)
    world.set_module_bases("target", TARGET_BASES)
    world.add_symbol("target", "helper", TARGET_BASES[0] + 0x100)
    result = get_engine(profile).run(Scenario(obj, world, steps, Layout(base=MODULE_BASE)))
    entry = next(p.addr for p in result.placements if p.name == ".text.f")
    return result, entry


def test_qemu_call_through_a_kernel_stub_restores_r2(qemu, tmp_path):
    """After the v6.12 load, f() reaches helper() through the stub and gets r2 back; with
    the restore_r2 word put back to nop, the TOC load after the call faults."""
    from ppcreloc.records import Step

    obj = caller_object(tmp_path, klp=False)
    result, entry = run_caller("v6.12", obj, [Step("load")])
    assert result.steps[0].rc == 0
    images = qemu.module_images(result)
    images[HELPER] = helper_code(42)
    ok, = qemu.run(images, [(entry, 0)])
    assert ok.value == 42 + 0x1234
    text = images[entry]
    assert struct.unpack_from("<I", text, 24)[0] == 0xE841_0018  # ld r2,24(r1) after the bl
    images[entry] = text[:24] + struct.pack("<I", NOP) + text[28:]
    broken, = qemu.run(images, [(entry, 0)])
    assert broken.signal == 11


@pytest.mark.parametrize("profile", ["v6.12", "klp-clear-v7"])
def test_qemu_apply_clear_apply_reaches_the_reloaded_target(qemu, tmp_path, profile):
    """load, target comes (generation 0), goes, comes back elsewhere (generation 1): the
    re-applied call reaches generation 1's helper, and r2 is restored after it."""
    from ppcreloc.records import Step

    obj = caller_object(tmp_path, klp=True)
    steps = [Step("load"), Step("coming", "target", 0), Step("going", "target", 0),
             Step("coming", "target", 1)]
    result, entry = run_caller(profile, obj, steps)
    assert [s.rc for s in result.steps] == [0, 0, 0, 0], [
        m.render() for s in result.steps for m in s.messages]
    images = qemu.module_images(result)
    images[TARGET_BASES[0] + 0x100] = helper_code(1)  # the stale address still holds code
    images[TARGET_BASES[1] + 0x100] = helper_code(2)
    after_first = qemu.module_images(result, step=1)
    outcomes = qemu.run(images, [(entry, 0)])
    assert outcomes[0].value == 2 + 0x1234
    first = {**after_first, TARGET_BASES[0] + 0x100: helper_code(1)}
    assert qemu.run(first, [(entry, 0)])[0].value == 1 + 0x1234


def test_rel24_on_a_nop(link):
    """GNU ld fills the LI field of whatever word a REL24 names, as the kernel does; lld (14 and
    22) leaves an exact nop alone (measured), so compare.py skips that case for lld."""
    b = ObjectBuilder()
    text = b.add_section(".text", struct.pack("<3I", NOP, NOP, 0x1234_5678))
    b.add_stubs()
    f = b.add_symbol("f", 0, shndx=text, type=STT_FUNC)
    b.add_rela(text, 4, f, 10)
    b.add_rela(text, 8, f, 10)
    obj = b.build()
    res = link(obj, {text: 0x1000_0000}, {}, 0x1000_8000)
    nop_word, other_word = struct.unpack_from("<2I", res.sections[text], 4)
    assert other_word == 0x13FF_FFF8  # LI = -8, opcode and low bits kept
    assert nop_word == (NOP if linker_name(link) != "gnu-ld" else 0x63FF_FFFC)


@pytest.mark.parametrize("layout", LAYOUTS, ids=["kernel", "user", "toc-edge"])
def test_model_matches_the_abi_formulas(layout):
    """The v6.12 model against the ABI table directly (no linker needed): every kernel-handled
    type at pinned addresses; REL24 to a defined function lands on its local entry."""
    from ppcreloc.loader.world import SymbolWorld
    from ppcreloc.records import Layout, Scenario, Step
    from ppcreloc.reference.compare import my_r2, resolve_symbols

    obj = all_types_object(KERNEL_TYPES, ())
    pins = dict(zip((".text", ".toc", ".data"), layout, strict=True))
    scenario = Scenario(obj, SymbolWorld.synthetic(seed=5), [Step("load")],
                        Layout(addresses=pins))
    result = run_model(scenario)
    assert result.steps[0].rc == 0, [m.render() for m in result.steps[0].messages]
    placements = {p.index: p.addr for p in result.placements}
    assert [placements[obj.section_index(n)] for n in pins] == list(layout)
    toc = my_r2(obj, placements)
    memory = result.steps[0].memory
    checked = 0
    for e in relocate(obj, placements, resolve_symbols(scenario, 0), toc):
        assert e.error is None, TYPES[e.type].name  # every slot is in range here
        assert memory[e.section][e.offset : e.offset + len(e.new)] == e.new, TYPES[e.type].name
        checked += 1
    assert checked == len(KERNEL_TYPES)


def test_lld_cannot_link_a_call_with_a_huge_addend():
    """Measured: lld fails the whole link on an external call whose addend is beyond the
    branch range, so its link copies leave such calls out (the kernel accepts them)."""
    import dataclasses

    if linkers.available("lld"):
        pytest.skip(linkers.available("lld"))
    obj = all_types_object([38], (1 << 40,))
    placements = place(obj, LAYOUTS[0])
    toc = toc_base(LAYOUTS[0][1])
    unlimited = dataclasses.replace(linkers._LLD, call_addend_limit=None)
    with pytest.raises(LinkFailed, match="range extension thunk"):
        linkers._link(unlimited, obj, placements, {"ext": EXT}, toc, "auto")
    res = linkers.link_lld(obj, placements, {"ext": EXT}, toc)
    rela = obj.section_index(".rela.text")
    assert (rela, 1) not in res.relocs and (rela, 0) in res.relocs


# -- *_DS relocations on DQ-form words (lq, lxv, stxv, lxvp) -----------------------------------
#: word (RA = r9, RT/XT = 4 or 34, displacement 0) -> primary opcode, low 4 bits kept by a
#: DQ-aware linker
DQ_WORDS = {
    "lq r4": 0xE089_0000,  # opcode 56
    "lxv vs34": 0xF449_0009,  # opcode 61, TX = 1 (bit 3), XO = 001
    "stxv vs33": 0xF429_000D,  # opcode 61, TX = 1, XO = 101
    "lxvp vs36": 0x1889_0000,  # opcode 6 (ISA 3.1)
}
#: (linker, word name) pairs the linker relocates as DQ-form (measured)
DQ_BY_LINKER = {
    "gnu-ld": {"lq r4", "lxv vs34", "stxv vs33"},
    "lld": {"lq r4", "lxv vs34", "stxv vs33", "lxvp vs36"},
    "zig-lld": {"lq r4", "lxv vs34", "stxv vs33", "lxvp vs36"},
}


@pytest.mark.parametrize("name", sorted(DQ_WORDS))
@pytest.mark.parametrize("rtype", [63, 64])
def test_ds_relocation_on_a_dq_form_word(link, name, rtype):
    """Measured: a DQ-aware linker keeps the low 4 bits of lq/lxv/stxv (lld: lxvp too) and
    rejects a value that is not a multiple of 16 (zig-lld only warns); the kernel's
    TOC16_DS/TOC16_LO_DS keep the low 2 bits. So the link copy leaves these out."""
    import dataclasses

    lk = linkers._BY_NAME[linker_name(link)]
    raw = dataclasses.replace(lk, dq_opcodes=frozenset())  # give the linker everything
    word = DQ_WORDS[name]
    dq = name in DQ_BY_LINKER[lk.name]
    assert linkers.dq_form(word, lk.dq_opcodes) == dq
    for value in (0x40, 0x44):
        obj, placements, toc = one_toc16(rtype, value, word)
        [e] = relocate(obj, placements, {}, toc)
        assert e.error is None  # the kernel accepts both values (value & 3 == 0)
        try:
            res = linkers._link(raw, obj, placements, {}, toc, "auto")
        except LinkFailed as failed:
            assert dq and value % 16 and lk.name != "zig-lld", failed
            assert any("multiple of 16" in d.text or "aligned" in d.text
                       for d in failed.diagnostics)
            continue
        assert bool(res.diagnostics) == bool(dq and value % 16)
        got = struct.unpack_from("<I", res.sections[1], 0)[0]
        kept = 0xF if dq else 0x3
        if not (dq and value % 16):  # (zig-lld's output after its warning is not specified)
            assert got == (word & ~0xFFFF) | (word & kept) | (value & (0xFFFF & ~kept))
        # and the link copy the differential uses leaves exactly the DQ-form ones out
        rela = obj.section_index(".rela.text")
        assert ((rela, 0) in link(obj, placements, {}, toc).relocs) == (not dq)


def test_kernel_clears_the_tx_bit_of_lxv():
    """Finding: module_64.c (6.1-6.12) relocates TOC16_LO_DS on ``lxv vs34`` (what gas emits
    for ``lxv 34,x@toc@l(9)``) with the DS mask 0xfffc, so bit 3 of the word (TX) is cleared:
    the load goes to vs2. A value of 4 mod 16 sets XO to 101: ``lxv`` becomes ``stxv``."""
    word = DQ_WORDS["lxv vs34"]
    for value, expect in ((0x40, 0xF449_0041), (0x44, 0xF449_0045)):
        obj, placements, toc = one_toc16(64, value, word)
        [e] = relocate(obj, placements, {}, toc)
        assert e.error is None
        got = int.from_bytes(e.new, "little") | (word & ~0xFFFF)
        assert got == expect
        assert got & 0x8 == 0  # TX cleared: XT = 2, not 34
    assert 0xF449_0045 & 7 == 5  # XO 101 is stxv


def _branch_object(rtype: int, *, sym0: bool = False, other: int = 0,
                   addend: int = 0) -> tuple[ElfObject, dict[int, int], dict[str, int]]:
    """Two adjacent text sections; the second holds one branch (to ``f`` with st_other
    ``other``, to the external ``ext`` with ``addend``, or to symbol 0)."""
    b = ObjectBuilder()
    t1 = b.add_section(".text.a", struct.pack("<12I", *[NOP] * 12), addralign=16)
    t2 = b.add_section(".text.b", struct.pack("<3I", BL, NOP, NOP), addralign=16)
    b.add_stubs()
    if sym0:
        b.add_rela(t2, 0, None, rtype, 0)
    elif other:
        f = b.add_symbol("f", 0x10, shndx=t1, bind=STB_GLOBAL, type=STT_FUNC, other=other)
        b.add_rela(t2, 0, f, rtype, 0)
    else:
        b.add_rela(t2, 0, b.add_symbol("ext", bind=STB_GLOBAL), rtype, addend)
    return (b.build(), {t1: 0xC008_0000_0010_0000, t2: 0xC008_0000_0010_0030},
            {"ext": 0xC000_0000_0020_0000})


@pytest.mark.parametrize("linker,field,kwargs,error,rtype", [
    *[("gnu-ld", "sym0_crash", {"sym0": True}, LinkFailed, t)  # SIGSEGV: no ELF written
      for t in (10, 11)],
    *[(lk, "local_entry7_refused", {"other": 7 << 5}, LinkFailed, t)  # "reserved value of 7"
      for lk in ("lld", "zig-lld") for t in (10, 11)],
    ("lld", "call_addend_limit", {"addend": 0xFFFFFC}, PlacementError, 10),  # thunk in front
])
def test_what_a_linker_cannot_take_is_left_out(linker, field, kwargs, error, rtype):
    """Measured linker failures on objects the kernel loads: without the exclusion the link
    fails (or moves a section); with it the relocation is left out and the rest links."""
    import dataclasses

    if linkers.available(linker):
        pytest.skip(linkers.available(linker))
    lk = linkers._BY_NAME[linker]
    obj, placements, symbols = _branch_object(rtype, **kwargs)
    empty = None if field == "call_addend_limit" else frozenset()
    with pytest.raises(error):
        linkers._link(dataclasses.replace(lk, **{field: empty}), obj, placements, symbols,
                      0xC008_0000_0011_8000, "auto")
    res = linkers.LINKERS[linker](obj, placements, symbols, 0xC008_0000_0011_8000)
    assert (obj.section_index(".rela.text.b"), 0) not in res.relocs
