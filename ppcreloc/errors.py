"""The error types a user can cause. The CLI turns each into one line on stderr and exit code 2."""


class PpcrelocError(Exception):
    """Base of every error ppcreloc reports to a user instead of a traceback."""


class UsageError(PpcrelocError):
    """Bad command-line arguments, an unknown engine or profile."""
