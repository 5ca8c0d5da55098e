/* asm/ptrace.h shim (project code): nothing used; pulls in the vector type for uapi elf.h. */
#ifndef PPCR_SHIM_ASM_PTRACE_H
#define PPCR_SHIM_ASM_PTRACE_H
#include <asm/types.h>
#endif
