/* linux/uaccess.h shim (project code): nothing from this header is used by module_64.c. */
#ifndef PPCR_SHIM_LINUX_UACCESS_H
#define PPCR_SHIM_LINUX_UACCESS_H
#include <linux/types.h>
#endif
