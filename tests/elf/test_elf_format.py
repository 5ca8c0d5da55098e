"""ppcreloc.elf.format: each ELF64 structure declared once, with its fields named."""

from __future__ import annotations

import ast
from pathlib import Path

from ppcreloc.elf import format as fmt
from ppcreloc.elf.builder import ObjectBuilder
from ppcreloc.elf.reader import _header, _section_headers
from ppcreloc.elf.writer import write_elf

ROOT = Path(__file__).resolve().parents[2]
STRUCTS = (fmt.Elf64_Ehdr, fmt.Elf64_Shdr, fmt.Elf64_Sym, fmt.Elf64_Rela)


def test_sizes_and_offsets_are_the_gabis() -> None:
    assert (fmt.EHDR_SIZE, fmt.SHDR_SIZE, fmt.SYM_SIZE, fmt.RELA_SIZE) == (64, 64, 24, 24)
    assert fmt.offset_of(fmt.Elf64_Ehdr, "e_shoff") == 40
    assert fmt.offset_of(fmt.Elf64_Ehdr, "e_shstrndx") == 62
    assert fmt.offset_of(fmt.Elf64_Shdr, "sh_offset") == 24
    assert fmt.offset_of(fmt.Elf64_Sym, "st_shndx") == 6
    assert fmt.offset_of(fmt.Elf64_Rela, "r_addend") == 16
    assert fmt.field_code(fmt.Elf64_Rela, "r_addend") == "q"


def test_headers_read_back_by_name() -> None:
    obj = ObjectBuilder().build()
    data = write_elf(obj)
    e, ehdr = _header(data)
    assert ehdr.e_shoff and ehdr.e_shnum == len(obj.sections)
    assert ehdr.e_shstrndx == obj.shstrndx and ehdr.e_ehsize == fmt.EHDR_SIZE
    shdrs = _section_headers(data, e, ehdr)
    assert [s.sh_type for s in shdrs] == [s.type for s in obj.sections]


def test_no_struct_spelled_again() -> None:
    """No string literal in the product or ppcreloc/reference/ repeats a structure's struct codes."""
    formats = {fmt.struct_format(cls) for cls in STRUCTS}
    found = []
    for base in ("ppcreloc", "reference"):
        for path in (ROOT / base).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    if node.value.lstrip("<>=!@") in formats:
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not found, found
