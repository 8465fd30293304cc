#!/usr/bin/env bash
# Per-machine .msi with wixl (msitools) around the win-x64 single executable.
# Usage: installer/windows/build.sh EXE VERSION BUILD OUT_DIR   (VERSION x.y.z from package.json, BUILD a number)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
EXE="$1"; VERSION="$2"; BUILD="$3"; OUT="$4"
NUMERIC="${VERSION%%[-+]*}"
# ProductVersion x.y.z.BUILD (each field within Windows Installer's limits); shown as x.y.z+BUILD.
MSI_VERSION="$NUMERIC.$BUILD"
MSI="$OUT/rmagent-$VERSION+$BUILD-x64.msi"
mkdir -p "$OUT"

# WinSW (MIT) as shipped inside the npm package node-windows; integrity pinned like the Node runtimes.
WRAPPER_PKG=node-windows@1.0.0-beta.8
WRAPPER_INTEGRITY="sha512-uLekXnSeem3nW5escID224Fd0U/1VtvE796JpSpOY+c73Cslz/Qn2WUHRJyPQJEMrNGAy/FMRFjjhh4z1alZTA=="
CACHE="$HERE/../.cache/winsw"; mkdir -p "$CACHE"
TGZ="$CACHE/node-windows-1.0.0-beta.8.tgz"
[ -f "$TGZ" ] || (cd "$CACHE" && npm pack --silent "$WRAPPER_PKG" >/dev/null)
[ "sha512-$(openssl dgst -sha512 -binary "$TGZ" | base64 -w0)" = "$WRAPPER_INTEGRITY" ] \
  || { echo "$TGZ: integrity mismatch; delete it and retry" >&2; exit 1; }
[ -f "$CACHE/package/bin/winsw/winsw.exe" ] || tar -xzf "$TGZ" -C "$CACHE" package/bin/winsw/winsw.exe

STAGE="$(mktemp -d "${TMPDIR:-/tmp}/rmagent-msi.XXXXXX")"; trap 'rm -rf "$STAGE"' EXIT
# The custom action DLL (64-bit, Windows' own msi.dll and kernel32 only), reproducible: no timestamp, stripped.
x86_64-w64-mingw32-gcc -shared -O2 -s -Wall -Wextra -Werror -municode -Wl,--no-insert-timestamp \
  -o "$STAGE/rmagent-ca.dll" "$HERE/custom-action/enroll.c" -lmsi
# wixl resolves Source= relative to the current folder only: stage the payload and build there.
cp "$EXE" "$STAGE/rmagent.exe"; cp "$CACHE/package/bin/winsw/winsw.exe" "$STAGE/rmagent-service.exe"
cp "$HERE/rmagent-service.xml" "$HERE/rmagent-service.exe.config" "$HERE/rmagent.wxs" "$STAGE/"
cp "$HERE/../linux/config.json" "$STAGE/config.json"
MSI="$(cd "$OUT" && pwd)/$(basename "$MSI")"
(cd "$STAGE" && wixl -a x64 -D Version="$MSI_VERSION" -D DisplayVersion="$VERSION+$BUILD" -D ExePath=rmagent.exe \
  -D WrapperPath=rmagent-service.exe -D CaPath=rmagent-ca.dll -D HereDir=. -o "$MSI" rmagent.wxs)
"$HERE/msi-tables.sh" "$MSI"
echo "built $MSI"
