/* asm/sections.h shim (project code): kernel_toc_addr() returns the harness-set kernel TOC
 * (the real one reads r2), and the head of struct paca_struct places kernel_toc at the
 * configured offset (16 with CONFIG_PPC_PSERIES, whose lppaca_ptr comes first). */
#ifndef _ASM_POWERPC_SECTIONS_H
#define _ASM_POWERPC_SECTIONS_H
#include <linux/types.h>

/* ELFv2 has no function descriptors (asm-generic/sections.h): the address alone. */
typedef struct {
	unsigned long addr;
} func_desc_t;

static inline unsigned long kernel_toc_addr(void)
{
	return ppcr_kernel_toc;
}

struct paca_struct {
	char ppcr_head[PPCR_PACA_KERNEL_TOC_OFFSET];
	u64 kernel_toc;
	u64 kernelbase;
};
extern struct paca_struct *ppcr_local_paca;
#define local_paca ppcr_local_paca

#include <asm/uaccess.h>
#endif
