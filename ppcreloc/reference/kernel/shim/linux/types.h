/* linux/types.h shim (project code). */
#ifndef _LINUX_TYPES_H
#define _LINUX_TYPES_H
#include <ppcr/types.h>
typedef int (*cmp_func_t)(const void *a, const void *b);
typedef int (*cmp_r_func_t)(const void *a, const void *b, const void *priv);
typedef void (*swap_func_t)(void *a, void *b, int size);
typedef void (*swap_r_func_t)(void *a, void *b, int size, const void *priv);
struct list_head {
	struct list_head *next, *prev;
};
#endif
