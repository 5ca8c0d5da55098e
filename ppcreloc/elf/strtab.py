"""Bounded lookups in an ELF string table: O(log n) per name, whatever the input looks like."""

from __future__ import annotations

from bisect import bisect_left
from itertools import accumulate

from ppcreloc.elf.errors import ElfFormatError


class StringTable:
    """The strings of one SHT_STRTAB section, looked up by offset.

    NUL positions are indexed once, so a hostile table (1 MB with no NUL, or thousands of names
    pointing into one long string) costs one pass, not one scan per name.
    """

    def __init__(self, blob: bytes, what: str) -> None:
        self.blob = blob
        self.what = what
        parts = blob.split(b"\0")
        # Offsets of every NUL byte, ascending (the last part has no terminating NUL).
        self._nuls = list(accumulate(len(p) + 1 for p in parts[:-1]))
        self._nuls = [n - 1 for n in self._nuls]
        self._cache: dict[int, str] = {}

    def get(self, offset: int, user: str) -> str:
        """The NUL-terminated string at ``offset``; ``user`` names who asked, for errors."""
        name = self._cache.get(offset)
        if name is not None:
            return name
        if offset >= len(self.blob):
            raise ElfFormatError(
                f"{user}: name offset {offset:#x} past end of {self.what} (size {len(self.blob):#x})"
            )
        k = bisect_left(self._nuls, offset)
        if k == len(self._nuls):
            raise ElfFormatError(f"{user}: name at offset {offset:#x} in {self.what} not NUL-terminated")
        name = self.blob[offset : self._nuls[k]].decode("utf-8", "surrogateescape")
        self._cache[offset] = name
        return name
