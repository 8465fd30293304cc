// The signed-in frame: the top bar with the account and Sign out, and the left menu.
import { api, setCsrf, type SessionView } from './api.js';
import { h } from './dom.js';

const MENU: Array<{ href: string; label: string; needs?: string[] }> = [
  { href: '/console/rm', label: 'Remote Management' },
  { href: '/console/policies', label: 'Policies', needs: ['manage_policies', 'assign_policies'] },
  { href: '/console/devices', label: 'Devices', needs: ['view_devices'] },
  { href: '/console/alerts', label: 'Alerts', needs: ['view_all_alerts', 'view_own_alerts'] },
  { href: '/console/members', label: 'Members and roles', needs: ['manage_accounts'] },
  { href: '/console/licences', label: 'Licences' },
];

export function frame(session: SessionView): void {
  const top = document.getElementById('top')!;
  const nav = document.getElementById('nav')!;
  const signOut = h('button', { type: 'button', class: 'link', onclick: async () => {
    await api('DELETE', '/session').catch(() => undefined);
    setCsrf(null);
    location.assign('/console/signin');
  } }, 'Sign out');
  top.replaceChildren(
    h('a', { class: 'brand', href: '/console/rm' }, 'rmagent console'),
    h('span', { class: 'who' }, 'Signed in as ', h('strong', {}, session.account.name), session.account.email ? ` (${session.account.email})` : ''),
    signOut,
  );
  const here = location.pathname;
  nav.replaceChildren(
    h('ul', {}, MENU.filter((m) => !m.needs || m.needs.some((p) => session.permissions.includes(p))).map((m) =>
      h('li', {}, h('a', { href: m.href, ...(here.startsWith(m.href) ? { 'aria-current': 'page' } : {}) }, m.label)),
    )),
  );
}
