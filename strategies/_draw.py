"""Cached primitive strategies: building a strategy per draw costs more than the draw itself.

``pick(draw, seq)`` is ``draw(st.sampled_from(seq))`` (it shrinks toward ``seq[0]`` the same way)
without constructing and validating a new strategy for every call.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import TypeVar

from hypothesis import strategies as st

T = TypeVar("T")
BOOL = st.booleans()


@lru_cache(maxsize=4096)
def ints(lo: int, hi: int) -> st.SearchStrategy[int]:
    """st.integers(lo, hi), one instance per range."""
    return st.integers(lo, hi)


def pick(draw: st.DrawFn, seq: Sequence[T]) -> T:
    """One element of a non-empty ``seq``."""
    return seq[draw(ints(0, len(seq) - 1))] if len(seq) > 1 else seq[0]


@lru_cache(maxsize=1024)
def sublists(seq: tuple[T, ...], min_size: int, max_size: int,
             unique: bool = False) -> st.SearchStrategy[list[T]]:
    """st.lists(st.sampled_from(seq), ...), one instance per argument tuple."""
    return st.lists(st.sampled_from(seq), min_size=min_size, max_size=max_size, unique=unique)
