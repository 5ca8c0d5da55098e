/* asm/uaccess.h shim (project code): the nofault kernel read used by asm/inst.h helpers. */
#ifndef PPCR_SHIM_ASM_UACCESS_H
#define PPCR_SHIM_ASM_UACCESS_H
#include <linux/types.h>
int copy_from_kernel_nofault(void *dst, const void *src, size_t size);
#define __get_kernel_nofault(dst, src, type, err_label) do { \
	if (copy_from_kernel_nofault((dst), (src), sizeof(type))) \
		goto err_label; \
} while (0)
#define is_kernel_addr(x) ((unsigned long)(x) >= 0xc000000000000000UL)
#endif
