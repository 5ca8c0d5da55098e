"""No code or test pins the patch version of a Debian package.

Debian's security updates move linux-source-6.1 / linux-source-6.12 (and the ppc64el images)
every few weeks, so an expected version must be derived from what is installed (the tree's
Makefile, dpkg). Exact versions may stay in docstrings and comments, as documentation of what
was measured, but never in a string or number the code compares against.
"""

from __future__ import annotations

import ast
import io
import re
import subprocess
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: a kernel release with its sublevel (6.12.118, 6.1.192), a Debian ABI name (6.1.0-57) or a
#: Debian revision (1~deb12u1, +deb12)
PIN = re.compile(r"\b\d+\.\d+\.\d{2,}\b|\b\d+\.\d+\.0-\d+\b|~deb\d+u\d+|\+deb\d+")


def _tracked(*suffixes: str) -> list[Path]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=False)
    if out.returncode != 0:  # not a git checkout (an sdist): scan the tree
        files = [p for p in ROOT.rglob("*") if p.is_file() and ".venv" not in p.parts]
    else:
        files = [ROOT / name for name in out.stdout.decode().split("\0") if name]
    return [p for p in files if p.suffix in suffixes and "fixtures" not in p.parts]


def _docstring_nodes(tree: ast.AST) -> set[int]:
    """Line numbers of the constants that are docstrings (module, class, function)."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                lines.add(body[0].value.lineno)
    return lines


def python_pins(source: str) -> list[tuple[int, str]]:
    """(line, literal) of every string literal outside docstrings that holds a version pin."""
    docstrings = _docstring_nodes(ast.parse(source))
    found = []
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.STRING and tok.start[0] not in docstrings and PIN.search(tok.string):
            found.append((tok.start[0], tok.string))
    return found


def shell_pins(source: str) -> list[tuple[int, str]]:
    """(line, text) of every non-comment shell line that holds a version pin."""
    found = []
    for n, line in enumerate(source.splitlines(), 1):
        code = line.split("#", 1)[0]
        if PIN.search(code):
            found.append((n, line.strip()))
    return found


def test_no_debian_patch_version_in_code_or_tests():
    pins = []
    for path in _tracked(".py"):
        pins += [f"{path.relative_to(ROOT)}:{n}: {s}" for n, s in python_pins(path.read_text())]
    for path in _tracked(".sh", ".toml", ".cfg") + [ROOT / ".ci" / "run"]:
        if path.is_file():
            pins += [f"{path.relative_to(ROOT)}:{n}: {s}" for n, s in shell_pins(path.read_text())]
    assert not pins, "pinned Debian patch versions (derive them from the installed tree):\n" + "\n".join(pins)


def test_the_scanner_sees_a_pin():
    """The check above can fail: a compared literal is found, a docstring or comment is not.

    The sample versions are assembled at run time, so this file holds no pin of its own."""
    release = ".".join(["6", "12", "1" + "18"])
    abi = "6.1.0" + "-" + "57"
    source = f'"""Measured on {release}."""\n# read at {release}\nassert version == "{release}"\n'
    assert python_pins(source) == [(3, f'"{release}"')]
    assert shell_pins(f"apt-get install linux-image-{abi}-powerpc64le\n# {abi} was measured\n") == [
        (1, f"apt-get install linux-image-{abi}-powerpc64le")]
    assert shell_pins(f"v={release}" + "+" + "deb12\n")
