/* linux/ftrace.h shim (project code): ftrace_caller / ftrace_regs_caller are harness-set
 * addresses (the scenario world's vmlinux symbols), not functions of this process. */
#ifndef _LINUX_FTRACE_H
#define _LINUX_FTRACE_H
#define ftrace_caller ppcr_ftrace_caller_addr
#define ftrace_regs_caller ppcr_ftrace_regs_caller_addr
#endif
