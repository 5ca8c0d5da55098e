"""Kernel trees for harness tests: a minimal tree whose module_64.c does not compile."""

from __future__ import annotations

from pathlib import Path


def uncompilable_tree(tmp_path: Path) -> Path:
    """A minimal tree under ``tmp_path`` whose module_64.c does not compile (the harness reads
    module_64.c, code-patching.c's two branch tests and lib/sort.c)."""
    tree = tmp_path / "tree"
    for rel in ("arch/powerpc/kernel", "arch/powerpc/lib", "lib"):
        (tree / rel).mkdir(parents=True)
    (tree / "arch/powerpc/kernel/module_64.c").write_text("int broken( {\n")
    (tree / "lib/sort.c").write_text("\n")
    (tree / "arch/powerpc/lib/code-patching.c").write_text(
        "int instr_is_relative_branch(ppc_inst_t instr)\n{\n\treturn 0;\n}\n"
        "int instr_is_relative_link_branch(ppc_inst_t instr)\n{\n\treturn 0;\n}\n"
    )
    return tree
