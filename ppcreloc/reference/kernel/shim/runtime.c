/* ppcreloc kernel harness runtime (project code, MIT).
 *
 * Linked with the kernel's module_64.c into one shared library. It provides what the running
 * kernel would: the patch primitives (with the kernel's rule that patch_instruction stores 8
 * bytes for a prefixed instruction, primary opcode 1), copy_from_kernel_nofault, the harness-set
 * kernel TOC and ftrace trampoline addresses, and recorders for printk and WARN_ON. The Python
 * driver (reference/kernel/driver.py) reads the records through the ppcr_* accessors below.
 */
#include <asm/code-patching.h>
#include <asm/inst.h>
#include <linux/module.h>
#include <asm/sections.h>

void *realloc(void *ptr, size_t size);
void free(void *ptr);

typedef __builtin_va_list va_list;
#define va_start(v, l) __builtin_va_start(v, l)
#define va_end(v) __builtin_va_end(v)
#define va_arg(v, T) __builtin_va_arg(v, T)

unsigned long ppcr_kernel_toc;
unsigned long ppcr_ftrace_caller_addr;
unsigned long ppcr_ftrace_regs_caller_addr;
static struct paca_struct ppcr_paca;
struct paca_struct *ppcr_local_paca = &ppcr_paca;

/* ---- mapped ranges: a patch primitive outside them fails with -EFAULT, as the kernel's
 * nofault stores do on an unmapped address. A read-only range (module text after
 * module_enable_ro) takes plain stores as a fault; the patch primitives write it anyway, as the
 * kernel's do through their temporary writable alias. ---- */
int mprotect(void *addr, unsigned long len, int prot);
#define PPCR_PROT_READ 1
#define PPCR_PROT_WRITE 2
#define PPCR_MAX_RANGES 256
static unsigned long ranges[PPCR_MAX_RANGES][3]; /* start, end, read-only */
static int nranges;

void ppcr_reset_ranges(void) { nranges = 0; }

/* ---- record losses: a record that could not be kept (no memory, too many arguments, too
 * many ranges) sets a bit; the driver refuses the whole call's records then, so a truncated log
 * is never compared. ---- */
#define PPCR_LOST_WRITES 1
#define PPCR_LOST_MSGS 2
#define PPCR_LOST_ARGS 4
#define PPCR_LOST_RANGES 8
static int lost;

int ppcr_lost(void) { return lost; }

/* Grow *buf (of *cap elements of size each) to hold n + 1; 0 when memory runs out. */
static int reserve(void **buf, int *cap, int n, size_t size)
{
	void *grown;
	int want;

	if (n < *cap)
		return 1;
	want = *cap ? *cap * 2 : 1024;
	if (want <= n)
		return 0;
	grown = realloc(*buf, (size_t)want * size);
	if (!grown)
		return 0;
	*buf = grown;
	*cap = want;
	return 1;
}

int ppcr_add_range(unsigned long start, unsigned long end, int ro)
{
	if (nranges >= PPCR_MAX_RANGES) {
		lost |= PPCR_LOST_RANGES;
		return -1;
	}
	ranges[nranges][0] = start;
	ranges[nranges][1] = end;
	ranges[nranges][2] = ro;
	nranges++;
	return 0;
}

static int find_range(unsigned long addr)
{
	int i;

	for (i = 0; i < nranges; i++)
		if (addr >= ranges[i][0] && addr < ranges[i][1])
			return i;
	return -1;
}

static int mapped(unsigned long addr, int size)
{
	return find_range(addr) >= 0 && find_range(addr + size - 1) >= 0;
}

static void set_writable(int i, int writable)
{
	if (ranges[i][2])
		mprotect((void *)ranges[i][0], ranges[i][1] - ranges[i][0],
			 PPCR_PROT_READ | (writable ? PPCR_PROT_WRITE : 0));
}

/* ---- write records ---- */
struct ppcr_write {
	unsigned long addr;
	unsigned long old;
	unsigned long new;
	int size;
	int primitive;
	int ok;
	int reloc; /* index of the relocation apply_relocate_add was at, -1 outside its loop */
};
static struct ppcr_write *writes;
static int nwrites, cap_writes;
static int reloc_index = -1;

/* apply_relocate_add's per-relocation pr_debug("RELOC at ...") marks the next relocation */
void ppcr_debug_mark(const char *fmt)
{
	if (strstr(fmt, "RELOC at "))
		reloc_index++;
}

