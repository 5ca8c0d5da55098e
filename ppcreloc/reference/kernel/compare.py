"""Kernel-vs-model differential: the comparison now lives in the product, :mod:`ppcreloc.compare`
(``ppcreloc diff`` uses it without importing ppcreloc/reference/); this name is kept for the tests and
scripts that import it from here."""

from ppcreloc.compare import FAULT_FIELDS, FIELDS, PATCH_PRIMITIVES, Disagreement, disagreements

__all__ = ["FAULT_FIELDS", "FIELDS", "PATCH_PRIMITIVES", "Disagreement", "disagreements"]
