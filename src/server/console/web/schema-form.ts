// A form generated from a JSON Schema (the policy schema the server serves, made from the same zod schema the agent
// validates with): objects become fieldsets, enums selects, booleans checkboxes, lists of variants (oneOf/anyOf) a
// "kind" select, lists repeatable groups. The form only gathers values; the server checks them with the real schema
// and its message (settings.checks.0.threshold: ...) is shown as it is, so the two can never disagree.
import { field, h } from './dom.js';

export interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  oneOf?: JsonSchema[];
  anyOf?: JsonSchema[];
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  description?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
}

/** One input (or group of inputs) and how to read its value back; undefined means "leave out" (the default applies). */
export interface Editor {
  el: HTMLElement;
  value(): unknown;
}

const MAX_LIST_ITEMS = 100;

/** "intervalSec" -> "Interval (s)", "minFreeBytes" -> "Min free bytes". */
export function labelOf(name: string): string {
  const words = name.replace(/Sec$/, ' (s)').replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

const variantsOf = (s: JsonSchema): JsonSchema[] | null => s.oneOf ?? s.anyOf ?? null;
const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

/** A variant's name: its constant discriminator (a check's type), else its required properties. */
function variantName(v: JsonSchema): string {
  for (const p of Object.values(v.properties ?? {})) if (typeof p.const === 'string') return p.const;
  return (v.required ?? Object.keys(v.properties ?? {})).map(labelOf).join(', ');
}

/** The variant a value belongs to: same constant discriminator, else all its required properties present. */
function variantFor(variants: JsonSchema[], value: unknown): number {
  if (!isObject(value)) return 0;
  const i = variants.findIndex((v) => Object.entries(v.properties ?? {}).some(([k, p]) => p.const !== undefined && value[k] === p.const));
  if (i >= 0) return i;
  const j = variants.findIndex((v) => (v.required ?? []).every((k) => k in value));
  return Math.max(0, j);
}

export function editorFor(schema: JsonSchema, name: string, value: unknown, required = false): Editor {
  const label = `${labelOf(name)}${required && schema.default === undefined ? ' (required)' : ''}`;
  const help = schema.description;
  const initial = value === undefined ? schema.default : value;
  const variants = variantsOf(schema);
  if (variants) return variantEditor(variants, label, help, initial);
  if (schema.const !== undefined) return { el: h('p', { class: 'hint' }, `${label}: ${String(schema.const)}`), value: () => schema.const };
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== 'null') : schema.type;
  if (type === 'object' && schema.properties) return objectEditor(schema, label, help, initial);
  if (schema.enum) {
    const select = h('select', {}, required || initial !== undefined ? null : h('option', { value: '' }, '(default)'), schema.enum.map((o) => h('option', { value: String(o) }, String(o))));
    if (initial !== undefined) select.value = String(initial);
    return { el: field(label, select, help), value: () => (select.value === '' ? undefined : schema.enum!.find((o) => String(o) === select.value)) };
  }
  if (type === 'boolean') {
    const box = h('input', { type: 'checkbox', checked: initial === true });
    const id = `f-${Math.random().toString(36).slice(2, 9)}`;
    box.id = id;
    return { el: h('div', { class: 'check' }, box, h('label', { for: id }, label), help ? h('span', { class: 'hint' }, help) : null), value: () => box.checked };
  }
  if (type === 'number' || type === 'integer') {
    const input = h('input', { type: 'number', step: type === 'integer' ? 1 : 'any', min: schema.minimum, max: schema.maximum, value: typeof initial === 'number' ? initial : '' });
    return { el: field(label, input, help), value: () => (input.value === '' ? undefined : Number(input.value)) };
  }
  if (type === 'string') {
    const input = h('input', { type: 'text', maxlength: schema.maxLength, value: typeof initial === 'string' ? initial : '' });
    return { el: field(label, input, help), value: () => (input.value === '' ? undefined : input.value) };
  }
  if (type === 'array' && schema.items) return arrayEditor(schema.items, label, help, Array.isArray(initial) ? initial : []);
  // Anything else: its JSON, as text.
  const area = h('textarea', { rows: 3 }, initial === undefined ? '' : JSON.stringify(initial, null, 2));
  return { el: field(`${label} (JSON)`, area as unknown as HTMLInputElement, help), value: () => (area.value.trim() === '' ? undefined : (JSON.parse(area.value) as unknown)) };
}

