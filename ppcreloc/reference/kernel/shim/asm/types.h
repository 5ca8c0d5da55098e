/* asm/types.h shim (project code): the 128-bit vector type the uapi ELF header names. */
#ifndef _ASM_POWERPC_TYPES_H
#define _ASM_POWERPC_TYPES_H
#include <linux/types.h>
typedef struct {
	__u32 u[4];
} __attribute__((aligned(16))) __vector128;
typedef __vector128 vector128;
#endif
