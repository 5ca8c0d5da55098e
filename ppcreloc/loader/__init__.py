"""The loader model: module memory, the generic loader, the livepatch driver, the symbol world."""
