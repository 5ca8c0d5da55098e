"""ppcreloc: a property-based differential tester for the Linux kernel's ppc64 module relocation code."""

__version__ = "0.1.0"
