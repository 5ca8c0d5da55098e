"""Build a kernel tree's own arch/powerpc/kernel/module_64.c into a user-space shared library.

The source comes from the user's kernel tree (a directory) or a Debian ``linux-source-*.tar.xz``;
only the files the build needs are extracted, into a cache directory outside the repository
(``$PPCRELOC_CACHE`` or ``~/.cache/ppcreloc``, subdirectory ``kernel/``). The library is the
kernel file compiled unchanged, plus the tree's ``lib/sort.c`` (its heapsort decides the sorted
relocation order) and two branch predicates extracted from ``arch/powerpc/lib/code-patching.c``,
against this project's shim headers (``shim/``) and a generated ``autoconf.h``. It is cached by
source hash + shim hash + config + compiler, and never committed (it is built from the
fetched kernel tree, which stays outside the repository).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ppcreloc.caches import cache_base
from ppcreloc.errors import PpcrelocError
from ppcreloc.records import Config

SHIM_DIR = Path(__file__).resolve().parent / "shim"

MODULE_64 = "arch/powerpc/kernel/module_64.c"
CODE_PATCHING = "arch/powerpc/lib/code-patching.c"
SORT_C = "lib/sort.c"
#: directories extracted from a tarball besides the three source files
INCLUDE_DIRS = ("include/", "arch/powerpc/include/")
#: functions taken from code-patching.c (restore_r2 calls instr_is_relative_link_branch)
EXTRACTED_FUNCS = ("instr_is_relative_branch", "instr_is_relative_link_branch")
#: tree headers whose content the library depends on (part of the cache key)
TREE_HEADERS = (
    "include/linux/kconfig.h",
    "include/linux/compiler_attributes.h",
    "include/linux/stringify.h",
    "include/linux/align.h",
    "include/linux/const.h",
    "include/vdso/const.h",
    "include/uapi/linux/const.h",
    "include/linux/elf.h",
    "include/uapi/linux/elf.h",
    "include/uapi/linux/elf-em.h",
    "include/linux/moduleloader.h",
    "include/linux/sort.h",
    "include/asm-generic/module.h",
    "include/uapi/asm-generic/errno.h",
    "include/uapi/asm-generic/errno-base.h",
    "arch/powerpc/include/uapi/asm/elf.h",
    "arch/powerpc/include/asm/module.h",
    "arch/powerpc/include/asm/code-patching.h",
    "arch/powerpc/include/asm/inst.h",
    "arch/powerpc/include/asm/ppc-opcode.h",
    "arch/powerpc/include/asm/asm-const.h",
    "arch/powerpc/include/asm/asm-compat.h",
    "arch/powerpc/include/asm/disassemble.h",
)
LIB_NAME = "libppcr_kernel.so"


class KernelHarnessError(PpcrelocError):
    """The kernel engine cannot be set up: bad path, not a kernel tree, no gcc, build failed."""


@dataclass(frozen=True)
class BuiltKernel:
    """A built library and what it was built from."""

    library: Path
    tree: Path
    version: str
    has_clear_relocate_add: bool


def cache_root() -> Path:
    """``$PPCRELOC_CACHE/kernel`` or ``~/.cache/ppcreloc/kernel`` (ppcreloc.caches)."""
    return cache_base() / "kernel"


def _sha(*chunks: bytes) -> str:
    h = hashlib.sha256()
    for c in chunks:
        h.update(len(c).to_bytes(8, "little"))
        h.update(c)
    return h.hexdigest()


def _is_tarball(path: Path) -> bool:
    return path.is_file() and any(
        path.name.endswith(s) for s in (".tar", ".tar.xz", ".tar.gz", ".tgz", ".tar.bz2")
    )


def _tarball_tree(path: Path) -> Path:
    """Extract the files the build needs from a kernel source tarball (once) and return the tree."""
    st = path.stat()
    stem = re.sub(r"\.(tar(\.(xz|gz|bz2))?|tgz)$", "", path.name)
    key = _sha(str(path.resolve()).encode(), str(st.st_size).encode(), str(st.st_mtime_ns).encode())
    dest = cache_root() / f"{stem}-{key[:12]}"
    done = dest / ".extracted"
    if done.exists():
        return dest / "tree"
    dest.mkdir(parents=True, exist_ok=True)
    with open(dest / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one extraction per tarball, even across processes
        if not done.exists():
            notice(f"extracting the files module_64.c needs from {path} (once)")
            _extract(path, dest)
    return dest / "tree"


def _extract(path: Path, dest: Path) -> None:
    done = dest / ".extracted"
    tmp = Path(tempfile.mkdtemp(prefix="extract-", dir=dest))
    try:
        top = _extract_with_tar(path, tmp) or _extract_with_tarfile(path, tmp)
        tree = tmp / top if top else tmp
        if not (tree / MODULE_64).is_file():
            raise KernelHarnessError(f"{path}: no {MODULE_64} in the tarball")
        final = dest / "tree"
        if final.exists():
            shutil.rmtree(final)
        os.replace(tree, final)
        done.write_text(str(path) + "\n")
    except (tarfile.TarError, OSError, EOFError) as e:
        raise KernelHarnessError(f"{path}: cannot read kernel tarball: {e}") from e
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _extract_with_tar(path: Path, dest: Path) -> str | None:
    """Extract with GNU tar (several times faster than tarfile on a .tar.xz); the top directory,
    or None when tar is missing or the tarball has no ``<top>/`` + module_64.c layout."""
    tar = shutil.which("tar")
    if tar is None:
        return None
    patterns = [f"*/{MODULE_64}", f"*/{CODE_PATCHING}", f"*/{SORT_C}", "*/Makefile",
                *(f"*/{d.rstrip('/')}" for d in INCLUDE_DIRS)]
    proc = subprocess.run(
        [tar, "-xf", str(path.resolve()), "-C", str(dest.resolve()), "--no-wildcards-match-slash", "--wildcards",
         *patterns], capture_output=True, text=True,
    )
    found = list(dest.glob(f"*/{MODULE_64}"))
    if proc.returncode != 0 or len(found) != 1:
        for child in dest.iterdir():
            shutil.rmtree(child) if child.is_dir() else child.unlink()
        return None
    return found[0].parts[len(dest.parts)]


def _extract_with_tarfile(path: Path, dest: Path) -> str:
    """Extract with Python's tarfile (no GNU tar, or an unusual layout); the top directory."""
    with tarfile.open(path) as tar:
        top = _tar_top(tar.getnames(), path)
        wanted = (MODULE_64, CODE_PATCHING, SORT_C, "Makefile")
        members = []
        for m in tar.getmembers():
            rel = m.name[len(top) + 1 :] if top else m.name
            if (m.isfile() or m.isdir()) and (rel in wanted or rel.startswith(INCLUDE_DIRS)):
                members.append(m)
        tar.extractall(dest, members=members, filter="data")
    return top


