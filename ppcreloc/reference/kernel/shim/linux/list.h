/* linux/list.h shim (project code): only the type is needed. */
#ifndef _LINUX_LIST_H
#define _LINUX_LIST_H
#include <linux/types.h>
#endif
