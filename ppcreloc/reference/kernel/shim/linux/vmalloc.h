/* linux/vmalloc.h shim (project code): nothing from this header is used by module_64.c. */
#ifndef PPCR_SHIM_LINUX_VMALLOC_H
#define PPCR_SHIM_LINUX_VMALLOC_H
#include <linux/types.h>
#endif
