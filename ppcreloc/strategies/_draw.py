"""Cheap draws: cached primitive strategies and flat choice spaces decoded from one integer.

Every Hypothesis draw costs about 20 us of bookkeeping whatever it draws, so the object
strategies draw a whole unit (a function header, a snippet with its symbol reference, a world
object's symbols) as one value and decode it with a :class:`Space`. Each space maps 0 to its
simplest value and puts its most significant choice first.

The value is a fixed-size byte string read as a big-endian fraction and scaled monotonically onto
the space (:func:`draw_space`): Hypothesis draws bytes uniformly and shrinks them
lexicographically (zero, then lower the leading byte first), so the shrinker simplifies the
structure before the details. A bounded ``st.integers`` would not do: above 256 values its
distribution is heavy-tailed toward small numbers, which would starve the high digits.

``pick(draw, seq)`` is ``draw(st.sampled_from(seq))`` (it shrinks toward ``seq[0]`` the same way)
without constructing and validating a new strategy for every call.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any, TypeVar

from hypothesis import strategies as st

T = TypeVar("T")
BOOL = st.booleans()
#: largest space drawn as one byte string; a larger Prod is drawn in groups of parts
DRAW_LIMIT = 1 << 24


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


# -- flat spaces ---------------------------------------------------------------------------------
class Space:
    """A finite set of values numbered 0..size-1; 0 is the simplest."""

    size: int

    def decode(self, v: int) -> Any:
        """The value numbered ``v`` (0 <= v < size)."""
        raise NotImplementedError


class Pick(Space):
    """One of ``options`` (the first is the simplest)."""

    def __init__(self, options: tuple[Any, ...]) -> None:
        self.options = options
        self.size = len(options)

    def decode(self, v: int) -> Any:
        return self.options[v]


def flag(enabled: bool = True) -> Pick:
    """False/True, or always False when not ``enabled``."""
    return Pick((False, True)) if enabled else Pick((False,))


def count(lo: int, hi: int) -> Pick:
    """An integer in lo..hi (lo simplest)."""
    return Pick(tuple(range(lo, hi + 1)))


class Prod(Space):
    """A tuple with one value per part; the first part is the most significant digit."""

    def __init__(self, *parts: Space) -> None:
        self.parts = parts
        self.size = 1
        for p in parts:
            self.size *= p.size

    def decode(self, v: int) -> tuple[Any, ...]:
        out: list[Any] = []
        for p in reversed(self.parts):
            v, d = divmod(v, p.size)
            out.append(p.decode(d))
        out.reverse()
        return tuple(out)


class OneOf(Space):
    """``(tag, value)`` from one of the non-empty ``branches``, each branch equally likely.

    The branch is the most significant digit; within it, the remainder modulo the branch's size
    picks the value, so a small branch is not drowned by a large one.
    """

    def __init__(self, branches: Sequence[tuple[str, Space]]) -> None:
        self.branches = tuple((t, s) for t, s in branches if s.size > 0)
        assert self.branches, "OneOf needs a non-empty branch"
        self.width = max(s.size for _, s in self.branches)
        self.size = len(self.branches) * self.width

    def decode(self, v: int) -> tuple[str, Any]:
        b, rest = divmod(v, self.width)
        tag, space = self.branches[b]
        return tag, space.decode(rest % space.size)


@lru_cache(maxsize=16)
def _blob(n: int) -> st.SearchStrategy[bytes]:
    return st.binary(min_size=n, max_size=n)


def draw_index(draw: st.DrawFn, size: int) -> int:
    """A uniform index in 0..size-1 from one byte-string draw (all zero bytes give 0).

    One spare byte beyond the size keeps the scaling bias under 1/256; the mapping is monotone,
    so lexicographically smaller bytes never give a larger index.
    """
    n = (size.bit_length() + 15) // 8
    return int.from_bytes(draw(_blob(n)), "big") * size >> (8 * n)


def draw_space(draw: st.DrawFn, space: Space) -> Any:
    """One value of ``space``: a single draw, or one per group of parts of a too-large Prod."""
    if space.size <= 1:
        return space.decode(0)
    if space.size <= DRAW_LIMIT or not isinstance(space, Prod):
        return space.decode(draw_index(draw, space.size))
    out: list[Any] = []
    group: list[Space] = []
    size = 1
    for p in [*space.parts, None]:
        if p is None or size * p.size > DRAW_LIMIT:
            if group:
                out += draw_space(draw, Prod(*group)) if len(group) > 1 else [
                    draw_space(draw, group[0])]
            group, size = [], 1
        if p is not None:
            group.append(p)
            size *= p.size
    return tuple(out)
