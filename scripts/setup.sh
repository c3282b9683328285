#!/usr/bin/env bash
# Installs what the build and the tests need, and skips what is already there.
#   - Debian packages (DESIGN.md section 3), through apt-get as configured here;
#   - QuickJS 2025-04-26: the system's libquickjs when it has one, otherwise
#     Debian's quickjs source package from the suite that carries it, fetched
#     through this machine's own mirror, checksum-pinned, built into deps/;
#   - npm tools (sucrase, esbuild, ws, playwright-core) into node_modules/;
#     the browser test drives Debian's chromium, installed with the packages.
# Re-running it is a no-op. Without root or apt it lists what to install.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
deps="$top/deps"
mkdir -p "$deps"

say() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- packages
pkgs=(build-essential pkg-config libuv1-dev node-llhttp libwslay-dev
      libsqlite3-dev libssl-dev libcurl4-openssl-dev libjansson-dev
      libcmocka-dev zlib1g-dev clang libclang-rt-14-dev dpkg-dev xz-utils curl chromium)
if [ "${1:-}" = "--bench" ]; then pkgs+=(wrk nginx); fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)

if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo -n"; else
      die "missing packages: ${missing[*]}
  install them as root:  apt-get install -y ${missing[*]}
  then run this again."
    fi
  fi
  command -v apt-get >/dev/null || die "no apt-get here; install these packages by hand: ${missing[*]}"
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq || die "apt-get update failed; install by hand: ${missing[*]}"
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install failed; install by hand: ${missing[*]}"
fi

[ -f /usr/share/llhttp/llhttp.c ] || [ -d /usr/share/llhttp ] \
  || die "node-llhttp is installed but /usr/share/llhttp is missing"

# ---------------------------------------------------------------- QuickJS
QJS_VERSION=2025.04.26
QJS_DEBREV=2025.04.26-1
QJS_ORIG_SHA=ec81da5b3249ed648dbc7df4a1654988910e66a118d9b71cb63534216efcfbbe
QJS_DEB_SHA=33e980d4737e83419ae2fb3c833a9d1813ee5edbf2e3da129a66f8bffac23862
qjs="$deps/quickjs"

system_quickjs() {
  # A system libquickjs of the right version (Debian 13 and later).
  local v
  v=$(dpkg-query -W -f='${Version}' libquickjs-dev 2>/dev/null || true)
  [ -n "$v" ] && [ "${v%%-*}" = "$QJS_VERSION" ] && [ -f /usr/include/quickjs/quickjs.h ]
}

mirror_uri() {
  # The first Debian archive URI this machine is configured with.
  local f u
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    u=$(awk '/^URIs:/ {print $2; exit}' "$f")
    case "$u" in */debian|*/debian/) echo "${u%/}"; return 0;; esac
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    u=$(awk '$1=="deb" && $0 !~ /security/ {for(i=2;i<=NF;i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' "$f")
    case "$u" in */debian|*/debian/) echo "${u%/}"; return 0;; esac
  done
  return 1
}

if [ -f "$qjs/lib/libquickjs.a" ] && [ -f "$qjs/include/quickjs.h" ]; then
  :
elif system_quickjs; then
  mkdir -p "$qjs/include" "$qjs/lib"
  ln -sf /usr/include/quickjs/quickjs.h "$qjs/include/quickjs.h"
  for a in /usr/lib/*/libquickjs.a /usr/lib/*/quickjs/libquickjs.a; do
    [ -f "$a" ] && ln -sf "$a" "$qjs/lib/libquickjs.a" && break
  done
else
  say "fetching the quickjs $QJS_DEBREV source package"
  work="$deps/quickjs-src"
  rm -rf "$work"; mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
  mirror=$(mirror_uri) || die "cannot find a Debian mirror in /etc/apt; fetch quickjs $QJS_DEBREV source by hand into $work"
  echo "deb-src $mirror trixie main" >"$work/sources.list"
  aptopts=(-o Dir::Etc::SourceList="$work/sources.list" -o Dir::Etc::SourceParts=/dev/null
           -o Dir::State::Lists="$work/lists" -o Dir::Cache="$work/cache"
           -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= -o APT::Sandbox::User=root)
  apt-get "${aptopts[@]}" update -qq >/dev/null || die "apt-get update of the source index failed"
  (cd "$work" && apt-get "${aptopts[@]}" source --download-only -qq "quickjs=$QJS_DEBREV" >/dev/null) \
    || die "apt-get source quickjs=$QJS_DEBREV failed"
  echo "$QJS_ORIG_SHA  $work/quickjs_$QJS_VERSION.orig.tar.xz" | sha256sum -c --quiet \
    || die "checksum mismatch for quickjs_$QJS_VERSION.orig.tar.xz"
  echo "$QJS_DEB_SHA  $work/quickjs_$QJS_DEBREV.debian.tar.xz" | sha256sum -c --quiet \
    || die "checksum mismatch for quickjs_$QJS_DEBREV.debian.tar.xz"
  (cd "$work" && dpkg-source -x --no-check "quickjs_$QJS_DEBREV.dsc" src >/dev/null 2>&1) \
    || die "dpkg-source -x failed"
  say "building libquickjs.a (about a minute)"
  make -C "$work/src" -j"$(nproc)" libquickjs.a >/dev/null 2>"$work/build.log" \
    || die "building quickjs failed; see $work/build.log"
  rm -rf "$qjs"; mkdir -p "$qjs/include" "$qjs/lib"
  cp "$work/src/quickjs.h" "$work/src/quickjs-libc.h" "$qjs/include/"
  cp "$work/src/libquickjs.a" "$qjs/lib/"
  rm -rf "$work"
fi

# ---------------------------------------------------------------- npm tools
if [ ! -f "$top/node_modules/.dorm-ok" ] || [ "$top/package-lock.json" -nt "$top/node_modules/.dorm-ok" ]; then
  say "installing npm tools (sucrase, esbuild, ws, playwright-core)"
  (cd "$top" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) || die "npm ci failed"
  touch "$top/node_modules/.dorm-ok"
fi
# ---------------------------------------------------------------- the peer (bench only)
# Cloudflare's runtime, for side-by-side figures: npm's workerd package,
# pinned, into deps/peer (never linked into anything).
WORKERD_VERSION=1.20261117.1
if [ "${1:-}" = "--bench" ] && [ ! -x "$deps/peer/node_modules/.bin/workerd" ]; then
  say "installing workerd $WORKERD_VERSION (the peer for make bench)"
  mkdir -p "$deps/peer"
  # A package.json of its own, or npm would install into the project's.
  echo '{"private": true}' > "$deps/peer/package.json"
  (cd "$deps/peer" && npm install --no-audit --no-fund --no-save --loglevel=error \
    "workerd@$WORKERD_VERSION" >/dev/null) || say "workerd could not be installed; make bench skips the peer"
fi
say "ok"
