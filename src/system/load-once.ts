// A load (a module, a library) shared by every caller: later calls get the same promise; a failed load is
// forgotten, so the next call tries again instead of failing forever.
export function loadOnce<T>(load: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | null = null;
  return () => {
    if (!pending) {
      pending = load();
      pending.catch(() => {
        pending = null;
      });
    }
    return pending;
  };
}
