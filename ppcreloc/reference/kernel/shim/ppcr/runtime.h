/* The harness runtime (runtime.c, project code) as seen by the kernel file and the shims.
 *
 * Harness-set values stand in for what the running kernel would supply (its TOC, the ftrace
 * trampolines); recorders capture printk, WARN_ON and every write made through a patch
 * primitive, so the Python side can turn them into engine events.
 */
#ifndef PPCR_RUNTIME_H
#define PPCR_RUNTIME_H

/* libc pieces the kernel file uses (string.h is not visible under -nostdinc). */
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strchr(const char *s, int c);
char *strstr(const char *haystack, const char *needle);

extern unsigned long ppcr_kernel_toc;
extern unsigned long ppcr_ftrace_caller_addr;
extern unsigned long ppcr_ftrace_regs_caller_addr;

/* Recorders. */
int ppcr_printk(const char *level, const char *fmt, ...);
void ppcr_warn(const char *file, int line);
void ppcr_debug_mark(const char *fmt);
int ppcr_patch_write(void *addr, unsigned long val, int size, int primitive);

enum ppcr_primitive {
	PPCR_PATCH_INSTRUCTION = 0,
	PPCR_PATCH_U32 = 1,
	PPCR_PATCH_ULONG = 2,
};

#endif
