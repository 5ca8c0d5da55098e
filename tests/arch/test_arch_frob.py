"""module_frob_arch_sections: section discovery, dedotify, count_relocs and get_stubs_size."""

from __future__ import annotations

import pytest

from ppcreloc.arch.frob import count_relocs, dedotify, dedotify_versions
from ppcreloc.arch.testbed import TinyWorld
from ppcreloc.elf.builder import ObjectBuilder
from ppcreloc.elf.model import SHF_ALLOC, SHF_WRITE, SHN_ABS, SHN_UNDEF, STB_GLOBAL, Rela, Symbol
from ppcreloc.loader.memory import ModuleMemory
from ppcreloc.loader.module import ModuleState
from ppcreloc.ppc64 import reloctypes as rt
from ppcreloc.profiles import get_profile
from ppcreloc.records import Config, KernelMessage

REL24 = rt.R_PPC_REL24


def frob(obj, config: Config | None = None, profile: str = "v6.12"):
    mod = ModuleState("frobmod", obj, config or Config(), TinyWorld(), ModuleMemory())  # type: ignore[arg-type]
    return get_profile(profile).module_frob_arch_sections(mod), mod


def module(calls: list[list[tuple[str, int]]], *, stubs: bool = True, toc: bool = True,
           rtype: int = REL24):
    """One .text section per inner list, each with REL24s to (symbol name, addend)."""
    b = ObjectBuilder()
    syms: dict[str, object] = {}
    for n, group in enumerate(calls):
        sec = b.add_section(f".text.f{n}", bytes(64))
        for k, (name, addend) in enumerate(group):
            if name not in syms:
                syms[name] = b.add_symbol(name, bind=STB_GLOBAL)
            b.add_rela(sec, 4 * k, syms[name], rtype, addend)  # type: ignore[arg-type]
    if toc:
        b.add_section(".toc", bytes(8), flags=SHF_ALLOC | SHF_WRITE, addralign=1)
    if stubs:
        b.add_stubs()
    return b.build()


def test_count_relocs_runs_of_distinct_sym_addend():
    r = [Rela(0, 2, REL24, 0), Rela(4, 2, REL24, 0), Rela(8, 2, REL24, 8), Rela(12, 1, REL24, 8),
         Rela(16, 1, rt.R_PPC64_ADDR64, 0)]
    assert count_relocs(r, REL24) == 3


def test_count_relocs_addend_truncated_to_32_bits():
    # 4.5: the remembered addend is an unsigned int; 0x1_0000_0005 is stored as 5
    assert count_relocs([Rela(0, 1, REL24, 0x1_0000_0005), Rela(4, 1, REL24, 5)], REL24) == 1
    # ...but the comparison zero-extends it: 5 then 0x1_0000_0005 differ
    assert count_relocs([Rela(0, 1, REL24, 5), Rela(4, 1, REL24, 0x1_0000_0005)], REL24) == 2
    # -4 is stored as 0xfffffffc, which then equals a +0xfffffffc addend (not -4 itself)
    assert count_relocs([Rela(0, 1, REL24, -4), Rela(4, 1, REL24, 0xFFFF_FFFC)], REL24) == 1
    assert count_relocs([Rela(0, 1, REL24, 0xFFFF_FFFC), Rela(4, 1, REL24, -4)], REL24) == 2


def test_count_relocs_starts_from_symbol_0_addend_0():
    assert count_relocs([Rela(0, 0, REL24, 0)], REL24) == 0
    assert count_relocs([Rela(0, 0, REL24, 0), Rela(4, 0, REL24, 4)], REL24) == 1


def test_stubs_size_terminator_per_section_runs_and_ftrace_slots():
    obj = module([[("a", 0), ("a", 0), ("b", 0)], [("a", 0)]])
    rc, mod = frob(obj)
    assert rc == 0
    stubs = mod.obj.sections[mod.arch.stubs_section]
    # 1 terminator + (2 runs in .text.f0) + (1 in .text.f1) + ftrace_caller + ftrace_regs_caller
    assert stubs.size == (1 + 2 + 1 + 2) * 40
    rc, mod = frob(module([[("a", 0)]]), Config(dynamic_ftrace_with_regs=False))
    assert mod.obj.sections[mod.arch.stubs_section].size == 3 * 40
    rc, mod = frob(module([[("a", 0)]]), Config(dynamic_ftrace=False))
    assert mod.obj.sections[mod.arch.stubs_section].size == 2 * 40


def test_stubs_size_truncated_addends_undercount():
    obj = module([[("a", 0x1_0000_0005), ("a", 5)]])
    rc, mod = frob(obj)
    assert mod.obj.sections[mod.arch.stubs_section].size == (1 + 1 + 2) * 40


