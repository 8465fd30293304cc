// The console's entry: one small script for every page, which chooses what to render from the path. No framework:
// a few DOM helpers (dom.ts) build the pages from the public API's answers.
import { api, ApiError, type SessionView } from './api.js';
import { alertsPage, devicesPage, licencesPage, membersPage } from './admin-pages.js';
import { devicePage } from './device-page.js';
import { h, notice, show } from './dom.js';
import { newPolicyPage, policiesPage, policyPage } from './policies-page.js';
import { frame } from './layout.js';
import { activationPage, invitationPage, signInPage } from './public-pages.js';
import { activatePage, overviewPage, servicesPage } from './remote-management.js';

async function main(): Promise<void> {
  const root = document.getElementById('main')!;
  const path = location.pathname.replace(/\/+$/, '');
  if (path === '/console/activate') return activationPage(root);
  if (path === '/console/signin') return signInPage(root);
  if (path === '/console/invite') return invitationPage(root);
  let session: SessionView;
  try {
    session = await api<SessionView>('GET', '/session');
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return location.assign(`/console/signin?next=${encodeURIComponent(location.pathname)}`);
    throw err;
  }
  frame(session);
  const rm = /^\/console\/rm\/([a-z-]+)(\/activate)?$/.exec(path);
  if (path === '/console' || path === '/console/rm') return servicesPage(root, session);
  if (rm) return rm[2] ? activatePage(root, session, rm[1]!) : overviewPage(root, session, rm[1]!);
  if (path === '/console/devices') return devicesPage(root, session);
  const device = /^\/console\/devices\/([^/]+)$/.exec(path);
  if (device) return devicePage(root, session, decodeURIComponent(device[1]!));
  if (path === '/console/policies') return policiesPage(root, session);
  if (path === '/console/policies/new') return newPolicyPage(root, session);
  const policy = /^\/console\/policies\/([^/]+)$/.exec(path);
  if (policy) return policyPage(root, session, decodeURIComponent(policy[1]!));
  if (path === '/console/members') return membersPage(root);
  if (path === '/console/licences') return licencesPage(root);
  if (path === '/console/alerts') return alertsPage(root);
  show(root, h('h1', {}, 'Page not found'), h('p', {}, h('a', { href: '/console/rm' }, 'Back to Remote Management')));
}

// A link from an e-mail opened in the tab already showing the same page changes only the fragment: start over.
window.addEventListener('hashchange', () => location.reload());

main().catch((err: unknown) => {
  const root = document.getElementById('main')!;
  show(root, h('h1', {}, 'Something went wrong'), err instanceof ApiError ? notice('error', err.body.message, err.body.hint) : notice('error', String(err)));
});
