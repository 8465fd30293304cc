// The Remote Management tab (the seed's "activate the services on your endpoints"): the services, a service's
// Overview with its endpoints (refreshed live by polling), and "+ Activate service": select devices (filter by
// name, tag, OS; paged, so a fleet of 10,000 stays quick) -> Continue -> select policy -> Activate.
import { api, ApiError, type Device, type Licence, type OverviewEntry, type Policy, type ServiceInfo, type SessionView } from './api.js';
import { field, fill, h, notice, show } from './dom.js';
import { BACKUP_REASON, ineligible, phaseText, title } from './model.js';

const PAGE = 50;
const REFRESH_MS = 2000;

function seatsText(s: ServiceInfo): string {
  if (!s.supported) return 'Not available';
  if (!s.seats) return 'Seats not counted (no licence on this server)';
  return `${s.seats.used} of ${s.seats.total} seats used`;
}

/** The services and their seats, or null when the member's role may not even see them (403). */
async function servicesOrNull(): Promise<ServiceInfo[] | null> {
  try {
    return (await api<{ services: ServiceInfo[] }>('GET', '/services')).services;
  } catch (err) {
    if (err instanceof ApiError && err.status === 403) return null;
    throw err;
  }
}
const NO_ASSIGN = () => notice('info', 'Your role does not allow assigning devices or services.', 'Members with the user role cannot assign devices or services. Ask a company administrator for a role with the Remote Management permissions (Assign policies).');

export async function servicesPage(root: HTMLElement, session: SessionView): Promise<void> {
  const services = await servicesOrNull();
  if (!services) return show(root, h('h1', {}, 'Remote Management'), NO_ASSIGN());
  const activated = new URLSearchParams(location.search).get('activated');
  show(root,
    h('h1', {}, 'Remote Management'),
    h('p', {}, 'Choose a service to see its overview and activate it on your devices.'),
    h('ul', { class: 'cards' }, services.map((s) =>
      h('li', { class: `card${s.supported ? '' : ' unavailable'}` },
        s.supported ? h('a', { href: `/console/rm/${s.name}` }, h('h2', {}, title(s.name))) : h('h2', {}, title(s.name)),
        h('p', {}, seatsText(s)),
        s.supported ? null : h('p', { class: 'hint' }, 'No rmagent agent runs Endpoint Protection: it cannot be activated here.'),
      ),
    )),
    session.permissions.includes('assign_policies') ? null : NO_ASSIGN(),
  );
  if (activated) await licenceConfirmation(activated);
}

/** The pop-up after a licence activation (the seed: "a pop-up confirms your licence was activated"). */
async function licenceConfirmation(licenceId: string): Promise<void> {
  const { licences } = await api<{ licences: Licence[] }>('GET', '/licences?limit=500').catch(() => ({ licences: [] as Licence[] }));
  const licence = licences.find((l) => l.id === licenceId);
  const ok = h('button', { type: 'button', class: 'primary' }, 'OK');
  const dialog = h('dialog', { 'aria-labelledby': 'activated-title' },
    h('h2', { id: 'activated-title' }, 'Licence activated'),
    h('p', {}, licence ? `Your ${licence.title} licence with ${licence.seats} device seats was activated successfully.` : 'Your licence was activated successfully.'),
    h('p', {}, 'Next: open the service below and select "+ Activate service" to install it on your devices.'),
    ok,
  );
  ok.addEventListener('click', () => {
    dialog.close();
    dialog.remove();
    history.replaceState(null, '', location.pathname);
  });
  document.body.append(dialog);
  dialog.showModal();
}

