#!/usr/bin/env bash
# .deb (dpkg-deb) and .rpm (rpmbuild) around a single executable.
# Usage: installer/linux/build.sh EXECUTABLE ARCH(x64|arm64) VERSION BUILD OUT_DIR [deb|rpm|both]
# VERSION x.y.z (package.json) and BUILD (a number): .deb x.y.z+BUILD, .rpm Version x.y.z Release BUILD.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
EXE="$1"; ARCH="$2"; VERSION="$3"; BUILD="$4"; OUT="$5"; WHAT="${6:-both}"
DEB_VERSION="$VERSION+$BUILD"
case "$ARCH" in
  x64) DEB_ARCH=amd64; RPM_ARCH=x86_64 ;;
  arm64) DEB_ARCH=arm64; RPM_ARCH=aarch64 ;;
  *) echo "unknown arch $ARCH" >&2; exit 64 ;;
esac
# Who answers for the package: package.json's author (RMAGENT_MAINTAINER="Name <mail>" overrides it).
MAINTAINER="${RMAGENT_MAINTAINER:-$(node -p 'const a = require(process.argv[1]).author; typeof a === "string" ? a : `${a.name} <${a.email}>`' "$HERE/../../package.json")}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/rmagent-linux.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$OUT"

# The installed tree, shared by both formats (modes set here; owners are root:root in the archives).
stage() {
  local root="$1"
  install -D -m 0755 "$EXE" "$root/usr/bin/rmagent"
  install -D -m 0755 "$HERE/configure.sh" "$root/usr/lib/rmagent/configure"
  install -D -m 0644 "$HERE/rmagent.service" "$root/lib/systemd/system/rmagent.service"
  install -D -m 0644 "$HERE/config.json" "$root/etc/rmagent/config.json"
  install -D -m 0644 "$HERE/copyright" "$root/usr/share/doc/rmagent/copyright"
  install -D -m 0644 "$HERE/rmagent.8" "$root/usr/share/man/man8/rmagent.8"
  gzip -9n "$root/usr/share/man/man8/rmagent.8"
  printf 'rmagent (%s) unstable; urgency=medium\n\n  * Release %s.\n\n -- %s  %s\n' \
    "$DEB_VERSION" "$DEB_VERSION" "$MAINTAINER" "$(date -R -d "@${SOURCE_DATE_EPOCH:-$(git -C "$HERE" log -1 --format=%ct 2>/dev/null || date +%s)}")" \
    | gzip -9n > "$root/usr/share/doc/rmagent/changelog.gz"
  chmod 0644 "$root/usr/share/doc/rmagent/changelog.gz"
}

build_deb() {
  local root="$WORK/deb" size
  stage "$root"
  mkdir -p "$root/DEBIAN"
  size="$(du -sk --exclude=DEBIAN "$root" | cut -f1)"
  sed -e "s/@VERSION@/$DEB_VERSION/" -e "s/@ARCH@/$DEB_ARCH/" -e "s/@SIZE@/$size/" -e "s|@MAINTAINER@|$MAINTAINER|" "$HERE/deb/control.in" > "$root/DEBIAN/control"
  install -m 0644 "$HERE/deb/conffiles" "$root/DEBIAN/conffiles"
  install -m 0755 "$HERE/deb/postinst" "$HERE/deb/prerm" "$HERE/deb/postrm" "$root/DEBIAN/"
  install -D -m 0644 "$HERE/deb/lintian-overrides" "$root/usr/share/lintian/overrides/rmagent"
  (cd "$root" && find . -type f ! -path './DEBIAN/*' ! -path './etc/*' -printf '%P\0' | sort -z | xargs -0 md5sum > DEBIAN/md5sums)
  chmod 0644 "$root/DEBIAN/md5sums"
  dpkg-deb --root-owner-group -Zxz -z1 --build "$root" "$OUT/rmagent_${DEB_VERSION}_${DEB_ARCH}.deb" >/dev/null
  echo "built $OUT/rmagent_${DEB_VERSION}_${DEB_ARCH}.deb"
}

build_rpm() {
  local top="$WORK/rpm" rpm_version="${VERSION//-/_}"
  mkdir -p "$top"/{BUILD,RPMS,SPECS,SRPMS,BUILDROOT}
  stage "$top/stage"
  sed -e "s/@VERSION@/$rpm_version/g" -e "s/@RELEASE@/$BUILD/g" -e "s|@MAINTAINER@|$MAINTAINER|g" \
    -e "s/@CHANGELOG_DATE@/$(LC_ALL=C date -u -d "@${SOURCE_DATE_EPOCH:-$(git -C "$HERE" log -1 --format=%ct 2>/dev/null || date +%s)}" '+%a %b %d %Y')/" \
    "$HERE/rpm/rmagent.spec.in" > "$top/SPECS/rmagent.spec"
  rpmbuild --quiet -bb --target "$RPM_ARCH" \
    --define "_topdir $top" --define "_stage $top/stage" \
    --define "_binary_payload w1.xzdio" "$top/SPECS/rmagent.spec" >/dev/null
  find "$top/RPMS" -name '*.rpm' -exec cp {} "$OUT/" \;
  echo "built $OUT/rmagent-$rpm_version-$BUILD.$RPM_ARCH.rpm"
}

case "$WHAT" in
  deb) build_deb ;;
  rpm) build_rpm ;;
  both) build_deb; build_rpm ;;
esac
