# Relocation types the engine handles that LLVM's assembler does not accept by name in .reloc
# (R_PPC64_TOCSAVE, R_PPC64_ENTRY): assembled with gas only.
	.abiversion 2
	.section .text,"ax",@progbits
	.globl gas_func
	.type gas_func,@function
gas_func:
	.rept 8
	nop
	.endr
	.size gas_func, .-gas_func
	.reloc gas_func+0, R_PPC64_ENTRY, gas_func
	.reloc gas_func+8, R_PPC64_TOCSAVE, gas_func+12
	.reloc gas_func+12, R_PPC64_REL24, ".klp.sym.vmlinux.printk,0"
	.section .note.GNU-stack,"",@progbits
