// The one exit-code contract of every `rmagent` command (README "Exit codes"; MDM rules rely on it).
// status and doctor: 0 healthy / all good, 1 degraded / warnings, 2 unhealthy, not running or not registered.
export const EXIT = {
  OK: 0,
  DEGRADED: 1,
  UNHEALTHY: 2,
  /** The command could not do its job (refused, unreadable state, I/O error): the message says why. */
  FAILED: 3,
  /** `rmagent run` while another agent already serves the same state (its local endpoint answers). */
  ALREADY_RUNNING: 4,
  /** `rmagent run` stopped itself over its memory/CPU budget (agent/watchdog.ts): the service manager restarts it. */
  OVER_BUDGET: 75,
  /** Bad command line (sysexits EX_USAGE), for every command. */
  USAGE: 64,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];
