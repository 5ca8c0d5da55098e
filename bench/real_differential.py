"""Differential on one real module turned livepatch-style: the kernel's own module_64.c
(``kernel:TREE``) against the matching profile, on every compared field after every step
(ppcreloc.reference.kernel.compare), printing JSON.

Usage::

    python bench/real_differential.py MOD.ko --target OTHER.ko [--target ...] \\
        --tree /usr/src/linux-source-6.12.tar.xz --profile v6.12 \\
        [--kallsyms System.map] [--cycles N]

MOD is converted as ``ppcreloc livepatchify`` converts it (klp symbols of the targets), loaded,
then each target object comes, goes and comes back ``--cycles`` times at fresh addresses (the
check's script). The figures: relocations, steps, disagreements (with the first few), and the
seconds each engine took.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ppcreloc.cli import load_object, load_world, module_name  # noqa: E402
from ppcreloc.elf.livepatchify import Target, livepatchify  # noqa: E402
from ppcreloc.engines import ModelEngine  # noqa: E402
from ppcreloc.livepatchify import objname_of  # noqa: E402
from ppcreloc.oracle import build_script, target_objects  # noqa: E402
from ppcreloc.records import Layout, Scenario  # noqa: E402
from ppcreloc.reference.kernel.compare import disagreements  # noqa: E402
from ppcreloc.reference.kernel.engine import KernelEngine, user_layout  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("module")
    ap.add_argument("--target", action="append", required=True)
    ap.add_argument("--tree", required=True, help="kernel tree directory or source tarball")
    ap.add_argument("--profile", required=True, help="the profile of the tree's version")
    ap.add_argument("--kallsyms", help="System.map or /proc/kallsyms (default: synthetic)")
    ap.add_argument("--cycles", type=int, default=2)
    args = ap.parse_args(argv)

    mod = load_object(args.module)
    targets = []
    for path in args.target:
        obj = load_object(path)
        targets.append(Target(objname_of(path, obj), obj))
    conv = livepatchify(mod, targets, module_name(args.module))
    obj = conv.obj
    script = build_script(target_objects(obj), args.cycles)
    scenario = Scenario(obj, load_world(args.kallsyms), list(script.steps),
                        user_layout(Layout()), modname=module_name(args.module))
    relocations = sum(len(r) for r in obj.relocs.values())

    start = time.perf_counter()
    with KernelEngine(args.tree) as kernel:
        kernel_run = kernel.run(scenario)
    kernel_s = time.perf_counter() - start
    start = time.perf_counter()
    model_run = ModelEngine(args.profile).run(scenario)
    model_s = time.perf_counter() - start
    diffs = disagreements(kernel_run, model_run)
    print(json.dumps({
        "module": args.module, "targets": [t.objname for t in targets], "profile": args.profile,
        "tree": args.tree, "relocations": relocations, "klp_relocations": conv.klp_relocs,
        "steps": len(script.steps), "cycles": args.cycles,
        "rcs": [s.rc for s in kernel_run.steps],
        "disagreements": len(diffs), "first": [str(d) for d in diffs[:5]],
        "kernel_s": round(kernel_s, 2), "model_s": round(model_s, 2),
    }, indent=2))
    return 1 if diffs else 0


if __name__ == "__main__":
    raise SystemExit(main())
