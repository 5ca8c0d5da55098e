/* printk shim (project code): each pr_* call records (level, format, arguments). */
#ifndef _LINUX_PRINTK_H
#define _LINUX_PRINTK_H

#define KERN_EMERG ""
#define KERN_ALERT ""
#define KERN_CRIT ""
#define KERN_ERR ""
#define KERN_WARNING ""
#define KERN_NOTICE ""
#define KERN_INFO ""
#define KERN_DEBUG ""

#ifndef pr_fmt
#define pr_fmt(fmt) fmt
#endif

#define no_printk(fmt, ...) ({ if (0) ppcr_printk("debug", fmt, ##__VA_ARGS__); 0; })
#define printk(fmt, ...) ppcr_printk("", fmt, ##__VA_ARGS__)
#define pr_emerg(fmt, ...) ppcr_printk("emerg", pr_fmt(fmt), ##__VA_ARGS__)
#define pr_alert(fmt, ...) ppcr_printk("alert", pr_fmt(fmt), ##__VA_ARGS__)
#define pr_crit(fmt, ...) ppcr_printk("crit", pr_fmt(fmt), ##__VA_ARGS__)
#define pr_err(fmt, ...) ppcr_printk("err", pr_fmt(fmt), ##__VA_ARGS__)
#define pr_warn(fmt, ...) ppcr_printk("warn", pr_fmt(fmt), ##__VA_ARGS__)
#define pr_notice(fmt, ...) ppcr_printk("notice", pr_fmt(fmt), ##__VA_ARGS__)
#define pr_info(fmt, ...) ppcr_printk("info", pr_fmt(fmt), ##__VA_ARGS__)
/* pr_debug is compiled out as in the kernel (its arguments are never evaluated); only its
 * format is passed on, so the harness can tell which relocation apply_relocate_add is at */
#define pr_debug(fmt, ...) ({ ppcr_debug_mark(pr_fmt(fmt)); if (0) ppcr_printk("debug", pr_fmt(fmt), ##__VA_ARGS__); 0; })

#endif