function objectEditor(schema: JsonSchema, label: string, help: string | undefined, value: unknown): Editor {
  const current = isObject(value) ? value : {};
  const parts = Object.entries(schema.properties ?? {}).map(([k, p]) => [k, editorFor(p, k, current[k], schema.required?.includes(k) ?? false)] as const);
  const el = h('fieldset', { class: 'schema' }, h('legend', {}, label), help ? h('p', { class: 'hint' }, help) : null, parts.map(([, e]) => e.el));
  return {
    el,
    value: () => {
      const out: Record<string, unknown> = {};
      for (const [k, e] of parts) {
        const v = e.value();
        if (v !== undefined) out[k] = v;
      }
      return out;
    },
  };
}

/** One of several shapes (a schedule: every N hours or daily at HH:MM): a select of the kind, then its fields. */
function variantEditor(variants: JsonSchema[], label: string, help: string | undefined, value: unknown): Editor {
  const kind = h('select', {}, variants.map((v, i) => h('option', { value: String(i) }, variantName(v))));
  kind.value = String(variantFor(variants, value));
  const body = h('div', {});
  let inner = objectEditor(variants[Number(kind.value)]!, 'Settings', undefined, value);
  const render = () => body.replaceChildren(inner.el);
  kind.addEventListener('change', () => {
    inner = objectEditor(variants[Number(kind.value)]!, 'Settings', undefined, undefined);
    render();
  });
  render();
  return { el: h('fieldset', { class: 'schema' }, h('legend', {}, label), help ? h('p', { class: 'hint' }, help) : null, field('Kind', kind), body), value: () => inner.value() };
}

function arrayEditor(items: JsonSchema, label: string, help: string | undefined, value: unknown[]): Editor {
  // A list of choices (days of the week): one checkbox each.
  if (items.enum) {
    const boxes = items.enum.map((o) => h('input', { type: 'checkbox', value: String(o), checked: value.includes(o) }));
    return {
      el: h('fieldset', { class: 'schema' }, h('legend', {}, label), help ? h('p', { class: 'hint' }, help) : null, boxes.map((b) => h('label', { class: 'perm' }, b, ` ${b.value}`))),
      value: () => {
        const chosen = items.enum!.filter((o) => boxes.some((b) => b.checked && b.value === String(o)));
        return chosen.length ? chosen : undefined;
      },
    };
  }
  // A list of texts (mounts, process names): one per line.
  if (items.type === 'string' || items.type === 'number' || items.type === 'integer') {
    const area = h('textarea', { rows: Math.min(6, Math.max(2, value.length + 1)) }, value.map(String).join('\n'));
    return {
      el: field(`${label} (one per line)`, area as unknown as HTMLInputElement, help),
      value: () => {
        const lines = area.value.split('\n').map((l) => l.trim()).filter(Boolean);
        return lines.length ? (items.type === 'string' ? lines : lines.map(Number)) : undefined;
      },
    };
  }
  // A list of groups (monitoring checks): each with Remove, and Add (of a chosen kind) below.
  const list = h('ol', { class: 'schema-list' });
  const entries: Array<{ li: HTMLElement; editor: Editor }> = [];
  const singular = label.replace(/s( \(required\))?$/, '').toLowerCase();
  const add = (v: unknown) => {
    const editor = editorFor(items, `${singular} ${entries.length + 1}`, v);
    const entry = { li: h('li', {}), editor };
    const remove = h('button', { type: 'button', onclick: () => {
      entries.splice(entries.indexOf(entry), 1);
      entry.li.remove();
    } }, `Remove ${singular} ${entries.length + 1}`);
    entry.li.append(editor.el, remove);
    entries.push(entry);
    list.append(entry.li);
  };
  value.slice(0, MAX_LIST_ITEMS).forEach(add);
  const variants = variantsOf(items);
  const kind = variants ? h('select', {}, variants.map((v, i) => h('option', { value: String(i) }, variantName(v)))) : null;
  const addButton = h('button', { type: 'button', onclick: () => {
    if (entries.length >= MAX_LIST_ITEMS) return;
    const variant = variants && kind ? variants[Number(kind.value)]! : items;
    const seed: Record<string, unknown> = {};
    for (const [k, p] of Object.entries(variant.properties ?? {})) if (p.const !== undefined) seed[k] = p.const;
    add(seed);
    entries.at(-1)?.li.querySelector<HTMLElement>('input, select, textarea')?.focus();
  } }, `Add ${singular}`);
  return {
    el: h('fieldset', { class: 'schema' }, h('legend', {}, label), help ? h('p', { class: 'hint' }, help) : null, list, h('div', { class: 'toolbar' }, kind ? field(`Kind of ${singular} to add`, kind) : null, addButton)),
    value: () => entries.map((e) => e.editor.value()),
  };
}
