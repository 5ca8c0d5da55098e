"""The relocation-type table: keyword-only rows, and R_* constants that are exactly its rows."""

from __future__ import annotations

import pytest

from ppcreloc.ppc64 import reloctypes as rt


def test_every_row_has_its_constant_and_no_constant_lacks_a_row() -> None:
    constants = {k: v for k, v in vars(rt).items() if k.startswith("R_") and isinstance(v, int)}
    names = {r.name: r.num for r in rt.RELOC_TYPES.values()}
    names |= {r.abi_name: r.num for r in rt.RELOC_TYPES.values()}
    assert constants == names


def test_rows_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        rt.RelocType(1, "R_PPC64_ADDR32", 4, 0xFFFF_FFFF, "S + A")  # type: ignore[misc]
    row = rt.RelocType(num=1, name="R_PPC64_ADDR32", size=4, mask=0xFFFF_FFFF, formula="S + A")
    assert row == rt.RELOC_TYPES[rt.R_PPC64_ADDR32]
