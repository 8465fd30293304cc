// Data of the service reports (inventory, patches, backup) and of the watchdog's, exactly as the agent builds them
// (services/assets, services/patches, services/backup, agent/agent.ts). The server checks every report against
// these (a report that does not match is kept flagged `invalid` and never shown as the device's data); the agent
// builds its reports through the inferred types, so a change on one side that the other does not follow is a type
// error. Builders only: the agent never parses these, so it never builds them (frames.ts REPORT_DATA_SCHEMAS is lazy).
import * as z from 'zod/mini';
import { IdSchema } from './model.js';

/** Installed software items in one full inventory: a full one is cut to 768 KiB (assets/inventory.ts), 40 bytes at least per item. */
export const MAX_SOFTWARE_ITEMS = 20_000;
/** Disks and network interfaces (system/facts-child.ts reads at most this many of each). */
export const MAX_FACT_ROWS = 4_096;
/** Entries of one inventory change list: every software item and every fact. */
export const MAX_INVENTORY_CHANGES = MAX_SOFTWARE_ITEMS + 2 * MAX_FACT_ROWS + 512;
/** Pending updates in one scan, and names in one install: never more than the installed software. */
export const MAX_PENDING_UPDATES = MAX_SOFTWARE_ITEMS;
/** Characters of an install run's output the report keeps (its last lines, cut from the start). */
export const MAX_OUTPUT_TAIL = 16 * 1024;
/** Snapshot ids one backup run lists as pruned (services/backup/job.ts cuts the list to this). */
export const MAX_PRUNED_LISTED = 10_000;

export const UPDATE_MANAGERS = ['apt', 'dnf', 'yum', 'softwareupdate', 'windows-update'] as const;
export const UPDATE_SEVERITIES = ['critical', 'important', 'moderate', 'low', 'security', 'recommended', 'unspecified'] as const;
export const SOFTWARE_SOURCES = ['dpkg', 'rpm', 'reg', 'app'] as const;

const text = (max: number) => z.string().check(z.maxLength(max));
const count = () => z.int().check(z.nonnegative());
const time = () => z.int().check(z.nonnegative());

/** One hardware/OS/network fact: what systeminformation or /sys gives (unknown = null). */
const factValue = () => z.union([text(4096), z.number(), z.boolean(), z.null()]);
/** A flat group of facts (system, bios, os, cpu, memory, one disk, one network interface); also read from `rmagent facts`. */
export const facts = () => {
  const max = 64;
  return z.record(text(64), factValue()).check(z.refine((r) => Object.keys(r).length <= max, `at most ${max} facts`), z.meta({ maxProperties: max }));
};
const softwareItem = () =>
  z.strictObject({
    name: text(512),
    version: text(512),
    source: z.enum(SOFTWARE_SOURCES),
    arch: z.optional(text(512)),
    publisher: z.optional(text(512)),
    /** bundle id (macOS) or registry key name (Windows). */
    id: z.optional(text(512)),
  });
const inventory = () =>
  z.strictObject({
    hardware: z.strictObject({ system: facts(), bios: facts(), cpu: facts(), memory: facts(), disks: z.array(facts()).check(z.maxLength(MAX_FACT_ROWS)) }),
    os: facts(),
    network: z.array(facts()).check(z.maxLength(MAX_FACT_ROWS)),
    software: z.array(softwareItem()).check(z.maxLength(MAX_SOFTWARE_ITEMS)),
  });
/** One entry that was added (to), removed (from) or changed (both): a fact, a disk or interface, or a software item. */
const inventoryChange = () => {
  const value = z.union([factValue(), softwareItem(), facts()]);
  return z.strictObject({ key: text(2048), from: z.optional(value), to: z.optional(value) });
};
const changeList = () => z.array(inventoryChange()).check(z.maxLength(MAX_INVENTORY_CHANGES));

export const inventoryReportData = () =>
  z.discriminatedUnion('full', [
    z.strictObject({ full: z.literal(true), collectedAt: time(), inventory: inventory(), counts: z.strictObject({ software: count(), omitted: count() }) }),
    z.strictObject({
      full: z.literal(false),
      collectedAt: time(),
      changes: z.strictObject({ added: changeList(), removed: changeList(), changed: changeList() }),
      counts: z.strictObject({ added: count(), removed: count(), changed: count(), total: count() }),
    }),
  ]);

const pendingUpdate = () =>
  z.strictObject({
    /** What the tool installs it by: package name, softwareupdate label, or the update title on Windows. */
    name: text(512),
    version: text(512),
    severity: z.enum(UPDATE_SEVERITIES),
    from: z.optional(text(512)),
    arch: z.optional(text(512)),
    /** Repository, pocket, KB number or category list. */
    origin: z.optional(text(512)),
    restart: z.optional(z.boolean()),
  });

