// One screen of `rmagent status` for a person at the device.
import type { AgentStatus } from '../agent/status.js';
import { printable } from './printable.js';

const when = (ms: number | null) => (ms ? new Date(ms).toISOString().replace('T', ' ').slice(0, 19) : '-');

export function formatStatus(s: AgentStatus): string {
  const lines: string[] = [];
  const running = s.agent.running ? `running (pid ${s.agent.pid})` : s.agent.startedAt ? `not running (last known state of the run started ${when(s.agent.startedAt)})` : 'not running';
  lines.push(`rmagent ${s.agent.version}  ${running}  health: ${s.health.toUpperCase()}`);
  const tv = s.teamviewer;
  const tvLine = !tv
    ? 'not detected yet (`rmagent doctor` checks it now)'
    : !tv.installed
      ? 'NOT INSTALLED'
      : `${tv.edition === 'host' ? 'Host' : tv.edition === 'full' ? 'full client' : 'unknown edition'} ${tv.version ?? '?'}, ID ${tv.teamviewerId ?? '?'}, service ${tv.serviceRunning === null ? 'unknown' : tv.serviceRunning ? 'running' : 'STOPPED'}, managed: ${tv.managed === null ? 'unknown' : tv.managed ? 'yes' : 'NO'}`;
  lines.push(`TeamViewer    ${tvLine}`);
  const r = s.registration;
  lines.push(`Registration  ${r.registered ? `${r.enrolled ? `device ${r.deviceId}` : 'registered, not enrolled yet'} on ${r.server}${r.alias ? ` (alias ${r.alias})` : ''}` : 'NOT REGISTERED'}`);
  const c = s.connection;
  const connLine = c.state === 'connected' ? `connected since ${when(c.connectedAt)}${c.insecure ? ' (UNENCRYPTED)' : ''}` : `${c.state}${c.nextRetryAt ? `, next try ${when(c.nextRetryAt)}` : ''}${c.attempts ? `, ${c.attempts} attempt(s)` : ''}`;
  lines.push(`Connection    ${connLine}`);
  const pins = c.tlsPins;
  if (pins && pins.source !== 'none') lines.push(`TLS pins      ${pins.pins.join(', ')} (${pins.source === 'learned' ? 'announced by the server' : 'from the configuration'})`);
  if (!s.services.length) lines.push('Services      none activated');
  for (const [i, svc] of s.services.entries()) {
    const policy = svc.policy ? `policy ${svc.policy.id} v${svc.policy.version}${svc.policy.applied ? ' (applied)' : ' (not applied)'}` : 'no policy';
    lines.push(`${i === 0 ? 'Services' : ''.padEnd(8)}      ${svc.name.padEnd(12)} ${svc.phase.padEnd(12)} ${policy}${svc.reason ? `  ${svc.reason.code}: ${svc.reason.message}` : ''}`);
  }
  lines.push(`Outbox        ${s.outbox.pending} report(s) waiting, last acknowledged #${s.outbox.lastAckedSeq}${s.outbox.dropped ? `, ${s.outbox.dropped} dropped` : ''}`);
  if (s.problems.length) {
    lines.push('Problems');
    for (const p of s.problems) lines.push(`  ${p.code}: ${p.message}`, `    fix: ${p.fix}`);
  }
  // Messages come from the server and the machine: one screen line each, nothing a terminal would act on.
  return lines.map(printable).join('\n');
}