def _tar_top(names: list[str], path: Path) -> str:
    """The tarball's top directory holding arch/powerpc/kernel/module_64.c ('' if none)."""
    for n in names:
        if n.endswith("/" + MODULE_64):
            return n[: -len("/" + MODULE_64)]
        if n == MODULE_64:
            return ""
    raise KernelHarnessError(f"{path}: not a kernel source tarball (no {MODULE_64})")


def resolve_tree(path: str | Path) -> Path:
    """A kernel tree directory for ``path`` (a tree, or a tarball extracted into the cache)."""
    p = Path(path).expanduser()
    if not p.exists():
        raise KernelHarnessError(f"kernel tree {path}: no such file or directory")
    if _is_tarball(p):
        return _tarball_tree(p)
    if not p.is_dir():
        raise KernelHarnessError(f"{path}: not a kernel tree directory or source tarball")
    if not (p / MODULE_64).is_file():
        raise KernelHarnessError(f"{path}: not a kernel tree (no {MODULE_64})")
    return p


#: bytes of the top Makefile read for the version (VERSION/PATCHLEVEL/SUBLEVEL are its first lines)
MAKEFILE_HEAD = 64 * 1024
_VERSION_FIELD = re.compile(rb"^(VERSION|PATCHLEVEL|SUBLEVEL)[ \t]*=[ \t]*([^\n]*)$", re.M)


