"""Run-time oracle: execute relocated module memory under qemu-ppc64le and see where calls go.

A small static ppc64le program (``harness.c``, built once with powerpc64le-linux-gnu-gcc and
cached by content hash) maps memory images at fixed addresses and calls entry points as ELFv2
functions (r12 = entry), reporting r3 or the signal that stopped the call. Only user-space
addresses (below 2**47) can be mapped, so scenarios for this oracle use user-range layouts and
symbol worlds. Measured (references.md): about 20 ms per qemu launch.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ppcreloc.bits import M64
from ppcreloc.errors import PpcrelocError
from ppcreloc.records import RunResult

QEMU = "qemu-ppc64le"
GCC = "powerpc64le-linux-gnu-gcc"
HARNESS = Path(__file__).with_name("harness.c")
USER_LIMIT = 1 << 47


class QemuError(PpcrelocError):
    """The run-time oracle could not be built or run, or was given unmappable memory."""


@dataclass(frozen=True)
class CallOutcome:
    """What one call did: returned ``value`` (r3), or was stopped by ``signal``."""

    value: int | None = None
    signal: int | None = None


def available() -> str | None:
    """None when the oracle can run here, else why not (for pytest.skip)."""
    missing = [t for t, pkg in ((QEMU, "qemu-user"), (GCC, "gcc-powerpc64le-linux-gnu"))
               if shutil.which(t) is None]
    if missing:
        return f"{', '.join(missing)} not installed (Debian qemu-user, gcc-powerpc64le-linux-gnu)"
    return None


def harness(cache: Path | None = None) -> Path:
    """The built harness, compiled on first use into ``cache`` (default ~/.cache/ppcreloc)."""
    reason = available()
    if reason:
        raise QemuError(reason)
    src = HARNESS.read_bytes()
    digest = hashlib.sha256(src).hexdigest()[:16]
    root = cache or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ppcreloc"
    exe = root / f"qemu-harness-{digest}"
    if not exe.exists():
        root.mkdir(parents=True, exist_ok=True)
        tmp = exe.with_suffix(f".{os.getpid()}.tmp")
        proc = subprocess.run([GCC, "-static", "-O2", "-o", str(tmp), str(HARNESS)],
                              capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            raise QemuError(f"building the harness failed: {proc.stderr.strip()[:200]}")
        tmp.replace(exe)  # atomic: concurrent builders agree on the result
    return exe


def run(images: Mapping[int, bytes], calls: Sequence[tuple[int, int]],
        timeout: float = 30.0) -> list[CallOutcome]:
    """Map each ``images`` blob at its address, make each (entry, r3) call, return outcomes."""
    lines = []
    for addr, data in sorted(images.items()):
        if not 0 < addr or addr + len(data) > USER_LIMIT:
            raise QemuError(f"image at {addr:#x} is outside the user address range")
        if data:
            lines.append(f"map {addr:x} {data.hex()}")
    lines += [f"call {entry:x} {arg & M64:x}" for entry, arg in calls]
    try:
        proc = subprocess.run([QEMU, str(harness())], input="\n".join(lines) + "\n",
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise QemuError(f"qemu did not finish within {timeout} s (a call loops?)") from None
    out: list[CallOutcome] = []
    for line in proc.stdout.splitlines():
        kind, _, value = line.partition(" ")
        if kind == "ret":
            out.append(CallOutcome(value=int(value, 16)))
        elif kind == "signal":
            out.append(CallOutcome(signal=int(value)))
        else:
            raise QemuError(f"harness: {line}")
    if len(out) != len(calls):
        raise QemuError(f"harness stopped after {len(out)} of {len(calls)} calls "
                        f"(exit {proc.returncode}): {proc.stderr.strip()[:200]}")
    return out


def module_images(result: RunResult, step: int = -1) -> dict[int, bytes]:
    """The module's placed sections (with `.stubs`) after ``step``, by address."""
    memory = result.steps[step].memory
    return {p.addr: memory[p.index] for p in result.placements
            if p.index in memory and memory[p.index]}
