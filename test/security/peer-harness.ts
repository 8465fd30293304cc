// What the rotation attack tests start (server stand-ins holding keys, key-peer.ts, and built agents), stopped
// after each test, and the one edit they make to a stopped agent's registration.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach } from 'vitest';
import type { Spawned } from '../../src/cli/processes.js';
import { writeJsonAtomic } from '../../src/system/files.js';
import type { AgentHome } from '../e2e/harness.js';
import { keyPeer, type KeyPeerOptions, type Peer } from './key-peer.js';

/** Call once at the top level of a test file. */
export function peersAndAgents() {
  const running: Spawned[] = [];
  const peers: Peer[] = [];
  afterEach(async () => {
    for (const p of running.splice(0)) await p.stop();
    for (const p of peers.splice(0)) await p.close();
  });
  return {
    async peer(opts: KeyPeerOptions): Promise<Peer> {
      const p = await keyPeer(opts);
      peers.push(p);
      return p;
    },
    async start(home: AgentHome): Promise<Spawned> {
      const proc = await home.start();
      running.push(proc);
      return proc;
    },
    async stop(proc: Spawned): Promise<void> {
      await proc.stop();
      running.splice(running.indexOf(proc), 1);
    },
  };
}

/** The registered server URL now leads to `url` (the agent must not run). */
export async function pointTo(home: AgentHome, url: string): Promise<void> {
  const file = path.join(home.stateDir, 'registration.json');
  await writeJsonAtomic(file, { ...(JSON.parse(readFileSync(file, 'utf8')) as object), serverUrl: url });
}
