// Read-only Map-shaped views over the index's compact tables, for callers and tools that want
// records by id (admin, explain, the consistency checker) — never the verify path.

/** Read-only Map-shaped views over the compact tables, for callers and tools (not the hot path). */
export interface ReadonlyMapLike<K, V> {
  readonly size: number;
  get(k: K): V | undefined;
  has(k: K): boolean;
  keys(): IterableIterator<K>;
  values(): IterableIterator<V>;
  [Symbol.iterator](): IterableIterator<[K, V]>;
}

export function view<V>(size: () => number, rows: () => Iterable<[string, V]>, get: (k: string) => V | undefined): ReadonlyMapLike<string, V> {
  return {
    get size() {
      return size();
    },
    get,
    has: (k) => get(k) !== undefined,
    *keys() {
      for (const [k] of rows()) yield k;
    },
    *values() {
      for (const [, v] of rows()) yield v;
    },
    [Symbol.iterator]: () => rows()[Symbol.iterator]() as IterableIterator<[string, V]>,
  };
}
