"""The errno values the modelled kernel code returns, negated (include/uapi/asm-generic/errno-base.h).

The one table for the arch code (module_64.c), the loader (kernel/module/main.c) and the livepatch
driver (kernel/livepatch/core.c).
"""

ENOENT = 2
ENOEXEC = 8
EFAULT = 14
EINVAL = 22