export async function overviewPage(root: HTMLElement, session: SessionView, service: string): Promise<void> {
  const services = await servicesOrNull();
  if (!services) return show(root, h('h1', {}, title(service)), notice('info', 'Your role does not allow activating services.', 'Members with the user role cannot assign devices or services; ask for a role with Assign policies.'));
  const info = services.find((s) => s.name === service);
  if (!info) return show(root, h('h1', {}, 'Unknown service'), notice('error', `There is no service "${service}".`));
  const canAssign = session.permissions.includes('assign_policies');
  const activateLink = (cls: string) => (info.supported && canAssign ? h('a', { class: `button ${cls}`, href: `/console/rm/${service}/activate` }, '+ Activate service') : null);
  const body = h('div', { id: 'overview' });
  const live = h('p', { class: 'hint', role: 'status', 'aria-live': 'polite' });
  const justActivated = Number(new URLSearchParams(location.search).get('activated') ?? 0);
  show(root,
    h('p', { class: 'crumbs' }, h('a', { href: '/console/rm' }, 'Remote Management'), ' / ', title(service)),
    h('h1', {}, title(service)),
    h('nav', { class: 'tabs', 'aria-label': 'Service' }, h('a', { href: `/console/rm/${service}`, 'aria-current': 'page' }, 'Overview')),
    h('p', { class: 'seats' }, seatsText(info)),
    justActivated ? notice('success', `Activation sent to ${justActivated} device(s).`, 'The overview below follows them from pending to running.') : null,
    !info.supported ? notice('info', `${title(service)} is not available.`, 'No rmagent agent runs this service.') : null,
    !canAssign && info.supported ? notice('info', 'Your role does not allow activating services.', 'Members with the user role cannot assign devices or services; ask for a role with Assign policies.') : null,
    service === 'backup' ? h('p', { class: 'hint' }, BACKUP_REASON) : null,
    body,
    live,
  );
  const policyNames = new Map<string, string>();
  let shown = '';
  const refresh = async () => {
    const { devices } = await api<{ devices: OverviewEntry[] }>('GET', `/services/${service}/overview?limit=500`);
    live.textContent = `Updated ${new Date().toLocaleTimeString()}`;
    // Redraw only on a change: a keyboard user's focus stays where it is between refreshes.
    const now = JSON.stringify(devices);
    if (now === shown) return;
    shown = now;
    if (devices.some((d) => d.policyId && !policyNames.has(d.policyId)) && (canAssign || session.permissions.includes('manage_policies'))) {
      for (const p of (await api<{ policies: Policy[] }>('GET', `/policies?service=${service}&limit=500`)).policies) policyNames.set(p.id, p.name);
    }
    if (!devices.length) {
      body.replaceChildren(h('div', { class: 'empty' }, h('p', {}, `${title(service)} is not active on any device yet.`), activateLink('primary big')));
    } else {
      body.replaceChildren(
        h('div', { class: 'toolbar' }, activateLink('primary')),
        h('table', { class: 'grid', 'aria-label': `${title(service)} endpoints` },
          h('thead', {}, h('tr', {}, ['Device', 'State', 'Policy', 'Online', 'Details', ...(service === 'backup' ? ['Restore'] : [])].map((c) => h('th', { scope: 'col' }, c)))),
          h('tbody', {}, devices.map((d) => h('tr', { 'data-device': d.deviceId },
            h('th', { scope: 'row' }, session.permissions.includes('view_devices') ? h('a', { href: `/console/devices/${encodeURIComponent(d.deviceId)}` }, d.alias ?? d.hostname ?? d.deviceId) : d.alias ?? d.hostname ?? d.deviceId),
            h('td', {}, h('span', { class: `phase ${phaseText(d.phase)}` }, phaseText(d.phase))),
            h('td', {}, d.policyId ? `${policyNames.get(d.policyId) ?? d.policyId} (version ${d.policyVersion ?? '?'})${d.applied ? '' : ', not applied yet'}` : '—'),
            h('td', {}, d.online ? 'online' : 'offline'),
            h('td', {}, d.reason ? `${d.reason.code}: ${d.reason.message}` : service === 'backup' && d.activatedBy && d.activatedBy !== session.account.id ? `Assigned to ${d.activatedBy}` : ''),
            service === 'backup' ? h('td', {}, restoreButton(d, session)) : null,
          ))),
        ),
      );
    }
  };
  await refresh();
  const timer = setInterval(() => {
    if (document.visibilityState === 'visible') refresh().catch(() => undefined);
  }, REFRESH_MS);
  window.addEventListener('pagehide', () => clearInterval(timer));
}

/**
 * Backup: only the account the service is assigned to may restore (the server refuses others too); everyone else
 * sees the button disabled with the seed's reason.
 */
function restoreButton(d: OverviewEntry, session: SessionView): HTMLElement {
  const mine = d.activatedBy === session.account.id;
  const reasonId = `restore-why-${d.deviceId}`;
  const status = h('span', { class: 'hint', role: 'status' });
  const button = h('button', { type: 'button', ...(mine ? {} : { disabled: true, 'aria-describedby': reasonId }), onclick: async () => {
    button.disabled = true;
    try {
      await api('POST', `/devices/${encodeURIComponent(d.deviceId)}/commands`, { type: 'backup.restore', body: {} });
      status.textContent = 'Restore sent to the device.';
    } catch (err) {
      status.textContent = err instanceof ApiError ? err.body.message : 'The restore could not be sent.';
      button.disabled = false;
    }
  } }, 'Restore');
  return h('div', {}, button, mine ? status : h('p', { class: 'hint', id: reasonId }, BACKUP_REASON));
}

