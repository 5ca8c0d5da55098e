"""Hypothesis strategies that generate ppc64 livepatch objects and symbol worlds."""
