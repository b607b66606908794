/** Ordering of tile coordinates by (y, x): the one order aligned slides are stored in. */

/** Compares tile a of `ca` with tile b of `cb` (both n × 2 (x, y), row-major) by y, then x. */
export function compareTiles(ca: Float64Array, a: number, cb: Float64Array, b: number): number {
  const dy = ca[2 * a + 1]! - cb[2 * b + 1]!;
  if (dy !== 0) return dy;
  return ca[2 * a]! - cb[2 * b]!;
}

/** Row indices of `coords` sorted by (y, x); ties keep file order (the sort is stable). */
export function sortedTileOrder(coords: Float64Array): Uint32Array {
  const n = coords.length / 2;
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  return order.sort((a, b) => compareTiles(coords, a, coords, b));
}

export function coordText(coords: Float64Array, tile: number): string {
  return `(${coords[2 * tile]}, ${coords[2 * tile + 1]})`;
}