export const patchesReportData = () =>
  z.discriminatedUnion('event', [
    z.strictObject({
      event: z.literal('scan'),
      manager: z.enum(UPDATE_MANAGERS),
      scannedAt: time(),
      count: count(),
      bySeverity: z.partialRecord(z.enum(UPDATE_SEVERITIES), count()),
      pending: z.array(pendingUpdate()).check(z.maxLength(MAX_PENDING_UPDATES)),
    }),
    z.strictObject({
      event: z.literal('install'),
      manager: z.enum(UPDATE_MANAGERS),
      startedAt: time(),
      durationMs: count(),
      /** The updates asked for by name (securityOnly), or 'all'. */
      requested: z.union([z.literal('all'), z.array(text(512)).check(z.maxLength(MAX_PENDING_UPDATES))]),
      result: z.enum(['succeeded', 'failed']),
      exitCode: z.nullable(z.int()),
      error: z.optional(text(2048)),
      outputTail: text(MAX_OUTPUT_TAIL),
    }),
  ]);

export const backupReportData = () =>
  z.union([
    z.strictObject({
      event: z.literal('snapshot'),
      snapshot: IdSchema,
      createdAt: time(),
      files: count(),
      bytesRead: count(),
      bytesStored: count(),
      durationMs: count(),
      skipped: count(),
      dirs: count(),
      /** What was left out, with why (the first 100; `skipped` counts them all). */
      skippedPaths: z.array(z.strictObject({ path: text(4096), reason: text(512) })).check(z.maxLength(100)),
      verified: z.nullable(z.strictObject({ packs: count(), blobs: count(), bytes: count(), bad: count() })),
      pruned: z.strictObject({ snapshots: z.array(IdSchema).check(z.maxLength(MAX_PRUNED_LISTED)), packs: count(), bytes: count(), unusedBytes: count() }),
      peakRssBytes: count(),
    }),
    z.strictObject({
      event: z.literal('restore'),
      result: z.literal('succeeded'),
      snapshot: z.string().check(z.minLength(1), z.maxLength(128)),
      files: count(),
      bytes: count(),
      verified: count(),
      target: z.nullable(text(4096)),
      dirs: z.optional(count()),
      symlinks: z.optional(count()),
      hardlinks: z.optional(count()),
      fifos: z.optional(count()),
      /** Entries this platform cannot recreate under their name (Windows: `\\`, `:`...), left out; sent only when some were. */
      skipped: z.optional(count()),
      skippedPaths: z.optional(z.array(z.strictObject({ path: text(4096), reason: text(512) })).check(z.maxLength(100))),
      /** Snapshot format restored from (2: earlier agents' manifests, 3: trees). */
      format: z.int().check(z.gte(1), z.lte(99)),
      durationMs: count(),
      peakRssBytes: count(),
    }),
    /** A run that failed or was refused (the command's ack carries the same code and message). */
    z.strictObject({ event: z.enum(['snapshot', 'restore']), result: z.literal('failed'), code: z.string().check(z.minLength(1), z.maxLength(64)), message: text(2048) }),
  ]);

export const watchdogReportData = () =>
  z.discriminatedUnion('event', [
    z.strictObject({ event: z.literal('exceeded'), kind: z.enum(['memory', 'cpu']), reason: text(512), restarts: count() }),
    z.strictObject({ event: z.literal('backoff'), delayMs: count(), restarts: count() }),
  ]);

export type FactValue = z.input<ReturnType<typeof factValue>>;
export type SoftwareItem = z.input<ReturnType<typeof softwareItem>>;
export type PendingUpdate = z.input<ReturnType<typeof pendingUpdate>>;
export type UpdateManager = (typeof UPDATE_MANAGERS)[number];
export type UpdateSeverity = (typeof UPDATE_SEVERITIES)[number];
export type InventoryReportData = z.input<ReturnType<typeof inventoryReportData>>;
export type PatchesReportData = z.input<ReturnType<typeof patchesReportData>>;
export type BackupReportData = z.input<ReturnType<typeof backupReportData>>;
export type WatchdogReportData = z.input<ReturnType<typeof watchdogReportData>>;
/** A full inventory, and the entries of a change list (assets/inventory.ts builds and diffs them). */
export type InventoryData = Extract<InventoryReportData, { full: true }>['inventory'];
export type InventoryChanges = Extract<InventoryReportData, { full: false }>['changes'];
export type InventoryChange = InventoryChanges['added'][number];
export type InventoryValue = Exclude<InventoryChange['to'], undefined>;
