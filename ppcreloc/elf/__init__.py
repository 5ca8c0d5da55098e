"""ELF object model, writer and reader."""