def tree_version(tree: Path) -> str:
    """VERSION.PATCHLEVEL.SUBLEVEL from the tree's top Makefile ('unknown' if absent).

    Only read, never evaluated: each field must be a plain number (a ``$(shell ...)``, a path or
    any other text raises KernelHarnessError quoting it, shortened and escaped)."""
    mk = tree / "Makefile"
    if not mk.is_file():
        return "unknown"
    try:
        with open(mk, "rb") as f:
            head = f.read(MAKEFILE_HEAD)
    except OSError as e:
        raise KernelHarnessError(f"{mk}: cannot read: {e.strerror or e}") from None
    fields: dict[str, str] = {}
    for key, value in _VERSION_FIELD.findall(head):
        name, text = key.decode(), value.strip()
        if name in fields:
            continue
        if not re.fullmatch(rb"[0-9]{1,6}", text):
            shown = ascii(text[:40].decode("utf-8", "replace"))
            raise KernelHarnessError(f"{mk}: {name} = {shown} is not a version number")
        fields[name] = text.decode()
    return ".".join(fields.get(k, "?") for k in ("VERSION", "PATCHLEVEL", "SUBLEVEL"))


def autoconf(config: Config) -> str:
    """generated/autoconf.h for ``config`` (an ELFv2 little-endian ppc64 livepatch kernel)."""
    if config.abi != "elfv2":
        raise KernelHarnessError(
            "the kernel engine builds ELFv2 little-endian only (ELFv1 needs a big-endian "
            "cross build under qemu)"
        )
    if config.pcrel:
        raise KernelHarnessError("the kernel engine does not support CONFIG_PPC_KERNEL_PCREL")
    on = [
        "PPC64", "64BIT", "PPC_BOOK3S_64", "PPC64_ELF_ABI_V2", "CPU_LITTLE_ENDIAN", "MODULES",
        "LIVEPATCH", "MODULES_USE_ELF_RELA", "HAVE_MOD_ARCH_SPECIFIC", "SMP", "PPC_PSERIES",
    ]
    if config.mprofile_kernel:
        on.append("MPROFILE_KERNEL")
    if config.dynamic_ftrace:
        on.append("DYNAMIC_FTRACE")
        if config.dynamic_ftrace_with_regs:
            on.append("DYNAMIC_FTRACE_WITH_REGS")
    lines = ["/* generated by ppcreloc ppcreloc/reference/kernel/build.py */"]
    lines += [f"#define CONFIG_{name} 1" for name in on]
    lines.append(f"#define PPCR_PACA_KERNEL_TOC_OFFSET {config.paca_kernel_toc_offset}")
    return "\n".join(lines) + "\n"


def extract_functions(source: str, names: tuple[str, ...]) -> str:
    """The definitions of ``names`` (top-level, ``{`` .. ``}`` at column 0) from C ``source``."""
    out = []
    for name in names:
        m = re.search(rf"^[a-z][\w ]*\b{name}\([^;{{]*\)\s*\n\{{\n.*?^\}}\n", source, re.M | re.S)
        if not m:
            raise KernelHarnessError(f"{CODE_PATCHING}: cannot find {name}()")
        out.append(m.group(0))
    return "\n".join(out)


def _gcc() -> str:
    gcc = shutil.which(os.environ.get("CC", "gcc"))
    if gcc is None:
        raise KernelHarnessError("gcc not found: the kernel engine compiles module_64.c with gcc")
    return gcc


def _gcc_version(gcc: str) -> str:
    return subprocess.run([gcc, "--version"], capture_output=True, text=True).stdout.split("\n")[0]


def _shim_hash() -> str:
    files = sorted(p for p in SHIM_DIR.rglob("*") if p.is_file())
    return _sha(*(str(p.relative_to(SHIM_DIR)).encode() + b"\0" + p.read_bytes() for p in files))


