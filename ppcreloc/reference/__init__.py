"""Independent references the engine is diffed against: linkers and the kernel's own C."""
