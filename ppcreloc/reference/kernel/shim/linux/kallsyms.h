/* linux/kallsyms.h shim (project code): declared for asm/code-patching.h, never called. */
#ifndef PPCR_SHIM_LINUX_KALLSYMS_H
#define PPCR_SHIM_LINUX_KALLSYMS_H
#include <linux/types.h>
unsigned long kallsyms_lookup_name(const char *name);
#endif
