#!/bin/sh
# Install-time configuration shared by the .deb, the .rpm and install.sh: RMAGENT_SERVER, RMAGENT_TOKEN,
# RMAGENT_SERVER_KEY, RMAGENT_ASSIGNMENT_ID, RMAGENT_ALIAS, RMAGENT_ALLOW_CHANGES from the environment
# (these win) or from /etc/rmagent/enroll.env dropped before install. The enroll values are mapped onto
# `rmagent enroll`; RMAGENT_ALLOW_CHANGES=1 creates the local opt-in for machine changes (patch installs,
# backup restores) in the state folder, =0 removes it, unset leaves it as it is (upgrades keep it).
# Exit: 0 enrolled or nothing to do, 64 incomplete or invalid parameters, else the exit code of `rmagent enroll`.
set -eu
BIN="${RMAGENT_BIN:-/usr/bin/rmagent}"
ENROLL_FILE="${RMAGENT_ENROLL_FILE:-/etc/rmagent/enroll.env}"
ALLOW_FILE="${RMAGENT_ALLOW_CHANGES_FILE:-/var/lib/rmagent/allow-changes}"

# Read KEY=VALUE lines without sourcing the file (it is data, not a script); the environment wins.
if [ -f "$ENROLL_FILE" ]; then
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in ''|'#'*) continue ;; esac
    key="${line%%=*}"; value="${line#*=}"
    value="${value#\"}"; value="${value%\"}"; value="${value#\'}"; value="${value%\'}"
    case "$key" in
      RMAGENT_SERVER|RMAGENT_TOKEN|RMAGENT_SERVER_KEY|RMAGENT_ASSIGNMENT_ID|RMAGENT_ALIAS|RMAGENT_ALLOW_CHANGES)
        eval "current=\${$key:-}"
        # shellcheck disable=SC2154
        [ -n "$current" ] || export "$key=$value" ;;
    esac
  done < "$ENROLL_FILE"
fi

case "${RMAGENT_ALLOW_CHANGES:-}" in
  '') ;;
  1|yes|true)
    if [ ! -e "$ALLOW_FILE" ]; then
      (umask 077 && mkdir -p "$(dirname "$ALLOW_FILE")" \
        && echo "Created by the rmagent installer (RMAGENT_ALLOW_CHANGES=1): patch installs and backup restores are allowed. Delete this file to withdraw." > "$ALLOW_FILE")
    fi ;;
  0|no|false) rm -f "$ALLOW_FILE" ;;
  *) echo "rmagent: RMAGENT_ALLOW_CHANGES must be 1 or 0, not '$RMAGENT_ALLOW_CHANGES'" >&2; exit 64 ;;
esac

server="${RMAGENT_SERVER:-}"; token="${RMAGENT_TOKEN:-}"
if [ -z "$server" ] && [ -z "$token" ]; then
  exit 0
fi
if [ -z "$server" ] || [ -z "$token" ]; then
  echo "rmagent: RMAGENT_SERVER and RMAGENT_TOKEN must be given together" >&2
  exit 64
fi
set -- enroll --server "$server" --token "$token"
[ -z "${RMAGENT_SERVER_KEY:-}" ] || set -- "$@" --server-key "$RMAGENT_SERVER_KEY"
[ -z "${RMAGENT_ASSIGNMENT_ID:-}" ] || set -- "$@" --assignment-id "$RMAGENT_ASSIGNMENT_ID"
[ -z "${RMAGENT_ALIAS:-}" ] || set -- "$@" --alias "$RMAGENT_ALIAS"
rc=0
"$BIN" "$@" || rc=$?
# The token is single-purpose and secret: once the registration holds it, the dropped file goes.
if [ "$rc" -eq 0 ] && [ -f "$ENROLL_FILE" ]; then rm -f "$ENROLL_FILE"; fi
exit "$rc"
