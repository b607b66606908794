import { ErrorCode, WeightsmithError, invalidInput } from '@weightsmith/core';

/**
 * Minimum-cost perfect matching of an n×n cost matrix (the assignment problem): Kuhn–Munkres in
 * its O(n³) shortest-augmenting-path form with row/column potentials (Jonker–Volgenant style):
 * rows are added one at a time and each is matched along a Dijkstra-like search over reduced
 * costs cost[i][j] − u[i] − v[j] ≥ 0.
 *
 * Determinism: columns are scanned in increasing index and a new minimum must be strictly
 * smaller, so ties always go to the lowest column index; the same matrix always gives the same
 * assignment (an all-equal matrix gives the identity).
 */
export interface Assignment {
  /** rowToCol[i] = the column matched to row i. */
  rowToCol: Int32Array;
  /** Σ_i cost[i][rowToCol[i]], summed in row order. */
  cost: number;
}

/** `costs` is row-major n×n. */
export function hungarianMin(costs: Float64Array, n: number): Assignment {
  if (!Number.isSafeInteger(n) || n < 0) throw invalidInput('n', `n must be a non-negative integer, got ${String(n)}`);
  if (!(costs instanceof Float64Array) || costs.length !== n * n) {
    throw new WeightsmithError(ErrorCode.ShapeMismatch, `costs must be a Float64Array of n×n = ${n * n} values, got length ${costs?.length}`, { field: 'costs' });
  }
  for (let k = 0; k < costs.length; k++) {
    if (!Number.isFinite(costs[k]!)) {
      throw new WeightsmithError(ErrorCode.NonFinite, `costs[${Math.floor(k / n)}][${k % n}] is ${costs[k]}, costs must be finite`, { field: 'costs' });
    }
  }
  // 1-based rows/columns; index 0 is the virtual column the new row starts from.
  const u = new Float64Array(n + 1);
  const v = new Float64Array(n + 1);
  const colToRow = new Int32Array(n + 1); // 0 = free
  const way = new Int32Array(n + 1);
  const minv = new Float64Array(n + 1);
  const used = new Uint8Array(n + 1);
  for (let i = 1; i <= n; i++) {
    colToRow[0] = i;
    let j0 = 0;
    minv.fill(Infinity);
    used.fill(0);
    do {
      used[j0] = 1;
      const i0 = colToRow[j0]!;
      const rowBase = (i0 - 1) * n;
      let delta = Infinity;
      let j1 = 0;
      for (let j = 1; j <= n; j++) {
        if (used[j]) continue;
        const cur = costs[rowBase + j - 1]! - u[i0]! - v[j]!;
        if (cur < minv[j]!) {
          minv[j] = cur;
          way[j] = j0;
        }
        if (minv[j]! < delta) {
          delta = minv[j]!;
          j1 = j;
        }
      }
      for (let j = 0; j <= n; j++) {
        if (used[j]) {
          u[colToRow[j]!] = u[colToRow[j]!]! + delta;
          v[j] = v[j]! - delta;
        } else {
          minv[j] = minv[j]! - delta;
        }
      }
      j0 = j1;
    } while (colToRow[j0] !== 0);
    do {
      const j1 = way[j0]!;
      colToRow[j0] = colToRow[j1]!;
      j0 = j1;
    } while (j0 !== 0);
  }
  const rowToCol = new Int32Array(n);
  for (let j = 1; j <= n; j++) rowToCol[colToRow[j]! - 1] = j - 1;
  let cost = 0;
  for (let i = 0; i < n; i++) cost += costs[i * n + rowToCol[i]!]!;
  return { rowToCol, cost };
}

/** Maximum-weight perfect matching: minimisation of the negated matrix; `cost` is the (positive) total weight. */
export function hungarianMax(weights: Float64Array, n: number): Assignment {
  if (!(weights instanceof Float64Array)) {
    throw new WeightsmithError(ErrorCode.ShapeMismatch, 'weights must be a Float64Array', { field: 'costs' });
  }
  const { rowToCol } = hungarianMin(weights.map((w) => -w), n);
  let cost = 0;
  for (let i = 0; i < n; i++) cost += weights[i * n + rowToCol[i]!]!;
  return { rowToCol, cost };
}
