"""Finding modules in the ppc64el package cache, whatever their compression.

Debian's 6.1 images ship ``.ko`` files and its 6.12 images ``.ko.xz``; other distributions use
``.ko.gz`` or ``.ko.zst``. Tests look modules up by name, never by a hard-coded path or suffix.
"""

from __future__ import annotations

import gzip
import lzma
from pathlib import Path

#: module file suffixes the tier accepts (``.ko.zst`` is found, and read where ppcreloc can)
SUFFIXES = (".ko", ".ko.xz", ".ko.gz", ".ko.zst")
_UNPACK = {".xz": lzma.decompress, ".gz": gzip.decompress}


def module_files(moddir: Path) -> list[Path]:
    """Every module file under ``moddir``, sorted."""
    return sorted(p for p in moddir.rglob("*.ko*") if p.name.endswith(SUFFIXES))


def module_stem(path: Path | str) -> str:
    """The module's file name without its suffix (``nfsd`` for ``nfsd.ko.xz``)."""
    name = Path(path).name
    return next(name[: -len(s)] for s in sorted(SUFFIXES, key=len, reverse=True) if name.endswith(s))


def find_module(moddir: Path, stem: str) -> Path | None:
    """The module file called ``stem`` (any suffix) under ``moddir``, or None."""
    return next((p for p in module_files(moddir) if module_stem(p) == stem), None)


def module_bytes(path: Path) -> bytes:
    """The ELF image of a module file, decompressed as its suffix says."""
    data = path.read_bytes()
    unpack = _UNPACK.get(path.suffix)
    return unpack(data) if unpack is not None else data
