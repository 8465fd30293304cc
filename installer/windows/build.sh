#!/usr/bin/env bash
# Per-machine .msi with wixl (msitools) around the win-x64 single executable.
# Usage: installer/windows/build.sh EXE VERSION OUT_DIR
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
EXE="$1"; VERSION="$2"; OUT="$3"
MSI_VERSION="${VERSION%%[-+]*}"   # MSI versions are numeric x.y.z
MSI="$OUT/rmagent-$VERSION-x64.msi"
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

# wixl resolves Source= relative to the current folder only: stage the payload and build there.
STAGE="$(mktemp -d "${TMPDIR:-/tmp}/rmagent-msi.XXXXXX")"; trap 'rm -rf "$STAGE"' EXIT
cp "$EXE" "$STAGE/rmagent.exe"; cp "$CACHE/package/bin/winsw/winsw.exe" "$STAGE/rmagent-service.exe"
cp "$HERE/rmagent-service.xml" "$HERE/rmagent.wxs" "$STAGE/"
MSI="$(cd "$OUT" && pwd)/$(basename "$MSI")"
(cd "$STAGE" && wixl -a x64 -D Version="$MSI_VERSION" -D ExePath=rmagent.exe -D WrapperPath=rmagent-service.exe \
  -D HereDir=. -o "$MSI" rmagent.wxs)

# wixl has no Secure attribute: the install parameters must reach the elevated (server) side.
secure="$(msiinfo export "$MSI" Property | awk -F'\t' '$1 == "SecureCustomProperties" { print $2 }')"
msibuild "$MSI" -q "UPDATE \`Property\` SET \`Value\` = '${secure:+$secure;}SERVER_URL;ENROLL_TOKEN;SERVER_KEY;ASSIGNMENT_ID;ALIAS;PURGE;ALLOWCHANGES' WHERE \`Property\` = 'SecureCustomProperties'"

# wixl has no HideTarget attribute: set msidbCustomActionTypeHideTarget (0x2000) on every action whose
# target holds the enrollment token, so the token never reaches a verbose log (MsiHiddenProperties
# covers the property itself).
for action in EnrollArgsBase EnrollArgsKey EnrollArgsAssignment EnrollArgsAlias Enroll; do
  type="$(msiinfo export "$MSI" CustomAction | awk -F'\t' -v a="$action" '$1 == a { print $2 }')"
  [ -n "$type" ] || { echo "custom action $action missing from $MSI" >&2; exit 1; }
  msibuild "$MSI" -q "UPDATE \`CustomAction\` SET \`Type\` = $(( type | 0x2000 )) WHERE \`Action\` = '$action'"
done
echo "built $MSI"
