#!/bin/sh
# Install-time enrollment shared by the .deb, the .rpm and install.sh: RMAGENT_SERVER, RMAGENT_TOKEN,
# RMAGENT_SERVER_KEY, RMAGENT_ASSIGNMENT_ID, RMAGENT_ALIAS from the environment (these win) or from
# /etc/rmagent/enroll.env dropped before install, mapped onto `rmagent enroll`.
# Exit: 0 enrolled or nothing to do, 64 incomplete parameters, else the exit code of `rmagent enroll`.
set -eu
BIN="${RMAGENT_BIN:-/usr/bin/rmagent}"
ENROLL_FILE="${RMAGENT_ENROLL_FILE:-/etc/rmagent/enroll.env}"

# Read KEY=VALUE lines without sourcing the file (it is data, not a script); the environment wins.
if [ -f "$ENROLL_FILE" ]; then
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in ''|'#'*) continue ;; esac
    key="${line%%=*}"; value="${line#*=}"
    value="${value#\"}"; value="${value%\"}"; value="${value#\'}"; value="${value%\'}"
    case "$key" in
      RMAGENT_SERVER|RMAGENT_TOKEN|RMAGENT_SERVER_KEY|RMAGENT_ASSIGNMENT_ID|RMAGENT_ALIAS)
        eval "current=\${$key:-}"
        # shellcheck disable=SC2154
        [ -n "$current" ] || export "$key=$value" ;;
    esac
  done < "$ENROLL_FILE"
fi

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