/** The wizard: step 1 select devices, step 2 select policy, then Activate. */
export async function activatePage(root: HTMLElement, session: SessionView, service: string): Promise<void> {
  const info = (await servicesOrNull())?.find((s) => s.name === service);
  const crumbs = h('p', { class: 'crumbs' }, h('a', { href: '/console/rm' }, 'Remote Management'), ' / ', h('a', { href: `/console/rm/${service}` }, title(service)), ' / Activate');
  if (!session.permissions.includes('assign_policies')) return show(root, crumbs, h('h1', {}, `Activate ${title(service)}`), notice('error', 'Your role does not allow activating services.', 'Ask a company administrator for a role with Assign policies.'));
  if (!info?.supported) return show(root, crumbs, h('h1', {}, `Activate ${title(service)}`), notice('error', `${title(service)} is not available.`));

  const selected = new Map<string, Device>();
  const search = h('input', { type: 'search', name: 'search', placeholder: 'Name contains…' });
  const tag = h('input', { type: 'text', name: 'tag', placeholder: 'e.g. kiosk' });
  const os = h('select', { name: 'platform' }, h('option', { value: '' }, 'Any'), h('option', { value: 'linux' }, 'Linux'), h('option', { value: 'win32' }, 'Windows'), h('option', { value: 'darwin' }, 'macOS'));
  const table = h('div', { class: 'device-table' });
  const seats = h('div', { class: 'seat-status', role: 'status', 'aria-live': 'polite' });
  const pager = h('div', { class: 'pager' });
  const next = h('button', { type: 'button', class: 'primary' }, 'Continue');
  const cursors: Array<string | null> = [null];

  const newSeats = () => [...selected.values()].filter((d) => !d.services.some((s) => s.name === service)).length;
  const updateSeats = () => {
    const need = newSeats();
    const s = info.seats;
    next.disabled = selected.size === 0 || (s !== null && need > s.free);
    if (!selected.size) seats.replaceChildren(h('p', {}, 'Select the devices to install the service on.'));
    else if (!s) seats.replaceChildren(h('p', {}, `${selected.size} device(s) selected.`));
    else if (need > s.free) seats.replaceChildren(notice('error', `${selected.size} device(s) selected: ${need} need a seat, but only ${s.free} of ${s.total} seats are free.`, 'Deselect devices, deactivate the service where it is no longer needed, or activate another licence with more seats.'));
    else seats.replaceChildren(h('p', {}, `${selected.size} device(s) selected: ${need} new seat(s) used, ${s.free - need} of ${s.total} left after activation.`));
  };

  const load = async (page: number) => {
    const q = new URLSearchParams({ limit: String(PAGE) });
    if (search.value.trim()) q.set('search', search.value.trim());
    if (tag.value.trim()) q.set('tag', tag.value.trim());
    if (os.value) q.set('platform', os.value);
    const cursor = cursors[page];
    if (cursor) q.set('cursor', cursor);
    let answer: { devices: Device[]; next: string | null };
    try {
      answer = await api('GET', `/devices?${q}`);
    } catch (err) {
      table.replaceChildren(err instanceof ApiError ? notice('error', err.body.message, err.body.hint) : notice('error', 'The devices could not be loaded.'));
      return;
    }
    cursors[page + 1] = answer.next;
    const rows = answer.devices.map((d) => {
      const blocked = ineligible(d);
      const backupOwner = service === 'backup' ? d.services.find((s) => s.name === 'backup' && s.activatedBy && s.activatedBy !== session.account.id) : undefined;
      const active = d.services.some((s) => s.name === service);
      const name = d.alias ?? d.hostname;
      const box = h('input', { type: 'checkbox', 'aria-label': `Select ${name}`, ...(blocked || backupOwner ? { disabled: true } : {}), ...(selected.has(d.id) ? { checked: true } : {}) });
      box.addEventListener('change', () => {
        if (box.checked) selected.set(d.id, d);
        else selected.delete(d.id);
        updateSeats();
      });
      const tv = d.teamviewer;
      return h('tr', { 'data-device': d.id, class: blocked || backupOwner ? 'blocked' : '' },
        h('td', {}, box),
        h('th', { scope: 'row' }, name, d.alias ? h('span', { class: 'sub' }, d.hostname) : null),
        h('td', {}, `${d.platform} ${d.osRelease}`),
        h('td', {}, tv?.installed ? `${tv.edition === 'host' ? 'TeamViewer Host' : tv.edition === 'full' ? 'TeamViewer full client' : 'TeamViewer'} ${tv.version ?? ''}` : 'not installed'),
        h('td', {}, tv?.teamviewerId ?? '—'),
        h('td', {}, tv?.managed === true ? 'yes' : tv?.managed === false ? 'no' : 'unknown'),
        h('td', {}, d.online ? 'online' : `offline${d.lastSeenIso ? ` (last seen ${new Date(d.lastSeenIso).toLocaleString()})` : ''}`),
        h('td', {}, d.tags.join(', ')),
        h('td', {},
          blocked ? h('span', { class: 'why' }, `${blocked.reason}. `, h('span', { class: 'fix' }, blocked.fix)) : null,
          backupOwner ? h('span', { class: 'why' }, `Backup is assigned to ${backupOwner.activatedBy}. ${BACKUP_REASON}`) : null,
          !blocked && !backupOwner && active ? `${title(service)} already active (no new seat)` : null,
        ),
      );
    });
    table.replaceChildren(answer.devices.length
      ? h('table', { class: 'grid', 'aria-label': 'Devices' },
          h('thead', {}, h('tr', {}, ['Select', 'Device', 'OS', 'TeamViewer', 'TeamViewer ID', 'Managed', 'Online', 'Tags', 'Prerequisites'].map((c) => h('th', { scope: 'col' }, c)))),
          h('tbody', {}, rows))
      : notice('info', 'No device matches.', 'Change the filter, or add devices on the Devices page.'));
    fill(pager, 
      page > 0 ? h('button', { type: 'button', onclick: () => void load(page - 1) }, 'Previous page') : null,
      answer.next ? h('button', { type: 'button', onclick: () => void load(page + 1) }, 'Next page') : null,
    );
  };
  const filter = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter devices' }, field('Name', search), field('Tag', tag), field('OS', os), h('button', { type: 'submit' }, 'Filter'));
  filter.addEventListener('submit', (ev) => {
    ev.preventDefault();
    cursors.length = 1;
    void load(0);
  });

  next.addEventListener('click', () => void policyStep(root, crumbs, service, [...selected.values()]));
  show(root, crumbs, h('h1', {}, `Activate ${title(service)}: select devices`), h('p', { class: 'steps' }, 'Step 1 of 2'), filter, table, pager, seats, h('div', { class: 'actions' }, h('a', { href: `/console/rm/${service}` }, 'Cancel'), next));
  updateSeats();
  await load(0);
}

