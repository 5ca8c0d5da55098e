/* Compiler attribute macros used by the headers module_64.c pulls in (project code). */
#ifndef PPCR_COMPILER_H
#define PPCR_COMPILER_H

#define __always_inline inline __attribute__((__always_inline__))
#define noinline __attribute__((__noinline__))
#define __aligned(x) __attribute__((__aligned__(x)))
#define __packed __attribute__((__packed__))
#define __maybe_unused __attribute__((__unused__))
#define __used __attribute__((__used__))
#define __weak __attribute__((__weak__))
#define __printf(a, b) __attribute__((__format__(printf, a, b)))
#define __cold __attribute__((__cold__))
#define __attribute_const__ __attribute__((__const__))
#define __pure __attribute__((__pure__))
#define __must_check
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
#define __always_unused __attribute__((__unused__))
#define __chk_user_ptr(x) ((void)0)
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define barrier() __asm__ __volatile__("" ::: "memory")
#define __stringify_1(x...) #x
#define __stringify(x...) __stringify_1(x)
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
#define IS_ALIGNED(x, a) (((x) & ((typeof(x))(a) - 1)) == 0)
#define READ_ONCE(x) (*(volatile typeof(x) *)&(x))
#define WRITE_ONCE(x, val) (*(volatile typeof(x) *)&(x) = (val))
/* 6.1's asm/code-patching.h declares init_mem_is_free with this */
struct static_key_false {
	int enabled;
};
#define DECLARE_STATIC_KEY_FALSE(name) extern struct static_key_false name
#define fallthrough __attribute__((__fallthrough__))

#endif
