// The SQLite schema's versions, oldest first. A released migration is never edited: a change is a new file.
import * as initial from './0001-initial.js';
import * as consoleSignIn from './0002-console-sign-in.js';
import * as presence from './0003-presence.js';
import * as serverKeys from './0004-server-keys.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const SQLITE_MIGRATIONS: readonly Migration[] = [
  { version: 1, ...initial },
  { version: 2, ...consoleSignIn },
  { version: 3, ...presence },
  { version: 4, ...serverKeys },
];
