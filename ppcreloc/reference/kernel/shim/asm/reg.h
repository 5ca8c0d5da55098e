/* asm/reg.h shim (project code): only the 64-bit instruction type (word + prefix suffix). */
#ifndef _ASM_POWERPC_REG_H
#define _ASM_POWERPC_REG_H
#include <linux/types.h>
typedef struct {
	u32 val;
	u32 suffix;
} __packed ppc_inst_t;
#endif
