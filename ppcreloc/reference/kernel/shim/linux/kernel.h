/* linux/kernel.h shim (project code): printk and pr_* routed to the harness recorder. */
#ifndef _LINUX_KERNEL_H
#define _LINUX_KERNEL_H

#include <linux/types.h>
#include <linux/printk.h>
#include <linux/bug.h>

#endif
