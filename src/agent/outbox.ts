// Durable numbered reports. One file per report (<seq>.json, written atomically) plus outbox.json holding the
// counters, so a report is either wholly on disk or absent, and a number is never reused across restarts.
//
// Invariants:
// - seq is assigned and the file written inside one serial queue, so files land in seq order and pending()
//   never shows seq n+1 before n.
// - outbox.json (lastAckedSeq, nextSeq, dropped) is written before acknowledged files are deleted; at open, files
//   at or below lastAckedSeq are leftovers of a crash between the two and are deleted.
// - Overflow policy: past maxBytes the OLDEST non-alert reports are dropped first (a newer status snapshot
//   supersedes them) and counted in stats().dropped; alert.raised / alert.cleared are never dropped, even if the
//   budget is then exceeded (that is logged).
import { fsAsync as fs } from '../system/fs-async.js';
import path from 'node:path';
import * as z from 'zod/mini';
import { ensureDir, readJsonFile, removeFile, writeFileAtomic, writeJsonAtomic } from '../system/files.js';
import { ReportBodySchema, type ReportBody, type ReportKind } from '../protocol/frames.js';
import type { Clock } from '../system/clock.js';
import type { Logger } from '../log.js';
import type { Outbox, OutboxStats } from './contracts.js';

const META_FILE = 'outbox.json';
const REPORT_FILE = /^(\d{12})\.json$/;
// Built at each read and not kept: the file is read once at start, and its schema objects would otherwise stay in
// the idle daemon's heap (docs/benchmarks.md, issue 19).
const metaSchema = () => z.strictObject({ v: z.literal(1), lastAckedSeq: z.int().check(z.nonnegative()), nextSeq: z.int().check(z.gte(1)), dropped: z.int().check(z.nonnegative()) });
type Meta = z.infer<ReturnType<typeof metaSchema>>;

interface Entry {
  seq: number;
  kind: ReportKind;
  at: number;
  bytes: number;
}

const fileOf = (seq: number) => `${String(seq).padStart(12, '0')}.json`;
const NEVER_DROPPED: ReadonlySet<ReportKind> = new Set<ReportKind>(['alert.raised', 'alert.cleared']);

/** Which entries to drop so the total fits in maxBytes: oldest non-alert first; alerts never. Pure. */
export function chooseOverflow(entries: readonly Entry[], maxBytes: number): number[] {
  let total = entries.reduce((sum, e) => sum + e.bytes, 0);
  const drop: number[] = [];
  for (const e of entries) {
    if (total <= maxBytes) break;
    if (NEVER_DROPPED.has(e.kind)) continue;
    drop.push(e.seq);
    total -= e.bytes;
  }
  return drop;
}