def test_stubs_size_elfv1_entries_are_56_bytes():
    rc, mod = frob(module([[("a", 0)]]), Config(abi="elfv1"))
    assert mod.obj.sections[mod.arch.stubs_section].size == 4 * 56


def test_rel24_notoc_counted_only_under_pcrel():
    obj = module([[("a", 0)]], rtype=rt.R_PPC64_REL24_NOTOC)
    rc, mod = frob(obj)
    assert mod.obj.sections[mod.arch.stubs_section].size == 3 * 40
    bb = ObjectBuilder()
    t = bb.add_section(".text", bytes(16))
    bb.add_rela(t, 0, bb.add_symbol("a", bind=STB_GLOBAL), rt.R_PPC64_REL24_NOTOC)
    bb.add_section(".mygot", type=8, flags=SHF_ALLOC, size=0)
    bb.add_stubs()
    rc, mod = frob(bb.build(), Config(pcrel=True))
    assert rc == 0
    assert mod.obj.sections[mod.arch.stubs_section].size == 4 * 40
    got = mod.obj.sections[mod.obj.section_index(".mygot")]
    # without .data..percpu, pcpu_section is 0, so count_pcpu_relocs counts the SHN_UNDEF
    # symbol "a": 1 terminator + 1
    assert got.size == 16 and got.addralign == 8


def test_frob_sorts_every_rela_section_in_place_descending():
    obj = module([[("a", 0), ("b", 8), ("b", 4), ("a", 4)]])
    rc, mod = frob(obj)
    rel = mod.obj.relocs[mod.obj.rela_sections()[0]]
    assert [(r.sym, r.addend) for r in rel] == sorted(((r.sym, r.addend) for r in rel),
                                                       reverse=True)


def test_missing_stubs_is_enoexec():
    rc, mod = frob(module([[("a", 0)]], stubs=False))
    assert rc == -8
    assert mod.messages == [KernelMessage("err", "%s: doesn't contain .stubs.\n", ("frobmod",))]


def test_missing_mygot_under_pcrel():
    rc, mod = frob(module([[("a", 0)]]), Config(pcrel=True))
    assert rc == -8 and mod.messages[0].fmt == "%s: doesn't contain .mygot.\n"


def test_toc_alignment_raised_and_fallback_to_stubs():
    rc, mod = frob(module([[("a", 0)]]))
    toc = mod.obj.section_index(".toc")
    assert mod.arch.toc_section == toc and mod.obj.sections[toc].addralign == 8
    rc, mod = frob(module([[("a", 0)]], toc=False))
    assert mod.arch.toc_section == mod.arch.stubs_section


def test_last_section_of_a_name_wins():
    b = ObjectBuilder()
    b.add_section(".toc", bytes(8), flags=SHF_ALLOC)
    second = b.add_section(".toc", bytes(8), flags=SHF_ALLOC)
    b.add_stubs()
    rc, mod = frob(b.build())
    assert mod.arch.toc_section == second


def test_dedotify():
    syms = [Symbol(""), Symbol(".foo"), Symbol(".TOC."), Symbol(".bar", shndx=3), Symbol("baz")]
    dedotify(syms)
    assert [(s.name, s.shndx) for s in syms[1:]] == [
        ("foo", SHN_UNDEF), ("TOC.", SHN_ABS), (".bar", 3), ("baz", SHN_UNDEF)]


def test_dedotify_skipped_under_pcrel():
    b = ObjectBuilder()
    b.add_symbol(".foo", bind=STB_GLOBAL)
    b.add_section(".mygot", type=8, flags=SHF_ALLOC, size=0)
    b.add_stubs()
    rc, mod = frob(b.build(), Config(pcrel=True))
    assert rc == 0 and any(s.name == ".foo" for s in mod.obj.symbols)


def test_dedotify_versions():
    entry = (7).to_bytes(8, "little") + b".module_layout".ljust(56, b"\0")
    other = (9).to_bytes(8, "little") + b"printk".ljust(56, b"\0")
    out = dedotify_versions(entry + other)
    assert out[8:8 + 14] == b"module_layout\0"
    assert out[64:] == other


@pytest.mark.parametrize("profile", ["v6.1", "v6.12", "klp-clear-v7", "full-undo"])
def test_every_profile_frobs_the_same_size(profile: str):
    rc, mod = frob(module([[("a", 0), ("b", 0)]]), profile=profile)
    assert rc == 0 and mod.obj.sections[mod.arch.stubs_section].size == 5 * 40
