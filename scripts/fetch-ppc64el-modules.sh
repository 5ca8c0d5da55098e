#!/usr/bin/env bash
# Fetch Debian's ppc64el kernel image packages (3000+ real modules plus System.map each) into a
# cache: the newest image of every kernel series apt offers (bookworm: 6.1 and 6.12).
#
# Usage: scripts/fetch-ppc64el-modules.sh [--cached | --refresh] [CACHE_DIR]
#   CACHE_DIR   default $PPCRELOC_PPC64EL_CACHE, else $PPCRELOC_CACHE/ppc64el, else
#               ~/.cache/ppcreloc/ppc64el (ppcreloc.caches.ppc64el_cache): outside the
#               repository, so a checkout never holds kernel images or their packaging
#   --cached    do not download: print the cached series, exit 3 when none is complete
#   --refresh   ask apt again even when every series of the last query is cached
# Prints one line per series, tab-separated: the series (6.1), the module directory
# (CACHE_DIR/<series>/root/lib/modules/<version>) and its System.map (CACHE_DIR/<series>/System.map,
# made from the package's vmlinux symbol table: see make_sysmap). Exits 1 when a series it found
# could not be fetched (the others are still printed).
#
# Idempotent: when every series of the last apt query is cached, nothing touches the network. It
# uses a private apt configuration under CACHE_DIR (ppc64el only, bookworm main and security), so
# it needs neither root nor `dpkg --add-architecture`, and leaves the system's apt state alone.
# Versions are picked by rule: apt's linux-image-<abi>-powerpc64le[-unsigned] names are grouped by
# series (major.minor) and `sort -V` takes the newest of each. PPCRELOC_PPC64EL_SERIES="6.1 6.12"
# restricts the series. Needs apt-get and dpkg-deb (Debian or Ubuntu).
set -euo pipefail

cached_only=0 refresh=0
case "${1:-}" in
  --cached) cached_only=1; shift ;;
  --refresh) refresh=1; shift ;;
esac
cache="${1:-${PPCRELOC_PPC64EL_CACHE:-${PPCRELOC_CACHE:-$HOME/.cache/ppcreloc}/ppc64el}}"
mkdir -p "$cache"
cache="$(cd "$cache" && pwd)"
series_file="$cache/series"  # the series the last apt query found, one a line
say() { echo "fetch-ppc64el-modules: $*" >&2; }

# The tab-separated line for one complete series, or status 1.
series_line() {
  local dir="$cache/$1" moddir
  [ -f "$dir/complete" ] && [ -s "$dir/System.map" ] || return 1
  moddir="$(ls -d "$dir"/root/lib/modules/*/ 2>/dev/null | head -n1)"
  [ -n "$moddir" ] || return 1
  printf '%s\t%s\t%s\n' "$1" "${moddir%/}" "$dir/System.map"
}

# Every complete series under the cache, oldest first.
cached_series() {
  local d
  for d in "$cache"/*/complete; do
    [ -f "$d" ] && basename "$(dirname "$d")"
  done | sort -V
}

if [ "$cached_only" = 1 ]; then
  found=0
  for s in $(cached_series); do series_line "$s" && found=1; done
  [ "$found" = 1 ] && exit 0
  say "no complete cache in $cache (run without --cached)"
  exit 3
fi

wanted="${PPCRELOC_PPC64EL_SERIES:-}"
# Every wanted series (default: those of the last query) is cached: no network.
if [ "$refresh" = 0 ] && { [ -n "$wanted" ] || [ -s "$series_file" ]; }; then
  lines="" ok=1
  for s in ${wanted:-$(cat "$series_file")}; do
    line="$(series_line "$s")" || { ok=0; break; }
    lines+="$line"$'\n'
  done
  if [ "$ok" = 1 ]; then printf '%s' "$lines"; exit 0; fi
fi

for tool in apt-get apt-cache dpkg-deb nm; do
  command -v "$tool" >/dev/null || { say "$tool not found (Debian/Ubuntu only)"; exit 1; }
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
  -o "Acquire::Retries=3" -o "Acquire::http::Timeout=60"
)

# One mirror index may be mid-sync; carry on as long as some index arrived.
apt-get "${opts[@]}" -qq update >"$cache/apt-update.log" 2>&1 \
  || say "apt-get update reported errors (see $cache/apt-update.log); continuing"

# "<series> <package>" for the newest image of each series.
newest_per_series() {
  apt-cache "${opts[@]}" search --names-only '^linux-image-[0-9].*-powerpc64le(-unsigned)?$' \
    | awk '{print $1}' | grep -v -- '-dbg$' \
    | sed -n 's/^linux-image-\([0-9][0-9]*\.[0-9][0-9]*\)[.-].*/\1 &/p' \
    | sort -k1,1V -k2,2V | awk '{last[$1] = $2} END {for (s in last) print s, last[s]}' | sort -V
}