export function createOutbox(opts: { dir: string; maxBytes: number; clock: Clock; logger: Logger }): Outbox & { open(): Promise<void> } {
  const { dir, clock, logger } = opts;
  const metaFile = path.join(dir, META_FILE);
  let meta: Meta = { v: 1, lastAckedSeq: 0, nextSeq: 1, dropped: 0 };
  let entries: Entry[] = [];
  const listeners: Array<() => void> = [];
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(work: () => Promise<T>): Promise<T> => {
    const next = queue.catch(() => undefined).then(work);
    queue = next;
    return next;
  };
  const saveMeta = () => writeJsonAtomic(metaFile, meta);

  async function quarantine(name: string, why: string): Promise<void> {
    logger.warn('outbox: unreadable report quarantined', { file: name, reason: why });
    await fs.rename(path.join(dir, name), path.join(dir, `${name}.corrupt`)).catch(() => undefined);
  }

  async function open(): Promise<void> {
    await ensureDir(dir);
    const read = await readJsonFile(metaFile, metaSchema());
    if (read.status === 'invalid') logger.warn('outbox: counters unreadable; rebuilt from the report files', { reason: read.reason });
    meta = read.status === 'ok' ? read.value : { v: 1, lastAckedSeq: 0, nextSeq: 1, dropped: 0 };
    const found: Entry[] = [];
    let highest = 0;
    for (const name of (await fs.readdir(dir)).sort()) {
      if (name.startsWith('.') && name.endsWith('.tmp')) {
        await removeFile(path.join(dir, name)); // a write torn by a crash; its append never resolved
        continue;
      }
      const m = REPORT_FILE.exec(name);
      if (!m) continue;
      const seq = Number(m[1]);
      highest = Math.max(highest, seq); // a quarantined number is not handed out again either
      if (seq <= meta.lastAckedSeq) {
        await removeFile(path.join(dir, name));
        continue;
      }
      const report = await readJsonFile(path.join(dir, name), ReportBodySchema);
      if (report.status !== 'ok' || report.value.seq !== seq) {
        await quarantine(name, report.status === 'invalid' ? report.reason : 'sequence number does not match the file name');
        continue;
      }
      const { size } = await fs.stat(path.join(dir, name));
      found.push({ seq, kind: report.value.kind, at: report.value.at, bytes: size });
    }
    entries = found;
    meta.nextSeq = Math.max(meta.nextSeq, highest + 1, meta.lastAckedSeq + 1);
  }

  async function enforceBudget(): Promise<void> {
    const drop = chooseOverflow(entries, opts.maxBytes);
    if (drop.length) {
      const dropping = new Set(drop);
      entries = entries.filter((e) => !dropping.has(e.seq));
      meta.dropped += drop.length;
      await saveMeta();
      for (const seq of drop) await removeFile(path.join(dir, fileOf(seq)));
      logger.warn('outbox over its disk budget: oldest non-alert reports dropped', { dropped: drop.length, maxBytes: opts.maxBytes });
    }
    const total = entries.reduce((s, e) => s + e.bytes, 0);
    if (total > opts.maxBytes) logger.warn('outbox over its disk budget with alerts only; alerts are kept', { bytes: total, maxBytes: opts.maxBytes });
  }

  return {
    open: () => serial(open),
    append(kind, data) {
      const done = serial(async () => {
        const seq = meta.nextSeq;
        const body: ReportBody = ReportBodySchema.parse({ seq, kind, at: clock.now(), data });
        const text = `${JSON.stringify(body)}\n`;
        await writeFileAtomic(path.join(dir, fileOf(seq)), text);
        meta.nextSeq = seq + 1;
        entries.push({ seq, kind, at: body.at, bytes: Buffer.byteLength(text) });
        await enforceBudget();
        return seq;
      });
      void done.then(() => { for (const l of listeners) l(); }, () => undefined);
      return done;
    },
    pending(limit, afterSeq = 0) {
      return serial(async () => {
        const after = entries.filter((e) => e.seq > afterSeq);
        const chosen = limit === undefined ? after : after.slice(0, limit);
        const out: ReportBody[] = [];
        for (const e of chosen) {
          const read = await readJsonFile(path.join(dir, fileOf(e.seq)), ReportBodySchema);
          if (read.status === 'ok') out.push(read.value);
          else logger.warn('outbox: report vanished or became unreadable', { seq: e.seq });
        }
        return out;
      });
    },
    ackUpTo(seq) {
      return serial(async () => {
        if (seq <= meta.lastAckedSeq) return;
        meta.lastAckedSeq = seq;
        // Never hand out a number the server holds (a restored device's welcome.lastSeq moves it ahead; connection.ts
        // bounds that by MAX_RESTORED_SEQ and refuses a report.ack beyond what was sent).
        meta.nextSeq = Math.max(meta.nextSeq, seq + 1);
        await saveMeta();
        const acked = entries.filter((e) => e.seq <= seq);
        entries = entries.filter((e) => e.seq > seq);
        for (const e of acked) await removeFile(path.join(dir, fileOf(e.seq)));
      });
    },
    stats(): OutboxStats {
      return {
        pending: entries.length,
        bytes: entries.reduce((s, e) => s + e.bytes, 0),
        oldestAt: entries[0]?.at ?? null,
        lastAckedSeq: meta.lastAckedSeq,
        nextSeq: meta.nextSeq,
        dropped: meta.dropped,
      };
    },
    onAppend(listener) {
      listeners.push(listener);
    },
  };
}
