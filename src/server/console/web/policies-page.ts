// Policies (manage permission): the list, "Create a policy" and a policy's page with its form generated from the
// service's policy JSON Schema (GET /services/:service/policy-schema, the agent's own zod schema), its version, and
// which devices run which version (the service's overview: the version assigned and the one each device reports).
import { api, ApiError, type OverviewEntry, type Policy, type ServiceInfo, type SessionView } from './api.js';
import { field, fmtTime, h, notice, show } from './dom.js';
import { phaseText, title } from './model.js';
import { editorFor, type Editor, type JsonSchema } from './schema-form.js';

interface PolicyView extends Policy { createdBy: string; updatedAtIso: string }

const fail = (err: unknown) => (err instanceof ApiError ? notice('error', err.body.message, err.body.hint) : notice('error', String(err)));
const schemaOf = async (service: string) => (await api<{ schema: JsonSchema }>('GET', `/services/${service}/policy-schema`)).schema;
const NO_MANAGE = () => notice('info', 'Your role does not allow managing policies: the form is read only.', 'Ask a company administrator for a role with "Manage policies".');

export async function policiesPage(root: HTMLElement, session: SessionView): Promise<void> {
  const canManage = session.permissions.includes('manage_policies');
  const { policies } = await api<{ policies: PolicyView[] }>('GET', '/policies?limit=500');
  show(root,
    h('h1', {}, 'Policies'),
    h('p', {}, 'A policy holds the settings of one service; devices run the version it had when they last received it. Changing a policy makes a new version and sends it to the devices that run it.'),
    canManage ? h('a', { class: 'button primary', href: '/console/policies/new' }, 'Create a policy') : NO_MANAGE(),
    policies.length
      ? h('table', { class: 'grid', 'aria-label': 'Policies' },
          h('thead', {}, h('tr', {}, ['Policy', 'Service', 'Version', 'Changed'].map((c) => h('th', { scope: 'col' }, c)))),
          h('tbody', {}, policies.map((p) => h('tr', {}, h('th', { scope: 'row' }, h('a', { href: `/console/policies/${encodeURIComponent(p.id)}` }, p.name)), h('td', {}, title(p.service)), h('td', {}, p.version), h('td', {}, fmtTime(p.updatedAtIso))))))
      : notice('info', 'No policy yet.'),
  );
}

export async function newPolicyPage(root: HTMLElement, session: SessionView): Promise<void> {
  if (!session.permissions.includes('manage_policies')) return show(root, h('h1', {}, 'Create a policy'), NO_MANAGE());
  const services = (await api<{ services: ServiceInfo[] }>('GET', '/services')).services.filter((s) => s.supported);
  const service = h('select', { name: 'service' }, services.map((s) => h('option', { value: s.name }, title(s.name))));
  const name = h('input', { type: 'text', name: 'policy-name', required: true, maxlength: 200 });
  const area = h('div', {});
  const status = h('div', { class: 'form-status' });
  let editor: Editor | null = null;
  // The form is rebuilt only when the service really changed, and only by the latest choice: a schema that arrives
  // late (or a change event for the same service) must not wipe what the user has typed since.
  let shown = '';
  let latest = 0;
  const load = async () => {
    const wanted = service.value;
    if (wanted === shown) return;
    const mine = ++latest;
    const schema = await schemaOf(wanted);
    if (mine !== latest) return;
    shown = wanted;
    editor = editorFor(schema, 'settings', undefined);
    area.replaceChildren(editor.el);
  };
  service.addEventListener('change', () => void load().catch((err: unknown) => status.replaceChildren(fail(err))));
  const form = h('form', { 'aria-label': 'Create a policy' }, field('Service', service), field('Policy name', name), area, status, h('button', { type: 'submit', class: 'primary' }, 'Create policy'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    status.replaceChildren();
    (async () => {
      const created = await api<PolicyView>('POST', '/policies', { name: name.value, service: service.value, settings: editor?.value() ?? {} });
      location.assign(`/console/policies/${encodeURIComponent(created.id)}?saved=1`);
    })().catch((err: unknown) => status.replaceChildren(fail(err)));
  });
  show(root, h('p', { class: 'crumbs' }, h('a', { href: '/console/policies' }, 'Policies'), ' / new'), h('h1', {}, 'Create a policy'),
    h('p', { class: 'hint' }, 'The form follows the policy schema the agent checks; the server checks the settings with the same schema and says what to fix.'), form);
  await load();
}

export async function policyPage(root: HTMLElement, session: SessionView, id: string): Promise<void> {
  const canManage = session.permissions.includes('manage_policies');
  const policy = await api<PolicyView>('GET', `/policies/${encodeURIComponent(id)}`);
  const editor = editorFor(await schemaOf(policy.service), 'settings', policy.settings);
  const name = h('input', { type: 'text', name: 'policy-name', required: true, maxlength: 200, value: policy.name });
  const status = h('div', { class: 'form-status' });
  if (new URLSearchParams(location.search).has('saved')) status.replaceChildren(notice('success', `Version ${policy.version} saved.`));
  const fields = h('fieldset', { disabled: !canManage, class: 'plain' }, field('Policy name', name), editor.el);
  const form = h('form', { 'aria-label': 'Edit the policy' }, fields, status, canManage ? h('button', { type: 'submit', class: 'primary' }, `Save as version ${policy.version + 1}`) : null);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    status.replaceChildren();
    (async () => {
      const r = await api<{ policy: PolicyView; assignedTo: string[]; sent: unknown[] }>('PUT', `/policies/${encodeURIComponent(policy.id)}`, { name: name.value, settings: editor.value() });
      location.assign(`/console/policies/${encodeURIComponent(r.policy.id)}?saved=1`);
    })().catch((err: unknown) => status.replaceChildren(fail(err)));
  });
  show(root,
    h('p', { class: 'crumbs' }, h('a', { href: '/console/policies' }, 'Policies'), ' / ', policy.name),
    h('h1', {}, policy.name),
    h('p', {}, `${title(policy.service)} policy, version ${policy.version}, changed ${fmtTime(policy.updatedAtIso)}.`),
    canManage ? null : NO_MANAGE(),
    form,
    h('h2', {}, 'Devices running this policy'),
    await devicesOf(policy, session),
  );
}

/** The devices the policy is assigned to (from the service's overview) and the version each one runs. */
async function devicesOf(policy: PolicyView, session: SessionView): Promise<HTMLElement> {
  if (!session.permissions.includes('view_devices')) return notice('info', 'Your role does not allow viewing devices.');
  const { devices } = await api<{ devices: OverviewEntry[] }>('GET', `/services/${policy.service}/overview?limit=500`);
  const mine = devices.filter((d) => d.policyId === policy.id);
  if (!mine.length) return h('p', {}, 'No device runs this policy.');
  return h('table', { class: 'grid', 'aria-label': 'Devices running this policy' },
    h('thead', {}, h('tr', {}, ['Device', 'Runs version', 'State'].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, mine.map((d) => h('tr', {},
      h('th', { scope: 'row' }, h('a', { href: `/console/devices/${encodeURIComponent(d.deviceId)}` }, d.alias ?? d.hostname ?? d.deviceId)),
      h('td', {}, (d as OverviewEntry & { appliedPolicyVersion: number | null }).appliedPolicyVersion === null ? 'none yet' : `version ${(d as OverviewEntry & { appliedPolicyVersion: number | null }).appliedPolicyVersion}${d.applied ? '' : `, version ${policy.version} on its way`}`),
      h('td', {}, phaseText(d.phase))))));
}
