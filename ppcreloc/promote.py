"""`ppcreloc promote FIXTURE.o... [--to DIR]`: copy fixtures into the regression corpus.

Campaigns write to an untracked directory (:data:`ppcreloc.fixtures.DEFAULT_DIR`); the corpus
(:data:`ppcreloc.fixtures.CORPUS_DIR`) changes only through this command. Each fixture is
checked (its sidecar must parse) and copied with its sidecar, byte for byte, to
``<DIR>/<recorded engine>/<name>.o``.

Exit codes: 0 every fixture copied, 2 a bad fixture or usage (nothing after it is copied).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ppcreloc.fixtures import CORPUS_DIR, promote


def cmd_promote(args: argparse.Namespace) -> int:
    """Copy each fixture; print ``FIXTURE -> DEST`` per line."""
    for name in args.fixtures:
        dest = promote(Path(name), Path(args.to))
        print(f"{name} -> {dest}")
    return 0


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    """``ppcreloc promote FIXTURE.o... [--to DIR]``."""
    p = subparsers.add_parser(
        "promote",
        help="copy fixtures (with their sidecars) into the regression corpus",
        description="Copy each FIXTURE.o and its JSON sidecar, unchanged, to "
        "DIR/<engine>/ (the engine its sidecar records). Campaigns never write to the corpus; "
        "this is the only way in. Exit 0 when all were copied, 2 for a bad fixture.",
    )
    p.add_argument("fixtures", nargs="+", metavar="FIXTURE.o",
                   help="fixture object (or its .json sidecar)")
    p.add_argument("--to", default=str(CORPUS_DIR), metavar="DIR",
                   help=f"the corpus directory (default: {CORPUS_DIR})")
    p.set_defaults(func=cmd_promote)
