"""abi_values' overlap sweep (ppcreloc.abi._overlapping) marks exactly the fields the pairwise
definition does: k overlaps when an earlier field (by start) ends after k starts, and so do those
earlier fields. The sweep replaced an n**2 scan that made amdgpu's 269,190 fields unjudgeable."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ppcreloc.abi import _overlapping
from ppcreloc.elf.model import Rela

R = Rela(0, 0, 0)


def _pairwise(spans: list[tuple[int, int, int, Rela, int]]) -> set[int]:
    out: set[int] = set()
    for k in range(1, len(spans)):
        if spans[k][0] < max(s[1] for s in spans[:k]):
            out.add(k)
            out.update(j for j in range(k) if spans[j][1] > spans[k][0])
    return out


@given(st.lists(st.tuples(st.integers(0, 64), st.integers(0, 8)), max_size=40))
def test_sweep_marks_what_the_pairwise_scan_marks(fields: list[tuple[int, int]]) -> None:
    spans = sorted(((lo, lo + size, 0, R, 0) for lo, size in fields), key=lambda s: s[0])
    assert _overlapping(spans) == _pairwise(spans)
