#!/usr/bin/env bash
# `npm run package`: every artifact into dist/ — single executables (Node SEA), .deb/.rpm (x64, arm64),
# .msi (x64), install.sh bundle, macOS files (the .pkg itself needs a Mac) — then dist/SHA256SUMS and
# dist/package-report.txt with sizes and build times.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
OUT="${RMAGENT_DIST:-$ROOT/dist}"
# One version for every artifact: package.json's x.y.z plus a build number (RMAGENT_BUILD, default the commit count),
# so every build upgrades the previous one: .deb x.y.z+BUILD, .rpm x.y.z-BUILD, .msi x.y.z.BUILD (same-version
# major upgrade), the Windows executables' file version x.y.z.BUILD, `rmagent version` x.y.z+BUILD.
VERSION="${RMAGENT_VERSION:-$(node -p 'require("./package.json").version')}"
BUILD="${RMAGENT_BUILD:-$(git rev-list --count HEAD 2>/dev/null || echo 0)}"
[[ "$BUILD" =~ ^[0-9]+$ ]] && [ "$BUILD" -le 65535 ] || { echo "package: RMAGENT_BUILD must be a number up to 65535, not '$BUILD'" >&2; exit 64; }
[[ "$VERSION" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "package: the version must be x.y.z, not '$VERSION'" >&2; exit 64; }
export RMAGENT_VERSION="$VERSION" RMAGENT_BUILD="$BUILD"
mkdir -p "$OUT"
REPORT="$OUT/package-report.txt"
: > "$REPORT.tmp"
step() { # name command...: run, time, log
  local name="$1" start end; shift
  start=$(date +%s.%N)
  "$@"
  end=$(date +%s.%N)
  printf 'time %-24s %6.1f s\n' "$name" "$(echo "$end - $start" | bc)" >> "$REPORT.tmp"
}

for tool in dpkg-deb rpmbuild wixl msiinfo msibuild openssl bc file x86_64-w64-mingw32-gcc; do
  command -v "$tool" >/dev/null || { echo "package: $tool missing (see .ci/run for the Debian packages)" >&2; exit 69; }
done

step sea installer/sea/build.sh "$OUT"
# Compression dominates (xz -1: ~15% larger than -6 at a fifth of the time); the four build side by side.
pids=()
installer/linux/build.sh "$OUT/rmagent-linux-x64" x64 "$VERSION" "$BUILD" "$OUT" deb & pids+=($!)
installer/linux/build.sh "$OUT/rmagent-linux-x64" x64 "$VERSION" "$BUILD" "$OUT" rpm & pids+=($!)
installer/linux/build.sh "$OUT/rmagent-linux-arm64" arm64 "$VERSION" "$BUILD" "$OUT" deb & pids+=($!)
installer/linux/build.sh "$OUT/rmagent-linux-arm64" arm64 "$VERSION" "$BUILD" "$OUT" rpm & pids+=($!)
linux_start=$(date +%s.%N)
for pid in "${pids[@]}"; do wait "$pid"; done
printf 'time %-24s %6.1f s\n' "deb+rpm (x64, arm64)" "$(echo "$(date +%s.%N) - $linux_start" | bc)" >> "$REPORT.tmp"
step msi installer/windows/build.sh "$OUT/rmagent-win-x64.exe" "$VERSION" "$BUILD" "$OUT"

# install.sh for hosts without a package manager: copy dist/ (or this folder + the executable) over.
mkdir -p "$OUT/linux-install"
cp installer/linux/install.sh installer/linux/configure.sh installer/linux/rmagent.service installer/linux/config.json "$OUT/linux-install/"
# macOS: what a Mac needs to build the .pkg (validated here; pkgbuild is macOS-only).
rm -rf "$OUT/macos"; cp -r installer/macos "$OUT/macos"
for plist in "$OUT"/macos/*.plist "$OUT"/macos/*.mobileconfig; do
  if command -v xmllint >/dev/null; then xmllint --noout "$plist"; fi
done

(cd "$OUT" && sha256sum rmagent-* rmagent_* > SHA256SUMS)
{
  echo "rmagent $VERSION+$BUILD packages ($(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown))"
  (cd "$OUT" && for f in rmagent-* rmagent_*; do printf 'size %-40s %7.1f MiB\n' "$f" "$(echo "scale=1; $(stat -c %s "$f") / 1048576" | bc)"; done)
  cat "$REPORT.tmp"
} > "$REPORT"
rm -f "$REPORT.tmp"
cat "$REPORT"
