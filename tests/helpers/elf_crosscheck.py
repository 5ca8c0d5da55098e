"""Independent readers for the ELF tests: pyelftools and LIEF, each reduced to plain tuples that
are compared field by field with what :func:`ppcreloc.elf.reader.read_elf` returns."""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path

import lief
from elftools.elf import enums
from elftools.elf.elffile import ELFFile

from ppcreloc.elf.layout import derived_sections
from ppcreloc.elf.model import ET_REL, SHT_RELA, SHT_SYMTAB, ElfObject

lief.logging.disable()


READELF = shutil.which("powerpc64le-linux-gnu-readelf") or shutil.which("readelf")


def readelf_complaints(data: bytes) -> str:
    """readelf -aW's stderr (warnings and errors) for ``data``; empty when it has no complaint."""
    assert READELF is not None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.o"
        path.write_bytes(data)
        res = subprocess.run([READELF, "-aW", str(path)], capture_output=True, text=True, check=False)
    return res.stderr + ("" if res.returncode == 0 else f"exit status {res.returncode}")


def _raw(value: object, mapping: dict[str, int]) -> int:
    """pyelftools decodes known enum values to names; map them back to integers."""
    return mapping[value] if isinstance(value, str) else int(value)  # type: ignore[arg-type]


def pyelftools_view(data: bytes) -> dict[str, object]:
    """Header, section headers, symbols and relocations as pyelftools parses them."""
    elf = ELFFile(io.BytesIO(data))
    h = elf.header
    out: dict[str, object] = {
        "big_endian": h["e_ident"]["EI_DATA"] == "ELFDATA2MSB",
        "type": _raw(h["e_type"], enums.ENUM_E_TYPE),
        "machine": _raw(h["e_machine"], enums.ENUM_E_MACHINE),
        "flags": h["e_flags"],
        "shstrndx": h["e_shstrndx"],
    }
    sections, symbols, relocs = [], [], {}
    for i in range(elf.num_sections()):
        # Headers and names without building typed sections: pyelftools resolves the sh_link of
        # some types (versym, hash...) eagerly, which our arbitrary sh_type values would trip.
        sh = elf._get_section_header(i)
        stype = _raw(sh["sh_type"], enums.ENUM_SH_TYPE_BASE)
        if stype in (SHT_SYMTAB, SHT_RELA):
            sec = elf.get_section(i)
        sections.append(
            (elf._get_section_name(sh), stype, sh["sh_flags"], sh["sh_addr"], sh["sh_size"], sh["sh_link"],
             sh["sh_info"], sh["sh_addralign"], sh["sh_entsize"])  # fmt: skip
        )
        if stype == SHT_SYMTAB and not symbols:
            for sym in sec.iter_symbols():
                e = sym.entry
                symbols.append(
                    (sym.name, e["st_value"], e["st_size"],
                     _raw(e["st_info"]["bind"], enums.ENUM_ST_INFO_BIND),
                     _raw(e["st_info"]["type"], enums.ENUM_ST_INFO_TYPE),
                     _raw(e["st_other"]["local"], enums.ENUM_ST_LOCAL) << 5
                     | _raw(e["st_other"]["visibility"], enums.ENUM_ST_VISIBILITY),
                     _raw(e["st_shndx"], enums.ENUM_ST_SHNDX))  # fmt: skip
                )
        if stype == SHT_RELA:
            relocs[i] = [
                (r["r_offset"], r["r_info_sym"], r["r_info_type"], r["r_addend"])
                for r in sec.iter_relocations()
            ]
    out.update(sections=sections, symbols=symbols, relocs=relocs)
    return out


def model_view_for_pyelftools(obj: ElfObject, data: bytes) -> dict[str, object]:
    """The same tuples from our model (sizes of derived sections taken from the file layout)."""
    sizes = [s[4] for s in pyelftools_view(data)["sections"]]  # type: ignore[index]
    derived = derived_sections([s.type for s in obj.sections], [s.link for s in obj.sections], obj.shstrndx)
    return {
        "big_endian": obj.big_endian,
        "type": obj.type,
        "machine": obj.machine,
        "flags": obj.flags,
        "shstrndx": obj.shstrndx,
        "sections": [
            (s.name, s.type, s.flags, s.addr, sizes[i] if i in derived else s.sh_size,
             s.link, s.info, s.addralign, s.entsize)  # fmt: skip
            for i, s in enumerate(obj.sections)
        ],
        "symbols": [
            (s.name, s.value, s.size, s.bind, s.type, s.other & 0xE7, s.shndx)
            for s in (obj.symbols if obj.symtab_index is not None else [])
        ],
        "relocs": {k: [(r.offset, r.sym, r.type, r.addend) for r in v] for k, v in obj.relocs.items()},
    }


