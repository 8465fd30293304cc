// A thin synchronous layer over node:sqlite: cached prepared statements, positional parameters, JSON columns.
import type { DatabaseSync, SQLInputValue, StatementSync } from 'node:sqlite';

export type Param = string | number | null | boolean;
export type Row = Record<string, SQLInputValue>;

export interface Db {
  all<T = Row>(sql: string, ...params: Param[]): T[];
  get<T = Row>(sql: string, ...params: Param[]): T | undefined;
  run(sql: string, ...params: Param[]): number;
  /** Runs SQL text (several statements, no parameters): migrations, pragmas, BEGIN/COMMIT. */
  script(sql: string): void;
}

const toInput = (p: Param): SQLInputValue => (typeof p === 'boolean' ? (p ? 1 : 0) : p);

export function createDb(database: DatabaseSync): Db {
  const cache = new Map<string, StatementSync>();
  const statement = (sql: string): StatementSync => {
    let s = cache.get(sql);
    if (!s) {
      s = database.prepare(sql);
      cache.set(sql, s);
    }
    return s;
  };
  return {
    all: <T>(sql: string, ...params: Param[]) => statement(sql).all(...params.map(toInput)) as T[],
    get: <T>(sql: string, ...params: Param[]) => statement(sql).get(...params.map(toInput)) as T | undefined,
    run: (sql, ...params) => Number(statement(sql).run(...params.map(toInput)).changes),
    script: (sql) => database.exec(sql),
  };
}

export const json = (value: unknown): string => JSON.stringify(value);
export const parseJson = <T>(text: unknown): T => JSON.parse(String(text)) as T;
/** A JSON array parameter for `IN (SELECT value FROM json_each(?))`: one statement whatever the list length. */
export const list = (values: readonly (string | number)[]): string => JSON.stringify(values);
export const num = (v: unknown): number => Number(v);
export const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
export const strOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));
