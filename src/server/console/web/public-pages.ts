// Pages before the web app: the licence activation page (the seed's steps 1-3: A sign in, or B create an account
// and verify it, then Activate), sign-in, and the invitation page where a member chooses a password. The secrets
// of the e-mailed links arrive in the URL fragment and are only ever sent in request bodies.
import { api, ApiError, setCsrf, type Licence, type SessionView } from './api.js';
import { field, h, notice, show } from './dom.js';

const fragment = (): URLSearchParams => new URLSearchParams(location.hash.slice(1));

function failure(err: unknown): HTMLElement {
  if (err instanceof ApiError) return notice('error', err.body.message, err.body.hint);
  return notice('error', 'The server could not be reached.', 'Check the connection and try again.');
}

function input(type: string, name: string, autocomplete: string, required = true): HTMLInputElement {
  return h('input', { type, name, autocomplete, required, ...(type === 'password' ? { minlength: 10, maxlength: 256 } : {}) });
}

/** A form whose submit runs `action`; errors are shown above the button, the button is busy meanwhile. */
function form(label: string, fields: HTMLElement[], submit: string, action: () => Promise<void>): HTMLFormElement {
  const status = h('div', { class: 'form-status' });
  const button = h('button', { type: 'submit' }, submit);
  const el = h('form', { 'aria-label': label, novalidate: false }, fields, status, button);
  el.addEventListener('submit', (ev) => {
    ev.preventDefault();
    button.disabled = true;
    status.replaceChildren();
    action()
      .catch((err: unknown) => status.replaceChildren(failure(err)))
      .finally(() => {
        button.disabled = false;
      });
  });
  return el;
}

async function currentSession(): Promise<SessionView | null> {
  try {
    return await api<SessionView>('GET', '/session');
  } catch {
    return null;
  }
}

export async function activationPage(root: HTMLElement): Promise<void> {
  const params = fragment();
  const key = params.get('key') ?? '';
  const verify = params.get('verify');
  let licence: Licence & { tip: string };
  try {
    licence = await api('POST', '/licences/lookup', { key });
  } catch (err) {
    show(root, h('h1', {}, 'Activate your licence'), failure(err));
    return;
  }
  const heading = h('h1', {}, `Activate your ${licence.title} licence`);
  const facts = h('p', { class: 'lead' }, `${licence.seats} device seats, bought by ${licence.email}. Each licence is activated on its own.`);
  const tip = h('aside', { class: 'tip', 'aria-label': 'Tip' }, h('strong', {}, 'Tip: '), licence.tip.replace(/^Tip: /, ''));
  if (licence.activated) {
    show(root, heading, notice('info', 'This licence is activated already.', 'Sign in to use it.'), h('p', {}, h('a', { href: '/console/signin' }, 'Sign in')));
    return;
  }

  const activateStep = (session: SessionView, note?: HTMLElement) => {
    const status = h('div', { class: 'form-status' });
    const button = h('button', { type: 'button', class: 'primary', onclick: async () => {
      button.disabled = true;
      try {
        const done = await api<Licence>('POST', '/licences/activate', { key });
        location.assign(`/console/rm?activated=${encodeURIComponent(done.id)}`);
      } catch (err) {
        status.replaceChildren(failure(err));
        button.disabled = false;
      }
    } }, 'Activate');
    show(root, heading, facts, note ?? null, h('section', { 'aria-label': 'Activate' }, h('p', {}, `Signed in as ${session.account.name}${session.account.email ? ` (${session.account.email})` : ''}.`), status, button), tip);
  };

  if (verify) {
    try {
      const session = await api<SessionView>('POST', '/verify-email', { token: verify });
      history.replaceState(null, '', `#key=${encodeURIComponent(key)}`);
      activateStep(session, notice('success', 'Your account is verified.', 'Select Activate to finish activating your licence.'));
    } catch (err) {
      show(root, heading, failure(err));
    }
    return;
  }
  const existing = await currentSession();
  if (existing) return activateStep(existing);

  const email = input('email', 'email', 'username');
  const password = input('password', 'password', 'current-password');
  const optionA = h('section', { class: 'option', 'aria-labelledby': 'opt-a' },
    h('h2', { id: 'opt-a' }, 'A: I have an account'),
    form('Sign in', [field('E-mail', email), field('Password', password)], 'Sign in', async () => {
      const session = await api<SessionView>('POST', '/session', { email: email.value, password: password.value });
      activateStep(session);
    }),
  );
  const newEmail = input('email', 'email', 'email');
  const name = input('text', 'name', 'name');
  const newPassword = input('password', 'new-password', 'new-password');
  const terms = h('input', { type: 'checkbox', name: 'terms', required: true });
  const optionB = h('section', { class: 'option', 'aria-labelledby': 'opt-b' },
    h('h2', { id: 'opt-b' }, 'B: Create an account'),
    form('Create an account', [
      field('E-mail', newEmail),
      field('Name', name),
      field('Password', newPassword, 'At least 10 characters.'),
      h('div', { class: 'check' }, terms, h('label', {}, 'I have read and accept the licence terms (EULA)')),
    ], 'Continue', async () => {
      if (!terms.checked) throw new ApiError(400, { code: 'TERMS', message: 'Accept the licence terms to continue.', hint: 'Tick the box above Continue.' });
      const done = await api<{ email: string }>('POST', '/signup', { key, email: newEmail.value, name: name.value, password: newPassword.value, acceptTerms: true });
      show(root, heading, notice('success', `We sent an e-mail to ${done.email} to verify your account.`, 'Open the link in it to verify your account and finish activating your licence. The link works for 24 hours.'), tip);
    }),
  );
  const termsLabel = terms.nextElementSibling as HTMLLabelElement;
  terms.id = 'accept-terms';
  termsLabel.htmlFor = 'accept-terms';
  show(root, heading, facts, tip, h('div', { class: 'options' }, optionA, optionB));
}

export function signInPage(root: HTMLElement): void {
  const email = input('email', 'email', 'username');
  const password = input('password', 'password', 'current-password');
  setCsrf(null);
  show(root,
    h('h1', {}, 'Sign in to the rmagent console'),
    form('Sign in', [field('E-mail', email), field('Password', password)], 'Sign in', async () => {
      await api<SessionView>('POST', '/session', { email: email.value, password: password.value });
      const next = new URLSearchParams(location.search).get('next');
      location.assign(next && next.startsWith('/console/') ? next : '/console/rm');
    }),
  );
}

export function invitationPage(root: HTMLElement): void {
  const token = fragment().get('token') ?? '';
  const password = input('password', 'new-password', 'new-password');
  show(root,
    h('h1', {}, 'Choose your password'),
    h('p', {}, 'You were invited to the rmagent console. Choose a password to sign in with your e-mail address.'),
    form('Choose your password', [field('Password', password, 'At least 10 characters.')], 'Save and sign in', async () => {
      await api<SessionView>('POST', '/verify-email', { token, password: password.value });
      location.assign('/console/rm');
    }),
  );
}
