// One table of every error a user can meet: stable code, one-line message, hint (the fix).
// Docs, `status`, `doctor`, CLI output and error frames all read from here so they stay in step.

export const ERRORS = {
  // configuration and command line
  CONFIG_INVALID: { message: 'The configuration is invalid', hint: 'Fix the named key in the config file, environment or flags; see docs/configuration.md' },
  CONFIG_UNREADABLE: { message: 'The configuration file cannot be read', hint: 'Check that the file exists, is valid JSON and is readable by the agent account' },
  CONFIG_UNSAFE: { message: 'The configuration file can be changed by another account, so the agent does not use it', hint: 'Make it belong to root (Administrator) and writable by it alone: `chown root:root FILE && chmod 644 FILE`, then look at what it says before starting the agent' },
  LOG_DIR_UNSAFE: { message: 'The log folder can be changed by another account, so the agent does not write there', hint: 'Give the log folder to the agent account alone (`chown root:root DIR && chmod 700 DIR` on Linux and macOS), or point logDir at such a folder' },
  CLI_USAGE: { message: 'The command line is not valid', hint: 'Run `rmagent help` for the commands and their options' },
  // local registration
  ENROLLMENT_TOKEN_INVALID: { message: 'The enrollment token could not be read', hint: 'Give it with --token-file FILE (one line, at most 4096 bytes), --token-file - on standard input, or the RMAGENT_TOKEN environment variable' },
  NOT_REGISTERED: { message: 'This device is not registered', hint: 'Run `rmagent enroll --server URL --token-file FILE` as administrator' },
  REGISTERED_ELSEWHERE: { message: 'This device is already registered with another server', hint: 'Add --force to re-register with the new server (the old registration is replaced)' },
  REGISTRATION_CORRUPT: { message: 'The registration file cannot be read', hint: 'Run `rmagent enroll --force` with the server and token to register again' },
  MACHINE_ID_UNAVAILABLE: { message: 'The operating system gives no machine id', hint: 'Linux: run `systemd-machine-id-setup` (creates /etc/machine-id); in a container set RMAGENT_MACHINE_ID (or `machineId` in the config) to a value unique to this device' },
  CLONED_IDENTITY: { message: 'The machine id differs from the registered one (cloned disk or image); a new device identity was created', hint: 'Give this device its own enrollment token: `rmagent enroll --server URL --token-file FILE --force`' },
  ENROLLMENT_TOKEN_MISSING: { message: 'The device needs to enroll but has no enrollment token', hint: 'Run `rmagent enroll --server URL --token-file FILE --force` with a valid token from the console' },
  STATE_UNWRITABLE: { message: 'The state folder cannot be written', hint: 'Check free disk space and that the state folder belongs to the agent account' },
  STATE_UNSAFE: { message: 'The state folder can be changed by another account, so the agent does not use it', hint: 'Give the state folder (and every folder above it) to root or the agent account alone (`chown root:root DIR && chmod 700 DIR`), or point stateDir at such a folder' },
  STATE_PERMISSIONS: { message: 'A state or key file is readable by other accounts', hint: 'Run `chmod 600` on the file (or reinstall the agent) so only the agent account can read it' },
  // TeamViewer prerequisite (seed step 1)
  TEAMVIEWER_MISSING: { message: 'Neither TeamViewer Host nor the TeamViewer full client is installed', hint: 'Install TeamViewer Host (or the full client) on this device, then wait for the next check or restart the agent' },
  TEAMVIEWER_NOT_RUNNING: { message: 'TeamViewer is installed but its service is not running', hint: 'Start the TeamViewer service (Windows: TeamViewer, Linux: teamviewerd, macOS: com.teamviewer.teamviewer_service)' },
  TEAMVIEWER_NOT_MANAGED: { message: 'TeamViewer is not assigned to your company (not a managed device)', hint: 'Run `rmagent enroll ... --assignment-id ID` or TeamViewer\'s own `assignment --id ID` on this device as administrator' },
  TEAMVIEWER_UNREADABLE: { message: 'TeamViewer is installed but its configuration cannot be read', hint: 'Run the agent as root/administrator so it can read TeamViewer\'s configuration' },
  ASSIGNMENT_FAILED: { message: 'TeamViewer could not assign this device to the company', hint: 'See the reason; run the assignment again as administrator once it is fixed' },
  ASSIGNMENT_ID_INVALID: { message: 'The TeamViewer assignment ID is not valid', hint: 'Copy the assignment ID again from the TeamViewer Management Console (it looks like 0001CoABCh...=)' },
  ASSIGNMENT_NEEDS_ADMIN: { message: 'TeamViewer refused the assignment: administrator rights are needed', hint: 'Run the agent (or the enroll command) as root/Administrator' },
  // connection and transport
  SERVER_UNREACHABLE: { message: 'The management server cannot be reached', hint: 'Check the server URL, DNS, proxy and firewall; the agent keeps retrying' },
  INSECURE_TRANSPORT: { message: 'The server URL uses ws:// to a non-loopback host', hint: 'Use a wss:// URL, or set `allowInsecure: true` only for a lab' },
  INSECURE_TRANSPORT_ALLOWED: { message: 'The connection is not encrypted (insecure transport allowed by configuration)', hint: 'Switch the server URL to wss:// and remove allowInsecure' },
  DEVICE_REVOKED: { message: 'The server deleted this device and revoked its key', hint: 'If the device should be managed again, register it with a new enrollment token: `rmagent enroll --server URL --token TOKEN --force`' },
  AUTH_FAILED: { message: 'The server refused the device credentials', hint: 'Re-register the device with `rmagent enroll --force` and a new token' },
  ENROLLMENT_REFUSED: { message: 'The server refused the enrollment token', hint: 'Create a new enrollment token in the console and run `rmagent enroll --server URL --token-file NEW_TOKEN_FILE --force`' },
  TLS_FAILED: { message: 'The TLS connection to the server failed (certificate not trusted, expired or for another name)', hint: 'Set `connection.caFile` to the CA that issued the server certificate, check the server URL host name and the clocks' },
  TLS_PIN_MISMATCH: { message: 'The server certificate public key does not match the pinned ones (`connection.pinSha256` or pins announced by the server)', hint: 'If the server certificate key changed without an announcement, set pinSha256 to the new pin (openssl x509 -pubkey | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64): a changed config pin replaces the announced ones; otherwise suspect interception' },
  TLS_PINS_INVALID: { message: 'The announced TLS pins are not valid', hint: 'Announce 1 to 8 distinct base64 SHA-256 pins (44 characters each)' },
  TLS_PINS_NOT_USED: { message: 'The server announced TLS pins but this device does not pin the server certificate', hint: 'Nothing to do; set `connection.pinSha256` on the device to opt in to pinning' },
  KEY_ROTATION_INVALID: { message: 'A key rotation was refused: its new key is not endorsed by the newest pinned key, it retires a key newer than its new key or its signer, retires the key it adds, or would leave no pinned server key', hint: 'Nothing changed. If the server sent it, rotate with POST /server-keys/rotate and retire with POST /server-keys/retire (docs/security.md, rotation procedure); otherwise a holder of an older (retired) server key is at work: the device kept its newer keys' },
  KEY_ROTATION_STALE: { message: 'A key rotation changed nothing: its new key is not endorsed from a key this device pins (an outdated announcement)', hint: 'Nothing to do: the device already follows a newer key (it followed the chain at its last handshake)' },
  SERVER_PROOF_INVALID: { message: 'The server did not prove it holds the pinned server key for this connection', hint: 'Nothing secret was sent. The endpoint may be an impostor or a relay (proxy, interception): check the server URL, DNS and the network path; if TLS ends at a proxy on purpose, see connection.requireChannelBinding in docs/configuration.md' },
  DEVICE_ID_MISMATCH: { message: 'The server answered with another device id than the one this device is registered as', hint: 'The device id is unchanged and nothing was applied. If the server lost this device, register it again: `rmagent enroll --server URL --token-file FILE --force`' },
  ENROLLMENT_FAILED: { message: 'The server did not enroll this device (it answered with an existing device)', hint: 'The enrollment token was kept; the agent retries. If it persists, create a new token and run `rmagent enroll --server URL --token-file FILE --force`' },
  PROTOCOL_UNSUPPORTED: { message: 'The agent and the server speak different protocol versions', hint: 'Upgrade the older of the two so both speak the same protocol (see the message and docs/protocol.md "Versions"); the registration is kept, so the device reconnects as itself after the upgrade' },
  SERVER_KEY_MISMATCH: { message: 'The server presented a command key that differs from the pinned one', hint: 'If the server key really changed, re-register with `--server-key` set to the new key' },
  // protocol
  FRAME_TOO_LARGE: { message: 'A frame exceeded the size limit', hint: 'Send smaller frames; the limit is in the protocol documentation' },
  FRAME_INVALID: { message: 'A frame is not valid JSON or does not match the protocol schema', hint: 'Check the frame against docs/protocol' },
  FRAME_UNKNOWN_TYPE: { message: 'A frame has a type this peer does not know', hint: 'Upgrade the agent or server so both speak the same protocol version' },
  HANDSHAKE_FRAME_LIMIT: { message: 'The peer sent more frames before authenticating than the handshake needs', hint: 'An agent sends agent.hello, then one auth or enroll, and waits for welcome (docs/protocol.md, Handshake); the server closes a connection that sends more. Upgrade or fix the agent; the next connection starts afresh' },
  COMMAND_UNSIGNED: { message: 'A command arrived without a signature', hint: 'Commands must be signed by the server command key' },
  COMMAND_FORGED: { message: 'A command signature does not verify with the pinned server key', hint: 'Someone other than the server may be sending commands; check the server key and the network' },
  COMMAND_WRONG_DEVICE: { message: 'A command is addressed to another device', hint: 'The server must bind each command to the device id it sends it to' },
  COMMAND_REPLAYED: { message: 'A command id was already processed', hint: 'Send each command with a fresh unique id' },
  COMMAND_EXPIRED: { message: 'A command timestamp is outside the accepted window', hint: 'The command waited too long or was replayed; the window is measured against the server clock as estimated at the handshake. Issue it again; if it persists, check the server clock (NTP)' },
  COMMAND_STALE: { message: 'A command would take the device back to an older state than it already has', hint: 'Nothing changed: a newer desired state (higher revision) or policy version is in force. Issue the change again if it is still wanted' },
  CLOCK_SKEW: { message: 'The device clock differs from the server clock', hint: 'Synchronise the device clock (NTP: timedatectl set-ntp true, w32tm /resync, sntp). Commands are still checked against the server time, but TLS certificate checks and logs use the device clock' },
  REPORT_ACK_INVALID: { message: 'The server acknowledged reports the device never sent', hint: 'The acknowledgement was ignored and no report was deleted; if it repeats, the server (or something on the path) misbehaves: report it' },
  // services and policies
  SERVICE_NOT_SUPPORTED: { message: 'This service is not supported on this agent', hint: 'Activate the service only on devices whose agent supports it' },
  POLICY_INVALID: { message: 'The policy does not match the service policy schema', hint: 'Fix the policy in the console; the previous policy keeps running' },
  PREREQUISITE_MISSING: { message: 'A prerequisite for installing this service is missing', hint: 'Install TeamViewer Host or the full client on the device, then the service installs on the next attempt' },
  SERVICE_FAILED: { message: 'A service step failed', hint: 'See the reason; the agent retries with backoff' },
  SERVICE_STEP_INTERRUPTED: { message: 'A service step was cut short by the end of the agent (crash, watchdog or service-manager restart)', hint: 'It counts as a failed attempt; after repeated ones the service is quarantined and stays so across restarts. See the agent log and the watchdog reasons; fix the cause, then re-assign the policy to retry' },
  SERVICE_QUARANTINED: { message: 'A service step kept failing and was stopped', hint: 'Fix the reason shown, then re-assign the policy or restart the agent to retry' },
  SERVICE_STATE_CORRUPT: { message: 'The saved service state could not be read and was reset', hint: 'Nothing to do: the agent converges again from the desired state the server sends on the next connection' },
  CHANGES_NOT_ALLOWED: { message: 'Changes to this machine (patch installs, backup restores) are not allowed on this device', hint: 'An administrator opts in on the device: install with --allow-changes or RMAGENT_ALLOW_CHANGES=1 (Linux), ALLOWCHANGES=1 (Windows MSI) or AllowChanges in the profile (macOS), or create the file allow-changes in the agent state folder (see docs/deployment.md)' },
  PATCH_INSTALL_NOT_ALLOWED: { message: 'Updates may not be installed now', hint: 'Installs need autoInstall in the policy, an open maintenance window and the local allow-changes file (see docs/policies.md)' },
  // monitoring checks that cannot measure (a visible problem, never an alert)
  CHECK_SOURCE_MISSING: { message: 'A monitoring check cannot check: what it watches does not exist', hint: 'Fix the path or name in the policy, or create it; no alert is raised while it is missing' },
  CHECK_ACCESS_DENIED: { message: 'A monitoring check cannot check: the agent may not read what it watches', hint: 'Run the agent as root/SYSTEM (the packages do), or give its account read access' },
  CHECK_SOURCE_UNAVAILABLE: { message: 'A monitoring check cannot check on this device', hint: 'See the reason (e.g. no systemd as PID 1, not a regular file, a filesystem without a size); use a check this device can answer, or remove it from its policy' },
  CHECK_PATTERN_REFUSED: { message: 'A log check pattern was refused: it cannot be matched in linear time', hint: 'Write it without backreferences or lookaround and with fewer counted repeats (see docs/policies.md, log checks)' },
  CHECK_TIMED_OUT: { message: 'A monitoring check did not finish within its time budget', hint: 'See the reason; simplify the log pattern or point the check at a quieter log. Lines it could not match were skipped' },
  BACKUP_ACTOR_MISMATCH: { message: 'Only the account that installed Backup on this device may change or restore it', hint: 'Ask that account (shown in the reason) to do it, or uninstall and reinstall Backup with the new account' },
  BACKUP_UNSAFE_PATH: { message: 'A backup path points outside its folder', hint: 'The snapshot manifest or restore request is refused; check the backup destination for tampering' },
  BACKUP_VERIFY_FAILED: { message: 'Backup data does not match its checksums', hint: 'Run a new backup; check the destination disk for errors' },
  BACKUP_MANIFEST_UNTRUSTED: { message: 'A snapshot manifest at the backup destination is not sealed by this device', hint: 'It was planted or changed at the destination, or written by another installation (or an agent before manifests were sealed): remove it from <destination>/snapshots; the agent neither restores from it nor prunes while it is there' },
  BACKUP_DESTINATION_UNSAFE: { message: 'The backup destination can be changed by another account', hint: 'Give the destination folder (and every folder above it) to the agent account (root / SYSTEM) and remove group and other write access, or pick another destination' },
  BACKUP_JOB_FAILED: { message: 'The backup job ended without a result (crashed, killed or out of memory)', hint: 'Nothing of this run is used (no snapshot is recorded without its manifest); see the agent log for the job\'s exit and run the backup again' },
  BACKUP_KEY_MISMATCH: { message: 'The backup repository at the destination was written with another device key', hint: 'Put back that installation\'s manifest.key (Backup\'s state folder) to use it, or pick an empty destination for this device' },
  BACKUP_RESTORE_TARGET_UNSAFE: { message: 'A restore was refused: it would write into the backup destination or the agent\'s state folder, or into a folder holding one of them', hint: 'Restore into a new folder outside both (not the destination, nothing inside it, nothing above it, not /); to restore in place a folder that holds them, name the paths to restore' },
  BACKUP_DESTINATION_FULL: { message: 'The backup destination ran out of space (or the account\'s quota there)', hint: 'Free space at the destination, or give it more; a lower retention.keep frees space once a run succeeds (older snapshots are pruned after it). What the failed run had written there was removed' },
  BACKUP_SNAPSHOT_MISSING: { message: 'The requested backup snapshot does not exist', hint: 'List the snapshots in the latest backup reports and pick one of them' },
  BACKUP_PATH_NOT_IN_SNAPSHOT: { message: 'A path to restore is not in the snapshot', hint: 'Name paths relative to the backed-up folder, as the snapshot holds them (docs/2024, not /home/alice/docs/2024 or ./docs); nothing was restored' },
  BACKUP_RESTORE_CONFLICT: { message: 'Something else stands where the restore puts an entry', hint: 'A folder is where the backup has a file, or a file where it has a folder, in the restore target: move it aside, or restore to an empty target' },
  // daemon
  EXECUTABLE_DAMAGED: { message: 'The rmagent executable is damaged: the agent code it carries is missing or cut short', hint: 'Reinstall the agent package; do not strip or edit the rmagent executable' },
  IPC_ENDPOINT_UNSAFE: { message: 'The folder of the local IPC socket can be changed by another account', hint: 'Leave ipcPath unset (the socket then lives in the private state folder) or point it into a folder only root or the agent account can write' },
  IPC_ENDPOINT_TAKEN: { message: 'The local status endpoint is held by another process', hint: 'Another agent is running, or a process is squatting the endpoint to impersonate the agent: stop it (find it with `ss -xlp` or Process Explorer), then start the agent again' },
  AGENT_ALREADY_RUNNING: { message: 'Another rmagent daemon already serves this state folder', hint: 'Use the running one (`rmagent status`), or stop it first (systemctl stop rmagent, launchctl bootout system/com.rmagent.agent, or stop the Windows service)' },
  AGENT_NOT_RUNNING: { message: 'The agent daemon is not running', hint: 'Start the service (systemctl start rmagent, launchctl kickstart, or the Windows service)' },
  STATUS_DENIED: { message: 'This account may not read the agent status', hint: 'Run it as root or Administrator: `sudo rmagent status`' },
  WATCHDOG_RESTARTS: { message: 'The agent exceeded its memory or CPU budget and restarted repeatedly', hint: 'See the reasons in `rmagent status` and the agent log; the agent waits longer before each restart. Report it with the log lines' },
  OUTBOX_BACKLOG: { message: 'Reports are waiting to be delivered to the server', hint: 'They are kept on disk and sent when the connection returns' },
  // server API
  API_UNAUTHORIZED: { message: 'Missing or invalid API token', hint: 'Send `Authorization: Bearer TOKEN` (the owner token is in DATA/owner.token)' },
  API_FORBIDDEN: { message: 'The account lacks a permission for this call', hint: 'Ask an administrator for a role with the named permission' },
  API_NOT_FOUND: { message: 'No such resource', hint: 'Check the id in the URL' },
  API_INVALID: { message: 'The request body is not valid', hint: 'Fix the named field; see docs/server-api.md' },
  API_ACCOUNT_DISABLED: { message: 'This account is disabled', hint: 'Ask an administrator to enable it again (PATCH /accounts/ID {"disabled": false})' },
  API_METHOD_NOT_ALLOWED: { message: 'This method is not allowed on this route', hint: 'Use one of the methods in the Allow header; see docs/server-api.md' },
  API_BODY_TOO_LARGE: { message: 'The request body is too large', hint: 'Send a smaller body; the limit is in docs/server-api.md' },
  API_CONFLICT: { message: 'The resource is in use or in a state that does not allow this', hint: 'See the message: remove what still uses it first' },
  API_CSRF: { message: 'The request lacks the CSRF token of its session or comes from another site', hint: 'Send the session\'s csrfToken (GET /api/v1/session) in the X-CSRF-Token header; scripts use an API token (Authorization: Bearer) instead of the cookie' },
  API_RATE_LIMITED: { message: 'Too many requests or attempts from this token or address', hint: 'Wait the number of seconds in the Retry-After header, then try again, sending fewer requests per second' },
  SIGN_IN_FAILED: { message: 'Wrong e-mail or password', hint: 'Check both; after 5 wrong passwords in a row the account is locked for 15 minutes' },
  SIGN_IN_LOCKED: { message: 'Too many wrong passwords for this account: sign-in is locked for a while', hint: 'Wait the number of seconds in the Retry-After header; an administrator can set a new password meanwhile' },
  EMAIL_NOT_VERIFIED: { message: 'The e-mail address of this account is not verified yet', hint: 'Open the link in the verification e-mail (it is valid for 24 hours), then sign in' },
  EMAIL_TAKEN: { message: 'An account with this e-mail address exists already', hint: 'Sign in with it (option A on the activation page) and click Activate' },
  LINK_INVALID: { message: 'This link is unknown, used already or expired', hint: 'Ask for a new e-mail: the operator issues the licence again, or sign up again from the activation e-mail' },
  LICENCE_ACTIVATED: { message: 'This licence is activated already', hint: 'Each licence is activated once; sign in to use it' },
  LICENCE_SEATS_EXCEEDED: { message: 'Not enough free seats in the licences of this service', hint: 'Deactivate the service on devices that no longer need it, or activate another licence with more seats' },
  COMMAND_QUEUE_FULL: { message: 'Too many commands are waiting for this device', hint: 'Wait until the device is online and has taken its commands (GET /devices/ID/commands), then retry' },
  COMMAND_INTERRUPTED: { message: 'The device took the command, but the connection or the agent restarted before its outcome arrived', hint: 'Check the device state and issue the command again if it is still needed' },
  COMMAND_QUEUE_EXPIRED: { message: 'The command waited for the device longer than the queue keeps commands', hint: 'Issue it again once the device is back online' },
  SERVER_NOT_READY: { message: 'The server is starting or stopping', hint: 'Retry in a few seconds; a load balancer should route to another node meanwhile' },
  SERVER_LISTEN_FAILED: { message: 'The server cannot listen on the given address', hint: 'Pick a free port (or port 0) and an address of this machine in --listen' },
  SERVER_STORE_CORRUPT: { message: 'The server database cannot be read', hint: 'Restore DATA/rmagent.db from a backup (docs/scaling.md), or move it away to start an empty server (devices must then enroll again)' },
  SERVER_STORE_VERSION: { message: 'The server database was written by a newer rmagent-server', hint: 'Run the newer rmagent-server again, or restore a backup taken before the upgrade' },
  SERVER_STORE_UNAVAILABLE: { message: 'The server cannot reach its PostgreSQL database', hint: 'Check the --database URL (host, port, database, user, password) and that PostgreSQL accepts connections from this machine (docs/scaling.md)' },
  SERVER_KEYS_UNREADABLE: { message: 'The server command keys in the database cannot be opened with this node\'s key-encryption secret', hint: 'Give every node sharing the database the same secret: copy DATA/key-encryption.secret (or the --key-secret-file) from the node that first started, once; it does not change with rotations (docs/scaling.md)' },
  INTERNAL: { message: 'An internal error occurred', hint: 'See the agent log; report it with the log lines if it persists' },
} as const satisfies Record<string, { message: string; hint: string }>;

export type ErrorCode = keyof typeof ERRORS;

/** The one error type: a stable code, a message for this occurrence and a hint that says how to fix it. */
export class RmError extends Error {
  readonly code: ErrorCode;
  readonly hint: string;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, detail?: string, details?: Record<string, unknown>) {
    const base = ERRORS[code];
    super(detail ? `${base.message}: ${detail}` : base.message);
    this.name = 'RmError';
    this.code = code;
    this.hint = base.hint;
    this.details = details;
  }

  toJSON(): { code: ErrorCode; message: string; hint: string } {
    return { code: this.code, message: this.message, hint: this.hint };
  }
}

export function isRmError(e: unknown): e is RmError {
  return e instanceof RmError;
}

/** A problem as shown by `status`/`doctor`: the table's entry with an optional detail. */
export interface Problem {
  code: ErrorCode;
  message: string;
  fix: string;
}

export function problem(code: ErrorCode, detail?: string): Problem {
  const base = ERRORS[code];
  return { code, message: detail ? `${base.message}: ${detail}` : base.message, fix: base.hint };
}
