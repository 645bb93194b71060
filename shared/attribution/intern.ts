/**
 * The dense id of `key`, adding it at the end of `names` the first time it is seen: the fitted models keep
 * channels (or features) as small integers so their sums run over typed arrays, and `names` maps back.
 */
export function internId(ids: Map<string, number>, names: string[], key: string): number {
  let id = ids.get(key);
  if (id === undefined) {
    id = names.length;
    ids.set(key, id);
    names.push(key);
  }
  return id;
}
