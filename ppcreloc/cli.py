"""The ``ppcreloc`` command line: one subparser per command, shared error handling.

Exit codes: 0 every invariant holds, 1 an invariant is violated, 2 bad input or usage (one line on
stderr, never a traceback), 3 the tool failed on a case (:class:`~ppcreloc.errors.ToolError`: a
kernel engine child that hung or died; no verdict). A command module registers itself by exposing
``add_subcommand(subparsers) -> None``, which adds its parser and sets ``func`` (taking the parsed
arguments, returning the exit code) via ``set_defaults``; wiring it in is one line in
:data:`SUBCOMMAND_MODULES`.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import ppcreloc
from ppcreloc.errors import PpcrelocError, ToolError, UsageError
from ppcreloc.runtime import tune_gc

if TYPE_CHECKING:
    from ppcreloc.elf.model import ElfObject
    from ppcreloc.elf.reader import Reader
    from ppcreloc.loader.world import SymbolWorld
    from ppcreloc.records import Engine

EXIT_OK, EXIT_VIOLATED, EXIT_ERROR, EXIT_TOOL = 0, 1, 2, 3

#: The profile `ppcreloc check` runs when --engine is not given (today's Debian stable kernel).
DEFAULT_ENGINE = "v6.12"

#: Modules exposing ``add_subcommand(subparsers)`` (later issues add "ppcreloc.fuzz",
#: "ppcreloc.replay", ...). They are imported only when the command line is not a built-in
#: command, so `ppcreloc check` does not pay for Hypothesis.
SUBCOMMAND_MODULES: tuple[str, ...] = (
    "ppcreloc.matrix",
    "ppcreloc.fuzz",
    "ppcreloc.replay",
    "ppcreloc.explain",
    "ppcreloc.promote",
    "ppcreloc.diff",
    "ppcreloc.bugreport",
    "ppcreloc.livepatchify",
)


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (usage errors exit 2 without the usage block)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message}\n")


# -- helpers shared by commands --------------------------------------------------------------------
def load_object(path: str, reader: Reader = "struct", max_size: int | None = None) -> ElfObject:
    """Read an ELF relocatable object, ``.xz``/``.gz``/``.zst`` compressed or not (as
    distributions ship .ko), with ``reader`` ("struct" or "pyelftools": the same object, see
    :func:`read_elf`), streaming at most ``max_size`` bytes (default
    :data:`ppcreloc.inputs.MAX_OBJECT_SIZE`; see :func:`ppcreloc.inputs.read_object_bytes`).

    Unreadable, too large, badly compressed or malformed files raise PpcrelocError.
    """
    from ppcreloc.elf.reader import read_elf_file
    from ppcreloc.inputs import MAX_OBJECT_SIZE

    return read_elf_file(path, reader, MAX_OBJECT_SIZE if max_size is None else max_size)


def size_arg(text: str) -> int:
    """--max-object-size: bytes, or with a K/M/G suffix (powers of 1024)."""
    match = re.fullmatch(r"\s*(\d+)\s*([KMG]?)i?B?\s*", text, re.IGNORECASE)
    if match is None or int(match[1]) == 0:
        raise argparse.ArgumentTypeError(f"not a positive size: {text!r} (e.g. 512M)")
    return int(match[1]) << {"": 0, "K": 10, "M": 20, "G": 30}[match[2].upper()]


def add_max_object_size(p: argparse.ArgumentParser) -> None:
    """The shared ``--max-object-size`` option (see :data:`ppcreloc.inputs.MAX_OBJECT_SIZE`)."""
    from ppcreloc.inputs import MAX_OBJECT_SIZE

    p.add_argument("--max-object-size", type=size_arg, default=MAX_OBJECT_SIZE, metavar="SIZE",
                   help="refuse objects larger than SIZE once decompressed (bytes or K/M/G; "
                   f"default: {MAX_OBJECT_SIZE >> 20}M, 12 times the largest real module)")


def load_world(kallsyms: str | None) -> SymbolWorld:
    """The symbol world: a kallsyms/System.map file, or the synthetic default.

    An unreadable or malformed map raises WorldError (a PpcrelocError).
    """
    from ppcreloc.loader.world import SymbolWorld

    if kallsyms is None:
        return SymbolWorld.synthetic()
    return SymbolWorld.from_kallsyms(kallsyms)  # WorldError names the file and the line


def resolve_engines(spec: str) -> list[Engine]:
    """``all`` (every engine :func:`ppcreloc.engines.engine_names` lists), or one engine the
    registry knows: a profile, ``PATH.py:Class`` or ``kernel:PATH``."""
    from ppcreloc.engines import engine_names

    names = list(engine_names()) if spec == "all" else [spec]
    return [engine_or_usage(n) for n in names]


def engine_or_usage(name: str) -> Engine:
    """The engine ``name`` names; an unknown name is a UsageError that also offers ``all``."""
    from ppcreloc.engines import get_engine

    try:
        return get_engine(name)
    except UsageError as exc:
        text = str(exc)
        if text.startswith("unknown engine") and "(known: " in text:
            raise UsageError(text.replace("(known: ", "(choose from: all, ", 1)) from None
        raise


def module_name(path: str) -> str:
    """The kernel's name for a module file: the stem, '-' as '_' (kernel/module: KBUILD_MODNAME)."""
    from ppcreloc.inputs import object_stem

    return object_stem(Path(path).name).replace("-", "_")[:55] or "livepatch_test"


