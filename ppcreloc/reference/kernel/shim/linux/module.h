/* linux/module.h shim (project code): a struct module with only what module_64.c touches —
 * the name, the real struct mod_arch_specific from the tree's asm/module.h, the core range for
 * within_module_core() and core_kallsyms (used by a livepatch clear_relocate_add). */
#ifndef _LINUX_MODULE_H
#define _LINUX_MODULE_H

#include <linux/types.h>
struct module;
#include <linux/elf.h>
#include <asm/module.h>

#include <linux/printk.h>

#define MODULE_NAME_LEN (64 - sizeof(unsigned long))

struct modversion_info {
	unsigned long crc;
	char name[MODULE_NAME_LEN];
};

struct mod_kallsyms {
	Elf_Sym *symtab;
	unsigned int num_symtab;
	char *strtab;
	char *typetab;
};

struct module {
	char name[MODULE_NAME_LEN];
	struct mod_arch_specific arch;
	unsigned long core_base;
	unsigned long core_size;
	struct mod_kallsyms core_kallsyms;
};

static inline const char *module_name(const struct module *mod)
{
	return mod->name;
}

static inline bool within_module_core(unsigned long addr, const struct module *mod)
{
	return addr >= mod->core_base && addr < mod->core_base + mod->core_size;
}

#endif
