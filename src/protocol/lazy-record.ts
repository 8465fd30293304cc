// Records of zod schemas whose values are built the first time they are read, then kept.
// An idle agent meets only a few frame types; zod keeps every intermediate schema of a chain (each check and
// description links to its parent), so building all of them up front cost it ~0.25 MB of memory for nothing.

export type Built<T extends Record<string, () => unknown>> = { readonly [K in keyof T]: ReturnType<T[K]> };

/** `builders`' keys, each value built by its builder on first read (Object.keys/hasOwn build nothing). */
export function lazyRecord<T extends Record<string, () => unknown>>(builders: T): Built<T> {
  const record = {} as Record<string, unknown>;
  for (const [key, build] of Object.entries(builders)) {
    Object.defineProperty(record, key, {
      enumerable: true,
      configurable: true,
      get() {
        const value = build();
        Object.defineProperty(record, key, { value, enumerable: true, configurable: false, writable: false });
        return value;
      },
    });
  }
  return record as Built<T>;
}