def _cycles(text: str) -> int:
    """--cycles: 0 up to the symbol world's last generation (each cycle is a fresh address)."""
    from ppcreloc.loader.world import MAX_GENERATION

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if not 0 <= value <= MAX_GENERATION:
        raise argparse.ArgumentTypeError(f"must be between 0 and {MAX_GENERATION}, got {value}")
    return value


def cycles_help(default: int, most: int) -> str:
    """--cycles help: exactly N reloads, else the reload that exhausts `.stubs` (oracle.check)."""
    return (f"run exactly N reload cycles at fresh addresses (default: {default}, extended to "
            f"the reload that exhausts .stubs, up to {most}; further out it is derived from the "
            "stub accounting)")


#: what each ``--boundaries`` value draws (ppcreloc.strategies.campaign.BOUNDARIES)
_BOUNDARY_HELP = {"off": "none", "inside": "only values the kernel accepts",
                  "all": "also one step over each limit"}


def add_mix_arguments(p: argparse.ArgumentParser, boundaries: str) -> None:
    """``--boundaries`` (default ``boundaries``) and ``--seed-objects``: what a campaign mixes
    into its generated objects (ppcreloc.strategies.campaign.campaign_objects); fuzz, diff and matrix."""
    p.add_argument("--boundaries", choices=tuple(_BOUNDARY_HELP), default=boundaries,
                   help="mix in boundary objects, values at and next to every range check: "
                   + ", ".join(f"{k} = {v}" for k, v in _BOUNDARY_HELP.items())
                   + f" (default: {boundaries})")
    p.add_argument("--seed-objects", metavar="DIR",
                   help="also draw sub-objects of the livepatch objects in DIR (made by "
                   "`ppcreloc livepatchify` from real modules)")


# -- check -----------------------------------------------------------------------------------------
def cmd_check(args: argparse.Namespace) -> int:
    """Load OBJ as a livepatch module on each engine and judge the seven invariants."""
    from ppcreloc.oracle import check
    from ppcreloc.report import emit_json, print_verdict

    engines = resolve_engines(args.engine)
    obj = load_object(args.object, args.reader, args.max_object_size)
    world = load_world(args.kallsyms)
    verdicts = [
        check(obj.clone(), e, world, cycles=args.cycles, modname=module_name(args.object))
        for e in engines
    ]
    if args.json:
        docs = [v.to_dict(details=True) for v in verdicts]
        emit_json(docs if args.engine == "all" else docs[0])
    else:
        for v in verdicts:
            print_verdict(v, args.object)
    return EXIT_OK if all(v.holds for v in verdicts) else EXIT_VIOLATED


