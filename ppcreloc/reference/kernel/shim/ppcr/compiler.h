/* Compiler macros used by the headers module_64.c pulls in (project code).
 *
 * The attribute macros (__packed, noinline, __printf, fallthrough, ...), __stringify and
 * IS_ALIGNED come from the fetched tree's own linux/compiler_attributes.h, linux/stringify.h
 * and linux/align.h; what is defined here are the annotations and helpers a user-space build
 * needs as no-ops or in a simpler form. */
#ifndef PPCR_COMPILER_H
#define PPCR_COMPILER_H

#include <linux/compiler_attributes.h>
#include <linux/stringify.h>
#include <linux/align.h>

#ifndef __cold /* in compiler_attributes.h up to 6.1, in compiler_types.h after */
#define __cold __attribute__((cold))
#endif
#define __user
#define __iomem
#define __kernel
#define __force
#define __rcu
#define __percpu
#define __init
#define __exit
#define __ref
#define __ro_after_init
#define __read_mostly
#define notrace
#define __chk_user_ptr(x) ((void)0)
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define barrier() __asm__ __volatile__("" ::: "memory")
#define ARRAY_SIZE(arr) (sizeof(arr) / sizeof((arr)[0]))
/* as in the kernel, resolved by the optimiser: dead branches may hold non-constant conditions */
#define BUILD_BUG_ON(cond) do { \
	extern void __ppcr_build_bug(void) __attribute__((__error__("BUILD_BUG_ON: " #cond))); \
	if (cond) \
		__ppcr_build_bug(); \
} while (0)
#define BUILD_BUG() do { } while (0)
#define NOKPROBE_SYMBOL(fname)
#define EXPORT_SYMBOL(sym)
#define offsetof(TYPE, MEMBER) __builtin_offsetof(TYPE, MEMBER)
#define READ_ONCE(x) (*(volatile typeof(x) *)&(x))
#define WRITE_ONCE(x, val) (*(volatile typeof(x) *)&(x) = (val))
/* 6.1's asm/code-patching.h declares init_mem_is_free with this */
struct static_key_false {
	int enabled;
};
#define DECLARE_STATIC_KEY_FALSE(name) extern struct static_key_false name

#endif
