"""lib/sort.c's heapsort and module_64.c's relacmp, step for step, so ties land where the kernel's do.

Both versions sort in place with byte-scaled counters and the bottom-up sift-down; they differ in
the extraction phase and one comparison:

* 6.1 (sort_r_v6_1): extract one root per round; the sift-down picks the left child when
  cmp(left, right) >= 0.
* 6.12 (sort_r_v6_12, the "double-pop" variant): extract two largest per round while more than
  three remain, picks the left child only when cmp(left, right) > 0, and finishes the last two or
  three elements with explicit swaps.

Written from the algorithm as the two lib/sort.c files describe it; the element size is that of
Elf64_Rela (24 bytes), which the parent() computation depends on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from ppcreloc.elf.model import Rela

T = TypeVar("T")
Cmp = Callable[[T, T], int]

ELF64_RELA_SIZE = 24


def relacmp(a: Rela, b: Rela) -> int:
    """module_64.c relacmp: arguments swapped, so the order is descending r_info, then addend.

    r_info is compared as an unsigned 64-bit number, r_addend as a signed one.
    """
    x, y = b, a
    # r_info as Rela.info packs it (spelled out: this runs n log n times per section)
    xi = ((x.sym & 0xFFFF_FFFF) << 32) | (x.type & 0xFFFF_FFFF)
    yi = ((y.sym & 0xFFFF_FFFF) << 32) | (y.type & 0xFFFF_FFFF)
    if xi != yi:
        return -1 if xi < yi else 1
    if x.addend != y.addend:
        return -1 if x.addend < y.addend else 1
    return 0


def _parent(i: int, lsbit: int, size: int) -> int:
    """lib/sort.c parent(): the parent's byte offset, without a division by ``size``."""
    i -= size
    i -= size & -(i & lsbit)
    return i // 2


def sort_r_v6_1(items: list[T], cmp: Cmp[T], size: int = ELF64_RELA_SIZE) -> None:
    """lib/sort.c sort_r as in 6.1: bottom-up heapsort, one extraction per round (in place)."""
    num = len(items)
    n, a = num * size, (num // 2) * size
    lsbit = size & -size
    if not a:
        return

    def c_(i: int, j: int) -> int:
        return cmp(items[i // size], items[j // size])

    def swap(i: int, j: int) -> None:
        items[i // size], items[j // size] = items[j // size], items[i // size]

    while True:
        if a:
            a -= size
        else:
            n -= size
            if not n:
                break
            swap(0, n)
        b = a
        while True:
            c = 2 * b + size
            d = c + size
            if d >= n:
                break
            b = c if c_(c, d) >= 0 else d
        if d == n:
            b = c
        while b != a and c_(a, b) >= 0:
            b = _parent(b, lsbit, size)
        c = b
        while b != a:
            b = _parent(b, lsbit, size)
            swap(b, c)


def sort_r_v6_12(items: list[T], cmp: Cmp[T], size: int = ELF64_RELA_SIZE) -> None:
    """lib/sort.c sort_r as in 6.12: the double-pop heapsort (in place)."""
    num = len(items)
    n, a = num * size, (num // 2) * size
    lsbit = size & -size
    shift = 0
    if not a:
        return

    def c_(i: int, j: int) -> int:
        return cmp(items[i // size], items[j // size])

    def swap(i: int, j: int) -> None:
        items[i // size], items[j // size] = items[j // size], items[i // size]

    while True:
        if a:
            a -= size << shift
        elif n > 3 * size:
            n -= size
            swap(0, n)
            shift = 1 if c_(size, 2 * size) <= 0 else 0
            a = size << shift
            n -= size
            swap(a, n)
        else:
            break
        b = a
        while True:
            c = 2 * b + size
            d = c + size
            if d >= n:
                break
            b = c if c_(c, d) > 0 else d
        if d == n:
            b = c
        while b != a and c_(a, b) >= 0:
            b = _parent(b, lsbit, size)
        c = b
        while b != a:
            b = _parent(b, lsbit, size)
            swap(b, c)

    n -= size
    swap(0, n)
    if n == size * 2 and c_(0, size) > 0:
        swap(0, size)


SORTS: dict[str, Callable[[list[Rela], Cmp[Rela]], None]] = {
    "6.1": sort_r_v6_1,
    "6.12": sort_r_v6_12,
}
