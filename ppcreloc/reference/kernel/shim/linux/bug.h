/* WARN_ON shim (project code): records the warning and returns the condition, as the code
 * branches on it. */
#ifndef _LINUX_BUG_H
#define _LINUX_BUG_H

#define WARN_ON(cond) ({ \
	int ppcr_warned = !!(cond); \
	if (ppcr_warned) \
		ppcr_warn(__FILE__, __LINE__); \
	ppcr_warned; \
})
/* the harness counts every warning, so a once-only warning is an ordinary one */
#define WARN_ON_ONCE(cond) WARN_ON(cond)
#define WARN(cond, fmt...) WARN_ON(cond)
#define BUG_ON(cond) do { if (cond) __builtin_trap(); } while (0)
#define BUG() __builtin_trap()

#endif