def _flags(tree: Path, gen: Path) -> list[str]:
    return [
        "-nostdinc",
        "-I", str(SHIM_DIR),
        "-I", str(gen),
        "-I", str(tree / "arch/powerpc/include"),
        "-I", str(tree / "arch/powerpc/include/uapi"),
        "-I", str(tree / "include"),
        "-I", str(tree / "include/uapi"),
        "-include", str(SHIM_DIR / "prelude.h"),
        "-D__powerpc64__", "-D__LITTLE_ENDIAN__",
        '-DKBUILD_MODNAME="module_64"',
        "-funsigned-char", "-fno-strict-aliasing", "-fno-strict-overflow", "-fno-common",
        "-O2", "-fPIC", "-Wall", "-Wno-unused-function", "-Wno-pointer-sign",
    ]


def _run(gcc: str, args: list[str], path: str | Path, log: list[str]) -> None:
    """Run one gcc command; a failure becomes a KernelHarnessError naming the first error."""
    proc = subprocess.run([gcc, *args], capture_output=True, text=True)
    log.append(" ".join([gcc, *args]) + "\n" + proc.stderr)
    if proc.returncode != 0:
        first = next((ln for ln in proc.stderr.splitlines() if "error" in ln), proc.stderr.strip())
        raise KernelHarnessError(f"building {MODULE_64} from {path} failed: {first}")


def notice(message: str) -> None:
    """A one-line progress note on stderr, only when a terminal is attached (never in pipes,
    CI logs or JSON consumers' stderr)."""
    if sys.stderr.isatty():
        print(message, file=sys.stderr, flush=True)


def build(path: str | Path, config: Config | None = None) -> BuiltKernel:
    """Build (or reuse) the library for the kernel tree or tarball at ``path``."""
    config = config or Config()
    tree = resolve_tree(path)
    version = tree_version(tree)
    header = autoconf(config)
    gcc = _gcc()
    module_c = (tree / MODULE_64).read_bytes()
    cp_c = ((tree / CODE_PATCHING).read_bytes().decode("utf-8", "surrogateescape")
            if (tree / CODE_PATCHING).is_file() else "")
    if not (tree / SORT_C).is_file() or not cp_c:
        raise KernelHarnessError(f"{path}: not a kernel tree (missing {SORT_C} or {CODE_PATCHING})")
    predicates = extract_functions(cp_c, EXTRACTED_FUNCS)
    headers = [(tree / h).read_bytes() for h in TREE_HEADERS if (tree / h).is_file()]
    key = _sha(
        module_c, (tree / SORT_C).read_bytes(), predicates.encode(), *headers,
        _shim_hash().encode(), header.encode(), _gcc_version(gcc).encode(),
    )[:16]
    out_dir = cache_root() / "builds" / key
    lib = out_dir / LIB_NAME
    has_clear = re.search(rb"^void clear_relocate_add\(", module_c, re.M) is not None
    result = BuiltKernel(lib, tree, version, has_clear)
    if lib.is_file():
        return result
    notice(f"building module_64.c from {path} (once, ~15 s)")
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="build-", dir=out_dir))
    try:
        gen = work / "gen"
        (gen / "generated").mkdir(parents=True)
        (gen / "generated/autoconf.h").write_text(header)
        pred_c = work / "code_patching_predicates.c"
        pred_c.write_text(
            "/* extracted at build time from the tree's " + CODE_PATCHING + " */\n"
            "#include <asm/code-patching.h>\n#include <asm/inst.h>\n\n" + predicates,
            encoding="utf-8", errors="surrogateescape",
        )
        sources = [tree / MODULE_64, tree / SORT_C, pred_c, SHIM_DIR / "runtime.c"]
        log: list[str] = []
        objs = []
        for i, src in enumerate([*sources, SHIM_DIR / "guard.c"]):
            obj = work / f"{i}.o"
            # guard.c uses the system's libc headers (setjmp/signal), never the kernel's
            flags = _flags(tree, gen) if src.name != "guard.c" else ["-O2", "-fPIC", "-Wall"]
            _run(gcc, [*flags, "-c", "-o", str(obj), str(src)], path, log)
            objs.append(str(obj))
        _run(gcc, ["-shared", "-o", str(work / LIB_NAME), *objs], path, log)
        (work / "build.log").write_text("\n".join(log))
        os.replace(work / LIB_NAME, lib)
        shutil.copy(work / "build.log", out_dir / "build.log")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return result
