"""Run-time oracle: relocated module memory executed under qemu-ppc64le."""
