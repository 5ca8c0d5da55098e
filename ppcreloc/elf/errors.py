"""The one error type for malformed ELF input (and for models the writer cannot serialise)."""

from __future__ import annotations

from ppcreloc.errors import PpcrelocError


class ElfFormatError(PpcrelocError):
    """An ELF file (or ElfObject) is malformed; the message is one line naming the problem."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))
