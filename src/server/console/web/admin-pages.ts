// Company profile pages: members and roles (a role lists the Remote Management permissions to the right of the
// service's name), devices with their prerequisites and "Add device", licences and their seats, alerts.
import { api, ApiError, type Account, type Alert, type Device, type Licence, type Role, type Seats, type SessionView } from './api.js';
import { field, fill, fmtTime, h, notice, show } from './dom.js';
import { ineligible, OTHER_PERMISSIONS, RM_PERMISSIONS, SERVICE_TITLES, title } from './model.js';

const fail = (err: unknown) => (err instanceof ApiError ? notice('error', err.body.message, err.body.hint) : notice('error', 'The server could not be reached.'));

function submitting(form: HTMLFormElement, status: HTMLElement, action: () => Promise<void>): void {
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    status.replaceChildren();
    action().catch((err: unknown) => status.replaceChildren(fail(err)));
  });
}

export async function membersPage(root: HTMLElement): Promise<void> {
  const [{ roles }, { accounts }] = await Promise.all([api<{ roles: Role[] }>('GET', '/roles'), api<{ accounts: Account[] }>('GET', '/accounts?limit=500')]);
  const roleName = (id: string) => roles.find((r) => r.id === id)?.name ?? id;

  // Create a role: the Remote Management services on the left, their permissions to the right.
  const name = h('input', { type: 'text', name: 'role-name', required: true, maxlength: 200 });
  const box = (id: string, label: string) => h('label', { class: 'perm' }, h('input', { type: 'checkbox', name: 'perm', value: id }), ` ${label}`);
  const rmServices = Object.entries(SERVICE_TITLES).filter(([s]) => s !== 'endpoint-protection').map(([, t]) => t).join(', ');
  const roleStatus = h('div', { class: 'form-status' });
  const roleForm = h('form', { 'aria-label': 'Create a role' },
    field('Role name', name),
    h('table', { class: 'grid perms' },
      h('caption', {}, 'Permissions'),
      h('tbody', {},
        h('tr', {}, h('th', { scope: 'row' }, 'Remote Management', h('span', { class: 'sub' }, rmServices)), h('td', {}, RM_PERMISSIONS.map((p) => box(p.id, p.label)))),
        ...['Devices', 'Company profile'].map((group) => h('tr', {}, h('th', { scope: 'row' }, group), h('td', {}, OTHER_PERMISSIONS.filter((p) => p.group === group).map((p) => box(p.id, p.label))))),
      ),
    ),
    roleStatus,
    h('button', { type: 'submit' }, 'Create role'),
  );
  submitting(roleForm, roleStatus, async () => {
    const permissions = [...roleForm.querySelectorAll<HTMLInputElement>('input[name=perm]:checked')].map((i) => i.value);
    await api('POST', '/roles', { name: name.value, permissions });
    location.reload();
  });

  const who = h('input', { type: 'text', name: 'member-name', required: true, maxlength: 200 });
  const email = h('input', { type: 'email', name: 'member-email', required: true });
  const role = h('select', { name: 'member-role' }, roles.map((r) => h('option', { value: r.id }, r.name)));
  role.value = 'role-user';
  const inviteStatus = h('div', { class: 'form-status' });
  const inviteForm = h('form', { 'aria-label': 'Invite a member' }, field('Name', who), field('E-mail', email), field('Role', role), inviteStatus, h('button', { type: 'submit' }, 'Invite'));
  submitting(inviteForm, inviteStatus, async () => {
    await api('POST', '/accounts', { name: who.value, email: email.value, roleIds: [role.value] });
    inviteStatus.replaceChildren(notice('success', `Invitation sent to ${email.value}.`, 'They choose a password through the link in the e-mail.'));
    setTimeout(() => location.reload(), 800);
  });

  show(root,
    h('h1', {}, 'Members and roles'),
    h('p', {}, 'By default company administrators and business users may install Remote Management services; members with the user role may not assign devices or services. Give such a member a role with the Remote Management permissions they need.'),
    h('h2', {}, 'Members'),
    h('table', { class: 'grid', 'aria-label': 'Members' },
      h('thead', {}, h('tr', {}, ['Name', 'Roles', 'State'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, accounts.map((a) => h('tr', {}, h('th', { scope: 'row' }, a.name), h('td', {}, a.roleIds.map(roleName).join(', ') || '—'), h('td', {}, a.disabled ? 'disabled' : 'active'))))),
    h('h2', {}, 'Invite a member'),
    inviteForm,
    h('h2', {}, 'Roles'),
    h('table', { class: 'grid', 'aria-label': 'Roles' },
      h('thead', {}, h('tr', {}, ['Role', 'Permissions'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, roles.map((r) => h('tr', {}, h('th', { scope: 'row' }, r.name, r.builtIn ? h('span', { class: 'sub' }, 'built in') : null), h('td', {}, r.permissions.join(', ') || 'none'))))),
    h('h2', {}, 'Create a role'),
    roleForm,
  );
}

export async function devicesPage(root: HTMLElement, session: SessionView): Promise<void> {
  const table = h('div', {});
  const pager = h('div', { class: 'pager' });
  const cursors: Array<string | null> = [null];
  const load = async (page: number) => {
    const q = new URLSearchParams({ limit: '50' });
    if (cursors[page]) q.set('cursor', cursors[page]!);
    const { devices, next } = await api<{ devices: Device[]; next: string | null }>('GET', `/devices?${q}`);
    cursors[page + 1] = next;
    table.replaceChildren(devices.length
      ? h('table', { class: 'grid', 'aria-label': 'Devices' },
          h('thead', {}, h('tr', {}, ['Device', 'TeamViewer', 'Version', 'TeamViewer ID', 'Managed', 'Online / last seen', 'Services', 'Prerequisites'].map((c) => h('th', { scope: 'col' }, c)))),
          h('tbody', {}, devices.map((d) => {
            const tv = d.teamviewer;
            const blocked = ineligible(d);
            return h('tr', { 'data-device': d.id },
              h('th', { scope: 'row' }, h('a', { href: `/console/devices/${encodeURIComponent(d.id)}` }, d.alias ?? d.hostname), h('span', { class: 'sub' }, `${d.hostname} · ${d.platform}`)),
              h('td', {}, tv?.installed ? (tv.edition === 'host' ? 'Host' : tv.edition === 'full' ? 'Full client' : 'installed') : 'not installed'),
              h('td', {}, tv?.version ?? '—'),
              h('td', {}, tv?.teamviewerId ?? '—'),
              h('td', {}, tv?.managed === true ? 'yes' : tv?.managed === false ? 'no' : 'unknown'),
              h('td', {}, d.online ? 'online' : fmtTime(d.lastSeenIso)),
              h('td', {}, d.services.map((s) => `${title(s.name)} (${s.phase ?? 'pending'})`).join(', ') || '—'),
              h('td', {}, blocked ? `${blocked.reason}: ${blocked.fix}` : 'met'),
            );
          })))
      : notice('info', 'No device yet.', 'Select "Add device" to enroll one.'));
    fill(pager, page > 0 ? h('button', { type: 'button', onclick: () => void load(page - 1) }, 'Previous page') : null, next ? h('button', { type: 'button', onclick: () => void load(page + 1) }, 'Next page') : null);
  };
  const addArea = h('div', { 'aria-live': 'polite' });
  const add = h('button', { type: 'button', class: 'primary', onclick: async () => {
    try {
      const t = await api<{ token: string; expiresAtIso: string | null }>('POST', '/enrollment-tokens', { expiresInSec: 86_400, maxUses: 100 });
      const server = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/agent`;
      const cmd = (label: string, text: string) => h('div', { class: 'cmd' }, h('h3', {}, label), h('pre', {}, h('code', {}, text)));
      addArea.replaceChildren(
        h('h2', {}, 'Add device'),
        h('p', {}, `Enrollment token (up to 100 devices, until ${fmtTime(t.expiresAtIso)}); it is shown once. Save it to a file on the device, never on a command line:`),
        h('pre', { class: 'token' }, h('code', {}, t.token)),
        cmd('Linux (.deb / .rpm)', `sudo RMAGENT_SERVER=${server} RMAGENT_TOKEN_FILE=/root/enroll.token apt-get install ./rmagent_*.deb`),
        cmd('Linux (install.sh)', `sudo ./install.sh --binary ./rmagent-linux-x64 --server ${server} --token-file /root/enroll.token`),
        cmd('Windows (MSI, also through Intune or another MDM)', `msiexec /i rmagent-x64.msi /qn SERVER_URL=${server} ENROLL_TOKEN_FILE=C:\\secure\\enroll.token`),
        cmd('macOS (.pkg with a configuration profile, Jamf or another MDM)', `ServerURL = ${server}\nEnrollToken = (the token above)`),
        cmd('Any OS, by hand', `rmagent enroll --server ${server} --token-file enroll.token`),
      );
    } catch (err) {
      addArea.replaceChildren(fail(err));
    }
  } }, 'Add device');
  show(root, h('h1', {}, 'Devices'), session.permissions.includes('enroll_devices') ? add : null, addArea, table, pager);
  await load(0);
}

export async function licencesPage(root: HTMLElement): Promise<void> {
  const { licences, seats, licensed } = await api<{ licences: Licence[]; seats: Array<Seats & { product: string }>; licensed: boolean }>('GET', '/licences?limit=500');
  show(root,
    h('h1', {}, 'Licences'),
    licensed ? null : notice('info', 'This server has no licence: seats are not counted.', 'An operator issues one with: rmagent-server licence issue --product monitoring --seats 25 --email buyer@example.com'),
    seats.length ? h('ul', {}, seats.map((s) => h('li', {}, `${title(s.product)}: ${s.used} of ${s.total} seats used, ${s.free} free`))) : null,
    licences.length ? h('table', { class: 'grid', 'aria-label': 'Licences' },
      h('thead', {}, h('tr', {}, ['Product', 'Seats', 'Bought by', 'Issued', 'Activated'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, licences.map((l) => h('tr', {}, h('th', { scope: 'row' }, l.title), h('td', {}, l.seats), h('td', {}, l.email), h('td', {}, fmtTime(l.issuedAtIso)), h('td', {}, l.activated ? fmtTime(l.activatedAtIso) : 'not yet'))))) : null,
  );
}

export async function alertsPage(root: HTMLElement): Promise<void> {
  const onlyOpen = h('input', { type: 'checkbox', id: 'only-open', checked: true });
  const area = h('div', {});
  const load = async () => {
    const { alerts } = await api<{ alerts: Alert[] }>('GET', `/alerts?limit=200${onlyOpen.checked ? '&open=true' : ''}`);
    area.replaceChildren(alerts.length
      ? h('table', { class: 'grid', 'aria-label': 'Alerts' },
          h('thead', {}, h('tr', {}, ['Device', 'Service', 'Severity', 'Message', 'Raised', 'Acknowledged'].map((c) => h('th', { scope: 'col' }, c)))),
          h('tbody', {}, alerts.map((a) => h('tr', { 'data-alert': a.id },
            h('th', { scope: 'row' }, a.alias ?? a.hostname ?? a.deviceId),
            h('td', {}, title(a.service)),
            h('td', {}, a.severity),
            h('td', {}, a.message),
            h('td', {}, fmtTime(a.raisedAtIso)),
            h('td', {}, a.ackedBy ? `by ${a.ackedBy}` : h('button', { type: 'button', onclick: async () => {
              try {
                await api('POST', `/alerts/${a.id}/ack`, {});
                await load();
              } catch (err) {
                area.prepend(fail(err));
              }
            } }, 'Acknowledge')),
          ))))
      : notice('info', 'No alert.', 'Alerts raised by the services on your devices appear here.'));
  };
  onlyOpen.addEventListener('change', () => void load());
  show(root, h('h1', {}, 'Alerts'), h('div', { class: 'check' }, onlyOpen, h('label', { for: 'only-open' }, 'Open alerts only')), area);
  await load();
}
