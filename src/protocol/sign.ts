// Command signing: canonical bytes of a frame, Ed25519 signatures, and the pure decision whether a command is acceptable.
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, createHash, type KeyObject } from 'node:crypto';
import type { ErrorCode } from './errors.js';
import type { Frame } from './frames.js';

/** JSON with object keys sorted at every level: the same value always gives the same bytes. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v === undefined ? null : v)).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

export function signedBytes(frame: Pick<Frame, 'v' | 'id' | 'type' | 'ts' | 'body'>): Buffer {
  return Buffer.from(canonicalJson({ v: frame.v, id: frame.id, type: frame.type, ts: frame.ts, body: frame.body }), 'utf8');
}

// DER prefix of an Ed25519 SubjectPublicKeyInfo; the raw 32-byte key follows it.
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export interface KeyPair {
  publicKey: string; // base64 raw 32 bytes
  privateKeyPem: string;
}

export function generateKeyPair(): KeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  return { publicKey: rawPublicKey(publicKey), privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

export function rawPublicKey(key: KeyObject): string {
  const der = key.export({ type: 'spki', format: 'der' });
  return der.subarray(ED25519_SPKI_PREFIX.length).toString('base64');
}

// Every command is verified against the same few trusted keys: building a KeyObject costs more than the
// verification itself (~0.3 ms), so the last few are kept (public keys: nothing secret is cached).
const publicKeys = new Map<string, KeyObject>();
const PUBLIC_KEY_CACHE = 16;

export function publicKeyFromRaw(raw: string): KeyObject {
  const cached = publicKeys.get(raw);
  if (cached) return cached;
  const bytes = Buffer.from(raw, 'base64');
  if (bytes.length !== 32) throw new Error('an Ed25519 public key is 32 bytes');
  const key = createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, bytes]), format: 'der', type: 'spki' });
  if (publicKeys.size >= PUBLIC_KEY_CACHE) publicKeys.delete(publicKeys.keys().next().value!);
  publicKeys.set(raw, key);
  return key;
}

export function publicKeyOfPrivate(privateKeyPem: string): string {
  return rawPublicKey(createPublicKey(createPrivateKey(privateKeyPem)));
}

/** Short, non-secret name of a public key for status and logs. */
export function keyFingerprint(raw: string): string {
  return `SHA256:${createHash('sha256').update(Buffer.from(raw, 'base64')).digest('base64').slice(0, 16)}`;
}

export function signBytes(privateKeyPem: string, bytes: Buffer): string {
  return sign(null, bytes, createPrivateKey(privateKeyPem)).toString('base64');
}

export function verifyBytes(publicKeyRaw: string, bytes: Buffer, signature: string): boolean {
  try {
    return verify(null, bytes, publicKeyFromRaw(publicKeyRaw), Buffer.from(signature, 'base64'));
  } catch {
    return false;
  }
}

export function signFrame<F extends Frame>(frame: F, privateKeyPem: string): F {
  return { ...frame, sig: signBytes(privateKeyPem, signedBytes(frame)) };
}

/** Which of `keys` signed `frame` (null: none of them). A key.rotate's powers depend on it (agent/key-rotation.ts). */
export function signerOf(frame: Pick<Frame, 'v' | 'id' | 'type' | 'ts' | 'body' | 'sig'>, keys: readonly string[]): string | null {
  if (!frame.sig) return null;
  const bytes = signedBytes(frame);
  return keys.find((k) => verifyBytes(k, bytes, frame.sig!)) ?? null;
}

export interface CommandCheckContext {
  /** Server command keys the device trusts now (more than one during a rotation overlap). */
  trustedKeys: readonly string[];
  deviceId: string;
  /** The server's time as the device estimates it (device clock + measured skew), or the device clock. */
  now: number;
  windowMs: number;
  /** Says which clock `now` is, for the refusal message. */
  clockNote?: string;
  alreadySeen(commandId: string): boolean;
}

export type CommandVerdict = { ok: true } | { ok: false; code: ErrorCode; message: string };

/** Decides whether a signed command may take effect: signature, device binding, time window, replay. Pure. */
export function checkCommand(frame: Frame, ctx: CommandCheckContext): CommandVerdict {
  if (!frame.sig) return { ok: false, code: 'COMMAND_UNSIGNED', message: `${frame.type} ${frame.id} has no signature` };
  if (!signerOf(frame, ctx.trustedKeys)) {
    return { ok: false, code: 'COMMAND_FORGED', message: `${frame.type} ${frame.id} is not signed by a trusted server key` };
  }
  const body = frame.body as { deviceId?: unknown };
  if (body.deviceId !== ctx.deviceId) return { ok: false, code: 'COMMAND_WRONG_DEVICE', message: `${frame.type} ${frame.id} is addressed to ${String(body.deviceId)}` };
  const ageMs = ctx.now - frame.ts;
  if (Math.abs(ageMs) > ctx.windowMs) {
    const s = Math.round(Math.abs(ageMs) / 1000);
    const when = ageMs >= 0 ? `was issued ${s} s ago` : `is dated ${s} s in the future`;
    return { ok: false, code: 'COMMAND_EXPIRED', message: `${frame.type} ${frame.id} ${when}; commands are accepted within ${Math.round(ctx.windowMs / 1000)} s${ctx.clockNote ? ` (${ctx.clockNote})` : ''}` };
  }
  if (ctx.alreadySeen(frame.id)) return { ok: false, code: 'COMMAND_REPLAYED', message: `${frame.type} ${frame.id} was already processed` };
  return { ok: true };
}
