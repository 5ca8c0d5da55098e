"""The mutants of ``bench/mutation.py``: one-line changes a patch to the kernel's
``arch/powerpc/kernel/module_64.c`` could make, written against Linux 6.12.

No kernel text is committed: a mutant finds its place through a :class:`Needle`, the length and
SHA-256 of a short span of the 6.12 file that occurs exactly once there, and changes ``cut``
characters at offset ``at`` inside that span to ``insert`` (the mutation, project text). The
benchmark locates the span at run time in the tree the user gives (``bench/mutation.py
--show`` prints each mutant's line before and after, from that tree). ``covers`` names the
function and relocation case the change sits in (the kernel's names). ``equivalent`` gives the
reason when no object can tell the mutant from the original: such mutants are run too (a catch
means the reason is wrong) but are not counted in the score.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Needle:
    """A span of module_64.c, known only by its length and the first 16 hex digits of the
    SHA-256 of its UTF-8 bytes."""

    length: int
    sha256: str


@dataclass(frozen=True)
class Mutant:
    """One change in module_64.c: ``cut`` characters at ``at`` within ``needle`` become
    ``insert``."""

    name: str
    covers: str
    needle: Needle
    at: int
    cut: int
    insert: str
    equivalent: str | None = None


MUTANTS: tuple[Mutant, ...] = (
    # -- apply_relocate_add: the loop and the absolute cases -----------------------------------
    Mutant("loop-skips-last", "apply_relocate_add (loop)",
           Needle(48, "ded3f5560d3e6879"), at=2, cut=0, insert="+ 1 "),
    Mutant("addr32-u16-store", "apply_relocate_add R_PPC64_ADDR32",
           Needle(31, "9d8af98a1a424e9d"), at=9, cut=2, insert="16"),
    Mutant("addr64-truncated", "apply_relocate_add R_PPC64_ADDR64",
           Needle(35, "37742ef42c64c293"), at=29, cut=0, insert="(u32)"),
    Mutant("toc-base-not-r2", "apply_relocate_add R_PPC64_TOC",
           Needle(48, "ae9a7d85c53ba877"), at=47, cut=0, insert=" - 0x8000"),
    # -- TOC16 family ---------------------------------------------------------------------------
    Mutant("toc16-range-wide", "apply_relocate_add R_PPC64_TOC16",
           Needle(30, "18c5bb56596fe914"), at=23, cut=0, insert="1"),
    Mutant("toc16-lo-addend", "apply_relocate_add R_PPC64_TOC16_LO",
           Needle(22, "0810237820acb696"), at=22, cut=0, insert="\n\t\t\tvalue += 4;"),
    Mutant("toc16-lo-carry", "apply_relocate_add R_PPC64_TOC16_LO",
           Needle(22, "0810237820acb696"), at=22, cut=0, insert="\n\t\t\tvalue += 0x10000;",
           equivalent="only the low 16 bits of value are written: adding 0x10000 changes none"),
    Mutant("toc16-ds-align", "apply_relocate_add R_PPC64_TOC16_DS",
           Needle(23, "8a90cec5acf179f4"), at=13, cut=1, insert="1"),
    Mutant("toc16-ds-range", "apply_relocate_add R_PPC64_TOC16_DS",
           Needle(34, "dba138196e21bebe"), at=27, cut=0, insert="1"),
    Mutant("toc16-lo-ds-align", "apply_relocate_add R_PPC64_TOC16_LO_DS",
           Needle(23, "617ea554294a108f"), at=13, cut=1, insert="1"),
    Mutant("toc16-lo-ds-mask", "apply_relocate_add R_PPC64_TOC16_LO_DS",
           Needle(25, "04f53a521d092d2b"), at=25, cut=0, insert="\n\t\t\t*(u16 *)location &= ~3;"),
    Mutant("toc16-ha-no-round", "apply_relocate_add R_PPC64_TOC16_HA",
           Needle(56, "b4461debf76a5f79"), at=32, cut=16, insert="value"),
    # -- REL24 ----------------------------------------------------------------------------------
    Mutant("rel24-range-wide", "apply_relocate_add R_PPC_REL24",
           Needle(36, "fe1b447cbc9c4241"), at=26, cut=1, insert="7"),
    Mutant("rel24-range-rewritten", "apply_relocate_add R_PPC_REL24",
           Needle(36, "fe1b447cbc9c4241"), at=23, cut=10, insert="= 0x4000000",
           equivalent="for an unsigned long, > 0x3ffffff and >= 0x4000000 are the same test"),
    Mutant("rel24-align", "apply_relocate_add R_PPC_REL24",
           Needle(21, "d4377cc4a7d9e36b"), at=12, cut=1, insert="1"),
    Mutant("rel24-li-mask", "apply_relocate_add R_PPC_REL24",
           Needle(24, "b442cd70badc1532"), at=12, cut=11, insert="0x03ffffff"),
    Mutant("rel24-li-redundant-align", "apply_relocate_add R_PPC_REL24",
           Needle(16, "5532650ff69162c9"), at=14, cut=0, insert=" & ~3ul",
           equivalent="the range check already refused value & 3 != 0, and PPC_LI masks bits "
           "0-1 anyway"),
    Mutant("rel24-no-local-entry", "apply_relocate_add R_PPC_REL24 (local call)",
           Needle(33, "a586b92c9167312b"), at=0, cut=32, insert=""),
    Mutant("local-entry-shift", "local_entry_offset (PPC64_LOCAL_ENTRY_OFFSET)",
           Needle(11, "9052cd98478c9c30"), at=3, cut=7, insert="1) << 1"),
    Mutant("rel24-livepatch-local", "apply_relocate_add R_PPC_REL24 (stub condition)",
           Needle(33, "08f127834c04713e"), at=21, cut=9, insert="ABS"),
    Mutant("rel24-stub-errno", "apply_relocate_add R_PPC_REL24 (stub_for_addr failed)",
           Needle(35, "853a0aaad7c09ae5"), at=12, cut=2, insert="XEC"),
    # -- restore_r2 -----------------------------------------------------------------------------
    Mutant("restore_r2-prev-insn", "restore_r2",
           Needle(29, "7bbbcbca3b8bb4ea"), at=27, cut=1, insert="2"),
    Mutant("restore_r2-sibling", "restore_r2",
           Needle(31, "13514db3964860e7"), at=19, cut=5, insert=""),
    Mutant("restore_r2-mcount", "restore_r2",
           Needle(46, "a33f2a977a819a7c"), at=4, cut=29, insert="0"),
    Mutant("restore_r2-no-ld-skip", "restore_r2 (re-apply of a livepatch)",
           Needle(32, "6884cf437cc0ce0c"), at=4, cut=27, insert="0"),
    Mutant("restore_r2-any-insn", "restore_r2",
           Needle(32, "905340f4dc200ced"), at=29, cut=0, insert=" && 0"),
    Mutant("restore_r2-writes-nop", "restore_r2",
           Needle(65, "d412e77954f01852"), at=51, cut=11, insert="RAW_NOP()"),
    # -- stub_for_addr / create_stub -----------------------------------------------------------
    Mutant("stub-no-reuse", "stub_for_addr",
           Needle(19, "03e1838686eeafa5"), at=18, cut=0, insert=" && 0"),
    Mutant("stub-bound-off-by-one", "stub_for_addr",
           Needle(23, "3baa4b91ff4c6fae"), at=11, cut=1, insert=""),
    Mutant("create_stub-align", "create_stub",
           Needle(73, "ada4dd50eb37649d"), at=72, cut=1, insert="16"),
    Mutant("create_stub-hi-not-ha", "create_stub",
           Needle(32, "2454188d13174f47"), at=22, cut=1, insert="I"),
    Mutant("create_stub-lo-offset", "create_stub",
           Needle(32, "ce682d9648413b06"), at=31, cut=0, insert=" + 8"),
    Mutant("create_stub-range", "create_stub",
           Needle(49, "ade2e4c604a5ade6"), at=42, cut=4, insert=""),
    Mutant("create_stub-funcdata", "create_stub",
           Needle(23, "ac7f2450c189fff5"), at=21, cut=0, insert=" + 4"),
    Mutant("create_stub-magic", "create_stub",
           Needle(36, "c736efd9d1e87b9b"), at=25, cut=10, insert="0"),
    # -- stub counting and the sort (module_frob_arch_sections) -------------------------------
    Mutant("count_relocs-addend-16bit", "count_relocs",
           Needle(35, "5a881dc23dbeec52"), at=0, cut=23,
           insert="_count_relocs;\n\tunsigned short r_addend"),
    Mutant("count_relocs-symbol", "count_relocs",
           Needle(60, "7ee0bb7d8b9bad55"), at=20, cut=37, insert="0"),
    Mutant("count_relocs-any-type", "count_relocs",
           Needle(41, "06f89b00137bf30b"), at=29, cut=9, insert="!= 0"),
    Mutant("stubs-size-no-terminator", "get_stubs_size",
           Needle(38, "2350e2ac29da8462"), at=23, cut=1, insert="0"),
    Mutant("relacmp-all-equal", "relacmp (the sort in get_stubs_size)",
           Needle(22, "d34ba95364462b91"), at=22, cut=0, insert="\treturn 0;\n"),
    Mutant("relacmp-addend-order", "relacmp",
           Needle(35, "a73117cbe854fcab"), at=21, cut=13, insert="> y->r_addend + 0"),
    Mutant("relacmp-ascending", "relacmp",
           Needle(44, "1f21284cc5937a94"), at=0, cut=24, insert="x = (Elf64_Rela *)_x;\n\ty"),
    # -- my_r2, .TOC. and dedotify -------------------------------------------------------------
    Mutant("my_r2-bias", "my_r2",
           Needle(20, "c4a7633519541e3d"), at=15, cut=2, insert="7f"),
    Mutant("my_r2-round-4k", "my_r2",
           Needle(20, "c4a7633519541e3d"), at=7, cut=0, insert="f"),
    Mutant("dot-toc-value", "apply_relocate_add (.TOC. fix-up)",
           Needle(35, "3b817c062643f076"), at=34, cut=0, insert=" - 0x8000"),
    Mutant("dedotify-keeps-dot", "dedotify",
           Needle(18, "63852a0c2d64acb3"), at=0, cut=17, insert=""),
    # -- REL64, REL32, TOCSAVE, ENTRY, REL16, unknown types -----------------------------------
    Mutant("rel64-absolute", "apply_relocate_add R_PPC64_REL64",
           Needle(44, "381ed08c487f3967"), at=17, cut=26, insert=""),
    Mutant("rel32-range-wide", "apply_relocate_add R_PPC64_REL32",
           Needle(38, "25ae0c65dfb44fcf"), at=27, cut=0, insert="1"),
    Mutant("rel32-value", "apply_relocate_add R_PPC64_REL32",
           Needle(30, "b4fcdf634fd0bf7b"), at=29, cut=0, insert=" + 4"),
    Mutant("tocsave-unknown", "apply_relocate_add R_PPC64_TOCSAVE",
           Needle(21, "23782e46f302d1da"), at=20, cut=0, insert=" + 1000"),
    Mutant("entry-window-32k", "apply_relocate_add R_PPC64_ENTRY",
           Needle(36, "78ecee410f4801e5"), at=18, cut=13, insert=" > 0x"),
    Mutant("entry-hi-not-ha", "apply_relocate_add R_PPC64_ENTRY",
           Needle(39, "5c30e97ec90db54e"), at=30, cut=1, insert="I"),
    Mutant("entry-addi-base", "apply_relocate_add R_PPC64_ENTRY",
           Needle(37, "662bc97013a6999e"), at=20, cut=0, insert="1"),
    Mutant("entry-ld-mask", "apply_relocate_add R_PPC64_ENTRY",
           Needle(29, "3e133a0afc8fa0ad"), at=12, cut=1, insert="f"),
    Mutant("rel16-ha-no-round", "apply_relocate_add R_PPC64_REL16_HA",
           Needle(46, "d5f7101c49292c0f"), at=22, cut=16, insert="value"),
    Mutant("rel16-lo-absolute", "apply_relocate_add R_PPC64_REL16_LO",
           Needle(22, "4e06d5a97e3546e9"), at=22, cut=0,
           insert="\n\t\t\tvalue += (unsigned long)location;"),
    Mutant("unknown-type-ignored", "apply_relocate_add (default: unknown type)",
           Needle(8, "0b02fb9c7d5db82d"), at=8, cut=0, insert="\n\t\t\tbreak;"),
)
