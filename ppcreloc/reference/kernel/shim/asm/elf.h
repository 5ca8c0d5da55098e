/* asm/elf.h shim (project code): the tree's uapi ELF definitions are all module_64.c needs. */
#ifndef _ASM_POWERPC_ELF_H
#define _ASM_POWERPC_ELF_H
#include <uapi/asm/elf.h>
#endif