int ppcr_reloc_index(void) { return reloc_index; }

int ppcr_patch_write(void *addr, unsigned long val, int size, int primitive)
{
	unsigned long a = (unsigned long)addr, old = 0;
	int ok = mapped(a, size);

	if (ok)
		memcpy(&old, addr, size);
	if (!reserve((void **)&writes, &cap_writes, nwrites, sizeof(*writes))) {
		lost |= PPCR_LOST_WRITES;
	} else {
		struct ppcr_write *w = &writes[nwrites++];

		w->addr = a;
		w->old = old;
		w->new = val;
		w->size = size;
		w->primitive = primitive;
		w->ok = ok;
		w->reloc = reloc_index;
	}
	if (!ok)
		return -14; /* -EFAULT */
	{
		int first = find_range(a), last = find_range(a + size - 1);

		set_writable(first, 1);
		set_writable(last, 1);
		memcpy(addr, &val, size);
		set_writable(first, 0);
		set_writable(last, 0);
	}
	return 0;
}

int ppcr_nwrites(void) { return nwrites; }

const struct ppcr_write *ppcr_write_at(int i) { return &writes[i]; }

/* arch/powerpc/lib/code-patching.c semantics: a prefixed instruction is one 8-byte store. */
int patch_instruction(u32 *addr, ppc_inst_t instr)
{
	if (ppc_inst_prefixed(instr))
		return ppcr_patch_write(addr, ppc_inst_as_ulong(instr), 8, PPCR_PATCH_INSTRUCTION);
	return ppcr_patch_write(addr, ppc_inst_val(instr), 4, PPCR_PATCH_INSTRUCTION);
}

int patch_uint(void *addr, unsigned int val)
{
	if (!IS_ALIGNED((unsigned long)addr, sizeof(unsigned int)))
		return -22; /* -EINVAL */
	return ppcr_patch_write(addr, val, 4, PPCR_PATCH_U32);
}

int patch_ulong(void *addr, unsigned long val)
{
	if (!IS_ALIGNED((unsigned long)addr, sizeof(unsigned long)))
		return -22;
	return ppcr_patch_write(addr, val, 8, PPCR_PATCH_ULONG);
}

int copy_from_kernel_nofault(void *dst, const void *src, size_t size)
{
	if (!mapped((unsigned long)src, size))
		return -14;
	memcpy(dst, src, size);
	return 0;
}

/* ---- printk records: level, format, integer/string arguments (pointers as integers).
 * String arguments are copied whole into a growing arena (sval holds offsets into it until the
 * call ends; ppcr_msg_str resolves them). ---- */
#define PPCR_MAX_ARGS 8
struct ppcr_msg {
	const char *level;
	const char *fmt;
	int nargs;
	int is_str[PPCR_MAX_ARGS]; /* 0 unsigned/pointer, 1 string, 2 signed */
	unsigned long ival[PPCR_MAX_ARGS];
	unsigned long sval[PPCR_MAX_ARGS]; /* offset into the string arena */
};
static struct ppcr_msg *msgs;
static int nmsgs, cap_msgs;
static char *arena;
static int arena_len, arena_cap;

static int arena_put(const char *s, size_t len, unsigned long *at)
{
	while ((size_t)arena_cap < arena_len + len + 1) {
		int want = arena_cap ? arena_cap * 2 : 4096;
		char *grown = want > arena_cap ? realloc(arena, want) : 0;

		if (!grown)
			return 0;
		arena = grown;
		arena_cap = want;
	}
	memcpy(arena + arena_len, s, len);
	arena[arena_len + len] = 0;
	*at = arena_len;
	arena_len += len + 1;
	return 1;
}

const char *ppcr_msg_str(int i, int k) { return arena + msgs[i].sval[k]; }

