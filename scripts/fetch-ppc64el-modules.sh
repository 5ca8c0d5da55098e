#!/usr/bin/env bash
# Fetch Debian's ppc64el kernel image package (3000+ real modules plus System.map) into a cache.
#
# Usage: scripts/fetch-ppc64el-modules.sh [--cached] [CACHE_DIR]
#   CACHE_DIR   default <repository>/cache/ppc64el (gitignored as /cache/)
#   --cached    do not download: print the paths if the cache is complete, else exit 3
# Prints two lines: the module directory (lib/modules/<version>) and the System.map path
# (CACHE_DIR/System.map, made from the package's vmlinux symbol table: see make_sysmap).
#
# Idempotent: a complete cache is reused without network access. It uses a private apt
# configuration under CACHE_DIR (ppc64el only, bookworm main and security), so it needs neither
# root nor `dpkg --add-architecture`, and leaves the system's apt state alone. The package is the
# newest linux-image-<abi>-powerpc64le[-unsigned] apt finds; PPCRELOC_PPC64EL_PACKAGE picks
# another. Needs apt-get and dpkg-deb (Debian or Ubuntu).
set -euo pipefail

cached_only=0
if [ "${1:-}" = "--cached" ]; then cached_only=1; shift; fi
cache="${1:-$(dirname "$0")/../cache/ppc64el}"
mkdir -p "$cache"
cache="$(cd "$cache" && pwd)"
root="$cache/root"
stamp="$cache/complete"

sysmap="$cache/System.map"

print_paths() {
  local moddir
  moddir="$(ls -d "$root"/lib/modules/*/ 2>/dev/null | head -n1)"
  [ -s "$sysmap" ] && [ -n "$moddir" ] || return 1
  echo "${moddir%/}"
  echo "$sysmap"
}

# Debian's boot/System.map-* is a one-line placeholder ("The real System.map is in the
# linux-image-<version>-dbg package"), but boot/vmlinux-* keeps its .symtab: build the map from
# it as the kernel's scripts/mksysmap does (nm -n, without a/N/U/w symbols).
make_sysmap() {
  local vmlinux nm
  vmlinux="$(ls "$root"/boot/vmlinux-* 2>/dev/null | head -n1)"
  [ -n "$vmlinux" ] || { echo "fetch-ppc64el-modules: no boot/vmlinux-* in the package" >&2; return 1; }
  for nm in powerpc64le-linux-gnu-nm nm; do
    if command -v "$nm" >/dev/null && "$nm" -n "$vmlinux" 2>/dev/null \
        | grep -v -E ' [aNUw] ' >"$sysmap.tmp" && [ -s "$sysmap.tmp" ]; then
      mv "$sysmap.tmp" "$sysmap"
      return 0
    fi
  done
  rm -f "$sysmap.tmp"
  echo "fetch-ppc64el-modules: cannot list $vmlinux's symbols (install binutils)" >&2
  return 1
}

if [ -f "$stamp" ] && print_paths; then exit 0; fi
if [ "$cached_only" = 1 ]; then
  echo "fetch-ppc64el-modules: no complete cache in $cache (run without --cached)" >&2
  exit 3
fi
for tool in apt-get apt-cache dpkg-deb nm; do
  command -v "$tool" >/dev/null || { echo "fetch-ppc64el-modules: $tool not found (Debian/Ubuntu only)" >&2; exit 1; }
done

apt="$cache/apt"
mkdir -p "$apt/lists/partial" "$apt/archives/partial" "$apt/sources.list.d" "$apt/preferences.d"
touch "$apt/status"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
mirror="${PPCRELOC_DEBIAN_MIRROR:-http://deb.debian.org}"
cat >"$apt/sources.list" <<EOF
deb [arch=ppc64el signed-by=$keyring] $mirror/debian bookworm main
deb [arch=ppc64el signed-by=$keyring] $mirror/debian-security bookworm-security main
EOF
opts=(
  -o "Dir::State=$apt" -o "Dir::State::status=$apt/status" -o "Dir::Cache=$apt"
  -o "Dir::Etc::SourceList=$apt/sources.list" -o "Dir::Etc::SourceParts=$apt/sources.list.d"
  -o "Dir::Etc::Preferences=$apt/preferences" -o "Dir::Etc::PreferencesParts=$apt/preferences.d"
  -o "APT::Architecture=ppc64el" -o "APT::Architectures=ppc64el" -o "Debug::NoLocking=1"
)

# One mirror index may be mid-sync; carry on as long as some index arrived.
apt-get "${opts[@]}" -qq update >"$cache/apt-update.log" 2>&1 \
  || echo "fetch-ppc64el-modules: apt-get update reported errors (see $cache/apt-update.log); continuing" >&2

pkg="${PPCRELOC_PPC64EL_PACKAGE:-}"
if [ -z "$pkg" ]; then
  pkg="$(apt-cache "${opts[@]}" search --names-only '^linux-image-[0-9].*-powerpc64le(-unsigned)?$' \
         | awk '{print $1}' | grep -v -- '-dbg$' | sort -V | tail -n1)"
fi
if [ -z "$pkg" ]; then
  echo "fetch-ppc64el-modules: no linux-image-*-powerpc64le package found (see $cache/apt-update.log)" >&2
  exit 1
fi

dl="$cache/deb"
mkdir -p "$dl"
if ! ls "$dl/${pkg}"_*.deb >/dev/null 2>&1; then
  (cd "$dl" && apt-get "${opts[@]}" -qq download "$pkg" 2>"$cache/apt-download.log") || {
    echo "fetch-ppc64el-modules: apt-get download $pkg failed (see $cache/apt-download.log)" >&2
    exit 1
  }
fi
deb="$(ls "$dl/${pkg}"_*.deb | head -n1)"
rm -rf "$root.tmp"
dpkg-deb -x "$deb" "$root.tmp"
rm -rf "$root"
mv "$root.tmp" "$root"
make_sysmap
basename "$deb" >"$stamp"
print_paths
