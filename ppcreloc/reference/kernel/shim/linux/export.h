/* linux/export.h shim (project code): nothing from this header is used by module_64.c. */
#ifndef PPCR_SHIM_LINUX_EXPORT_H
#define PPCR_SHIM_LINUX_EXPORT_H
#include <linux/types.h>
#endif
