#!/usr/bin/env bash
# Short seeded fuzz campaign per engine profile, run by CI after pytest (.ci/run).
#
# For every profile `ppcreloc fuzz --examples N --seed S --json` runs on compiler-like objects and
# its violated invariants are compared with what the kernel's code predicts
# (ppcreloc.matrix.PREDICTED): a profile expected to hold everything (full-undo) must find nothing,
# and every profile expected to fail must find exactly its predicted defects (v6.1 cannot re-apply;
# v6.12, v6.18 and the v7 clear leave bytes applied and exhaust .stubs; v6.13 also writes a klp
# stub over its out-of-line ftrace stubs, in_bounds). v6.13 and v6.18 fuzz the objects their
# kernels build (-fpatchable-function-entry, ppcreloc.strategies.ftrace_entries). Deterministic: same seed, same
# examples, same result. Fixtures go to a scratch directory, not to tests/fixtures.
#
# Then, per Debian kernel tree and placeholder mode, a seeded `ppcreloc diff --engine kernel:TREE`
# against the profile of the tree's version (diff's default --against) must find 0
# disagreements: the kernel's own module_64.c and its model agree step for step.
#
# Environment: CAMPAIGN_EXAMPLES (default 300), CAMPAIGN_SEED (default 0), CAMPAIGN_FIXTURES
# (default: a new temporary directory, removed when every profile is as predicted), PPCRELOC
# (default: .venv/bin/ppcreloc), PYTHON (default: .venv/bin/python), CAMPAIGN_DIFF_EXAMPLES
# (default 500 per tree and mode), CAMPAIGN_DIFF_TREES (default Debian's 6.1 and 6.12 tarballs in
# /usr/src; empty: no diff). Exit 0 when every profile behaves as predicted and every tree
# agrees with its profile, 1 otherwise (a missing tree fails: CI installs both).
set -euo pipefail

cd "$(dirname "$0")/.."
PPCRELOC=${PPCRELOC:-.venv/bin/ppcreloc}
PYTHON=${PYTHON:-.venv/bin/python}
EXAMPLES=${CAMPAIGN_EXAMPLES:-300}
SEED=${CAMPAIGN_SEED:-0}
FIXTURES=${CAMPAIGN_FIXTURES:-$(mktemp -d -t ppcreloc-campaign.XXXXXX)}
mkdir -p "$FIXTURES"

engines=$("$PYTHON" -c 'from ppcreloc.engines import engine_names; print(" ".join(engine_names()))')
echo "ci-campaign: ${EXAMPLES} examples per profile, seed ${SEED}, fixtures in ${FIXTURES}"

failed=0
for engine in $engines; do
    out="$FIXTURES/$engine.json"
    rc=0
    "$PPCRELOC" fuzz --engine "$engine" --examples "$EXAMPLES" --seed "$SEED" \
        --fixtures "$FIXTURES" --json >"$out" || rc=$?
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 1 ]; then
        echo "ci-campaign: $engine: ppcreloc fuzz failed with exit code $rc" >&2
        failed=1
        continue
    fi
    "$PYTHON" - "$engine" "$out" <<'PY' || failed=1
import json
import sys

from ppcreloc.matrix import PREDICTED
from ppcreloc.oracle import INVARIANTS

engine, path = sys.argv[1], sys.argv[2]
doc = json.load(open(path))
found = {v["invariant"] for v in doc["violations"]}
expected = {i for i in INVARIANTS if not PREDICTED.get((engine, i), True)}
summary = (f"{engine}: {doc['examples']} examples in {doc['elapsed_s']} s, "
           f"violated: {', '.join(sorted(found)) or 'none'}")
if found == expected:
    print(f"ci-campaign: ok   {summary}")
    sys.exit(0)
missing, extra = sorted(expected - found), sorted(found - expected)
print(f"ci-campaign: FAIL {summary}", file=sys.stderr)
if missing:
    print(f"  predicted but not found: {', '.join(missing)}", file=sys.stderr)
for v in doc["violations"]:
    if v["invariant"] in extra:
        print(f"  not predicted: {v['invariant']}: {v['fixture']}", file=sys.stderr)
sys.exit(1)
PY
done

DIFF_EXAMPLES=${CAMPAIGN_DIFF_EXAMPLES:-500}
DIFF_TREES=${CAMPAIGN_DIFF_TREES-/usr/src/linux-source-6.1.tar.xz /usr/src/linux-source-6.12.tar.xz}
for tree in $DIFF_TREES; do
    if [ ! -e "$tree" ]; then
        echo "ci-campaign: FAIL diff kernel:$tree: no such tree (CI installs linux-source-*)" >&2
        failed=1
        continue
    fi
    for mode in compiler adversarial; do
        out="$FIXTURES/diff-$(basename "$tree")-$mode.json"
        rc=0
        "$PPCRELOC" diff --engine "kernel:$tree" --examples "$DIFF_EXAMPLES" --seed "$SEED" \
            --placeholders "$mode" --fixtures "$FIXTURES/diff" --json >"$out" || rc=$?
        if [ "$rc" -ne 0 ] && [ "$rc" -ne 1 ]; then
            echo "ci-campaign: FAIL diff kernel:$tree ($mode): ppcreloc diff exit code $rc" >&2
            failed=1
            continue
        fi
        "$PYTHON" - "$out" "$DIFF_EXAMPLES" <<'PY' || failed=1
import json
import sys

path, wanted = sys.argv[1], int(sys.argv[2])
try:
    doc = json.load(open(path))
    found, examples = doc["disagreements"], doc["examples"]
except (OSError, ValueError, KeyError, TypeError) as exc:
    print(f"ci-campaign: FAIL diff: unreadable report {path}: {exc}", file=sys.stderr)
    sys.exit(1)
summary = (f"diff {doc.get('engine')} vs {doc.get('against')} ({doc.get('placeholders')}): "
           f"{examples} examples in {doc.get('elapsed_s')} s, {len(found)} disagreement(s)")
if not found and examples == wanted:
    print(f"ci-campaign: ok   {summary}")
    sys.exit(0)
print(f"ci-campaign: FAIL {summary} (expected 0 over {wanted})", file=sys.stderr)
for f in found:
    rel = f.get("relocation") or {}
    print(f"  step {f['step']} {f['step_desc']}: {f['field']} at "
          f"{rel.get('section')}[{rel.get('index')}] {rel.get('type_name')}: A {f['a']} "
          f"B {f['b']}: {f['fixture']}", file=sys.stderr)
sys.exit(1)
PY
    done
done
if [ "$failed" -eq 0 ] && [ -z "${CAMPAIGN_FIXTURES:-}" ]; then
    rm -rf "$FIXTURES"
elif [ "$failed" -ne 0 ]; then
    echo "ci-campaign: fixtures and reports kept in $FIXTURES" >&2
fi
exit "$failed"
