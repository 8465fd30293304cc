#!/bin/sh
# Remove rmagent from a Mac: sudo ./uninstall.sh [--purge]   (--purge also removes state and logs)
set -eu
launchctl bootout system/com.rmagent.agent 2>/dev/null || true
rm -f /Library/LaunchDaemons/com.rmagent.agent.plist /etc/newsyslog.d/com.rmagent.agent.conf /usr/local/bin/rmagent "/Library/Application Support/rmagent/enroll.env"
pkgutil --forget com.rmagent.agent >/dev/null 2>&1 || true
if [ "${1:-}" = "--purge" ]; then rm -rf "/Library/Application Support/rmagent" /Library/Logs/rmagent; fi
exit 0
