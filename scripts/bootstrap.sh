#!/usr/bin/env bash
# Install everything ppcreloc and its test tiers need on a fresh Debian machine, into .venv.
# Usage: bash scripts/bootstrap.sh            (idempotent; apt steps run only as root with apt-get)
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  binutils-powerpc64le-linux-gnu   # GNU ld/gas/readelf for ppc64le: reference linker, assembler
  binutils                          # readelf -aW for the ELF writer checks
  gcc                               # compiles the kernel's own module_64.c (reference harness)
  xz-utils                          # unpacks the linux-source-*.tar.xz trees
  qemu-user                         # qemu-ppc64le: run-time oracle for relocated code
  gcc-powerpc64le-linux-gnu         # builds the static ppc64le harness qemu runs
  lld                               # LLVM lld: second reference linker
  redis-server                      # shared Hypothesis example database tests (loopback only)
  linux-source-6.1                  # the kernel's own module_64.c, compiled at test time (6.1.y)
  linux-source-6.12                 # ... and 6.12.y
)

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "bootstrap: apt-get install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
else
  echo "bootstrap: not root or no apt-get; skipping Debian packages (tests that need them skip)" >&2
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install -q --upgrade pip >/dev/null 2>&1 || true
.venv/bin/pip install -q -e '.[test]'
echo "bootstrap: done (.venv ready; $(.venv/bin/ppcreloc --version))"
