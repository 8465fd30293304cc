// The synchronous shape of a repository: node:sqlite answers at once, the Store wraps each method in a promise.
type SyncFn<F> = F extends (...args: infer A) => Promise<infer R> ? (...args: A) => R : never;
export type SyncOf<R> = { [M in keyof R]: SyncFn<R[M]> };
