// Outgoing e-mail (licence activation, address verification) behind one small interface. By default each message
// is written as an .eml file to a mail-drop folder under the data folder (DATA/mail/), for a local mail system or
// a person to pick up; with an SMTP URL it goes out through nodemailer.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { ensureDir, writeFileAtomic } from '../system/files.js';

export interface Mail {
  to: string;
  subject: string;
  text: string;
}

export interface Mailer {
  /** Where messages go, for logs and the CLI (a folder or an SMTP host; never credentials). */
  readonly describe: string;
  send(mail: Mail): Promise<{ id: string }>;
}

/** Header values cannot carry a line break (no header injection through a name or an address). */
const oneLine = (v: string) => v.replace(/[\r\n]+/g, ' ');

export function formatEml(from: string, mail: Mail, id: string, date: Date): string {
  return [
    `From: ${oneLine(from)}`,
    `To: ${oneLine(mail.to)}`,
    `Subject: ${oneLine(mail.subject)}`,
    `Date: ${date.toUTCString()}`,
    `Message-ID: <${id}@rmagent-server>`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 8bit',
    '',
    mail.text.replace(/\r?\n/g, '\r\n'),
    '',
  ].join('\r\n');
}

/** Each message a file DIR/<time>-<n>-<id>.eml (0600: the links in it are secrets), written crash-safe; names sort in sending order. */
export function createMailDrop(dir: string, from: string, now: () => number): Mailer {
  let sent = 0;
  return {
    describe: dir,
    async send(mail) {
      await ensureDir(dir);
      const id = randomBytes(8).toString('hex');
      const at = new Date(now());
      await writeFileAtomic(path.join(dir, `${at.toISOString().replace(/[:.]/g, '-')}-${String(++sent).padStart(6, '0')}-${id}.eml`), formatEml(from, mail, id, at));
      return { id };
    },
  };
}
