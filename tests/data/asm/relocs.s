# Every relocation type the engine handles that both gas and clang (LLVM) accept by name in
# .reloc, against undefined symbols (SHN_UNDEF) and future livepatch symbols (.klp.sym.*; a test
# marks them SHN_LIVEPATCH and moves their relocations into .klp.rela.vmlinux..text).
# tests/elf/test_elf_tools.py holds the expected (section, offset, type, symbol, addend) table.
	.abiversion 2
	.section .text,"ax",@progbits
	.globl my_func
	.type my_func,@function
my_func:
	.rept 32
	nop
	.endr
	.size my_func, .-my_func
	.localentry my_func, 8
	.reloc my_func+0, R_PPC64_ADDR32, ext_data+4
	.reloc my_func+4, R_PPC64_REL24, ext_func
	.reloc my_func+8, R_PPC64_REL32, ext_data-8
	.reloc my_func+12, R_PPC64_TOC16, ext_data
	.reloc my_func+16, R_PPC64_TOC16_LO, ext_data+16
	.reloc my_func+20, R_PPC64_TOC16_HA, ext_data+16
	.reloc my_func+24, R_PPC64_TOC16_DS, ext_data+8
	.reloc my_func+28, R_PPC64_TOC16_LO_DS, ext_data+8
	.reloc my_func+36, R_PPC64_REL24_NOTOC, ext_func
	.reloc my_func+44, R_PPC64_PCREL34, ext_data
	.reloc my_func+52, R_PPC64_GOT_PCREL34, ext_data
	.reloc my_func+60, R_PPC64_REL16_LO, ext_data-60
	.reloc my_func+64, R_PPC64_REL16_HA, ext_data-64
	.reloc my_func+68, R_PPC64_REL24, ".klp.sym.vmlinux.printk,0"
	.reloc my_func+72, R_PPC64_REL24_NOTOC, ".klp.sym.vmlinux.memcpy,0"+8
	.reloc my_func+76, R_PPC64_TOC16_HA, ".klp.sym.vmlinux.jiffies,0"+0x7ff8

	.section .data,"aw",@progbits
	.p2align 3
data_start:
	.quad 0, 0, 0
	.reloc data_start+0, R_PPC64_ADDR64, ext_data+0x100
	.reloc data_start+8, R_PPC64_REL64, ext_func-16
	.reloc data_start+16, R_PPC64_ADDR64, ".klp.sym.vmlinux.jiffies,0"

	.section .toc,"aw",@progbits
	.p2align 3
toc_start:
	.quad 0
	.reloc toc_start+0, R_PPC64_TOC, 0

	# A COMDAT group (SHT_GROUP), as inline functions produce.
	.section .text.inline_helper,"axG",@progbits,inline_helper,comdat
	.globl inline_helper
	.type inline_helper,@function
inline_helper:
	nop
	blr
	.size inline_helper, .-inline_helper

	.ident "ppcreloc test object"
	.section .note.GNU-stack,"",@progbits
