"""The oracle's results: each invariant's state (:class:`InvariantResult`), the violations it
found (:class:`Violation`: relocation, address, bytes, the kernel's messages) and one engine's
:class:`Verdict` over all of :data:`INVARIANTS`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from ppcreloc.ppc64.reloctypes import display_name
from ppcreloc.records import (
    RunResult,
    Step,
)
from ppcreloc.stubbudget import StubBudget

INVARIANTS: tuple[str, ...] = (
    "apply",
    "apply_clear_apply",
    "clear_restores",
    "reapply_identical",
    "in_bounds",
    "reload_cycles",
    "abi_values",
)

#: Reload cycles ``ppcreloc check`` runs by default. A one-call object under the v6.12 profile
#: has one spare `.stubs` slot (the sentinel slot, module_64.c stub_for_addr); every fresh target
#: address needs a new slot, so the second cycle already writes past `.stubs`. 8 leaves room for
#: objects with a few more calls (more slack from the per-section REL24 count) to show it too.

# -- results ---------------------------------------------------------------------------------------
ByteOrder = Literal["little", "big"]


def show_bytes(data: bytes | None, byteorder: ByteOrder | None = None) -> str:
    """Bytes as the kernel's messages print them: 32-bit words in the object's byte order
    (``Expected nop after call, got e8410018``), followed by the bytes in memory order; just
    the bytes when the order is not known or the length is not whole words."""
    if data is None:
        return "-"
    if byteorder is None or not data or len(data) % 4:
        return f"bytes {data.hex(' ')}"
    words = " ".join(f"{int.from_bytes(data[i:i + 4], byteorder):08x}"
                     for i in range(0, len(data), 4))
    return f"{words} ({byteorder}-endian words; bytes {data.hex(' ')})"


@dataclass
class Violation:
    """One way an invariant failed: plain data, JSON-serialisable via :meth:`to_dict`.

    ``step`` is the index in the script, ``step_desc`` e.g. ``coming(foo, gen 0)``. The
    relocation fields name the RELA section (index and name), the index in its (sorted) array,
    the type and the symbol; ``expected``/``actual`` are the bytes at ``addr``.
    """

    invariant: str
    message: str
    step: int | None = None
    step_desc: str | None = None
    rc: int | None = None
    relsec: int | None = None
    section: str | None = None
    index: int | None = None
    type: int | None = None
    type_name: str | None = None
    symbol: str | None = None
    addr: int | None = None
    expected: bytes | None = None
    actual: bytes | None = None
    kernel_message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: bytes become hex strings."""
        out = asdict(self)
        for key in ("expected", "actual"):
            if out[key] is not None:
                out[key] = out[key].hex()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Violation:
        """Inverse of :meth:`to_dict`."""
        data = dict(data)
        for key in ("expected", "actual"):
            if data.get(key) is not None:
                data[key] = bytes.fromhex(data[key])
        return cls(**data)

    def describe(self, byteorder: ByteOrder | None = None) -> str:
        """A few human lines: the message, the relocation, the bytes (as ``byteorder`` words,
        see :func:`show_bytes`), the kernel message."""
        lines = [self.message]
        if self.section is not None:
            lines.append(
                f"  relocation: {self.section}[{self.index}] "
                f"{display_name(self.type) if self.type is not None else self.type_name} "
                f"sym {self.symbol or '(none)'}"
            )
        if self.addr is not None:
            lines.append(f"  address: {self.addr:#x}")
        if self.expected is not None or self.actual is not None:
            lines.append(f"  expected: {show_bytes(self.expected, byteorder)}")
            lines.append(f"  actual:   {show_bytes(self.actual, byteorder)}")
        if self.kernel_message:
            lines.append(f"  kernel: {self.kernel_message}")
        return "\n".join(lines)


#: what a program reads of an invariant's result (InvariantResult.state)
State = Literal["holds", "violated", "not judged"]
STATES: tuple[State, ...] = ("holds", "violated", "not judged")


@dataclass
class InvariantResult:
    """The verdict on one invariant. ``message`` explains a vacuous or failed result.

    ``judged`` is False when the run could not judge the invariant (an earlier apply failed, or
    the object has no target objects): ``holds`` stays True (nothing was violated, so the exit
    code is 0) but :attr:`state` is ``"not judged"`` and JSON gives ``"holds": null``.
    """

    holds: bool
    message: str | None = None
    violations: list[Violation] = field(default_factory=list)
    judged: bool = True

    @property
    def state(self) -> State:
        """``holds`` / ``violated`` / ``not judged``."""
        if not self.holds:
            return "violated"
        return "holds" if self.judged else "not judged"

    def to_dict(self, *, details: bool = False) -> dict[str, Any]:
        """``{"state", "holds" (true/false, null when not judged), "message"}``, plus
        ``violations`` (each :meth:`Violation.to_dict`) when ``details``."""
        out: dict[str, Any] = {"state": self.state,
                               "holds": self.holds if self.judged else None,
                               "message": self.message}
        if details:
            out["violations"] = [v.to_dict() for v in self.violations]
        return out


def not_judged(message: str) -> InvariantResult:
    """A result the run could not judge (vacuous, or its premise failed)."""
    return InvariantResult(True, message, judged=False)


@dataclass
class Verdict:
    """All seven invariants for one engine, plus the script and run they were judged on."""

    engine: str
    invariants: dict[str, InvariantResult]
    targets: list[str]
    script: list[Step]
    run: RunResult | None = None
    #: the object's byte order, for showing bytes as words
    byteorder: ByteOrder = "little"
    #: the `.stubs` accounting and the reload that exhausts it (None without target objects)
    stubs: StubBudget | None = None

    @property
    def cycles(self) -> int:
        """The reload cycles the script ran (each: going/coming of every target)."""
        return sum(s.generation > 0 and s.kind == "coming" for s in self.script) // (
            len(self.targets) or 1)

    @property
    def holds(self) -> bool:
        """True when every invariant holds."""
        return all(r.holds for r in self.invariants.values())

    def violations(self) -> list[Violation]:
        """Every violation, in invariant order."""
        return [v for name in INVARIANTS for v in self.invariants[name].violations]

    def to_dict(self, *, details: bool = False) -> dict[str, Any]:
        """``{"engine": NAME, "invariants": {name: {"state", "holds", "message"}, ...}}``
        (each invariant with its ``violations`` when ``details``)."""
        out: dict[str, Any] = {
            "engine": self.engine,
            "invariants": {n: self.invariants[n].to_dict(details=details) for n in INVARIANTS},
        }
        if self.stubs is not None:
            out["stubs"] = self.stubs.to_dict()
        return out
