// The SQLite schema's versions, oldest first. A released migration is never edited: a change is a new file.
import * as initial from './0001-initial.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const SQLITE_MIGRATIONS: readonly Migration[] = [{ version: 1, ...initial }];
