import DataLoader from 'dataloader';

/**
 * A per-request DataLoader over one batch query. `load` answers for many ids at once with a map
 * keyed by lower-cased id (ids are UUIDs, which callers may send in any case); an id it has no
 * entry for gets `missing`.
 */
export function batchLoader<V>(load: (ids: readonly string[]) => Promise<ReadonlyMap<string, V>>, missing: V): DataLoader<string, V> {
  return new DataLoader(async (ids) => {
    const found = await load(ids);
    return ids.map((id) => found.get(id.toLowerCase()) ?? missing);
  });
}
