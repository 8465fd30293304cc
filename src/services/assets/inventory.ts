// The inventory as sent to the server and the diff between two of them (pure).
// The shapes are the inventory report's (protocol/report-data.ts): what the server checks is what is built here.
import type { SoftwareSourceOutput, SystemFacts } from '../../system/packages.js';
import type { InventoryChanges, InventoryData, InventoryValue } from '../../protocol/report-data.js';
import { parseDpkgQuery, parseInfoPlist, parseRegUninstall, parseRpmQa, type SoftwareItem } from './software-parse.js';

export type Inventory = InventoryData;
export type { InventoryChange, InventoryChanges } from '../../protocol/report-data.js';

/** Turns the raw facts and software listings into one inventory, software sorted and de-duplicated. */
export function buildInventory(facts: SystemFacts, outputs: readonly SoftwareSourceOutput[]): Inventory {
  const software = new Map<string, SoftwareItem>();
  for (const out of outputs) {
    const items =
      out.source === 'dpkg' ? parseDpkgQuery(out.text)
      : out.source === 'rpm' ? parseRpmQa(out.text)
      : out.source === 'reg' ? parseRegUninstall(out.text, /WOW6432Node/i.test(out.origin) ? 'x86' : undefined)
      : [parseInfoPlist(out.text, out.origin)].filter((i): i is SoftwareItem => i !== null);
    for (const item of items) software.set(softwareKey(item), item);
  }
  return {
    hardware: { system: facts.system, bios: facts.bios, cpu: facts.cpu, memory: facts.memory, disks: facts.disks },
    os: facts.os,
    network: facts.network,
    software: [...software.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, item]) => item),
  };
}

export function softwareKey(item: SoftwareItem): string {
  return `software:${item.source}:${item.id ?? item.name}${item.arch ? `:${item.arch}` : ''}`;
}

/** Every fact of an inventory under a stable key, so two inventories compare entry by entry. */
export function flattenInventory(inv: Inventory): Map<string, InventoryValue> {
  const entries = new Map<string, InventoryValue>();
  for (const part of ['system', 'bios', 'cpu', 'memory'] as const) {
    for (const [field, value] of Object.entries(inv.hardware[part] ?? {})) entries.set(`hardware:${part}.${field}`, value);
  }
  for (const [field, value] of Object.entries(inv.os ?? {})) entries.set(`os:${field}`, value);
  for (const disk of inv.hardware.disks ?? []) entries.set(`disk:${String(disk.device ?? disk.name ?? '')}`, disk);
  for (const nic of inv.network ?? []) entries.set(`network:${String(nic.iface ?? '')}`, nic);
  for (const item of inv.software ?? []) entries.set(softwareKey(item), item);
  return entries;
}

/** What changed from `previous` to `next`: added and removed entries, and changed ones with both values. */
export function diffInventory(previous: Inventory, next: Inventory): InventoryChanges {
  const before = flattenInventory(previous);
  const after = flattenInventory(next);
  const changes: InventoryChanges = { added: [], removed: [], changed: [] };
  for (const [key, to] of after) {
    if (!before.has(key)) changes.added.push({ key, to });
    else if (JSON.stringify(before.get(key)) !== JSON.stringify(to)) changes.changed.push({ key, from: before.get(key), to });
  }
  for (const [key, from] of before) if (!after.has(key)) changes.removed.push({ key, from });
  return changes;
}

export function changeCount(c: InventoryChanges): number {
  return c.added.length + c.removed.length + c.changed.length;
}

/** Largest full-inventory report (bytes of JSON), well under the 1 MiB protocol frame limit. */
export const MAX_INVENTORY_BYTES = 768 * 1024;

/**
 * Makes a full inventory fit one report: first without publishers, then with the software list cut
 * (`omitted` says how many items were left out). Pure; returns the inventory unchanged when it fits.
 */
export function fitInventory(inv: Inventory, maxBytes = MAX_INVENTORY_BYTES): { inventory: Inventory; omitted: number } {
  const size = (i: Inventory) => Buffer.byteLength(JSON.stringify(i));
  if (size(inv) <= maxBytes) return { inventory: inv, omitted: 0 };
  const lean: Inventory = { ...inv, software: inv.software.map(({ publisher: _p, ...rest }) => rest) };
  const fixed = size({ ...lean, software: [] });
  let budget = maxBytes - fixed;
  const kept: Inventory['software'] = [];
  for (const item of lean.software) {
    budget -= Buffer.byteLength(JSON.stringify(item)) + 1;
    if (budget < 0) break;
    kept.push(item);
  }
  return { inventory: { ...lean, software: kept }, omitted: lean.software.length - kept.length };
}
