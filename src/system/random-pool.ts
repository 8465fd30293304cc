// Random bytes taken from a block the CSPRNG refills when it runs out: one randomFillSync call per small value (a
// nonce, a temp name) cost more than what it made (~8-15 µs each: 0.14 s of a 16,000-file backup's nonces, a
// quarter of a second of a restore's temp names). Every byte is handed out once and zeroed when taken.
import { randomFillSync } from 'node:crypto';

/** A function that fills `into` with fresh random bytes (at most `blockBytes` at a time) from a pooled block. */
export function createRandomPool(blockBytes: number): (into: Buffer) => void {
  const block = Buffer.alloc(blockBytes);
  let left = 0;
  return (into) => {
    if (into.length > blockBytes) throw new RangeError(`at most ${blockBytes} random bytes at a time`);
    if (left < into.length) {
      randomFillSync(block);
      left = blockBytes;
    }
    left -= into.length;
    block.copy(into, 0, left, left + into.length);
    block.fill(0, left, left + into.length);
  };
}
