"""``ppcreloc livepatchify MOD.ko --target OTHER.ko [--target ...] -o OUT.o``.

Turns a real module into a livepatch-format object for the target modules it links against
(:mod:`ppcreloc.elf.livepatchify`), so a campaign or ``check`` can start from real compiler
output. Inputs may be ``.ko``, ``.ko.xz`` or ``.ko.gz``. Bad input, an unwritable output or a
target that defines nothing the module uses is a one-line error, exit 2.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ppcreloc.cli import load_object, module_name
from ppcreloc.elf.livepatchify import Target, livepatchify, modinfo_name
from ppcreloc.elf.model import ElfObject
from ppcreloc.elf.writer import write_elf
from ppcreloc.errors import UsageError

EXIT_OK = 0


def objname_of(path: str, obj: object) -> str:
    """The klp objname of a target: ``.modinfo`` name=, else the file stem ('-' as '_')."""
    assert isinstance(obj, ElfObject)
    return modinfo_name(obj) or module_name(path).replace("-", "_")


def cmd_livepatchify(args: argparse.Namespace) -> int:
    """Convert MOD for every --target, write OUT, print a summary."""
    mod = load_object(args.module)
    targets = []
    for path in args.target:
        obj = load_object(path)
        targets.append(Target(objname_of(path, obj), obj))
    names = [t.objname for t in targets]
    if len(set(names)) != len(names):
        raise UsageError(f"--target names one module twice: {', '.join(names)}")
    conv = livepatchify(mod, targets, module_name(args.module))
    try:
        Path(args.output).write_bytes(write_elf(conv.obj))
    except OSError as exc:
        raise UsageError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    per_target = {n: sum(1 for o, _s, _p in conv.renamed if o == n) for n in names}
    klp_secs = sorted(s.name for s in conv.obj.sections if s.name.startswith(".klp.rela."))
    if args.json:
        print(json.dumps({"output": args.output, "symbols": per_target,
                          "klp_relocations": conv.klp_relocs, "klp_sections": klp_secs}))
    else:
        syms = ", ".join(f"{n} {k}" for n, k in per_target.items())
        print(f"{args.output}: {len(conv.renamed)} klp symbols ({syms}), "
              f"{conv.klp_relocs} relocations in {len(klp_secs)} .klp.rela sections")
    return EXIT_OK


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    """Register ``livepatchify``."""
    p = subparsers.add_parser(
        "livepatchify",
        help="turn a module into a livepatch object for the modules it links against",
        description="Rewrite MOD's undefined symbols that a --target module defines as "
                    "SHN_LIVEPATCH .klp.sym.<target>.<name>,<pos> symbols and move their "
                    "relocations to .klp.rela.<target>.<section> (klp-convert style).")
    p.add_argument("module", metavar="MOD.ko", help="the module (.ko, .ko.xz or .ko.gz)")
    p.add_argument("--target", action="append", required=True, metavar="OTHER.ko",
                   help="a module MOD links against (repeatable; .ko, .ko.xz or .ko.gz)")
    p.add_argument("-o", "--output", required=True, metavar="OUT.o", help="the object to write")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=cmd_livepatchify)
