// Building the page from data without innerHTML: every text goes through textContent, so nothing the server or a
// device reports (a hostname, an alias, an alert message) can become markup.
type Attrs = Record<string, string | number | boolean | null | undefined | ((ev: Event) => void)>;
type Child = Node | string | number | null | undefined | false | Child[];

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (typeof value === 'function') el.addEventListener(name.replace(/^on/, ''), value);
    else if (value === true) el.setAttribute(name, '');
    else el.setAttribute(name, String(value));
  }
  append(el, children);
  return el;
}

function append(el: Element, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

/** Replaces an element's content (null and false children are left out). */
export function fill(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}

/** Replaces the content of the main region and moves the focus to its heading (screen readers hear the new page). */
export function show(root: HTMLElement, ...children: Child[]): void {
  root.replaceChildren();
  append(root, children);
  const heading = root.querySelector('h1');
  if (heading) {
    heading.setAttribute('tabindex', '-1');
    heading.focus({ preventScroll: true });
  }
}

/** A status line read out by screen readers when it changes. */
export function notice(kind: 'error' | 'info' | 'success', text: string, hint?: string): HTMLElement {
  return h('div', { class: `notice ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, h('p', {}, text), hint ? h('p', { class: 'hint' }, hint) : null);
}

export function field(label: string, input: HTMLInputElement | HTMLSelectElement, help?: string): HTMLElement {
  const id = input.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  input.id = id;
  const helpId = help ? `${id}-help` : undefined;
  if (helpId) input.setAttribute('aria-describedby', helpId);
  return h('div', { class: 'field' }, h('label', { for: id }, label), input, help ? h('p', { class: 'hint', id: helpId }, help) : null);
}

export const fmtTime = (iso: string | null): string => (iso ? new Date(iso).toLocaleString() : '—');