def add_check(subparsers: argparse._SubParsersAction) -> None:
    """``ppcreloc check OBJ.o [--engine NAME|all] [--kallsyms FILE] [--cycles N] [--json]
    [--reader struct|pyelftools]``."""
    from ppcreloc.elf.reader import READERS
    from ppcreloc.oracle import DEFAULT_CYCLES, MAX_AUTO_CYCLES

    p = subparsers.add_parser(
        "check",
        help="load an object as a livepatch module and judge the seven invariants",
        description="Load OBJ as a livepatch module, run load / coming / going / coming and "
        "N reload cycles, and judge the invariants apply, apply_clear_apply, clear_restores, "
        "reapply_identical, in_bounds and reload_cycles. Exit 0 when all hold, 1 when any is "
        "violated, 2 on bad input.",
    )
    p.add_argument("object", metavar="OBJ", help="ppc64 ELF relocatable object (.o or .ko)")
    p.add_argument("--engine", default=DEFAULT_ENGINE,
                   help="engine profile (see `ppcreloc profiles`), 'all' (every profile), or "
                   "kernel:PATH (the kernel's own module_64.c from a source tree or tarball) "
                   f"(default: {DEFAULT_ENGINE})")
    p.add_argument("--kallsyms", metavar="FILE",
                   help="/proc/kallsyms or System.map for symbol addresses (default: synthetic)")
    p.add_argument("--cycles", type=_cycles, metavar="N", help=cycles_help(DEFAULT_CYCLES,
                                                                          MAX_AUTO_CYCLES))
    p.add_argument("--json", action="store_true",
                   help="print {engine, invariants: {name: {state, holds, message, "
                   "violations}}, stubs} as JSON (state: holds, violated or not judged; stubs: "
                   "the .stubs accounting and the reload that exhausts it)")
    p.add_argument("--reader", choices=READERS, default="struct",
                   help="ELF parser: the built-in struct reader or pyelftools (slower); both give "
                   "the same object (default: struct)")
    add_max_object_size(p)
    p.set_defaults(func=cmd_check)


# -- profiles --------------------------------------------------------------------------------------
def cmd_profiles(args: argparse.Namespace) -> int:
    """One line per profile: name, then summary."""
    from ppcreloc.profiles import PROFILES

    width = max((len(n) for n in PROFILES), default=0)
    for name, profile in PROFILES.items():
        print(f"{name:<{width}}  {profile.summary}")
    return EXIT_OK


def add_profiles(subparsers: argparse._SubParsersAction) -> None:
    """``ppcreloc profiles``."""
    p = subparsers.add_parser("profiles", help="list the engine profiles",
                              description="List the engine profiles, one per line.")
    p.set_defaults(func=cmd_profiles)


BUILTIN_COMMANDS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (
    add_check,
    add_profiles,
)


# -- entry point -----------------------------------------------------------------------------------
def _command(argv: Sequence[str]) -> str | None:
    """The subcommand ``argv`` names (its first non-option word), if any."""
    return next((a for a in argv if not a.startswith("-")), None)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The top-level parser: the built-in subcommands, and the registered modules' subcommands
    unless ``argv`` selects a built-in one (None: all of them)."""
    parser = _Parser(
        prog="ppcreloc",
        description="Property-based differential tester for the Linux kernel's ppc64 module "
        "relocation code (livepatch apply -> clear -> apply).",
    )
    parser.add_argument("--version", action="version",
                        version=f"ppcreloc {ppcreloc.__version__} (engine: {ppcreloc.BUILD})")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in BUILTIN_COMMANDS:
        add(subparsers)
    if argv is not None and _command(argv) in subparsers.choices:
        return parser
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).add_subcommand(subparsers)
    return parser


def error(message: str) -> int:
    """Print ``ppcreloc: error: MESSAGE`` (one line) on stderr; return exit code 2."""
    line = " ".join(str(message).split())
    print(f"ppcreloc: error: {line}", file=sys.stderr)
    return EXIT_ERROR


def tool_error(exc: ToolError) -> int:
    """Print ``ppcreloc: tool error (OUTCOME): MESSAGE`` (one line) on stderr; return exit code 3."""
    line = " ".join(str(exc).split())
    print(f"ppcreloc: tool error ({exc.outcome}): {line}", file=sys.stderr)
    return EXIT_TOOL


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (the console script exits with it)."""
    tune_gc()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv).parse_args(argv)
    try:
        return int(args.func(args))
    except ToolError as exc:
        return tool_error(exc)
    except PpcrelocError as exc:
        return error(str(exc))
    except KeyboardInterrupt:
        return error("interrupted")
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
