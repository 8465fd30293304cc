// Text that came from outside (a server's error message, a file's contents) is shown to a person at a terminal.
// Control characters are shown escaped, never interpreted: an escape sequence can clear the screen, retitle the
// window or hide the lines above it, and a newline can forge a line of `rmagent status`. Bidirectional overrides
// (which reorder what is shown) likewise. Tabs stay.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNSAFE = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** One line of terminal output: every unsafe character as a visible \uXXXX. Pure. */
export function printable(text: string): string {
  return text.replace(UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