make_sysmap() {
  # Debian's boot/System.map-* is a one-line placeholder ("The real System.map is in the
  # linux-image-<version>-dbg package"), but boot/vmlinux-* keeps its .symtab: build the map
  # from it as the kernel's scripts/mksysmap does (nm -n, without a/N/U/w symbols).
  local root="$1" sysmap="$2" vmlinux nm
  vmlinux="$(ls "$root"/boot/vmlinux-* 2>/dev/null | head -n1)"
  [ -n "$vmlinux" ] || { say "no boot/vmlinux-* in the package"; return 1; }
  for nm in powerpc64le-linux-gnu-nm nm; do
    if command -v "$nm" >/dev/null && "$nm" -n "$vmlinux" 2>/dev/null \
        | grep -v -E ' [aNUw] ' >"$sysmap.tmp" && [ -s "$sysmap.tmp" ]; then
      mv "$sysmap.tmp" "$sysmap"
      return 0
    fi
  done
  rm -f "$sysmap.tmp"
  say "cannot list $vmlinux's symbols (install binutils)"
  return 1
}

# Download and unpack one package into CACHE_DIR/<series> unless that version is already there.
fetch_series() {
  local series="$1" pkg="$2" dir="$cache/$1" deb
  if [ -f "$dir/complete" ] && [ "$(cat "$dir/complete")" = "$pkg" ] && series_line "$series" >/dev/null; then
    rm -rf "$dir/root/usr/share"  # a cache unpacked before the packaging was dropped
    rmdir "$dir/root/usr" 2>/dev/null || true
    return 0
  fi
  mkdir -p "$dir/deb"
  rm -f "$dir/complete"
  if ! ls "$dir/deb/${pkg}"_*.deb >/dev/null 2>&1; then
    find "$dir/deb" -name '*.deb.partial' -delete 2>/dev/null || true
    (cd "$dir/deb" && apt-get "${opts[@]}" -qq download "$pkg" 2>"$dir/apt-download.log") || {
      say "apt-get download $pkg failed (see $dir/apt-download.log)"
      return 1
    }
  fi
  deb="$(ls "$dir/deb/${pkg}"_*.deb | head -n1)"
  # Older images of the series are superseded: keep only the one unpacked.
  find "$dir/deb" -name '*.deb' ! -path "$deb" -delete
  rm -rf "$dir/root.tmp"
  dpkg-deb -x "$deb" "$dir/root.tmp" || { say "cannot unpack $deb"; return 1; }
  # only boot/ (vmlinux, for the System.map) and lib/modules/ are used: not the packaging
  # (usr/share/doc's copyright file, lintian overrides, bug scripts)
  rm -rf "$dir/root.tmp/usr/share"
  rmdir "$dir/root.tmp/usr" 2>/dev/null || true
  rm -rf "$dir/root"
  mv "$dir/root.tmp" "$dir/root"
  make_sysmap "$dir/root" "$dir/System.map" || return 1
  echo "$pkg" >"$dir/complete"
}

found="$(newest_per_series)"
if [ -n "$wanted" ]; then
  found="$(echo "$found" | awk -v w=" $wanted " 'index(w, " " $1 " ")')"
fi
if [ -z "$found" ]; then
  say "no linux-image-*-powerpc64le package found${wanted:+ for series $wanted} (see $cache/apt-update.log)"
  exit 1
fi

status=0
if [ -z "$wanted" ]; then
  echo "$found" | awk '{print $1}' >"$series_file.tmp"
  mv "$series_file.tmp" "$series_file"
fi
while read -r series pkg; do
  if fetch_series "$series" "$pkg"; then
    series_line "$series"
  else
    say "series $series ($pkg) not fetched"
    status=1
  fi
done <<<"$found"
exit "$status"
