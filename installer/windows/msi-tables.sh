#!/usr/bin/env bash
# What wixl cannot say, written into the .msi's tables afterwards (msibuild, msitools). Run by build.sh on the real
# package and by the tests on a stand-in build, so both are checked. Usage: installer/windows/msi-tables.sh MSI
set -euo pipefail
MSI="$1"
q() { msibuild "$MSI" -q "$1"; }
col() { # TABLE KEY COLUMN_NUMBER: one value from `msiinfo export`
  msiinfo export "$MSI" "$1" | tr -d '\r' | awk -F'\t' -v k="$2" -v c="$3" 'NR > 3 && $1 == k { print $c }'
}

# Install parameters reach the elevated (server) side only when listed as secure (wixl has no Secure attribute).
secure="$(col Property SecureCustomProperties 2)"
q "UPDATE \`Property\` SET \`Value\` = '${secure:+$secure;}SERVER_URL;ENROLL_TOKEN;ENROLL_TOKEN_FILE;SERVER_KEY;ASSIGNMENT_ID;ALIAS;PURGE;ALLOWCHANGES' WHERE \`Property\` = 'SecureCustomProperties'"

# msidbCustomActionTypeHideTarget (0x2000) on every action whose target or data holds the enrollment token, so no
# verbose log shows it (MsiHiddenProperties covers the properties themselves). wixl has no HideTarget attribute.
for action in EnrollDataBase EnrollDataFile EnrollDataKey EnrollDataAssignment EnrollDataAlias EnrollWithToken; do
  type="$(col CustomAction "$action" 2)"
  [ -n "$type" ] || { echo "custom action $action missing from $MSI" >&2; exit 1; }
  q "UPDATE \`CustomAction\` SET \`Type\` = $(( type | 0x2000 )) WHERE \`Action\` = '$action'"
done

# wixl ignores Execute="rollback": EnrollRollback runs in the script (0x400) and only on rollback (0x100).
type="$(col CustomAction EnrollRollback 2)"
[ -n "$type" ] || { echo "custom action EnrollRollback missing from $MSI" >&2; exit 1; }
q "UPDATE \`CustomAction\` SET \`Type\` = $(( type | 0x400 | 0x100 )) WHERE \`Action\` = 'EnrollRollback'"

# WiX's AllowSameVersionUpgrades: the upgrade row includes the same version (msidbUpgradeAttributesVersionMaxInclusive
# 0x200), so every build (x.y.z.BUILD, a new ProductCode) replaces the installed one; Windows Installer compares only
# x.y.z. The downgrade row keeps its exclusive minimum: the same x.y.z is not a downgrade.
# Attributes is part of the Upgrade table's key: the row is replaced, not updated.
upgrade_code="$(msiinfo export "$MSI" Upgrade | tr -d '\r' | awk -F'\t' 'NR > 3 && $7 == "WIX_UPGRADE_DETECTED" { print $1 }')"
version_max="$(msiinfo export "$MSI" Upgrade | tr -d '\r' | awk -F'\t' 'NR > 3 && $7 == "WIX_UPGRADE_DETECTED" { print $3 }')"
[ -n "$upgrade_code" ] && [ -n "$version_max" ] || { echo "no major upgrade row in $MSI" >&2; exit 1; }
q "DELETE FROM \`Upgrade\` WHERE \`ActionProperty\` = 'WIX_UPGRADE_DETECTED'"
q "INSERT INTO \`Upgrade\` (\`UpgradeCode\`, \`VersionMax\`, \`Attributes\`, \`ActionProperty\`) VALUES ('$upgrade_code', '$version_max', $(( 0x1 | 0x200 )), 'WIX_UPGRADE_DETECTED')"

# The shipped config stays across upgrades and uninstall (msidbComponentAttributesNeverOverwrite 0x80 + Permanent
# 0x10, with 64-bit 0x100): an administrator's edits are kept; PURGE=1 removes it with the data folder.
q "UPDATE \`Component\` SET \`Attributes\` = $(( 0x100 | 0x80 | 0x10 )) WHERE \`Component\` = 'ConfigFile'"

# The data folder and everything in it: SYSTEM and Administrators only, full control, protected from inheritance
# (P: nothing from %ProgramData%, whose ACL lets Users create files), inherited by what the agent creates (OICI).
# Owner Administrators. Applied by Windows Installer when it creates the folders and the config file.
SDDL_DIR='O:BAG:SYD:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)'
SDDL_FILE='O:BAG:SYD:PAI(A;;FA;;;SY)(A;;FA;;;BA)'
IDT="$(mktemp -d "${TMPDIR:-/tmp}/rmagent-idt.XXXXXX")"; trap 'rm -rf "$IDT"' EXIT
{
  printf 'MsiLockPermissionsEx\tLockObject\tTable\tSDDLText\tCondition\r\n'
  printf 's72\ts72\ts32\ts0\tS255\r\n'
  printf 'MsiLockPermissionsEx\tMsiLockPermissionsEx\r\n'
  for dir in DATADIR STATEDIR LOGDIR; do printf 'Lock%s\t%s\tCreateFolder\t%s\t\r\n' "$dir" "$dir" "$SDDL_DIR"; done
  printf 'LockConfigJson\tConfigJson\tFile\t%s\t\r\n' "$SDDL_FILE"
} > "$IDT/MsiLockPermissionsEx.idt"
msibuild "$MSI" -i "$IDT/MsiLockPermissionsEx.idt"
