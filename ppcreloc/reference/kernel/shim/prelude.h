/* ppcreloc kernel harness prelude (project code, MIT): force-included before module_64.c.
 *
 * Provides the handful of compiler and type definitions the kernel build normally gets from
 * include/linux/compiler*.h and friends, so that the real arch/powerpc/kernel/module_64.c from a
 * kernel tree compiles as user-space C. Config symbols come from the generated autoconf.h.
 */
#ifndef PPCR_PRELUDE_H
#define PPCR_PRELUDE_H

#define __KERNEL__ 1
#include <generated/autoconf.h>
#include <linux/kconfig.h>
#include <ppcr/compiler.h>
#include <ppcr/types.h>
#include <ppcr/runtime.h>
#include <asm-generic/errno.h>

#endif
