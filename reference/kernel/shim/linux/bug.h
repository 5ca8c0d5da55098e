/* WARN_ON shim (project code): records the warning and returns the condition, as the code
 * branches on it. */
#ifndef _LINUX_BUG_H
#define _LINUX_BUG_H

#define WARN_ON(condition) ({ \
	int __ret_warn_on = !!(condition); \
	if (__ret_warn_on) \
		ppcr_warn(__FILE__, __LINE__); \
	__ret_warn_on; \
})
#define WARN_ON_ONCE(condition) WARN_ON(condition)
#define WARN(condition, fmt...) WARN_ON(condition)
#define BUG_ON(condition) do { if (condition) __builtin_trap(); } while (0)
#define BUG() __builtin_trap()

#endif
