#!/bin/sh
# Install-time configuration shared by the .deb, the .rpm and install.sh: RMAGENT_SERVER, RMAGENT_TOKEN (or
# RMAGENT_TOKEN_FILE: a file holding it, or - for standard input), RMAGENT_SERVER_KEY, RMAGENT_ASSIGNMENT_ID,
# RMAGENT_ALIAS, RMAGENT_ALLOW_CHANGES from the environment (these win) or from /etc/rmagent/enroll.env dropped
# before install. The enroll values are mapped onto `rmagent enroll`; the token never goes on a command line
# (every local user can read those in /proc): `rmagent enroll` reads it from RMAGENT_TOKEN in its environment
# (/proc/PID/environ is readable by root only) or from the file. RMAGENT_ALLOW_CHANGES=1 creates the local opt-in
# for machine changes (patch installs, backup restores) in the state folder, =0 removes it, unset leaves it as it
# is (upgrades keep it). enroll.env chooses the server, its key and the opt-in, so it is read only when no other
# account can have written it: see trusted() below.
# Exit: 0 enrolled or nothing to do, 64 incomplete or invalid parameters or an enroll.env refused (nothing done),
# else the exit code of `rmagent enroll`.
set -eu
BIN="${RMAGENT_BIN:-/usr/bin/rmagent}"
ENROLL_FILE="${RMAGENT_ENROLL_FILE:-/etc/rmagent/enroll.env}"
ALLOW_FILE="${RMAGENT_ALLOW_CHANGES_FILE:-/var/lib/rmagent/allow-changes}"

# trusted PATH: PATH belongs to root (the account running this in every real install; a non-root run trusts its
# own files) and no other account can write it: no group/other write bit, no ACL (ls marks one with +), which may
# grant it. ls -ln rather than stat: the same parse works on busybox and macOS.
trusted() {
  LC_ALL=C ls -lnd "$1" 2>/dev/null | {
    read -r mode links uid rest || exit 1
    case "$mode" in ?????w*|????????w*|??????????+*) exit 1 ;; esac
    [ "$uid" = 0 ] || [ "$uid" = "$(id -u)" ]
  }
}

# Read KEY=VALUE lines without sourcing the file (it is data, not a script); the environment wins.
if [ -f "$ENROLL_FILE" ] || [ -L "$ENROLL_FILE" ]; then
  # Its owner (say the account that wrote it before `sudo mv`) could rewrite it to enroll this device with their
  # own server and allow changes: only root's file, in a folder only root can write, not a link, is read.
  if [ -L "$ENROLL_FILE" ] || ! trusted "$ENROLL_FILE" || ! trusted "$(dirname "$ENROLL_FILE")/."; then
    echo "rmagent: $ENROLL_FILE is not read: it must belong to root, be writable by no other account and not be a symbolic link, in a folder only root can write ($(LC_ALL=C ls -lnd "$ENROLL_FILE" "$(dirname "$ENROLL_FILE")/." 2>&1 | tr '\n' ';')). Another account may have written it: check every line, then: chown root:root '$ENROLL_FILE' && chmod 0600 '$ENROLL_FILE'" >&2
    exit 64
  fi
  # It holds the token and stays when enrollment fails (for a retry): nobody else may read it from now on.
  case "$(ls -ld "$ENROLL_FILE")" in
    -rw-------*|-r--------*) ;;
    *) chmod 0600 "$ENROLL_FILE"
       echo "rmagent: warning: $ENROLL_FILE could be read by other accounts (now 0600); if its token may have been read, revoke it in the console" >&2 ;;
  esac
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in ''|'#'*) continue ;; esac
    key="${line%%=*}"; value="${line#*=}"
    value="${value#\"}"; value="${value%\"}"; value="${value#\'}"; value="${value%\'}"
    case "$key" in
      RMAGENT_SERVER|RMAGENT_TOKEN|RMAGENT_TOKEN_FILE|RMAGENT_SERVER_KEY|RMAGENT_ASSIGNMENT_ID|RMAGENT_ALIAS|RMAGENT_ALLOW_CHANGES)
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

server="${RMAGENT_SERVER:-}"; token="${RMAGENT_TOKEN:-}"; token_file="${RMAGENT_TOKEN_FILE:-}"
if [ -z "$server" ] && [ -z "$token" ] && [ -z "$token_file" ]; then
  exit 0
fi
if [ -z "$server" ] || { [ -z "$token" ] && [ -z "$token_file" ]; }; then
  echo "rmagent: RMAGENT_SERVER and RMAGENT_TOKEN (or RMAGENT_TOKEN_FILE) must be given together" >&2
  exit 64
fi
# Each value goes inside its option's own argument (--alias=VALUE), never as an argument of its own: the single
# executable takes any argument that starts with --node-options= as runtime flags for itself (a --require of
# someone's code included) before rmagent reads its command line (docs/security.md, 14).
set -- enroll "--server=$server"
if [ -n "$token_file" ]; then
  set -- "$@" "--token-file=$token_file"
  unset RMAGENT_TOKEN
else
  export RMAGENT_TOKEN   # read by `rmagent enroll` itself: never an argument
fi
[ -z "${RMAGENT_SERVER_KEY:-}" ] || set -- "$@" "--server-key=$RMAGENT_SERVER_KEY"
[ -z "${RMAGENT_ASSIGNMENT_ID:-}" ] || set -- "$@" "--assignment-id=$RMAGENT_ASSIGNMENT_ID"
[ -z "${RMAGENT_ALIAS:-}" ] || set -- "$@" "--alias=$RMAGENT_ALIAS"
rc=0
"$BIN" "$@" || rc=$?
# The token is single-purpose and secret: once the registration holds it, the dropped file goes.
if [ "$rc" -eq 0 ] && [ -f "$ENROLL_FILE" ]; then rm -f "$ENROLL_FILE"; fi
exit "$rc"
