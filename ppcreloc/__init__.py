"""ppcreloc: a property-based differential tester for the Linux kernel's ppc64 module relocation code."""

from ppcreloc import _native

__version__ = "0.1.0"
#: "mypyc" when the compiled engine runs, "python" when its sources do (ppcreloc._native)
BUILD = _native.select()
