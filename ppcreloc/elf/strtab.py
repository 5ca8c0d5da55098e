"""Bounded lookups in an ELF string table: O(log n) per name, whatever the input looks like."""

from __future__ import annotations

from bisect import bisect_left
from itertools import accumulate

from ppcreloc.elf.errors import ElfFormatError

#: decoded names may total this many times their string table's size (plus the slack)
MAX_NAME_BYTES_FACTOR = 16
#: room for small tables whose names share long suffixes
NAME_BYTES_SLACK = 1 << 20


class StringTable:
    """The strings of one SHT_STRTAB section, looked up by offset.

    NUL positions are indexed once, so a hostile table (1 MB with no NUL, or thousands of names
    pointing into one long string) costs one pass, not one scan per name. Every distinct name is
    a copy, so the decoded names may total at most :data:`MAX_NAME_BYTES_FACTOR` times the table
    plus :data:`NAME_BYTES_SLACK`: suffix-sharing tables stay far below that, while thousands of
    names pointing into one long string would otherwise copy gigabytes.
    """

    def __init__(self, blob: bytes, what: str) -> None:
        self.blob = blob
        self.what = what
        self._budget = MAX_NAME_BYTES_FACTOR * len(blob) + NAME_BYTES_SLACK
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
        end = self._nuls[k]
        self._budget -= end - offset
        if self._budget < 0:
            raise ElfFormatError(
                f"{user}: names in {self.what} total more than "
                f"{MAX_NAME_BYTES_FACTOR * len(self.blob) + NAME_BYTES_SLACK} bytes "
                f"({MAX_NAME_BYTES_FACTOR}x the table plus {NAME_BYTES_SLACK}): overlapping names"
            )
        name = self.blob[offset:end].decode("utf-8", "surrogateescape")
        self._cache[offset] = name
        return name
