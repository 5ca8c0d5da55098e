/* linux/string.h shim (project code): the libc string functions, declared in ppcr/runtime.h. */
#ifndef _LINUX_STRING_H
#define _LINUX_STRING_H
#include <linux/types.h>
#endif
