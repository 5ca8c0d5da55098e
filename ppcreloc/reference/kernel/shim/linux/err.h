/* linux/err.h shim (project code): errno values come from the tree's uapi headers. */
#ifndef _LINUX_ERR_H
#define _LINUX_ERR_H
#include <linux/types.h>
#include <asm-generic/errno.h>
#endif