int ppcr_printk(const char *level, const char *fmt, ...)
{
	struct ppcr_msg *m;
	const char *p;
	va_list ap;

	if (!reserve((void **)&msgs, &cap_msgs, nmsgs, sizeof(*msgs))) {
		lost |= PPCR_LOST_MSGS;
		return 0;
	}
	m = &msgs[nmsgs++];
	m->level = level;
	m->fmt = fmt;
	m->nargs = 0;
	va_start(ap, fmt);
	for (p = fmt; *p; p++) {
		int longs = 0, n = m->nargs;

		if (*p != '%')
			continue;
		p++;
		if (*p == '%')
			continue;
		while (*p == '-' || *p == '+' || *p == ' ' || *p == '#' || *p == '0' ||
		       (*p >= '1' && *p <= '9') || *p == '.')
			p++;
		while (*p == 'l' || *p == 'L' || *p == 'z' || *p == 'h') {
			if (*p == 'l' || *p == 'L' || *p == 'z')
				longs++;
			p++;
		}
		if (!*p)
			break;
		if (n >= PPCR_MAX_ARGS) {
			lost |= PPCR_LOST_ARGS;
			break;
		}
		m->is_str[n] = 0;
		switch (*p) {
		case 's': {
			const char *s = va_arg(ap, const char *);

			m->is_str[n] = 1;
			if (!arena_put(s ? s : "", s ? strlen(s) : 0, &m->sval[n]))
				lost |= PPCR_LOST_MSGS;
			break;
		}
		case 'p':
			m->ival[n] = (unsigned long)va_arg(ap, void *);
			/* lib/vsprintf.c: alphanumerics after %p select an extension */
			while ((p[1] >= 'a' && p[1] <= 'z') || (p[1] >= 'A' && p[1] <= 'Z') ||
			       (p[1] >= '0' && p[1] <= '9'))
				p++;
			break;
		case 'd': case 'i':
			m->is_str[n] = 2; /* signed: the driver reads it back as a signed long */
			m->ival[n] = longs ? (unsigned long)va_arg(ap, long) :
					     (unsigned long)(long)va_arg(ap, int);
			break;
		default: /* u x X o c */
			m->ival[n] = longs ? va_arg(ap, unsigned long) :
					     (unsigned long)va_arg(ap, unsigned int);
			break;
		}
		m->nargs = n + 1;
	}
	va_end(ap);
	return 0;
}

int ppcr_nmsgs(void) { return nmsgs; }

const struct ppcr_msg *ppcr_msg_at(int i) { return &msgs[i]; }

/* ---- WARN_ON records ---- */
static int nwarns;

void ppcr_warn(const char *file, int line)
{
	(void)file;
	(void)line;
	nwarns++;
}

int ppcr_nwarns(void) { return nwarns; }

void ppcr_reset_records(void)
{
	nwrites = 0;
	nmsgs = 0;
	arena_len = 0;
	lost = 0;
	nwarns = 0;
	reloc_index = -1;
}

/* ---- harness settings and struct module access ---- */
void ppcr_set_kernel(unsigned long toc, unsigned long ftrace_caller_addr,
		     unsigned long ftrace_regs_caller_addr)
{
	ppcr_kernel_toc = toc;
	ppcr_ftrace_caller_addr = ftrace_caller_addr;
	ppcr_ftrace_regs_caller_addr = ftrace_regs_caller_addr;
	ppcr_paca.kernel_toc = toc;
}

static struct module the_module;

struct module *ppcr_module(void) { return &the_module; }

/* arch fields in a fixed order: stubs_section, toc_section, toc_fixed, tramp, tramp_regs */
void ppcr_arch_get(unsigned long out[5])
{
	out[0] = the_module.arch.stubs_section;
	out[1] = the_module.arch.toc_section;
	out[2] = the_module.arch.toc_fixed;
	out[3] = the_module.arch.tramp;
	out[4] = the_module.arch.tramp_regs;
}

void ppcr_arch_set(const unsigned long in[5], const char *name, unsigned long core_base,
		   unsigned long core_size)
{
	size_t len = strlen(name);

	if (len >= sizeof(the_module.name))
		len = sizeof(the_module.name) - 1;
	memset(the_module.name, 0, sizeof(the_module.name));
	memcpy(the_module.name, name, len);
	the_module.arch.stubs_section = in[0];
	the_module.arch.toc_section = in[1];
	the_module.arch.toc_fixed = in[2];
	the_module.arch.tramp = in[3];
	the_module.arch.tramp_regs = in[4];
	the_module.core_base = core_base;
	the_module.core_size = core_size;
}

void ppcr_set_kallsyms(Elf_Sym *symtab, unsigned int num, char *strtab)
{
	the_module.core_kallsyms.symtab = symtab;
	the_module.core_kallsyms.num_symtab = num;
	the_module.core_kallsyms.strtab = strtab;
}
