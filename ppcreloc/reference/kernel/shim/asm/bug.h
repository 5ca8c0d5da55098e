/* asm/bug.h shim (project code): the generic WARN_ON from linux/bug.h is all we need. */
#ifndef _ASM_POWERPC_BUG_H
#define _ASM_POWERPC_BUG_H
#include <linux/bug.h>
struct bug_entry;
#endif
