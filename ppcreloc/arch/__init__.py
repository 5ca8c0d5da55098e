"""arch/powerpc/kernel/module_64.c as Python: frob/sort, stubs, apply_relocate_add.

The kernel functions are methods of mixins (one file per job) that a profile class combines; a
profile overrides the seams where kernel versions differ (see ppcreloc.profiles).
"""
