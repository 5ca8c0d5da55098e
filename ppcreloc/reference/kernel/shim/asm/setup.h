/* asm/setup.h shim (project code): nothing from this header is used by module_64.c. */
#ifndef PPCR_SHIM_ASM_SETUP_H
#define PPCR_SHIM_ASM_SETUP_H
#include <linux/types.h>
#endif
