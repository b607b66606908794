/** The validation metrics a fit reports (the evaluation module computes the full set). */

/** Mean of per-class recalls over the classes present in `truth`. */
export function balancedAccuracy(truth: readonly number[], predicted: readonly number[]): number {
  const hits = new Map<number, number>();
  const totals = new Map<number, number>();
  truth.forEach((t, i) => {
    totals.set(t, (totals.get(t) ?? 0) + 1);
    if (predicted[i] === t) hits.set(t, (hits.get(t) ?? 0) + 1);
  });
  if (totals.size === 0) return NaN;
  let sum = 0;
  for (const [c, n] of totals) sum += (hits.get(c) ?? 0) / n;
  return sum / totals.size;
}

/** Mean over columns of Pearson's r between two n × g matrices (columns with no variance skipped; NaN if all are). */
export function meanPearson(a: Float32Array | Float64Array, b: Float32Array | Float64Array, n: number, g: number): number {
  let total = 0;
  let count = 0;
  for (let j = 0; j < g; j++) {
    let ma = 0;
    let mb = 0;
    for (let i = 0; i < n; i++) {
      ma += a[i * g + j]!;
      mb += b[i * g + j]!;
    }
    ma /= n;
    mb /= n;
    let sab = 0;
    let saa = 0;
    let sbb = 0;
    for (let i = 0; i < n; i++) {
      const x = a[i * g + j]! - ma;
      const y = b[i * g + j]! - mb;
      sab += x * y;
      saa += x * x;
      sbb += y * y;
    }
    if (saa === 0 || sbb === 0) continue;
    total += sab / Math.sqrt(saa * sbb);
    count++;
  }
  return count === 0 ? NaN : total / count;
}