def _int(v: object) -> int:
    """A LIEF enum member or (for values LIEF does not know) a plain int, as an int."""
    return int(getattr(v, "value", v))  # type: ignore[call-overload]


def lief_disagreements(obj: ElfObject, data: bytes) -> list[str]:
    """Every field where LIEF's parse of ``data`` differs from ``obj``; empty when they agree."""
    with warnings.catch_warnings():  # LIEF warns about enum values it does not know
        warnings.simplefilter("ignore", RuntimeWarning)
        return _lief_disagreements(obj, data)


def _lief_disagreements(obj: ElfObject, data: bytes) -> list[str]:
    b = lief.ELF.parse(list(data))
    if b is None:
        return ["lief could not parse the object"]
    bad: list[str] = []

    def check(what: str, got: object, want: object) -> None:
        if got != want:
            bad.append(f"{what}: lief {got!r} != ours {want!r}")

    check("e_machine", _int(b.header.machine_type), obj.machine)
    check("e_flags", b.header.processor_flag, obj.flags)
    check("e_type", _int(b.header.file_type), obj.type)
    check("big_endian", b.header.identity_data == lief.ELF.Header.ELF_DATA.MSB, obj.big_endian)
    check("section count", len(b.sections), len(obj.sections))
    for i, (ls, s) in enumerate(zip(b.sections, obj.sections, strict=False)):
        check(f"section {i} name", ls.name, s.name)
        if not 0x70000000 <= s.type < 0x80000000:  # LIEF reads SHT_LOPROC..HIPROC as 0 on ppc64
            check(f"section {i} type", _int(ls.type), s.type)
        check(f"section {i} flags", ls.flags, s.flags)
        check(f"section {i} addr", ls.virtual_address, s.addr)
        check(f"section {i} link", ls.link, s.link)
        check(f"section {i} info", ls.information, s.info)
        check(f"section {i} addralign", ls.alignment, s.addralign)
        check(f"section {i} entsize", ls.entry_size, s.entsize)
        if s.size is not None or s.data:
            check(f"section {i} size", ls.size, s.sh_size)
        if s.data:
            check(f"section {i} data", bytes(ls.content), s.data)
    syms = list(b.symtab_symbols)
    want_syms = obj.symbols if obj.symtab_index is not None else []
    check("symbol count", len(syms), len(want_syms))
    for i, (ls, s) in enumerate(zip(syms, want_syms, strict=False)):
        got = (ls.name, ls.value, ls.size, _int(ls.binding), _int(ls.type), ls.other, ls.shndx)
        check(f"symbol {i}", got, (s.name, s.value, s.size, s.bind, s.type, s.other, s.shndx))
    lrel = [
        (r.address, r.r_info(lief.ELF.Header.CLASS.ELF64), r.addend) for r in b.object_relocations
    ]
    want = [
        entry
        for k in sorted(obj.relocs)
        for entry in dict.fromkeys((r.offset, r.info, r.addend) for r in obj.relocs[k])
    ]
    if obj.type == ET_REL:  # LIEF reads object relocations only in ET_REL files
        # LIEF keeps each section's relocations in a set: exact duplicates (same r_offset,
        # r_info, r_addend) in one section collapse to one; `want` holds the distinct entries.
        check("relocation count", len(lrel), len(want))
        for k, (got, exp) in enumerate(zip(lrel, want, strict=False)):
            if exp[1] & 0xFFFFFFFF >= 2**24:
                # LIEF stores the type as (arch << 24 | type): larger types do not survive.
                got, exp = (got[0], got[1] >> 32, got[2]), (exp[0], exp[1] >> 32, exp[2])
            check(f"relocation {k}", got, exp)
    return bad
