#!/bin/sh
# Install rmagent on a Linux host without a package manager (same layout as the .deb/.rpm).
#   sudo ./install.sh [--binary PATH] --server URL --token-file FILE|- [--server-key KEY] [--assignment-id ID]
#                     [--alias NAME] [--allow-changes] [--quiet]
#   sudo ./install.sh --uninstall [--purge] [--quiet]
# The enrollment token: --token-file FILE, --token-file - (standard input) or RMAGENT_TOKEN in the environment;
# never an argument (every local user can read command lines). --allow-changes (or RMAGENT_ALLOW_CHANGES=1;
# =0 withdraws) lets the agent install patches and restore backups.
# Exit codes: 0 done, 64 bad usage, 77 not root, 69 binary missing, else the exit code of `rmagent enroll`.
set -eu

PREFIX="${RMAGENT_PREFIX:-}"          # an alternate root, for tests and image builds
HERE="$(cd "$(dirname "$0")" && pwd)"
binary=""; uninstall=0; purge=0; quiet=0

say() { [ "$quiet" -eq 1 ] || echo "rmagent: $*"; }
usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 64; }
need_value() { [ $# -ge 2 ] && [ -n "$2" ] || { echo "rmagent: $1 needs a value" >&2; exit 64; }; }

while [ $# -gt 0 ]; do
  case "$1" in
    --server) need_value "$@"; RMAGENT_SERVER="$2"; export RMAGENT_SERVER; shift 2 ;;
    --token|--token=*) echo "rmagent: --token would put the token where every local user can read it; use --token-file FILE, --token-file - (standard input) or RMAGENT_TOKEN" >&2; exit 64 ;;
    --token-file) need_value "$@"; RMAGENT_TOKEN_FILE="$2"; export RMAGENT_TOKEN_FILE; shift 2 ;;
    --server-key) need_value "$@"; RMAGENT_SERVER_KEY="$2"; export RMAGENT_SERVER_KEY; shift 2 ;;
    --assignment-id) need_value "$@"; RMAGENT_ASSIGNMENT_ID="$2"; export RMAGENT_ASSIGNMENT_ID; shift 2 ;;
    --alias) need_value "$@"; RMAGENT_ALIAS="$2"; export RMAGENT_ALIAS; shift 2 ;;
    --allow-changes) RMAGENT_ALLOW_CHANGES=1; export RMAGENT_ALLOW_CHANGES; shift ;;
    --binary) need_value "$@"; binary="$2"; shift 2 ;;
    --uninstall) uninstall=1; shift ;;
    --purge) purge=1; shift ;;
    --quiet|-q) quiet=1; shift ;;
    -h|--help) usage ;;
    *) echo "rmagent: unknown option $1" >&2; usage ;;
  esac
done
[ "$purge" -eq 0 ] || [ "$uninstall" -eq 1 ] || { echo "rmagent: --purge goes with --uninstall" >&2; exit 64; }
has_token=""; { [ -z "${RMAGENT_TOKEN:-}" ] && [ -z "${RMAGENT_TOKEN_FILE:-}" ]; } || has_token=1
if { [ -n "${RMAGENT_SERVER:-}" ] && [ -z "$has_token" ]; } || { [ -z "${RMAGENT_SERVER:-}" ] && [ -n "$has_token" ]; }; then
  echo "rmagent: --server and --token-file (or RMAGENT_TOKEN) go together" >&2; exit 64
fi
case "${RMAGENT_ALLOW_CHANGES:-}" in ''|1|yes|true|0|no|false) ;; *) echo "rmagent: RMAGENT_ALLOW_CHANGES must be 1 or 0" >&2; exit 64 ;; esac
if [ -z "$PREFIX" ] && [ "$(id -u)" -ne 0 ]; then echo "rmagent: run as root" >&2; exit 77; fi

systemd_running() { [ -z "$PREFIX" ] && [ -d /run/systemd/system ]; }
UNIT="$PREFIX/etc/systemd/system/rmagent.service"

