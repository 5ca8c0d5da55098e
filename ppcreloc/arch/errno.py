"""The errno values module_64.c returns (include/uapi/asm-generic/errno-base.h)."""

ENOENT = 2
ENOEXEC = 8
EFAULT = 14
