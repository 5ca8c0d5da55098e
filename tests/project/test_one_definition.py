"""Each shared value is defined once: WorldError, the errno table, the 64-bit mask, KERNEL_TOC."""

from __future__ import annotations

import ast
from pathlib import Path

from ppcreloc import errors
from ppcreloc.arch import stubs
from ppcreloc.loader import world, worldspec
from ppcreloc.strategies import worlds

ROOT = Path(__file__).resolve().parents[2]


def _product() -> list[tuple[Path, ast.AST]]:
    return [(p, ast.parse(p.read_text())) for p in sorted((ROOT / "ppcreloc").rglob("*.py"))]


def test_one_world_error() -> None:
    assert stubs.WorldError is world.WorldError is errors.WorldError
    classes = [p.name for p, tree in _product() for n in ast.walk(tree)
               if isinstance(n, ast.ClassDef) and n.name == "WorldError"]
    assert classes == ["errors.py"], classes


def test_errno_values_and_the_mask_are_defined_once() -> None:
    errno_defs, masks = [], []
    for p, tree in _product():
        for n in ast.walk(tree):
            if isinstance(n, ast.Assign) and isinstance(n.value, ast.Constant):
                for t in n.targets:
                    if isinstance(t, ast.Name) and t.id in ("ENOENT", "ENOEXEC", "EFAULT",
                                                            "EINVAL"):
                        errno_defs.append(p.name)
            if isinstance(n, ast.Constant) and n.value == 2**64 - 1:
                masks.append(f"{p.relative_to(ROOT)}:{n.lineno}")
            if (isinstance(n, ast.BinOp) and isinstance(n.op, ast.Sub)
                    and isinstance(n.right, ast.Constant) and n.right.value == 1
                    and ast.unparse(n.left) in ("1 << 64", "2 ** 64")):
                masks.append(f"{p.relative_to(ROOT)}:{n.lineno}")
    assert set(errno_defs) == {"errno.py"} and len(errno_defs) == 4
    assert masks == ["ppcreloc/bits.py:8"], masks


def test_one_kernel_toc_with_the_abi_bias() -> None:
    assert worlds.KERNEL_TOC is world.KERNEL_TOC
    assert worlds.WorldSpec(worlds.ObjectSpec("vmlinux", (), (0,))).kernel_toc == world.KERNEL_TOC
    assert world.KERNEL_TOC & 0xFFFF == 0x8000  # r2 = TOC base + 0x8000


def test_strategies_produce_the_loaders_plain_specs() -> None:
    """The world specs are the loader's own dataclasses: no Protocol adapters in loader/world.py."""
    assert worlds.WorldSpec is worldspec.WorldSpec and worlds.WorldSymbol is worldspec.WorldSymbol
    tree = ast.parse((ROOT / "ppcreloc/loader/world.py").read_text())
    protocols = [n.name for n in ast.walk(tree) if isinstance(n, ast.ClassDef)
                 and any(ast.unparse(b) == "Protocol" for b in n.bases)]
    assert protocols == []
    spec = worlds.WorldSpec(worlds.ObjectSpec("vmlinux", (worlds.WorldSymbol("printk", 0x40, True),),
                                              (world.VMLINUX_BASE,)))
    assert worldspec.world_from_spec(spec).vmlinux_symbol("printk") == world.VMLINUX_BASE + 0x40
