// findSecrets: scans text (logs, `status --json`, error frames) for known secrets in every form they could take
// once written (raw, JSON-escaped, URL-encoded, one line of a PEM block) and for secret shapes that must never
// appear whatever their value (PEM private keys, bearer headers, token= in URLs).
const SHAPES: Array<[string, RegExp]> = [
  ['PEM private key', /-----BEGIN [A-Z ]*PRIVATE KEY-----/],
  ['bearer header', /Bearer\s+(?!\[redacted\])[A-Za-z0-9._~+/=-]{8,}/i],
  ['token/secret/password in a URL or form', /\b(?:token|secret|password)=(?!\[redacted\])[^\s&"'\\]{4,}/i],
];

function formsOf(secret: string): string[] {
  const forms = new Set([secret, JSON.stringify(secret).slice(1, -1), encodeURIComponent(secret)]);
  // A PEM block may be cut into lines by a formatter: each long enough base64 line is key material on its own.
  for (const line of secret.split(/\r?\n/)) if (line.length >= 16 && !line.startsWith('-----')) forms.add(line);
  return [...forms];
}

/**
 * Returns one entry per finding: the secret (first 6 characters and its length, so the report itself leaks
 * nothing) or the name of a forbidden shape. An empty array means the text is clean.
 */
export function findSecrets(text: string, secrets: string[]): string[] {
  const found: string[] = [];
  for (const secret of secrets) {
    if (secret.length < 6) throw new Error('findSecrets: a secret shorter than 6 characters would match by chance');
    if (formsOf(secret).some((form) => text.includes(form))) found.push(`secret ${secret.slice(0, 6)}… (${secret.length} chars)`);
  }
  for (const [name, re] of SHAPES) if (re.test(text)) found.push(name);
  return found;
}
