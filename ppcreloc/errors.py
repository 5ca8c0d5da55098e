"""The error types a user can cause. The CLI turns each into one line on stderr and exit code 2."""


class PpcrelocError(Exception):
    """Base of every error ppcreloc reports to a user instead of a traceback."""


class UsageError(PpcrelocError):
    """Bad command-line arguments, an unknown engine or profile."""


class WorldError(PpcrelocError):
    """A symbol map that cannot be read, or a request the symbol world cannot answer (a vmlinux
    symbol the arch code needs, e.g. ftrace_caller, that the world lacks)."""


class ToolError(PpcrelocError):
    """The tool itself failed on a case, so there is no verdict: a kernel engine child that
    exceeded its time limit (``outcome`` "hang"), died (``outcome`` "fault"), or whose records
    would be incomplete ("truncated"). Never an invariant violation: the CLI prints
    ``ppcreloc: tool error (OUTCOME): MESSAGE`` and exits 3."""

    def __init__(self, outcome: str, message: str) -> None:
        super().__init__(message)
        self.outcome = outcome