async function policyStep(root: HTMLElement, crumbs: HTMLElement, service: string, devices: Device[]): Promise<void> {
  const status = h('div', { class: 'form-status' });
  const list = h('fieldset', {}, h('legend', {}, 'Policy to apply'));
  const activate = h('button', { type: 'submit', class: 'primary' }, 'Activate');
  const fill = async () => {
    const { policies } = await api<{ policies: Policy[] }>('GET', `/policies?service=${service}&limit=500`);
    list.replaceChildren(h('legend', {}, 'Policy to apply'));
    if (!policies.length) {
      list.append(notice('info', `There is no ${title(service)} policy yet.`), h('button', { type: 'button', onclick: async () => {
        try {
          await api('POST', '/policies', { name: `${title(service)} default`, service, settings: {} });
          await fill();
        } catch (err) {
          status.replaceChildren(err instanceof ApiError ? notice('error', err.body.message, err.body.hint) : notice('error', 'The policy could not be created.'));
        }
      } }, 'Create the default policy'));
    }
    policies.forEach((p, i) => {
      const radio = h('input', { type: 'radio', name: 'policy', value: p.id, id: `policy-${p.id}`, ...(i === 0 ? { checked: true } : {}) });
      list.append(h('div', { class: 'check' }, radio, h('label', { for: `policy-${p.id}` }, `${p.name} (version ${p.version})`)));
    });
    activate.disabled = !policies.length;
  };
  const form = h('form', { 'aria-label': 'Select policy' }, list, status, h('div', { class: 'actions' }, h('a', { href: `/console/rm/${service}/activate` }, 'Back'), activate));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const choice = form.querySelector<HTMLInputElement>('input[name=policy]:checked');
    if (!choice) return;
    activate.disabled = true;
    try {
      await api('POST', `/services/${service}/activate`, { deviceIds: devices.map((d) => d.id), policyId: choice.value });
      location.assign(`/console/rm/${service}?activated=${devices.length}`);
    } catch (err) {
      status.replaceChildren(err instanceof ApiError ? notice('error', err.body.message, err.body.hint) : notice('error', 'The activation could not be sent.'));
      activate.disabled = false;
    }
  });
  show(root, crumbs, h('h1', {}, `Activate ${title(service)}: select policy`), h('p', { class: 'steps' }, 'Step 2 of 2'), h('p', {}, `${devices.length} device(s): ${devices.map((d) => d.alias ?? d.hostname).join(', ')}`), form);
  await fill();
}
