/* ppcreloc kernel harness: fault guard (project code, MIT).
 *
 * Compiled against the system's libc headers (not the kernel's), this wraps each call into the
 * kernel's module_64.c so that a SIGSEGV/SIGBUS/SIGILL/SIGFPE inside it (the real code has no
 * bounds checks) returns to the caller with the signal number instead of killing the process.
 */
#include <setjmp.h>
#include <signal.h>
#include <string.h>

struct module;
int module_frob_arch_sections(void *hdr, void *sechdrs, char *secstrings, struct module *me);
int module_finalize_ftrace(struct module *mod, const void *sechdrs);
int apply_relocate_add(void *sechdrs, const char *strtab, unsigned int symindex,
		       unsigned int relsec, struct module *me);
void clear_relocate_add(void *sechdrs, const char *strtab, unsigned int symindex,
			unsigned int relsec, struct module *me) __attribute__((weak));

static sigjmp_buf env;
static volatile sig_atomic_t fault_sig;
static volatile unsigned long fault_addr;
static const int sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE };
static struct sigaction saved[4];

static void handler(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	fault_sig = sig;
	fault_addr = (unsigned long)si->si_addr;
	siglongjmp(env, 1);
}

static void arm(void)
{
	struct sigaction sa;
	int i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = handler;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	fault_sig = 0;
	fault_addr = 0;
	for (i = 0; i < 4; i++)
		sigaction(sigs[i], &sa, &saved[i]);
}

static void disarm(void)
{
	int i;

	for (i = 0; i < 4; i++)
		sigaction(sigs[i], &saved[i], 0);
}

int ppcr_fault_signal(void) { return fault_sig; }

unsigned long ppcr_fault_addr(void) { return fault_addr; }

int ppcr_has_clear_relocate_add(void) { return clear_relocate_add != 0; }

#define GUARDED(expr) do { \
	int rc = 0; \
	arm(); \
	if (sigsetjmp(env, 1) == 0) \
		rc = (expr); \
	disarm(); \
	return rc; \
} while (0)

int ppcr_guard_frob(void *hdr, void *sechdrs, char *secstrings, struct module *me)
{
	GUARDED(module_frob_arch_sections(hdr, sechdrs, secstrings, me));
}

int ppcr_guard_finalize_ftrace(struct module *me, void *sechdrs)
{
	GUARDED(module_finalize_ftrace(me, sechdrs));
}

int ppcr_guard_apply(void *sechdrs, const char *strtab, unsigned int symindex,
		     unsigned int relsec, struct module *me)
{
	GUARDED(apply_relocate_add(sechdrs, strtab, symindex, relsec, me));
}

int ppcr_guard_clear(void *sechdrs, const char *strtab, unsigned int symindex,
		     unsigned int relsec, struct module *me)
{
	GUARDED((clear_relocate_add ? clear_relocate_add(sechdrs, strtab, symindex, relsec, me)
				    : (void)0, 0));
}
