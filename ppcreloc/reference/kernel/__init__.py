"""The kernel tree's own arch/powerpc/kernel/module_64.c as an engine (kernel:PATH)."""
