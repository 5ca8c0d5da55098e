"""Bounded reading of every file a user hands ppcreloc: objects (plain, ``.xz``, ``.gz``,
``.zst``), symbol maps and fixture sidecars.

Each reader streams, stops one byte past its limit and raises :class:`InputError` (one line, exit
2), so a decompression bomb or a huge file costs at most its limit in memory and the time to
decompress that much. A compressed object's first 64 bytes (the ELF header) are checked before
anything else is decompressed: a bomb of zeros fails after one block.

The limits are derived from the largest real inputs, measured:

* :data:`MAX_OBJECT_SIZE` 256 MiB: the largest module in Debian's ppc64el 6.12 kernel image is
  ``amdgpu.ko``, 21,363,592 bytes decompressed (``xz -dc amdgpu.ko.xz | wc -c``, 3.4 MB
  compressed); 256 MiB is 12 times that. ``--max-object-size`` raises it.
* :data:`MAX_MAP_SIZE` 64 MiB: a running distribution kernel's ``/proc/kallsyms`` (x86-64 Debian
  host with modules loaded: 121,866 lines, 5.4 MB; ``wc -lc /proc/kallsyms``); 64 MiB is 12 times
  that.
* :data:`MAX_SIDECAR_SIZE` 16 MiB: a sidecar holds one generated case's symbol world and layout
  (a few KB in the committed corpus).
"""

from __future__ import annotations

import gzip
import lzma
import os
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, Protocol

from ppcreloc.errors import PpcrelocError

MiB = 1 << 20
MAX_OBJECT_SIZE = 256 * MiB
MAX_MAP_SIZE = 64 * MiB
MAX_SIDECAR_SIZE = 16 * MiB
#: the ELF64 header (Elf64_Ehdr): checked before the rest of a compressed object is read
ELF_HEADER_SIZE = 64
ELF_MAGIC = b"\x7fELF"
CHUNK = MiB


class InputError(PpcrelocError):
    """An input file is unreadable, too large, badly compressed or not what it should be."""


class Readable(Protocol):
    """A decompressing stream: ``read(n)`` gives at most ``n`` bytes."""

    def read(self, size: int = -1, /) -> bytes: ...


def _open_zstd(fh: BinaryIO) -> Readable:
    import zstandard

    return zstandard.ZstdDecompressor().stream_reader(fh, read_across_frames=True)


#: decompressor by leading magic bytes (as kmod tells compressed modules apart)
COMPRESSED: dict[bytes, tuple[str, Callable[[BinaryIO], Readable]]] = {
    b"\xfd7zXZ\x00": ("xz", lambda fh: lzma.LZMAFile(fh)),
    b"\x1f\x8b": ("gzip", lambda fh: gzip.GzipFile(fileobj=fh)),
    b"\x28\xb5\x2f\xfd": ("zstd", _open_zstd),
}
#: suffixes that promise compression (a .xz file without xz magic is an error, not plain data)
SUFFIXES = {".xz": "xz", ".gz": "gzip", ".zst": "zstd"}


def _limit_text(limit: int) -> str:
    return f"{limit // MiB} MiB" if limit % MiB == 0 else f"{limit} bytes"


def _read_bounded(stream: Readable, limit: int, path: str, what: str, flag: str,
                  head: bytes = b"") -> bytes:
    """``head`` and everything ``stream`` gives after it, at most ``limit`` bytes in all
    (InputError past it)."""
    parts = [head]
    total = len(head)
    while total <= limit:
        chunk = stream.read(min(CHUNK, limit + 1 - total))
        if not chunk:
            return b"".join(parts)
        total += len(chunk)
        parts.append(chunk)
    raise InputError(f"{path}: {what} larger than {_limit_text(limit)}{flag}")


def _decompress_error(path: str, kind: str, exc: BaseException) -> InputError:
    return InputError(f"{path}: cannot decompress {kind} data ({exc})")


def read_object_bytes(path: str | os.PathLike[str], limit: int = MAX_OBJECT_SIZE) -> bytes:
    """The ELF image in ``path``: plain, or xz/gzip/zstd compressed (detected by magic; a
    ``.xz``/``.gz``/``.zst`` suffix requires it), at most ``limit`` bytes decompressed.

    InputError (one line) when the file is unreadable, badly compressed or larger than
    ``limit``, or when compressed data does not start with the ELF magic (checked on the first 64
    decompressed bytes, before the rest is decompressed).
    """
    name = os.fspath(path)
    try:
        with open(name, "rb") as fh:
            return read_object_from(fh, name, limit)
    except OSError as exc:
        raise InputError(f"cannot read {name}: {exc.strerror or exc}") from None


def read_object_from(fh: BinaryIO, name: str, limit: int = MAX_OBJECT_SIZE) -> bytes:
    """:func:`read_object_bytes` on an open seekable binary file ``fh`` called ``name``."""
    flag = " (--max-object-size raises the limit)"
    head = fh.read(8)
    fh.seek(0)
    kind, opener = next(((k, o) for m, (k, o) in COMPRESSED.items() if head.startswith(m)),
                        ("", None))
    wanted = SUFFIXES.get(Path(name).suffix)
    if wanted and wanted != kind:
        raise InputError(f"{name}: cannot decompress: not {wanted} data")
    if opener is None:
        if fh.seek(0, os.SEEK_END) > limit:
            raise InputError(f"{name}: object larger than {_limit_text(limit)}{flag}")
        fh.seek(0)
        return _read_bounded(fh, limit, name, "object", flag)  # read_elf judges it
    try:
        stream = opener(fh)
        header = stream.read(ELF_HEADER_SIZE)
        _check_elf_header(name, header)
        return _read_bounded(stream, limit, name, "decompressed object", flag, header)
    except (lzma.LZMAError, zlib.error, EOFError, gzip.BadGzipFile) as exc:
        raise _decompress_error(name, kind, exc) from None
    except Exception as exc:  # zstandard.ZstdError (its type lives in a backend module)
        if type(exc).__module__.startswith("zstandard"):
            raise _decompress_error(name, kind, exc) from None
        raise


def _check_elf_header(path: str, header: bytes) -> None:
    """A compressed object's first bytes must be the ELF magic (read_elf checks the rest)."""
    if not header.startswith(ELF_MAGIC):
        shown = f"bad magic {header[:4].hex()}" if header else "empty once decompressed"
        raise InputError(f"{path}: not an ELF file ({shown})")


def read_text_bounded(path: str | os.PathLike[str], limit: int, what: str) -> str:
    """A text file (UTF-8, undecodable bytes kept as surrogates), at most ``limit`` bytes."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as fh:
            if os.path.isfile(name) and os.fstat(fh.fileno()).st_size > limit:
                raise InputError(f"{name}: {what} larger than {_limit_text(limit)}")
            data = _read_bounded(fh, limit, name, what, "")
    except OSError as exc:
        raise InputError(f"cannot read {what} {name}: {exc.strerror or exc}") from None
    return data.decode("utf-8", errors="surrogateescape")


def object_stem(name: str) -> str:
    """``nfsd`` for ``nfsd.ko``, ``nfsd.ko.xz``, ``nfsd.ko.gz``, ``nfsd.ko.zst`` or ``nfsd.o``."""
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    for suffix in (".ko", ".o"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name
