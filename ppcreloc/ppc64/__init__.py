"""ppc64 instruction encodings and the relocation-type table shared by engines and strategies."""
