"""The integer widths of the modelled C: masks that make Python ints wrap like the kernel's."""

#: u16
M16 = 0xFFFF
#: u32
M32 = 0xFFFF_FFFF
#: unsigned long / u64 (ppc64 is LP64): every address and relocation value wraps modulo 2**64
M64 = 0xFFFF_FFFF_FFFF_FFFF
