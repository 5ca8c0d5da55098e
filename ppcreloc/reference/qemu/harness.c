/* ppcreloc run-time oracle: map memory images at fixed addresses and call into them.
 *
 * Input (stdin), one command per line:
 *   map ADDR HEXBYTES     copy the bytes to ADDR (pages mapped rwx, MAP_FIXED_NOREPLACE)
 *   call ADDR ARG         call ADDR as an ELFv2 function (r12 = ADDR, r3 = ARG)
 * Output (stdout), one line per call: "ret VALUE" (r3, hex) or "signal N" (SIGSEGV, SIGILL,
 * SIGBUS, SIGTRAP caught; the harness then goes on with the next command). Errors in the input
 * or a refused mapping print "error ..." and exit 2. Written for ppcreloc; no kernel code.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

static sigjmp_buf env;
static uint64_t mapped[4096];
static size_t nmapped;
static char line[1 << 22];

static void on_signal(int sig) { siglongjmp(env, sig); }

static int hexval(int c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	return -1;
}

static int map_bytes(uint64_t addr, const char *hex)
{
	size_t n = strlen(hex) / 2, page = (size_t)sysconf(_SC_PAGESIZE);
	uint64_t lo = addr & ~(uint64_t)(page - 1), hi = (addr + n + page - 1) & ~(uint64_t)(page - 1);
	for (uint64_t p = lo; p < hi; p += page) {
		size_t k;
		for (k = 0; k < nmapped && mapped[k] != p; k++)
			;
		if (k < nmapped)
			continue; /* mapped by an earlier "map" line */
		void *got = mmap((void *)p, page, PROT_READ | PROT_WRITE | PROT_EXEC,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		if (got != (void *)p || nmapped == sizeof(mapped) / sizeof(mapped[0]))
			return -1;
		mapped[nmapped++] = p;
	}
	unsigned char *dst = (unsigned char *)addr;
	for (size_t i = 0; i < n; i++) {
		int a = hexval(hex[2 * i]), b = hexval(hex[2 * i + 1]);
		if (a < 0 || b < 0) return -1;
		dst[i] = (unsigned char)(a << 4 | b);
	}
	__builtin___clear_cache((char *)addr, (char *)addr + n);
	return 0;
}

int main(void)
{
	struct sigaction sa;
	static char altstack[1 << 16];
	stack_t ss = { .ss_sp = altstack, .ss_size = sizeof(altstack) };
	sigaltstack(&ss, NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_ONSTACK | SA_NODEFER;
	int sigs[] = { SIGSEGV, SIGILL, SIGBUS, SIGTRAP };
	for (unsigned i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);

	while (fgets(line, sizeof(line), stdin)) {
		char cmd[8];
		unsigned long long addr, arg;
		if (sscanf(line, "%7s %llx", cmd, &addr) != 2) {
			if (line[0] == '\n') continue;
			printf("error bad line\n");
			return 2;
		}
		if (strcmp(cmd, "map") == 0) {
			char *bytes = strchr(strchr(line, ' ') + 1, ' ');
			if (!bytes) { printf("error map without bytes\n"); return 2; }
			bytes++;
			bytes[strcspn(bytes, "\r\n")] = 0;
			if (map_bytes(addr, bytes)) { printf("error cannot map %llx\n", addr); return 2; }
		} else if (strcmp(cmd, "call") == 0) {
			if (sscanf(line, "%*s %*x %llx", &arg) != 1) arg = 0;
			int sig = sigsetjmp(env, 1);
			if (sig) {
				printf("signal %d\n", sig);
				continue;
			}
			uint64_t (*fn)(uint64_t) = (uint64_t (*)(uint64_t))(uintptr_t)addr;
			uint64_t r = fn(arg);
			printf("ret %llx\n", (unsigned long long)r);
		} else {
			printf("error unknown command %s\n", cmd);
			return 2;
		}
	}
	return 0;
}