if [ "$uninstall" -eq 1 ]; then
  if systemd_running; then systemctl disable --now rmagent.service >/dev/null 2>&1 || true; fi
  rm -f "$PREFIX/etc/systemd/system/multi-user.target.wants/rmagent.service" "$UNIT"
  systemd_running && systemctl daemon-reload || true
  rm -f "$PREFIX/usr/local/bin/rmagent" "$PREFIX/etc/rmagent/enroll.env"
  rm -rf "$PREFIX/usr/local/lib/rmagent"
  if [ "$purge" -eq 1 ]; then
    rm -rf "$PREFIX/var/lib/rmagent" "$PREFIX/var/log/rmagent" "$PREFIX/etc/rmagent"
    say "uninstalled and purged"
  else
    say "uninstalled (state kept in /var/lib/rmagent; --purge removes it)"
  fi
  exit 0
fi

# The executable: --binary, or rmagent-linux-<arch> next to this script or one folder up (dist/).
if [ -z "$binary" ]; then
  case "$(uname -m)" in x86_64|amd64) arch=x64 ;; aarch64|arm64) arch=arm64 ;; *) arch="$(uname -m)" ;; esac
  binary="$HERE/rmagent-linux-$arch"
  [ -f "$binary" ] || binary="$HERE/../rmagent-linux-$arch"
fi
[ -f "$binary" ] || { echo "rmagent: executable $binary not found (use --binary PATH)" >&2; exit 69; }

install -d -m 0755 "$PREFIX/usr/local/bin" "$PREFIX/usr/local/lib/rmagent" "$PREFIX/etc/rmagent" "$PREFIX/etc/systemd/system"
install -d -m 0700 "$PREFIX/var/lib/rmagent" "$PREFIX/var/log/rmagent"
# Same bytes twice changes nothing: copy only when different (keeps mtime, no needless restart).
if ! cmp -s "$binary" "$PREFIX/usr/local/bin/rmagent" 2>/dev/null; then
  install -m 0755 "$binary" "$PREFIX/usr/local/bin/rmagent.new" && mv -f "$PREFIX/usr/local/bin/rmagent.new" "$PREFIX/usr/local/bin/rmagent"
  changed=1
else
  changed=0
fi
[ -f "$PREFIX/etc/rmagent/config.json" ] || install -m 0644 "$HERE/config.json" "$PREFIX/etc/rmagent/config.json" 2>/dev/null \
  || printf '{\n  "logLevel": "info"\n}\n' > "$PREFIX/etc/rmagent/config.json"
install -m 0755 "$HERE/configure.sh" "$PREFIX/usr/local/lib/rmagent/configure"
sed 's|/usr/bin/rmagent|/usr/local/bin/rmagent|' "$HERE/rmagent.service" > "$UNIT.tmp" && chmod 0644 "$UNIT.tmp" && mv -f "$UNIT.tmp" "$UNIT"
say "installed /usr/local/bin/rmagent"

rc=0
RMAGENT_BIN="$PREFIX/usr/local/bin/rmagent" RMAGENT_ENROLL_FILE="$PREFIX/etc/rmagent/enroll.env" \
  RMAGENT_ALLOW_CHANGES_FILE="$PREFIX/var/lib/rmagent/allow-changes" \
  "$PREFIX/usr/local/lib/rmagent/configure" || rc=$?
if [ "$rc" -ne 0 ]; then echo "rmagent: enrollment failed (exit $rc)" >&2; exit "$rc"; fi
[ ! -e "$PREFIX/var/lib/rmagent/allow-changes" ] || say "machine changes allowed (patch installs, backup restores)"

if systemd_running; then
  systemctl daemon-reload
  systemctl enable rmagent.service >/dev/null 2>&1
  if [ "$changed" -eq 1 ]; then systemctl restart rmagent.service; else systemctl start rmagent.service; fi
  say "service rmagent.service enabled and running"
else
  install -d -m 0755 "$PREFIX/etc/systemd/system/multi-user.target.wants"
  ln -sf ../rmagent.service "$PREFIX/etc/systemd/system/multi-user.target.wants/rmagent.service"
  say "systemd is not running here: unit enabled for next boot; start now with: /usr/local/bin/rmagent run"
fi
exit 0
